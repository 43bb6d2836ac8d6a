//! N-API binding of `router-core`. Free functions over an `External` handle (a class
//! method call costs ~0.65 µs here, a function with a handle and numbers ~0.3 µs).
//! Decisions come back as numbers in a `Float64Array` (`out`) that the drop-in layer hands
//! over once, at creation, and the handle keeps (a typed-array argument per call costs a
//! conversion), so the hot path creates no JS objects or strings on the native side;
//! `ts/model-router.ts` turns them into the legacy `RoutingDecision`.

use std::cell::RefCell;
use std::time::Instant;

use napi::bindgen_prelude::*;
use napi::{sys, JsString, JsValue};
use napi_derive::napi;
use router_core::performance::Outcome;
use router_core::rules::{BuiltinRule, Condition, Rule};
use router_core::{
    Decision, DecisionKind, ModelConfig, Priority, RouteError, Router, RouterOptions,
    RoutingContext, Strategy, Tier, TierPolicy,
};
use serde::Deserialize;

use crate::errors::{coded, invalid_arg};

pub struct RouterHandle {
    router: Router,
    /// Monotonic clock origin for the routing cache's TTL.
    epoch: Instant,
    /// Reused buffer for the task text (tasks reach 100 KB; see `read_task`).
    scratch: Vec<u8>,
    /// Model names by id, for batched `recordPerformance` (bounded by the drop-in layer).
    names: Vec<String>,
    /// Where routing calls write their decision (`OUT_LEN` numbers; see `write_decision`).
    /// Held by reference, so the array stays alive and in place while the handle lives.
    out: Float64Array,
}

/// Scratch kept between calls; a larger one is released after use.
const SCRATCH_KEEP: usize = 1 << 20;

/// Reads a JS string as UTF-8 into `scratch` with one conversion pass. (napi-rs's `String`
/// asks V8 for the UTF-8 length first, which walks the whole text once more.) The UTF-16
/// length is known in O(1), and UTF-8 needs at most 3 bytes per UTF-16 unit.
fn read_task<'a>(s: &JsString, scratch: &'a mut Vec<u8>) -> Result<&'a str> {
    let v = s.value();
    let mut units = 0usize;
    // SAFETY: plain N-API calls on the JS thread with a live value; the buffer has `cap` bytes.
    let status = unsafe {
        sys::napi_get_value_string_utf16(v.env, v.value, std::ptr::null_mut(), 0, &mut units)
    };
    if status != sys::Status::napi_ok {
        return Err(invalid_arg("context.task must be a string"));
    }
    let cap = units * 3 + 1;
    scratch.clear();
    scratch.reserve(cap);
    let mut written = 0usize;
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            v.env,
            v.value,
            scratch.as_mut_ptr().cast(),
            cap,
            &mut written,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(invalid_arg("context.task must be a string"));
    }
    // SAFETY: V8 wrote `written` bytes of well-formed UTF-8 (lone surrogates become U+FFFD),
    // so the validation pass of `from_utf8` is skipped.
    unsafe { scratch.set_len(written) };
    Ok(unsafe { std::str::from_utf8_unchecked(scratch) })
}

type Handle = External<RefCell<RouterHandle>>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct OptionsJson {
    strategy: Option<String>,
    tier_policy: Option<String>,
    seed: Option<f64>,
    cache_size: Option<f64>,
    cache_ttl_ms: Option<f64>,
}

