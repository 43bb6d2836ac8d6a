//! N-API binding of `fleet-core`: the shared level on Redis. Its tokio runtime (one worker
//! thread) starts on the first `fleetConnect`, so a process without a Redis option starts
//! no thread. Calls return promises settled from that runtime; events reach JS through a
//! weak threadsafe function, so neither the connection, the subscription nor the probe
//! keeps the process alive.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use cache_core::kind;
use fleet_core::{
    Acquire, Backoff, Entry, Fleet, FleetConfig, FleetEvent, Lookup, SystemClock, Write,
};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use tokio::runtime::Runtime;

use crate::errors::{coded, invalid_arg, out_of_range};

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

pub(crate) fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("mrn-fleet")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| coded("ERR_FLEET", format!("cannot start the fleet runtime: {e}")))
}

/// Options of `fleetConnect` (checked and defaulted by `ts/fleet-cache.ts`).
#[napi(object)]
pub struct BindingFleetOptions {
    pub urls: Vec<String>,
    pub cluster: bool,
    pub prefix: String,
    pub timeout_ms: u32,
    pub lock_ms: u32,
    pub compression: bool,
    pub max_value_bytes: f64,
}

/// An event of the fleet level: `kind` is `degraded` (`detail`: why), `restored` (`value`:
/// ms degraded), `subscribed`, or `message` (`topic`, `op`, `detail` = payload, `value` =
/// lag in µs).
#[napi(object)]
pub struct BindingFleetEvent {
    pub kind: String,
    pub topic: Option<String>,
    pub op: Option<String>,
    pub detail: Option<String>,
    pub value: f64,
}

/// `fleetAcquire`'s answer: `state` is `acquired` (`token`), `value` (`batch`: the entry,
/// as a batch of one key, so one decoder and one fill serve both paths) or `giveup`.
#[napi(object, object_from_js = false)]
pub struct BindingFleetAcquire {
    pub state: String,
    pub token: Option<String>,
    pub batch: Option<BindingFleetBatch>,
}

#[napi(object)]
pub struct BindingFleetStats {
    pub hits: f64,
    pub misses: f64,
    pub garbage: f64,
    pub writes: f64,
    pub failures: f64,
    pub skipped: f64,
    pub published: f64,
    pub received: f64,
    pub degradations: f64,
    pub degraded: bool,
}

pub struct FleetHandle {
    pub(crate) fleet: Fleet,
}

impl Drop for FleetHandle {
    fn drop(&mut self) {
        self.fleet.close();
    }
}

/// True for the kinds whose value is raw bytes (`Buffer`, `Uint8Array`), not text.
fn is_binary(k: u8) -> bool {
    matches!(k, kind::BUFFER | kind::BYTES)
}

/// A promise settled with `convert(fut.await)` on the JS thread: one task on the runtime,
/// whose panic (a bug, or a dependency's) rejects the promise instead of leaving it pending.
pub(crate) fn promise<'e, T, D, F, C>(env: &'e Env, fut: F, convert: C) -> Result<Object<'e>>
where
    T: Send + 'static,
    D: ToNapiValue + 'static,
    F: Future<Output = T> + Send + 'static,
    C: FnOnce(T) -> D + Send + 'static,
{
    let rt = runtime()?;
    let (deferred, promise) = env.create_deferred::<D, _>()?;
    rt.spawn(async move {
        match CatchPanic(Box::pin(fut)).await {
            Some(v) => deferred.resolve(move |_| Ok(convert(v))),
            None => deferred.reject(coded("ERR_FLEET", "the fleet call failed unexpectedly")),
        }
    });
    Ok(promise)
}

/// A future's output, or `None` when polling it panicked (it is not polled again).
struct CatchPanic<F: Future>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Some(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(None),
        }
    }
}

