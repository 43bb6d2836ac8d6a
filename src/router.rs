//! N-API binding of `router-core`. Free functions over an `External` handle (a class
//! method call costs ~0.65 µs here, a function with a handle and numbers ~0.3 µs).
//! Decisions come back as numbers in a `Float64Array` (`out`) that the drop-in layer hands
//! over once, at creation, and the handle keeps (a typed-array argument per call costs a
//! conversion), so the hot path creates no JS objects or strings on the native side;
//! `ts/model-router.ts` turns them into the legacy `RoutingDecision` (the numbers of this
//! boundary: `router_layout.rs`). Outcomes
//! (`recordPerformance`, `reportOutcome`) are buffered by the layer in a second
//! `Float64Array` handed over at creation, and applied at the start of the next routing
//! call (the count is in `out`), so the common case never crosses on its own.
//!
//! Time: every call that needs the clock gets `now` (ms, the router's monotonic clock,
//! injectable in JS) from the caller; only the routing time itself is measured here.

use std::cell::RefCell;
use std::time::Instant;

use napi::bindgen_prelude::*;
use napi::{sys, JsString, JsValue};
use napi_derive::napi;
use router_core::adaptive::{AdaptiveConfig, PickKind, WhenNoneHealthy};
use router_core::affinity::{AffinityConfig, SessionModels};
use router_core::budget::{Budget, Scope};
use router_core::health::{HealthConfig, State};
use router_core::outcome::OutcomeClass;
use router_core::performance::Outcome;
use router_core::quota::Quota;
use router_core::rules::{BuiltinRule, Condition, Rule};
use router_core::Exclusion;
use router_core::{
    AdaptiveOutcome, Decision, DecisionKind, ModelConfig, Priority, RetryInfo, RouteError, Router,
    RouterOptions, RoutingContext, Strategy, TaskText, Tier, TierPolicy,
};
use serde::Deserialize;

use crate::errors::{coded, invalid_arg};
use crate::router_layout::*;

pub struct RouterHandle {
    pub(crate) router: Router,
    /// Reused buffers for the task text (see `read_task`).
    scratch: TaskBuffers,
    /// Model names by id, for batched `recordPerformance` (bounded by the drop-in layer).
    names: Vec<String>,
    /// Where routing calls write their decision (`OUT_LEN` numbers; see `write_decision`).
    /// Held by reference, so the array stays alive and in place while the handle lives.
    out: Float64Array,
    /// Outcomes buffered by the drop-in layer (`OUTCOME_LEN` numbers each).
    outcomes: Float64Array,
    /// What the layer's memo needs of the adaptive state to serve a healthy first-ranked
    /// model without crossing (see `sync_live`).
    live: Float64Array,
    /// The room quotas and budgets leave, for the layer to admit memo hits (see
    /// `sync_capacity`); absent until `routerCapacityMirror` hands one over.
    capacity: Option<Float64Array>,
}

/// `capacity` layout: per budget index [spent in its current period, limit] from 0, then per
/// registered name id [requests its quota still admits, tokens its window holds, tpm] from
/// `CAP_NAMES` (infinity: no such quota). The layer admits a memo hit only while every
/// candidate's row and every budget it falls under has room for the entry's reservation,
/// and adds its reservation to the rows itself; rows it must not trust say no room.
const CAP_NO_ROOM: [f64; CAP_STRIDE] = [0.0, f64::INFINITY, 0.0];

fn capacity_of(hd: &mut RouterHandle) -> Option<&mut [f64]> {
    // SAFETY: as `out_of`.
    hd.capacity.as_mut().map(|c| unsafe { c.as_mut() })
}

/// Writes the room of every quota and budget at the last routing call's `now`. Only after
/// the layer's memo decisions are replayed: the rows then hold every reservation made.
fn sync_capacity(hd: &mut RouterHandle) {
    if hd.capacity.is_none() {
        return;
    }
    let now = out_of(hd)[OUT_NOW];
    let book = hd.router.budgets();
    let budgets: Vec<[f64; 2]> = (0..book.budgets().len())
        .map(|i| book.room(i, now))
        .collect();
    let names = std::mem::take(&mut hd.names);
    let rows: Vec<[f64; CAP_STRIDE]> = names
        .iter()
        .map(|n| {
            let r = hd.router.quota_room(n, now);
            [r.requests, r.tokens_held, r.tpm]
        })
        .collect();
    hd.names = names;
    let Some(cap) = capacity_of(hd) else {
        return;
    };
    for (i, b) in budgets.iter().enumerate() {
        if let Some(slot) = cap.get_mut(2 * i..2 * i + 2) {
            slot.copy_from_slice(b);
        }
    }
    for (id, row) in rows.iter().enumerate() {
        let at = CAP_NAMES + CAP_STRIDE * id;
        if let Some(slot) = cap.get_mut(at..at + CAP_STRIDE) {
            slot.copy_from_slice(row);
        }
    }
}

/// Marks every row as no room (until the next `sync_capacity`): quotas or budgets changed
/// while the layer may hold decisions not replayed yet.
pub(crate) fn distrust_capacity(hd: &mut RouterHandle) {
    let Some(cap) = capacity_of(hd) else {
        return;
    };
    let split = CAP_NAMES.min(cap.len());
    for b in cap[..split].chunks_exact_mut(2) {
        b[0] = f64::INFINITY;
    }
    for row in cap[split..].chunks_exact_mut(CAP_STRIDE) {
        row.copy_from_slice(&CAP_NO_ROOM);
    }
}

/// Hands over the array the layer reads quota and budget room from (see `sync_capacity`).
#[napi(catch_unwind)]
pub fn router_capacity_mirror(h: &Handle, capacity: Float64Array) {
    let mut hd = h.borrow_mut();
    hd.capacity = Some(capacity);
    distrust_capacity(&mut hd);
}

/// What a decision of routing-cache entry `id` reserves in tokens (NaN: the entry is gone
/// or outdated).
#[napi(catch_unwind)]
pub fn router_reserve_tokens(h: &Handle, id: f64) -> f64 {
    h.borrow()
        .router
        .cached_reserve_tokens(id as u64)
        .unwrap_or(f64::NAN)
}

/// A `live` row (layout: `router_layout`): state, last estimate (0: no sample), when its
/// `late_calls`-th oldest and its `SLOW_EVIDENCE`-th oldest call in flight were decided,
/// calls in flight, when its latest-decided quickly answered call was decided.
fn live_row(
    state: f64,
    estimate: f64,
    late: f64,
    evidence: f64,
    in_flight: f64,
    quick: f64,
) -> [f64; LIVE_STRIDE] {
    let mut row = [0.0; LIVE_STRIDE];
    row[LIVE_STATE] = state;
    row[LIVE_ESTIMATE] = estimate;
    row[LIVE_LATE] = late;
    row[LIVE_EVIDENCE] = evidence;
    row[LIVE_IN_FLIGHT] = in_flight;
    row[LIVE_QUICK] = quick;
    row
}

/// The row of a name the adaptive state does not know: healthy, no sample, nothing in flight.
fn live_empty() -> [f64; LIVE_STRIDE] {
    live_row(
        STATE_HEALTHY,
        0.0,
        f64::INFINITY,
        f64::INFINITY,
        0.0,
        f64::NEG_INFINITY,
    )
}

