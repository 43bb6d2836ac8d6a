//! A VFS shim that coalesces the WAL writes of a commit into one `pwrite`.
//!
//! SQLite writes each WAL frame as two calls, its 24-byte header and its page: a commit of
//! 15 frames is 30 `pwrite`s. Here a call costs 3.5–4.5 µs whatever its size (ext4 on a VM):
//! 30 calls take 105–140 µs, one call of the same 61 KB 11–16 µs (`cargo run --release -p
//! cache-core --example wal_writes`). The writer thread spent about a third of its time there.
//!
//! The shim is the default unix VFS with one change: a run of new WAL frames (it starts with
//! the header of a frame that does not commit, and every write continues the one before) is
//! gathered in a buffer (at most `MAX_BUFFER` bytes) and written at once. Why this keeps
//! SQLite's guarantees:
//! - A commit becomes visible to readers (in this process or another) only when the writer
//!   publishes the new wal-index header, after `sqlite3WalFrames` has written every frame.
//!   The buffer is written out, and its error returned, in the `xWrite` of the commit
//!   frame's page (the frame whose header has a non-zero "database size after commit"): no
//!   commit is published with a frame still in the buffer, and a failed write fails the
//!   commit as it would without the shim.
//! - Every other write is made at once, after the buffer: a page written over in place, the
//!   WAL header, and a commit frame's header with nothing gathered before it — SQLite may
//!   publish right after one (`walRewriteChecksums` rewrites headers, the commit frame's
//!   last, when a transaction changed a page it had already spilled).
//! - Any other call on the file (read, sync, truncate, size, file control, close) writes
//!   the buffer out first, so SQLite never sees the file without its own writes. A failure
//!   there is reported as an I/O error, which makes SQLite roll the whole transaction back
//!   ("disk full" would roll back only the statement); and after any failed write of the
//!   buffer, the transaction's later writes fail too, so it cannot commit frames it lost.
//! - Frames of a transaction not yet committed (a spill of a large one) may sit in the
//!   buffer: nobody reads them before the commit, which writes them out. If the transaction
//!   ends without a commit (a rollback, or SQLite's own after an I/O error), they must never
//!   be written: once the connection has released the WAL write lock, another connection
//!   may write those offsets. So the database file's shared-memory unlock is watched too:
//!   just before a connection releases the write lock, every buffer of that database's WAL
//!   in this process is marked dead (only the lock holder can have live frames in one, and
//!   it has just written them out if it committed), and is emptied before anything else is
//!   done with it. (`locking_mode=EXCLUSIVE` never releases the lock this way; the cache's
//!   writer connection does not use it.)
//!
//! Opt-in and Linux-only (`Config::wal_coalescing`; the only platform tested): it depends
//! on SQLite internals — the frame header's layout, the write lock's slot in the
//! shared-memory locks, the unix VFS's 128 KiB write mask — that SQLite does not promise to
//! keep. Crate-private: the disk level is its only user.
//!
//! Only the WAL file's methods are replaced; the database file gets the unix VFS's methods
//! with `xShmLock` (which then also marks buffers dead) and `xClose` hooked; journals and
//! temporary files are untouched.

use rusqlite::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The name connections open with (`Connection::open_with_flags_and_vfs`).
pub(crate) const VFS_NAME: &str = "mrn-wal-coalesce";
const VFS_NAME_C: &CStr = c"mrn-wal-coalesce";

/// Bound of one WAL file's buffer: a transaction larger than this is written in parts. The
/// unix VFS writes at most 128 KiB − 1 bytes per call (`seekAndWriteFd` masks the length
/// with 0x1ffff), so a part stays below that: 29 frames of 4 KiB pages.
const MAX_BUFFER: usize = 120 << 10;
const FRAME_HEADER: c_int = 24;

