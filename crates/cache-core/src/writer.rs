//! The disk level as the JS thread sees it: `set`s are queued in memory, and a group of
//! them is written and committed either inline (one entry, nothing in flight: a thread hop
//! costs more than the commit) or on a dedicated writer thread, which reports each
//! settled group through a callback. Everything else (reads, deletes, clears, sweeps)
//! runs on the calling thread under the store's lock, after waiting for the groups in
//! flight, so every operation sees the writes issued before it.
//!
//! Ordering: queued puts are applied before any other operation of the same thread; a
//! group is committed after every group shipped before it (one writer, FIFO).

use crate::disk::{DiskConfig, DiskRow, DiskStore};
use ahash::RandomState;
use ahash::{HashMap, HashMapExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Puts queued on the calling thread beyond this are written inline (bounds the queue).
const MAX_LOCAL_PUTS: usize = 50_000;
/// Queued puts are shipped to the writer thread in groups of this many (the writer
/// writes them while the caller serializes the next ones); the commit waits for the tick.
const SHIP_EVERY: usize = 8;
/// Rows shipped and not yet committed beyond this make the caller wait (back-pressure:
/// the writer thread is slower than the caller).
const MAX_ROWS_IN_FLIGHT: u64 = 50_000;
/// The same bound in bytes of keys and values (large values reach it long before the rows).
const MAX_BYTES_IN_FLIGHT: u64 = 256 << 20;
/// Failures remembered for `close` (a failed commit is rare; the callback reports each).
const MAX_FAILURES: usize = 64;

/// Called on the writer thread once a group is settled: the last sequence number it
/// covered and, when the commit failed, why (every group up to that number failed).
pub type Notify = Box<dyn Fn(u64, Option<String>) + Send + 'static>;

struct Put {
    key: String,
    namespace: String,
    kind: u8,
    value: Vec<u8>,
    expires_at: i64,
    now: i64,
}

/// A group of puts; `commit`: the end of a tick's writes (commit and report).
struct Batch {
    seq: u64,
    puts: Vec<Put>,
    /// `batch_bytes(&puts)`, counted once at `ship` and given back when the writer is done.
    bytes: u64,
    commit: bool,
}

#[derive(Default)]
struct Queue {
    batches: Vec<Batch>,
    stop: bool,
    /// The writer waits on `wake`: only then does a new batch need a wake-up (a futex
    /// call, which the caller would otherwise pay for every group).
    idle: bool,
}

/// A failed run of commit groups: (first, last, SQLite's reason).
pub type GroupFailure = (u64, u64, String);

#[derive(Default)]
struct Settled {
    /// Last group written into the open transaction (or failed).
    applied: u64,
    /// Last group committed (or failed) and reported.
    committed: u64,
    /// (first, last, reason) of failed groups, most recent last.
    failures: Vec<GroupFailure>,
}

struct Shared {
    store: Mutex<DiskStore>,
    queue: Mutex<Queue>,
    wake: Condvar,
    settled: Mutex<Settled>,
    settled_cv: Condvar,
    /// A write of the open transaction failed, on either thread (the transaction is rolled
    /// back): its commit fails with this, on whichever thread it runs. SQLite's message
    /// alone; the report adds "cache database error: ".
    failed: Mutex<Option<String>>,
    rows_in_flight: AtomicU64,
    bytes_in_flight: AtomicU64,
    evicted: AtomicU64,
}

/// A lock that survives a panic of its previous holder (the state is repaired by the
/// holder's error path: a panicking writer rolls its transaction back).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn apply(store: &mut DiskStore, puts: &[Put]) -> rusqlite::Result<()> {
    for p in puts {
        #[cfg(test)]
        if p.kind == tests::PANIC_KIND {
            panic!("a test asked the writer to panic");
        }
        store.put(&p.key, &p.namespace, p.kind, &p.value, p.expires_at, p.now)?;
    }
    Ok(())
}

