//! N-API binding of `cache-core`. Free functions over an `External` handle (a function
//! with a handle costs ~0.3 µs here, a class method ~0.65 µs). Everything runs on the JS
//! thread: a memory hit or a disk point read takes microseconds, less than a thread hop.
//!
//! A value crosses as a JS string (JSON text or a string) or a `Buffer` (raw bytes). A
//! value read back carries one leading tag, `kind * 2 + (disk ? 1 : 0)`: the first UTF-16
//! unit of a returned string, or the first byte of a returned `Buffer`; `ts/cache-manager.ts`
//! strips it.
//!
//! `shared`, a `Float64Array` the drop-in layer passes to `cacheCreate`, is how it keeps a
//! front of decoded memory hits exact without a call per hit: every call writes there how
//! many entries the memory level has removed so far (while that holds still, a slot holds
//! the entry it held) and how many it holds; `cacheGet` also writes the slot and expiry of a
//! memory hit. Hits served from the front are reported later, in order, by
//! `cacheReplayHits`, before any other call.

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use cache_core::{kind, CacheError, Committed, Config, Notify, Policy, Source, TieredCache};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;

use crate::errors::{coded, invalid_arg, out_of_range};

pub struct CacheHandle {
    /// `None` once `cacheClose` ran.
    cache: Option<TieredCache>,
    /// See the module comment (`SHARED_*` slots). Held by reference, so the array stays
    /// alive and in place while the handle lives.
    shared: Float64Array,
}

pub(crate) type CacheCell = RefCell<CacheHandle>;

/// `shared[SHARED_REMOVALS]`: entries the memory level has removed so far.
const SHARED_REMOVALS: usize = 0;
/// `shared[SHARED_LEN]`: entries the memory level holds.
const SHARED_LEN: usize = 1;
/// `shared[SHARED_HIT_SLOT]`: the slot of the entry the last `cacheGet` found in memory,
/// -1 when it found none there.
const SHARED_HIT_SLOT: usize = 2;
/// `shared[SHARED_HIT_EXPIRES]`: that entry's expiry (ms since the epoch).
const SHARED_HIT_EXPIRES: usize = 3;
const SHARED_SLOTS: usize = 4;

/// Options of `cacheCreate` (defaults applied by the drop-in layer).
#[napi(object)]
pub struct BindingCacheOptions {
    pub max_memory_size: f64,
    pub max_disk_size: f64,
    pub default_ttl_ms: f64,
    pub eviction_policy: String,
    pub persist_to_disk: bool,
    pub compression: bool,
    pub db_path: String,
    pub pool_size: u32,
    pub max_key_bytes: u32,
    pub max_value_bytes: f64,
    /// Resolved by the drop-in layer (option, then environment); ignored off Linux.
    pub wal_coalescing: bool,
}