/// What the shim keeps after the unix VFS's own file structure.
struct Wal {
    /// The unix VFS's methods for this file, which do the real work.
    unix: *const ffi::sqlite3_io_methods,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    start: i64,
    /// The commit frame's header was written: everything until the next transaction's first
    /// frame header is written through, each call returning its own result.
    committing: bool,
    /// Set when a connection released the database's WAL write lock: `buf` holds frames of a
    /// transaction that ended without a commit, which must not be written.
    dead: Arc<AtomicBool>,
    /// A write of the buffer failed in this transaction (SQLite's code): later writes fail.
    failed: c_int,
}

/// What the shim keeps after the unix VFS's structure of a main database file.
struct Db {
    unix: *const ffi::sqlite3_io_methods,
    /// The full path SQLite opened, as bytes (a path need not be UTF-8).
    path: Box<[u8]>,
}

/// A WAL file open in this process: its database's path, and its `dead` flag.
type LiveWal = (Box<[u8]>, Arc<AtomicBool>);

/// The `dead` flags of the WAL files open in this process, by database path (one entry per
/// open WAL file: bounded by the open connections).
static LIVE_WALS: Mutex<Vec<LiveWal>> = Mutex::new(Vec::new());

/// (unix method table, its patched copy) for each table a database file was opened with:
/// the copy has `xShmLock` and `xClose` replaced (one per locking style: a handful at most).
static DB_METHODS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn live_wals() -> std::sync::MutexGuard<'static, Vec<LiveWal>> {
    LIVE_WALS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The unix VFS (`sqlite3_vfs_find(NULL)`), which opens the files; null until registered.
static UNIX_VFS: AtomicUsize = AtomicUsize::new(0);
/// Offset of `Wal` in a file structure: the unix VFS's size rounded up to 8.
static WAL_OFFSET: AtomicUsize = AtomicUsize::new(0);
/// The registration's result: SQLite's code on failure.
static REGISTERED: OnceLock<c_int> = OnceLock::new();

/// Registers the shim (once per process).
pub(crate) fn register() -> rusqlite::Result<()> {
    // SAFETY: `sqlite3_vfs_find(NULL)` returns SQLite's default VFS (or null, checked), which
    // lives for the process; the copy registered is leaked, so SQLite's pointer to it stays
    // valid; `OnceLock` runs this once, so the offsets are stored before any `open` reads them.
    let rc = *REGISTERED.get_or_init(|| unsafe {
        let unix = ffi::sqlite3_vfs_find(ptr::null());
        if unix.is_null() {
            return ffi::SQLITE_ERROR;
        }
        let wal_offset = ((*unix).szOsFile as usize).div_ceil(8) * 8;
        UNIX_VFS.store(unix as usize, Ordering::Release);
        WAL_OFFSET.store(wal_offset, Ordering::Release);
        let mut vfs: ffi::sqlite3_vfs = *unix;
        vfs.szOsFile =
            (wal_offset + std::mem::size_of::<Wal>().max(std::mem::size_of::<Db>())) as c_int;
        vfs.zName = VFS_NAME_C.as_ptr();
        vfs.pNext = ptr::null_mut();
        vfs.xOpen = Some(open);
        // SQLite keeps the pointer: the VFS lives as long as the process.
        ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0)
    });
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some("cannot register the WAL write-coalescing VFS".into()),
        ))
    }
}

/// The shim's part of a WAL file's structure (written by `open`, which runs only once the
/// offsets are stored). Each method takes this reference once and passes it on: two live
/// `&mut` to it would let the compiler keep stale copies of its fields.
// SAFETY: `file` must be a WAL file opened by `open` (its methods are `WAL_METHODS`) and not
// yet closed; SQLite calls a file's methods from one thread at a time, so the `&mut` is unique.
unsafe fn wal<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Wal {
    // SAFETY: by this function's contract, `open` wrote a `Wal` at `WAL_OFFSET` in `file`'s
    // `szOsFile` bytes, still live, and only the calling method refers to it.
    let w =
        unsafe { &mut *((file as *mut u8).add(WAL_OFFSET.load(Ordering::Acquire)) as *mut Wal) };
    if w.dead.swap(false, Ordering::AcqRel) {
        w.buf.clear();
        w.committing = false;
        w.failed = ffi::SQLITE_OK;
    }
    w
}