/// Connects (in the background: the returned handle works at once, its calls miss until
/// Redis answers) and subscribes to the fleet's bus. `on_event` is weak.
#[napi(catch_unwind)]
pub fn fleet_connect(
    options: BindingFleetOptions,
    on_event: Function<BindingFleetEvent, ()>,
) -> Result<External<FleetHandle>> {
    if options.urls.is_empty() {
        return Err(invalid_arg("redis.url must be a redis:// or rediss:// URL"));
    }
    if !(options.max_value_bytes.is_finite() && options.max_value_bytes >= 0.0) {
        return Err(out_of_range("maxValueSize must be a finite number >= 0"));
    }
    let tsfn = on_event
        .build_threadsafe_function::<BindingFleetEvent>()
        .weak::<true>()
        .build()?;
    let events: fleet_core::client::Events = Arc::new(move |e: FleetEvent| {
        let ev = match e {
            FleetEvent::Degraded { reason } => BindingFleetEvent {
                kind: "degraded".into(),
                topic: None,
                op: None,
                detail: Some(reason),
                value: 0.0,
            },
            FleetEvent::Restored { down_ms } => BindingFleetEvent {
                kind: "restored".into(),
                topic: None,
                op: None,
                detail: None,
                value: down_ms as f64,
            },
            FleetEvent::Subscribed => BindingFleetEvent {
                kind: "subscribed".into(),
                topic: None,
                op: None,
                detail: None,
                value: 0.0,
            },
            FleetEvent::Message { message, lag_us } => BindingFleetEvent {
                kind: "message".into(),
                topic: Some(message.topic),
                op: Some(message.op),
                detail: Some(message.payload),
                value: lag_us as f64,
            },
        };
        tsfn.call(ev, ThreadsafeFunctionCallMode::NonBlocking);
    });
    let rt = runtime()?;
    let cfg = FleetConfig {
        urls: options.urls,
        cluster: options.cluster,
        prefix: options.prefix,
        timeout_ms: u64::from(options.timeout_ms.max(1)),
        lock_ms: u64::from(options.lock_ms.max(1)),
        compression: options.compression,
        max_value_bytes: options.max_value_bytes.min(usize::MAX as f64) as usize,
        backoff: Backoff {
            min_ms: 50,
            max_ms: 2000,
        },
    };
    let fleet = Fleet::connect(cfg, SystemClock::shared(), events, rt.handle().clone())
        .map_err(|e| coded("ERR_FLEET", e))?;
    Ok(External::new(FleetHandle { fleet }))
}

/// Numbers per key in `BindingFleetBatch::meta`. Its twin is `META_STRIDE` in
/// `ts/fleet-cache.ts` (no fleet layout is exported to the drop-in layer): change both.
const META_STRIDE: usize = 4;

/// The entries a `fleetGetBatch` read, held natively until `fleetFill` copies the ones the
/// drop-in layer serves into the local levels (the values do not cross back).
pub struct FetchedBatch {
    keys: Vec<String>,
    entries: Vec<Option<Entry>>,
}

/// A batch read in compact form: one string for all JSON values and one `Buffer` for all
/// binary values instead of an object per entry. Per key `i`, `meta[4i..4i+4]` is `kind`
/// (-1: no entry: a miss, garbage, or Redis unavailable), `expiresAt` (wall-clock ms, 0:
/// unknown), and where the value is: `start`/`end` UTF-16 offsets in `json` (kind 0), byte
/// offsets in `bytes` (kinds 2 and 3), or `start` an index in `strings` (the other text
/// kinds: a value served as a string must not keep the whole batch's text alive).
#[napi(object, object_from_js = false)]
pub struct BindingFleetBatch {
    pub meta: Float64Array,
    /// Latin-1 when every value is ASCII: V8 copies it instead of decoding UTF-8.
    pub json: Either<String, Latin1String>,
    pub bytes: Option<Buffer>,
    pub strings: Option<Vec<String>>,
    pub fetched: External<FetchedBatch>,
}

/// The compact form, built on the runtime's thread.
struct Compact {
    meta: Vec<f64>,
    json: String,
    json_ascii: bool,
    bytes: Vec<u8>,
    strings: Vec<String>,
    fetched: FetchedBatch,
}

impl Compact {
    /// On the JS thread. `bytes` is left out when no value has any (all binary values empty,
    /// or none at all), `strings` when there are none.
    fn into_js(self) -> BindingFleetBatch {
        BindingFleetBatch {
            meta: Float64Array::new(self.meta),
            json: if self.json_ascii {
                Either::B(Latin1String::from(self.json))
            } else {
                Either::A(self.json)
            },
            bytes: (!self.bytes.is_empty()).then(|| Buffer::from(self.bytes)),
            strings: (!self.strings.is_empty()).then_some(self.strings),
            fetched: External::new(self.fetched),
        }
    }
}

