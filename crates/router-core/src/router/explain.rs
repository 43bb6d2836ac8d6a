//! `explain`: what the adaptive strategy would decide for a request, and why each model was
//! kept or left out, without reserving anything or changing any state or statistic.

use super::*;
use crate::health::State;

/// The legacy's score factors of a model for a request and their weighted sum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreParts {
    pub total: f64,
    pub latency: f64,
    pub complexity: f64,
    pub reliability: f64,
    pub cost: f64,
}

/// Why a model is not a candidate for a request, checked in this order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Exclusion {
    /// Above the user's tier.
    Tier,
    /// `updateModelAvailability(name, false)`.
    Unavailable,
    /// Its `max_tokens` is below the request's required tokens.
    ContextWindow,
    /// The legacy's filter (the task's complexity wants advanced reasoning or code; a tight
    /// latency requirement wants a fast model) while other models pass it.
    LegacyFilter,
    /// Its next request would exceed its `rpm`/`tpm` until `until_ms`.
    Quota { until_ms: f64 },
    /// Cooling after a 429 until `until_ms`.
    RateLimited { until_ms: f64 },
    /// Ejected until `until_ms` (after which one probe may go to it).
    Ejected { until_ms: f64 },
    /// Its single probe is out.
    Probing,
    /// Credentials refused; until restored.
    AuthFailed,
}

/// One model of the set as the request sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CandidateView {
    /// Index in the model set.
    pub index: usize,
    /// `None`: a candidate.
    pub excluded: Option<Exclusion>,
    /// Position in the legacy's ranking (0: best), when it passed the legacy's filter.
    pub rank: Option<usize>,
    pub score: ScoreParts,
    pub state: State,
    /// Predicted latency now (ms): the decayed Peak-EWMA estimate, at least the age of the
    /// oldest call in flight.
    pub latency_estimate_ms: f64,
    pub in_flight: usize,
    /// The predicted latency meets the request's latency requirement.
    pub meets_deadline: bool,
    /// The model that served the request's session last (affinity keeps it while it is a
    /// candidate and healthy).
    pub session_model: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// What a routing call would resolve with now.
    pub decision: Result<Decision, RouteError>,
    /// Estimated input tokens plus the token budget.
    pub required_tokens: f64,
    /// Every model of the set, in its order.
    pub candidates: Vec<CandidateView>,
}

impl Router {
    /// What `select_with` would decide for `ctx` at `now_ms`, and every model's part in it.
    /// Nothing changes: no routing-cache lookup is counted, no decision is tracked, no
    /// random draw is consumed and no health transition or event is kept.
    pub fn explain(&mut self, ctx: &RoutingContext, retry: RetryInfo, now_ms: f64) -> Explanation {
        let input = retry
            .input_tokens
            .unwrap_or_else(|| ctx.task.estimate_input_tokens());
        let key = self.cache.key(ctx);
        let cached = self
            .cache
            .peek_fresh(&key, now_ms)
            .and_then(|id| self.cache.peek(id))
            .and_then(|d| d.adaptive.clone())
            .filter(|a| a.generation == self.generation);
        let from_cache = cached.is_some();
        let entry = match cached {
            Some(e) => e,
            None => {
                let required_tokens = input + ctx.token_budget.unwrap_or(0.0);
                let reserve_tokens = input
                    + ctx
                        .token_budget
                        .unwrap_or(self.options.default_output_tokens);
                Rc::new(AdaptiveEntry {
                    ranked: self.ranked_legacy(ctx, required_tokens).into_boxed_slice(),
                    generation: self.generation,
                    user_tier: ctx.user_tier,
                    latency_requirement: ctx.latency_requirement,
                    required_tokens,
                    reserve_tokens,
                })
            }
        };
        // the pick runs on a copy of the live state, with the time-driven changes due now
        let mut view = self.adaptive.clone();
        view.refresh_all(now_ms);
        let live = std::mem::replace(&mut self.adaptive, view);
        let quotas = self.quotas.clone();
        let budgets = self.budgets.clone();
        // the models as the pick finds them (before it counts its decision in flight)
        let session_model = retry.session_model.map(|s| s.current).or_else(|| {
            retry
                .session
                .and_then(|s| self.sessions.peek(s, now_ms))
                .and_then(|m| self.models.index_of(m.current))
        });
        let mut candidates = self.candidate_views(ctx, &entry, &self.adaptive, now_ms);
        for c in &mut candidates {
            c.session_model = session_model == Some(c.index);
        }
        let decision = if self.models.is_empty() {
            Err(RouteError::NoModels)
        } else {
            self.pick_live(&entry, 0, from_cache, retry, now_ms, false)
                .map(|d| Decision {
                    cache_id: None,
                    ..d
                })
        };
        self.adaptive = live;
        self.quotas = quotas;
        self.budgets = budgets;
        Explanation {
            decision,
            required_tokens: entry.required_tokens,
            candidates,
        }
    }

    fn candidate_views(
        &self,
        ctx: &RoutingContext,
        entry: &AdaptiveEntry,
        view: &AdaptiveBook,
        now_ms: f64,
    ) -> Vec<CandidateView> {
        let cx = ctx.task.analyze(ctx.capabilities.is_some());
        let decay = view.config.latency_decay_ms;
        self.models
            .iter()
            .map(|(i, m)| {
                let rank = entry.ranked.iter().position(|&r| r as usize == i);
                let state = view.get(&m.name);
                let health = state.map_or(State::Healthy, |s| s.health.state());
                let until = state
                    .and_then(|s| s.health.until_ms())
                    .unwrap_or(f64::INFINITY);
                let estimate = state.map_or(m.latency_target, |s| {
                    let e = s.latency_estimate(now_ms, m.latency_target, decay);
                    s.oldest_in_flight_ms().map_or(e, |at| e.max(now_ms - at))
                });
                let excluded = if m.tier > entry.user_tier {
                    Some(Exclusion::Tier)
                } else if !self.is_available(&m.name) {
                    Some(Exclusion::Unavailable)
                } else if m.max_tokens < entry.required_tokens {
                    Some(Exclusion::ContextWindow)
                } else if rank.is_none() && !entry.ranked.is_empty() {
                    Some(Exclusion::LegacyFilter)
                } else if let Some(until_ms) = Some(self.quotas.peek_clears_at(
                    &m.name,
                    entry.reserve_tokens,
                    now_ms,
                ))
                .filter(|&u| u > now_ms)
                {
                    Some(Exclusion::Quota { until_ms })
                } else {
                    match health {
                        State::Healthy => None,
                        State::RateLimited => Some(Exclusion::RateLimited { until_ms: until }),
                        State::Ejected => Some(Exclusion::Ejected { until_ms: until }),
                        State::Probing => Some(Exclusion::Probing),
                        State::AuthFailed => Some(Exclusion::AuthFailed),
                    }
                };
                CandidateView {
                    index: i,
                    excluded,
                    rank,
                    score: self.legacy_score_parts(m, ctx, &cx),
                    state: health,
                    latency_estimate_ms: estimate,
                    in_flight: state.map_or(0, |s| s.in_flight()),
                    meets_deadline: ctx.latency_requirement <= 0.0
                        || estimate <= ctx.latency_requirement,
                    session_model: false,
                }
            })
            .collect()
    }
}