// SAFETY: `file` must be a main database file opened by `open` whose methods are a patched
// table from `db_methods` (so a `Db` was written at the offset), not yet closed.
unsafe fn db<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Db {
    // SAFETY: by this function's contract, `open` wrote a `Db` at `WAL_OFFSET` in `file`'s
    // `szOsFile` bytes, still live, and only the calling method refers to it.
    unsafe { &mut *((file as *mut u8).add(WAL_OFFSET.load(Ordering::Acquire)) as *mut Db) }
}

fn path_of(name: ffi::sqlite3_filename) -> Box<[u8]> {
    if name.is_null() {
        return Box::default();
    }
    // SAFETY: SQLite passes a NUL-terminated file name (null checked above) that outlives
    // the `xOpen` call; it is copied before returning.
    Box::from(unsafe { CStr::from_ptr(name) }.to_bytes())
}

// SAFETY: called by SQLite only, as the registered VFS's `xOpen`: `file` points to
// `szOsFile` bytes (room for the unix structure and, at `WAL_OFFSET`, a `Wal` or `Db`),
// which SQLite keeps until the file's `xClose`.
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls this as the VFS's `xOpen` (see above): `unix` is the unix VFS
    // stored by `register` (null checked), `file` has room for the unix structure and a
    // `Wal` or `Db` at `WAL_OFFSET`, and the method tables set live for the process.
    unsafe {
        let unix = UNIX_VFS.load(Ordering::Acquire) as *mut ffi::sqlite3_vfs;
        let Some(unix_open) = unix.as_ref().and_then(|v| v.xOpen) else {
            return ffi::SQLITE_ERROR;
        };
        // The unix VFS opens the file with its own VFS object, so its methods find what they
        // expect; only a WAL file's methods are then swapped for the shim's.
        let rc = unix_open(unix, name, file, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*file).pMethods.is_null() {
            return rc;
        }
        let at = (file as *mut u8).add(WAL_OFFSET.load(Ordering::Acquire));
        if flags & ffi::SQLITE_OPEN_WAL != 0 {
            let wal_path = path_of(name);
            let db_path: Box<[u8]> = Box::from(wal_path.strip_suffix(b"-wal").unwrap_or(&wal_path));
            let dead = Arc::new(AtomicBool::new(false));
            live_wals().push((db_path, dead.clone()));
            ptr::write(
                at as *mut Wal,
                Wal {
                    unix: (*file).pMethods,
                    buf: Vec::new(),
                    start: 0,
                    committing: false,
                    dead,
                    failed: ffi::SQLITE_OK,
                },
            );
            (*file).pMethods = &WAL_METHODS;
        } else if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 {
            let Some(patched) = db_methods((*file).pMethods) else {
                return rc; // no memory for the table: the unix methods, unwatched, still work
            };
            ptr::write(
                at as *mut Db,
                Db {
                    unix: (*file).pMethods,
                    path: path_of(name),
                },
            );
            (*file).pMethods = patched;
        }
        rc
    }
}

/// The patched copy of `unix` (see `DB_METHODS`).
// SAFETY: `unix` must be a method table the unix VFS set on a file it opened: SQLite's
// static tables, valid for the process.
unsafe fn db_methods(
    unix: *const ffi::sqlite3_io_methods,
) -> Option<*const ffi::sqlite3_io_methods> {
    let mut tables = DB_METHODS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, t)) = tables.iter().find(|&&(u, _)| u == unix as usize) {
        return Some(t as *const ffi::sqlite3_io_methods);
    }
    // SAFETY: by this function's contract, `unix` is one of SQLite's static method tables.
    let unix_table = unsafe { &*unix };
    if unix_table.iVersion < 2 || unix_table.xShmLock.is_none() {
        return None; // no shared memory, no WAL: nothing to watch
    }
    let mut table = *unix_table;
    table.xShmLock = Some(db_shm_lock);
    table.xClose = Some(db_close);
    // leaked on purpose: files may use the table until the process ends
    let t = Box::into_raw(Box::new(table)) as *const ffi::sqlite3_io_methods;
    tables.push((unix as usize, t as usize));
    Some(t)
}

