//! The two levels together, as `CacheManager` sees them: memory first, then disk; disk hits
//! promoted to memory; a `set` replaces what every level returns.

use crate::disk::DiskConfig;
use crate::memory::{MemoryStore, Policy};
use crate::writer::{Committed, Disk, GroupFailure, Notify};
use std::borrow::Cow;
use std::fmt;

/// Bound of the evicted-key log kept for `cache_evict` events between two drains.
const MAX_EVICTION_LOG: usize = 10_000;

pub struct Config {
    pub max_memory_size: usize,
    pub max_disk_size: u64,
    pub default_ttl_ms: i64,
    pub policy: Policy,
    pub persist_to_disk: bool,
    pub compression: bool,
    pub db_path: String,
    pub pool_size: usize,
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    /// Commit WAL frames in one write through the `wal_vfs` shim (file databases, Linux
    /// only; ignored elsewhere). Off by default: see `wal_vfs` for what it relies on.
    pub wal_coalescing: bool,
    /// Given: groups of writes are committed on a writer thread, which calls this when
    /// each group is settled (see `writer`). None: every commit runs on the caller.
    pub writer_notify: Option<Notify>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CacheError {
    KeyTooLong { len: usize, limit: usize },
    ValueTooLarge { len: usize, limit: usize },
    Disk(String),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::KeyTooLong { len, limit } => {
                write!(
                    f,
                    "key must be at most {limit} bytes (UTF-8), got {len} bytes"
                )
            }
            CacheError::ValueTooLarge { len, limit } => {
                write!(
                    f,
                    "value must be at most {limit} bytes serialized, got {len} bytes"
                )
            }
            CacheError::Disk(m) => write!(f, "cache database error: {m}"),
        }
    }
}

impl From<rusqlite::Error> for CacheError {
    fn from(e: rusqlite::Error) -> Self {
        CacheError::Disk(e.to_string())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Memory,
    Disk,
}

/// A value found by `get_many`: its kind and bytes.
pub type Found = Option<(u8, Vec<u8>)>;

pub struct Hit<'a> {
    pub source: Source,
    pub kind: u8,
    pub value: Cow<'a, [u8]>,
    /// A memory hit: the entry's slot (see `replay_hits`) and expiry (ms).
    pub memory_slot: Option<(u32, i64)>,
}

#[derive(Default, Clone, Copy)]
pub struct Counters {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

pub struct TieredCache {
    memory: MemoryStore,
    disk: Option<Disk>,
    max_key_bytes: usize,
    max_value_bytes: usize,
    /// Largest entry the memory level takes when a disk level exists (10% of the budget,
    /// as in the legacy): one large value does not flush the whole memory level.
    memory_admit_limit: usize,
    default_ttl_ms: i64,
    counters: Counters,
    eviction_log: Option<Vec<Vec<u8>>>,
}

impl TieredCache {
    pub fn open(cfg: Config) -> Result<Self, CacheError> {
        let disk = if cfg.persist_to_disk {
            Some(
                Disk::open(
                    &DiskConfig {
                        path: cfg.db_path.clone(),
                        pool_size: cfg.pool_size,
                        compression: cfg.compression,
                        max_disk_size: cfg.max_disk_size,
                        wal_coalescing: cfg.wal_coalescing,
                    },
                    cfg.writer_notify,
                )
                .map_err(CacheError::Disk)?,
            )
        } else {
            None
        };
        let memory_admit_limit = if disk.is_some() {
            cfg.max_memory_size / 10
        } else {
            cfg.max_memory_size
        };
        Ok(TieredCache {
            memory: MemoryStore::new(cfg.max_memory_size, cfg.policy),
            disk,
            max_key_bytes: cfg.max_key_bytes,
            max_value_bytes: cfg.max_value_bytes,
            memory_admit_limit,
            default_ttl_ms: cfg.default_ttl_ms,
            counters: Counters::default(),
            eviction_log: None,
        })
    }

