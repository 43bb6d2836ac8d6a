//! Fallbacks under the adaptive strategy: the tier fallback (the emergency fallback) and
//! `selectFallbackModel` name only a model with room for the request — its context window
//! holds the request, its next request stays within its `rpm`/`tpm`, and its estimated
//! cost stays within every budget it falls under. The same checks as a routing call's
//! candidates get, read without changing anything.

use super::*;
use crate::tokens;

/// What a request needs of a model, as the adaptive strategy counts it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CapacityNeed<'a> {
    /// Input estimate + token budget: the context window must hold this.
    pub required_tokens: f64,
    /// Input estimate + token budget (or `default_output_tokens`): what a decision reserves
    /// against `tpm` and prices against budgets.
    pub reserve_tokens: f64,
    /// `context.budgetKey`.
    pub budget_key: Option<&'a str>,
    pub now_ms: f64,
}

/// Why a model has no room for a request (the first failing check).
#[derive(Clone, Copy, Debug, PartialEq)]
enum NoRoom {
    Window,
    Quota { until_ms: f64 },
    Budget { budget: usize, resets_at_ms: f64 },
}

impl Router {
    /// The need of a request of `task` with `token_budget`: `input_tokens` is the caller's
    /// estimate (`None`: the router's own).
    pub fn capacity_need<'a>(
        &self,
        task: &str,
        token_budget: Option<f64>,
        input_tokens: Option<f64>,
        budget_key: Option<&'a str>,
        now_ms: f64,
    ) -> CapacityNeed<'a> {
        let input = input_tokens.unwrap_or_else(|| tokens::estimate_input_tokens(task));
        CapacityNeed {
            required_tokens: input + token_budget.unwrap_or(0.0),
            reserve_tokens: input + token_budget.unwrap_or(self.options.default_output_tokens),
            budget_key,
            now_ms,
        }
    }

    fn no_room(&self, m: &ModelConfig, need: &CapacityNeed) -> Option<NoRoom> {
        if m.max_tokens < need.required_tokens {
            return Some(NoRoom::Window);
        }
        let until_ms = self
            .quotas
            .peek_clears_at(&m.name, need.reserve_tokens, need.now_ms);
        if until_ms > need.now_ms {
            return Some(NoRoom::Quota { until_ms });
        }
        let cost = m.cost_per_token * need.reserve_tokens;
        self.budgets
            .exceeded_by(&m.name, need.budget_key, cost, need.now_ms)
            .map(|(budget, resets_at_ms)| NoRoom::Budget {
                budget,
                resets_at_ms,
            })
    }

    /// Whether `m` has room for a request of `need` (always, without a need).
    pub(super) fn has_room(&self, m: &ModelConfig, need: Option<&CapacityNeed>) -> bool {
        need.is_none_or(|n| self.no_room(m, n).is_none())
    }

    /// The error for a fallback that found no model with room, from the models `allowed`
    /// keeps: the soonest quota to clear, else the first budget, else the window.
    pub(super) fn no_room_error(
        &self,
        need: Option<&CapacityNeed>,
        allowed: &dyn Fn(&ModelConfig) -> bool,
    ) -> RouteError {
        let Some(need) = need else {
            return RouteError::NoEligibleModel;
        };
        let reasons: Vec<NoRoom> = self
            .models
            .iter()
            .filter(|(_, m)| allowed(m))
            .filter_map(|(_, m)| self.no_room(m, need))
            .collect();
        let quota = reasons
            .iter()
            .filter_map(|r| match r {
                NoRoom::Quota { until_ms } => Some(*until_ms),
                _ => None,
            })
            .fold(f64::INFINITY, f64::min);
        if quota.is_finite() {
            return RouteError::NoHealthyModel {
                retry_after_ms: quota - need.now_ms,
            };
        }
        for r in &reasons {
            if let NoRoom::Budget {
                budget,
                resets_at_ms,
            } = *r
            {
                return RouteError::BudgetExceeded {
                    budget,
                    resets_at_ms,
                };
            }
        }
        if !reasons.is_empty() && reasons.iter().all(|r| *r == NoRoom::Window) {
            return RouteError::NoModelFitsWindow {
                required_tokens: need.required_tokens,
            };
        }
        RouteError::NoEligibleModel
    }

    /// A fallback decision for `need` at `model_index`: reserves one request and its
    /// estimated tokens and cost as a routing call's decision does, under a new decision id
    /// (returned). Its outcome, reported by model name, settles nothing: the reservation
    /// leaves with the quota window, and budgets keep it spent as estimated.
    pub fn reserve_fallback(&mut self, model_index: usize, need: &CapacityNeed) -> Option<u64> {
        let m = self.models.get(model_index)?;
        let id = self.adaptive.next_decision();
        self.adaptive.set_next_decision(id + 1);
        self.quotas
            .reserve(&m.name, id, need.reserve_tokens, need.now_ms);
        let cost = m.cost_per_token * need.reserve_tokens;
        self.budgets
            .reserve(id, &m.name, need.budget_key, cost, need.now_ms);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Quota;

    fn model(name: &str, tier: Tier, caps: &[&str], cost: f64, window: f64) -> ModelConfig {
        ModelConfig {
            name: name.into(),
            tier,
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            latency_target: 1000.0,
            cost_per_token: cost,
            max_tokens: window,
        }
    }

    /// Marks every model available, as a routing call does (`select_fallback` reads the marks).
    fn mark_all(r: &mut Router) {
        let names: Vec<String> = r.models().iter().map(|(_, m)| m.name.clone()).collect();
        for n in names {
            r.set_availability(&n, true);
        }
    }

    /// The pro tier's fallback list is 2.5-flash, 2.0-flash-thinking, 2.0-flash.
    fn router() -> Router {
        let mut r = Router::new(RouterOptions {
            strategy: Strategy::Adaptive,
            seed: Some(1),
            ..RouterOptions::default()
        });
        r.set_models(vec![
            model(
                "gemini-2.5-pro",
                Tier::Pro,
                &["reasoning", "code"],
                1e-6,
                1e6,
            ),
            model("gemini-2.5-flash", Tier::Pro, &["code"], 1e-6, 1e6),
            model(
                "gemini-2.0-flash-thinking",
                Tier::Pro,
                &["reasoning"],
                1e-6,
                1e6,
            ),
            model("gemini-2.0-flash", Tier::Free, &[], 1e-7, 1e6),
        ]);
        mark_all(&mut r);
        r
    }

    fn need(r: &Router, now_ms: f64) -> CapacityNeed<'static> {
        r.capacity_need("x", Some(100.0), Some(10.0), None, now_ms)
    }

    #[test]
    fn without_a_need_the_fallbacks_are_as_before() {
        let r = router();
        assert_eq!(
            r.tier_fallback_within(Tier::Pro, None),
            r.tier_fallback(Tier::Pro)
        );
        assert_eq!(
            r.select_fallback_within("gemini-2.5-pro", Tier::Pro, None),
            r.select_fallback("gemini-2.5-pro", Tier::Pro)
        );
    }

    #[test]
    fn a_model_over_its_quota_is_passed_over_until_it_clears() {
        let mut r = router();
        r.set_quotas(&[(
            "gemini-2.5-flash".into(),
            Quota {
                rpm: Some(1.0),
                tpm: None,
            },
        )]);
        let n = need(&r, 0.0);
        assert_eq!(r.tier_fallback_within(Tier::Pro, Some(&n)), Ok(1));
        r.reserve_fallback(1, &n).unwrap();
        let n = need(&r, 1.0);
        assert_eq!(r.tier_fallback_within(Tier::Pro, Some(&n)), Ok(2));
        // selectFallbackModel's first strategy (same tier, shared capabilities) skips it too
        let i = r
            .select_fallback_within("gemini-2.5-pro", Tier::Pro, Some(&n))
            .unwrap();
        assert_ne!(i, 1);
        let n = need(&r, 60_000.0);
        assert_eq!(r.tier_fallback_within(Tier::Pro, Some(&n)), Ok(1));
    }

    #[test]
    fn a_model_whose_window_is_too_small_is_passed_over() {
        let mut r = router();
        let mut models: Vec<ModelConfig> = r.models().iter().map(|(_, m)| m.clone()).collect();
        models[1].max_tokens = 50.0;
        r.set_models(models);
        let n = need(&r, 0.0);
        assert_eq!(r.tier_fallback_within(Tier::Pro, Some(&n)), Ok(2));
        for orig in ["gemini-2.5-pro", "gemini-2.0-flash-thinking", "nope"] {
            let i = r.select_fallback_within(orig, Tier::Pro, Some(&n)).unwrap();
            assert!(r.models().get(i).unwrap().max_tokens >= n.required_tokens);
        }
        let huge = r.capacity_need("x", Some(1e7), Some(10.0), None, 0.0);
        assert_eq!(
            r.tier_fallback_within(Tier::Pro, Some(&huge)),
            Err(RouteError::NoModelFitsWindow {
                required_tokens: 1e7 + 10.0
            })
        );
    }

    #[test]
    fn a_model_that_would_exceed_a_budget_is_passed_over() {
        let mut r = router();
        // the reservation: 110 tokens × 1e-6 = 1.1e-4; the key's budget holds one of them
        r.set_budget(Scope::Key("team".into()), 1.5e-4, 1000.0, 0.0);
        let n = r.capacity_need("x", Some(100.0), Some(10.0), Some("team"), 0.0);
        assert_eq!(r.tier_fallback_within(Tier::Pro, Some(&n)), Ok(1));
        r.reserve_fallback(1, &n).unwrap();
        // every pro model now overspends; the free one is cheap enough
        let n = r.capacity_need("x", Some(100.0), Some(10.0), Some("team"), 1.0);
        assert_eq!(r.tier_fallback_within(Tier::Pro, Some(&n)), Ok(3));
        assert_eq!(
            r.select_fallback_within("gemini-2.5-pro", Tier::Pro, Some(&n)),
            Ok(3)
        );
        // another key is not held by it
        let other = r.capacity_need("x", Some(100.0), Some(10.0), Some("x"), 1.0);
        assert_eq!(r.tier_fallback_within(Tier::Pro, Some(&other)), Ok(1));
        r.set_budget(Scope::Global, 1e-9, 1000.0, 1.0);
        assert_eq!(
            r.tier_fallback_within(Tier::Pro, Some(&n)),
            Err(RouteError::BudgetExceeded {
                budget: 0,
                resets_at_ms: 1000.0
            })
        );
    }

    #[test]
    fn every_model_over_quota_says_when_the_soonest_clears() {
        let mut r = router();
        let quotas: Vec<(String, Quota)> = r
            .models()
            .iter()
            .map(|(_, m)| {
                (
                    m.name.clone(),
                    Quota {
                        rpm: Some(1.0),
                        tpm: None,
                    },
                )
            })
            .collect();
        r.set_quotas(&quotas);
        for (i, t) in [(0, 0.0), (1, 10.0), (2, 20.0), (3, 30.0)] {
            r.reserve_fallback(i, &need(&r, t)).unwrap();
        }
        let n = need(&r, 100.0);
        assert_eq!(
            r.select_fallback_within("gemini-2.5-pro", Tier::Enterprise, Some(&n)),
            Err(RouteError::NoHealthyModel {
                retry_after_ms: 60_000.0 - 100.0
            })
        );
    }

    #[test]
    fn the_legacy_tier_policy_keeps_the_capacity_checks() {
        let mut r = Router::new(RouterOptions {
            strategy: Strategy::Adaptive,
            tier_policy: TierPolicy::Legacy,
            ..RouterOptions::default()
        });
        r.set_models(vec![
            model("small", Tier::Enterprise, &[], 1e-6, 10.0),
            model("large", Tier::Enterprise, &[], 1e-6, 1e6),
        ]);
        let n = r.capacity_need("x", Some(100.0), Some(10.0), None, 0.0);
        assert_eq!(r.tier_fallback(Tier::Free), Ok(0));
        assert_eq!(r.tier_fallback_within(Tier::Free, Some(&n)), Ok(1));
    }
}
