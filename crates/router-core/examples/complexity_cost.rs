//! Cost of the complexity analysis alone, per text kind and size:
//! `cargo run --release -p router-core --example complexity_cost [kind] [bytes]`
//! (no argument: every kind at 100 B, 10 KB and 100 KB).
mod common;

use router_core::complexity::analyze;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kinds: Vec<&str> = match args.first() {
        Some(k) => vec![k.as_str()],
        None => common::KINDS.to_vec(),
    };
    let sizes: Vec<usize> = match args.get(1).and_then(|s| s.parse().ok()) {
        Some(n) => vec![n],
        None => vec![100, 10_000, 100_000],
    };
    for kind in kinds {
        for &size in &sizes {
            let text = common::text(kind, size);
            let n = (20_000_000 / size.max(100)).clamp(50, 200_000);
            for _ in 0..n / 10 {
                std::hint::black_box(analyze(std::hint::black_box(&text), true));
            }
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(analyze(std::hint::black_box(&text), true));
            }
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            println!(
                "analyze {kind:>9} {size:>6} B: {:>9.0} ns  ({:.2} GB/s)",
                ns,
                text.len() as f64 / ns
            );
        }
    }
}
