//! Rough per-value cost of recording and of a changed-window read, without Node:
//! `cargo run --release -p monitor-core --example record_cost` (`-- --record-only`: only the
//! batch rows, each the fastest of 30 timings).
use std::time::Instant;

use monitor_core::Monitor;

fn main() {
    let mut m = Monitor::default();
    let a = m.register("a").unwrap() as f64;
    let b = m.register("b").unwrap() as f64;
    let mut batch = Vec::new();
    for i in 0..1024 {
        let v = 5.0 + (i * 7919 % 1000) as f64 / 10.0;
        batch.extend_from_slice(&[if i % 2 == 0 { a } else { b }, v, 1.7e12 + i as f64]);
    }
    for _ in 0..100 {
        m.record_batch(&batch).unwrap();
    }
    // the fastest of 30 timings of 100 batches each: the least disturbed by other load
    let single: Vec<f64> = batch
        .chunks_exact(3)
        .flat_map(|t| [a, t[1], t[2]])
        .collect();
    for (label, b) in [("two names alternating", &batch), ("one name", &single)] {
        let mut best = f64::INFINITY;
        for _ in 0..30 {
            let t = Instant::now();
            for _ in 0..100 {
                m.record_batch(b).unwrap();
            }
            best = best.min(t.elapsed().as_nanos() as f64 / (100 * 1024) as f64);
        }
        println!("record_batch, {label}: {best:.1} ns/value");
    }
    if std::env::args().any(|a| a == "--record-only") {
        return;
    }

    let t = Instant::now();
    let reads = 20000;
    for i in 0..reads {
        m.record(0, i as f64, 1.7e12).unwrap();
        std::hint::black_box(m.stats(0, 0.0, 0.0));
    }
    let ns = t.elapsed().as_nanos() as f64 / reads as f64;
    println!("record 1 + stats over 1000: {ns:.0} ns");
}