fn state_code(s: State) -> f64 {
    match s {
        State::Healthy => STATE_HEALTHY,
        State::RateLimited => STATE_RATE_LIMITED,
        State::Ejected => STATE_EJECTED,
        State::Probing => STATE_PROBING,
        State::AuthFailed => STATE_AUTH_FAILED,
    }
}

fn live_of(hd: &mut RouterHandle) -> &mut [f64] {
    // SAFETY: as `out_of`.
    unsafe { hd.live.as_mut() }
}

/// Takes up the decision ids the layer handed out since the last call.
fn load_live(hd: &mut RouterHandle) {
    let next = live_of(hd)[LIVE_NEXT_ID];
    let book = hd.router.adaptive_mut();
    if next.is_finite() && next as u64 > book.next_decision() {
        book.set_next_decision(next as u64);
    }
}

/// Writes the adaptive state the layer's memo reads (after anything that may change it).
pub(crate) fn sync_live(hd: &mut RouterHandle) {
    if hd.router.options().strategy != Strategy::Adaptive {
        return; // only the adaptive memo reads it
    }
    let now = out_of(hd)[OUT_NOW];
    let room_until = hd.router.quota_room_until_ms(now);
    let book = hd.router.adaptive();
    let k = book.config.late_calls;
    let next = book.next_decision() as f64;
    let change = book.next_change_ms().min(room_until);
    let rows: Vec<[f64; LIVE_STRIDE]> = hd
        .names
        .iter()
        .map(|n| match book.get(n) {
            Some(st) => live_row(
                state_code(st.health.state()),
                book.last_estimate(n).unwrap_or(0.0),
                st.kth_in_flight_ms(k).unwrap_or(f64::INFINITY),
                st.kth_in_flight_ms(SLOW_EVIDENCE).unwrap_or(f64::INFINITY),
                st.in_flight() as f64,
                st.quick_answer_decided_ms(),
            ),
            None => live_empty(),
        })
        .collect();
    let live = live_of(hd);
    live[LIVE_NEXT_ID] = next;
    live[LIVE_NEXT_CHANGE] = change;
    for (id, row) in rows.into_iter().enumerate() {
        let at = LIVE_HEAD + LIVE_STRIDE * id;
        if let Some(slot) = live.get_mut(at..at + LIVE_STRIDE) {
            slot.copy_from_slice(&row);
        }
    }
}

/// Task buffers kept between calls (tasks reach 100 KB); larger ones are released after use.
const SCRATCH_KEEP: usize = 1 << 20;

/// The buffers a task is read into, one per form (see `read_task`).
#[derive(Default)]
struct TaskBuffers {
    utf8: Vec<u8>,
    utf16: Vec<u16>,
}

impl TaskBuffers {
    fn release_large(&mut self) {
        if self.utf8.capacity() > SCRATCH_KEEP {
            self.utf8 = Vec::new();
        }
        if self.utf16.capacity() > SCRATCH_KEEP / 2 {
            self.utf16 = Vec::new();
        }
    }
}

/// Units of a task first read as UTF-16, to tell its form.
const PROBE_UNITS: usize = 256;

/// Reads a JS string in the form cheapest to read and analyse. V8 holds a non-ASCII string
/// as UTF-16: writing it as UTF-8 transcodes it character by character, at a cost above
/// the whole analysis, where copying its units is a `memcpy`. The first `PROBE_UNITS` units
/// are copied as UTF-16: if one is not ASCII, the string is read as UTF-16; if they are the
/// whole string and all ASCII, they are narrowed to its UTF-8; otherwise (a long string that
/// starts with ASCII, most likely all ASCII) it is read as UTF-8 in one pass. The form
/// depends only on the string's content, so a given string always takes the same path;
/// every use of the text gives the same result on either form (see `TaskText`).
fn read_task<'a>(s: &JsString, buffers: &'a mut TaskBuffers) -> Result<TaskText<'a>> {
    let v = s.value();
    let raw = (v.env, v.value);
    let mut units = 0usize;
    // SAFETY: a plain N-API call on the JS thread with a live value and no buffer (it only
    // reports the length, in O(1)).
    let status = unsafe {
        sys::napi_get_value_string_utf16(v.env, v.value, std::ptr::null_mut(), 0, &mut units)
    };
    if status != sys::Status::napi_ok {
        return Err(invalid_arg("context.task must be a string"));
    }
    let probe = units.min(PROBE_UNITS);
    read_utf16(raw, &mut buffers.utf16, probe)?;
    let ascii = buffers.utf16.iter().fold(0u16, |any, &u| any | u) < 0x80;
    if probe == units && ascii {
        buffers.utf8.clear();
        buffers.utf8.extend(buffers.utf16.iter().map(|&u| u as u8));
        // SAFETY: ASCII bytes are UTF-8.
        return Ok(TaskText::Utf8(unsafe {
            std::str::from_utf8_unchecked(&buffers.utf8)
        }));
    }
    if !ascii {
        if probe < units {
            read_utf16(raw, &mut buffers.utf16, units)?;
        }
        return Ok(TaskText::Utf16(&buffers.utf16));
    }
    read_utf8(raw, &mut buffers.utf8, units).map(TaskText::Utf8)
}

/// A JS string value and its env, as N-API calls take them.
type RawString = (sys::napi_env, sys::napi_value);

/// Copies the first `n` UTF-16 units of a JS string into `buf`.
fn read_utf16(v: RawString, buf: &mut Vec<u16>, n: usize) -> Result<()> {
    buf.clear();
    buf.reserve(n + 1);
    let mut written = 0usize;
    // SAFETY: a plain N-API call on the JS thread with a live value; `buf` has room for
    // `n + 1` units (reserved above), and V8 writes at most `n` and a terminating zero.
    let status = unsafe {
        sys::napi_get_value_string_utf16(v.0, v.1, buf.as_mut_ptr(), n + 1, &mut written)
    };
    if status != sys::Status::napi_ok {
        return Err(invalid_arg("context.task must be a string"));
    }
    // SAFETY: V8 wrote `written` ≤ `n` units.
    unsafe { buf.set_len(written.min(n)) };
    Ok(())
}

/// Reads a JS string of `units` UTF-16 units as UTF-8 into `buf` with one conversion pass.
/// (napi-rs's `String` asks V8 for the UTF-8 length first, which walks the whole text once
/// more.) UTF-8 needs at most 3 bytes per UTF-16 unit.
fn read_utf8(v: RawString, buf: &mut Vec<u8>, units: usize) -> Result<&str> {
    let cap = units * 3 + 1;
    buf.clear();
    buf.reserve(cap);
    let mut written = 0usize;
    // SAFETY: a plain N-API call on the JS thread with a live value; `buf` has room for
    // `cap` bytes (reserved above), and V8 writes at most `cap` of them.
    let status = unsafe {
        sys::napi_get_value_string_utf8(v.0, v.1, buf.as_mut_ptr().cast(), cap, &mut written)
    };
    if status != sys::Status::napi_ok {
        return Err(invalid_arg("context.task must be a string"));
    }
    // SAFETY: V8 wrote `written` bytes of well-formed UTF-8 (lone surrogates become U+FFFD),
    // so the validation pass of `from_utf8` is skipped.
    unsafe { buf.set_len(written.min(cap - 1)) };
    // SAFETY: the bytes are V8's UTF-8 (see above).
    Ok(unsafe { std::str::from_utf8_unchecked(buf) })
}