#[napi(object)]
pub struct BindingCacheStats {
    pub total_keys: u32,
    pub memory_usage: f64,
    pub hits: f64,
    pub misses: f64,
    pub evictions: f64,
    pub disk_usage: f64,
    pub pool_size: u32,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn map_err(e: CacheError) -> Error {
    match e {
        CacheError::KeyTooLong { .. } | CacheError::ValueTooLarge { .. } => out_of_range(e),
        CacheError::Disk(_) => coded("ERR_CACHE_DISK", e),
    }
}

fn with<T>(h: &External<CacheCell>, f: impl FnOnce(&mut TieredCache) -> Result<T>) -> Result<T> {
    with_shared(h, |c, _| f(c))
}

/// `f` over the cache and the core's clock: for the fleet level (`src/fleet.rs`), which
/// copies entries read from Redis into the local levels without a second crossing.
pub(crate) fn with_cache<T>(
    h: &External<CacheCell>,
    f: impl FnOnce(&mut TieredCache, i64) -> T,
) -> Result<T> {
    with(h, |c| Ok(f(c, now_ms())))
}

/// `with`, also handing `f` the shared array; publishes the memory level's state there
/// after `f`, whatever its result.
fn with_shared<T>(
    h: &External<CacheCell>,
    f: impl FnOnce(&mut TieredCache, &mut [f64]) -> Result<T>,
) -> Result<T> {
    let mut cell = h
        .try_borrow_mut()
        .map_err(|_| coded("ERR_NATIVE", "cache re-entered"))?;
    let hd = &mut *cell;
    // SAFETY: the drop-in layer reads this array only between calls, on this thread; the
    // handle's reference keeps it alive (its length was checked at creation).
    let shared = unsafe { hd.shared.as_mut() };
    match hd.cache.as_mut() {
        Some(c) => {
            let r = f(c, shared);
            shared[SHARED_REMOVALS] = c.memory().removals() as f64;
            shared[SHARED_LEN] = c.memory().len() as f64;
            r
        }
        None => Err(coded("ERR_SHUT_DOWN", "the cache was shut down")),
    }
}

fn to_usize(v: f64, field: &str) -> Result<usize> {
    if v.is_finite() && v >= 0.0 {
        Ok(v.min(usize::MAX as f64) as usize)
    } else {
        Err(out_of_range(format!(
            "{field} must be a finite number >= 0, got {v}"
        )))
    }
}

/// A failed group of writes (`first`..=`last`, see `cacheCommit`), as `cacheClose` lists them.
#[napi(object)]
pub struct BindingCommitFailure {
    pub first: f64,
    pub last: f64,
    pub message: String,
}

/// `on_settled(last, error)` is called on the JS thread each time the writer thread has
/// settled the groups up to `last` (`error`: why they failed, or null). It is weak: it
/// never keeps the process alive (the drop-in layer holds a timer while groups are out).
/// `shared`: a `Float64Array` of length ≥ 4 (see the module comment).
#[napi(catch_unwind)]
pub fn cache_create(
    options: BindingCacheOptions,
    on_settled: Function<(f64, Option<String>), ()>,
    shared: Float64Array,
) -> Result<External<CacheCell>> {
    if shared.len() < SHARED_SLOTS {
        return Err(invalid_arg("shared must be a Float64Array of length 4"));
    }
    let policy = match options.eviction_policy.as_str() {
        "lru" => Policy::Lru,
        "lfu" => Policy::Lfu,
        "adaptive" => Policy::Adaptive,
        other => {
            return Err(invalid_arg(format!(
                "evictionPolicy must be lru, lfu or adaptive, got {other:?}"
            )))
        }
    };
    let cfg = Config {
        max_memory_size: to_usize(options.max_memory_size, "maxMemorySize")?,
        max_disk_size: to_usize(options.max_disk_size, "maxDiskSize")? as u64,
        default_ttl_ms: to_usize(options.default_ttl_ms, "defaultTTL")?.min(i64::MAX as usize)
            as i64,
        policy,
        persist_to_disk: options.persist_to_disk,
        compression: options.compression,
        db_path: options.db_path,
        pool_size: options.pool_size as usize,
        max_key_bytes: options.max_key_bytes as usize,
        max_value_bytes: to_usize(options.max_value_bytes, "maxValueSize")?,
        wal_coalescing: options.wal_coalescing,
        writer_notify: None,
    };
    // Without a threadsafe function (an environment shutting down), every commit runs
    // inline on this thread, as it would with one write per tick.
    let writer_notify = on_settled
        .build_threadsafe_function::<(f64, Option<String>)>()
        .weak::<true>()
        .build()
        .ok()
        .map(|tsfn| -> Notify {
            Box::new(move |last, error| {
                tsfn.call(
                    (last as f64, error),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            })
        });
    let cfg = Config {
        writer_notify,
        ..cfg
    };
    let cache = TieredCache::open(cfg).map_err(map_err)?;
    Ok(External::new(RefCell::new(CacheHandle {
        cache: Some(cache),
        shared,
    })))
}

/// A positive TTL is at least 1 ms (0 would mean the default TTL).
pub(crate) fn ttl_ms(ttl: f64) -> i64 {
    if ttl.is_finite() && ttl > 0.0 {
        ttl.ceil().min(i64::MAX as f64 / 2.0) as i64
    } else {
        0
    }
}

/// Throws what `cacheSetText`/`cacheSetBytes` would for these sizes, storing nothing
/// (`setMany` checks every entry before it stores any).
#[napi(catch_unwind)]
pub fn cache_check(
    h: &External<CacheCell>,
    key: String,
    namespace: Option<String>,
    value_bytes: f64,
) -> Result<()> {
    with(h, |c| {
        c.check(
            &key,
            namespace.as_deref().unwrap_or(""),
            to_usize(value_bytes, "value")?,
        )
        .map_err(map_err)
    })
}

/// Stores a string or JSON text (`kind` 0 or 1). Returns 0 when placed in memory, 1 when
/// on disk only. `ttl_ms` 0 means the default.
#[napi(catch_unwind)]
pub fn cache_set_text(
    h: &External<CacheCell>,
    key: String,
    namespace: Option<String>,
    kind: u32,
    text: String,
    ttl: f64,
) -> Result<u32> {
    if kind != kind::JSON as u32 && kind != kind::STRING as u32 {
        return Err(invalid_arg(format!("kind must be a text kind, got {kind}")));
    }
    with(h, |c| {
        let ns = namespace.as_deref().unwrap_or("");
        let s = c
            .set_owned(
                &key,
                ns,
                kind as u8,
                text.into_bytes(),
                ttl_ms(ttl),
                now_ms(),
            )
            .map_err(map_err)?;
        Ok((s == Source::Disk) as u32)
    })
}

/// Stores raw bytes (`kind` 2: Buffer, 3: Uint8Array). Returns as `cacheSetText`.
#[napi(catch_unwind)]
pub fn cache_set_bytes(
    h: &External<CacheCell>,
    key: String,
    namespace: Option<String>,
    kind: u32,
    bytes: &[u8],
    ttl: f64,
) -> Result<u32> {
    if kind != kind::BUFFER as u32 && kind != kind::BYTES as u32 {
        return Err(invalid_arg(format!(
            "kind must be a binary kind, got {kind}"
        )));
    }
    with(h, |c| {
        let ns = namespace.as_deref().unwrap_or("");
        let s = c
            .set(&key, ns, kind as u8, bytes, ttl_ms(ttl), now_ms())
            .map_err(map_err)?;
        Ok((s == Source::Disk) as u32)
    })
}

fn is_text(kind: u8) -> bool {
    !matches!(kind, kind::BUFFER | kind::BYTES)
}

/// One tagged result: a string for text kinds, a `Buffer` for binary kinds.
fn tagged(kind: u8, disk: bool, value: &[u8]) -> Either<String, Buffer> {
    let tag = kind * 2 + disk as u8;
    if is_text(kind) {
        // stored text is UTF-8 we wrote; `from_utf8` validates it several times faster than
        // the lossy path, which stays for a file another program wrote
        let text = match std::str::from_utf8(value) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(value),
        };
        let mut s = String::with_capacity(text.len() + 1);
        s.push(tag as char);
        s.push_str(&text);
        Either::A(s)
    } else {
        let mut b = Vec::with_capacity(value.len() + 1);
        b.push(tag);
        b.extend_from_slice(value);
        Either::B(b.into())
    }
}

/// The value under `key` (tagged, see the module comment), or `null`. `shared`: a disk
/// read joins the read snapshot of this macrotask (`cacheEndRead` ends it).
#[napi(catch_unwind)]
pub fn cache_get(
    h: &External<CacheCell>,
    key: String,
    shared: bool,
) -> Result<Option<Either<String, Buffer>>> {
    with_shared(h, |c, out| {
        out[SHARED_HIT_SLOT] = -1.0;
        Ok(c.get_shared(&key, now_ms(), shared)
            .map_err(map_err)?
            .map(|hit| {
                if let Some((slot, expires_at)) = hit.memory_slot {
                    out[SHARED_HIT_SLOT] = slot as f64;
                    out[SHARED_HIT_EXPIRES] = expires_at as f64;
                }
                tagged(hit.kind, hit.source == Source::Disk, &hit.value)
            }))
    })
}

/// The wall clock the core reads for expiry (ms since the epoch): the drop-in layer's front
/// checks expiry with it, so a faked `Date` cannot make the two sides disagree.
#[napi(catch_unwind)]
pub fn cache_now_ms() -> f64 {
    now_ms() as f64
}

/// Counts the memory hits the drop-in layer served from its front, in the order served:
/// the first `n` slots of `log` (each from `shared` after a `cacheGet`, the memory level's
/// removals unchanged since).
#[napi(catch_unwind)]
pub fn cache_replay_hits(h: &External<CacheCell>, log: Uint32ArraySlice, n: u32) -> Result<()> {
    let slots: &[u32] = log.as_ref();
    let n = (n as usize).min(slots.len());
    with(h, |c| {
        c.replay_hits(&slots[..n]);
        Ok(())
    })
}

/// Ends the read snapshot the disk reads of `cacheGet` share within one macrotask.
#[napi(catch_unwind)]
pub fn cache_end_read(h: &External<CacheCell>) -> Result<()> {
    with(h, |c| {
        c.end_read();
        Ok(())
    })
}

/// `cacheGet` for many keys (disk lookups spread over the reader pool).
#[napi(catch_unwind)]
pub fn cache_get_many(
    h: &External<CacheCell>,
    keys: Vec<String>,
) -> Result<Vec<Option<Either<String, Buffer>>>> {
    with(h, |c| {
        let found = c.get_many(&keys, now_ms()).map_err(map_err)?;
        Ok(found
            .into_iter()
            .map(|f| f.map(|(kind, v)| tagged(kind, false, &v)))
            .collect())
    })
}

/// Loads the given keys from disk into memory (predictive warming); returns how many.
#[napi(catch_unwind)]
pub fn cache_warm(h: &External<CacheCell>, keys: Vec<String>) -> Result<u32> {
    with(h, |c| {
        c.warm(&keys, now_ms()).map(|n| n as u32).map_err(map_err)
    })
}

#[napi(catch_unwind)]
pub fn cache_delete(h: &External<CacheCell>, key: String) -> Result<bool> {
    with(h, |c| c.delete(&key).map_err(map_err))
}

#[napi(catch_unwind)]
pub fn cache_clear(h: &External<CacheCell>, namespace: Option<String>) -> Result<()> {
    with(h, |c| c.clear(namespace.as_deref()).map_err(map_err))
}

/// Removes expired entries from both levels (in the open transaction); returns how many.
#[napi(catch_unwind)]
pub fn cache_purge_expired(h: &External<CacheCell>) -> Result<u32> {
    with(h, |c| {
        c.purge_expired(now_ms()).map(|n| n as u32).map_err(map_err)
    })
}

/// Whether writes wait for `cacheCommit`.
#[napi(catch_unwind)]
pub fn cache_has_pending(h: &External<CacheCell>) -> Result<bool> {
    with(h, |c| Ok(c.has_pending()))
}

/// The group commit of one tick: 0 when every write so far is committed on return, else
/// the number of the group shipped to the writer thread (`on_settled` reports it).
#[napi(catch_unwind)]
pub fn cache_commit(h: &External<CacheCell>) -> Result<f64> {
    with(h, |c| {
        Ok(match c.commit_or_ship().map_err(map_err)? {
            Committed::Now => 0.0,
            Committed::Later(seq) => seq as f64,
        })
    })
}

#[napi(catch_unwind)]
pub fn cache_stats(h: &External<CacheCell>) -> Result<BindingCacheStats> {
    with(h, |c| {
        let k = c.counters();
        Ok(BindingCacheStats {
            total_keys: c.memory().len() as u32,
            memory_usage: c.memory().used_bytes() as f64,
            hits: k.hits as f64,
            misses: k.misses as f64,
            evictions: k.evictions as f64,
            disk_usage: c.disk_usage().map_err(map_err)? as f64,
            pool_size: c.pool_size() as u32,
        })
    })
}

/// Turns the evicted-key log on or off (on while `cache_evict` has listeners).
#[napi(catch_unwind)]
pub fn cache_record_evictions(h: &External<CacheCell>, on: bool) -> Result<()> {
    with(h, |c| {
        c.record_evictions(on);
        Ok(())
    })
}

/// Keys evicted from memory since the last call (bounded).
#[napi(catch_unwind)]
pub fn cache_take_evicted(h: &External<CacheCell>) -> Result<Vec<String>> {
    with(h, |c| {
        Ok(c.take_evicted()
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect())
    })
}

/// Waits for the writer thread to settle every group, commits pending writes, then closes
/// the database and frees the memory level. Returns the failed groups (all others are
/// committed); throws when the final commit fails.
#[napi(catch_unwind)]
pub fn cache_close(h: &External<CacheCell>) -> Result<Vec<BindingCommitFailure>> {
    let mut cell = h
        .try_borrow_mut()
        .map_err(|_| coded("ERR_NATIVE", "cache re-entered"))?;
    let (result, failures) = match cell.cache.as_mut() {
        Some(c) => c.close(),
        None => (Ok(()), Vec::new()),
    };
    cell.cache = None;
    result.map_err(map_err)?;
    Ok(failures
        .into_iter()
        .map(|(first, last, message)| BindingCommitFailure {
            first: first as f64,
            last: last as f64,
            message,
        })
        .collect())
}
