//! Peak-EWMA latency estimate (as Finagle, Linkerd and tower's `load::peak_ewma`): a sample
//! above the estimate replaces it at once (a slow model is seen on its first slow answer);
//! a lower one is blended in with a weight that grows with the time since the last update,
//! so recovery decays with time constant `decay_ms`. Reading decays the estimate towards
//! the model's configured latency target, so a model that gets no traffic is tried again.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakEwma {
    estimate_ms: f64,
    updated_at_ms: f64,
}

impl PeakEwma {
    /// Starts at `prior_ms` (the model's latency target), as tower starts at its default RTT.
    pub fn new(prior_ms: f64, now_ms: f64) -> PeakEwma {
        PeakEwma {
            estimate_ms: prior_ms.max(0.0),
            updated_at_ms: now_ms,
        }
    }

    /// Weight of the old estimate after `elapsed` ms.
    fn keep(elapsed_ms: f64, decay_ms: f64) -> f64 {
        if decay_ms <= 0.0 {
            return 0.0;
        }
        (-(elapsed_ms.max(0.0)) / decay_ms).exp()
    }

    /// Adds a sample at `now_ms`.
    pub fn observe(&mut self, sample_ms: f64, now_ms: f64, decay_ms: f64) {
        if sample_ms > self.estimate_ms {
            self.estimate_ms = sample_ms;
        } else {
            let keep = Self::keep(now_ms - self.updated_at_ms, decay_ms);
            self.estimate_ms = self.estimate_ms * keep + sample_ms * (1.0 - keep);
        }
        self.updated_at_ms = self.updated_at_ms.max(now_ms);
    }

    /// The estimate at `now_ms`: decayed towards `prior_ms` since the last sample.
    pub fn estimate(&self, now_ms: f64, prior_ms: f64, decay_ms: f64) -> f64 {
        let keep = Self::keep(now_ms - self.updated_at_ms, decay_ms);
        self.estimate_ms * keep + prior_ms * (1.0 - keep)
    }

    /// The raw last estimate (no decay).
    pub fn last(&self) -> f64 {
        self.estimate_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peak_counts_at_once() {
        let mut e = PeakEwma::new(100.0, 0.0);
        e.observe(1000.0, 10.0, 1000.0);
        assert_eq!(e.estimate(10.0, 100.0, 1000.0), 1000.0);
    }

    #[test]
    fn a_lower_sample_blends_by_elapsed_time() {
        let mut e = PeakEwma::new(1000.0, 0.0);
        e.observe(0.0, 1000.0, 1000.0); // one time constant: keep e^-1
        assert!((e.last() - 1000.0 * (-1.0f64).exp()).abs() < 1e-9);
        // a sample at the same instant keeps all of the estimate
        let before = e.last();
        e.observe(0.0, 1000.0, 1000.0);
        assert_eq!(e.last(), before);
    }

    #[test]
    fn reading_decays_towards_the_prior() {
        let mut e = PeakEwma::new(100.0, 0.0);
        e.observe(5000.0, 0.0, 1000.0);
        let soon = e.estimate(100.0, 100.0, 1000.0);
        let later = e.estimate(5000.0, 100.0, 1000.0);
        assert!(soon > later && later > 100.0);
        assert!(later < 150.0);
    }
}
