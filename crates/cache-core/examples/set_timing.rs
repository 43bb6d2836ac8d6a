//! Rust-only timing of the set path (no N-API): where a `set` of a 1 KB JSON value spends
//! its time. `cargo run --release -p cache-core --example set_timing`.
use cache_core::{kind, Config, Policy, TieredCache};
use std::time::Instant;

fn main() {
    let dir = std::env::temp_dir().join(format!("cache-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let value = format!(
        "{{\"id\":\"resp-1\",\"model\":\"gemini-2.5-flash\",\"usage\":{{\"input\":120,\"output\":380,\"total\":500}},\"text\":\"{}\"}}",
        "The quick brown fox jumps over the lazy dog. ".repeat(20).chars().take(880).collect::<String>()
    );
    memory_only(value.as_bytes());
    for (label, mem, batch) in [
        ("disk+memory, batch 64", 100 << 20, 64),
        ("disk only, batch 64", 1000, 64),
        ("disk+memory, batch 1", 100 << 20, 1),
    ] {
        let path = dir.join(format!("{}.db", label.replace([' ', ',', '+'], "_")));
        let mut c = TieredCache::open(Config {
            max_memory_size: mem,
            max_disk_size: 1 << 30,
            default_ttl_ms: 3_600_000,
            policy: Policy::Adaptive,
            persist_to_disk: true,
            compression: true,
            db_path: path.to_str().unwrap().into(),
            pool_size: 5,
            max_key_bytes: 4096,
            max_value_bytes: 64 << 20,
            // the WAL shim as the binding enables it (see `wal_vfs`)
            wal_coalescing: std::env::var("MODEL_ROUTER_NATIVE_WAL_COALESCE").as_deref() == Ok("1"),
            writer_notify: None,
        })
        .unwrap();
        let n = 30_000;
        let (mut t_put, mut t_commit) = (0u128, 0u128);
        let mut i = 0;
        while i < n {
            let t0 = Instant::now();
            for _ in 0..batch {
                c.set(
                    &format!("f{i}"),
                    "",
                    kind::JSON,
                    value.as_bytes(),
                    3_600_000,
                    1_700_000_000_000 + i as i64,
                )
                .unwrap();
                i += 1;
            }
            let t1 = Instant::now();
            c.commit().unwrap();
            t_put += (t1 - t0).as_nanos();
            t_commit += t1.elapsed().as_nanos();
        }
        println!(
            "{label}: set {:.2} µs/row, commit {:.2} µs/row ({:.1} µs/commit)",
            t_put as f64 / n as f64 / 1000.0,
            t_commit as f64 / n as f64 / 1000.0,
            t_commit as f64 / (n / batch) as f64 / 1000.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The memory level alone: 30,000 inserts of 1 KB values under a 100 MiB budget.
#[allow(dead_code)]
pub fn memory_only(value: &[u8]) {
    for policy in [Policy::Lru, Policy::Adaptive] {
        for round in 0..2 {
            let mut m = cache_core::memory::MemoryStore::new(100 << 20, policy);
            let keys: Vec<String> = (0..30_000).map(|i| format!("f{i}")).collect();
            let t0 = Instant::now();
            for k in &keys {
                m.insert(k.as_bytes(), b"", kind::JSON, value, i64::MAX, &mut |_| {});
            }
            let t1 = t0.elapsed();
            let t2 = Instant::now();
            for k in &keys {
                m.insert(k.as_bytes(), b"", kind::JSON, value, i64::MAX, &mut |_| {});
            }
            println!(
                "memory level only, {policy:?}, round {round}: insert {:.2} µs/row new keys, {:.2} µs/row replacing",
                t1.as_nanos() as f64 / 30_000.0 / 1000.0,
                t2.elapsed().as_nanos() as f64 / 30_000.0 / 1000.0
            );
        }
    }
}
