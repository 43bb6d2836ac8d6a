//! The Prometheus text exposition format (version 0.0.4) of a monitor: one summary family
//! per metric over its all-time distribution (quantiles from the HDR histogram, `_sum` and
//! `_count` that only grow, as a summary's must), then the targets and the health score
//! as gauges.
//!
//! A family is named `performance_monitor_metric_` + the metric name with every character
//! outside `[a-zA-Z0-9_]` replaced by `_`; the HELP line carries the original name. When
//! two names map to the same series name, the later one gets its id appended, so no two
//! families share a series.

use std::collections::HashSet;
use std::fmt::Write;

use crate::analysis::health_score;
use crate::monitor::Monitor;
use crate::targets::Direction;

/// Prometheus' float syntax: Go accepts Rust's `{:?}` forms ("0.1", "1e300"); the special
/// values have their own spelling.
fn num(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// A label value with `\`, `"` and newline escaped.
fn label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text with `\\` and newline escaped.
fn help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

const PREFIX: &str = "performance_monitor_metric_";

fn family_name(name: &str, id: usize, used: &mut HashSet<String>) -> String {
    let mut base = String::with_capacity(PREFIX.len() + name.len());
    base.push_str(PREFIX);
    base.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    let mut family = base.clone();
    let mut n = 0;
    // a family owns three series names: itself, _sum and _count
    while [
        family.clone(),
        format!("{family}_sum"),
        format!("{family}_count"),
    ]
    .iter()
    .any(|f| used.contains(f))
    {
        n += 1;
        family = if n == 1 {
            format!("{base}_{id}")
        } else {
            format!("{base}_{id}_{n}")
        };
    }
    used.insert(format!("{family}_sum"));
    used.insert(format!("{family}_count"));
    used.insert(family.clone());
    family
}

pub fn exposition(m: &mut Monitor, now_ms: f64) -> String {
    let mut out = String::with_capacity(512 + m.metric_count() * 600);
    let mut used = HashSet::new();
    for (id, metric) in m.metrics().iter().enumerate() {
        let Some(s) = metric.all_time.summary() else {
            continue;
        };
        let family = family_name(&metric.name, id, &mut used);
        let _ = write!(out, "# HELP {family} PerformanceMonitor metric \"");
        help(&mut out, &metric.name);
        let _ = writeln!(
            out,
            "\": every value recorded (HDR histogram, 3 significant digits).\n# TYPE {family} summary"
        );
        for (q, v) in [
            ("0.5", s.p50),
            ("0.9", s.p90),
            ("0.99", s.p99),
            ("0.999", s.p999),
        ] {
            let _ = write!(out, "{family}{{quantile=\"{q}\"}} ");
            num(&mut out, v);
            out.push('\n');
        }
        let _ = write!(out, "{family}_sum ");
        num(&mut out, s.sum);
        let _ = writeln!(out, "\n{family}_count {}", s.count);
    }
    out.push_str(
        "# HELP performance_monitor_target Target of each metric; direction says which side is good.\n\
         # TYPE performance_monitor_target gauge\n",
    );
    for (name, t) in m.targets.iter() {
        out.push_str("performance_monitor_target{metric=\"");
        label(&mut out, name);
        let dir = match t.direction {
            Direction::LowerIsBetter => "lower",
            Direction::HigherIsBetter => "higher",
        };
        let _ = write!(out, "\",direction=\"{dir}\"}} ");
        num(&mut out, t.value);
        out.push('\n');
    }
    out.push_str(
        "# HELP performance_monitor_health_score Health score (0-100) over the last 5 minutes.\n\
         # TYPE performance_monitor_health_score gauge\n\
         performance_monitor_health_score ",
    );
    let score = health_score(m, now_ms);
    num(&mut out, score);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_unique_and_kept_in_help() {
        let mut m = Monitor::default();
        for name in ["we\"ird\\name\nx", "we_ird_name_x", "a", "a_sum"] {
            let id = m.register(name).unwrap();
            m.record(id, 1.5, 0.0).unwrap();
        }
        let text = exposition(&mut m, 0.0);
        assert!(text.contains("# HELP performance_monitor_metric_we_ird_name_x PerformanceMonitor metric \"we\"ird\\\\name\\nx\""), "{text}");
        assert!(
            text.contains("# TYPE performance_monitor_metric_we_ird_name_x_1 summary\n"),
            "{text}"
        );
        assert!(text.contains("performance_monitor_metric_a_sum 1.5\n"));
        assert!(
            text.contains("# TYPE performance_monitor_metric_a_sum_3 summary\n"),
            "{text}"
        );
        assert!(text.contains("performance_monitor_metric_a{quantile=\"0.999\"} 1.5\n"));
        assert!(text.ends_with("performance_monitor_health_score 100.0\n"));
        assert!(text.contains(
            "performance_monitor_target{metric=\"cache_hit_rate\",direction=\"higher\"} 0.7\n"
        ));
    }
}
