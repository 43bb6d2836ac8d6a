//! Cost of the complexity analysis alone, per text kind and size, of the task as UTF-8
//! (`analyze`) and as UTF-16 code units (`analyze_utf16`, as V8 holds a non-ASCII string):
//! `cargo run --release -p router-core --example complexity_cost [kind] [bytes]`
//! (no argument: every kind at 100 B, 10 KB and 100 KB).
mod common;

use router_core::complexity::{analyze, analyze_utf16};
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
            let units: Vec<u16> = text.encode_utf16().collect();
            let n = (20_000_000 / size.max(100)).clamp(50, 200_000);
            let utf8 = time(n, || analyze(std::hint::black_box(&text), true));
            let utf16 = time(n, || analyze_utf16(std::hint::black_box(&units), true));
            println!(
                "analyze {kind:>9} {size:>6} B: {utf8:>9.0} ns ({:.2} GB/s); as UTF-16: {utf16:>9.0} ns",
                text.len() as f64 / utf8
            );
        }
    }
}

/// ns per call of `f`, after a tenth as many untimed calls.
fn time<R>(n: usize, mut f: impl FnMut() -> R) -> f64 {
    for _ in 0..n / 10 {
        std::hint::black_box(f());
    }
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    t.elapsed().as_nanos() as f64 / n as f64
}
