//! The router: routing cache → complexity analysis → candidates → score → decision, plus
//! fallbacks, availability, performance records and routing-time statistics.

use std::rc::Rc;

use ahash::AHashMap;

use crate::complexity::{self, Complexity};
use crate::context::RoutingContext;
use crate::model::{ModelConfig, ModelSet, Tier};
use crate::performance::{Outcome, PerformanceBook, UsageCounters, MAX_MODELS_TRACKED};
use crate::routing_cache::{CachedDecision, Lookup, RoutingCache};
use crate::rules::{self, Rule, RuleBook};
use crate::window::{RoutingTimes, WindowSummary};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The legacy algorithm: complexity → candidate filter → weighted score.
    Legacy,
    /// The roadmap pipeline: matching rules → five-factor score → load-balanced pick.
    Rules,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierPolicy {
    /// No decision names a model above the user's tier (the default).
    Strict,
    /// The legacy fallbacks, which may name any model of the Map.
    Legacy,
}

#[derive(Clone, Debug)]
pub struct RouterOptions {
    pub strategy: Strategy,
    pub tier_policy: TierPolicy,
    /// Seeds the load-balancing pick; `None` seeds from the OS.
    pub seed: Option<u64>,
    pub cache_size: usize,
    pub cache_ttl_ms: f64,
    /// Bound on the bytes of routing-cache keys (tasks can be large).
    pub cache_max_key_bytes: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            strategy: Strategy::Legacy,
            tier_policy: TierPolicy::Strict,
            seed: None,
            cache_size: 1000,
            cache_ttl_ms: 5.0 * 60.0 * 1000.0,
            cache_max_key_bytes: 64 << 20,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    pub latency: f64,
    pub cost: f64,
    pub reliability: f64,
    pub user_tier: f64,
    pub complexity: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            latency: 0.35,
            cost: 0.15,
            reliability: 0.25,
            user_tier: 0.15,
            complexity: 0.1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DecisionKind {
    /// Served from the routing cache (confidence 0.95, "LRU cache hit").
    CacheHit,
    /// Legacy strategy: best weighted score; the two scores feed the reason text.
    Scored { latency: f64, complexity: f64 },
    /// Rules strategy: load-balanced pick; `score` is its five-factor score.
    Balanced { score: f64 },
    /// No candidate passed the filter: tier fallback (confidence 0.3).
    NoCandidates,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// Index of the model in the current [`ModelSet`].
    pub model_index: usize,
    pub confidence: f64,
    pub kind: DecisionKind,
    /// Routing-cache entry holding this decision, when it is cached.
    pub cache_id: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The Map of models is empty.
    NoModels,
    /// Models exist, but none the user's tier may use is available.
    NoEligibleModel,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoutingPerformance {
    pub window: WindowSummary,
    pub cache_hit_rate: f64,
}

const TIER_FALLBACKS_ENTERPRISE: [&str; 4] = [
    "gemini-2.5-pro",
    "gemini-pro-vertex",
    "gemini-2.0-flash-thinking",
    "gemini-2.0-flash",
];
const TIER_FALLBACKS_PRO: [&str; 3] = [
    "gemini-2.5-flash",
    "gemini-2.0-flash-thinking",
    "gemini-2.0-flash",
];
const TIER_FALLBACKS_FREE: [&str; 2] = ["gemini-2.0-flash", "gemini-2.5-flash"];

fn tier_fallbacks(t: Tier) -> &'static [&'static str] {
    match t {
        Tier::Enterprise => &TIER_FALLBACKS_ENTERPRISE,
        Tier::Pro => &TIER_FALLBACKS_PRO,
        Tier::Free => &TIER_FALLBACKS_FREE,
    }
}

pub struct Router {
    options: RouterOptions,
    models: ModelSet,
    /// Explicit availability by name; a model of the Map without an entry is available.
    availability: AHashMap<String, bool>,
    /// `select` marked the current model set available (step 1).
    models_marked: bool,
    performance: PerformanceBook,
    usage: UsageCounters,
    cache: RoutingCache,
    times: RoutingTimes,
    weights: Weights,
    rules: RuleBook,
    rng: fastrand::Rng,
}

impl Router {
    pub fn new(options: RouterOptions) -> Router {
        let rng = match options.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Router {
            cache: RoutingCache::new(
                options.cache_size,
                options.cache_ttl_ms,
                options.cache_max_key_bytes,
            ),
            options,
            models: ModelSet::default(),
            availability: AHashMap::new(),
            models_marked: false,
            performance: PerformanceBook::default(),
            usage: UsageCounters::default(),
            times: RoutingTimes::default(),
            weights: Weights::default(),
            rules: RuleBook::default(),
            rng,
        }
    }

