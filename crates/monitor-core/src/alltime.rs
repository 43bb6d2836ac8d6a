//! All-time distribution of one metric in bounded memory: an HDR histogram (3 significant
//! digits) plus exact count, sum, min and max. Unlike the last-1000 window it never forgets,
//! so its quantiles and the Prometheus `_sum`/`_count` only grow (as counters must).
//!
//! Values are recorded in thousandths of their unit (a latency in ms at 1 µs resolution, a
//! rate in 0.001 steps) and clamped to [0, 10^12] thousandths: the histogram's memory
//! depends only on that range (at most ~30 buckets × 1024 u32 counts ≈ 127 KB per metric,
//! about 60 KB for latencies up to 10 s). Negative values count in `clamped_low` and in the
//! histogram as 0; the exact min/max/sum still see them.

use crate::loghist::LogHistogram;

/// Thousandths of the unit.
const SCALE: f64 = 1000.0;
/// Largest recordable value, in scaled units (10^9 of the metric's unit).
const HIGHEST: u64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllTimeSummary {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
}

#[derive(Debug)]
pub struct AllTime {
    hist: LogHistogram,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    clamped_low: u64,
}

impl Default for AllTime {
    fn default() -> Self {
        Self::new()
    }
}

impl AllTime {
    pub fn new() -> Self {
        AllTime {
            // memory grows only to the range actually seen (up to HIGHEST)
            hist: LogHistogram::new(),
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            clamped_low: 0,
        }
    }

    pub fn record(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        // values are finite: plain comparisons (f64::min/max also handle NaN, slower)
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
        let scaled = if value <= 0.0 {
            if value < 0.0 {
                self.clamped_low += 1;
            }
            0
        } else {
            // `as` saturates; + 0.5 rounds (`f64::round` is a libm call on baseline x86-64)
            ((value * SCALE + 0.5) as u64).min(HIGHEST)
        };
        self.hist.record(scaled);
    }

    /// Records `values` in order; the same result as `record` on each (the sum is taken
    /// in the same order), with the exact aggregates kept in registers for the run.
    #[inline]
    pub fn record_run<I: Iterator<Item = f64>>(&mut self, values: I) {
        let (mut count, mut sum, mut min, mut max, mut clamped_low) =
            (self.count, self.sum, self.min, self.max, self.clamped_low);
        for value in values {
            count += 1;
            sum += value;
            if value < min {
                min = value;
            }
            if value > max {
                max = value;
            }
            let scaled = if value <= 0.0 {
                if value < 0.0 {
                    clamped_low += 1;
                }
                0
            } else {
                ((value * SCALE + 0.5) as u64).min(HIGHEST)
            };
            self.hist.record(scaled);
        }
        (self.count, self.sum, self.min, self.max, self.clamped_low) =
            (count, sum, min, max, clamped_low);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many negative values were recorded as 0 in the histogram.
    pub fn clamped_low(&self) -> u64 {
        self.clamped_low
    }

    /// The value at quantile `q` (0..=1), within the histogram's precision, kept inside
    /// the exact [min, max].
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let v = self.hist.value_at_quantile(q, self.count) as f64 / SCALE;
        v.max(self.min).min(self.max)
    }

    pub fn summary(&self) -> Option<AllTimeSummary> {
        if self.count == 0 {
            return None;
        }
        Some(AllTimeSummary {
            count: self.count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            p50: self.quantile(0.5),
            p90: self.quantile(0.9),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_three_significant_digits() {
        let mut a = AllTime::new();
        for i in 1..=100_000u32 {
            a.record(i as f64 / 10.0); // 0.1 .. 10000 ms
        }
        let s = a.summary().unwrap();
        assert_eq!(s.count, 100_000);
        assert_eq!((s.min, s.max), (0.1, 10000.0));
        for (got, want) in [
            (s.p50, 5000.0),
            (s.p90, 9000.0),
            (s.p99, 9900.0),
            (s.p999, 9990.0),
        ] {
            assert!((got - want).abs() / want < 1e-3, "got {got}, want {want}");
        }
    }

    #[test]
    fn memory_stays_bounded_for_huge_values() {
        let mut a = AllTime::new();
        a.record(1e300);
        a.record(-5.0);
        a.record(0.5);
        let s = a.summary().unwrap();
        assert_eq!((s.count, s.min, s.max), (3, -5.0, 1e300));
        assert_eq!(a.clamped_low(), 1);
        assert!(s.p999 <= 1e300);
        // the highest bin of the clamped range: 30 buckets of 1024 u32 counts, plus one
        assert!(a.hist.bytes() <= 31 * 1024 * 4, "{} bytes", a.hist.bytes());
    }
}