/// Milliseconds from `epoch` to `at` (reuses a clock reading: clock reads cost ~50 ns
/// on these VMs, a noticeable share of a routing-cache hit).
fn ms_between(epoch: Instant, at: Instant) -> f64 {
    at.duration_since(epoch).as_secs_f64() * 1000.0
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
/// (validated by the drop-in layer; checked again here).
/// `out`: a `Float64Array` of length ≥ 9 that every routing call writes its decision to.
#[napi(catch_unwind)]
pub fn router_create(options_json: String, out: Float64Array) -> Result<Handle> {
    if out.len() < OUT_LEN {
        return Err(invalid_arg("out must be a Float64Array of length 9"));
    }
    let o: OptionsJson =
        serde_json::from_str(&options_json).map_err(|e| invalid_arg(format!("options: {e}")))?;
    let mut opts = RouterOptions::default();
    match o.strategy.as_deref() {
        None | Some("legacy") => {}
        Some("rules") => opts.strategy = Strategy::Rules,
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
    Ok(External::new(RefCell::new(RouterHandle {
        router: Router::new(opts),
        epoch: Instant::now(),
        scratch: Vec::new(),
        names: Vec::new(),
        out,
    })))
}

/// Replaces the model set: a JSON array of `{name, tier, capabilities, latencyTarget,
/// costPerToken, maxTokens}` in the Map's order. Secrets never cross: the drop-in layer
/// sends only these fields.
#[napi(catch_unwind)]
pub fn router_set_models(h: &Handle, models_json: String) -> Result<()> {
    let models: Vec<ModelConfig> = serde_json::from_str(&models_json)
        .map_err(|e| invalid_arg(format!("availableModels: {e}")))?;
    h.borrow_mut().router.set_models(models);
    Ok(())
}

/// Status codes of a routing call (the decision itself is written to `out`).
const OK: i32 = 0;
const NO_MODELS: i32 = -1;
const NO_ELIGIBLE_MODEL: i32 = -2;

/// `out` layout: [model index, confidence, kind, score a, score b, routing ms, cache id,
/// flags, ms the cache entry stays fresh]. kind: 0 cache hit, 1 scored (a = latency,
/// b = complexity), 2 balanced (a = score), 3 no candidates. flags: 1 = `performance_metrics`
/// due, 2 = slow (> 75 ms), 4 = the cache evicted entries (the layer's key memo is stale).
const OUT_LEN: usize = 9;

fn write_decision(d: &Decision, routing_ms: f64, metrics_due: bool, out: &mut [f64]) {
    let (kind, a, b) = match d.kind {
        DecisionKind::CacheHit => (0.0, 0.0, 0.0),
        DecisionKind::Scored {
            latency,
            complexity,
        } => (1.0, latency, complexity),
        DecisionKind::Balanced { score } => (2.0, score, 0.0),
        DecisionKind::NoCandidates => (3.0, 0.0, 0.0),
    };
    let slow = routing_ms > router_core::window::TARGET_MS;
    out[0] = d.model_index as f64;
    out[1] = d.confidence;
    out[2] = kind;
    out[3] = a;
    out[4] = b;
    out[5] = routing_ms;
    out[6] = d.cache_id.map_or(-1.0, |id| id as f64);
    out[7] = (metrics_due as u8 | ((slow as u8) << 1)) as f64;
}

fn out_of(hd: &mut RouterHandle) -> &mut [f64] {
    // SAFETY: the drop-in layer reads this array only between routing calls, on this
    // thread; the handle's reference keeps it alive (its length was checked at creation).
    unsafe { hd.out.as_mut() }
}

fn finish(hd: &mut RouterHandle, d: &Decision, started: Instant) {
    let routing_ms = started.elapsed().as_secs_f64() * 1000.0;
    // a no-candidates fallback is not recorded (legacy step 5)
    let due = d.kind != DecisionKind::NoCandidates && hd.router.record_routing_time(routing_ms);
    let remaining = d.cache_id.map_or(0.0, |id| {
        hd.router
            .cache()
            .remaining_ms(id, ms_between(hd.epoch, started))
    });
    let out = out_of(hd);
    write_decision(d, routing_ms, due, out);
    out[8] = remaining;
}

/// Replays hits the drop-in layer served from its key memo: `log` holds `n` pairs
/// (cache entry id, routing ms), in the order they were served.
#[napi(catch_unwind)]
pub fn router_replay_hits(h: &Handle, log: Float64ArraySlice, n: u32) -> Result<()> {
    let log = log.as_ref();
    let n = (n as usize).min(log.len() / 2);
    let mut hd = h.borrow_mut();
    for pair in log[..2 * n].chunks_exact(2) {
        hd.router.replay_hit(pair[0] as u64, pair[1]);
    }
    Ok(())
}

fn route_error_status(e: RouteError) -> i32 {
    match e {
        RouteError::NoModels => NO_MODELS,
        RouteError::NoEligibleModel => NO_ELIGIBLE_MODEL,
    }
}

/// Routes one context in full. `token_budget` is NaN when absent; `capabilities_json` and
/// `custom_rules_json` are JSON arrays of strings, or null.
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
    select_into(h, &task, fields, capabilities.as_deref(), &custom, started)
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
    select_into(h, &task, fields, None, &[], started)
}

fn select_into(
    h: &Handle,
    task: &JsString,
    (user_tier, priority, latency_requirement, token_budget): (Tier, Priority, f64, Option<f64>),
    capabilities: Option<&[String]>,
    custom: &[String],
    started: Instant,
) -> Result<i32> {
    let mut hd = h.borrow_mut();
    let now = ms_between(hd.epoch, started);
    let hd = &mut *hd;
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
        hd.router.select(&ctx, now)
    };
    if hd.scratch.capacity() > SCRATCH_KEEP {
        hd.scratch = Vec::new();
    }
    match result {
        Ok(d) => {
            finish(hd, &d, started);
            if hd.router.cache().evictions() != evictions {
                out_of(hd)[7] += 4.0;
            }
            Ok(OK)
        }
        Err(e) => Ok(route_error_status(e)),
    }
}