pub(crate) type Handle = External<RefCell<RouterHandle>>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct OptionsJson {
    strategy: Option<String>,
    tier_policy: Option<String>,
    seed: Option<f64>,
    cache_size: Option<f64>,
    cache_ttl_ms: Option<f64>,
    when_none_healthy: Option<String>,
    consecutive_failures: Option<f64>,
    failure_rate_threshold: Option<f64>,
    failure_rate_min_requests: Option<f64>,
    failure_rate_window_ms: Option<f64>,
    base_ejection_ms: Option<f64>,
    max_ejection_ms: Option<f64>,
    jitter: Option<f64>,
    rate_limit_cooldown_ms: Option<f64>,
    max_rate_limit_cooldown_ms: Option<f64>,
    probe_timeout_ms: Option<f64>,
    latency_decay_ms: Option<f64>,
    failure_penalty: Option<f64>,
    in_flight_timeout_ms: Option<f64>,
    max_in_flight: Option<f64>,
    slow_factor: Option<f64>,
    late_calls: Option<f64>,
    late_factor: Option<f64>,
    session_affinity: Option<bool>,
    session_idle_ms: Option<f64>,
    max_sessions: Option<f64>,
    default_output_tokens: Option<f64>,
}

/// The adaptive options (validated by the drop-in layer; clamped here to sane ranges).
fn adaptive_config(o: &OptionsJson) -> Result<AdaptiveConfig> {
    let d = AdaptiveConfig::default();
    let h = HealthConfig::default();
    let ms = |v: Option<f64>, default: f64| v.map_or(default, |x| x.max(0.0));
    Ok(AdaptiveConfig {
        health: HealthConfig {
            consecutive_failures: o
                .consecutive_failures
                .map_or(h.consecutive_failures, |n| n.clamp(1.0, 1e6) as u32),
            failure_rate_threshold: o
                .failure_rate_threshold
                .map_or(h.failure_rate_threshold, |x| x.clamp(0.0, 1.0)),
            failure_rate_min_requests: o
                .failure_rate_min_requests
                .map_or(h.failure_rate_min_requests, |n| n.clamp(1.0, 1e6) as u32),
            failure_rate_window_ms: ms(o.failure_rate_window_ms, h.failure_rate_window_ms),
            base_ejection_ms: ms(o.base_ejection_ms, h.base_ejection_ms),
            max_ejection_ms: ms(o.max_ejection_ms, h.max_ejection_ms),
            jitter: o.jitter.map_or(h.jitter, |x| x.clamp(0.0, 1.0)),
            rate_limit_cooldown_ms: ms(o.rate_limit_cooldown_ms, h.rate_limit_cooldown_ms),
            max_rate_limit_cooldown_ms: ms(
                o.max_rate_limit_cooldown_ms,
                h.max_rate_limit_cooldown_ms,
            ),
            probe_timeout_ms: ms(o.probe_timeout_ms, h.probe_timeout_ms),
        },
        when_none_healthy: match o.when_none_healthy.as_deref() {
            None | Some("closest") => WhenNoneHealthy::Closest,
            Some("reject") => WhenNoneHealthy::Reject,
            Some(s) => {
                return Err(invalid_arg(format!(
                    "options.whenNoneHealthy: unknown {s:?}"
                )))
            }
        },
        latency_decay_ms: ms(o.latency_decay_ms, d.latency_decay_ms),
        failure_penalty: o.failure_penalty.map_or(d.failure_penalty, |x| x.max(1.0)),
        in_flight_timeout_ms: ms(o.in_flight_timeout_ms, d.in_flight_timeout_ms),
        max_in_flight: o
            .max_in_flight
            .map_or(d.max_in_flight, |n| n.clamp(1.0, 1e6) as usize),
        slow_factor: o.slow_factor.map_or(d.slow_factor, |x| x.max(1.0)),
        late_calls: o
            .late_calls
            .map_or(d.late_calls, |n| n.clamp(1.0, 1e6) as usize),
        late_factor: o.late_factor.map_or(d.late_factor, |x| x.max(0.0)),
    })
}

fn tier(code: u32) -> Result<Tier> {
    Tier::from_code(code).ok_or_else(|| invalid_arg(format!("context.userTier code {code}")))
}

fn priority(code: u32) -> Result<Priority> {
    Priority::from_code(code).ok_or_else(|| invalid_arg(format!("context.priority code {code}")))
}

fn parse_strings(json: Option<String>, field: &str) -> Result<Option<Vec<String>>> {
    match json {
        None => Ok(None),
        Some(s) => serde_json::from_str::<Vec<String>>(&s)
            .map(Some)
            .map_err(|e| invalid_arg(format!("{field}: {e}"))),
    }
}

/// Creates a router. `options_json`: `{strategy, tierPolicy, seed, cacheSize, cacheTtlMs}`
/// and the adaptive options (validated by the drop-in layer; checked again here).
/// `out`: a `Float64Array` of length ≥ `OUT_LEN` that every routing call writes its
/// decision to; `outcomes`: the outcome buffer (a multiple of `OUTCOME_LEN` numbers).
#[napi(catch_unwind)]
pub fn router_create(
    options_json: String,
    out: Float64Array,
    outcomes: Float64Array,
    live: Float64Array,
) -> Result<Handle> {
    if out.len() < OUT_LEN {
        return Err(invalid_arg(format!(
            "out must be a Float64Array of length {OUT_LEN}"
        )));
    }
    let o: OptionsJson =
        serde_json::from_str(&options_json).map_err(|e| invalid_arg(format!("options: {e}")))?;
    let mut opts = RouterOptions::default();
    match o.strategy.as_deref() {
        None | Some("legacy") => {}
        Some("rules") => opts.strategy = Strategy::Rules,
        Some("adaptive") => opts.strategy = Strategy::Adaptive,
        Some(s) => return Err(invalid_arg(format!("options.strategy: unknown {s:?}"))),
    }
    match o.tier_policy.as_deref() {
        None | Some("strict") => {}
        Some("legacy") => opts.tier_policy = TierPolicy::Legacy,
        Some(s) => return Err(invalid_arg(format!("options.tierPolicy: unknown {s:?}"))),
    }
    opts.seed = o.seed.map(|s| s as u64);
    if let Some(n) = o.cache_size {
        opts.cache_size = n.clamp(1.0, 1_000_000.0) as usize;
    }
    if let Some(ms) = o.cache_ttl_ms {
        opts.cache_ttl_ms = ms.max(0.0);
    }
    opts.adaptive = adaptive_config(&o)?;
    let affinity = AffinityConfig::default();
    opts.affinity = AffinityConfig {
        max_sessions: match o.session_affinity {
            Some(false) => 0,
            _ => o
                .max_sessions
                .map_or(affinity.max_sessions, |n| n.clamp(1.0, 1e6) as usize),
        },
        idle_ms: o.session_idle_ms.map_or(affinity.idle_ms, |x| x.max(0.0)),
    };
    if let Some(n) = o.default_output_tokens {
        opts.default_output_tokens = n.max(0.0);
    }
    Ok(External::new(RefCell::new(RouterHandle {
        router: Router::new(opts),
        scratch: TaskBuffers::default(),
        names: Vec::new(),
        out,
        outcomes,
        live,
        capacity: None,
    })))
}

