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
    for _ in 0..3 {
        let rounds = 5000;
        let t = Instant::now();
        for _ in 0..rounds { m.record_batch(&batch).unwrap(); }
        println!("record_batch: {:.1} ns/value", t.elapsed().as_nanos() as f64 / (rounds * 1024) as f64);
    }
}