    pub fn options(&self) -> &RouterOptions {
        &self.options
    }
    pub fn models(&self) -> &ModelSet {
        &self.models
    }
    pub fn rules(&self) -> &RuleBook {
        &self.rules
    }
    /// Adds or replaces a rule (false: the book is full). Under the rules pipeline the
    /// routing cache is emptied: its decisions came from the rules as they were.
    pub fn add_rule(&mut self, rule: Rule) -> bool {
        let added = self.rules.add(rule);
        if added {
            self.rules_changed();
        }
        added
    }

    /// Removes a rule; true when there was one (see `add_rule` for the cache).
    pub fn remove_rule(&mut self, id: &str) -> bool {
        let removed = self.rules.remove(id);
        if removed {
            self.rules_changed();
        }
        removed
    }

    fn rules_changed(&mut self) {
        if self.options.strategy == Strategy::Rules {
            self.cache.clear();
        }
    }
    pub fn weights(&self) -> Weights {
        self.weights
    }
    pub fn performance(&self) -> &PerformanceBook {
        &self.performance
    }
    pub fn usage(&self) -> &UsageCounters {
        &self.usage
    }
    pub fn cache(&self) -> &RoutingCache {
        &self.cache
    }
    /// The legacy started moving averages at 0; only tests reproduce that.
    pub fn set_averages_from_zero(&mut self, on: bool) {
        self.performance.averages_from_zero = on;
    }

    /// Replaces the model set (the caller's `availableModels` Map changed). Availability
    /// is not touched: `selectFallbackModel` passes its Map too, and it does not refresh
    /// availability (the contract); `select` applies step 1 (`mark_models_available`).
    pub fn set_models(&mut self, models: Vec<ModelConfig>) {
        self.models = ModelSet::new(models);
        if self.availability.len() > MAX_MODELS_TRACKED {
            // keep explicit "unavailable" marks of current models; forget the rest
            let models = &self.models;
            self.availability
                .retain(|name, _| models.index_of(name).is_some());
        }
        self.models_marked = false;
    }

    /// Step 1 of `select`: every model of the Map is available (an explicit "unavailable"
    /// holds, the fixed deviation). Once per model set.
    fn mark_models_available(&mut self) {
        if self.models_marked {
            return;
        }
        for (_, m) in self.models.iter() {
            if !self.availability.contains_key(&m.name) {
                self.availability.insert(m.name.clone(), true);
            }
        }
        self.models_marked = true;
    }

    pub fn is_available(&self, name: &str) -> bool {
        self.availability.get(name).copied().unwrap_or(true)
    }

    /// Sets a model's availability; true when that changed it (a first sighting counts).
    pub fn set_availability(&mut self, name: &str, available: bool) -> bool {
        match self.availability.get_mut(name) {
            Some(v) if *v == available => false,
            Some(v) => {
                *v = available;
                true
            }
            None => {
                if self.availability.len() >= MAX_MODELS_TRACKED {
                    let models = &self.models;
                    self.availability
                        .retain(|n, _| models.index_of(n).is_some());
                }
                self.availability.insert(name.to_string(), available);
                true
            }
        }
    }

    /// (total, available, unavailable) over the availability map.
    pub fn availability_counts(&self) -> (usize, usize, usize) {
        let available = self.availability.values().filter(|v| **v).count();
        (
            self.availability.len(),
            available,
            self.availability.len() - available,
        )
    }