/// Lock index of `WAL_WRITE_LOCK` in the shared-memory locks.
const WAL_WRITE_LOCK: c_int = 0;

// SAFETY: called by SQLite only, as `xShmLock` of a main database file `open` patched (its
// `Db` written); the unix method it forwards to gets the same arguments.
unsafe extern "C" fn db_shm_lock(
    file: *mut ffi::sqlite3_file,
    ofst: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: `file` is a main database file `open` patched (see above).
    let d = unsafe { db(file) };
    let releases_write_lock = flags == ffi::SQLITE_SHM_UNLOCK | ffi::SQLITE_SHM_EXCLUSIVE
        && ofst <= WAL_WRITE_LOCK
        && WAL_WRITE_LOCK < ofst + n;
    if releases_write_lock {
        // Marked while the lock is still held: once it is released, another connection (on
        // another thread) may take it and gather live frames, which a later mark would drop.
        for (path, dead) in live_wals().iter() {
            if *path == d.path {
                dead.store(true, Ordering::Release);
            }
        }
    }
    // SAFETY: `d.unix` is the unix VFS's static table for `file`; its `xShmLock` gets the
    // arguments SQLite passed here.
    unsafe {
        match (*d.unix).xShmLock {
            Some(f) => f(file, ofst, n, flags),
            None => ffi::SQLITE_ERROR,
        }
    }
}

// SAFETY: called by SQLite only, once, as `xClose` of a main database file `open` patched:
// the `Db` is dropped exactly once, and the unix methods restored before the unix close.
unsafe extern "C" fn db_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a main database file `open` patched, closed once (see above): its
    // `Db` is dropped here and never used again, and `unix`, the static table it kept,
    // closes the file with its own methods back in place.
    unsafe {
        let d = db(file);
        let unix = d.unix;
        ptr::drop_in_place(d as *mut Db);
        (*file).pMethods = unix;
        match (*unix).xClose {
            Some(f) => f(file),
            None => ffi::SQLITE_ERROR,
        }
    }
}

/// Writes the buffer out; it is empty afterwards, whatever the result. A failure is kept
/// (`failed`): the transaction lost frames SQLite believes written, so it must not commit.
// SAFETY: `file` and `w` must be a WAL file of `open` and its `Wal` (from `wal(file)`).
unsafe fn flush(file: *mut ffi::sqlite3_file, w: &mut Wal) -> c_int {
    if w.buf.is_empty() {
        return ffi::SQLITE_OK;
    }
    let rc = match test_hook::take_failure() {
        Some(rc) => rc,
        // SAFETY: `file` is a WAL file of `open` and `w.unix` its unix table (this function's
        // contract); the buffer's bytes stay put for the call.
        None => unsafe {
            write_through(
                file,
                w.unix,
                w.buf.as_ptr() as *const c_void,
                w.buf.len() as c_int,
                w.start,
            )
        },
    };
    w.buf.clear();
    if rc != ffi::SQLITE_OK {
        w.failed = rc;
    }
    rc
}

/// `flush` for the methods SQLite calls later than the writes (a read, a sync, ...): an
/// error there fails that call only, so it is reported as an I/O error, which makes SQLite
/// roll the whole transaction back (a "disk full" would roll back just the statement, and
/// a later COMMIT would publish the lost frames).
// SAFETY: as `flush`.
unsafe fn flush_late(file: *mut ffi::sqlite3_file, w: &mut Wal) -> c_int {
    // SAFETY: the same contract as `flush`'s.
    match unsafe { flush(file, w) } {
        ffi::SQLITE_OK => ffi::SQLITE_OK,
        _ => ffi::SQLITE_IOERR_WRITE,
    }
}