    /// Turns the evicted-key log on (when someone listens to `cache_evict`) or off.
    pub fn record_evictions(&mut self, on: bool) {
        self.eviction_log = if on {
            Some(self.eviction_log.take().unwrap_or_default())
        } else {
            None
        };
    }

    pub fn take_evicted(&mut self) -> Vec<Vec<u8>> {
        self.eviction_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.evictions += self.disk.as_ref().map_or(0, |d| d.writer_evictions());
        c
    }
    pub fn memory(&self) -> &MemoryStore {
        &self.memory
    }
    pub fn disk_usage(&self) -> Result<u64, CacheError> {
        Ok(match &self.disk {
            Some(d) => d.usage()?,
            None => 0,
        })
    }
    pub fn has_disk(&self) -> bool {
        self.disk.is_some()
    }
    pub fn pool_size(&self) -> usize {
        self.disk.as_ref().map_or(0, |d| d.pool_size())
    }

    /// Checks the limits of an entry (also used by the binding before copying a value).
    pub fn check(&self, key: &str, namespace: &str, value_len: usize) -> Result<(), CacheError> {
        if key.len() > self.max_key_bytes {
            return Err(CacheError::KeyTooLong {
                len: key.len(),
                limit: self.max_key_bytes,
            });
        }
        let limit = if self.disk.is_some() {
            self.max_value_bytes
        } else {
            // Memory only: the entry must fit in the memory budget.
            self.max_value_bytes.min(
                self.memory
                    .capacity()
                    .saturating_sub(MemoryStore::charge_of(
                        key.as_bytes(),
                        namespace.as_bytes(),
                        b"",
                    )),
            )
        };
        if value_len > limit {
            return Err(CacheError::ValueTooLarge {
                len: value_len,
                limit,
            });
        }
        Ok(())
    }

    fn expiry(&self, ttl_ms: i64, now: i64) -> i64 {
        let ttl = if ttl_ms > 0 {
            ttl_ms
        } else {
            self.default_ttl_ms
        };
        now.saturating_add(ttl)
    }

    /// Stores a value; `ttl_ms` 0 means the default TTL. Returns where it was placed
    /// (memory when the memory level holds it). Nothing is stored on error.
    pub fn set(
        &mut self,
        key: &str,
        namespace: &str,
        kind: u8,
        value: &[u8],
        ttl_ms: i64,
        now: i64,
    ) -> Result<Source, CacheError> {
        if self.disk.is_some() {
            return self.set_owned(key, namespace, kind, value.to_vec(), ttl_ms, now);
        }
        self.check(key, namespace, value.len())?;
        let expires_at = self.expiry(ttl_ms, now);
        let placed = self.admit(key, namespace, kind, value, expires_at);
        Ok(if placed { Source::Memory } else { Source::Disk })
    }

    /// `set` of a value the caller gives up: the disk level queues it without a copy.
    pub fn set_owned(
        &mut self,
        key: &str,
        namespace: &str,
        kind: u8,
        value: Vec<u8>,
        ttl_ms: i64,
        now: i64,
    ) -> Result<Source, CacheError> {
        self.check(key, namespace, value.len())?;
        let expires_at = self.expiry(ttl_ms, now);
        // Memory first (it copies), then the disk level takes the bytes.
        let placed = self.admit(key, namespace, kind, &value, expires_at);
        if let Some(d) = &mut self.disk {
            if let Err(e) = d.put(key, namespace, kind, value, expires_at, now) {
                // Nothing is stored on error: reads fall back to the committed row.
                self.memory.remove(key.as_bytes());
                return Err(e.into());
            }
        }
        Ok(if placed { Source::Memory } else { Source::Disk })
    }

    fn admit(
        &mut self,
        key: &str,
        namespace: &str,
        kind: u8,
        value: &[u8],
        expires_at: i64,
    ) -> bool {
        let charge = MemoryStore::charge_of(key.as_bytes(), namespace.as_bytes(), value);
        if charge > self.memory_admit_limit {
            // A set replaces what every level returns: drop the memory copy.
            self.memory.remove(key.as_bytes());
            return false;
        }
        let mut evicted = 0u64;
        let log = &mut self.eviction_log;
        let ok = self.memory.insert(
            key.as_bytes(),
            namespace.as_bytes(),
            kind,
            value,
            expires_at,
            &mut |k| {
                evicted += 1;
                if let Some(log) = log.as_mut() {
                    if log.len() < MAX_EVICTION_LOG {
                        log.push(k.to_vec());
                    }
                }
            },
        );
        self.counters.evictions += evicted;
        ok
    }

