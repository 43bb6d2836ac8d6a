//! `Router::explain`: the decision a routing call would make now, every model's part in it,
//! and no change to any state.

use proptest::prelude::*;
use router_core::health::State;
use router_core::outcome::{ErrorType, OutcomeClass};
use router_core::{
    AdaptiveOutcome, Exclusion, ModelConfig, Priority, RetryInfo, RouteError, Router,
    RouterOptions, RoutingContext, Strategy as RouterStrategy, Tier,
};

fn model(name: &str, tier: Tier, max_tokens: f64, latency: f64) -> ModelConfig {
    ModelConfig {
        name: name.into(),
        tier,
        capabilities: vec![],
        latency_target: latency,
        cost_per_token: 1e-6,
        max_tokens,
    }
}

fn router() -> Router {
    let mut r = Router::new(RouterOptions {
        strategy: RouterStrategy::Adaptive,
        seed: Some(11),
        ..Default::default()
    });
    r.set_models(vec![
        model("a", Tier::Free, 1000.0, 300.0),
        model("b", Tier::Free, 8000.0, 400.0),
        model("c", Tier::Free, 8000.0, 500.0),
        model("pro", Tier::Pro, 8000.0, 200.0),
    ]);
    r
}

fn ctx(task: &str) -> RoutingContext<'_> {
    RoutingContext {
        task: task.into(),
        user_tier: Tier::Free,
        priority: Priority::Medium,
        latency_requirement: 2000.0,
        token_budget: None,
        capabilities: None,
        matched_custom_rules: &[],
    }
}

fn outcome(
    class: OutcomeClass,
    retry_after: Option<f64>,
    latency: f64,
    now: f64,
) -> AdaptiveOutcome {
    AdaptiveOutcome {
        class,
        decision_id: None,
        latency_ms: latency,
        retry_after_ms: retry_after,
        now_ms: now,
        tokens: None,
        cost: None,
    }
}

#[test]
fn every_model_says_why_it_was_kept_or_left_out() {
    let mut r = router();
    r.report_outcome(
        "c",
        outcome(
            OutcomeClass::of(ErrorType::RateLimit),
            Some(5000.0),
            10.0,
            0.0,
        ),
    );
    let task = "x".repeat(3 * 1500); // 1500 tokens: "a" (1000) is too small
    let e = r.explain(&ctx(&task), RetryInfo::default(), 100.0);
    assert_eq!(e.required_tokens, 1500.0);
    let by = |n: &str| {
        e.candidates
            .iter()
            .find(|c| r.models().get(c.index).unwrap().name == n)
            .unwrap()
    };
    assert_eq!(by("pro").excluded, Some(Exclusion::Tier));
    assert_eq!(by("a").excluded, Some(Exclusion::ContextWindow));
    assert_eq!(by("b").excluded, None);
    assert_eq!(
        by("c").excluded,
        Some(Exclusion::RateLimited { until_ms: 5000.0 })
    );
    assert_eq!(by("c").state, State::RateLimited);
    assert_eq!(by("b").rank, Some(0));
    assert!(by("b").score.total > 0.0);
    assert_eq!(by("b").latency_estimate_ms, 400.0);
    assert!(by("b").meets_deadline);
    assert_eq!(
        by("b").in_flight,
        0,
        "as the pick finds it, before its own decision"
    );
    let d = e.decision.unwrap();
    assert_eq!(r.models().get(d.model_index).unwrap().name, "b");
}

#[test]
fn explaining_changes_nothing() {
    let mut r = router();
    let c = ctx("hello");
    let before = r.select(&c, 0.0).unwrap();
    let (hits, misses) = (r.cache().hits(), r.cache().misses());
    let next = r.adaptive().next_decision();
    let in_flight = r.adaptive().get("a").map_or(0, |s| s.in_flight());
    for t in 1..5 {
        let e = r.explain(&c, RetryInfo::default(), t as f64);
        assert_eq!(e.decision.unwrap().model_index, before.model_index);
    }
    assert_eq!((r.cache().hits(), r.cache().misses()), (hits, misses));
    assert_eq!(r.adaptive().next_decision(), next);
    assert_eq!(
        r.adaptive().get("a").map_or(0, |s| s.in_flight()),
        in_flight
    );
    assert_eq!(r.adaptive().pending_events(), 0);
}

#[test]
fn nothing_fits_is_explained_as_the_window() {
    let mut r = router();
    let task = "y".repeat(3 * 9000);
    let e = r.explain(&ctx(&task), RetryInfo::default(), 0.0);
    assert!(
        matches!(e.decision, Err(RouteError::NoModelFitsWindow { required_tokens }) if required_tokens == 9000.0)
    );
    assert!(e
        .candidates
        .iter()
        .all(|c| matches!(c.excluded, Some(Exclusion::ContextWindow | Exclusion::Tier))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever happened before, `explain` names the model the next routing call names
    /// (random draws included: it draws from a copy of the generator).
    #[test]
    fn explain_predicts_the_next_decision(
        steps in proptest::collection::vec((0usize..4, 0u32..4, 0.0..3000.0f64, any::<bool>()), 1..60)
    ) {
        let mut r = router();
        let names = ["a", "b", "c", "pro"];
        let mut now = 0.0;
        for (m, class, latency, retry) in steps {
            now += 250.0;
            let class = match class {
                0 => OutcomeClass::Success,
                1 => OutcomeClass::of(ErrorType::RateLimit),
                2 => OutcomeClass::of(ErrorType::Server),
                _ => OutcomeClass::of(ErrorType::Timeout),
            };
            r.report_outcome(names[m], outcome(class, None, latency, now));
            let c = ctx("Write a function");
            let info = RetryInfo { previous: None, is_retry: retry, input_tokens: None, session: None, session_model: None, budget_key: None };
            let e = r.explain(&c, info, now);
            let d = r.select_with(&c, info, now);
            match (e.decision, d) {
                (Ok(x), Ok(y)) => {
                    prop_assert_eq!(x.model_index, y.model_index);
                    prop_assert_eq!(x.kind, y.kind);
                }
                (x, y) => prop_assert!(false, "{:?} vs {:?}", x, y),
            }
        }
    }
}