/// Bytes of keys and values a group holds (the back-pressure bound counts them).
fn batch_bytes(puts: &[Put]) -> u64 {
    puts.iter()
        .map(|p| (p.key.len() + p.namespace.len() + p.value.len()) as u64)
        .sum()
}

/// The puts' writes will not reach the database: the transaction is rolled back, and the
/// memory level is told to forget their keys.
fn lose(store: &mut DiskStore, puts: &[Put]) {
    store.abort();
    forget(store, puts);
}

/// The puts were never written (their transaction failed before them): the memory level
/// forgets their keys.
fn forget(store: &mut DiskStore, puts: &[Put]) {
    store.lose_keys(puts.iter().map(|p| p.key.as_str()));
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The writer thread: writes each group as it arrives (so writing overlaps the caller
/// serializing the next writes of the same tick) and commits at a group marked `commit`.
/// A failure rolls the transaction back and fails every group since the last commit.
fn writer_loop(shared: Arc<Shared>, notify: Option<Notify>) {
    let mut first_uncommitted = 1u64;
    loop {
        let batches = {
            let mut q = lock(&shared.queue);
            while q.batches.is_empty() && !q.stop {
                q.idle = true;
                q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                q.idle = false;
            }
            if q.batches.is_empty() {
                return; // stopped, nothing left
            }
            std::mem::take(&mut q.batches)
        };
        for batch in batches {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let mut store = lock(&shared.store);
                let mut failed = lock(&shared.failed);
                if failed.is_none() {
                    if let Err(e) = apply(&mut store, &batch.puts) {
                        lose(&mut store, &batch.puts);
                        *failed = Some(e.to_string());
                    }
                } else {
                    // not written: the group fails with the transaction before it
                    forget(&mut store, &batch.puts);
                }
                if !batch.commit {
                    return None;
                }
                if let Some(f) = failed.take() {
                    // Writes the caller made in the same transaction fail with the group.
                    store.abort();
                    return Some(f);
                }
                match store.commit() {
                    Ok(evicted) => {
                        shared.evicted.fetch_add(evicted as u64, Ordering::Relaxed);
                        None
                    }
                    Err(e) => {
                        store.abort();
                        Some(e.to_string())
                    }
                }
            }));
            let failure = match outcome {
                Ok(f) => f,
                Err(p) => {
                    // The transaction is in an unknown state: roll it back.
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        lose(&mut lock(&shared.store), &batch.puts)
                    }));
                    let f = format!(
                        "the cache writer thread panicked: {}",
                        panic_message(p.as_ref())
                    );
                    let mut failed = lock(&shared.failed);
                    if batch.commit {
                        // the commit reports the transaction's first failure
                        Some(failed.take().unwrap_or(f))
                    } else {
                        failed.get_or_insert(f);
                        None
                    }
                }
            };
            // reported as `CacheError::Disk` reports the same failure on the calling thread
            let failure = failure.map(|f| format!("cache database error: {f}"));
            shared
                .rows_in_flight
                .fetch_sub(batch.puts.len() as u64, Ordering::Relaxed);
            shared
                .bytes_in_flight
                .fetch_sub(batch.bytes, Ordering::Relaxed);
            {
                let mut s = lock(&shared.settled);
                s.applied = batch.seq;
                if batch.commit {
                    if let Some(f) = &failure {
                        if s.failures.len() >= MAX_FAILURES {
                            s.failures.remove(0);
                        }
                        s.failures.push((first_uncommitted, batch.seq, f.clone()));
                    }
                    s.committed = batch.seq;
                }
            }
            shared.settled_cv.notify_all();
            if batch.commit {
                first_uncommitted = batch.seq + 1;
                if let Some(n) = &notify {
                    // A panicking callback must not take the thread down with it.
                    let _ = catch_unwind(AssertUnwindSafe(|| n(batch.seq, failure)));
                }
            }
        }
    }
}

/// What `commit_or_ship` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Committed {
    /// Committed on the calling thread: durable now.
    Now,
    /// Shipped to the writer thread as this group; the callback reports it.
    Later(u64),
}

