//! Rough per-value cost of recording and of a changed-window read, without Node:
//! `cargo run --release -p monitor-core --example record_cost`.
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
    let rounds = 2000;
    let t = Instant::now();
    for _ in 0..rounds {
        m.record_batch(&batch).unwrap();
    }
    let ns = t.elapsed().as_nanos() as f64 / (rounds * 1024) as f64;
    println!("record_batch: {ns:.1} ns/value");

    let t = Instant::now();
    let reads = 20000;
    for i in 0..reads {
        m.record(0, i as f64, 1.7e12).unwrap();
        std::hint::black_box(m.stats(0, 0.0, 0.0));
    }
    let ns = t.elapsed().as_nanos() as f64 / reads as f64;
    println!("record 1 + stats over 1000: {ns:.0} ns");
}