    fn eligible(&self, m: &ModelConfig, user_tier: Tier) -> bool {
        self.is_available(&m.name)
            && (self.options.tier_policy == TierPolicy::Legacy || m.tier <= user_tier)
    }

    /// Chooses a model for `ctx`. `now_ms` is a monotonic clock for the routing cache.
    pub fn select(&mut self, ctx: &RoutingContext, now_ms: f64) -> Result<Decision, RouteError> {
        if self.models.is_empty() {
            return Err(RouteError::NoModels);
        }
        self.mark_models_available();
        let key = self.cache.key(ctx);
        if let Lookup::Fresh(id) = self.cache.lookup(&key, now_ms) {
            if let Some(d) = self.serve_cached(id, ctx.user_tier) {
                return Ok(d);
            }
        }
        let decision = match self.options.strategy {
            Strategy::Legacy => self.select_legacy(ctx)?,
            Strategy::Rules => self.select_rules(ctx)?,
        };
        if decision.kind == DecisionKind::NoCandidates {
            return Ok(decision); // nothing cached, counted or recorded
        }
        let name: Rc<str> = self
            .models
            .shared_name(decision.model_index)
            .cloned()
            .unwrap_or_else(|| Rc::from(""));
        self.usage.increment(&name);
        let id = self
            .cache
            .insert(&key, CachedDecision { model_name: name }, now_ms);
        Ok(Decision {
            cache_id: Some(id),
            ..decision
        })
    }

    fn serve_cached(&mut self, id: u64, user_tier: Tier) -> Option<Decision> {
        let index = self
            .cache
            .peek(id)
            .and_then(|d| self.models.index_of(&d.model_name));
        match index {
            Some(i)
                if self
                    .models
                    .get(i)
                    .is_some_and(|m| self.eligible(m, user_tier)) =>
            {
                Some(Decision {
                    model_index: i,
                    confidence: 0.95,
                    kind: DecisionKind::CacheHit,
                    cache_id: Some(id),
                })
            }
            _ => {
                self.cache.reject_hit(id);
                None
            }
        }
    }

    fn select_legacy(&mut self, ctx: &RoutingContext) -> Result<Decision, RouteError> {
        let cx: Complexity = complexity::analyze(ctx.task, ctx.capabilities.is_some());
        let mut best: Option<(usize, f64, f64, f64)> = None;
        let mut best_total = -1.0;
        for (i, m) in self.models.iter() {
            if m.tier > ctx.user_tier || !self.is_available(&m.name) {
                continue;
            }
            let keep = if cx.score > 0.8 {
                m.has_capability("advanced-reasoning") || m.has_capability("code")
            } else if ctx.latency_requirement < 1000.0 {
                m.latency_target < 1200.0
            } else {
                true
            };
            if !keep {
                continue;
            }
            let (total, latency, complexity) = self.legacy_score(m, ctx, &cx);
            if total > best_total {
                best_total = total;
                best = Some((i, total, latency, complexity));
            }
        }
        match best {
            Some((i, total, latency, complexity)) => Ok(Decision {
                model_index: i,
                confidence: total.min(0.95),
                kind: DecisionKind::Scored {
                    latency,
                    complexity,
                },
                cache_id: None,
            }),
            None => Ok(Decision {
                model_index: self.tier_fallback(ctx.user_tier)?,
                confidence: 0.3,
                kind: DecisionKind::NoCandidates,
                cache_id: None,
            }),
        }
    }

