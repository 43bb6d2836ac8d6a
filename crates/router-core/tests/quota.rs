//! Model quotas (`rpm`, `tpm`) under the adaptive strategy, in explicit time: a model whose
//! next request would exceed its quota in the continuous 60 s window is skipped like a
//! cooling model, and no 60 s window ever holds more than the quota.

use proptest::prelude::*;
use router_core::adaptive::{AdaptiveConfig, PickKind, WhenNoneHealthy};
use router_core::outcome::OutcomeClass;
use router_core::quota::{Quota, WINDOW_MS};
use router_core::{
    AdaptiveOutcome, DecisionKind, ModelConfig, Priority, RetryInfo, RouteError, Router,
    RouterOptions, RoutingContext, Strategy as RouterStrategy, Tier,
};

fn model(name: &str, latency: f64) -> ModelConfig {
    ModelConfig {
        name: name.into(),
        tier: Tier::Free,
        capabilities: vec![],
        latency_target: latency,
        cost_per_token: 1e-6,
        max_tokens: 100_000.0,
    }
}

fn router(when: WhenNoneHealthy, top: Quota, second: Quota) -> Router {
    let mut r = Router::new(RouterOptions {
        strategy: RouterStrategy::Adaptive,
        seed: Some(9),
        adaptive: AdaptiveConfig {
            when_none_healthy: when,
            ..Default::default()
        },
        ..Default::default()
    });
    r.set_models(vec![model("top", 300.0), model("second", 400.0)]);
    r.set_quotas(&[("top".into(), top), ("second".into(), second)]);
    r
}

fn ctx(task: &str, budget: Option<f64>) -> RoutingContext<'_> {
    RoutingContext {
        task: task.into(),
        user_tier: Tier::Free,
        priority: Priority::Medium,
        latency_requirement: 2000.0,
        token_budget: budget,
        capabilities: None,
        matched_custom_rules: &[],
    }
}

const UNLIMITED: Quota = Quota {
    rpm: None,
    tpm: None,
};

fn answer(r: &mut Router, name: &str, id: u64, tokens: Option<f64>, now: f64) {
    r.report_outcome(
        name,
        AdaptiveOutcome {
            class: OutcomeClass::Success,
            decision_id: Some(id),
            latency_ms: 200.0,
            retry_after_ms: None,
            now_ms: now,
            tokens,
            cost: None,
        },
    );
}

fn route(
    r: &mut Router,
    budget: Option<f64>,
    now: f64,
) -> Result<(String, u64, PickKind), RouteError> {
    let d = r.select_with(&ctx("hi", budget), RetryInfo::default(), now)?;
    let name = r.models().get(d.model_index).unwrap().name.clone();
    match d.kind {
        DecisionKind::Adaptive {
            decision_id, pick, ..
        } => {
            answer(r, &name, decision_id, None, now);
            Ok((name, decision_id, pick))
        }
        _ => unreachable!(),
    }
}

#[test]
fn the_top_model_takes_its_rpm_then_the_next_one_takes_the_rest() {
    let top = Quota {
        rpm: Some(3.0),
        tpm: None,
    };
    let mut r = router(WhenNoneHealthy::Closest, top, UNLIMITED);
    let names: Vec<String> = (0..5)
        .map(|i| route(&mut r, None, i as f64 * 1000.0).unwrap().0)
        .collect();
    assert_eq!(names, ["top", "top", "top", "second", "second"]);
    // the first leaves the window at 60 s: one more fits
    assert_eq!(route(&mut r, None, WINDOW_MS).unwrap().0, "top");
    assert_eq!(route(&mut r, None, WINDOW_MS + 1.0).unwrap().0, "second");
}

#[test]
fn every_model_over_quota_is_a_rejection_with_the_wait_or_the_closest() {
    let q = Quota {
        rpm: Some(1.0),
        tpm: None,
    };
    let mut r = router(WhenNoneHealthy::Reject, q, q);
    route(&mut r, None, 0.0).unwrap();
    route(&mut r, None, 10_000.0).unwrap();
    assert_eq!(
        route(&mut r, None, 20_000.0),
        Err(RouteError::NoHealthyModel {
            retry_after_ms: 40_000.0
        })
    );
    let mut r = router(WhenNoneHealthy::Closest, q, q);
    route(&mut r, None, 0.0).unwrap();
    route(&mut r, None, 10_000.0).unwrap();
    let (name, _, pick) = route(&mut r, None, 20_000.0).unwrap();
    assert_eq!(name, "top");
    assert_eq!(pick, PickKind::Closest { until_ms: 60_000.0 });
}