fn compact(keys: Vec<String>, found: Vec<Lookup>) -> Compact {
    let mut meta = vec![0.0; keys.len() * META_STRIDE];
    let mut json = String::new();
    let mut json_ascii = true;
    let mut units = 0usize;
    let mut bytes = Vec::new();
    let mut strings = Vec::new();
    let mut entries = Vec::with_capacity(keys.len());
    let mut found = found.into_iter();
    for m in meta.chunks_exact_mut(META_STRIDE) {
        m[0] = -1.0;
        let e = match found.next() {
            Some(Lookup::Hit(e)) => e,
            _ => {
                entries.push(None);
                continue;
            }
        };
        if is_binary(e.kind) {
            m[2] = bytes.len() as f64;
            bytes.extend_from_slice(&e.payload);
            m[3] = bytes.len() as f64;
        } else {
            // the codec checked UTF-8
            let Ok(s) = std::str::from_utf8(&e.payload) else {
                entries.push(None);
                continue;
            };
            if e.kind == 0 {
                // JS offsets count UTF-16 units
                m[2] = units as f64;
                units += if s.is_ascii() {
                    s.len()
                } else {
                    json_ascii = false;
                    s.encode_utf16().count()
                };
                json.push_str(s);
                m[3] = units as f64;
            } else {
                m[2] = strings.len() as f64;
                strings.push(s.to_owned());
            }
        }
        m[0] = f64::from(e.kind);
        m[1] = e.expires_at_ms as f64;
        entries.push(Some(e));
    }
    Compact {
        meta,
        json,
        json_ascii,
        bytes,
        strings,
        fetched: FetchedBatch { keys, entries },
    }
}

/// Entries of `keys` in one burst (one pipeline), in compact form (`BindingFleetBatch`).
#[napi(catch_unwind, ts_return_type = "Promise<BindingFleetBatch>")]
pub fn fleet_get_batch<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    keys: Vec<String>,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    promise(
        env,
        async move {
            let found = fleet.get_many(&keys).await;
            compact(keys, found)
        },
        Compact::into_js,
    )
}

/// Copies the entries of a `fleetGetBatch` whose `keep[i]` is 1 into the local levels of
/// `cache`, with the time they have left. `keep[i]` is set to 0 where nothing was stored:
/// no entry, already expired, a legacy kind, or a value the local levels refuse (too large
/// for memory: served, not kept). Each entry is copied at most once.
#[napi(catch_unwind)]
pub fn fleet_fill(
    cache: &External<crate::cache::CacheCell>,
    fetched: &mut External<FetchedBatch>,
    mut keep: Uint8Array,
) -> Result<()> {
    // SAFETY: the caller's array, written only here, on the JS thread, during this call
    let keep = unsafe { keep.as_mut() };
    let FetchedBatch { keys, entries } = &mut **fetched;
    crate::cache::with_cache(cache, |c, now| {
        for (i, k) in keep.iter_mut().enumerate() {
            if *k == 0 {
                continue;
            }
            *k = 0;
            let Some(e) = entries.get_mut(i).and_then(Option::take) else {
                continue;
            };
            // the local levels store these kinds (`cacheSetText`/`cacheSetBytes`)
            if e.kind > 3 {
                continue;
            }
            let ttl = if e.expires_at_ms == 0 {
                0
            } else {
                let left = e.expires_at_ms as i64 - now;
                if left <= 0 {
                    continue;
                }
                crate::cache::ttl_ms(left as f64)
            };
            let ns = e.namespace.as_deref().unwrap_or("");
            if c.set_owned(&keys[i], ns, e.kind, e.payload, ttl, now)
                .is_ok()
            {
                *k = 1;
            }
        }
    })
}

/// One entry of `fleetSetMany`.
#[napi(object)]
pub struct BindingFleetWrite {
    pub key: String,
    pub namespace: Option<String>,
    pub kind: u32,
    pub value: Either<String, Buffer>,
    pub ttl_ms: f64,
}