// SAFETY: called by SQLite only, as `xWrite` of a WAL file of `open`: `data` holds `amt`
// readable bytes for the duration of the call (copied into the buffer when gathered).
unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: `file` is a WAL file of `open` (see above).
    let w = unsafe { wal(file) };
    if w.failed != ffi::SQLITE_OK {
        // frames of this transaction were lost: nothing more of it is written, so it
        // cannot commit (the mark at its end clears this)
        return ffi::SQLITE_IOERR_WRITE;
    }
    // SAFETY: SQLite passes `amt` readable bytes at `data`, unchanged during the call.
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, amt.max(0) as usize) };
    // bytes 4..8 of a frame header: the database size after a commit, 0 in other frames
    let header = amt == FRAME_HEADER;
    let commit_header = header && bytes[4..8] != [0, 0, 0, 0];
    if header {
        w.committing = commit_header;
    }
    let continues = !w.buf.is_empty() && offset == w.start + w.buf.len() as i64;
    if continues && w.buf.len() + bytes.len() <= MAX_BUFFER {
        w.buf.extend_from_slice(bytes);
        if w.committing && !header {
            // the commit frame's page: on disk before SQLite publishes the commit
            // SAFETY: `w` is `file`'s `Wal`, taken by `wal` above.
            return unsafe { flush(file, w) };
        }
        return ffi::SQLITE_OK;
    }
    // SAFETY: `w` is `file`'s `Wal`, taken by `wal` above.
    let rc = unsafe { flush(file, w) };
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    // Only a run of new frames is gathered, and it starts with the header of a frame that
    // does not commit. Anything else is written at once: a commit frame's header with
    // nothing before it (SQLite may publish right after, as when it rewrites the headers'
    // checksums), a page written over in place, the WAL's own header.
    // The whole bound is reserved the first time: the buffer never grows again.
    let room = w.buf.capacity() >= MAX_BUFFER || w.buf.try_reserve_exact(MAX_BUFFER).is_ok();
    if header && !commit_header && room {
        w.start = offset;
        w.buf.extend_from_slice(bytes);
        return ffi::SQLITE_OK;
    }
    // SAFETY: `w.unix` is `file`'s unix table; `data` holds `amt` bytes (see above).
    unsafe { write_through(file, w.unix, data, amt, offset) }
}

/// One real write, by the unix VFS (counted for the tests).
// SAFETY: `file` must be a file the unix VFS opened, `unix` its unix method table, `data`
// `amt` readable bytes.
unsafe fn write_through(
    file: *mut ffi::sqlite3_file,
    unix: *const ffi::sqlite3_io_methods,
    data: *const c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    test_hook::count_write();
    // SAFETY: by this function's contract, `unix` is the static table of the unix VFS that
    // opened `file`, whose `xWrite` gets `amt` readable bytes at `data`.
    unsafe {
        match (*unix).xWrite {
            Some(write) => write(file, data, amt, offset),
            None => ffi::SQLITE_ERROR,
        }
    }
}

/// The shim's methods other than `xWrite`: write the buffer out, then do what unix does.
macro_rules! flushing {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*)) => {
        // SAFETY: called by SQLite only, as a method of a WAL file of `open`; the arguments
        // are forwarded unchanged to the unix method of the same name.
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: `file` is a WAL file of `open` (see above), `w` its `Wal`, `w.unix` the
            // unix VFS's static table for it.
            unsafe {
                let w = wal(file);
                let rc = flush_late(file, w);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                match (*w.unix).$field {
                    Some(f) => f(file $(, $arg)*),
                    None => ffi::SQLITE_ERROR,
                }
            }
        }
    };
}

flushing!(read, xRead, (data: *mut c_void, amt: c_int, offset: i64));
flushing!(truncate, xTruncate, (size: i64));
flushing!(sync, xSync, (flags: c_int));
flushing!(file_size, xFileSize, (size: *mut i64));
flushing!(lock, xLock, (level: c_int));
flushing!(unlock, xUnlock, (level: c_int));
flushing!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int));
flushing!(file_control, xFileControl, (op: c_int, arg: *mut c_void));

