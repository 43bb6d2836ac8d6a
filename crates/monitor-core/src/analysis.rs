//! Bottleneck analysis and the health score: the legacy rules, with each target judged in
//! its own direction.

use crate::monitor::{is_whole_history, Monitor};
use crate::targets::{bottleneck_severity, impact_weight, Direction, Severity};

/// Window of `getHealthScore` (the legacy's last 5 minutes).
pub const HEALTH_WINDOW_MS: f64 = 300_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Lower-is-better: p95 > 1.5 × target (the legacy rule). `observed` is the p95.
    TailAboveTarget = 0,
    /// Higher-is-better: p5 < target / 1.5 (the mirror of the legacy rule). `observed` is
    /// the p5.
    TailBelowTarget = 1,
    /// stddev / mean > 0.5. `observed` is that coefficient of variation.
    HighVariance = 2,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bottleneck {
    pub metric: u32,
    pub finding: Finding,
    pub severity: Severity,
    pub impact: f64,
    pub observed: f64,
    pub target: f64,
}

/// Legacy `analyzeBottlenecks`: metrics in first-recorded order with a target and at least
/// 5 values in the window; stable-sorted by impact, highest first. As in the legacy, a
/// falsy window counts values with `timestamp ≥ now` but reads stats over all history.
pub fn analyze_bottlenecks(m: &mut Monitor, now_ms: f64, window_ms: f64) -> Vec<Bottleneck> {
    let cutoff = now_ms - window_ms;
    let mut found = Vec::new();
    for id in 0..m.metric_count() as u32 {
        let metric = m.metric(id).expect("id below metric_count");
        if metric.window.count_since(cutoff) < 5 {
            continue;
        }
        let Some(target) = m.targets.get(&metric.name) else {
            continue;
        };
        let weight = impact_weight(&metric.name);
        let Some(stats) = m.stats(id, now_ms, window_ms) else {
            continue;
        };
        let t = target.value;
        match target.direction {
            Direction::LowerIsBetter => {
                if stats.p95 > t * 1.5 {
                    let ratio = stats.p95 / t;
                    found.push(Bottleneck {
                        metric: id,
                        finding: Finding::TailAboveTarget,
                        severity: bottleneck_severity(ratio),
                        impact: ((ratio - 1.0) / 3.0).min(1.0) * weight,
                        observed: stats.p95,
                        target: t,
                    });
                }
            }
            Direction::HigherIsBetter => {
                let ratio = if stats.p5 > 0.0 {
                    t / stats.p5
                } else {
                    f64::INFINITY
                };
                if t > 0.0 && ratio > 1.5 {
                    found.push(Bottleneck {
                        metric: id,
                        finding: Finding::TailBelowTarget,
                        severity: bottleneck_severity(ratio),
                        impact: ((ratio - 1.0) / 3.0).min(1.0) * weight,
                        observed: stats.p5,
                        target: t,
                    });
                }
            }
        }
        let cv = stats.stddev / stats.mean;
        if cv > 0.5 {
            found.push(Bottleneck {
                metric: id,
                finding: Finding::HighVariance,
                severity: Severity::Medium,
                impact: 0.3,
                observed: cv,
                target: t,
            });
        }
    }
    // stable, like Array.prototype.sort with (a, b) => b.impact - a.impact
    found.sort_by(|a, b| {
        b.impact
            .partial_cmp(&a.impact)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    found
}

/// Legacy `getHealthScore`, with the penalty on the bad side of each target: per target
/// metric with stats over the last 5 minutes, 100 minus 50 × the relative shortfall (not
/// below 0), times (1 − cv/2) when cv > 0.3, not below 0; the average; 100 with no data.
pub fn health_score(m: &mut Monitor, now_ms: f64) -> f64 {
    let targets: Vec<(String, crate::targets::Target)> =
        m.targets.iter().map(|(n, t)| (n.to_string(), t)).collect();
    let mut sum = 0.0;
    let mut n = 0usize;
    for (name, target) in targets {
        let Some(id) = m.id_of(&name) else { continue };
        debug_assert!(!is_whole_history(HEALTH_WINDOW_MS));
        let Some(stats) = m.stats(id, now_ms, HEALTH_WINDOW_MS) else {
            continue;
        };
        let t = target.value;
        let mut score: f64 = 100.0;
        match target.direction {
            Direction::LowerIsBetter if stats.mean > t => {
                score = (score - ((stats.mean - t) / t) * 50.0).max(0.0);
            }
            Direction::HigherIsBetter if stats.mean < t => {
                score = (score - ((t - stats.mean) / t) * 50.0).max(0.0);
            }
            _ => {}
        }
        let cv = stats.stddev / stats.mean;
        if cv > 0.3 {
            score *= 1.0 - cv * 0.5;
        }
        // a degenerate target (≤ 0: the drop-in layer refuses those) must not leave 0..100
        sum += if score.is_nan() {
            0.0
        } else {
            score.clamp(0.0, 100.0)
        };
        n += 1;
    }
    if n == 0 {
        100.0
    } else {
        sum / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Target;

    fn monitor_with(name: &str, values: &[f64], now: f64) -> Monitor {
        let mut m = Monitor::default();
        let id = m.register(name).unwrap();
        for &v in values {
            m.record(id, v, now).unwrap();
        }
        m
    }

    #[test]
    fn lower_is_better_tail_uses_the_legacy_rule() {
        let mut m = monitor_with("orchestration_latency", &[7000.0; 10], 1000.0);
        let b = analyze_bottlenecks(&mut m, 1000.0, 300_000.0);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].finding, Finding::TailAboveTarget);
        assert_eq!(b[0].severity, Severity::High); // 3.5×
        assert_eq!(b[0].impact, ((3.5f64 - 1.0) / 3.0).min(1.0) * 1.0);
    }

    #[test]
    fn fewer_than_five_values_or_no_target_is_skipped() {
        let mut m = monitor_with("orchestration_latency", &[9000.0; 4], 0.0);
        assert!(analyze_bottlenecks(&mut m, 0.0, 300_000.0).is_empty());
        let mut m = monitor_with("no_target", &[9000.0, 1.0, 9000.0, 1.0, 5.0], 0.0);
        assert!(analyze_bottlenecks(&mut m, 0.0, 300_000.0).is_empty());
    }

    #[test]
    fn a_falling_hit_rate_is_a_bottleneck_and_a_high_one_is_not() {
        // legacy: p95 > 1.05 never happens for a rate, so a 0.1 hit rate passed unnoticed
        let mut low = monitor_with("cache_hit_rate", &[0.1; 10], 0.0);
        let b = analyze_bottlenecks(&mut low, 0.0, 300_000.0);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].finding, Finding::TailBelowTarget);
        assert_eq!(b[0].severity, Severity::Critical); // 0.7 / 0.1 = 7
        let mut high = monitor_with("cache_hit_rate", &[0.95; 10], 0.0);
        assert!(analyze_bottlenecks(&mut high, 0.0, 300_000.0).is_empty());
    }

    #[test]
    fn health_penalises_higher_is_better_only_below_target() {
        let mut good = monitor_with("cache_hit_rate", &[0.9; 10], 0.0);
        assert_eq!(health_score(&mut good, 0.0), 100.0); // legacy: 100 − (0.2/0.7)·50 ≈ 85.7
        let mut bad = monitor_with("cache_hit_rate", &[0.35; 10], 0.0);
        assert_eq!(health_score(&mut bad, 0.0), 75.0); // half the target → −25
    }

    #[test]
    fn health_is_100_without_data_and_averages_target_metrics() {
        let mut m = Monitor::default();
        assert_eq!(health_score(&mut m, 0.0), 100.0);
        let mut m = monitor_with("orchestration_latency", &[3000.0; 5], 0.0);
        let id = m.register("error_rate").unwrap();
        m.record(id, 0.0, 0.0).unwrap();
        // latency 1.5× target → 75; error rate 0 ≤ target → 100 (cv NaN is not > 0.3)
        assert_eq!(health_score(&mut m, 0.0), 87.5);
        // values older than 5 minutes do not count
        assert_eq!(health_score(&mut m, 300_001.0), 100.0);
    }

    proptest::proptest! {
        // The legacy health arithmetic, recomputed from naive stats, for lower-is-better
        // targets (where nothing was changed).
        #[test]
        fn health_matches_the_legacy_formula_for_lower_is_better(
            values in proptest::collection::vec(0.0f64..10_000.0, 1..200),
        ) {
            let mut m = monitor_with("orchestration_latency", &values, 0.0);
            let s = crate::stats::naive(&values).unwrap();
            let t = 2000.0;
            let mut score: f64 = 100.0;
            if s.mean > t {
                score = (score - ((s.mean - t) / t) * 50.0).max(0.0);
            }
            let cv = s.stddev / s.mean;
            if cv > 0.3 {
                score *= 1.0 - cv * 0.5;
            }
            proptest::prop_assert_eq!(health_score(&mut m, 0.0), score.max(0.0));
        }
    }

    #[test]
    fn set_target_changes_direction() {
        let mut m = monitor_with("queue_depth", &[10.0; 6], 0.0);
        m.targets.set(
            "queue_depth",
            Target {
                value: 100.0,
                direction: Direction::HigherIsBetter,
            },
        );
        let b = analyze_bottlenecks(&mut m, 0.0, 300_000.0);
        assert_eq!(b[0].finding, Finding::TailBelowTarget);
    }
}
