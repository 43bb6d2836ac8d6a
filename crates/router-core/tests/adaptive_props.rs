//! Properties of the adaptive strategy over any sequence of outcomes and clock steps:
//! no decision names a model inside its cooldown while another eligible model is healthy,
//! and no model leaves `ejected` except through a probe.

use proptest::prelude::*;
use router_core::health::{Reason, State};
use router_core::outcome::{ErrorType, OutcomeClass};
use router_core::{
    AdaptiveOutcome, DecisionKind, ModelConfig, Priority, RetryInfo, RouteError, Router,
    RouterOptions, RoutingContext, Strategy as RouterStrategy, Tier,
};

fn models() -> Vec<ModelConfig> {
    (0..4)
        .map(|i| ModelConfig {
            name: format!("m{i}"),
            tier: Tier::Free,
            capabilities: vec![],
            latency_target: 500.0 + 100.0 * i as f64,
            cost_per_token: 1e-6,
            max_tokens: 8192.0,
        })
        .collect()
}

#[derive(Clone, Debug)]
enum Step {
    Advance(f64),
    Route {
        retry: bool,
    },
    /// An outcome of the last decision naming model `m % 4` (or by name when none).
    Outcome {
        m: usize,
        class: u32,
        retry_after: Option<f64>,
        latency: f64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0.0..20_000.0f64).prop_map(Step::Advance),
        any::<bool>().prop_map(|retry| Step::Route { retry }),
        (
            0..4usize,
            0..10u32,
            proptest::option::of(0.0..10_000.0f64),
            0.0..5_000.0f64
        )
            .prop_map(|(m, class, retry_after, latency)| Step::Outcome {
                m,
                class,
                retry_after,
                latency
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn cooldowns_hold_and_ejections_end_only_by_probe(steps in proptest::collection::vec(step(), 1..200)) {
        let mut r = Router::new(RouterOptions {
            strategy: RouterStrategy::Adaptive,
            seed: Some(7),
            ..RouterOptions::default()
        });
        r.set_models(models());
        let names: Vec<String> = models().into_iter().map(|m| m.name).collect();
        let mut now = 0.0;
        let mut pending: Vec<(usize, u64)> = Vec::new();
        for s in steps {
            match s {
                Step::Advance(ms) => now += ms,
                Step::Route { retry } => {
                    r.adaptive_mut().refresh_all(now);
                    let before: Vec<(State, Option<f64>)> = names
                        .iter()
                        .map(|n| r.adaptive().get(n).map_or((State::Healthy, None), |s| (s.health.state(), s.health.until_ms())))
                        .collect();
                    let ctx = RoutingContext {
                        task: "Summarize this paragraph".into(),
                        user_tier: Tier::Free,
                        priority: Priority::Medium,
                        latency_requirement: 2000.0,
                        token_budget: None,
                        capabilities: None,
                        matched_custom_rules: &[],
                    };
                    let info = RetryInfo { previous: None, is_retry: retry, input_tokens: None, session: None, session_model: None, budget_key: None };
                    match r.select_with(&ctx, info, now) {
                        Ok(d) => {
                            let DecisionKind::Adaptive { decision_id, .. } = d.kind else {
                                panic!("not an adaptive decision: {d:?}");
                            };
                            let any_healthy = before.iter().any(|b| b.0 == State::Healthy);
                            let (state, until) = before[d.model_index];
                            let probe_ready = state == State::Ejected && until.is_some_and(|u| u <= now);
                            if any_healthy {
                                prop_assert!(
                                    state == State::Healthy || (probe_ready && !retry),
                                    "named {:?} ({state:?} until {until:?}) at {now} while another is healthy", names[d.model_index]
                                );
                            }
                            pending.push((d.model_index, decision_id));
                        }
                        Err(RouteError::NoHealthyModel { .. }) => prop_assert!(false, "default policy names the closest"),
                        Err(e) => prop_assert!(false, "{e:?}"),
                    }
                }
                Step::Outcome { m, class, retry_after, latency } => {
                    let class = OutcomeClass::from_code(class).unwrap();
                    let (name, id) = match pending.iter().position(|p| p.0 == m % 4) {
                        Some(i) => {
                            let (idx, id) = pending.remove(i);
                            (names[idx].clone(), Some(id))
                        }
                        None => (names[m % 4].clone(), None),
                    };
                    r.report_outcome(&name, AdaptiveOutcome {
                        class,
                        decision_id: id,
                        latency_ms: latency,
                        retry_after_ms: if class == OutcomeClass::RateLimited { retry_after } else { None },
                        now_ms: now,
                        tokens: None,
                        cost: None,
                    });
                }
            }
            for e in r.adaptive_mut().take_events() {
                let t = e.transition;
                if t.from == State::Ejected {
                    prop_assert_eq!((t.to, t.reason), (State::Probing, Reason::ProbeStarted), "{:?}", e);
                }
            }
        }
    }

    #[test]
    fn caller_errors_never_eject(codes in proptest::collection::vec(0..3usize, 1..300), step_ms in 0.0..1000.0f64) {
        let mut r = Router::new(RouterOptions { strategy: RouterStrategy::Adaptive, ..RouterOptions::default() });
        r.set_models(models());
        let kinds = [ErrorType::BadRequest, ErrorType::ContextLength, ErrorType::ContentPolicy];
        for (i, c) in codes.iter().enumerate() {
            r.report_outcome("m0", AdaptiveOutcome {
                class: OutcomeClass::CallerError(kinds[*c]),
                decision_id: None,
                latency_ms: 1.0,
                retry_after_ms: None,
                now_ms: i as f64 * step_ms,
                tokens: None,
                cost: None,
            });
        }
        let s = r.adaptive().get("m0").unwrap();
        prop_assert_eq!(s.health.state(), State::Healthy);
        prop_assert_eq!(s.health.total_ejections(), 0);
    }
}
