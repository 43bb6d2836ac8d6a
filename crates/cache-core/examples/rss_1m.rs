//! Resident memory of the memory level after 1,000,000 small entries (the benchmark's
//! `key-N` → `{"i":N,"model":"gemini-2.0-flash","ok":true}`), without Node:
//! `cargo run --release -p cache-core --example rss_1m`.
//!
//! Each policy is measured in a fresh process of its own: memory freed by a previous
//! measurement stays in the allocator, and the next one would grow into it unseen.
use cache_core::memory::{MemoryStore, Policy};
use std::process::Command;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split(' ')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn measure(policy: Policy) {
    let before = rss_kib();
    let mut m = MemoryStore::new(4 << 30, policy);
    for i in 0..1_000_000u32 {
        let key = format!("key-{i}");
        let value = format!("{{\"i\":{i},\"model\":\"gemini-2.0-flash\",\"ok\":true}}");
        m.insert(
            key.as_bytes(),
            b"",
            1,
            value.as_bytes(),
            i64::MAX,
            &mut |_| {},
        );
    }
    let after = rss_kib();
    println!(
        "{}: {} entries, counted {:.1} MiB, RSS +{:.1} MiB ({:.0} B per entry)",
        policy.name(),
        m.len(),
        m.used_bytes() as f64 / 1048576.0,
        (after - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / 1e6
    );
}

fn main() {
    let policies = [Policy::Adaptive, Policy::Lru, Policy::Lfu];
    match std::env::args().nth(1) {
        Some(name) => match policies.into_iter().find(|p| p.name() == name) {
            Some(p) => measure(p),
            None => eprintln!("unknown policy {name}: adaptive, lru or lfu"),
        },
        None => {
            let exe = std::env::current_exe().expect("the example's own path");
            for p in policies {
                let status = Command::new(&exe).arg(p.name()).status();
                if !status.is_ok_and(|s| s.success()) {
                    eprintln!("{}: the measuring process failed", p.name());
                }
            }
        }
    }
}