/// Steps 5/9 fallback for `user_tier`: a model index, or a negative status.
#[napi(catch_unwind)]
pub fn router_tier_fallback(h: &Handle, user_tier: u32) -> Result<i32> {
    let t = tier(user_tier)?;
    Ok(match h.borrow().router.tier_fallback(t) {
        Ok(i) => i as i32,
        Err(e) => route_error_status(e),
    })
}

/// `selectFallbackModel`: a model index, or a negative status.
#[napi(catch_unwind)]
pub fn router_select_fallback(h: &Handle, original_model: String, user_tier: u32) -> Result<i32> {
    let t = tier(user_tier)?;
    Ok(
        match h.borrow().router.select_fallback(&original_model, t) {
            Ok(i) => i as i32,
            Err(e) => route_error_status(e),
        },
    )
}

/// Writes [average, max, p95, samples, cache hit rate] of the routing-time window to the
/// handle's `out` (the array handed over at creation).
#[napi(catch_unwind)]
pub fn router_routing_performance(h: &Handle) {
    let mut hd = h.borrow_mut();
    let p = hd.router.routing_performance();
    let out = out_of(&mut hd);
    out[0] = p.window.average;
    out[1] = p.window.max;
    out[2] = p.window.p95;
    out[3] = p.window.len as f64;
    out[4] = p.cache_hit_rate;
}

/// True when the availability changed (a first sighting counts).
#[napi(catch_unwind)]
pub fn router_set_availability(h: &Handle, model_name: String, available: bool) -> bool {
    h.borrow_mut()
        .router
        .set_availability(&model_name, available)
}

/// Registers a model name for `routerRecordPerformanceBatch`; returns its id.
#[napi(catch_unwind)]
pub fn router_register_name(h: &Handle, model_name: String) -> u32 {
    let mut hd = h.borrow_mut();
    hd.names.push(model_name);
    (hd.names.len() - 1) as u32
}

/// Forgets the registered names (the drop-in layer bounds its name table).
#[napi(catch_unwind)]
pub fn router_reset_names(h: &Handle) {
    h.borrow_mut().names.clear();
}

/// Applies `n` outcomes buffered by the drop-in layer, in order. Each is 7 numbers:
/// [name id, latency ms, success (1/0), cost, output tokens, total tokens (NaN: none),
/// epoch ms when recorded].
#[napi(catch_unwind)]
pub fn router_record_performance_batch(h: &Handle, log: Float64ArraySlice, n: u32) -> Result<()> {
    let log = log.as_ref();
    let n = (n as usize).min(log.len() / 7);
    let mut hd = h.borrow_mut();
    let hd = &mut *hd;
    for r in log[..7 * n].chunks_exact(7) {
        let Some(name) = hd.names.get(r[0] as usize) else {
            return Err(invalid_arg(format!("unknown model name id {}", r[0])));
        };
        hd.router.record_performance(
            name,
            Outcome {
                latency_ms: r[1],
                success: r[2] != 0.0,
                cost: r[3],
                tokens: (!r[5].is_nan()).then_some((r[4], r[5])),
                now_epoch_ms: r[6],
            },
        );
    }
    Ok(())
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
        task: &task,
        user_tier: tier(user_tier)?,
        priority: priority(priority_code)?,
        latency_requirement,
        token_budget: (!token_budget.is_nan()).then_some(token_budget),
        capabilities: capabilities.as_deref(),
        matched_custom_rules: &[],
    };
    Ok(rule.matches(&ctx))
}

/// Drops expired routing-cache entries (called from an unref'd timer).
#[napi(catch_unwind)]
pub fn router_purge_expired(h: &Handle) -> u32 {
    let mut hd = h.borrow_mut();
    let now = ms_between(hd.epoch, Instant::now());
    hd.router.purge_expired(now) as u32
}

/// Releases the cache and model set (`shutdown()`).
#[napi(catch_unwind)]
pub fn router_clear(h: &Handle) {
    h.borrow_mut().router.clear();
}
