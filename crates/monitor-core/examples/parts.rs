use std::time::Instant;
use monitor_core::alltime::AllTime;
use monitor_core::window::{RecentWindow, Sample};
fn main() {
    let n = 2_000_000u64;
    let mut a = AllTime::new();
    let t = Instant::now();
    for i in 0..n { a.record(5.0 + (i * 7919 % 1000) as f64 / 10.0); }
    println!("alltime {:.1} ns", t.elapsed().as_nanos() as f64 / n as f64);
    let mut w = RecentWindow::new(1000);
    let t = Instant::now();
    for i in 0..n { w.push(Sample { value: (i * 7919 % 1000) as f64, timestamp_ms: 1.0, seq: i }); }
    println!("window push {:.1} ns", t.elapsed().as_nanos() as f64 / n as f64);
    let t = Instant::now();
    for i in 0..20000u64 { w.push(Sample { value: (i * 7919 % 1000) as f64, timestamp_ms: 1.0, seq: i }); std::hint::black_box(w.stats()); }
    println!("push+stats {:.1} ns", t.elapsed().as_nanos() as f64 / 20000.0);
    let v: Vec<f64> = (0..1000).map(|i| i as f64).collect();
    let t = Instant::now();
    for _ in 0..20000 { std::hint::black_box(monitor_core::stats::mean_stddev(std::hint::black_box(&v).iter().copied())); }
    println!("mean_stddev {:.1} ns", t.elapsed().as_nanos() as f64 / 20000.0);
}
