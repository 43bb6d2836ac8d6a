//! Reliability: the `Monitor` registry, through its public API, against a naive
//! recomputation written here (keep a Vec per metric, truncate it to the last 1000,
//! filter by timestamp, sort, index by the legacy percentile rule, sum in recording
//! order). The unit tests beside the code check one window against `stats::naive`; this
//! checks the whole registry with its own arithmetic: several metrics interleaved,
//! batches (a bad entry anywhere records nothing), `clear_older_than`, time windows,
//! clocks that step backwards, more than 1000 values per metric, and the all-time count.

use monitor_core::monitor::{Monitor, HISTORY};
use monitor_core::Stats;
use proptest::prelude::*;

#[derive(Clone, Debug, PartialEq)]
struct Naive {
    mean: f64,
    median: f64,
    p95: f64,
    p99: f64,
    p5: f64,
    min: f64,
    max: f64,
    count: usize,
    stddev: f64,
}

fn at(sorted: &[f64], p: f64) -> f64 {
    let i = (sorted.len() as f64 * p).ceil() - 1.0;
    let i = if i < 0.0 { 0 } else { i as usize };
    sorted[i.min(sorted.len() - 1)]
}

fn naive(values: &[(f64, f64)], cutoff: Option<f64>) -> Option<Naive> {
    let v: Vec<f64> = values
        .iter()
        .filter(|(_, t)| cutoff.is_none_or(|c| *t >= c))
        .map(|(v, _)| *v)
        .collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mut sum = 0.0;
    for x in &v {
        sum += x;
    }
    let mean = sum / n;
    let mut sq = 0.0;
    for x in &v {
        sq += (x - mean) * (x - mean);
    }
    let mut sorted = v.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Some(Naive {
        mean,
        median: at(&sorted, 0.5),
        p95: at(&sorted, 0.95),
        p99: at(&sorted, 0.99),
        p5: at(&sorted, 0.05),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        count: v.len(),
        stddev: (sq / n).sqrt(),
    })
}

fn of(s: Stats) -> Naive {
    Naive {
        mean: s.mean,
        median: s.median,
        p95: s.p95,
        p99: s.p99,
        p5: s.p5,
        min: s.min,
        max: s.max,
        count: s.count,
        stddev: s.stddev,
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// `n` values into one metric, each its own `record` call.
    Record {
        metric: usize,
        n: usize,
        base: f64,
    },
    /// A batch over several metrics; `poison` puts a NaN or an unknown id at that place.
    Batch {
        items: Vec<(usize, f64)>,
        poison: Option<(usize, bool)>,
    },
    /// The clock moves (sometimes backwards, as a wall clock may).
    Clock {
        delta: f64,
    },
    Read {
        metric: usize,
        window: f64,
    },
    Clear {
        older_than: f64,
    },
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6f64..1e6,
        (-5i32..5).prop_map(f64::from), // duplicates
        Just(-0.0),
        Just(f64::MAX / 4.0),
        Just(f64::MIN_POSITIVE),
    ]
}

fn op(metrics: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..metrics, prop::sample::select(vec![1usize, 3, 40, 700, 1200]), value())
            .prop_map(|(metric, n, base)| Op::Record { metric, n, base }),
        2 => (prop::collection::vec((0..metrics, value()), 0..50), prop::option::of((0usize..50, any::<bool>())))
            .prop_map(|(items, poison)| Op::Batch { items, poison }),
        2 => prop::sample::select(vec![0.0, 1.0, 10.0, 250.0, -30.0]).prop_map(|delta| Op::Clock { delta }),
        4 => (0..metrics, prop::sample::select(vec![0.0, f64::NAN, 1.0, 20.0, 500.0, 1e12]))
            .prop_map(|(metric, window)| Op::Read { metric, window }),
        1 => prop::sample::select(vec![0.0, 5.0, 100.0, 1e9]).prop_map(|older_than| Op::Clear { older_than }),
    ]
}

