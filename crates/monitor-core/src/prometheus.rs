//! The Prometheus text exposition format (version 0.0.4) of a monitor: one summary family
//! over the all-time distribution of every metric (quantiles from the HDR histogram,
//! `_sum` and `_count` that only grow), the targets and the health score as gauges.
//! Metric names travel as a label value, so any name is valid and no two names collide.

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

pub fn exposition(m: &mut Monitor, now_ms: f64) -> String {
    let mut out = String::with_capacity(256 + m.metric_count() * 400);
    out.push_str(
        "# HELP performance_monitor_metric All-time distribution of each recorded metric (HDR histogram, 3 significant digits).\n\
         # TYPE performance_monitor_metric summary\n",
    );
    for metric in m.metrics() {
        let Some(s) = metric.all_time.summary() else { continue };
        for (q, v) in [("0.5", s.p50), ("0.9", s.p90), ("0.99", s.p99), ("0.999", s.p999)] {
            out.push_str("performance_monitor_metric{metric=\"");
            label(&mut out, &metric.name);
            let _ = write!(out, "\",quantile=\"{q}\"}} ");
            num(&mut out, v);
            out.push('\n');
        }
        out.push_str("performance_monitor_metric_sum{metric=\"");
        label(&mut out, &metric.name);
        out.push_str("\"} ");
        num(&mut out, s.sum);
        out.push_str("\nperformance_monitor_metric_count{metric=\"");
        label(&mut out, &metric.name);
        let _ = writeln!(out, "\"}} {}", s.count);
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
    fn names_are_escaped_label_values() {
        let mut m = Monitor::default();
        let id = m.register("we\"ird\\name\nx").unwrap();
        m.record(id, 1.5, 0.0).unwrap();
        let text = exposition(&mut m, 0.0);
        assert!(text.contains(r#"performance_monitor_metric_count{metric="we\"ird\\name\nx"} 1"#), "{text}");
        assert!(text.contains("performance_monitor_metric_sum{metric=\"we\\\"ird\\\\name\\nx\"} 1.5\n"));
        assert!(text.ends_with("performance_monitor_health_score 100.0\n"));
        assert!(text.contains("performance_monitor_target{metric=\"cache_hit_rate\",direction=\"higher\"} 0.7\n"));
    }
}
