//! Why `recordMetric` does not read the time from a ticker thread: how often is a clock
//! published by a thread (store the wall-clock ms, sleep 1 ms) behind the wall clock?
//! Each such read would give a timestamp below a `Date.now()` taken just before the call.
//! `cargo run --release -p monitor-core --example ticker_lag`
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn main() {
    let published = Arc::new(AtomicU64::new(now_ms()));
    let p = published.clone();
    std::thread::spawn(move || loop {
        p.store(now_ms(), Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(1));
    });
    let (mut reads, mut behind, mut max_lag) = (0u64, 0u64, 0u64);
    let end = now_ms() + 3000;
    loop {
        let t = now_ms();
        if t >= end {
            break;
        }
        let v = published.load(Ordering::Relaxed);
        reads += 1;
        if v < t {
            behind += 1;
            max_lag = max_lag.max(t - v);
        }
    }
    println!(
        "{reads} reads over 3 s: the published ms is behind the wall clock in {:.1}% of them, by up to {max_lag} ms",
        behind as f64 * 100.0 / reads as f64
    );
}