fn run(metrics: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut m = Monitor::new(metrics);
    let ids: Vec<u32> = (0..metrics)
        .map(|i| m.register(&format!("metric_{i}")).unwrap())
        .collect();
    let mut kept: Vec<Vec<(f64, f64)>> = vec![Vec::new(); metrics];
    let mut total = vec![0u64; metrics];
    let mut now = 1_000_000.0;
    let push = |kept: &mut Vec<(f64, f64)>, v: f64, t: f64| {
        kept.push((v, t));
        if kept.len() > HISTORY {
            kept.remove(0);
        }
    };
    for op in ops {
        match op {
            Op::Record { metric, n, base } => {
                for i in 0..n {
                    let v = base + (i % 7) as f64;
                    m.record(ids[metric], v, now).unwrap();
                    push(&mut kept[metric], v, now);
                    total[metric] += 1;
                }
            }
            Op::Batch { items, poison } => {
                let mut batch: Vec<f64> = Vec::new();
                for (metric, v) in &items {
                    batch.extend([ids[*metric] as f64, *v, now]);
                }
                let poisoned = match poison {
                    Some((at, nan)) if !items.is_empty() => {
                        let at = at % items.len();
                        if nan {
                            batch[at * 3 + 1] = f64::NAN;
                        } else {
                            batch[at * 3] = metrics as f64 + 0.5;
                        }
                        true
                    }
                    _ => false,
                };
                let r = m.record_batch(&batch);
                prop_assert_eq!(r.is_err(), poisoned);
                if !poisoned {
                    for (metric, v) in items {
                        push(&mut kept[metric], v, now);
                        total[metric] += 1;
                    }
                }
            }
            Op::Clock { delta } => now += delta,
            Op::Read { metric, window } => {
                let got = m.stats(ids[metric], now, window).map(of);
                let cutoff = if window == 0.0 || window.is_nan() {
                    None
                } else {
                    Some(now - window)
                };
                prop_assert_eq!(
                    got,
                    naive(&kept[metric], cutoff),
                    "metric {} window {}",
                    metric,
                    window
                );
            }
            Op::Clear { older_than } => {
                m.clear_older_than(now, older_than);
                for k in &mut kept {
                    k.retain(|(_, t)| *t >= now - older_than);
                }
            }
        }
    }
    for i in 0..metrics {
        prop_assert_eq!(m.stats(ids[i], now, 0.0).map(of), naive(&kept[i], None));
        prop_assert_eq!(
            m.metric(ids[i]).unwrap().all_time.count(),
            total[i],
            "all-time count"
        );
        prop_assert!(m.metric(ids[i]).unwrap().window.len() <= HISTORY);
    }
    Ok(())
}

fn cases() -> u32 {
    if std::env::var_os("RELIABILITY_LONG").is_some() {
        10000
    } else {
        1000
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn registry_stats_equal_a_naive_recomputation(
        (metrics, ops) in (1usize..20).prop_flat_map(|n| (Just(n), prop::collection::vec(op(n), 1..60)))
    ) {
        run(metrics, ops)?;
    }
}

#[test]
fn a_new_name_beyond_the_bound_is_refused_and_nothing_else_changes() {
    let mut m = Monitor::new(2);
    let a = m.register("a").unwrap();
    m.register("b").unwrap();
    m.record(a, 1.0, 0.0).unwrap();
    assert!(m.register("c").is_err());
    assert_eq!(m.metric_count(), 2);
    assert_eq!(m.stats(a, 0.0, 0.0).unwrap().count, 1);
    assert!(m.record(a, f64::INFINITY, 0.0).is_err());
    assert!(m.record(a, 1.0, f64::NAN).is_err());
    assert!(m.record(7, 1.0, 0.0).is_err());
    assert_eq!(m.stats(a, 0.0, 0.0).unwrap().count, 1);
}