#[test]
fn tpm_reserves_the_estimate_and_the_outcome_settles_it() {
    let top = Quota {
        rpm: None,
        tpm: Some(2000.0),
    };
    let mut r = router(WhenNoneHealthy::Closest, top, UNLIMITED);
    // "hi" estimates 1 token; a budget of 1499 reserves 1500
    let d = r
        .select_with(&ctx("hi", Some(1499.0)), RetryInfo::default(), 0.0)
        .unwrap();
    assert_eq!(r.models().get(d.model_index).unwrap().name, "top");
    assert_eq!(r.quotas().usage("top", 0.0), (1, 1500.0));
    let d2 = r
        .select_with(&ctx("hi", Some(1499.0)), RetryInfo::default(), 1.0)
        .unwrap();
    assert_eq!(r.models().get(d2.model_index).unwrap().name, "second");
    // the first call used 300 tokens: room again
    let DecisionKind::Adaptive { decision_id, .. } = d.kind else {
        unreachable!()
    };
    answer(&mut r, "top", decision_id, Some(300.0), 2.0);
    assert_eq!(r.quotas().usage("top", 2.0), (1, 300.0));
    let d3 = r
        .select_with(&ctx("hi", Some(1499.0)), RetryInfo::default(), 3.0)
        .unwrap();
    assert_eq!(r.models().get(d3.model_index).unwrap().name, "top");
}

#[test]
fn no_budget_reserves_the_default_output() {
    let top = Quota {
        rpm: None,
        tpm: Some(1000.0),
    };
    let mut r = router(WhenNoneHealthy::Closest, top, UNLIMITED);
    // 1 + 1024 > 1000: never fits the top model
    assert_eq!(route(&mut r, None, 0.0).unwrap().0, "second");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Random arrivals, budgets and settlements (at most the estimate): in every 60 s window
    /// the requests and tokens sent to a model stay within its quota.
    #[test]
    fn never_over_a_quota(
        steps in proptest::collection::vec((0.0..3000.0f64, 0.0..800.0f64, 0.0..1.0f64, any::<bool>()), 1..150)
    ) {
        let q = Quota { rpm: Some(10.0), tpm: Some(4000.0) };
        let mut r = router(WhenNoneHealthy::Reject, q, Quota { rpm: Some(5.0), tpm: None });
        let mut now = 0.0;
        // (model, sent at, tokens as settled)
        let mut sent: Vec<(String, f64, f64, u64)> = Vec::new();
        for (gap, budget, used, settle) in steps {
            now += gap;
            match r.select_with(&ctx("hello there", Some(budget)), RetryInfo::default(), now) {
                Ok(d) => {
                    let name = r.models().get(d.model_index).unwrap().name.clone();
                    let DecisionKind::Adaptive { decision_id, pick, .. } = d.kind else { unreachable!() };
                    let closest = matches!(pick, PickKind::Closest { .. });
                    prop_assert!(!closest, "a rejection, never the closest, under reject");
                    let estimate = 4.0 + budget; // "hello there": 11 ASCII bytes = 4 tokens
                    let tokens = if settle { (estimate * used).floor() } else { estimate };
                    if settle {
                        answer(&mut r, &name, decision_id, Some(tokens), now);
                    }
                    sent.push((name, now, tokens, decision_id));
                }
                Err(RouteError::NoHealthyModel { retry_after_ms }) => prop_assert!(retry_after_ms > 0.0),
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
        }
        for (_, end, _, _) in sent.iter() {
            for (m, rpm, tpm) in [("top", 10.0, Some(4000.0)), ("second", 5.0, None)] {
                let in_window = sent.iter().filter(|(n, at, _, _)| n == m && *at > end - WINDOW_MS && at <= end);
                let (count, tokens) = in_window.fold((0.0, 0.0), |(c, t), s| (c + 1.0, t + s.2));
                prop_assert!(count <= rpm, "{} requests to {} in the window ending {}", count, m, end);
                if let Some(tpm) = tpm {
                    prop_assert!(tokens <= tpm, "{} tokens to {} in the window ending {}", tokens, m, end);
                }
            }
        }
    }
}
