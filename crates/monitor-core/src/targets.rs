//! Targets: the value a metric should reach, and in which direction "better" lies.
//!
//! The legacy judged every target as lower-is-better, so a cache hit rate of 0.9 against a
//! target of 0.7 lowered the health score and a falling hit rate was never a bottleneck.

/// Which side of the target is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Latency, error rate: values above the target are bad.
    LowerIsBetter,
    /// Hit rate, availability: values below the target are bad.
    HigherIsBetter,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    pub value: f64,
    pub direction: Direction,
}

/// Severities shared by thresholds and bottlenecks, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low = 0,
    Medium = 1,
    High = 2,
    Critical = 3,
}

/// Targets keyed by metric name, in insertion order (the order `getHealthScore` averages
/// in). A handful of entries: a linear scan beats hashing here.
#[derive(Clone, Debug)]
pub struct Targets {
    entries: Vec<(String, Target)>,
}

/// Bound on the number of targets (each is set explicitly by the caller).
pub const MAX_TARGETS: usize = 10_000;

impl Default for Targets {
    /// The legacy targets, each with its direction.
    fn default() -> Self {
        use Direction::*;
        let entries = [
            ("orchestration_latency", 2000.0, LowerIsBetter),
            ("routing_overhead", 100.0, LowerIsBetter),
            ("cache_hit_rate", 0.7, HigherIsBetter),
            ("model_availability", 0.99, HigherIsBetter),
            ("error_rate", 0.01, LowerIsBetter),
        ]
        .into_iter()
        .map(|(n, value, direction)| (n.to_string(), Target { value, direction }))
        .collect();
        Targets { entries }
    }
}

impl Targets {
    pub fn get(&self, name: &str) -> Option<Target> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }

    /// Sets (or replaces in place) a target. Returns false when the bound is reached.
    pub fn set(&mut self, name: &str, target: Target) -> bool {
        if let Some(entry) = self.entries.iter_mut().find(|(n, _)| n == name) {
            entry.1 = target;
            return true;
        }
        if self.entries.len() >= MAX_TARGETS {
            return false;
        }
        self.entries.push((name.to_string(), target));
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Target)> {
        self.entries.iter().map(|(n, t)| (n.as_str(), *t))
    }
}

/// Bottleneck severity by how far past the target the tail is (legacy: ≥ 4 critical,
/// ≥ 3 high, ≥ 2 medium, else low).
pub fn bottleneck_severity(ratio: f64) -> Severity {
    if ratio >= 4.0 {
        Severity::Critical
    } else if ratio >= 3.0 {
        Severity::High
    } else if ratio >= 2.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// Impact weight of a metric in the bottleneck ranking (legacy table, 0.5 otherwise).
pub fn impact_weight(name: &str) -> f64 {
    match name {
        "orchestration_latency" => 1.0,
        "routing_overhead" => 0.8,
        "model_latency" => 0.9,
        "cache_hit_rate" => 0.7,
        "error_rate" => 1.0,
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_carry_directions() {
        let t = Targets::default();
        assert_eq!(
            t.get("cache_hit_rate").unwrap().direction,
            Direction::HigherIsBetter
        );
        assert_eq!(
            t.get("model_availability").unwrap().direction,
            Direction::HigherIsBetter
        );
        assert_eq!(
            t.get("error_rate").unwrap().direction,
            Direction::LowerIsBetter
        );
        assert!(t.get("toString").is_none());
    }

    #[test]
    fn set_replaces_in_place() {
        let mut t = Targets::default();
        t.set(
            "routing_overhead",
            Target {
                value: 5.0,
                direction: Direction::LowerIsBetter,
            },
        );
        t.set(
            "x",
            Target {
                value: 1.0,
                direction: Direction::HigherIsBetter,
            },
        );
        let names: Vec<&str> = t.iter().map(|(n, _)| n).collect();
        assert_eq!(names[1], "routing_overhead");
        assert_eq!(names.last(), Some(&"x"));
        assert_eq!(t.get("routing_overhead").unwrap().value, 5.0);
    }

    #[test]
    fn severity_boundaries() {
        assert_eq!(bottleneck_severity(4.0), Severity::Critical);
        assert_eq!(bottleneck_severity(3.99), Severity::High);
        assert_eq!(bottleneck_severity(2.0), Severity::Medium);
        assert_eq!(bottleneck_severity(1.6), Severity::Low);
    }
}
