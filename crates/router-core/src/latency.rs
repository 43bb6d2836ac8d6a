//! Peak-EWMA latency estimate (as Finagle, Linkerd and tower's `load::peak_ewma`), made robust
//! to a single tail answer: a sample above the estimate is held until the next answer. When
//! that one (within one time constant) is above the estimate too, the estimate rises at once
//! to the lower of the two, so a sustained slowdown is seen on its second slow answer; when
//! it is not, the held sample is dropped, so one healthy answer from the latency tail moves
//! nothing. A sample at or below the estimate is blended in with a weight that grows with the
//! time since the last update, so recovery decays with time constant `decay_ms`. Reading
//! decays the estimate towards the model's configured latency target, so a model that gets
//! no traffic is tried again.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakEwma {
    estimate_ms: f64,
    updated_at_ms: f64,
    /// The last sample, when it was above the estimate, and when it came: a peak waiting for
    /// the next answer to confirm it.
    pending: Option<(f64, f64)>,
}

impl PeakEwma {
    /// Starts at `prior_ms` (the model's latency target), as tower starts at its default RTT.
    pub fn new(prior_ms: f64, now_ms: f64) -> PeakEwma {
        PeakEwma {
            estimate_ms: prior_ms.max(0.0),
            updated_at_ms: now_ms,
            pending: None,
        }
    }

    /// Starts from a first sample: the sample itself when it is at most `prior_ms`; above it,
    /// the prior with the sample waiting for confirmation (one answer is no evidence of a
    /// slow model).
    pub fn first(sample_ms: f64, prior_ms: f64, now_ms: f64) -> PeakEwma {
        if sample_ms > prior_ms {
            PeakEwma {
                pending: Some((sample_ms, now_ms)),
                ..PeakEwma::new(prior_ms, now_ms)
            }
        } else {
            PeakEwma::new(sample_ms, now_ms)
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
        let keep = Self::keep(now_ms - self.updated_at_ms, decay_ms);
        let blended = self.estimate_ms * keep + sample_ms * (1.0 - keep);
        if sample_ms > self.estimate_ms {
            let confirmed = self
                .pending
                .filter(|&(_, at)| now_ms - at <= decay_ms)
                .map(|(peak, _)| peak.min(sample_ms));
            self.pending = Some((sample_ms, now_ms));
            let Some(peak) = confirmed else {
                return; // held: the next answer confirms it or drops it
            };
            self.estimate_ms = peak.max(blended);
        } else {
            self.estimate_ms = blended;
            self.pending = None;
        }
        self.updated_at_ms = self.updated_at_ms.max(now_ms);
    }

    /// Adds a sample that counts at once when above the estimate, confirmed or not: a
    /// failure's penalty (a failure is evidence of its own, not a tail answer).
    pub fn raise(&mut self, sample_ms: f64, now_ms: f64, decay_ms: f64) {
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
    fn one_peak_is_held_not_taken() {
        let mut e = PeakEwma::new(100.0, 0.0);
        e.observe(5000.0, 10.0, 1000.0);
        assert_eq!(e.last(), 100.0);
        // however long the quiet before it
        let mut e = PeakEwma::new(100.0, 0.0);
        e.observe(5000.0, 60_000.0, 1000.0);
        assert_eq!(e.last(), 100.0);
    }

    #[test]
    fn a_peak_confirmed_by_the_next_answer_counts_at_once() {
        let mut e = PeakEwma::new(100.0, 0.0);
        e.observe(1200.0, 10.0, 1000.0);
        e.observe(1000.0, 20.0, 1000.0);
        // the lower of the two slow answers
        assert_eq!(e.estimate(20.0, 100.0, 1000.0), 1000.0);
        // a slower answer still needs the next one: two answers of 3000 ms and more
        e.observe(3000.0, 30.0, 1000.0);
        assert!(e.last() < 1100.0, "{}", e.last());
        e.observe(4000.0, 40.0, 1000.0);
        assert_eq!(e.last(), 3000.0);
    }

    #[test]
    fn a_faster_answer_between_two_peaks_breaks_the_confirmation() {
        let mut e = PeakEwma::new(100.0, 0.0);
        e.observe(5000.0, 10.0, 1000.0);
        e.observe(100.0, 20.0, 1000.0);
        e.observe(5000.0, 30.0, 1000.0);
        assert!(e.last() < 300.0, "{}", e.last());
    }

    #[test]
    fn a_peak_waits_for_confirmation_one_time_constant_at_most() {
        let mut e = PeakEwma::new(100.0, 0.0);
        e.observe(5000.0, 0.0, 1000.0);
        e.observe(5000.0, 1001.0, 1000.0); // the first peak has expired: held in its place
        assert_eq!(e.last(), 100.0);
        e.observe(5000.0, 1500.0, 1000.0); // confirmed by the one before, within 1000 ms
        assert_eq!(e.last(), 5000.0);
    }

    #[test]
    fn a_first_sample_above_the_prior_waits_for_confirmation() {
        let mut e = PeakEwma::first(9000.0, 800.0, 0.0);
        assert_eq!(e.last(), 800.0);
        e.observe(7000.0, 100.0, 1000.0);
        assert_eq!(e.last(), 7000.0);
        // at or below the prior, the first sample is the estimate
        assert_eq!(PeakEwma::first(500.0, 800.0, 0.0).last(), 500.0);
    }

    #[test]
    fn a_raise_counts_at_once() {
        let mut e = PeakEwma::new(100.0, 0.0);
        e.raise(1000.0, 10.0, 1000.0);
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
        e.raise(5000.0, 0.0, 1000.0);
        let soon = e.estimate(100.0, 100.0, 1000.0);
        let later = e.estimate(5000.0, 100.0, 1000.0);
        assert!(soon > later && later > 100.0);
        assert!(later < 150.0);
    }
}
