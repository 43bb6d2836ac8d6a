//! The disk level (L2): the legacy SQLite schema in WAL mode, a pool of reader connections
//! and one writer connection whose writes are grouped into shared transactions.
//!
//! Group commit: the first write opens a transaction (`BEGIN IMMEDIATE`), later writes join
//! it, and `commit()` ends it. The caller decides when (the drop-in layer commits once per
//! JS tick and resolves every `set` of that tick after the commit). With
//! `synchronous=NORMAL` in WAL mode a commit has reached the OS when `COMMIT` returns: it
//! survives the process being killed, not a power loss (that needs `synchronous=FULL`).
//!
//! Reads do not write: hit counts and access times are gathered in a bounded map and
//! written with the next commit.
//!
//! The file and its schema are in `schema`, the WAL's checkpoints in `checkpoint`, the
//! stored form of a value in `row`; this module is the level itself: its connections,
//! transactions, reads and writes.

mod checkpoint;
mod row;
mod schema;

use ahash::{HashMap, HashMapExt, HashSet, HashSetExt};
use checkpoint::Checkpointer;
use row::read_row;
pub use row::{DiskRow, COMPRESS_THRESHOLD};
use rusqlite::{params, Connection, OpenFlags};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bound of the pending access-time map: reaching it writes the updates at once (kept
/// small so that write, on the JS thread, stays short): into the open transaction when
/// writes are pending, else in a transaction of their own.
const MAX_PENDING_ACCESS: usize = 2_048;
/// Bound of the keys written in one open transaction: reaching it commits early (always
/// safe: a write is acknowledged at the first commit after it).
const MAX_BATCH_KEYS: usize = 50_000;
/// Keys of lost writes remembered for the memory level; beyond, it forgets everything.
const MAX_LOST_KEYS: usize = 100_000;
/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct DiskConfig {
    pub path: String,
    pub pool_size: usize,
    pub compression: bool,
    pub max_disk_size: u64,
    /// Open the writer through the WAL write-coalescing VFS (`wal_vfs`). Linux only: on
    /// other platforms the shim is not built and this is ignored.
    pub wal_coalescing: bool,
}

pub struct DiskStore {
    writer: Connection,
    /// Empty for an in-memory database (one connection serves everything).
    readers: Vec<Connection>,
    in_txn: bool,
    /// Keys written or deleted in the open transaction: readers cannot see that yet.
    dirty: HashSet<String>,
    /// A `clear` ran in the open transaction: every read goes through the writer.
    cleared: bool,
    /// Keys whose writes a rolled-back transaction (or a write never applied) lost: the
    /// memory level, which took those values at `set`, must forget them (`take_lost`).
    lost: Vec<String>,
    /// More keys were lost than `lost` holds: the memory level forgets everything.
    lost_all: bool,
    /// Set while `lost`/`lost_all` hold something: checked without the store's lock.
    lost_flag: Arc<AtomicBool>,
    access: HashMap<String, (i64, i64)>,
    compression: bool,
    max_disk_size: u64,
    /// Usage at the last measurement, and bytes stored since: the size limit is measured
    /// only when the writes since could have reached it (a measurement costs 3 pragmas).
    last_usage: u64,
    written_since: u64,
    /// Rows evicted by commits made early (bounds reached), reported with the next commit.
    early_evictions: usize,
    /// Stopped and joined when the store is dropped.
    _checkpointer: Option<Checkpointer>,
    /// Commits made through this store, counted: a read snapshot older than one is renewed.
    commits: u64,
    /// A read transaction held open on the first reader across point reads (`get`), with
    /// the commit count it began at: each autocommit read takes and drops two file locks
    /// (four `fcntl` calls, a sixth of a disk hit here). `end_read` ends it; the JS layer
    /// calls it once a macrotask's disk reads are over, so another process's writes show
    /// from the next callback on, and ours at once (a commit of ours renews it).
    read_snapshot: Option<u64>,
}

fn is_memory_path(path: &str) -> bool {
    path.is_empty() || path == ":memory:" || path.starts_with("file::memory:")
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA cache_size=10000; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=268435456;",
    )
}