// SAFETY: called by SQLite only, once, as `xClose` of a WAL file of `open`: the `Wal` is
// dropped exactly once, and the unix methods restored before the unix close.
unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a WAL file of `open`, closed once (see above): its `Wal` is dropped
    // here and never used again, and `unix`, the static table it kept, closes the file with
    // its own methods back in place.
    let (rc, closed) = unsafe {
        let w = wal(file);
        let rc = flush_late(file, w);
        let unix = w.unix;
        live_wals().retain(|(_, dead)| !Arc::ptr_eq(dead, &w.dead));
        ptr::drop_in_place(w as *mut Wal);
        (*file).pMethods = unix;
        let closed = match (*unix).xClose {
            Some(f) => f(file),
            None => ffi::SQLITE_ERROR,
        };
        (rc, closed)
    };
    if rc != ffi::SQLITE_OK {
        rc
    } else {
        closed
    }
}

// SAFETY: called by SQLite only, as a method of a WAL file of `open`.
unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a WAL file of `open` (see above); its `Wal` keeps the unix VFS's
    // static table for it.
    unsafe {
        match (*wal(file).unix).xSectorSize {
            Some(f) => f(file),
            None => 4096,
        }
    }
}

// SAFETY: called by SQLite only, as a method of a WAL file of `open`.
unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a WAL file of `open` (see above); its `Wal` keeps the unix VFS's
    // static table for it.
    unsafe {
        match (*wal(file).unix).xDeviceCharacteristics {
            Some(f) => f(file),
            None => 0,
        }
    }
}

/// Version 1: a WAL file has no shared memory and is never memory-mapped.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// Test hooks: count the real writes, and fail the next one. No-ops outside tests. Per
/// thread: a test sees only its own connections' writes (other tests open databases through
/// the shim in parallel).
pub(crate) mod test_hook {
    #[cfg(test)]
    use std::cell::Cell;
    use std::ffi::c_int;

    #[cfg(test)]
    thread_local! {
        pub static WRITES: Cell<u64> = const { Cell::new(0) };
        pub static FAIL_NEXT: Cell<c_int> = const { Cell::new(0) };
    }

    #[inline]
    pub fn count_write() {
        #[cfg(test)]
        WRITES.with(|w| w.set(w.get() + 1));
    }

    #[inline]
    pub fn take_failure() -> Option<c_int> {
        #[cfg(test)]
        {
            let rc = FAIL_NEXT.with(|f| f.replace(0));
            if rc != 0 {
                return Some(rc);
            }
        }
        None
    }

    #[cfg(test)]
    pub fn writes() -> u64 {
        WRITES.with(|w| w.get())
    }

    #[cfg(test)]
    pub fn fail_next(rc: c_int) {
        FAIL_NEXT.with(|f| f.set(rc));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    fn open(path: &std::path::Path) -> Connection {
        register().unwrap();
        let c = Connection::open_with_flags_and_vfs(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            VFS_NAME,
        )
        .unwrap();
        c.execute_batch(
            "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             PRAGMA wal_autocheckpoint=0;
             CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB);",
        )
        .unwrap();
        c
    }

    fn count(c: &Connection) -> i64 {
        c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// `c` (a fresh connection, as another process would open) finds a sound file of `rows` rows.
    fn assert_intact(c: &Connection, rows: i64) {
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        assert_eq!(count(c), rows);
    }

    fn insert(c: &Connection, from: i64, n: i64) -> rusqlite::Result<()> {
        c.execute_batch("BEGIN IMMEDIATE")?;
        for k in from..from + n {
            // 3 KB each: a page per row, so a commit has many frames
            c.execute("INSERT INTO t VALUES (?1, zeroblob(3000))", [k])?;
        }
        c.execute_batch("COMMIT")
    }

    #[test]
    fn a_commit_of_many_frames_is_one_write_and_other_connections_see_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let w = open(&path);
        insert(&w, 0, 1).unwrap(); // the WAL exists, its header written
        let wal_path = dir.path().join("c.db-wal");
        let wal_size = || std::fs::metadata(&wal_path).unwrap().len();
        let size_before = wal_size();
        let before = test_hook::writes();
        insert(&w, 1, 20).unwrap();
        let writes = test_hook::writes() - before;
        let frames = (wal_size() - size_before) / (4096 + 24);
        assert!(frames >= 20, "{frames} frames");
        assert_eq!(writes, 1, "one write for the whole commit");
        // a plain unix connection (another process would be the same) sees every row
        let plain = Connection::open(&path).unwrap();
        assert_eq!(count(&plain), 21);
        drop(w);
        drop(plain);
        assert_intact(&Connection::open(&path).unwrap(), 21);
    }