/// A model's quotas, from the same JSON as its config (absent: unlimited).
#[derive(Deserialize)]
struct QuotaJson {
    name: String,
    rpm: Option<f64>,
    tpm: Option<f64>,
}

/// Replaces the model set: a JSON array of `{name, tier, capabilities, latencyTarget,
/// costPerToken, maxTokens, rpm?, tpm?}` in the Map's order. Secrets never cross: the drop-in layer
/// sends only these fields.
#[napi(catch_unwind)]
pub fn router_set_models(h: &Handle, models_json: String) -> Result<()> {
    let models: Vec<ModelConfig> = serde_json::from_str(&models_json)
        .map_err(|e| invalid_arg(format!("availableModels: {e}")))?;
    let quotas: Vec<QuotaJson> = serde_json::from_str(&models_json)
        .map_err(|e| invalid_arg(format!("availableModels: {e}")))?;
    let quotas: Vec<(String, Quota)> = quotas
        .into_iter()
        .map(|q| {
            let quota = Quota {
                rpm: q.rpm,
                tpm: q.tpm,
            };
            (q.name, quota)
        })
        .collect();
    let mut hd = h.borrow_mut();
    hd.router.set_models(models);
    hd.router.set_quotas(&quotas);
    sync_live(&mut hd);
    distrust_capacity(&mut hd);
    Ok(())
}

fn write_decision(d: &Decision, routing_ms: f64, metrics_due: bool, out: &mut [f64]) {
    let (kind, a, b) = match d.kind {
        DecisionKind::CacheHit => (KIND_CACHE_HIT, 0.0, 0.0),
        DecisionKind::Scored {
            latency,
            complexity,
        } => (KIND_SCORED, latency, complexity),
        DecisionKind::Balanced { score } => (KIND_BALANCED, score, 0.0),
        DecisionKind::NoCandidates => (KIND_NO_CANDIDATES, 0.0, 0.0),
        DecisionKind::Adaptive {
            predicted_ms,
            in_flight,
            ..
        } => (KIND_ADAPTIVE, predicted_ms, in_flight as f64),
    };
    let slow = routing_ms > router_core::window::TARGET_MS;
    out[OUT_MODEL] = d.model_index as f64;
    out[OUT_CONFIDENCE] = d.confidence;
    out[OUT_KIND] = kind;
    out[OUT_A] = a;
    out[OUT_B] = b;
    out[OUT_ROUTING_MS] = routing_ms;
    out[OUT_CACHE_ID] = d.cache_id.map_or(-1.0, |id| id as f64);
    out[OUT_FLAGS] =
        f64::from(u8::from(metrics_due)) * FLAG_METRICS_DUE + f64::from(u8::from(slow)) * FLAG_SLOW;
    if let DecisionKind::Adaptive {
        pick,
        decision_id,
        from_cache,
        ..
    } = d.kind
    {
        let (code, until) = match pick {
            PickKind::Preferred => (PICK_PREFERRED, f64::NAN),
            PickKind::Balanced => (PICK_BALANCED, f64::NAN),
            PickKind::Probe => (PICK_PROBE, f64::NAN),
            PickKind::Closest { until_ms } => (PICK_CLOSEST, until_ms),
            PickKind::Affinity => (PICK_AFFINITY, f64::NAN),
        };
        out[OUT_DECISION_ID] = decision_id as f64;
        out[OUT_PICK] = code;
        out[OUT_UNTIL] = until;
        if from_cache {
            out[OUT_FLAGS] += FLAG_FROM_CACHE;
        }
    }
}

fn out_of(hd: &mut RouterHandle) -> &mut [f64] {
    // SAFETY: the drop-in layer reads this array only between routing calls, on this
    // thread; the handle's reference keeps it alive (its length was checked at creation).
    unsafe { hd.out.as_mut() }
}

fn finish(hd: &mut RouterHandle, d: &Decision, started: Instant, now: f64, record_time: bool) {
    let routing_ms = started.elapsed().as_secs_f64() * 1000.0;
    // a no-candidates fallback is not recorded (legacy step 5)
    let due = record_time
        && d.kind != DecisionKind::NoCandidates
        && hd.router.record_routing_time(routing_ms);
    let remaining = d
        .cache_id
        .map_or(0.0, |id| hd.router.cache().remaining_ms(id, now));
    let events = hd.router.adaptive().pending_events() as f64;
    let out = out_of(hd);
    write_decision(d, routing_ms, due, out);
    out[OUT_FRESH_MS] = remaining;
    out[OUT_EVENTS] = events;
}

/// Applies the outcomes the layer buffered (their count is in `out`), then clears it.
fn apply_outcomes(hd: &mut RouterHandle) -> Result<()> {
    load_live(hd);
    let n = {
        let out = out_of(hd);
        let n = out[OUT_OUTCOMES];
        out[OUT_OUTCOMES] = 0.0;
        n
    };
    if n > 0.0 {
        apply_outcome_records(hd, n as usize)?;
    }
    Ok(())
}

fn apply_outcome_records(hd: &mut RouterHandle, n: usize) -> Result<()> {
    // SAFETY: as `out_of`: the layer writes this array only between calls, on this thread.
    let log: &[f64] = unsafe { hd.outcomes.as_mut() };
    let n = n.min(log.len() / OUTCOME_LEN);
    for r in log[..OUTCOME_LEN * n].chunks_exact(OUTCOME_LEN) {
        let Some(name) = hd.names.get(r[OUTCOME_NAME_ID] as usize) else {
            return Err(invalid_arg(format!(
                "unknown model name id {}",
                r[OUTCOME_NAME_ID]
            )));
        };
        if r[OUTCOME_SUCCESS] >= 0.0 {
            hd.router.record_performance(
                name,
                Outcome {
                    latency_ms: r[OUTCOME_LATENCY],
                    success: r[OUTCOME_SUCCESS] != 0.0,
                    cost: r[OUTCOME_COST],
                    tokens: (!r[OUTCOME_TOTAL_TOKENS].is_nan())
                        .then_some((r[OUTCOME_OUTPUT_TOKENS], r[OUTCOME_TOTAL_TOKENS])),
                    now_epoch_ms: r[OUTCOME_EPOCH_MS],
                },
            );
        }
        let class = OutcomeClass::from_code(r[OUTCOME_CLASS] as u32)
            .ok_or_else(|| invalid_arg(format!("unknown outcome class {}", r[OUTCOME_CLASS])))?;
        hd.router.report_outcome(
            name,
            AdaptiveOutcome {
                class,
                decision_id: (r[OUTCOME_DECISION_ID] >= 0.0)
                    .then_some(r[OUTCOME_DECISION_ID] as u64),
                latency_ms: r[OUTCOME_LATENCY],
                retry_after_ms: (!r[OUTCOME_RETRY_AFTER].is_nan())
                    .then_some(r[OUTCOME_RETRY_AFTER]),
                now_ms: r[OUTCOME_NOW],
                tokens: (!r[OUTCOME_TOTAL_TOKENS].is_nan()).then_some(r[OUTCOME_TOTAL_TOKENS]),
                cost: (!r[OUTCOME_REPORTED_COST].is_nan()).then_some(r[OUTCOME_REPORTED_COST]),
            },
        );
    }
    Ok(())
}