const WRITER_FLAGS: OpenFlags = OpenFlags::SQLITE_OPEN_READ_WRITE
    .union(OpenFlags::SQLITE_OPEN_CREATE)
    .union(OpenFlags::SQLITE_OPEN_URI)
    .union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

/// The writer connection of a database file. With `coalesce` (Linux only), through the WAL
/// write-coalescing VFS: only the writer writes the WAL, and its commits then go out in one
/// write each. Opt-in: the shim relies on SQLite internals (see `wal_vfs`).
#[cfg(target_os = "linux")]
fn open_writer(path: &str, coalesce: bool) -> rusqlite::Result<Connection> {
    if coalesce {
        crate::wal_vfs::register()?;
        return Connection::open_with_flags_and_vfs(path, WRITER_FLAGS, crate::wal_vfs::VFS_NAME);
    }
    Connection::open_with_flags(path, WRITER_FLAGS)
}

/// The writer connection of a database file: the default VFS (the coalescing shim is
/// Linux-only; `coalesce` is accepted and ignored).
#[cfg(not(target_os = "linux"))]
fn open_writer(path: &str, _coalesce: bool) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, WRITER_FLAGS)
}

impl DiskStore {
    pub fn open(cfg: &DiskConfig) -> Result<Self, String> {
        Self::open_inner(cfg).map_err(|e| format!("cannot open cache database {:?}: {e}", cfg.path))
    }