pub struct Disk {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    local: Vec<Put>,
    /// Hashes of the keys whose latest write is queued or in flight, with the group
    /// holding it. A hash collision only makes a read wait for the writer (`sync`), which
    /// is always correct; storing hashes saves a key copy per `set`.
    pending_keys: HashMap<u64, u64>,
    key_hasher: RandomState,
    /// The group number the local queue will get.
    next_seq: u64,
    shipped: u64,
    pool_size: usize,
    /// `DiskStore::lost_flag`: lost writes to hand to the memory level.
    lost_flag: Arc<std::sync::atomic::AtomicBool>,
}

impl Disk {
    /// `notify` given: groups of several writes are committed on a writer thread (file
    /// databases only; an in-memory database has one connection and commits inline).
    pub fn open(cfg: &DiskConfig, notify: Option<Notify>) -> Result<Self, String> {
        let store = DiskStore::open(cfg)?;
        let pool_size = store.pool_size();
        let lost_flag = store.lost_flag();
        let threaded = notify.is_some() && pool_size > 0;
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            settled: Mutex::new(Settled::default()),
            settled_cv: Condvar::new(),
            failed: Mutex::new(None),
            rows_in_flight: AtomicU64::new(0),
            bytes_in_flight: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        });
        let thread = if threaded {
            let s = Arc::clone(&shared);
            Some(
                std::thread::Builder::new()
                    .name("cache-writer".into())
                    .spawn(move || writer_loop(s, notify))
                    .map_err(|e| format!("cannot start the cache writer thread: {e}"))?,
            )
        } else {
            None
        };
        Ok(Disk {
            shared,
            thread,
            local: Vec::new(),
            pending_keys: HashMap::new(),
            key_hasher: RandomState::new(),
            next_seq: 1,
            shipped: 0,
            pool_size,
            lost_flag,
        })
    }

    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// Rows evicted by `maxDiskSize` in commits made on the writer thread.
    pub fn writer_evictions(&self) -> u64 {
        self.shared.evicted.load(Ordering::Relaxed)
    }

    fn committed(&self) -> u64 {
        lock(&self.shared.settled).committed
    }

    /// Waits until the writer thread wrote every group up to `seq`.
    fn wait_applied(&self, seq: u64) {
        let mut s = lock(&self.shared.settled);
        while s.applied < seq {
            s = self
                .shared
                .settled_cv
                .wait(s)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits for every group in flight, then writes the local queue into the open
    /// transaction: afterwards the store holds every write issued so far.
    fn sync(&mut self) {
        if self.shipped > 0 {
            self.wait_applied(self.shipped);
        }
        if !self.local.is_empty() {
            let puts = std::mem::take(&mut self.local);
            let mut store = lock(&self.shared.store);
            if let Err(e) = apply(&mut store, &puts) {
                lose(&mut store, &puts);
                // the transaction's first failure, wherever its groups were written
                lock(&self.shared.failed).get_or_insert(e.to_string());
            }
        }
        self.pending_keys.clear();
    }

    fn synced(&mut self) -> MutexGuard<'_, DiskStore> {
        self.sync();
        lock(&self.shared.store)
    }

    /// Queues a write (validated by the caller); written at the next commit.
    pub fn put(
        &mut self,
        key: &str,
        namespace: &str,
        kind: u8,
        value: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> rusqlite::Result<()> {
        if self.thread.is_none() || self.local.len() >= MAX_LOCAL_PUTS {
            return self
                .synced()
                .put(key, namespace, kind, &value, expires_at, now);
        }
        self.pending_keys
            .insert(self.key_hasher.hash_one(key), self.next_seq);
        self.local.push(Put {
            key: key.to_owned(),
            namespace: namespace.to_owned(),
            kind,
            value,
            expires_at,
            now,
        });
        if self.local.len() >= SHIP_EVERY {
            self.ship(false);
        }
        Ok(())
    }

    /// Whether a write of `key` may be queued or in flight (false positives possible).
    fn is_pending(&self, key: &str) -> bool {
        !self.pending_keys.is_empty()
            && self
                .pending_keys
                .contains_key(&self.key_hasher.hash_one(key))
    }

    /// `shared`: see `DiskStore::get`.
    pub fn get(&mut self, key: &str, now: i64, shared: bool) -> rusqlite::Result<Option<DiskRow>> {
        if self.is_pending(key) {
            self.sync();
        }
        lock(&self.shared.store).get(key, now, shared)
    }

    pub fn get_many(
        &mut self,
        keys: &[String],
        now: i64,
    ) -> rusqlite::Result<Vec<Option<DiskRow>>> {
        let pending = !self.pending_keys.is_empty() && keys.iter().any(|k| self.is_pending(k));
        if pending {
            self.sync();
        }
        lock(&self.shared.store).get_many(keys, now)
    }

    pub fn delete(&mut self, key: &str) -> rusqlite::Result<bool> {
        self.synced().delete(key)
    }

    pub fn clear(&mut self, namespace: Option<&str>) -> rusqlite::Result<usize> {
        self.synced().clear(namespace)
    }

    pub fn purge_expired(&mut self, now: i64) -> rusqlite::Result<usize> {
        self.synced().purge_expired(now)
    }

    /// Keys of writes lost since the last call (rolled back, or never written), and
    /// whether everything must be forgotten; `None` when there are none (one atomic load).
    pub fn take_lost(&mut self) -> Option<(Vec<String>, bool)> {
        if !self.lost_flag.load(Ordering::Acquire) {
            return None;
        }
        Some(lock(&self.shared.store).take_lost())
    }

    /// Ends the read snapshot point reads may hold (see `DiskStore::end_read`).
    pub fn end_read(&mut self) {
        lock(&self.shared.store).end_read()
    }

    pub fn usage(&self) -> rusqlite::Result<u64> {
        lock(&self.shared.store).usage()
    }

    /// Whether writes wait for a commit (queued, in flight or in the open transaction).
    pub fn has_pending(&self) -> bool {
        !self.local.is_empty()
            || self.shipped > self.committed()
            || lock(&self.shared.store).has_pending()
    }

    /// Commits every write so far on the calling thread (waiting for the groups in
    /// flight first). Returns rows evicted by `maxDiskSize`.
    pub fn commit(&mut self) -> Result<usize, String> {
        self.sync();
        let mut store = lock(&self.shared.store);
        // A group this transaction failed to write, on either thread (the writer is idle
        // now: `sync` waited for every group shipped).
        let failed = lock(&self.shared.failed).take();
        if let Some(e) = failed {
            store.abort();
            return Err(e);
        }
        store.commit().map_err(|e| e.to_string())
    }

    /// The group commit of one tick: inline when the writer thread would cost more than
    /// it saves (at most one queued write and nothing shipped), else shipped.
    pub fn commit_or_ship(&mut self) -> Result<(Committed, usize), String> {
        let in_flight = self.shipped > self.committed();
        // (a failure pending in `failed` fails the group on either thread)
        if self.thread.is_none() || (!in_flight && self.local.len() <= 1) {
            return self.commit().map(|n| (Committed::Now, n));
        }
        Ok((Committed::Later(self.ship(true)), 0))
    }

    /// Hands the local queue to the writer thread as the next group; returns its number.
    fn ship(&mut self, commit: bool) -> u64 {
        let rows = self.local.len() as u64;
        let bytes = batch_bytes(&self.local);
        if self.shared.rows_in_flight.load(Ordering::Relaxed) + rows > MAX_ROWS_IN_FLIGHT
            || self.shared.bytes_in_flight.load(Ordering::Relaxed) + bytes > MAX_BYTES_IN_FLIGHT
        {
            self.wait_applied(self.shipped);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.shipped = seq;
        self.shared
            .rows_in_flight
            .fetch_add(rows, Ordering::Relaxed);
        self.shared
            .bytes_in_flight
            .fetch_add(bytes, Ordering::Relaxed);
        // the next group's room up front: a Vec grown from empty reallocates 4 times by 8
        let puts = std::mem::replace(&mut self.local, Vec::with_capacity(SHIP_EVERY));
        if commit {
            let committed = self.committed();
            self.pending_keys.retain(|_, s| *s > committed);
        }
        let idle = {
            let mut q = lock(&self.shared.queue);
            q.batches.push(Batch {
                seq,
                puts,
                bytes,
                commit,
            });
            q.idle
        };
        if idle {
            self.shared.wake.notify_one();
        }
        seq
    }

    /// Stops the writer thread (after it committed every group shipped), then commits
    /// the rest inline. Returns the failures of groups (first, last, reason) so far.
    pub fn close(&mut self) -> (Result<usize, String>, Vec<GroupFailure>) {
        self.stop_writer();
        let r = self.commit();
        (r, lock(&self.shared.settled).failures.clone())
    }

    fn stop_writer(&mut self) {
        if let Some(t) = self.thread.take() {
            lock(&self.shared.queue).stop = true;
            self.shared.wake.notify_one();
            let _ = t.join();
        }
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.stop_writer();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kind;
    use std::sync::mpsc;

    /// A put of this kind makes the writer thread panic (test builds only).
    pub const PANIC_KIND: u8 = 0xEE;

    fn open(path: &str) -> (Disk, mpsc::Receiver<(u64, Option<String>)>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let notify: Notify = Box::new(move |seq, err| {
            let _ = lock(&tx).send((seq, err));
        });
        let cfg = DiskConfig {
            path: path.into(),
            pool_size: 2,
            compression: true,
            max_disk_size: u64::MAX,
            wal_coalescing: false,
        };
        (Disk::open(&cfg, Some(notify)).unwrap(), rx)
    }

    fn put(d: &mut Disk, key: &str, v: &[u8], k: u8) {
        d.put(key, "", k, v.to_vec(), i64::MAX, 0).unwrap();
    }

    /// The tick's commit, which must go to the writer thread: its group number.
    fn commit_shipped(d: &mut Disk) -> u64 {
        let Committed::Later(seq) = d.commit_or_ship().unwrap().0 else {
            panic!("not shipped")
        };
        seq
    }

    #[test]
    fn one_write_commits_inline_a_group_on_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, rx) = open(dir.path().join("c.db").to_str().unwrap());
        put(&mut d, "a", b"1", kind::STRING);
        assert_eq!(d.commit_or_ship().unwrap().0, Committed::Now);
        put(&mut d, "b", b"2", kind::STRING);
        put(&mut d, "c", b"3", kind::STRING);
        let seq = commit_shipped(&mut d);
        // Read-your-writes before the group is reported.
        assert_eq!(d.get("c", 0, false).unwrap().unwrap().value, b"3");
        assert_eq!(rx.recv().unwrap(), (seq, None));
        // Visible to another connection: committed.
        let (mut other, _rx) = open(dir.path().join("c.db").to_str().unwrap());
        assert_eq!(other.get("b", 0, false).unwrap().unwrap().value, b"2");
        assert!(!d.has_pending());
    }

    #[test]
    fn a_failed_commit_reports_every_group_it_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let (mut d, rx) = open(path.to_str().unwrap());
        // Another connection makes every INSERT fail.
        let blocker = rusqlite::Connection::open(&path).unwrap();
        blocker
            .execute_batch("CREATE TRIGGER no_insert BEFORE INSERT ON cache_entries BEGIN SELECT RAISE(ABORT, 'refused'); END;")
            .unwrap();
        put(&mut d, "a", b"1", kind::STRING);
        put(&mut d, "b", b"2", kind::STRING);
        let seq = commit_shipped(&mut d);
        let (got, err) = rx.recv().unwrap();
        assert_eq!(got, seq);
        assert!(err.unwrap().contains("refused"));
        assert!(
            d.get("a", 0, false).unwrap().is_none(),
            "nothing of the group was stored"
        );
        let (r, failures) = d.close();
        assert!(r.is_ok());
        assert_eq!(failures.len(), 1);
        assert_eq!((failures[0].0, failures[0].1), (seq, seq));
    }

    #[test]
    fn a_panic_on_the_writer_is_reported_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, rx) = open(dir.path().join("c.db").to_str().unwrap());
        put(&mut d, "a", b"1", kind::STRING);
        put(&mut d, "boom", b"", PANIC_KIND);
        let seq = commit_shipped(&mut d);
        let (got, err) = rx.recv().unwrap();
        assert_eq!(got, seq);
        assert!(err.unwrap().contains("panicked"));
        assert!(
            d.get("a", 0, false).unwrap().is_none(),
            "the group was rolled back"
        );
        put(&mut d, "b", b"2", kind::STRING);
        put(&mut d, "c", b"3", kind::STRING);
        let next = commit_shipped(&mut d);
        assert_eq!(rx.recv().unwrap(), (next, None));
        assert_eq!(d.get("b", 0, false).unwrap().unwrap().value, b"2");
    }

    #[test]
    fn a_failure_in_an_early_group_fails_the_whole_tick() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, rx) = open(dir.path().join("c.db").to_str().unwrap());
        put(&mut d, "boom", b"", PANIC_KIND);
        for i in 0..(3 * SHIP_EVERY) {
            put(&mut d, &format!("k{i}"), b"v", kind::STRING);
        }
        let seq = commit_shipped(&mut d);
        assert_eq!(
            seq, 4,
            "three groups of {SHIP_EVERY} shipped before the commit"
        );
        let (got, err) = rx.recv().unwrap();
        assert_eq!(got, seq);
        assert!(err.unwrap().contains("panicked"));
        assert!(d.get("k40", 0, false).unwrap().is_none());
        let (_, failures) = d.close();
        assert_eq!((failures[0].0, failures[0].1), (1, 4));
    }

    #[test]
    fn a_failure_on_the_writer_fails_the_inline_commit_of_its_transaction_and_no_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, rx) = open(dir.path().join("c.db").to_str().unwrap());
        // a group written without its commit fails on the writer thread...
        put(&mut d, "boom", b"", PANIC_KIND);
        for i in 1..SHIP_EVERY {
            put(&mut d, &format!("k{i}"), b"v", kind::STRING);
        }
        // ...and its transaction is committed on this thread
        let err = d.commit().unwrap_err();
        assert!(err.contains("panicked"), "{err}");
        assert!(d.get("k1", 0, false).unwrap().is_none());
        // the next transaction does not inherit the failure
        put(&mut d, "a", b"1", kind::STRING);
        put(&mut d, "b", b"2", kind::STRING);
        let seq = commit_shipped(&mut d);
        assert_eq!(rx.recv().unwrap(), (seq, None));
        assert_eq!(d.get("a", 0, false).unwrap().unwrap().value, b"1");
    }

    #[test]
    fn operations_see_every_earlier_write_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, rx) = open(dir.path().join("c.db").to_str().unwrap());
        for i in 0..100 {
            put(&mut d, &format!("k{i}"), b"v", kind::STRING);
        }
        commit_shipped(&mut d);
        // Shipped but maybe not written yet: delete and clear wait for it.
        assert!(d.delete("k5").unwrap());
        put(&mut d, "k6", b"new", kind::STRING);
        assert_eq!(d.get("k6", 0, false).unwrap().unwrap().value, b"new");
        assert_eq!(d.commit_or_ship().unwrap().0, Committed::Now);
        assert!(d.get("k5", 0, false).unwrap().is_none());
        assert_eq!(d.clear(None).unwrap(), 99);
        d.commit().unwrap();
        drop(rx);
        drop(d); // joins the writer thread
    }
}