/// What a routing call says about earlier attempts (read from `out`).
fn retry_info(out: &[f64]) -> RetryInfo<'static> {
    let p = out[OUT_PREVIOUS];
    RetryInfo {
        previous: (p >= 0.0).then_some(p as usize),
        is_retry: out[OUT_RETRY] != 0.0 || p >= 0.0,
        input_tokens: (out[OUT_INPUT_TOKENS] >= 0.0).then_some(out[OUT_INPUT_TOKENS]),
        session_model: (out[OUT_SESSION_MODEL] >= 0.0).then(|| SessionModels {
            current: out[OUT_SESSION_MODEL] as usize,
            home: (out[OUT_SESSION_HOME] >= 0.0).then_some(out[OUT_SESSION_HOME] as usize),
        }),
        // passed as arguments by the calls that read them
        session: None,
        budget_key: None,
    }
}

/// Replays hits the drop-in layer served from its key memo: `log` holds `n` records
/// (`REPLAY_LEN`), in the order they were served.
#[napi(catch_unwind)]
pub fn router_replay_hits(h: &Handle, log: Float64ArraySlice, n: u32) -> Result<()> {
    let log = log.as_ref();
    let n = (n as usize).min(log.len() / REPLAY_LEN);
    let mut hd = h.borrow_mut();
    let hd = &mut *hd;
    load_live(hd);
    for r in log[..REPLAY_LEN * n].chunks_exact(REPLAY_LEN) {
        if r[REPLAY_MODEL] >= 0.0 {
            let at = r[REPLAY_KEY_BUDGET];
            let key = match hd.router.budgets().budgets().get(at as usize) {
                Some(Budget {
                    scope: Scope::Key(k),
                    ..
                }) if at >= 0.0 => Some(k.clone()),
                _ => None,
            };
            hd.router.replay_adaptive(
                r[REPLAY_ENTRY] as u64,
                r[REPLAY_ROUTING_MS],
                r[REPLAY_MODEL] as usize,
                r[REPLAY_DECISION_ID] as u64,
                r[REPLAY_NOW],
                key.as_deref(),
                r[REPLAY_TOKENS],
            );
        } else {
            hd.router
                .replay_hit(r[REPLAY_ENTRY] as u64, r[REPLAY_ROUTING_MS]);
        }
    }
    sync_capacity(hd);
    Ok(())
}

fn route_error_status(e: RouteError) -> i32 {
    match e {
        RouteError::NoModels => NO_MODELS,
        RouteError::NoEligibleModel => NO_ELIGIBLE_MODEL,
        RouteError::NoHealthyModel { .. } => NO_HEALTHY_MODEL,
        RouteError::NoModelFitsWindow { .. } => NO_MODEL_FITS_WINDOW,
        RouteError::BudgetExceeded { .. } => BUDGET_EXCEEDED,
    }
}

/// A routing error's status, with the wait of a rejection written to `out`.
fn route_error(hd: &mut RouterHandle, e: RouteError) -> i32 {
    let events = hd.router.adaptive().pending_events() as f64;
    let out = out_of(hd);
    out[OUT_EVENTS] = events;
    match e {
        RouteError::NoHealthyModel { retry_after_ms } => out[OUT_UNTIL] = retry_after_ms,
        RouteError::NoModelFitsWindow { required_tokens } => out[OUT_UNTIL] = required_tokens,
        RouteError::BudgetExceeded {
            budget,
            resets_at_ms,
        } => {
            out[OUT_UNTIL] = resets_at_ms;
            out[OUT_A] = budget as f64;
        }
        _ => {}
    }
    route_error_status(e)
}

/// Adaptive: the live pick for routing-cache entry `id`, which the layer served from its
/// key memo (the hit itself is replayed with `routerReplayHits`). Reads `now`, the retry
/// fields and the outcome count from `out` like a routing call; `ENTRY_GONE` when the
/// entry is gone or outdated.
#[napi(catch_unwind)]
pub fn router_pick_cached(
    h: &Handle,
    id: f64,
    session_id: Option<String>,
    budget_key: Option<String>,
) -> Result<i32> {
    let started = Instant::now();
    let mut hd = h.borrow_mut();
    let hd = &mut *hd;
    apply_outcomes(hd)?;
    let (now, retry) = {
        let out = out_of(hd);
        (out[OUT_NOW], retry_info(out))
    };
    let retry = RetryInfo {
        session: session_id.as_deref(),
        budget_key: budget_key.as_deref(),
        ..retry
    };
    let id = id as u64;
    if !hd.router.cached_entry_current(id) {
        return Ok(ENTRY_GONE);
    }
    match hd.router.pick_cached(id, retry, now) {
        Ok(d) => {
            // the routing time is recorded with the replayed hit
            finish(hd, &d, started, now, false);
            sync_live(hd);
            sync_capacity(hd);
            Ok(OK)
        }
        Err(e) => {
            sync_live(hd);
            sync_capacity(hd);
            Ok(route_error(hd, e))
        }
    }
}

/// Adaptive: the ranked candidates of routing-cache entry `id`, as model indices (empty
/// when the entry is gone or outdated).
#[napi(catch_unwind)]
pub fn router_ranked(h: &Handle, id: f64) -> Vec<u32> {
    h.borrow().router.cached_candidates(id as u64).to_vec()
}

/// Routes one context in full. `token_budget` is NaN when absent; `capabilities_json` and
/// `custom_rules_json` are JSON arrays of strings, or null; `session_id`: the context's
/// `sessionId` (adaptive affinity), or null.
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn router_select(
    h: &Handle,
    task: JsString,
    user_tier: u32,
    priority_code: u32,
    latency_requirement: f64,
    token_budget: f64,
    capabilities_json: Option<String>,
    custom_rules_json: Option<String>,
    session_id: Option<String>,
    budget_key: Option<String>,
) -> Result<i32> {
    let started = Instant::now();
    let capabilities = parse_strings(capabilities_json, "context.capabilities")?;
    let custom = parse_strings(custom_rules_json, "rules")?.unwrap_or_default();
    let budget = (!token_budget.is_nan()).then_some(token_budget);
    let fields = (
        tier(user_tier)?,
        priority(priority_code)?,
        latency_requirement,
        budget,
    );
    select_into(
        h,
        &task,
        fields,
        (
            capabilities.as_deref(),
            &custom,
            session_id.as_deref(),
            budget_key.as_deref(),
        ),
        started,
    )
}