    fn open_inner(cfg: &DiskConfig) -> Result<Self, Box<dyn std::error::Error>> {
        let memory = is_memory_path(&cfg.path);
        if !memory {
            schema::create_private(&cfg.path)?;
        }
        let writer = if memory {
            Connection::open(":memory:")?
        } else {
            open_writer(&cfg.path, cfg.wal_coalescing)?
        };
        configure(&writer)?;
        writer.execute_batch("PRAGMA page_size=4096;")?;
        if !memory {
            // journal_mode returns a row; WAL is persistent in the file.
            schema::retry_busy(|| writer.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(())))?;
        }
        writer.execute_batch("PRAGMA synchronous=NORMAL;")?;
        schema::ensure(&writer)?;
        let mut readers = Vec::new();
        let mut checkpointer = None;
        if !memory {
            checkpoint::bound_wal(&writer)?;
            checkpointer = Some(Checkpointer::start(&cfg.path)?);
            for _ in 0..cfg.pool_size.max(1) {
                let r = Connection::open_with_flags(
                    &cfg.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&r)?;
                readers.push(r);
            }
        }
        Ok(DiskStore {
            writer,
            readers,
            in_txn: false,
            dirty: HashSet::new(),
            cleared: false,
            lost: Vec::new(),
            lost_all: false,
            lost_flag: Arc::new(AtomicBool::new(false)),
            access: HashMap::new(),
            compression: cfg.compression,
            max_disk_size: cfg.max_disk_size,
            last_usage: 0,
            written_since: u64::MAX / 4,
            early_evictions: 0,
            _checkpointer: checkpointer,
            commits: 0,
            read_snapshot: None,
        })
    }

    pub fn pool_size(&self) -> usize {
        self.readers.len()
    }

    fn begin(&mut self) -> rusqlite::Result<()> {
        if !self.in_txn {
            self.writer.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            self.in_txn = true;
        } else if self.writer.is_autocommit() {
            // SQLite rolled the open transaction back by itself (SQLITE_FULL, IOERR, NOMEM
            // in a statement): a write now would autocommit, stored although its group
            // fails. Fail it instead; the group's rollback path then rejects them all.
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("the open transaction was rolled back by an earlier error".into()),
            ));
        }
        Ok(())
    }

    /// Whether writes wait for `commit()`.
    pub fn has_pending(&self) -> bool {
        self.in_txn
    }

    /// Whether `key` must be read through the writer: the open transaction changed it (a
    /// reader would still see the committed row, e.g. one deleted since).
    fn changed_in_txn(&self, key: &str) -> bool {
        self.in_txn && (self.cleared || self.dirty.contains(key))
    }

    fn reader_for(&self, key: &str) -> &Connection {
        if self.readers.is_empty() || self.changed_in_txn(key) {
            &self.writer
        } else {
            &self.readers[0]
        }
    }

    /// The first reader inside a read transaction that has seen every commit of ours.
    fn snapshot_reader(&mut self) -> rusqlite::Result<&Connection> {
        if self.read_snapshot.is_some_and(|at| at != self.commits) {
            self.end_read();
        }
        if self.read_snapshot.is_none() {
            self.readers[0].prepare_cached("BEGIN")?.execute([])?;
            self.read_snapshot = Some(self.commits);
        }
        Ok(&self.readers[0])
    }

    /// Ends the read transaction `get` may hold (see `read_snapshot`).
    pub fn end_read(&mut self) {
        if self.read_snapshot.take().is_some() {
            // Ending a read-only transaction cannot fail for want of a lock; should it fail
            // anyway, a rollback still releases the snapshot.
            if self.readers[0].execute_batch("COMMIT").is_err() {
                let _ = self.readers[0].execute_batch("ROLLBACK");
            }
        }
    }

    /// The live row under `key`; an expired row is never returned. Marks it accessed
    /// (written with the next commit). `shared`: read inside the read snapshot (opened by
    /// the first shared read, see `read_snapshot`) instead of a transaction of its own.
    pub fn get(&mut self, key: &str, now: i64, shared: bool) -> rusqlite::Result<Option<DiskRow>> {
        let conn = if self.readers.is_empty() || self.changed_in_txn(key) {
            &self.writer
        } else if shared {
            self.snapshot_reader()?
        } else {
            self.end_read();
            &self.readers[0]
        };
        let row = read_row(conn, key, now)?;
        if row.is_some() {
            self.note_access(key, now)?;
        }
        Ok(row)
    }

    /// Like `get` for many keys; large batches are split over the reader pool's
    /// connections on scoped threads.
    pub fn get_many(
        &mut self,
        keys: &[String],
        now: i64,
    ) -> rusqlite::Result<Vec<Option<DiskRow>>> {
        const PARALLEL_FROM: usize = 512;
        self.end_read(); // batches read in autocommit, on every reader
        let out = if keys.len() < PARALLEL_FROM || self.readers.len() < 2 || self.in_txn {
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                out.push(read_row(self.reader_for(k), k, now)?);
            }
            out
        } else {
            let chunk = keys.len().div_ceil(self.readers.len());
            let parts: Vec<rusqlite::Result<Vec<Option<DiskRow>>>> = std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .readers
                    .iter_mut()
                    .zip(keys.chunks(chunk))
                    .map(|(conn, part)| {
                        s.spawn(move || part.iter().map(|k| read_row(conn, k, now)).collect())
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("reader thread panicked"))
                    .collect()
            });
            let mut out = Vec::with_capacity(keys.len());
            for p in parts {
                out.extend(p?);
            }
            out
        };
        for (k, r) in keys.iter().zip(&out) {
            if r.is_some() {
                self.note_access(k, now)?;
            }
        }
        Ok(out)
    }

    fn note_access(&mut self, key: &str, now: i64) -> rusqlite::Result<()> {
        if let Some(e) = self.access.get_mut(key) {
            e.0 += 1;
            e.1 = now;
            return Ok(());
        }
        if self.access.len() >= MAX_PENDING_ACCESS {
            if self.in_txn {
                // Callers' writes are pending: committing them here would make a later
                // failure of their group reject writes already stored. A failure here
                // fails their group (see `begin`), not this read, which found its row.
                let _ = self.write_access();
                self.access.clear();
            } else {
                self.begin()?;
                self.early_evictions += self.commit()?;
            }
        }
        self.access.insert(key.to_owned(), (1, now));
        Ok(())
    }

    /// Writes an entry into the open transaction (opening one if needed).
    pub fn put(
        &mut self,
        key: &str,
        namespace: &str,
        kind: u8,
        value: &[u8],
        expires_at: i64,
        now: i64,
    ) -> rusqlite::Result<()> {
        if self.dirty.len() >= MAX_BATCH_KEYS {
            self.early_evictions += self.commit()?;
        }
        self.begin()?;
        let (stored, compressed) = row::pack(value, self.compression);
        let stored: &[u8] = &stored;
        self.writer
            .prepare_cached(
                // An upsert, not INSERT OR REPLACE: replacing a key updates its row in
                // place (REPLACE deletes the row and inserts a new one, rewriting all
                // four B-trees of the legacy schema twice).
                "INSERT INTO cache_entries
                 (key, value, size, ttl, created_at, last_accessed, hit_count, namespace, compressed, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0, ?6, ?7, ?8)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, size = excluded.size,
                   ttl = excluded.ttl, created_at = excluded.created_at,
                   last_accessed = excluded.last_accessed, hit_count = 0,
                   namespace = excluded.namespace, compressed = excluded.compressed,
                   kind = excluded.kind",
            )?
            .execute(params![key, stored, stored.len() as i64, expires_at, now, namespace, compressed, kind as i64])?;
        self.access.remove(key);
        self.written_since = self
            .written_since
            .saturating_add((stored.len() + key.len()) as u64);
        self.mark_dirty(key);
        Ok(())
    }

    /// Notes that the open transaction changed `key` (a key copy only the first time).
    fn mark_dirty(&mut self, key: &str) {
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_owned());
        }
    }

    /// Deletes the row under `key` in the open transaction; true when one existed.
    pub fn delete(&mut self, key: &str) -> rusqlite::Result<bool> {
        self.begin()?;
        let n = self
            .writer
            .prepare_cached("DELETE FROM cache_entries WHERE key = ?1")?
            .execute([key])?;
        self.access.remove(key);
        if n > 0 {
            self.mark_dirty(key);
        }
        Ok(n > 0)
    }

    /// Deletes every row (of `namespace` only, when given) in the open transaction.
    pub fn clear(&mut self, namespace: Option<&str>) -> rusqlite::Result<usize> {
        self.begin()?;
        self.access.clear();
        self.cleared = true;
        match namespace {
            None => self.writer.execute("DELETE FROM cache_entries", []),
            Some(ns) => self
                .writer
                .execute("DELETE FROM cache_entries WHERE namespace = ?1", [ns]),
        }
    }

    /// Deletes expired rows in the open transaction; returns how many.
    pub fn purge_expired(&mut self, now: i64) -> rusqlite::Result<usize> {
        self.begin()?;
        self.writer
            .prepare_cached("DELETE FROM cache_entries WHERE ttl < ?1")?
            .execute([now])
    }

    /// Notes keys whose latest write will never reach the database (see `lost`).
    pub fn lose_keys<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        let mut any = false;
        for k in keys {
            any = true;
            if self.lost_all || self.lost.len() >= MAX_LOST_KEYS {
                self.lost_all = true;
                self.lost = Vec::new();
                break;
            }
            self.lost.push(k.to_owned());
        }
        if any {
            self.lost_flag.store(true, Ordering::Release);
        }
    }

    /// The flag `take_lost` has something; shared so it can be read without the lock.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.lost_flag)
    }

    /// The keys of lost writes since the last call, and whether all must be forgotten.
    pub fn take_lost(&mut self) -> (Vec<String>, bool) {
        self.lost_flag.store(false, Ordering::Release);
        (
            std::mem::take(&mut self.lost),
            std::mem::take(&mut self.lost_all),
        )
    }

    /// The writes of the open transaction are rolled back: their keys are lost.
    fn lose_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        self.lose_keys(dirty.iter().map(String::as_str));
        // a rolled-back clear leaves rows the memory level no longer holds: fine
        self.cleared = false;
    }

    /// Rolls the open transaction back (its writes are lost; the caller reports them).
    pub fn abort(&mut self) {
        if self.in_txn {
            let _ = self.writer.execute_batch("ROLLBACK");
        }
        self.in_txn = false;
        self.lose_dirty();
        self.early_evictions = 0;
    }

    /// Ends the open transaction (writing pending access times first), then enforces
    /// `max_disk_size`. Returns how many rows the size limit evicted.
    pub fn commit(&mut self) -> rusqlite::Result<usize> {
        let early = std::mem::take(&mut self.early_evictions);
        if !self.in_txn {
            return Ok(early);
        }
        let result = self.write_access().and_then(|_| {
            self.writer
                .prepare_cached("COMMIT")?
                .execute([])
                .map(|_| ())
        });
        if let Err(e) = result {
            // A failed COMMIT may leave the transaction open: roll it back so the next
            // write starts clean; the writes of this batch are lost and reported.
            let _ = self.writer.execute_batch("ROLLBACK");
            self.in_txn = false;
            self.lose_dirty();
            return Err(e);
        }
        self.in_txn = false;
        self.dirty.clear();
        self.cleared = false;
        // The commit stands whatever the size check does: a failure there is not reported
        // as a failed write; the check runs again once more bytes have been written.
        let evicted = self.enforce_max_size().unwrap_or(0); // its deletes commit on their own
        self.commits += 1; // one count renews read snapshots for both commits
        Ok(early + evicted)
    }

    fn write_access(&mut self) -> rusqlite::Result<()> {
        if self.access.is_empty() {
            return Ok(());
        }
        let mut stmt = self.writer.prepare_cached(
            "UPDATE cache_entries SET hit_count = hit_count + ?2, last_accessed = ?3 WHERE key = ?1",
        )?;
        for (k, (hits, last)) in self.access.drain() {
            stmt.execute(params![k, hits, last])?;
        }
        Ok(())
    }

    /// Bytes the database uses: its pages minus the free ones.
    pub fn usage(&self) -> rusqlite::Result<u64> {
        let conn = &self.writer;
        let pages: i64 = conn
            .prepare_cached("PRAGMA page_count")?
            .query_row([], |r| r.get(0))?;
        let free: i64 = conn
            .prepare_cached("PRAGMA freelist_count")?
            .query_row([], |r| r.get(0))?;
        let size: i64 = conn
            .prepare_cached("PRAGMA page_size")?
            .query_row([], |r| r.get(0))?;
        Ok(((pages - free).max(0) * size) as u64)
    }

    /// Deletes the least recently accessed rows while the database is over its limit.
    fn enforce_max_size(&mut self) -> rusqlite::Result<usize> {
        // A row grows the file by at most about twice its bytes (pages, index entries).
        let headroom = self.max_disk_size.saturating_sub(self.last_usage);
        if self
            .written_since
            .saturating_mul(2)
            .saturating_add(64 * 1024)
            < headroom
        {
            return Ok(0);
        }
        self.written_since = 0;
        let mut evicted = 0;
        for _ in 0..64 {
            let used = self.usage()?;
            self.last_usage = used;
            if used <= self.max_disk_size {
                break;
            }
            let rows: i64 =
                self.writer
                    .query_row("SELECT COUNT(*) FROM cache_entries", [], |r| r.get(0))?;
            if rows == 0 {
                break;
            }
            // Remove the share of rows the excess represents (at least 1, 10% headroom).
            let excess = (used - self.max_disk_size) as f64 / used as f64;
            let n = ((rows as f64 * (excess + 0.1)).ceil() as i64).clamp(1, rows);
            evicted += self.writer.execute(
                "DELETE FROM cache_entries WHERE key IN
                 (SELECT key FROM cache_entries ORDER BY last_accessed LIMIT ?1)",
                [n],
            )?;
        }
        Ok(evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind;

    fn open(path: &str, max: u64) -> DiskStore {
        // Size tests need incompressible values: compression only when unbounded.
        let compression = max == u64::MAX;
        DiskStore::open(&DiskConfig {
            path: path.into(),
            pool_size: 2,
            compression,
            max_disk_size: max,
            wal_coalescing: false,
        })
        .unwrap()
    }

    /// Real WAL writes the shim made on this thread while `d` stored and committed 20 rows
    /// of 3 KB (a page each), which read back.
    #[cfg(target_os = "linux")]
    fn shim_writes_of_a_commit(coalesce: bool) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.db");
        let mut d = DiskStore::open(&DiskConfig {
            path: p.to_str().unwrap().into(),
            pool_size: 1,
            compression: false,
            max_disk_size: u64::MAX,
            wal_coalescing: coalesce,
        })
        .unwrap();
        let before = crate::wal_vfs::test_hook::writes();
        for k in 0..20 {
            d.put(&format!("k{k}"), "", kind::BYTES, &[7u8; 3000], i64::MAX, 0)
                .unwrap();
        }
        d.commit().unwrap();
        let writes = crate::wal_vfs::test_hook::writes() - before;
        assert_eq!(
            d.get("k19", 0, false).unwrap().unwrap().value,
            vec![7u8; 3000]
        );
        writes
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_wal_shim_is_used_only_when_asked() {
        assert_eq!(
            shim_writes_of_a_commit(false),
            0,
            "off: the default VFS writes"
        );
        let on = shim_writes_of_a_commit(true);
        assert!(
            (1..=4).contains(&on),
            "on: the commit's frames in few writes, got {on}"
        );
    }

    #[test]
    fn a_delete_or_clear_not_yet_committed_is_seen_by_get() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let mut d = open(p.to_str().unwrap(), u64::MAX);
        for k in ["a", "b", "c"] {
            d.put(k, "ns", kind::STRING, b"v", i64::MAX, 0).unwrap();
        }
        d.commit().unwrap();
        assert!(d.delete("a").unwrap());
        assert!(
            d.get("a", 0, false).unwrap().is_none(),
            "deleted, uncommitted"
        );
        assert!(d.get("a", 0, true).unwrap().is_none());
        assert!(d.get_many(&["a".into(), "b".into()], 0).unwrap()[0].is_none());
        assert!(d.get("b", 0, false).unwrap().is_some());
        d.clear(Some("ns")).unwrap();
        assert!(
            d.get("b", 0, false).unwrap().is_none(),
            "cleared, uncommitted"
        );
        assert!(d.get("c", 0, true).unwrap().is_none());
        d.commit().unwrap();
        assert!(d.get("c", 0, false).unwrap().is_none());
    }

    #[test]
    fn shared_reads_hold_one_snapshot_renewed_by_our_commits_and_ended_by_end_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let mut d = open(p.to_str().unwrap(), u64::MAX);
        let mut other = open(p.to_str().unwrap(), u64::MAX);
        assert!(d.get("a", 0, true).unwrap().is_none()); // opens the snapshot
        other.put("a", "", kind::STRING, b"1", i64::MAX, 0).unwrap();
        other.commit().unwrap();
        assert!(
            d.get("a", 0, true).unwrap().is_none(),
            "inside the snapshot"
        );
        assert_eq!(
            d.get("a", 0, false).unwrap().unwrap().value,
            b"1",
            "a read of its own ends it"
        );
        d.get("a", 0, true).unwrap();
        d.put("b", "", kind::STRING, b"2", i64::MAX, 0).unwrap();
        d.commit().unwrap();
        assert_eq!(
            d.get("b", 0, true).unwrap().unwrap().value,
            b"2",
            "our commit renews it"
        );
        other.put("c", "", kind::STRING, b"3", i64::MAX, 0).unwrap();
        other.commit().unwrap();
        assert!(d.get("c", 0, true).unwrap().is_none());
        d.end_read();
        assert_eq!(
            d.get("c", 0, true).unwrap().unwrap().value,
            b"3",
            "ended, then a new one"
        );
    }

    #[test]
    fn writes_are_invisible_to_readers_until_commit_but_visible_to_get() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let mut d = open(p.to_str().unwrap(), u64::MAX);
        d.put("k", "", kind::STRING, b"v", i64::MAX, 0).unwrap();
        assert_eq!(d.get("k", 0, false).unwrap().unwrap().value, b"v");
        d.commit().unwrap();
        let mut other = open(p.to_str().unwrap(), u64::MAX);
        assert_eq!(other.get("k", 0, false).unwrap().unwrap().value, b"v");
    }

    /// A file store holding more committed keys than the access-time map, and one write
    /// (`pending`) in its open transaction. Returns the store and the number of keys.
    fn with_pending_write(p: &std::path::Path, pending: &str) -> (DiskStore, usize) {
        let mut d = open(p.to_str().unwrap(), u64::MAX);
        let n = MAX_PENDING_ACCESS + 10;
        for i in 0..n {
            d.put(&format!("k{i}"), "", kind::JSON, b"1", i64::MAX, 0)
                .unwrap();
        }
        d.commit().unwrap();
        d.put(pending, "", kind::JSON, b"2", i64::MAX, 0).unwrap();
        (d, n)
    }

    /// One number from a committed-state query (a reader connection).
    fn count(d: &DiskStore, sql: &str) -> i64 {
        d.readers[0].query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn many_reads_do_not_commit_pending_writes_early() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let (mut d, n) = with_pending_write(&p, "pending");
        for i in 0..n {
            assert!(d.get(&format!("k{i}"), 5, false).unwrap().is_some());
        }
        assert!(d.access.len() < MAX_PENDING_ACCESS, "the map stays bounded");
        let other = open(p.to_str().unwrap(), u64::MAX);
        let pending = "SELECT COUNT(*) FROM cache_entries WHERE key = 'pending'";
        assert_eq!(
            count(&other, pending),
            0,
            "the pending write waits for its own commit"
        );
        d.commit().unwrap();
        assert_eq!(count(&other, pending), 1);
        assert_eq!(
            count(&other, "SELECT SUM(hit_count) FROM cache_entries"),
            n as i64,
            "every read counted"
        );
    }

    #[test]
    fn a_transaction_sqlite_rolled_back_fails_the_writes_after_it_instead_of_autocommitting() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let (mut d, n) = with_pending_write(&p, "before");
        // the disk is full (the limit clamps to the current size): writing the reads'
        // access times into the open transaction fails, and SQLite rolls it back
        d.writer.execute_batch("PRAGMA max_page_count=1").unwrap();
        for i in 0..n {
            assert!(
                d.get(&format!("k{i}"), 1_700_000_000_000, false)
                    .unwrap()
                    .is_some(),
                "a read that found its row returns it"
            );
        }
        d.writer
            .execute_batch("PRAGMA max_page_count=1073741823")
            .unwrap();
        assert!(d.put("after", "", kind::JSON, b"3", i64::MAX, 0).is_err());
        assert!(d.commit().is_err());
        let other = open(p.to_str().unwrap(), u64::MAX);
        assert_eq!(
            count(
                &other,
                "SELECT COUNT(*) FROM cache_entries WHERE key IN ('before', 'after')"
            ),
            0,
            "nothing of the failed transaction is stored"
        );
        // and the store goes on
        d.put("later", "", kind::JSON, b"4", i64::MAX, 0).unwrap();
        d.commit().unwrap();
        assert_eq!(
            count(
                &other,
                "SELECT COUNT(*) FROM cache_entries WHERE key = 'later'"
            ),
            1
        );
    }

    #[test]
    fn a_huge_batch_commits_early_at_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let mut d = open(p.to_str().unwrap(), u64::MAX);
        for i in 0..=MAX_BATCH_KEYS {
            d.put(&format!("k{i}"), "", kind::JSON, b"1", i64::MAX, 0)
                .unwrap();
        }
        assert!(d.has_pending());
        assert_eq!(
            d.dirty.len(),
            1,
            "the first {MAX_BATCH_KEYS} keys were committed"
        );
        let other = open(p.to_str().unwrap(), u64::MAX);
        let n: i64 = other.readers[0]
            .query_row("SELECT COUNT(*) FROM cache_entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, MAX_BATCH_KEYS);
    }

    #[test]
    fn compresses_large_values_and_round_trips() {
        let mut d = open(":memory:", u64::MAX);
        let v = vec![b'a'; 10_000];
        d.put("k", "ns", kind::JSON, &v, i64::MAX, 0).unwrap();
        d.commit().unwrap();
        let (size, c): (i64, i64) = d
            .writer
            .query_row("SELECT size, compressed FROM cache_entries", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(c, 1);
        assert!(size < 1000);
        let row = d.get("k", 0, false).unwrap().unwrap();
        assert_eq!(row.value, v);
        assert_eq!(row.kind, kind::JSON);
        assert_eq!(row.namespace, "ns");
    }

    #[test]
    fn replacing_a_key_rewrites_its_row() {
        let mut d = open(":memory:", u64::MAX);
        d.put("k", "a", kind::STRING, b"old", 100, 1).unwrap();
        d.commit().unwrap();
        d.get("k", 2, false).unwrap();
        d.commit().unwrap(); // writes the hit
        d.put("k", "b", kind::BUFFER, &[9; 300], 200, 3).unwrap();
        d.commit().unwrap();
        let (n, hits, created, ns, size): (i64, i64, i64, String, i64) = d
            .writer
            .query_row(
                "SELECT COUNT(*), hit_count, created_at, namespace, size FROM cache_entries",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!((n, hits, created, ns.as_str()), (1, 0, 3, "b"));
        assert!(size < 300, "compressed: {size}");
        let row = d.get("k", 4, false).unwrap().unwrap();
        assert_eq!(
            (row.kind, row.value, row.expires_at, row.namespace.as_str()),
            (kind::BUFFER, vec![9; 300], 200, "b")
        );
    }

    #[test]
    fn expired_rows_are_not_returned() {
        let mut d = open(":memory:", u64::MAX);
        d.put("k", "", kind::STRING, b"v", 10, 0).unwrap();
        d.commit().unwrap();
        assert!(d.get("k", 10, false).unwrap().is_some());
        assert!(d.get("k", 11, false).unwrap().is_none());
        d.purge_expired(11).unwrap();
        d.commit().unwrap();
    }

    #[test]
    fn max_disk_size_evicts_oldest_accessed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let mut d = open(p.to_str().unwrap(), 200_000);
        let v = vec![7u8; 1000];
        for i in 0..1000 {
            d.put(&format!("k{i}"), "", kind::BUFFER, &v, i64::MAX, i)
                .unwrap();
        }
        let evicted = d.commit().unwrap();
        assert!(evicted > 0);
        assert!(d.usage().unwrap() <= 200_000);
        assert!(d.get("k999", 0, false).unwrap().is_some(), "newest kept");
        assert!(d.get("k0", 0, false).unwrap().is_none(), "oldest evicted");
    }

    #[test]
    fn many_keys_through_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.db");
        let mut d = open(p.to_str().unwrap(), u64::MAX);
        for i in 0..1000 {
            d.put(
                &format!("k{i}"),
                "",
                kind::STRING,
                format!("{i}").as_bytes(),
                i64::MAX,
                0,
            )
            .unwrap();
        }
        d.commit().unwrap();
        let keys: Vec<String> = (0..1200).map(|i| format!("k{i}")).collect();
        let rows = d.get_many(&keys, 0).unwrap();
        assert_eq!(rows.iter().filter(|r| r.is_some()).count(), 1000);
        assert_eq!(rows[42].as_ref().unwrap().value, b"42");
    }
}
