//! Prints the cost of the router core's hot paths (no N-API): `cargo run --release -p router-core --example hit_cost`.
use router_core::*;
use std::time::Instant;

fn main() {
    let models: Vec<ModelConfig> = [
        "a-model-name-01",
        "b-model-name-02",
        "c-model-name-03",
        "d-model-name-04",
        "e-model-name-05",
        "gemini-2.0-flash",
    ]
    .iter()
    .enumerate()
    .map(|(i, n)| ModelConfig {
        name: n.to_string(),
        tier: Tier::Free,
        capabilities: vec!["code".into()],
        latency_target: 500.0 + i as f64,
        cost_per_token: 1e-7,
        max_tokens: 1000.0,
    })
    .collect();
    let mut r = Router::new(RouterOptions::default());
    r.set_models(models);
    let task = "Write a function to sort a list";
    let ctx = RoutingContext {
        task: task.into(),
        user_tier: Tier::Pro,
        priority: Priority::High,
        latency_requirement: 2000.0,
        token_budget: None,
        capabilities: None,
        matched_custom_rules: &[],
    };
    let d = r.select(&ctx, 0.0).unwrap();
    let id = d.cache_id.unwrap();
    let n = 2_000_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(r.replay_hit(id, 0.001));
    }
    println!(
        "replay_hit (a memo hit replayed): {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(r.select(&ctx, 1.0).unwrap());
    }
    println!(
        "select (hit by key): {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(Instant::now());
    }
    println!(
        "Instant::now: {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let text = "Please analyze this function and optimize the algorithm: function f(x) { if (x) { for (const y of x) g(y) } } The database layer and the API need a security review before release. ";
    for size in [100usize, 100_000] {
        let body: String = text.chars().cycle().take(size).collect();
        let iters = if size > 1000 { 500 } else { 5_000 };
        let tasks: Vec<String> = (0..iters).map(|i| format!("#{i:<7}{body}")).collect();
        for (k, chunk) in tasks.chunks(1000).enumerate() {
            let t = Instant::now();
            for t in chunk {
                let c = RoutingContext {
                    task: t.as_str().into(),
                    ..ctx
                };
                std::hint::black_box(r.select(&c, 1.0).unwrap());
            }
            println!(
                "select miss {size} B, chunk {k}: {:.0} ns",
                t.elapsed().as_nanos() as f64 / chunk.len() as f64
            );
        }
        let t = Instant::now();
        for t in &tasks {
            std::hint::black_box(complexity::analyze(t, false));
        }
        println!(
            "  of which analyze: {:.0} ns",
            t.elapsed().as_nanos() as f64 / iters as f64
        );
        let t = Instant::now();
        for t in &tasks {
            let c = RoutingContext {
                task: t.as_str().into(),
                ..ctx
            };
            std::hint::black_box(r.cache().key(&c));
        }
        println!(
            "  of which the cache key: {:.0} ns",
            t.elapsed().as_nanos() as f64 / iters as f64
        );
    }
    let n = 200_000;
    for size in [100usize, 10_000, 100_000] {
        let text: String =
            "Please analyze this function { if (x) for y } and optimize the code path. "
                .chars()
                .cycle()
                .take(size)
                .collect();
        let t = Instant::now();
        for _ in 0..(n / (size / 100).max(1)).max(20) {
            std::hint::black_box(complexity::analyze(&text, true));
        }
        let iters = (n / (size / 100).max(1)).max(20);
        println!(
            "analyze {size} B: {:.0} ns",
            t.elapsed().as_nanos() as f64 / iters as f64
        );
    }
}

#[allow(dead_code)]
fn unused() {}