    #[test]
    fn a_failed_write_fails_the_commit_and_nothing_of_it_is_visible() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.db");
        let w = open(&path);
        insert(&w, 0, 5).unwrap();
        let plain = Connection::open(&path).unwrap();
        assert_eq!(count(&plain), 5);
        test_hook::fail_next(ffi::SQLITE_IOERR_WRITE);
        let err = insert(&w, 5, 10).unwrap_err();
        assert!(err.to_string().contains("disk I/O error"), "{err}");
        let _ = w.execute_batch("ROLLBACK");
        assert_eq!(count(&plain), 5, "the failed commit is not visible");
        assert_eq!(count(&w), 5);
        // the connection goes on: the next commit lands
        insert(&w, 5, 10).unwrap();
        assert_eq!(count(&plain), 15);
        drop(w);
        drop(plain);
        assert_intact(&Connection::open(&path).unwrap(), 15);
    }

    #[test]
    fn a_transaction_larger_than_the_buffer_is_written_in_parts_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.db");
        let w = open(&path);
        // a small page cache makes SQLite spill uncommitted frames to the WAL and read
        // them back within the transaction
        w.execute_batch("PRAGMA cache_size=10").unwrap();
        let before = test_hook::writes();
        insert(&w, 0, 2000).unwrap();
        let writes = test_hook::writes() - before;
        assert!(
            writes >= 60,
            "~8 MB of frames in 120 KiB parts: {writes} writes"
        );
        let sum: i64 = w
            .query_row("SELECT SUM(length(v)) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sum, 2000 * 3000);
        let plain = Connection::open(&path).unwrap();
        assert_eq!(count(&plain), 2000);
    }

    /// The WAL file of `c`'s main database, as SQLite holds it.
    fn wal_file(c: &Connection) -> *mut ffi::sqlite3_file {
        let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
        // SAFETY: `c` is an open connection; SQLite writes the WAL file's pointer to `file`.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                c.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_JOURNAL_POINTER,
                &mut file as *mut _ as *mut c_void,
            )
        };
        assert_eq!(rc, ffi::SQLITE_OK);
        // SAFETY: SQLite returned a valid file structure (checked by `rc`).
        assert!(ptr::eq(unsafe { (*file).pMethods }, &WAL_METHODS));
        file
    }

    #[test]
    fn frames_left_by_a_transaction_that_did_not_commit_are_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let a = open(&path);
        insert(&a, 0, 1).unwrap();
        let wal_end = std::fs::metadata(dir.path().join("r.db-wal"))
            .unwrap()
            .len() as i64;
        // A write transaction leaves a frame in the buffer and ends without a commit (what a
        // spill followed by SQLite's own rollback can leave; SQLite itself cannot be made to
        // do it on demand). The frame lies where the next transaction's frames go.
        a.execute_batch("BEGIN IMMEDIATE").unwrap();
        let file = wal_file(&a);
        let stale_header = [0u8; 24];
        let stale_page = vec![0xEEu8; 4096];
        // SAFETY: `file` is `a`'s open WAL file, written from this thread while `a` holds the
        // write lock (its transaction is open), as SQLite itself would; the buffers outlive
        // the calls.
        unsafe {
            assert_eq!(
                write(file, stale_header.as_ptr() as *const c_void, 24, wal_end),
                ffi::SQLITE_OK
            );
            assert_eq!(
                write(
                    file,
                    stale_page.as_ptr() as *const c_void,
                    4096,
                    wal_end + 24
                ),
                ffi::SQLITE_OK
            );
        }
        a.execute_batch("COMMIT").unwrap(); // nothing to commit: the lock is released
                                            // another connection commits frames at those offsets
        let b = Connection::open(&path).unwrap();
        let marked = vec![0xABu8; 3000];
        b.execute_batch("BEGIN IMMEDIATE").unwrap();
        for k in 200..230 {
            b.execute(
                "INSERT INTO t VALUES (?1, ?2)",
                rusqlite::params![k, marked],
            )
            .unwrap();
        }
        b.execute_batch("COMMIT").unwrap();
        // the first connection uses its WAL again: the dead frame must not be written now
        assert_eq!(count(&a), 31);
        drop(a);
        drop(b);
        let c = Connection::open(&path).unwrap();
        assert_intact(&c, 31);
        let intact: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM t WHERE k >= 200 AND v = ?1",
                [&marked],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(intact, 30, "the other connection's rows are intact");
    }

    /// What a crash leaves: the database and its WAL without the shared-memory index, so
    /// SQLite rebuilds the index from the WAL, checking each frame's checksum.
    fn recovered_copy(dir: &std::path::Path, name: &str) -> Connection {
        let copy = dir.join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        for suffix in ["", "-wal"] {
            std::fs::copy(
                dir.join(format!("{name}{suffix}")),
                copy.join(format!("{name}{suffix}")),
            )
            .unwrap();
        }
        Connection::open(copy.join(name)).unwrap()
    }

    /// A connection with 5 rows committed and a transaction open that inserted rows 5..`to`
    /// through a 10-page cache: SQLite has spilled frames of it to the WAL.
    fn spilling(path: &std::path::Path, to: i64) -> Connection {
        let w = open(path);
        insert(&w, 0, 5).unwrap();
        w.execute_batch("PRAGMA cache_size=10").unwrap();
        w.execute_batch("BEGIN IMMEDIATE").unwrap();
        for k in 5..to {
            w.execute("INSERT INTO t VALUES (?1, zeroblob(3000))", [k])
                .unwrap();
        }
        w
    }

    #[test]
    fn rewritten_checksums_reach_the_file_before_the_commit_is_published() {
        // SQLite rewrites frame headers (new checksums) when a transaction changes a page it
        // already spilled; the last of them, the commit frame's, must reach the file: left in
        // the buffer and dropped, a recovery would stop there and lose the transaction
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.db");
        let w = spilling(&path, 200);
        w.execute("UPDATE t SET v = zeroblob(2000) WHERE k >= 5", [])
            .unwrap();
        w.execute_batch("COMMIT").unwrap();
        // the recovered WAL holds the whole transaction
        assert_intact(&recovered_copy(dir.path(), "ck.db"), 200);
    }

    #[test]
    fn a_failed_late_write_of_spilled_frames_keeps_the_transaction_from_committing() {
        // the buffer's write failing in a read must not report "disk full", which rolls back
        // only the statement: the transaction would then commit frames never written
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.db");
        let w = spilling(&path, 60);
        test_hook::fail_next(ffi::SQLITE_FULL);
        let failed = w.execute("INSERT INTO t SELECT k + 1000, v FROM t", []);
        assert!(
            failed.is_err(),
            "the statement that met the failed write fails"
        );
        // SQLite rolled the transaction back, or else its COMMIT fails
        assert!(w.is_autocommit() || w.execute_batch("COMMIT").is_err());
        let _ = w.execute_batch("ROLLBACK");
        // nothing of the failed transaction is visible
        let plain = Connection::open(&path).unwrap();
        assert_intact(&plain, 5);
        // the connection goes on
        insert(&w, 5, 3).unwrap();
        assert_eq!(count(&plain), 8);
    }
}