/// `routerSelect` for the common context: no budget, no capabilities, no custom rules.
/// The caller writes tier · 4 + priority to `out[0]` and the latency requirement to
/// `out[1]` first: two fewer arguments, each of which costs a conversion.
#[napi(catch_unwind)]
pub fn router_select_plain(h: &Handle, task: JsString) -> Result<i32> {
    let started = Instant::now();
    let (slot, latency_requirement) = {
        let mut hd = h.borrow_mut();
        let out = out_of(&mut hd);
        (out[0], out[1])
    };
    // the drop-in layer writes a small integer; anything else is a caller bug, not a slot
    if !((0.0..16.0).contains(&slot) && (slot as u32) as f64 == slot) {
        return Err(invalid_arg(format!(
            "out[0] must be a tier/priority slot, got {slot}"
        )));
    }
    let slot = slot as u32;
    let fields = (
        tier(slot / 4)?,
        priority(slot % 4)?,
        latency_requirement,
        None,
    );
    select_into(h, &task, fields, (None, &[], None, None), started)
}

/// The optional parts of a routed context: capabilities, matched custom rules, `sessionId`,
/// `budgetKey`.
type ContextExtras<'a> = (
    Option<&'a [String]>,
    &'a [String],
    Option<&'a str>,
    Option<&'a str>,
);

fn select_into(
    h: &Handle,
    task: &JsString,
    (user_tier, priority, latency_requirement, token_budget): (Tier, Priority, f64, Option<f64>),
    (capabilities, custom, session, budget_key): ContextExtras<'_>,
    started: Instant,
) -> Result<i32> {
    let mut hd = h.borrow_mut();
    let hd = &mut *hd;
    apply_outcomes(hd)?;
    let (now, retry) = {
        let out = out_of(hd);
        (out[OUT_NOW], retry_info(out))
    };
    let evictions = hd.router.cache().evictions();
    let result = {
        let task = read_task(task, &mut hd.scratch)?;
        let ctx = RoutingContext {
            task,
            user_tier,
            priority,
            latency_requirement,
            token_budget,
            capabilities,
            matched_custom_rules: custom,
        };
        let retry = RetryInfo {
            session,
            budget_key,
            ..retry
        };
        hd.router.select_with(&ctx, retry, now)
    };
    hd.scratch.release_large();
    sync_live(hd);
    sync_capacity(hd);
    match result {
        Ok(d) => {
            finish(hd, &d, started, now, true);
            if hd.router.cache().evictions() != evictions {
                out_of(hd)[OUT_FLAGS] += FLAG_EVICTED;
            }
            Ok(OK)
        }
        Err(e) => Ok(route_error(hd, e)),
    }
}

/// Adaptive: what `routerSelect` would decide for the context, without changing anything
/// (see `Router::explain`). The decision (or the error's wait / required tokens) is written
/// to `out` as a routing call writes it; returns JSON `{status, requiredTokens, candidates:
/// [{index, excludedBy, untilMs, rank, score: {total, latency, complexity, reliability,
/// cost}, state, latencyEstimateMs, inFlight, meetsDeadline}]}` with every model in Map
/// order. Arguments as `routerSelect`.
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn router_explain(
    h: &Handle,
    task: JsString,
    user_tier: u32,
    priority_code: u32,
    latency_requirement: f64,
    token_budget: f64,
    capabilities_json: Option<String>,
    custom_rules_json: Option<String>,
    session_id: Option<String>,
    budget_key: Option<String>,
) -> Result<String> {
    let capabilities = parse_strings(capabilities_json, "context.capabilities")?;
    let custom = parse_strings(custom_rules_json, "rules")?.unwrap_or_default();
    let user_tier = tier(user_tier)?;
    let priority = priority(priority_code)?;
    let mut hd = h.borrow_mut();
    let hd = &mut *hd;
    apply_outcomes(hd)?;
    let (now, retry) = {
        let out = out_of(hd);
        (out[OUT_NOW], retry_info(out))
    };
    let e = {
        let task = read_task(&task, &mut hd.scratch)?;
        let ctx = RoutingContext {
            task,
            user_tier,
            priority,
            latency_requirement,
            token_budget: (!token_budget.is_nan()).then_some(token_budget),
            capabilities: capabilities.as_deref(),
            matched_custom_rules: &custom,
        };
        let retry = RetryInfo {
            session: session_id.as_deref(),
            budget_key: budget_key.as_deref(),
            ..retry
        };
        hd.router.explain(&ctx, retry, now)
    };
    sync_live(hd);
    sync_capacity(hd);
    let status = match e.decision {
        Ok(d) => {
            write_decision(&d, 0.0, false, out_of(hd));
            OK
        }
        Err(err) => route_error(hd, err),
    };
    let candidates: Vec<serde_json::Value> = e
        .candidates
        .iter()
        .map(|c| {
            let (excluded_by, until) = match c.excluded {
                None => (None, None),
                Some(x) => match x {
                    Exclusion::Tier => (Some("tier"), None),
                    Exclusion::Unavailable => (Some("unavailable"), None),
                    Exclusion::ContextWindow => (Some("context_window"), None),
                    Exclusion::LegacyFilter => (Some("legacy_filter"), None),
                    Exclusion::Quota { until_ms } => (Some("quota"), Some(until_ms)),
                    Exclusion::RateLimited { until_ms } => (Some("rate_limited"), Some(until_ms)),
                    Exclusion::Ejected { until_ms } => (Some("ejected"), Some(until_ms)),
                    Exclusion::Probing => (Some("probing"), None),
                    Exclusion::AuthFailed => (Some("auth_failed"), None),
                },
            };
            serde_json::json!({
                "index": c.index,
                "excludedBy": excluded_by,
                // infinity is not JSON: an open-ended exclusion has no until
                "untilMs": until.filter(|u: &f64| u.is_finite()),
                "rank": c.rank,
                "score": {
                    "total": c.score.total,
                    "latency": c.score.latency,
                    "complexity": c.score.complexity,
                    "reliability": c.score.reliability,
                    "cost": c.score.cost,
                },
                "state": c.state.as_str(),
                "latencyEstimateMs": c.latency_estimate_ms,
                "inFlight": c.in_flight,
                "meetsDeadline": c.meets_deadline,
                "sessionModel": c.session_model,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "status": status,
        "requiredTokens": e.required_tokens,
        "candidates": candidates,
    })
    .to_string())
}

/// Sets a spending budget: `scope` "global", "model" or "key" (`name` the model or key);
/// returns its index (budgets keep the index they were first set with), or -1 when too
/// many are set. Validated by the drop-in layer.
#[napi(catch_unwind)]
pub fn router_set_budget(
    h: &Handle,
    scope: String,
    name: Option<String>,
    limit: f64,
    window_ms: f64,
    now: f64,
) -> Result<i32> {
    let scope = match (scope.as_str(), name) {
        ("global", _) => Scope::Global,
        ("model", Some(n)) => Scope::Model(n),
        ("key", Some(n)) => Scope::Key(n),
        _ => return Err(invalid_arg(format!("budget scope: {scope:?}"))),
    };
    let mut hd = h.borrow_mut();
    let i = hd
        .router
        .set_budget(scope, limit.max(0.0), window_ms.max(1.0), now)
        .map_or(-1, |i| i as i32);
    distrust_capacity(&mut hd);
    Ok(i)
}

/// Every budget at `now`, in index order: JSON `[{scope, name, limit, windowMs, spent,
/// remaining, resetsAtMs}]` (spent includes reservations awaiting their outcome).
#[napi(catch_unwind)]
pub fn router_get_budgets(h: &Handle, now: f64) -> Result<String> {
    let mut hd = h.borrow_mut();
    apply_outcomes(&mut hd)?;
    let list: Vec<serde_json::Value> = hd
        .router
        .budgets()
        .budgets()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let (scope, name) = match &b.scope {
                Scope::Global => ("global", None),
                Scope::Model(n) => ("model", Some(n.as_str())),
                Scope::Key(n) => ("key", Some(n.as_str())),
            };
            // in fleet mode the fleet's spend, where known
            let spent = hd.router.budgets().spent(i, now);
            serde_json::json!({
                "scope": scope,
                "name": name,
                "limit": b.limit,
                "windowMs": b.window_ms,
                "spent": spent,
                "remaining": (b.limit - spent).max(0.0),
                "resetsAtMs": b.resets_at(now),
            })
        })
        .collect();
    Ok(serde_json::Value::Array(list).to_string())
}

