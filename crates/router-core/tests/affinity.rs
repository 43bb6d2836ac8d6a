//! Session affinity under the adaptive strategy, in explicit time: a session's follow-ups
//! go to its home model (the one it was first routed to) while that is a healthy candidate,
//! else to the model that served it last while that one is, and move at once when neither is.

use router_core::adaptive::PickKind;
use router_core::affinity::AffinityConfig;
use router_core::outcome::{ErrorType, OutcomeClass};
use router_core::{
    AdaptiveOutcome, DecisionKind, ModelConfig, Priority, RetryInfo, Router, RouterOptions,
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

fn router(affinity: AffinityConfig) -> Router {
    let mut r = Router::new(RouterOptions {
        strategy: RouterStrategy::Adaptive,
        seed: Some(5),
        affinity,
        ..Default::default()
    });
    // ranked a, b, c (fastest first)
    r.set_models(vec![
        model("a", 1000.0, 300.0),
        model("b", 8000.0, 400.0),
        model("c", 8000.0, 500.0),
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

fn session(s: &str) -> RetryInfo<'_> {
    RetryInfo {
        session: Some(s),
        ..Default::default()
    }
}

fn fail(r: &mut Router, name: &str, e: ErrorType, retry_after: Option<f64>, now: f64) {
    r.report_outcome(
        name,
        AdaptiveOutcome {
            class: OutcomeClass::of(e),
            decision_id: None,
            latency_ms: 10.0,
            retry_after_ms: retry_after,
            now_ms: now,
            tokens: None,
            cost: None,
        },
    );
}

/// Routes and reports the call answered at once (a conversation waits for each answer).
fn routed(r: &mut Router, task: &str, info: RetryInfo, now: f64) -> (String, DecisionKind) {
    let d = r.select_with(&ctx(task), info, now).unwrap();
    let name = r.models().get(d.model_index).unwrap().name.clone();
    if let DecisionKind::Adaptive { decision_id, .. } = d.kind {
        r.report_outcome(
            &name,
            AdaptiveOutcome {
                class: OutcomeClass::Success,
                decision_id: Some(decision_id),
                latency_ms: 200.0,
                retry_after_ms: None,
                now_ms: now,
                tokens: None,
                cost: None,
            },
        );
    }
    (name, d.kind)
}

#[test]
fn follow_ups_stay_on_the_sessions_model_after_the_best_one_recovers() {
    let mut r = router(AffinityConfig::default());
    fail(&mut r, "a", ErrorType::RateLimit, Some(1000.0), 0.0);
    assert_eq!(routed(&mut r, "hi", session("s1"), 10.0).0, "b");
    // "a" is healthy again: new requests go to it, the session stays on "b"
    assert_eq!(routed(&mut r, "hi", RetryInfo::default(), 2000.0).0, "a");
    let (m, kind) = routed(&mut r, "hi", session("s1"), 2001.0);
    assert_eq!(m, "b");
    assert!(matches!(
        kind,
        DecisionKind::Adaptive {
            pick: PickKind::Affinity,
            ..
        }
    ));
    assert_eq!(routed(&mut r, "hi", session("s2"), 2002.0).0, "a");
}

#[test]
fn a_session_moves_at_once_when_its_model_is_unhealthy_and_returns_home_after() {
    let mut r = router(AffinityConfig::default());
    assert_eq!(routed(&mut r, "hi", session("s"), 0.0).0, "a");
    fail(&mut r, "a", ErrorType::RateLimit, Some(60_000.0), 1.0);
    assert_eq!(routed(&mut r, "hi", session("s"), 2.0).0, "b");
    // through the home's outage the session stays on "b"
    for t in [100.0, 30_000.0, 59_000.0] {
        assert_eq!(routed(&mut r, "hi", session("s"), t).0, "b");
    }
    // "a" back: the session returns home, by affinity
    let (m, kind) = routed(&mut r, "hi", session("s"), 70_000.0);
    assert_eq!(m, "a");
    assert!(matches!(
        kind,
        DecisionKind::Adaptive {
            pick: PickKind::Affinity,
            ..
        }
    ));
}

#[test]
fn a_home_model_removed_from_the_set_rehomes_the_session() {
    let mut r = router(AffinityConfig::default());
    assert_eq!(routed(&mut r, "hi", session("s"), 0.0).0, "a");
    fail(&mut r, "a", ErrorType::RateLimit, Some(1000.0), 1.0);
    assert_eq!(routed(&mut r, "hi", session("s"), 2.0).0, "b");
    // "a" leaves the model set: "b", where the session is, becomes its home
    r.set_models(vec![model("b", 8000.0, 400.0), model("c", 8000.0, 500.0)]);
    assert_eq!(routed(&mut r, "hi", session("s"), 3.0).0, "b");
    // "a" is back and healthy: new sessions go to it, this one stays home on "b"
    r.set_models(vec![
        model("a", 1000.0, 300.0),
        model("b", 8000.0, 400.0),
        model("c", 8000.0, 500.0),
    ]);
    assert_eq!(routed(&mut r, "hi", RetryInfo::default(), 5000.0).0, "a");
    assert_eq!(routed(&mut r, "hi", session("s"), 5001.0).0, "b");
}

#[test]
fn a_retry_leaves_the_model_that_failed() {
    let mut r = router(AffinityConfig::default());
    assert_eq!(routed(&mut r, "hi", session("s"), 0.0).0, "a");
    fail(&mut r, "a", ErrorType::Server, None, 1.0);
    let retry = RetryInfo {
        previous: Some(0),
        is_retry: true,
        session: Some("s"),
        input_tokens: None,
        session_model: None,
        budget_key: None,
    };
    assert_ne!(routed(&mut r, "hi", retry, 2.0).0, "a");
}

#[test]
fn a_too_small_window_moves_the_session() {
    let mut r = router(AffinityConfig::default());
    assert_eq!(routed(&mut r, "hi", session("s"), 0.0).0, "a");
    let long = "x".repeat(3 * 2000); // 2000 tokens: "a" holds 1000
    assert_eq!(routed(&mut r, &long, session("s"), 1.0).0, "b");
}

#[test]
fn an_idle_session_is_forgotten() {
    let cfg = AffinityConfig {
        max_sessions: 100,
        idle_ms: 10_000.0,
    };
    let mut r = router(cfg);
    fail(&mut r, "a", ErrorType::RateLimit, Some(1000.0), 0.0);
    assert_eq!(routed(&mut r, "hi", session("s"), 1.0).0, "b");
    assert_eq!(routed(&mut r, "hi", session("s"), 9_000.0).0, "b");
    // idle 10 s since its last request: routed afresh
    assert_eq!(routed(&mut r, "hi", session("s"), 19_000.0).0, "a");
}

#[test]
fn off_when_max_sessions_is_zero() {
    let cfg = AffinityConfig {
        max_sessions: 0,
        idle_ms: 10_000.0,
    };
    let mut r = router(cfg);
    fail(&mut r, "a", ErrorType::RateLimit, Some(1000.0), 0.0);
    assert_eq!(routed(&mut r, "hi", session("s"), 1.0).0, "b");
    assert_eq!(routed(&mut r, "hi", session("s"), 2000.0).0, "a");
    assert_eq!(r.sessions().len(), 0);
}

#[test]
fn explain_shows_the_sessions_model_and_records_nothing() {
    let mut r = router(AffinityConfig::default());
    fail(&mut r, "a", ErrorType::RateLimit, Some(1000.0), 0.0);
    let e = r.explain(&ctx("hi"), session("new"), 1.0);
    assert!(e.candidates.iter().all(|c| !c.session_model));
    assert_eq!(r.sessions().len(), 0);
    routed(&mut r, "hi", session("s"), 2.0);
    let e = r.explain(&ctx("hi"), session("s"), 2000.0);
    let b = e.candidates.iter().find(|c| c.session_model).unwrap();
    assert_eq!(r.models().get(b.index).unwrap().name, "b");
    assert_eq!(e.decision.unwrap().model_index, b.index);
}
