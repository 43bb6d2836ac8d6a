//! Router behaviour, including every legacy defect the router fixes.

use super::*;
use crate::model::Priority;

fn model(name: &str, tier: Tier, caps: &[&str], latency: f64, cost: f64) -> ModelConfig {
    ModelConfig {
        name: name.into(),
        tier,
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
        latency_target: latency,
        cost_per_token: cost,
        max_tokens: 8192.0,
    }
}

fn six_models() -> Vec<ModelConfig> {
    vec![
        model(
            "gemini-2.5-deep-think",
            Tier::Enterprise,
            &["advanced-reasoning", "reasoning", "code"],
            8000.0,
            1e-5,
        ),
        model(
            "gemini-2.5-pro",
            Tier::Pro,
            &["reasoning", "code"],
            2500.0,
            3.5e-6,
        ),
        model(
            "gemini-pro-vertex",
            Tier::Enterprise,
            &["reasoning"],
            2000.0,
            5e-6,
        ),
        model(
            "gemini-2.0-flash-thinking",
            Tier::Pro,
            &["reasoning"],
            1500.0,
            1e-6,
        ),
        model("gemini-2.5-flash", Tier::Pro, &["code"], 800.0, 5e-7),
        model("gemini-2.0-flash", Tier::Free, &[], 600.0, 2e-7),
    ]
}

fn ctx(task: &str, tier: Tier, latency: f64) -> RoutingContext<'_> {
    RoutingContext {
        task: task.into(),
        user_tier: tier,
        priority: Priority::Medium,
        latency_requirement: latency,
        token_budget: None,
        capabilities: None,
        matched_custom_rules: &[],
    }
}

fn router(policy: TierPolicy) -> Router {
    let mut r = Router::new(RouterOptions {
        tier_policy: policy,
        seed: Some(7),
        ..Default::default()
    });
    r.set_models(six_models());
    r
}

fn name(r: &Router, d: &Decision) -> String {
    r.models().get(d.model_index).unwrap().name.clone()
}

#[test]
fn second_identical_request_is_a_cache_hit() {
    let mut r = router(TierPolicy::Strict);
    let c = ctx("Write a haiku", Tier::Pro, 3000.0);
    let first = r.select(&c, 0.0).unwrap();
    assert!(matches!(first.kind, DecisionKind::Scored { .. }));
    let second = r.select(&c, 1.0).unwrap();
    assert_eq!(second.kind, DecisionKind::CacheHit);
    assert_eq!(second.confidence, 0.95);
    assert_eq!(second.model_index, first.model_index);
}

#[test]
fn a_free_user_is_never_served_an_enterprise_decision_from_the_cache() {
    // legacy: key = first ~24 bytes, so these two contexts shared one entry
    let mut r = router(TierPolicy::Strict);
    let task = "Please analyze the architecture of this system in depth";
    let ent = r.select(&ctx(task, Tier::Enterprise, 3000.0), 0.0).unwrap();
    let free = r.select(&ctx(task, Tier::Free, 3000.0), 1.0).unwrap();
    assert_ne!(free.kind, DecisionKind::CacheHit);
    let m = r.models().get(free.model_index).unwrap();
    assert_eq!(m.tier, Tier::Free);
    let _ = ent;
}

#[test]
fn explicit_unavailability_holds_and_cached_decisions_are_rechecked() {
    let mut r = router(TierPolicy::Strict);
    let c = ctx("Write a haiku", Tier::Pro, 3000.0);
    let first = r.select(&c, 0.0).unwrap();
    let chosen = name(&r, &first);
    assert!(r.set_availability(&chosen, false));
    r.set_models(six_models()); // the same Map passed again must not reset it
    let second = r.select(&c, 1.0).unwrap();
    assert_ne!(second.kind, DecisionKind::CacheHit);
    assert_ne!(name(&r, &second), chosen);
}

#[test]
fn cached_decision_for_a_removed_model_is_not_served() {
    let mut r = router(TierPolicy::Strict);
    let c = ctx("Write a haiku", Tier::Pro, 3000.0);
    let first = r.select(&c, 0.0).unwrap();
    let chosen = name(&r, &first);
    r.set_models(
        six_models()
            .into_iter()
            .filter(|m| m.name != chosen)
            .collect(),
    );
    let second = r.select(&c, 1.0).unwrap();
    assert_ne!(name(&r, &second), chosen);
}

#[test]
fn strict_fallback_never_exceeds_the_user_tier() {
    let mut r = router(TierPolicy::Strict);
    // only pro/enterprise models: a free user has nothing eligible
    r.set_models(
        six_models()
            .into_iter()
            .filter(|m| m.tier != Tier::Free)
            .collect(),
    );
    let err = r.select(&ctx("hi", Tier::Free, 3000.0), 0.0).unwrap_err();
    assert_eq!(err, RouteError::NoEligibleModel);
    // the legacy policy falls back to the free list's pro model
    let mut legacy = router(TierPolicy::Legacy);
    legacy.set_models(
        six_models()
            .into_iter()
            .filter(|m| m.tier != Tier::Free)
            .collect(),
    );
    let d = legacy.select(&ctx("hi", Tier::Free, 3000.0), 0.0).unwrap();
    assert_eq!(d.kind, DecisionKind::NoCandidates);
    assert_eq!(name(&legacy, &d), "gemini-2.5-flash");
}