    /// Step 6 of the contract: (total, latency score, complexity score).
    fn legacy_score(
        &self,
        m: &ModelConfig,
        ctx: &RoutingContext,
        cx: &Complexity,
    ) -> (f64, f64, f64) {
        let target = if ctx.latency_requirement != 0.0 {
            ctx.latency_requirement
        } else {
            2000.0
        };
        let perf = self.performance.get(&m.name);
        let avg = perf.map_or(0.0, |p| p.avg_latency);
        let model_latency = if avg != 0.0 && !avg.is_nan() {
            avg
        } else {
            m.latency_target
        };
        let latency = if model_latency <= 0.8 * target {
            1.0
        } else if model_latency <= target {
            0.8
        } else if model_latency <= 1.5 * target {
            0.5
        } else {
            0.1
        };
        let complexity = if cx.score < 0.3 {
            if m.latency_target < 1000.0 {
                1.0
            } else {
                0.7
            }
        } else if cx.score < 0.7 {
            if m.has_capability("reasoning") {
                0.9
            } else {
                0.6
            }
        } else if m.has_capability("advanced-reasoning") {
            1.0
        } else {
            0.4
        };
        let reliability = match perf {
            Some(p) if p.usage_count >= 5 => p.success_rate.max(0.1),
            _ => 0.8,
        };
        let cost = match ctx.user_tier {
            Tier::Enterprise => 0.9,
            Tier::Pro => {
                if m.cost_per_token < 3e-6 {
                    1.0
                } else {
                    0.7
                }
            }
            Tier::Free => {
                if m.cost_per_token < 1e-6 {
                    1.0
                } else {
                    0.3
                }
            }
        };
        let w = self.weights;
        let mut total = 0.0;
        total += latency * w.latency;
        total += complexity * w.complexity;
        total += reliability * w.reliability;
        total += cost * w.cost;
        (total, latency, complexity)
    }

    fn select_rules(&mut self, ctx: &RoutingContext) -> Result<Decision, RouteError> {
        let preferred = self.rules.preferred(ctx, &self.models);
        let mut pool: Vec<usize> = preferred
            .into_iter()
            .filter(|&i| {
                self.models
                    .get(i)
                    .is_some_and(|m| self.eligible_strict(m, ctx.user_tier))
            })
            .collect();
        if pool.is_empty() {
            pool = self
                .models
                .iter()
                .filter(|(_, m)| self.eligible_strict(m, ctx.user_tier))
                .map(|(i, _)| i)
                .collect();
        }
        if pool.is_empty() {
            return Ok(Decision {
                model_index: self.tier_fallback(ctx.user_tier)?,
                confidence: 0.3,
                kind: DecisionKind::NoCandidates,
                cache_id: None,
            });
        }
        let scored: Vec<(usize, f64, u64)> = pool
            .iter()
            .filter_map(|&i| self.models.get(i).map(|m| (i, m)))
            .map(|(i, m)| {
                let perf = self.performance.get(&m.name);
                let latency = match perf {
                    Some(p) if p.avg_latency > 0.0 => p.avg_latency,
                    _ => m.latency_target,
                };
                let reliability = match perf {
                    Some(p) if p.usage_count >= 10 => p.success_rate,
                    _ => 0.7,
                };
                let score = rules::five_factor_score(m, latency, reliability, ctx);
                (i, score, self.usage.get(&m.name))
            })
            .collect();
        let r = self.rng.f64();
        let (i, score) =
            rules::load_balanced_pick(&scored, r).ok_or(RouteError::NoEligibleModel)?;
        Ok(Decision {
            model_index: i,
            confidence: score.min(0.95),
            kind: DecisionKind::Balanced { score },
            cache_id: None,
        })
    }

    /// The rules pipeline never routes above the user's tier or to an unavailable model.
    fn eligible_strict(&self, m: &ModelConfig, user_tier: Tier) -> bool {
        self.is_available(&m.name) && m.tier <= user_tier
    }

    /// Steps 5 and 9: the tier's fallback list, then (legacy) the Map's first key, or
    /// (strict) the first model the user may use that is available.
    pub fn tier_fallback(&self, user_tier: Tier) -> Result<usize, RouteError> {
        if self.models.is_empty() {
            return Err(RouteError::NoModels);
        }
        let legacy = self.options.tier_policy == TierPolicy::Legacy;
        for name in tier_fallbacks(user_tier) {
            if let Some(i) = self.models.index_of(name) {
                if legacy
                    || self
                        .models
                        .get(i)
                        .is_some_and(|m| self.eligible(m, user_tier))
                {
                    return Ok(i);
                }
            }
        }
        if legacy {
            return Ok(0);
        }
        self.models
            .iter()
            .find(|(_, m)| self.eligible(m, user_tier))
            .map(|(i, _)| i)
            .ok_or(RouteError::NoEligibleModel)
    }

