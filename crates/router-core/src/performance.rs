//! What the router learns from outcomes: per-model performance records and the usage
//! counters used by load balancing. Both are bounded by the number of distinct names.

use ahash::AHashMap;
use serde::Serialize;

const ALPHA: f64 = 0.1;
/// Distinct model names kept; past this the least recently used record is dropped.
pub const MAX_MODELS_TRACKED: usize = 4096;
/// When a model's counter was above this before an increment, all counters are cleared.
const USAGE_RESET_ABOVE: u64 = 1000;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelPerformance {
    pub model_name: String,
    pub avg_latency: f64,
    pub success_rate: f64,
    pub avg_cost: f64,
    /// Epoch milliseconds.
    pub last_used: f64,
    pub usage_count: u64,
    pub error_count: u64,
    pub complexity_score: f64,
    pub token_efficiency: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub latency_ms: f64,
    pub success: bool,
    pub cost: f64,
    /// (output tokens, total tokens)
    pub tokens: Option<(f64, f64)>,
    pub now_epoch_ms: f64,
}

#[derive(Default)]
pub struct PerformanceBook {
    records: AHashMap<String, ModelPerformance>,
    /// First-recorded order, so exports list models as the legacy's Map did.
    order: Vec<String>,
    /// The legacy started moving averages at 0 (one 3000 ms sample read as 300 ms);
    /// the native default lets the first sample initialise them.
    pub averages_from_zero: bool,
}

impl PerformanceBook {
    pub fn get(&self, name: &str) -> Option<&ModelPerformance> {
        self.records.get(name)
    }

    pub fn record(&mut self, name: &str, o: Outcome) -> &ModelPerformance {
        if !self.records.contains_key(name) && self.records.len() >= MAX_MODELS_TRACKED {
            let oldest = self
                .records
                .values()
                .min_by(|a, b| a.last_used.total_cmp(&b.last_used))
                .map(|p| p.model_name.clone());
            if let Some(oldest) = oldest {
                self.records.remove(&oldest);
                self.order.retain(|n| *n != oldest);
            }
        }
        if !self.records.contains_key(name) {
            self.order.push(name.to_string());
        }
        let from_zero = self.averages_from_zero;
        let p = self
            .records
            .entry(name.to_string())
            .or_insert_with(|| ModelPerformance {
                model_name: name.to_string(),
                avg_latency: 0.0,
                success_rate: 1.0,
                avg_cost: 0.0,
                last_used: o.now_epoch_ms,
                usage_count: 0,
                error_count: 0,
                complexity_score: 0.5,
                token_efficiency: 1.0,
            });
        if p.usage_count == 0 && !from_zero {
            p.avg_latency = o.latency_ms;
            p.avg_cost = o.cost;
        } else {
            p.avg_latency = ALPHA * o.latency_ms + (1.0 - ALPHA) * p.avg_latency;
            p.avg_cost = ALPHA * o.cost + (1.0 - ALPHA) * p.avg_cost;
        }
        p.usage_count += 1;
        if !o.success {
            p.error_count += 1;
        }
        p.success_rate = (p.usage_count - p.error_count) as f64 / p.usage_count as f64;
        if let Some((output, total)) = o.tokens {
            if total > 0.0 {
                p.token_efficiency = 0.9 * p.token_efficiency + 0.1 * (output / total);
            }
        }
        p.last_used = o.now_epoch_ms;
        p
    }

    pub fn all(&self) -> impl Iterator<Item = &ModelPerformance> {
        self.order.iter().filter_map(|n| self.records.get(n))
    }
}

/// Decisions per model since the last reset (load balancing reads them).
#[derive(Default)]
pub struct UsageCounters {
    counts: AHashMap<String, u64>,
    /// Insertion order, so `getModelUsageStats()` lists names as the legacy Map did.
    order: Vec<String>,
}

impl UsageCounters {
    pub fn get(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    pub fn increment(&mut self, name: &str) {
        if let Some(c) = self.counts.get_mut(name) {
            if *c <= USAGE_RESET_ABOVE {
                *c += 1;
                return;
            }
        }
        let before = self.get(name);
        if before > USAGE_RESET_ABOVE {
            // as the legacy: the increment happens, then every counter (its own too) is cleared
            self.counts.clear();
            self.order.clear();
            return;
        }
        if before == 0 && !self.counts.contains_key(name) {
            if self.order.len() >= MAX_MODELS_TRACKED {
                let dropped = self.order.remove(0);
                self.counts.remove(&dropped);
            }
            self.order.push(name.to_string());
        }
        self.counts.insert(name.to_string(), before + 1);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.order.iter().map(|n| (n.as_str(), self.get(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(latency: f64, success: bool) -> Outcome {
        Outcome {
            latency_ms: latency,
            success,
            cost: 0.01,
            tokens: Some((50.0, 100.0)),
            now_epoch_ms: 1.0,
        }
    }

    #[test]
    fn first_sample_initialises_the_average() {
        let mut book = PerformanceBook::default();
        assert_eq!(book.record("m", outcome(3000.0, true)).avg_latency, 3000.0);
        let p = book.record("m", outcome(1000.0, false));
        assert!((p.avg_latency - 2800.0).abs() < 1e-9);
        assert_eq!(p.success_rate, 0.5);
        assert!((p.token_efficiency - (0.9 * 0.95 + 0.05)).abs() < 1e-12);
    }

    #[test]
    fn legacy_averages_start_at_zero() {
        let mut book = PerformanceBook {
            averages_from_zero: true,
            ..Default::default()
        };
        assert!((book.record("m", outcome(3000.0, true)).avg_latency - 300.0).abs() < 1e-9);
    }

    #[test]
    fn usage_counters_reset_above_1000() {
        let mut u = UsageCounters::default();
        for _ in 0..1001 {
            u.increment("a");
        }
        u.increment("b");
        assert_eq!(u.get("a"), 1001);
        u.increment("a"); // count before the increment is 1001 > 1000
        assert_eq!(u.get("a"), 0);
        assert_eq!(u.get("b"), 0);
    }
}
