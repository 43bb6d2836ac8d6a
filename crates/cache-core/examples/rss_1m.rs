//! Resident memory of the memory level after 1,000,000 small entries (the benchmark's
//! `key-N` → `{"i":N,"model":"gemini-2.0-flash","ok":true}`), without Node:
//! `cargo run --release -p cache-core --example rss_1m`.
use cache_core::memory::{MemoryStore, Policy};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split(' ')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn main() {
    for policy in [Policy::Adaptive, Policy::Lru] {
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
        drop(m);
    }
}
