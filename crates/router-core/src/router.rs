//! The router: routing cache → complexity analysis → candidates → score → decision, plus
//! fallbacks, availability, performance records and routing-time statistics.

use std::rc::Rc;

use ahash::AHashMap;

use crate::adaptive::{AdaptiveBook, AdaptiveConfig, Candidate, PickKind, WhenNoneHealthy};
use crate::affinity::{AffinityConfig, SessionModels, SessionTable};
use crate::budget::{BudgetBook, Scope};
use crate::complexity::Complexity;
use crate::context::RoutingContext;
use crate::health::Reason;
use crate::health::Routable;
use crate::model::{ModelConfig, ModelSet, Tier};
use crate::outcome::OutcomeClass;
use crate::performance::{Outcome, PerformanceBook, UsageCounters, MAX_MODELS_TRACKED};
use crate::quota::{Quota, QuotaBook, QuotaRoom};
use crate::routing_cache::{AdaptiveEntry, CachedDecision, Lookup, RoutingCache};
use crate::rules::{self, Rule, RuleBook};
use crate::window::{RoutingTimes, WindowSummary};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The legacy algorithm: complexity → candidate filter → weighted score.
    Legacy,
    /// The roadmap pipeline: matching rules → five-factor score → load-balanced pick.
    Rules,
    /// The legacy's candidates, ranked by its score, then a live pick on health, latency
    /// and calls in flight (see `adaptive`).
    Adaptive,
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
    /// Tuning of the adaptive strategy.
    pub adaptive: AdaptiveConfig,
    /// Session affinity of the adaptive strategy.
    pub affinity: AffinityConfig,
    /// Output tokens a decision reserves against a model's `tpm` when the request has no
    /// token budget.
    pub default_output_tokens: f64,
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
            adaptive: AdaptiveConfig::default(),
            affinity: AffinityConfig::default(),
            default_output_tokens: 1024.0,
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
    /// Adaptive strategy: a live pick. `decision_id` identifies it for its outcome;
    /// `from_cache`: the candidates came from the routing cache.
    Adaptive {
        pick: PickKind,
        predicted_ms: f64,
        in_flight: usize,
        decision_id: u64,
        from_cache: bool,
    },
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

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RouteError {
    /// The Map of models is empty.
    NoModels,
    /// Models exist, but none the user's tier may use is available.
    NoEligibleModel,
    /// Adaptive strategy, `whenNoneHealthy: "reject"`: every eligible model is cooling or
    /// ejected; the soonest clears in `retry_after_ms`.
    NoHealthyModel { retry_after_ms: f64 },
    /// Adaptive strategy: models the tier may use are available, but no context window
    /// (`max_tokens`) holds the request's `required_tokens` (estimated input + token budget).
    NoModelFitsWindow { required_tokens: f64 },
    /// Adaptive strategy: every candidate would exceed budget `budget` (an index of
    /// [`Router::budgets`]), which starts again at `resets_at_ms`.
    BudgetExceeded { budget: usize, resets_at_ms: f64 },
}

/// What a request says beyond its routing-cache key: earlier attempts, and the caller's
/// own input-token estimate (the adaptive strategy reads both).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RetryInfo<'a> {
    /// `context.previousModel`, as an index of the current model set.
    pub previous: Option<usize>,
    /// `retryCount > 0` or `previousModel` set.
    pub is_retry: bool,
    /// The caller's estimate of the task's input tokens (`estimateTokens`); `None`: the
    /// router's own ([`crate::tokens::estimate_input_tokens`]). Read when the request's
    /// candidates are ranked (a routing-cache miss): the estimate must depend on the task
    /// alone.
    pub input_tokens: Option<f64>,
    /// `context.sessionId`: the request follows the session's earlier ones (affinity, from
    /// the router's session table).
    pub session: Option<&'a str>,
    /// The models (indices of the current model set) the caller's own session table holds
    /// for the request's session: affinity as with `session`, from the caller's table
    /// instead (which then records the pick itself). Takes precedence over `session`.
    pub session_model: Option<SessionModels<usize>>,
    /// `context.budgetKey`: the caller key whose budgets the request spends.
    pub budget_key: Option<&'a str>,
}