#[test]
fn no_candidates_is_not_cached_or_counted() {
    let mut r = router(TierPolicy::Legacy);
    r.set_models(vec![model("slow", Tier::Free, &[], 5000.0, 1e-7)]);
    // latency < 1000 keeps only latencyTarget < 1200: none → fallback to the first key
    let d = r.select(&ctx("hi", Tier::Free, 500.0), 0.0).unwrap();
    assert_eq!(d.kind, DecisionKind::NoCandidates);
    assert_eq!(d.confidence, 0.3);
    assert_eq!(r.cache().len(), 0);
    assert_eq!(r.usage().get("slow"), 0);
}

#[test]
fn empty_model_set_is_an_error() {
    let mut r = Router::new(RouterOptions::default());
    assert_eq!(
        r.select(&ctx("x", Tier::Pro, 1.0), 0.0).unwrap_err(),
        RouteError::NoModels
    );
}

#[test]
fn recorded_latency_changes_the_latency_score() {
    let mut r = router(TierPolicy::Strict);
    let c = ctx("Write a haiku", Tier::Free, 1000.0);
    let d = r.select(&c, 0.0).unwrap();
    assert_eq!(
        d.kind,
        DecisionKind::Scored {
            latency: 1.0,
            complexity: 1.0
        }
    );
    r.record_performance(
        "gemini-2.0-flash",
        Outcome {
            latency_ms: 3000.0,
            success: true,
            cost: 0.0,
            tokens: None,
            now_epoch_ms: 0.0,
        },
    );
    let c2 = ctx("Write another haiku", Tier::Free, 1000.0);
    let d2 = r.select(&c2, 0.0).unwrap();
    // 3000 ms recorded (not 300 as the legacy average would say): latency score 0.1
    assert_eq!(
        d2.kind,
        DecisionKind::Scored {
            latency: 0.1,
            complexity: 1.0
        }
    );
}

#[test]
fn fallback_strategies_follow_the_contract() {
    let mut r = router(TierPolicy::Strict);
    for m in six_models() {
        r.set_availability(&m.name, true);
    }
    // 1. same tier with ≥70% of capabilities: pro "gemini-2.5-pro" [reasoning, code] → none
    //    of the other pro models has both; 2. lower tier with code/reasoning: none for a pro
    //    user below pro except free flash (no caps) → 3. pro list: gemini-2.5-flash
    let i = r.select_fallback("gemini-2.5-pro", Tier::Pro).unwrap();
    assert_eq!(r.models().get(i).unwrap().name, "gemini-2.5-flash");
    // strict: a free user never gets the pro model of strategy 1
    let i = r.select_fallback("gemini-2.5-flash", Tier::Free).unwrap();
    assert_eq!(r.models().get(i).unwrap().tier, Tier::Free);
}

#[test]
fn rules_strategy_is_reproducible_with_a_seed_and_respects_tiers() {
    let run = || {
        let mut r = Router::new(RouterOptions {
            strategy: Strategy::Rules,
            seed: Some(42),
            ..Default::default()
        });
        r.set_models(six_models());
        (0..50)
            .map(|i| {
                let task = format!("task {i} code");
                let d = r.select(&ctx(&task, Tier::Pro, 3000.0), 0.0).unwrap();
                let m = r.models().get(d.model_index).unwrap();
                assert!(m.tier <= Tier::Pro);
                m.name.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn optimize_moves_weights_within_bounds() {
    let mut r = router(TierPolicy::Strict);
    for _ in 0..10 {
        r.optimize(6.0, 2500.0);
    }
    let w = r.weights();
    assert_eq!(w.reliability, 0.5);
    assert_eq!(w.latency, 0.6);
    assert_eq!(w.cost, 0.1);
    let mut r2 = router(TierPolicy::Strict);
    r2.optimize(0.0, 0.0);
    assert_eq!(r2.weights(), Weights::default());
}

#[test]
fn replayed_hits_touch_the_entry_and_count() {
    let mut r = router(TierPolicy::Strict);
    let d = r.select(&ctx("a", Tier::Pro, 3000.0), 0.0).unwrap();
    let id = d.cache_id.unwrap();
    assert!(r.replay_hit(id, 0.01));
    assert!(r.replay_hit(id, 0.01));
    assert_eq!(r.routing_performance().window.len, 2);
    assert_eq!(r.cache().hit_rate(), 2.0 / 3.0);
    assert!(r.cache().remaining_ms(id, 1000.0) > 0.0);
    assert!(!r.replay_hit(id + 100, 0.01));
}
