//! The numbers shared by the router's binding and its drop-in layer: status codes, the
//! slots of the `out` array, decision kinds and flags, and the record sizes of the outcome
//! buffer, the replay log and the `live` array. Defined once, here; the binding uses the
//! constants and `routerLayout()` hands every one of them to `ts/router-layout.ts`, which
//! reads them once when the package loads.
//!
//! Exported at run time rather than generated into a TypeScript file at build time: the
//! layer then always reads the numbers of the addon it actually loaded (a generated file
//! could be stale when only one side was rebuilt), and a name the addon lacks fails at load.

use std::collections::HashMap;

use napi_derive::napi;

/// Defines each constant and `ALL`, the list `routerLayout()` exports (name, value).
macro_rules! layout {
    ($($(#[$m:meta])* $name:ident: $ty:ty = $value:expr;)*) => {
        $($(#[$m])* pub const $name: $ty = $value;)*
        /// Every constant of the layout, by name.
        #[allow(clippy::unnecessary_cast)]
        pub const ALL: &[(&str, f64)] = &[$((stringify!($name), $name as f64)),*];
    };
}

layout! {
    // Status codes of a routing call (the decision itself is written to `out`).
    /// The call routed; the decision is in `out`.
    OK: i32 = 0;
    NO_MODELS: i32 = -1;
    NO_ELIGIBLE_MODEL: i32 = -2;
    /// Adaptive, `whenNoneHealthy: "reject"`: `out[OUT_UNTIL]` holds the wait in ms.
    NO_HEALTHY_MODEL: i32 = -3;
    /// `routerPickCached`: the entry is gone or outdated; route in full.
    ENTRY_GONE: i32 = -4;
    /// Adaptive: no context window holds the request; `out[OUT_UNTIL]` holds the tokens it needs.
    NO_MODEL_FITS_WINDOW: i32 = -5;
    /// Adaptive: every candidate would exceed budget `out[OUT_A]` (an index in the order
    /// budgets were first set), which resets at `out[OUT_UNTIL]`.
    BUDGET_EXCEEDED: i32 = -6;

    // `out`, written by routing calls.
    /// Numbers in `out`.
    OUT_LEN: usize = 20;
    /// The chosen model's index in the Map.
    OUT_MODEL: usize = 0;
    OUT_CONFIDENCE: usize = 1;
    /// A `KIND_*`.
    OUT_KIND: usize = 2;
    /// The kind's first number: latency score (scored), score (balanced), predicted ms (adaptive).
    OUT_A: usize = 3;
    /// The kind's second number: complexity score (scored), calls in flight (adaptive).
    OUT_B: usize = 4;
    /// Milliseconds spent deciding.
    OUT_ROUTING_MS: usize = 5;
    /// The routing-cache entry's id (-1: none).
    OUT_CACHE_ID: usize = 6;
    /// The sum of the `FLAG_*` that hold.
    OUT_FLAGS: usize = 7;
    /// Milliseconds the routing-cache entry stays fresh.
    OUT_FRESH_MS: usize = 8;
    /// Adaptive: the decision's id (its calls in flight end with its outcome).
    OUT_DECISION_ID: usize = 9;
    /// Adaptive: how the live pick was made (a `PICK_*`).
    OUT_PICK: usize = 10;
    /// Until when the closest pick clears, or an error's wait / required tokens / reset time.
    OUT_UNTIL: usize = 11;
    /// Health events waiting to be taken.
    OUT_EVENTS: usize = 12;
    // `out`, written by the layer before a routing call and read by it.
    /// The router's clock (ms).
    OUT_NOW: usize = 13;
    /// A retry's previous model index (-1: none).
    OUT_PREVIOUS: usize = 14;
    /// 1: a retry, 0: a first attempt.
    OUT_RETRY: usize = 15;
    /// Outcomes buffered, to apply first.
    OUT_OUTCOMES: usize = 16;
    /// The caller's input-token estimate (NaN: the router's own).
    OUT_INPUT_TOKENS: usize = 17;
    /// The model index the layer's session table holds for the request's session (-1: none).
    OUT_SESSION_MODEL: usize = 18;
    /// The home model index the layer's session table holds for the request's session (-1:
    /// none, or it left the model set).
    OUT_SESSION_HOME: usize = 19;
    /// `routerSelectPlain`'s inputs, written by the layer over the decision slots:
    /// tier · 4 + priority, and the latency requirement.
    IN_SLOT: usize = 0;
    IN_LATENCY: usize = 1;
    /// `routerRoutingPerformance`'s output, over the decision slots: the routing-time
    /// window's average, max, p95 and samples, and the cache hit rate.
    PERF_AVERAGE: usize = 0;
    PERF_MAX: usize = 1;
    PERF_P95: usize = 2;
    PERF_SAMPLES: usize = 3;
    PERF_HIT_RATE: usize = 4;

    // `out[OUT_KIND]`.
    KIND_CACHE_HIT: f64 = 0.0;
    KIND_SCORED: f64 = 1.0;
    KIND_BALANCED: f64 = 2.0;
    KIND_NO_CANDIDATES: f64 = 3.0;
    KIND_ADAPTIVE: f64 = 4.0;

    // `out[OUT_PICK]`, adaptive.
    /// The best-ranked healthy model.
    PICK_PREFERRED: f64 = 0.0;
    /// Load-balanced among the healthy candidates.
    PICK_BALANCED: f64 = 1.0;
    /// A probe of a model whose cooldown ended.
    PICK_PROBE: f64 = 2.0;
    /// None healthy: the one that clears soonest (`out[OUT_UNTIL]`: when).
    PICK_CLOSEST: f64 = 3.0;
    /// The session's model.
    PICK_AFFINITY: f64 = 4.0;

    // `out[OUT_FLAGS]`.
    /// `performance_metrics` is due.
    FLAG_METRICS_DUE: f64 = 1.0;
    /// Slower than the 75 ms target.
    FLAG_SLOW: f64 = 2.0;
    /// The routing cache evicted entries: the layer's key memo is stale.
    FLAG_EVICTED: f64 = 4.0;
    /// The adaptive candidates came from the routing cache.
    FLAG_FROM_CACHE: f64 = 8.0;

    // A buffered outcome (the outcome buffer holds records of `OUTCOME_LEN` numbers).
    OUTCOME_LEN: usize = 12;
    /// The model's name id (`routerRegisterName`).
    OUTCOME_NAME_ID: usize = 0;
    OUTCOME_LATENCY: usize = 1;
    /// 1 success, 0 failure, -1 not a performance sample (a caller error).
    OUTCOME_SUCCESS: usize = 2;
    OUTCOME_COST: usize = 3;
    /// Output and total tokens (NaN: none).
    OUTCOME_OUTPUT_TOKENS: usize = 4;
    OUTCOME_TOTAL_TOKENS: usize = 5;
    /// Wall-clock ms (the performance record's `lastUsed`).
    OUTCOME_EPOCH_MS: usize = 6;
    /// The decision it ends (-1: reported by model name).
    OUTCOME_DECISION_ID: usize = 7;
    /// The outcome class's code.
    OUTCOME_CLASS: usize = 8;
    /// Retry-After ms (NaN: none).
    OUTCOME_RETRY_AFTER: usize = 9;
    /// The router's clock (ms).
    OUTCOME_NOW: usize = 10;
    /// The cost the caller reported (NaN: none).
    OUTCOME_REPORTED_COST: usize = 11;

    // A replayed memo hit (the replay log holds records of `REPLAY_LEN` numbers); the last
    // five describe an adaptive decision made by the layer.
    REPLAY_LEN: usize = 7;
    /// The routing-cache entry's id.
    REPLAY_ENTRY: usize = 0;
    REPLAY_ROUTING_MS: usize = 1;
    /// The model index picked by the layer (-1: a legacy hit, or a pick Rust made).
    REPLAY_MODEL: usize = 2;
    REPLAY_DECISION_ID: usize = 3;
    REPLAY_NOW: usize = 4;
    /// The budget index of the request's `budgetKey` (-1: none).
    REPLAY_KEY_BUDGET: usize = 5;
    /// The tokens the decision reserved (on its model's quota, and priced on budgets).
    REPLAY_TOKENS: usize = 6;

    // `capacity`: per budget index [spent in its current period, limit] from 0, then per
    // registered name id `CAP_STRIDE` numbers from `CAP_NAMES + CAP_STRIDE · id`: requests
    // its quota still admits, tokens its window holds, its tpm (infinity: no such quota).
    CAP_NAMES: usize = 2 * router_core::budget::MAX_BUDGETS;
    CAP_STRIDE: usize = 3;
    CAP_SPENT: usize = 0;
    CAP_LIMIT: usize = 1;
    CAP_REQUESTS: usize = 0;
    CAP_HELD: usize = 1;
    CAP_TPM: usize = 2;

    // `live`: [next decision id, earliest time-driven change (ms), then per registered name
    // id `LIVE_STRIDE` numbers from `LIVE_HEAD + LIVE_STRIDE · id`].
    LIVE_NEXT_ID: usize = 0;
    LIVE_NEXT_CHANGE: usize = 1;
    LIVE_HEAD: usize = 2;
    LIVE_STRIDE: usize = 6;
    /// Offsets in a name's row: a `STATE_*`, the last latency estimate (0: no sample), when
    /// its `late_calls`-th oldest call in flight was decided (infinity: none), its calls in
    /// flight, when its `SLOW_EVIDENCE`-th oldest call in flight was decided (infinity: none;
    /// the age the slowness test reads), and when its latest-decided call that was answered
    /// within `late_factor` × target was decided (negative infinity: none; late calls decided
    /// no later do not count).
    LIVE_STATE: usize = 0;
    LIVE_ESTIMATE: usize = 1;
    LIVE_LATE: usize = 2;
    LIVE_IN_FLIGHT: usize = 3;
    LIVE_EVIDENCE: usize = 4;
    LIVE_QUICK: usize = 5;
    /// How many calls out for long it takes to call a model slow (one alone is its tail).
    SLOW_EVIDENCE: usize = router_core::adaptive::SLOW_EVIDENCE;
    STATE_HEALTHY: f64 = 0.0;
    STATE_RATE_LIMITED: f64 = 1.0;
    STATE_EJECTED: f64 = 2.0;
    STATE_PROBING: f64 = 3.0;
    STATE_AUTH_FAILED: f64 = 4.0;
}

// Checked when the crate compiles: every slot lies within its array or row.
const _: () = {
    let out = [
        OUT_MODEL,
        OUT_CONFIDENCE,
        OUT_KIND,
        OUT_A,
        OUT_B,
        OUT_ROUTING_MS,
        OUT_CACHE_ID,
        OUT_FLAGS,
        OUT_FRESH_MS,
        OUT_DECISION_ID,
        OUT_PICK,
        OUT_UNTIL,
        OUT_EVENTS,
        OUT_NOW,
        OUT_PREVIOUS,
        OUT_RETRY,
        OUT_OUTCOMES,
        OUT_INPUT_TOKENS,
        OUT_SESSION_MODEL,
        OUT_SESSION_HOME,
    ];
    let mut i = 0;
    while i < out.len() {
        assert!(out[i] < OUT_LEN);
        i += 1;
    }
    let row = [
        LIVE_STATE,
        LIVE_ESTIMATE,
        LIVE_LATE,
        LIVE_IN_FLIGHT,
        LIVE_EVIDENCE,
        LIVE_QUICK,
    ];
    let mut i = 0;
    while i < row.len() {
        assert!(row[i] < LIVE_STRIDE);
        i += 1;
    }
    assert!(LIVE_NEXT_ID < LIVE_HEAD && LIVE_NEXT_CHANGE < LIVE_HEAD);
};

/// Every constant of the router's layout by name, for the drop-in layer to read once.
#[napi(catch_unwind)]
pub fn router_layout() -> HashMap<String, f64> {
    ALL.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = ALL.iter().map(|&(k, _)| k).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