    /// Memory, then disk (promoting a disk hit). Counts the hit or miss.
    pub fn get(&mut self, key: &str, now: i64) -> Result<Option<Hit<'_>>, CacheError> {
        self.get_shared(key, now, false)
    }

    /// The memory level forgets values whose disk write was lost (a failed commit): it
    /// took them at `set`, before the write was known to fail. Reads call this first.
    fn forget_lost(&mut self) {
        let Some((keys, all)) = self.disk.as_mut().and_then(|d| d.take_lost()) else {
            return;
        };
        if all {
            self.memory.clear(None);
        } else {
            for k in &keys {
                self.memory.remove(k.as_bytes());
            }
        }
    }

    /// `get`; with `shared`, a disk read joins the read snapshot of the reads before it
    /// (see `DiskStore::get`; `end_read` ends the snapshot).
    pub fn get_shared(
        &mut self,
        key: &str,
        now: i64,
        shared: bool,
    ) -> Result<Option<Hit<'_>>, CacheError> {
        self.forget_lost();
        // Two lookups on a memory hit would cost a second hash; the borrow checker cannot
        // return the borrowed hit from inside the branch and fall through otherwise.
        if self.memory.contains(key.as_bytes(), now) {
            self.counters.hits += 1;
            let e = self.memory.get(key.as_bytes(), now).expect("checked above");
            return Ok(Some(Hit {
                source: Source::Memory,
                kind: e.kind,
                value: Cow::Borrowed(e.value),
                memory_slot: Some((e.slot, e.expires_at)),
            }));
        }
        let row = match &mut self.disk {
            Some(d) => d.get(key, now, shared)?,
            None => None,
        };
        match row {
            Some(row) => {
                self.counters.hits += 1;
                self.admit(key, &row.namespace, row.kind, &row.value, row.expires_at);
                Ok(Some(Hit {
                    source: Source::Disk,
                    kind: row.kind,
                    value: Cow::Owned(row.value),
                    memory_slot: None,
                }))
            }
            None => {
                // Let the adaptive policy count the miss too (TinyLFU counts every access).
                self.memory.get(key.as_bytes(), now);
                self.counters.misses += 1;
                Ok(None)
            }
        }
    }

    /// Counts memory hits the caller served itself, in the order served, as `get` would
    /// have: each slot (from a `Hit`'s `memory_slot`) must still hold the entry it held then,
    /// which `memory().removals()` unchanged since guarantees. Returns how many were counted.
    pub fn replay_hits(&mut self, slots: &[u32]) -> usize {
        let mut n = 0;
        for &slot in slots {
            if self.memory.touch_slot(slot) {
                n += 1;
            }
        }
        self.counters.hits += n as u64;
        n
    }

    /// Ends the read snapshot that `get`'s disk reads may hold: the binding calls it once a
    /// macrotask's disk reads are over.
    pub fn end_read(&mut self) {
        if let Some(d) = &mut self.disk {
            d.end_read();
        }
    }

    /// `get` for many keys; disk lookups of the memory misses go through the reader pool.
    pub fn get_many(&mut self, keys: &[String], now: i64) -> Result<Vec<Found>, CacheError> {
        self.forget_lost();
        let mut out: Vec<Found> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match self.memory.get(k.as_bytes(), now) {
                Some(e) => {
                    out.push(Some((e.kind, e.value.to_vec())));
                    self.counters.hits += 1;
                }
                None => {
                    out.push(None);
                    missing.push(i);
                }
            }
        }
        if let (Some(d), false) = (&mut self.disk, missing.is_empty()) {
            let want: Vec<String> = missing.iter().map(|&i| keys[i].clone()).collect();
            let rows = d.get_many(&want, now)?;
            for (&i, row) in missing.iter().zip(rows) {
                if let Some(row) = row {
                    self.counters.hits += 1;
                    self.admit(
                        &keys[i],
                        &row.namespace,
                        row.kind,
                        &row.value,
                        row.expires_at,
                    );
                    out[i] = Some((row.kind, row.value));
                }
            }
        }
        for o in &out {
            if o.is_none() {
                self.counters.misses += 1;
            }
        }
        Ok(out)
    }

    /// Loads into memory the keys held on disk but not in memory (predictive warming);
    /// counts no hit or miss. Returns how many were loaded.
    pub fn warm(&mut self, keys: &[String], now: i64) -> Result<usize, CacheError> {
        self.forget_lost();
        let want: Vec<String> = keys
            .iter()
            .filter(|k| !self.memory.contains(k.as_bytes(), now))
            .cloned()
            .collect();
        let Some(d) = &mut self.disk else {
            return Ok(0);
        };
        if want.is_empty() {
            return Ok(0);
        }
        let rows = d.get_many(&want, now)?;
        let mut loaded = 0;
        for (k, row) in want.iter().zip(rows) {
            if let Some(row) = row {
                loaded +=
                    self.admit(k, &row.namespace, row.kind, &row.value, row.expires_at) as usize;
            }
        }
        Ok(loaded)
    }

    /// Removes `key` from both levels; true when either held it.
    pub fn delete(&mut self, key: &str) -> Result<bool, CacheError> {
        let in_memory = self.memory.remove(key.as_bytes());
        let on_disk = match &mut self.disk {
            Some(d) => d.delete(key)?,
            None => false,
        };
        Ok(in_memory || on_disk)
    }

    pub fn clear(&mut self, namespace: Option<&str>) -> Result<(), CacheError> {
        self.memory.clear(namespace.map(str::as_bytes));
        if let Some(d) = &mut self.disk {
            d.clear(namespace)?;
        }
        Ok(())
    }

    /// Removes expired entries from both levels; returns how many.
    pub fn purge_expired(&mut self, now: i64) -> Result<usize, CacheError> {
        let mut n = self.memory.purge_expired(now);
        if let Some(d) = &mut self.disk {
            n += d.purge_expired(now)?;
        }
        Ok(n)
    }

    /// Whether writes wait for `commit`.
    pub fn has_pending(&self) -> bool {
        self.disk.as_ref().is_some_and(|d| d.has_pending())
    }

    /// Commits the open disk transaction: every write before this call is durable when it
    /// returns Ok. Returns rows evicted by `maxDiskSize`.
    pub fn commit(&mut self) -> Result<usize, CacheError> {
        let evicted = match &mut self.disk {
            Some(d) => d.commit().map_err(CacheError::Disk)?,
            None => 0,
        };
        self.counters.evictions += evicted as u64;
        Ok(evicted)
    }

    /// The group commit of one tick: committed now, or shipped to the writer thread as a
    /// numbered group that `writer_notify` reports (see `writer::Disk::commit_or_ship`).
    pub fn commit_or_ship(&mut self) -> Result<Committed, CacheError> {
        let (done, evicted) = match &mut self.disk {
            Some(d) => d.commit_or_ship().map_err(CacheError::Disk)?,
            None => (Committed::Now, 0),
        };
        self.counters.evictions += evicted as u64;
        Ok(done)
    }

    /// Stops the writer thread after it settled every group, commits the rest. Returns
    /// the failed groups `(first, last, reason)` so far (the callback reported them too).
    pub fn close(&mut self) -> (Result<(), CacheError>, Vec<GroupFailure>) {
        match &mut self.disk {
            Some(d) => {
                let (r, failures) = d.close();
                (r.map(|_| ()).map_err(CacheError::Disk), failures)
            }
            None => (Ok(()), Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind;

    fn cfg(persist: bool, mem: usize) -> Config {
        Config {
            max_memory_size: mem,
            max_disk_size: u64::MAX,
            default_ttl_ms: 3_600_000,
            policy: Policy::Adaptive,
            persist_to_disk: persist,
            compression: true,
            db_path: ":memory:".into(),
            pool_size: 5,
            max_key_bytes: 100,
            max_value_bytes: 1000,
            wal_coalescing: false,
            writer_notify: None,
        }
    }

    /// A file cache holding "k" = "old", whose database then refuses every update (a
    /// trigger made by another connection), with the writer thread when `notify` is given.
    fn refusing_updates(notify: Option<Notify>) -> (tempfile::TempDir, TieredCache) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut c = TieredCache::open(Config {
            db_path: path.to_str().unwrap().into(),
            writer_notify: notify,
            ..cfg(true, 1 << 20)
        })
        .unwrap();
        c.set("k", "", kind::STRING, b"old", 0, 0).unwrap();
        c.commit().unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER no_update BEFORE UPDATE ON cache_entries
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        (dir, c)
    }

    /// Keys held in memory after `f` (sorted), and the counters.
    fn survivors(c: &TieredCache, keys: usize) -> Vec<String> {
        (0..keys)
            .map(|k| format!("k{k}"))
            .filter(|k| c.memory().contains(k.as_bytes(), 0))
            .collect()
    }

    #[test]
    fn replayed_hits_count_and_order_as_gets_do() {
        for policy in [Policy::Lru, Policy::Lfu, Policy::Adaptive] {
            // room for about 20 entries of 10 bytes: inserting 20 more evicts by use
            let mk = || {
                let mut c = TieredCache::open(Config {
                    policy,
                    ..cfg(
                        false,
                        20 * MemoryStore::charge_of(b"k00", b"", b"0123456789"),
                    )
                })
                .unwrap();
                for k in 0..20 {
                    c.set(&format!("k{k}"), "", kind::STRING, b"0123456789", 0, 0)
                        .unwrap();
                }
                c
            };
            let (mut by_get, mut by_replay) = (mk(), mk());
            // uses: k3 five times, k7 three times, k11 once, interleaved
            let uses = ["k3", "k7", "k3", "k11", "k3", "k7", "k3", "k7", "k3"];
            let mut slots = std::collections::HashMap::new();
            for k in ["k3", "k7", "k11"] {
                let hit = by_replay.get(k, 0).unwrap().unwrap();
                slots.insert(k, hit.memory_slot.unwrap().0);
            }
            for k in ["k3", "k7", "k11"] {
                by_get.get(k, 0).unwrap();
            }
            let removals = by_replay.memory().removals();
            for k in uses {
                by_get.get(k, 0).unwrap();
            }
            let log: Vec<u32> = uses.iter().map(|k| slots[k]).collect();
            assert_eq!(by_replay.replay_hits(&log), uses.len());
            assert_eq!(by_replay.memory().removals(), removals);
            assert_eq!(by_get.counters().hits, by_replay.counters().hits);
            for k in 20..40 {
                for c in [&mut by_get, &mut by_replay] {
                    c.set(&format!("k{k}"), "", kind::STRING, b"0123456789", 0, 0)
                        .unwrap();
                }
            }
            assert_eq!(
                survivors(&by_get, 40),
                survivors(&by_replay, 40),
                "{policy:?}"
            );
            assert!(by_replay.memory().removals() > removals);
        }
    }

    #[test]
    fn a_replayed_free_slot_counts_nothing() {
        let mut c = TieredCache::open(cfg(false, 1 << 20)).unwrap();
        c.set("a", "", kind::STRING, b"v", 0, 0).unwrap();
        let slot = c.get("a", 0).unwrap().unwrap().memory_slot.unwrap().0;
        c.delete("a").unwrap();
        assert_eq!(c.replay_hits(&[slot, 999]), 0);
        assert_eq!(c.counters().hits, 1);
    }

    #[test]
    fn a_set_the_disk_level_refuses_stores_nothing() {
        let (_dir, mut c) = refusing_updates(None);
        // No writer thread: the write runs inline and fails; the memory level already took
        // the new value and must give it up.
        assert!(matches!(
            c.set_owned("k", "", kind::STRING, b"new".to_vec(), 0, 1),
            Err(CacheError::Disk(_))
        ));
        let hit = c.get("k", 2).unwrap().unwrap();
        assert_eq!(
            (hit.source, hit.value.as_ref()),
            (Source::Disk, b"old".as_slice())
        );
    }

    #[test]
    fn a_write_the_writer_thread_fails_is_forgotten_by_the_memory_level() {
        let (tx, rx) = std::sync::mpsc::channel();
        let notify: Notify = Box::new(move |seq, failure| {
            let _ = tx.send((seq, failure));
        });
        let (_dir, mut c) = refusing_updates(Some(notify));
        // Queued for the writer thread (two writes: not committed inline); the memory level
        // takes the values at once, the commit fails later.
        c.set("k", "", kind::STRING, b"new", 0, 1).unwrap();
        c.set("j", "", kind::STRING, b"also lost", 0, 1).unwrap();
        assert!(matches!(c.commit_or_ship().unwrap(), Committed::Later(_)));
        let (_, failure) = rx.recv().unwrap();
        assert!(failure.is_some(), "the trigger refuses the update");
        let hit = c.get("k", 2).unwrap().unwrap();
        assert_eq!(
            (hit.source, hit.value.as_ref()),
            (Source::Disk, b"old".as_slice())
        );
        assert!(c.get("j", 2).unwrap().is_none(), "never written");
    }

    #[test]
    fn disk_hit_is_promoted() {
        let mut c = TieredCache::open(cfg(true, 100_000)).unwrap();
        c.set("k", "", kind::STRING, b"v", 0, 0).unwrap();
        c.commit().unwrap();
        c.memory.clear(None);
        assert_eq!(c.get("k", 0).unwrap().unwrap().source, Source::Disk);
        assert_eq!(c.get("k", 0).unwrap().unwrap().source, Source::Memory);
    }

    #[test]
    fn a_set_not_admitted_to_memory_replaces_the_memory_copy() {
        let mut c = TieredCache::open(cfg(true, 2000)).unwrap();
        c.set("k", "", kind::STRING, b"small", 0, 0).unwrap();
        let big = vec![b'x'; 500];
        assert_eq!(
            c.set("k", "", kind::STRING, &big, 0, 0).unwrap(),
            Source::Disk
        );
        assert_eq!(c.get("k", 0).unwrap().unwrap().value.as_ref(), &big[..]);
    }

    #[test]
    fn limits_reject_and_store_nothing() {
        let mut c = TieredCache::open(cfg(true, 100_000)).unwrap();
        let long = "k".repeat(101);
        assert!(matches!(
            c.set(&long, "", 0, b"1", 0, 0),
            Err(CacheError::KeyTooLong { limit: 100, .. })
        ));
        assert!(matches!(
            c.set("k", "", 0, &[0; 1001], 0, 0),
            Err(CacheError::ValueTooLarge { limit: 1000, .. })
        ));
        assert!(c.get("k", 0).unwrap().is_none());
    }

    #[test]
    fn warm_loads_disk_entries_without_counting() {
        let mut c = TieredCache::open(cfg(true, 100_000)).unwrap();
        c.set("a", "", kind::STRING, b"1", 0, 0).unwrap();
        c.commit().unwrap();
        c.memory.clear(None);
        assert_eq!(c.warm(&["a".into(), "zz".into()], 0).unwrap(), 1);
        assert!(c.memory().contains(b"a", 0));
        assert_eq!(c.counters().hits + c.counters().misses, 0);
    }

    #[test]
    fn ttl_expires_in_both_levels() {
        let mut c = TieredCache::open(cfg(true, 100_000)).unwrap();
        c.set("k", "", kind::STRING, b"v", 1000, 0).unwrap();
        c.commit().unwrap();
        assert!(c.get("k", 1000).unwrap().is_some());
        assert!(c.get("k", 1001).unwrap().is_none());
        assert_eq!(c.counters().misses, 1);
    }
}
