//! Budgets under the adaptive strategy, in explicit time: cheaper models that fit first,
//! a rejection naming the budget when none does, settlement by the outcome.

use router_core::budget::Scope;
use router_core::outcome::OutcomeClass;
use router_core::{
    AdaptiveOutcome, DecisionKind, ModelConfig, Priority, RetryInfo, RouteError, Router,
    RouterOptions, RoutingContext, Strategy as RouterStrategy, Tier,
};

fn model(name: &str, latency: f64, price: f64) -> ModelConfig {
    ModelConfig {
        name: name.into(),
        tier: Tier::Free,
        capabilities: vec![],
        latency_target: latency,
        cost_per_token: price,
        max_tokens: 100_000.0,
    }
}

fn router() -> Router {
    let mut r = Router::new(RouterOptions {
        strategy: RouterStrategy::Adaptive,
        seed: Some(1),
        ..Default::default()
    });
    r.set_models(vec![
        model("pricey", 300.0, 1e-3),
        model("mid", 400.0, 5e-4),
        model("cheap", 500.0, 1e-4),
    ]);
    r
}

/// "abc" estimates 1 token; a budget of 999 reserves 1000.
fn ctx() -> RoutingContext<'static> {
    RoutingContext {
        task: "abc".into(),
        user_tier: Tier::Free,
        priority: Priority::Medium,
        latency_requirement: 2000.0,
        token_budget: Some(999.0),
        capabilities: None,
        matched_custom_rules: &[],
    }
}

fn pick(r: &mut Router, key: Option<&str>, now: f64) -> Result<(String, u64), RouteError> {
    let info = RetryInfo {
        budget_key: key,
        ..Default::default()
    };
    let d = r.select_with(&ctx(), info, now)?;
    let DecisionKind::Adaptive { decision_id, .. } = d.kind else {
        unreachable!()
    };
    Ok((
        r.models().get(d.model_index).unwrap().name.clone(),
        decision_id,
    ))
}

/// Answers decision `id` at once, reporting neither cost nor tokens (the estimate stays spent).
fn answered(r: &mut Router, key: Option<&str>, now: f64) -> Result<String, RouteError> {
    let (name, id) = pick(r, key, now)?;
    r.report_outcome(
        &name,
        AdaptiveOutcome {
            class: OutcomeClass::Success,
            decision_id: Some(id),
            latency_ms: 100.0,
            retry_after_ms: None,
            now_ms: now,
            tokens: None,
            cost: None,
        },
    );
    Ok(name)
}

#[test]
fn cheapest_fitting_first_then_a_rejection_then_a_new_window() {
    let mut r = router();
    r.set_budget(Scope::Global, 1.25, 10_000.0, 0.0);
    assert_eq!(answered(&mut r, None, 0.0).unwrap(), "pricey"); // 1.0
    assert_eq!(answered(&mut r, None, 1.0).unwrap(), "cheap"); // 0.1
    assert_eq!(answered(&mut r, None, 2.0).unwrap(), "cheap"); // 0.1
    assert_eq!(
        answered(&mut r, None, 3.0),
        Err(RouteError::BudgetExceeded {
            budget: 0,
            resets_at_ms: 10_000.0
        })
    );
    assert_eq!(answered(&mut r, None, 10_000.0).unwrap(), "pricey");
}

#[test]
fn the_outcome_settles_with_its_cost_or_tokens_times_price() {
    let mut r = router();
    r.set_budget(Scope::Key("k".into()), 1.0, 10_000.0, 0.0);
    let (name, id) = pick(&mut r, Some("k"), 0.0).unwrap();
    assert_eq!(name, "pricey");
    let spent = |r: &Router| r.budgets().budgets()[0].spent_at(1.0);
    assert_eq!(spent(&r), 1.0);
    r.report_outcome(
        &name,
        AdaptiveOutcome {
            class: OutcomeClass::Success,
            decision_id: Some(id),
            latency_ms: 100.0,
            retry_after_ms: None,
            now_ms: 1.0,
            tokens: Some(200.0),
            cost: None,
        },
    );
    assert!((spent(&r) - 0.2).abs() < 1e-12);
    // another key is not under it
    assert_eq!(pick(&mut r, Some("other"), 2.0).unwrap().0, "pricey");
    assert!((spent(&r) - 0.2).abs() < 1e-12);
}