/// One reported call outcome, for the adaptive state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveOutcome {
    pub class: OutcomeClass,
    /// The decision it answers (`None`: reported by model name).
    pub decision_id: Option<u64>,
    pub latency_ms: f64,
    pub retry_after_ms: Option<f64>,
    /// Monotonic clock of the router (the same as routing calls get).
    pub now_ms: f64,
    /// Input + output tokens the call used, when reported (settles its quota reservation).
    pub tokens: Option<f64>,
    /// What the call cost, when reported (settles its budget reservation; absent: tokens ×
    /// the model's price, or the estimate).
    pub cost: Option<f64>,
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
    adaptive: AdaptiveBook,
    sessions: SessionTable,
    quotas: QuotaBook,
    budgets: BudgetBook,
    /// Bumped when the model set or an availability changes: cached candidate lists of
    /// older generations are recomputed.
    generation: u64,
}

impl Router {
    pub fn new(options: RouterOptions) -> Router {
        let rng = match options.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Router {
            adaptive: AdaptiveBook::new(options.adaptive, options.seed),
            sessions: SessionTable::new(options.affinity),
            quotas: QuotaBook::default(),
            budgets: BudgetBook::default(),
            generation: 0,
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
        self.generation += 1;
        // new configs end auth ejections (new credentials may have come with them)
        self.adaptive.clear_all_auth(Reason::ConfigsChanged);
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
        if available {
            self.adaptive.clear_auth(name, Reason::AvailabilityRestored);
        }
        let changed = self.set_availability_flag(name, available);
        if changed {
            self.generation += 1;
        }
        changed
    }

    fn set_availability_flag(&mut self, name: &str, available: bool) -> bool {
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
        self.select_with(ctx, RetryInfo::default(), now_ms)
    }

    /// `select` with what the request says about earlier attempts (read by the adaptive
    /// strategy only).
    pub fn select_with(
        &mut self,
        ctx: &RoutingContext,
        retry: RetryInfo,
        now_ms: f64,
    ) -> Result<Decision, RouteError> {
        if self.models.is_empty() {
            return Err(RouteError::NoModels);
        }
        self.mark_models_available();
        if self.options.strategy == Strategy::Adaptive {
            return self.select_adaptive(ctx, retry, now_ms);
        }
        let key = self.cache.key(ctx);
        if let Lookup::Fresh(id) = self.cache.lookup(&key, now_ms) {
            if let Some(d) = self.serve_cached(id, ctx.user_tier) {
                return Ok(d);
            }
        }
        let decision = match self.options.strategy {
            Strategy::Legacy | Strategy::Adaptive => self.select_legacy(ctx)?,
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
        let id = self.cache.insert(
            &key,
            CachedDecision {
                model_name: name,
                adaptive: None,
            },
            now_ms,
        );
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

    /// The legacy's candidates for `ctx`, best legacy score first (ties in Map order, as
    /// the legacy's strict `>` keeps the first).
    /// Models whose context window is below `required_tokens` are left out.
    fn ranked_legacy(&self, ctx: &RoutingContext, required_tokens: f64) -> Vec<u32> {
        let cx: Complexity = ctx.task.analyze(ctx.capabilities.is_some());
        let mut scored: Vec<(u32, f64)> = Vec::new();
        for (i, m) in self.models.iter() {
            if m.tier > ctx.user_tier
                || m.max_tokens < required_tokens
                || !self.is_available(&m.name)
                || !legacy_keeps(m, ctx, &cx)
            {
                continue;
            }
            scored.push((i as u32, self.legacy_score(m, ctx, &cx).0));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.into_iter().map(|(i, _)| i).collect()
    }

    fn select_adaptive(
        &mut self,
        ctx: &RoutingContext,
        retry: RetryInfo,
        now_ms: f64,
    ) -> Result<Decision, RouteError> {
        let key = self.cache.key(ctx);
        if let Lookup::Fresh(id) = self.cache.lookup(&key, now_ms) {
            let current = self
                .cache
                .peek(id)
                .and_then(|d| d.adaptive.as_ref())
                .is_some_and(|a| a.generation == self.generation);
            if current {
                return self.pick_cached(id, retry, now_ms);
            }
            self.cache.reject_hit(id);
        }
        let input = retry
            .input_tokens
            .unwrap_or_else(|| ctx.task.estimate_input_tokens());
        let required_tokens = input + ctx.token_budget.unwrap_or(0.0);
        let reserve_tokens = input
            + ctx
                .token_budget
                .unwrap_or(self.options.default_output_tokens);
        let ranked = self.ranked_legacy(ctx, required_tokens);
        let name: Rc<str> = ranked
            .first()
            .and_then(|&i| self.models.shared_name(i as usize).cloned())
            .unwrap_or_else(|| Rc::from(""));
        let entry = Rc::new(AdaptiveEntry {
            ranked: ranked.into_boxed_slice(),
            generation: self.generation,
            user_tier: ctx.user_tier,
            latency_requirement: ctx.latency_requirement,
            required_tokens,
            reserve_tokens,
        });
        let id = self.cache.insert(
            &key,
            CachedDecision {
                model_name: name,
                adaptive: Some(entry.clone()),
            },
            now_ms,
        );
        self.pick_live(&entry, id, false, retry, now_ms, true)
    }

    /// The live pick for routing-cache entry `id` (a hit the caller served from its memo
    /// of the entry, or one found here). `None` when the entry is gone or outdated: the
    /// caller routes in full.
    pub fn pick_cached(
        &mut self,
        id: u64,
        retry: RetryInfo,
        now_ms: f64,
    ) -> Result<Decision, RouteError> {
        let entry = self.cache.peek(id).and_then(|d| d.adaptive.clone());
        match entry {
            Some(e) if e.generation == self.generation => {
                self.pick_live(&e, id, true, retry, now_ms, true)
            }
            _ => Err(RouteError::NoEligibleModel),
        }
    }

    /// Whether routing-cache entry `id` still holds current adaptive candidates.
    pub fn cached_entry_current(&self, id: u64) -> bool {
        self.cache
            .peek(id)
            .and_then(|d| d.adaptive.as_ref())
            .is_some_and(|a| a.generation == self.generation)
    }

    /// `commit`: a routing call (the session table learns the pick); false for `explain`.
    fn pick_live(
        &mut self,
        entry: &AdaptiveEntry,
        cache_id: u64,
        from_cache: bool,
        retry: RetryInfo,
        now_ms: f64,
        commit: bool,
    ) -> Result<Decision, RouteError> {
        let models = &self.models;
        let candidate = |i: usize| {
            models.get(i).map(|m| Candidate {
                index: i,
                latency_target: m.latency_target,
            })
        };
        let mut cands: Vec<Candidate> = entry
            .ranked
            .iter()
            .filter_map(|&i| candidate(i as usize))
            .collect();
        let tier = entry.user_tier;
        let required = entry.required_tokens;
        let eligible = |m: &ModelConfig| {
            m.tier <= tier && m.max_tokens >= required && self.is_available(&m.name)
        };
        if let Some(p) = retry.previous.and_then(|p| models.get(p).map(|m| (p, m))) {
            let (p, prev) = p;
            let after_context_length = self.adaptive.get(&prev.name).and_then(|s| s.last_error())
                == Some(crate::outcome::ErrorType::ContextLength);
            if after_context_length {
                // a larger window: the ranked ones first, then the rest by size
                let mut larger: Vec<Candidate> = cands
                    .iter()
                    .copied()
                    .filter(|c| {
                        models
                            .get(c.index)
                            .is_some_and(|m| m.max_tokens > prev.max_tokens)
                    })
                    .collect();
                let mut rest: Vec<(usize, f64)> = models
                    .iter()
                    .filter(|(i, m)| {
                        m.max_tokens > prev.max_tokens
                            && eligible(m)
                            && !larger.iter().any(|c| c.index == *i)
                    })
                    .map(|(i, m)| (i, m.max_tokens))
                    .collect();
                rest.sort_by(|a, b| a.1.total_cmp(&b.1));
                larger.extend(rest.into_iter().filter_map(|(i, _)| candidate(i)));
                if !larger.is_empty() {
                    cands = larger;
                }
            }
            if cands.iter().any(|c| c.index != p) {
                cands.retain(|c| c.index != p);
            } else if cands.is_empty() || cands.iter().all(|c| c.index == p) {
                // another model of the tier fits better than the one that just failed
                let others: Vec<Candidate> = models
                    .iter()
                    .filter(|(i, m)| *i != p && eligible(m))
                    .filter_map(|(i, _)| candidate(i))
                    .collect();
                if !others.is_empty() {
                    cands = others;
                }
            }
        }
        if cands.is_empty() {
            // no candidate passed the legacy filter: every model the tier may use
            cands = models
                .iter()
                .filter(|(_, m)| eligible(m))
                .filter_map(|(i, _)| candidate(i))
                .collect();
        }
        if cands.is_empty() {
            let window_excluded = models
                .iter()
                .any(|(_, m)| m.tier <= tier && self.is_available(&m.name));
            return Err(if window_excluded {
                RouteError::NoModelFitsWindow {
                    required_tokens: required,
                }
            } else {
                RouteError::NoEligibleModel
            });
        }
        // quotas: a model whose next request would exceed its rpm/tpm is skipped like a
        // cooling model; when every candidate is over quota, the one that clears soonest
        // (or a rejection)
        let mut over_quota: Option<f64> = None;
        if !self.quotas.is_empty() {
            let tokens = entry.reserve_tokens;
            let clears: Vec<f64> = cands
                .iter()
                .map(|c| {
                    models
                        .get(c.index)
                        .map_or(now_ms, |m| self.quotas.clears_at(&m.name, tokens, now_ms))
                })
                .collect();
            if clears.iter().any(|&t| t <= now_ms) {
                let mut k = 0;
                cands.retain(|_| {
                    k += 1;
                    clears[k - 1] <= now_ms
                });
            } else {
                let (i, until) = clears
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .expect("candidates are not empty");
                if self.adaptive.config.when_none_healthy == WhenNoneHealthy::Reject {
                    return Err(RouteError::NoHealthyModel {
                        retry_after_ms: until - now_ms,
                    });
                }
                cands = vec![cands[i]];
                over_quota = Some(until);
            }
        }
        // budgets: when the best candidates would exceed a budget, the ones that fit, cheapest
        // first; none fits: a rejection naming the budget
        if !self.budgets.is_empty() {
            let tokens = entry.reserve_tokens;
            let key = retry.budget_key;
            let cost = |c: &Candidate| {
                models
                    .get(c.index)
                    .map_or(0.0, |m| m.cost_per_token * tokens)
            };
            let over: Vec<Option<(usize, f64)>> = cands
                .iter()
                .map(|c| {
                    models
                        .get(c.index)
                        .and_then(|m| self.budgets.exceeded_by(&m.name, key, cost(c), now_ms))
                })
                .collect();
            if let Some(first_over) = over.iter().flatten().next().copied() {
                let mut k = 0;
                cands.retain(|_| {
                    k += 1;
                    over[k - 1].is_none()
                });
                if cands.is_empty() {
                    let (budget, resets_at_ms) = first_over;
                    return Err(RouteError::BudgetExceeded {
                        budget,
                        resets_at_ms,
                    });
                }
                cands.sort_by(|a, b| cost(a).total_cmp(&cost(b)));
            }
        }
        // session affinity: the session's home model goes first while it is a healthy
        // candidate (back home after a diversion), else the model that served it last (kept
        // through the home's outage); a retry has left the model that failed out already
        let mut pinned = None;
        let mut rehome = false;
        if retry.session.is_some() || retry.session_model.is_some() {
            let name = |i: usize| models.get(i).map(|m| m.name.as_str());
            let held = match (retry.session_model, retry.session) {
                (Some(s), _) => name(s.current).map(|current| SessionModels {
                    current,
                    home: s.home.and_then(name),
                }),
                (None, Some(session)) if commit => self.sessions.model_of(session, now_ms),
                (None, Some(session)) => self.sessions.peek(session, now_ms),
                (None, None) => None,
            };
            if let Some(held) = held {
                let home = held.home.filter(|h| models.index_of(h).is_some());
                rehome = home.is_none();
                for n in [home, Some(held.current)].into_iter().flatten() {
                    let Some(pos) = cands
                        .iter()
                        .position(|c| models.get(c.index).is_some_and(|m| m.name == n))
                    else {
                        continue;
                    };
                    self.adaptive.refresh(n, now_ms);
                    let healthy = self
                        .adaptive
                        .get(n)
                        .is_none_or(|s| s.health.routable(now_ms) == Routable::Healthy);
                    if healthy {
                        let c = cands.remove(pos);
                        cands.insert(0, c);
                        pinned = Some(c.index);
                        break;
                    }
                }
            }
        }
        let name_of = |i: usize| models.get(i).map(|m| m.name.as_str());
        let keep = |n: &str| models.index_of(n).is_some();
        let (mut pick, decision_id) = self
            .adaptive
            .pick(
                &cands,
                &name_of,
                entry.latency_requirement,
                !retry.is_retry && pinned.is_none(),
                now_ms,
                &keep,
            )
            .map_err(|retry_after_ms| RouteError::NoHealthyModel { retry_after_ms })?;
        if pinned == Some(pick.index) && pick.kind == PickKind::Preferred {
            pick.kind = PickKind::Affinity;
        }
        if let Some(until_ms) = over_quota {
            let until_ms = match pick.kind {
                PickKind::Closest { until_ms: u } => u.max(until_ms),
                _ => until_ms,
            };
            pick.kind = PickKind::Closest { until_ms };
        }
        if let (true, Some(m)) = (commit, models.get(pick.index)) {
            self.quotas
                .reserve(&m.name, decision_id, entry.reserve_tokens, now_ms);
            let cost = m.cost_per_token * entry.reserve_tokens;
            self.budgets
                .reserve(decision_id, &m.name, retry.budget_key, cost, now_ms);
        }
        let own_table = retry.session_model.is_none();
        if let (true, true, Some(session), Some(m)) =
            (commit, own_table, retry.session, models.get(pick.index))
        {
            self.sessions.record(session, &m.name, rehome, now_ms);
        }
        let confidence = match pick.kind {
            PickKind::Preferred | PickKind::Affinity => 0.9,
            PickKind::Balanced => 0.8,
            PickKind::Probe => 0.5,
            PickKind::Closest { .. } => 0.2,
        };
        Ok(Decision {
            model_index: pick.index,
            confidence,
            kind: DecisionKind::Adaptive {
                pick: pick.kind,
                predicted_ms: pick.predicted_ms,
                in_flight: pick.in_flight,
                decision_id,
                from_cache,
            },
            cache_id: Some(cache_id),
        })
    }

    /// Feeds one reported call outcome of `name` into the adaptive state.
    pub fn report_outcome(&mut self, name: &str, o: AdaptiveOutcome) {
        if let (Some(id), Some(tokens)) = (o.decision_id, o.tokens) {
            self.quotas.settle(name, id, tokens);
        }
        if let Some(id) = o.decision_id {
            let price = self
                .models
                .index_of(name)
                .and_then(|i| self.models.get(i))
                .map(|m| m.cost_per_token);
            let cost = o.cost.or_else(|| o.tokens.zip(price).map(|(t, p)| t * p));
            if let Some(cost) = cost {
                self.budgets.settle(id, cost);
            }
        }
        let models = &self.models;
        let prior = models
            .index_of(name)
            .and_then(|i| models.get(i))
            .map_or(o.latency_ms, |m| m.latency_target);
        let keep = |n: &str| models.index_of(n).is_some();
        self.adaptive.report(
            name,
            o.decision_id,
            o.class,
            o.latency_ms,
            o.retry_after_ms,
            o.now_ms,
            prior,
            &keep,
        );
    }

    /// Replays an adaptive decision the caller made from its memo of entry `id`: the hit
    /// is counted (with its routing time), decision `decision_id` naming `model_index`
    /// counts as in flight from `now_ms`, and reserves what a decision made here would: one
    /// request and the entry's tokens on the model's quota, their cost on every budget it
    /// falls under (`budget_key`: the request's `context.budgetKey`). The caller admits
    /// such a decision only while `quota_room` and the budgets' spend say it fits.
    /// `reserve_tokens`: the tokens the caller counted (NaN: the entry's, if it is still
    /// held).
    #[allow(clippy::too_many_arguments)]
    pub fn replay_adaptive(
        &mut self,
        id: u64,
        routing_ms: f64,
        model_index: usize,
        decision_id: u64,
        now_ms: f64,
        budget_key: Option<&str>,
        reserve_tokens: f64,
    ) {
        self.replay_hit(id, routing_ms);
        let reserve = if reserve_tokens >= 0.0 {
            Some(reserve_tokens)
        } else {
            self.cache
                .peek(id)
                .and_then(|d| d.adaptive.as_ref())
                .map(|a| a.reserve_tokens)
        };
        let models = &self.models;
        if let (Some(m), Some(tokens)) = (models.get(model_index), reserve) {
            self.quotas.reserve(&m.name, decision_id, tokens, now_ms);
            let cost = m.cost_per_token * tokens;
            self.budgets
                .reserve(decision_id, &m.name, budget_key, cost, now_ms);
        }
        if let Some(m) = models.get(model_index) {
            let keep = |n: &str| models.index_of(n).is_some();
            self.adaptive.track(&m.name, decision_id, now_ms, &keep);
        }
    }

    /// What a decision routing-cache entry `id` makes reserves against `tpm` and prices
    /// against budgets (`None`: the entry is gone or outdated).
    pub fn cached_reserve_tokens(&self, id: u64) -> Option<f64> {
        match self.cache.peek(id).and_then(|d| d.adaptive.as_ref()) {
            Some(a) if a.generation == self.generation => Some(a.reserve_tokens),
            _ => None,
        }
    }

    /// The room `name`'s quota leaves at `now_ms` (see [`QuotaBook::room`]).
    pub fn quota_room(&mut self, name: &str, now_ms: f64) -> QuotaRoom {
        self.quotas.room(name, now_ms)
    }

    /// Until when the quota room read at `now_ms` holds (see [`QuotaBook::lease_deadline_ms`]):
    /// a refill is asked for a quarter of a lease's time before it lapses, so the layer
    /// crosses from then on and the decisions it makes here ask for it.
    pub fn quota_room_until_ms(&self, now_ms: f64) -> f64 {
        self.quotas
            .lease_deadline_ms(now_ms)
            .min(self.budgets.lease_deadline_ms(now_ms))
            - crate::quota::LEASE_MS / 4.0
    }

    /// The ranked candidates of routing-cache entry `id` (empty when it is gone or outdated).
    pub fn cached_candidates(&self, id: u64) -> &[u32] {
        match self.cache.peek(id).and_then(|d| d.adaptive.as_ref()) {
            Some(a) if a.generation == self.generation => &a.ranked,
            _ => &[],
        }
    }

    pub fn adaptive(&self) -> &AdaptiveBook {
        &self.adaptive
    }
    pub fn adaptive_mut(&mut self) -> &mut AdaptiveBook {
        &mut self.adaptive
    }

    fn select_legacy(&mut self, ctx: &RoutingContext) -> Result<Decision, RouteError> {
        let cx: Complexity = ctx.task.analyze(ctx.capabilities.is_some());
        let mut best: Option<(usize, f64, f64, f64)> = None;
        let mut best_total = -1.0;
        for (i, m) in self.models.iter() {
            if m.tier > ctx.user_tier || !self.is_available(&m.name) {
                continue;
            }
            if !legacy_keeps(m, ctx, &cx) {
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
        let p = self.legacy_score_parts(m, ctx, cx);
        (p.total, p.latency, p.complexity)
    }

    /// The legacy's four score factors of `m` for `ctx` and their weighted sum.
    pub(crate) fn legacy_score_parts(
        &self,
        m: &ModelConfig,
        ctx: &RoutingContext,
        cx: &Complexity,
    ) -> ScoreParts {
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
        ScoreParts {
            total,
            latency,
            complexity,
            reliability,
            cost,
        }
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
        self.tier_fallback_within(user_tier, None)
    }

    /// `tier_fallback` naming only a model with room for `need` (see `fallback_capacity`).
    pub fn tier_fallback_within(
        &self,
        user_tier: Tier,
        need: Option<&CapacityNeed>,
    ) -> Result<usize, RouteError> {
        if self.models.is_empty() {
            return Err(RouteError::NoModels);
        }
        let legacy = self.options.tier_policy == TierPolicy::Legacy;
        let allowed = |m: &ModelConfig| legacy || self.eligible(m, user_tier);
        for name in tier_fallbacks(user_tier) {
            if let Some(i) = self.models.index_of(name) {
                if self
                    .models
                    .get(i)
                    .is_some_and(|m| allowed(m) && self.has_room(m, need))
                {
                    return Ok(i);
                }
            }
        }
        if legacy && need.is_none() {
            return Ok(0);
        }
        self.models
            .iter()
            .find(|(_, m)| allowed(m) && self.has_room(m, need))
            .map(|(i, _)| i)
            .ok_or_else(|| self.no_room_error(need, &allowed))
    }

    /// `selectFallbackModel`: strategies 1–4 of the contract over the current model set.
    /// Strict policy adds "tier ≤ the user's" to every strategy.
    pub fn select_fallback(&self, original: &str, user_tier: Tier) -> Result<usize, RouteError> {
        self.select_fallback_within(original, user_tier, None)
    }

    /// `select_fallback` naming only a model with room for `need` (see `fallback_capacity`).
    pub fn select_fallback_within(
        &self,
        original: &str,
        user_tier: Tier,
        need: Option<&CapacityNeed>,
    ) -> Result<usize, RouteError> {
        if self.models.is_empty() {
            return Err(RouteError::NoModels);
        }
        let strict = self.options.tier_policy == TierPolicy::Strict;
        let listed = |m: &ModelConfig| {
            self.availability.get(&m.name).copied().unwrap_or(false)
                && (!strict || m.tier <= user_tier)
        };
        let allowed = |m: &ModelConfig| listed(m) && self.has_room(m, need);
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
            .ok_or_else(|| self.no_room_error(need, &listed))
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
        self.sessions.purge_idle(now_ms);
        self.cache.purge_expired(now_ms)
    }

    /// Sessions remembered for affinity.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// Releases what the router holds (after `shutdown()`).
    pub fn clear(&mut self) {
        self.cache.clear();
        self.models = ModelSet::default();
        self.availability.clear();
        self.adaptive.clear();
        self.sessions.clear();
        self.quotas.clear();
        self.budgets.clear();
    }

    /// Sets the `rpm`/`tpm` quotas of the models (by name; absent: unlimited).
    pub fn set_quotas(&mut self, quotas: &[(String, Quota)]) {
        self.quotas.set_quotas(quotas);
    }
    pub fn quotas(&self) -> &QuotaBook {
        &self.quotas
    }
    pub fn quotas_mut(&mut self) -> &mut QuotaBook {
        &mut self.quotas
    }

    /// Fleet mode: applies `f` to the adaptive health of model `name` (a peer's state, a
    /// probe taken over) and records the transition it returns as a health event.
    pub fn update_health(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut crate::health::Health) -> Option<crate::health::Transition>,
    ) {
        let models = &self.models;
        let keep = |n: &str| models.index_of(n).is_some();
        self.adaptive.update_health(name, &keep, f);
    }

    /// Sets a spending budget (see [`BudgetBook::set`]); `None` when too many are set.
    pub fn set_budget(
        &mut self,
        scope: Scope,
        limit: f64,
        window_ms: f64,
        now_ms: f64,
    ) -> Option<usize> {
        self.budgets.set(scope, limit, window_ms, now_ms)
    }
    pub fn budgets_mut(&mut self) -> &mut BudgetBook {
        &mut self.budgets
    }
    pub fn budgets(&self) -> &BudgetBook {
        &self.budgets
    }
}

mod explain;
mod fallback_capacity;
pub use explain::{CandidateView, Exclusion, Explanation, ScoreParts};
pub use fallback_capacity::CapacityNeed;

#[cfg(test)]
mod tests;

/// The legacy's candidate filter by complexity and latency requirement.
fn legacy_keeps(m: &ModelConfig, ctx: &RoutingContext, cx: &Complexity) -> bool {
    if cx.score > 0.8 {
        m.has_capability("advanced-reasoning") || m.has_capability("code")
    } else if ctx.latency_requirement < 1000.0 {
        m.latency_target < 1200.0
    } else {
        true
    }
}