    /// `selectFallbackModel`: strategies 1–4 of the contract over the current model set.
    /// Strict policy adds "tier ≤ the user's" to every strategy.
    pub fn select_fallback(&self, original: &str, user_tier: Tier) -> Result<usize, RouteError> {
        if self.models.is_empty() {
            return Err(RouteError::NoModels);
        }
        let strict = self.options.tier_policy == TierPolicy::Strict;
        let allowed = |m: &ModelConfig| {
            self.availability.get(&m.name).copied().unwrap_or(false)
                && (!strict || m.tier <= user_tier)
        };
        if let Some(oi) = self.models.index_of(original) {
            let orig = self.models.get(oi).expect("index from the same set");
            // 1. same tier string, ≥ 70% of the original's capabilities
            let need = 0.7 * orig.capabilities.len() as f64;
            for (i, m) in self.models.iter() {
                if i == oi || !allowed(m) || m.tier != orig.tier {
                    continue;
                }
                let shared = orig
                    .capabilities
                    .iter()
                    .filter(|c| m.has_capability(c))
                    .count() as f64;
                if shared >= need {
                    return Ok(i);
                }
            }
            // 2. a lower tier the user may use, with "code" or "reasoning"
            for (i, m) in self.models.iter() {
                if i == oi || !allowed(m) {
                    continue;
                }
                if m.tier <= user_tier
                    && m.tier < orig.tier
                    && (m.has_capability("code") || m.has_capability("reasoning"))
                {
                    return Ok(i);
                }
            }
        }
        // 3. the tier's fallback list; 4. any available model (may be the original)
        for name in tier_fallbacks(user_tier) {
            if let Some(i) = self.models.index_of(name) {
                if self.models.get(i).is_some_and(allowed) {
                    return Ok(i);
                }
            }
        }
        self.models
            .iter()
            .find(|(_, m)| allowed(m))
            .map(|(i, _)| i)
            .ok_or(RouteError::NoEligibleModel)
    }

    /// Replays a routing-cache hit served by the caller from its memo of entry `id` (see
    /// `routing_cache`), with its routing time. The entry is touched and the hit counted as
    /// if it had been served here; false when the entry has gone meanwhile.
    pub fn replay_hit(&mut self, id: u64, routing_ms: f64) -> bool {
        self.times.record(routing_ms);
        self.cache.replay_hit(id)
    }

    /// Adds a routing time to the window; true when `performance_metrics` is due.
    pub fn record_routing_time(&mut self, ms: f64) -> bool {
        self.times.record(ms)
    }

    pub fn routing_performance(&self) -> RoutingPerformance {
        RoutingPerformance {
            window: self.times.summary(),
            cache_hit_rate: self.cache.hit_rate(),
        }
    }

    pub fn record_performance(
        &mut self,
        name: &str,
        outcome: Outcome,
    ) -> &crate::performance::ModelPerformance {
        self.performance.record(name, outcome)
    }

    /// `optimizeBasedOnPerformance`: shifts weight towards reliability or latency.
    pub fn optimize(&mut self, recent_failures: f64, avg_latency: f64) {
        if recent_failures > 5.0 {
            self.weights.reliability = (self.weights.reliability + 0.1).min(0.5);
            self.weights.cost = (self.weights.cost - 0.05).max(0.1);
        }
        if avg_latency > 2000.0 {
            self.weights.latency = (self.weights.latency + 0.1).min(0.6);
            self.weights.cost = (self.weights.cost - 0.05).max(0.1);
        }
    }

    pub fn purge_expired(&mut self, now_ms: f64) -> usize {
        self.cache.purge_expired(now_ms)
    }

    /// Releases what the router holds (after `shutdown()`).
    pub fn clear(&mut self) {
        self.cache.clear();
        self.models = ModelSet::default();
        self.availability.clear();
    }
}

#[cfg(test)]
mod tests;
