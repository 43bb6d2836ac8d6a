//! Cost of a routing-cache miss in the router core (no N-API), in steady state (the cache
//! full, so every miss also evicts), for an enterprise user and six candidates:
//! `cargo run --release -p router-core --example miss_cost [bytes] [kind]` (kinds: see
//! `common/mod.rs`; default "dense", the benchmark's original paragraph).
mod common;

use router_core::*;
use std::time::Instant;

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let kind = std::env::args().nth(2).unwrap_or_else(|| "dense".into());
    let models: Vec<ModelConfig> = [
        (
            "gemini-2.5-deep-think",
            Tier::Enterprise,
            &["advanced-reasoning", "reasoning", "code"][..],
            8000.0,
            1e-5,
        ),
        (
            "gemini-2.5-pro",
            Tier::Pro,
            &["reasoning", "code"][..],
            2500.0,
            3.5e-6,
        ),
        (
            "gemini-pro-vertex",
            Tier::Enterprise,
            &["reasoning"][..],
            2000.0,
            5e-6,
        ),
        (
            "gemini-2.0-flash-thinking",
            Tier::Pro,
            &["reasoning"][..],
            1500.0,
            1e-6,
        ),
        ("gemini-2.5-flash", Tier::Pro, &["code"][..], 800.0, 5e-7),
        ("gemini-2.0-flash", Tier::Free, &[][..], 600.0, 2e-7),
    ]
    .iter()
    .map(|(n, tier, caps, lat, cost)| ModelConfig {
        name: n.to_string(),
        tier: *tier,
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
        latency_target: *lat,
        cost_per_token: *cost,
        max_tokens: 8192.0,
    })
    .collect();
    let mut r = Router::new(RouterOptions::default());
    r.set_models(models);
    let body = common::text(&kind, size.saturating_sub(8));
    let rounds = if size >= 10_000 { 3 } else { 100 };
    let per_round = 2000;
    // one task whose first 8 bytes are rewritten per call: unique (every call misses) and
    // in the CPU caches, as a task just converted from JS is
    let mut task = format!("#{:<7}{body}", 0);
    let mut k = 0;
    for round in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_round {
            k += 1;
            task.replace_range(..8, &format!("#{k:<7}"));
            let ctx = RoutingContext {
                task: task.as_str().into(),
                user_tier: Tier::Enterprise,
                priority: Priority::High,
                latency_requirement: 2000.0,
                token_budget: None,
                capabilities: None,
                matched_custom_rules: &[],
            };
            std::hint::black_box(r.select(&ctx, 1.0).unwrap());
        }
        if round + 1 == rounds || round == 0 {
            println!(
                "select miss {kind} {size} B, round {round}: {:.0} ns",
                t.elapsed().as_nanos() as f64 / per_round as f64
            );
        }
    }
}