/// Stores entries in one round trip (the writes of one tick); per entry, true when Redis
/// holds it.
#[napi(catch_unwind, ts_return_type = "Promise<Array<boolean>>")]
pub fn fleet_set_many<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    writes: Vec<BindingFleetWrite>,
) -> Result<Object<'e>> {
    let mut batch = Vec::with_capacity(writes.len());
    for w in writes {
        if w.kind > u32::from(fleet_core::KIND_MAX) {
            return Err(invalid_arg(format!("kind must be 0..5, got {}", w.kind)));
        }
        if !(w.ttl_ms.is_finite() && w.ttl_ms > 0.0) {
            return Err(out_of_range("ttl must be a finite number > 0"));
        }
        batch.push(Write {
            key: w.key,
            namespace: w.namespace,
            kind: w.kind as u8,
            payload: match w.value {
                Either::A(s) => s.into_bytes(),
                Either::B(b) => b.to_vec(),
            },
            ttl_ms: w.ttl_ms.ceil().min(u64::MAX as f64 / 2.0) as u64,
        });
    }
    let fleet = h.fleet.clone();
    promise(env, async move { fleet.set_many(&batch).await }, |ok| ok)
}

/// Deletes an entry fleet-wide (Redis and, through the bus, every process's local levels).
#[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
pub fn fleet_delete<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    key: String,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    promise(env, async move { fleet.delete(&key).await }, |ok| ok)
}

/// Clears one namespace (or everything of ours) fleet-wide.
#[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
pub fn fleet_clear<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    namespace: Option<String>,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    promise(
        env,
        async move { fleet.clear(namespace.as_deref()).await },
        |ok| ok,
    )
}

/// `Acquire`, its value in compact form (built on the runtime's thread).
enum Acquired {
    Token(String),
    Value(Compact),
    GiveUp,
}

/// The fleet-wide single flight of `getOrSet` (see `Fleet::acquire`).
#[napi(catch_unwind, ts_return_type = "Promise<BindingFleetAcquire>")]
pub fn fleet_acquire<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    key: String,
    wait_ms: f64,
    max_checks: u32,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    let wait = if wait_ms.is_finite() && wait_ms >= 0.0 {
        wait_ms as u64
    } else {
        0
    };
    promise(
        env,
        async move {
            match fleet.acquire(&key, wait, max_checks).await {
                Acquire::Acquired(token) => Acquired::Token(token),
                Acquire::Value(e) => Acquired::Value(compact(vec![key], vec![Lookup::Hit(e)])),
                Acquire::GiveUp => Acquired::GiveUp,
            }
        },
        |a| match a {
            Acquired::Token(token) => BindingFleetAcquire {
                state: "acquired".into(),
                token: Some(token),
                batch: None,
            },
            Acquired::Value(c) => BindingFleetAcquire {
                state: "value".into(),
                token: None,
                batch: Some(c.into_js()),
            },
            Acquired::GiveUp => BindingFleetAcquire {
                state: "giveup".into(),
                token: None,
                batch: None,
            },
        },
    )
}

/// Releases the lock taken by `fleetAcquire` and wakes the other processes' waiters.
#[napi(catch_unwind, ts_return_type = "Promise<void>")]
pub fn fleet_release<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    key: String,
    token: String,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    promise(
        env,
        async move { fleet.release(&key, &token).await },
        |()| (),
    )
}

/// Publishes a message on the fleet's bus under `topic` (for subsystems beyond the cache).
#[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
pub fn fleet_publish<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    topic: String,
    op: String,
    payload: String,
) -> Result<Object<'e>> {
    if topic.contains('\n') || op.contains('\n') {
        return Err(invalid_arg("topic and op must not contain a newline"));
    }
    let fleet = h.fleet.clone();
    promise(
        env,
        async move { fleet.publish(&topic, &op, &payload).await },
        |ok| ok,
    )
}

#[napi(catch_unwind)]
pub fn fleet_stats(h: &External<FleetHandle>) -> BindingFleetStats {
    let s = h.fleet.stats();
    BindingFleetStats {
        hits: s.hits as f64,
        misses: s.misses as f64,
        garbage: s.garbage as f64,
        writes: s.writes as f64,
        failures: s.failures as f64,
        skipped: s.skipped as f64,
        published: s.published as f64,
        received: s.received as f64,
        degradations: s.degradations as f64,
        degraded: s.degraded,
    }
}

/// True when the level is degraded (calls skip Redis).
#[napi(catch_unwind)]
pub fn fleet_degraded(h: &External<FleetHandle>) -> bool {
    h.fleet.is_degraded()
}

/// Stops the subscription and the probe and drops the connection.
#[napi(catch_unwind)]
pub fn fleet_close(h: &External<FleetHandle>) {
    h.fleet.close();
}
