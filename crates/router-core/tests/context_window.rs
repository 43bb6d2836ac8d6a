//! Context windows under the adaptive strategy: no decision names a model whose
//! `max_tokens` is below the request's estimated input tokens plus its token budget.

use proptest::prelude::*;
use router_core::outcome::{ErrorType, OutcomeClass};
use router_core::tokens::estimate_input_tokens;
use router_core::{
    AdaptiveOutcome, ModelConfig, Priority, RetryInfo, RouteError, Router, RouterOptions,
    RoutingContext, Strategy as RouterStrategy, Tier,
};

fn model(name: &str, max_tokens: f64, latency: f64) -> ModelConfig {
    ModelConfig {
        name: name.into(),
        tier: Tier::Free,
        capabilities: vec![],
        latency_target: latency,
        cost_per_token: 1e-6,
        max_tokens,
    }
}

/// Best ranked first (lowest latency target): small, medium, large.
fn models() -> Vec<ModelConfig> {
    vec![
        model("small", 1000.0, 300.0),
        model("medium", 4000.0, 400.0),
        model("large", 100_000.0, 500.0),
    ]
}

fn router() -> Router {
    let mut r = Router::new(RouterOptions {
        strategy: RouterStrategy::Adaptive,
        seed: Some(3),
        ..Default::default()
    });
    r.set_models(models());
    r
}

fn ctx(task: &str, budget: Option<f64>) -> RoutingContext<'_> {
    RoutingContext {
        task: task.into(),
        user_tier: Tier::Free,
        priority: Priority::Medium,
        latency_requirement: 5000.0,
        token_budget: budget,
        capabilities: None,
        matched_custom_rules: &[],
    }
}

fn name(r: &Router, i: usize) -> &str {
    &r.models().get(i).unwrap().name
}

#[test]
fn a_short_task_goes_to_the_best_ranked_model() {
    let mut r = router();
    let d = r.select(&ctx("hello", None), 0.0).unwrap();
    assert_eq!(name(&r, d.model_index), "small");
}

#[test]
fn the_estimate_plus_the_token_budget_must_fit() {
    let mut r = router();
    // 300 ASCII bytes estimate 100 tokens: 100 + 900 fits the small window of 1000 exactly
    let task = "x".repeat(300);
    let d = r.select(&ctx(&task, Some(900.0)), 0.0).unwrap();
    assert_eq!(name(&r, d.model_index), "small");
    // one token more does not
    let d = r.select(&ctx(&task, Some(901.0)), 0.0).unwrap();
    assert_eq!(name(&r, d.model_index), "medium");
}

#[test]
fn a_long_task_skips_every_too_small_window_on_hits_too() {
    let mut r = router();
    let task = "y".repeat(3 * 5000); // 5000 tokens: only "large" holds it
    for t in 0..5 {
        let d = r.select(&ctx(&task, None), t as f64).unwrap();
        assert_eq!(name(&r, d.model_index), "large");
    }
    // the cached candidate list the layer's fast path reads holds only fitting models
    let d = r.select(&ctx(&task, None), 10.0).unwrap();
    let ranked = r.cached_candidates(d.cache_id.unwrap());
    assert!(ranked.iter().all(|&i| name(&r, i as usize) == "large"));
}

#[test]
fn the_callers_estimate_replaces_the_routers() {
    let mut r = router();
    let info = RetryInfo {
        input_tokens: Some(2000.0),
        ..Default::default()
    };
    let d = r.select_with(&ctx("short", None), info, 0.0).unwrap();
    assert_eq!(name(&r, d.model_index), "medium");
}

#[test]
fn nothing_fits_says_so_with_the_required_tokens() {
    let mut r = router();
    let task = "z".repeat(3 * 200_000);
    match r.select(&ctx(&task, Some(10.0)), 0.0) {
        Err(RouteError::NoModelFitsWindow { required_tokens }) => {
            assert_eq!(required_tokens, 200_010.0)
        }
        other => panic!("expected NoModelFitsWindow, got {other:?}"),
    }
}

#[test]
fn an_unhealthy_large_model_is_still_the_only_one_named_for_a_long_task() {
    let mut r = router();
    let task = "y".repeat(3 * 5000);
    // rate-limit "large": the never-none rule names it (closest), not a too-small model
    r.report_outcome(
        "large",
        AdaptiveOutcome {
            class: OutcomeClass::of(ErrorType::RateLimit),
            decision_id: None,
            latency_ms: 10.0,
            retry_after_ms: Some(30_000.0),
            now_ms: 0.0,
            tokens: None,
            cost: None,
        },
    );
    let d = r.select(&ctx(&task, None), 1.0).unwrap();
    assert_eq!(name(&r, d.model_index), "large");
}

#[test]
fn a_retry_after_context_length_never_falls_back_to_a_smaller_window() {
    let mut r = router();
    let task = "q".repeat(3 * 2000); // 2000 tokens: medium and large fit
    let d = r.select(&ctx(&task, None), 0.0).unwrap();
    assert_eq!(name(&r, d.model_index), "medium");
    r.report_outcome(
        "medium",
        AdaptiveOutcome {
            class: OutcomeClass::of(ErrorType::ContextLength),
            decision_id: None,
            latency_ms: 10.0,
            retry_after_ms: None,
            now_ms: 0.0,
            tokens: None,
            cost: None,
        },
    );
    let info = RetryInfo {
        previous: Some(1),
        is_retry: true,
        input_tokens: None,
        session: None,
        session_model: None,
        budget_key: None,
    };
    let d = r.select_with(&ctx(&task, None), info, 1.0).unwrap();
    assert_eq!(name(&r, d.model_index), "large");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random tasks, budgets and failures: a decision never names a too-small window.
    #[test]
    fn never_a_too_small_window(
        steps in proptest::collection::vec(
            (0usize..20_000, proptest::option::of(0.0..5_000.0f64), 0usize..3, any::<bool>()),
            1..40,
        )
    ) {
        let mut r = router();
        let mut now = 0.0;
        for (len, budget, fail, retry) in steps {
            now += 100.0;
            let task = "w".repeat(len);
            let required = estimate_input_tokens(&task) + budget.unwrap_or(0.0);
            let info = RetryInfo { previous: None, is_retry: retry, input_tokens: None, session: None, session_model: None, budget_key: None };
            match r.select_with(&ctx(&task, budget), info, now) {
                Ok(d) => {
                    let m = r.models().get(d.model_index).unwrap();
                    prop_assert!(m.max_tokens >= required, "{} ({}) for {}", m.name, m.max_tokens, required);
                }
                Err(RouteError::NoModelFitsWindow { required_tokens }) => {
                    prop_assert_eq!(required_tokens, required);
                    prop_assert!(required > 100_000.0);
                }
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
            let failing = ["small", "medium", "large"][fail];
            r.report_outcome(failing, AdaptiveOutcome {
                class: OutcomeClass::Failure(ErrorType::Server),
                decision_id: None,
                latency_ms: 50.0,
                retry_after_ms: None,
                now_ms: now,
                tokens: None,
                cost: None,
            });
        }
    }
}