/// What a fallback must leave room for under the adaptive strategy (`None`: no check): the
/// request's `task`, `token_budget` (NaN: none), the caller's input estimate (NaN: the
/// router's own), `budget_key` and `now`.
fn fallback_need<'a>(
    router: &Router,
    task: Option<&str>,
    token_budget: Option<f64>,
    input_tokens: Option<f64>,
    budget_key: Option<&'a str>,
    now: Option<f64>,
) -> Option<router_core::CapacityNeed<'a>> {
    if router.options().strategy != Strategy::Adaptive {
        return None;
    }
    let (task, now) = (task?, now?);
    let given = |v: Option<f64>| v.filter(|x| !x.is_nan());
    Some(router.capacity_need(
        task,
        given(token_budget),
        given(input_tokens),
        budget_key,
        now,
    ))
}

/// Steps 5/9 fallback for `user_tier`: a model index, or a negative status (its details in
/// `out`). Adaptive, with the request's `task` and `now`: only a model with room for it.
#[napi(catch_unwind)]
pub fn router_tier_fallback(
    h: &Handle,
    user_tier: u32,
    task: Option<String>,
    token_budget: Option<f64>,
    input_tokens: Option<f64>,
    budget_key: Option<String>,
    now: Option<f64>,
) -> Result<i32> {
    let t = tier(user_tier)?;
    let mut hd = h.borrow_mut();
    let hd = &mut *hd;
    let need = fallback_need(
        &hd.router,
        task.as_deref(),
        token_budget,
        input_tokens,
        budget_key.as_deref(),
        now,
    );
    let r = hd.router.tier_fallback_within(t, need.as_ref());
    Ok(match r {
        Ok(i) => i as i32,
        Err(e) => route_error(hd, e),
    })
}

/// `selectFallbackModel`: a model index, or a negative status (its details in `out`).
/// Adaptive, with the request's `task` and `now`: only a model with room for it, and the
/// decision reserves that room as a routing call's does.
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn router_select_fallback(
    h: &Handle,
    original_model: String,
    user_tier: u32,
    task: Option<String>,
    token_budget: Option<f64>,
    input_tokens: Option<f64>,
    budget_key: Option<String>,
    now: Option<f64>,
) -> Result<i32> {
    let t = tier(user_tier)?;
    let mut hd = h.borrow_mut();
    let hd = &mut *hd;
    let need = fallback_need(
        &hd.router,
        task.as_deref(),
        token_budget,
        input_tokens,
        budget_key.as_deref(),
        now,
    );
    let r = hd
        .router
        .select_fallback_within(&original_model, t, need.as_ref());
    Ok(match r {
        Ok(i) => {
            if let Some(n) = need {
                hd.router.reserve_fallback(i, &n);
            }
            i as i32
        }
        Err(e) => route_error(hd, e),
    })
}

/// Writes [average, max, p95, samples, cache hit rate] of the routing-time window to the
/// handle's `out` (the array handed over at creation).
#[napi(catch_unwind)]
pub fn router_routing_performance(h: &Handle) {
    let mut hd = h.borrow_mut();
    let p = hd.router.routing_performance();
    let out = out_of(&mut hd);
    out[PERF_AVERAGE] = p.window.average;
    out[PERF_MAX] = p.window.max;
    out[PERF_P95] = p.window.p95;
    out[PERF_SAMPLES] = p.window.len as f64;
    out[PERF_HIT_RATE] = p.cache_hit_rate;
}

/// True when the availability changed (a first sighting counts).
#[napi(catch_unwind)]
pub fn router_set_availability(h: &Handle, model_name: String, available: bool) -> bool {
    let mut hd = h.borrow_mut();
    let changed = hd.router.set_availability(&model_name, available);
    sync_live(&mut hd);
    changed
}

/// Registers a model name for `routerRecordPerformanceBatch`; returns its id.
#[napi(catch_unwind)]
pub fn router_register_name(h: &Handle, model_name: String) -> u32 {
    let mut hd = h.borrow_mut();
    hd.names.push(model_name);
    sync_live(&mut hd);
    let at = CAP_NAMES + CAP_STRIDE * (hd.names.len() - 1);
    if let Some(row) = capacity_of(&mut hd).and_then(|c| c.get_mut(at..at + CAP_STRIDE)) {
        row.copy_from_slice(&CAP_NO_ROOM); // until the next sync (decisions may await replay)
    }
    (hd.names.len() - 1) as u32
}

/// Forgets the registered names (the drop-in layer bounds its name table).
#[napi(catch_unwind)]
pub fn router_reset_names(h: &Handle) {
    let mut hd = h.borrow_mut();
    hd.names.clear();
    let empty = live_empty();
    for row in live_of(&mut hd)[LIVE_HEAD..].chunks_exact_mut(LIVE_STRIDE) {
        row.copy_from_slice(&empty);
    }
    distrust_capacity(&mut hd);
}

/// Applies the `n` outcomes buffered by the drop-in layer (see `OUTCOME_LEN`), in order;
/// returns how many health events wait to be taken.
#[napi(catch_unwind)]
pub fn router_record_outcomes(h: &Handle, n: u32) -> Result<u32> {
    let mut hd = h.borrow_mut();
    let hd = &mut *hd;
    apply_outcome_records(hd, n as usize)?;
    sync_live(hd);
    sync_capacity(hd);
    Ok(hd.router.adaptive().pending_events() as u32)
}

/// Applies the time-driven health transitions due at `now` (cooldowns over, probes
/// lost); returns how many health events wait to be taken.
#[napi(catch_unwind)]
pub fn router_refresh_health(h: &Handle, now: f64) -> u32 {
    let mut hd = h.borrow_mut();
    hd.router.adaptive_mut().refresh_all(now);
    sync_live(&mut hd);
    hd.router.adaptive().pending_events() as u32
}

/// The health events since the last call, as a JSON array of `{modelName, from, to,
/// reason, untilMs}` (`untilMs` null when the state has no set end).
#[napi(catch_unwind)]
pub fn router_take_health_events(h: &Handle) -> Result<String> {
    let events = h.borrow_mut().router.adaptive_mut().take_events();
    let doc: Vec<_> = events
        .iter()
        .map(|e| {
            let t = e.transition;
            serde_json::json!({
                "modelName": e.model_name,
                "from": t.from.as_str(),
                "to": t.to.as_str(),
                "reason": t.reason.as_str(),
                "untilMs": t.until_ms,
            })
        })
        .collect();
    serde_json::to_string(&doc).map_err(|e| coded("ERR_NATIVE", e))
}

/// `getModelHealth()` at `now`: a JSON array, the model set's models first (Map order),
/// then other names outcomes were reported for.
#[napi(catch_unwind)]
pub fn router_model_health(h: &Handle, now: f64) -> Result<String> {
    let mut hd = h.borrow_mut();
    hd.router.adaptive_mut().refresh_all(now);
    sync_live(&mut hd);
    let r = &hd.router;
    let a = r.adaptive();
    let decay = a.config.latency_decay_ms;
    let mut names: Vec<(&str, f64)> = r
        .models()
        .iter()
        .map(|(_, m)| (m.name.as_str(), m.latency_target))
        .collect();
    let mut others: Vec<&str> = a
        .names()
        .filter(|n| r.models().index_of(n).is_none())
        .collect();
    others.sort_unstable();
    names.extend(others.into_iter().map(|n| (n, f64::NAN)));
    let doc: Vec<_> = names
        .into_iter()
        .map(|(name, target)| {
            let s = a.get(name);
            let health = s.map(|s| &s.health);
            let prior = if target.is_nan() { 0.0 } else { target };
            serde_json::json!({
                "modelName": name,
                "state": health.map_or("healthy", |h| h.state().as_str()),
                "untilMs": health.and_then(|h| h.until_ms()),
                "reason": health.and_then(|h| h.reason()).map(|r| r.as_str()),
                "latencyEstimateMs": s.map_or(prior, |s| s.latency_estimate(now, prior, decay)),
                "inFlight": s.map_or(0, |s| s.in_flight()),
                "ejections": health.map_or(0, |h| h.total_ejections()),
                "consecutiveFailures": health.map_or(0, |h| h.consecutive_failures()),
                "available": r.is_available(name),
            })
        })
        .collect();
    serde_json::to_string(&doc).map_err(|e| coded("ERR_NATIVE", e))
}

/// One model's performance record as JSON (`null` when none).
#[napi(catch_unwind)]
pub fn router_performance_of(h: &Handle, model_name: String) -> Result<String> {
    let hd = h.borrow();
    serde_json::to_string(&hd.router.performance().get(&model_name))
        .map_err(|e| coded("ERR_NATIVE", e))
}

/// Everything the rarely-called getters need, as one JSON document.
#[napi(catch_unwind)]
pub fn router_snapshot(h: &Handle) -> Result<String> {
    let hd = h.borrow();
    let r = &hd.router;
    let (total, available, unavailable) = r.availability_counts();
    let w = r.weights();
    let usage: Vec<(&str, u64)> = r.usage().iter().collect();
    let perf: Vec<_> = r.performance().all().collect();
    let models: Vec<&str> = r.models().iter().map(|(_, m)| m.name.as_str()).collect();
    let doc = serde_json::json!({
        "availability": { "total": total, "available": available, "unavailable": unavailable },
        "cache": { "size": r.cache().len(), "hitRate": r.cache().hit_rate(), "limit": r.cache().capacity() },
        "usage": usage,
        "performance": perf,
        "models": models,
        "weights": { "latency": w.latency, "cost": w.cost, "reliability": w.reliability,
                     "userTier": w.user_tier, "complexity": w.complexity },
    });
    Ok(doc.to_string())
}

#[napi(catch_unwind)]
pub fn router_optimize(h: &Handle, recent_failures: f64, avg_latency: f64) {
    h.borrow_mut().router.optimize(recent_failures, avg_latency);
}

/// Adds or replaces a rule. A rule whose id is one of the seven defaults and whose
/// condition is the default's keeps the native condition (`builtin`).
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn router_add_rule(
    h: &Handle,
    id: String,
    name: String,
    model_preference_json: String,
    weight: f64,
    active: bool,
    builtin: bool,
) -> Result<bool> {
    let model_preference =
        parse_strings(Some(model_preference_json), "rule.modelPreference")?.unwrap_or_default();
    let condition = match (builtin, BuiltinRule::from_id(&id)) {
        (true, Some(b)) => Condition::Builtin(b),
        _ => Condition::Custom,
    };
    Ok(h.borrow_mut().router.add_rule(Rule {
        id,
        name,
        condition,
        model_preference,
        weight,
        active,
    }))
}

#[napi(catch_unwind)]
pub fn router_remove_rule(h: &Handle, id: String) -> bool {
    h.borrow_mut().router.remove_rule(&id)
}

/// Evaluates one of the seven default rule conditions (what `getRules()[i].condition`
/// calls for a default rule).
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn router_builtin_rule_matches(
    rule_id: String,
    task: String,
    user_tier: u32,
    priority_code: u32,
    latency_requirement: f64,
    token_budget: f64,
    capabilities_json: Option<String>,
) -> Result<bool> {
    let rule = BuiltinRule::from_id(&rule_id)
        .ok_or_else(|| invalid_arg(format!("not a default rule: {rule_id:?}")))?;
    let capabilities = parse_strings(capabilities_json, "context.capabilities")?;
    let ctx = RoutingContext {
        task: task.as_str().into(),
        user_tier: tier(user_tier)?,
        priority: priority(priority_code)?,
        latency_requirement,
        token_budget: (!token_budget.is_nan()).then_some(token_budget),
        capabilities: capabilities.as_deref(),
        matched_custom_rules: &[],
    };
    Ok(rule.matches(&ctx))
}

/// Drops routing-cache entries expired at `now` (called from an unref'd timer).
#[napi(catch_unwind)]
pub fn router_purge_expired(h: &Handle, now: f64) -> u32 {
    h.borrow_mut().router.purge_expired(now) as u32
}

/// Releases the cache and model set (`shutdown()`).
#[napi(catch_unwind)]
pub fn router_clear(h: &Handle) {
    h.borrow_mut().router.clear();
}

/// One of the seven default rules, as `getRules()` lists it (its condition is native).
#[napi(object)]
pub struct DefaultRule {
    pub id: String,
    pub name: String,
    pub model_preference: Vec<String>,
    pub weight: f64,
    pub active: bool,
}

/// The default rules every router starts with, in order: the drop-in layer's list is this one.
#[napi(catch_unwind)]
pub fn router_default_rules() -> Vec<DefaultRule> {
    BuiltinRule::ALL
        .into_iter()
        .map(|r| {
            let rule = Rule::builtin(r);
            DefaultRule {
                id: rule.id,
                name: rule.name,
                model_preference: rule.model_preference,
                weight: rule.weight,
                active: rule.active,
            }
        })
        .collect()
}
