//! The last 100 routing times, oldest dropped first (the legacy sorted its window in
//! place, so the sample it dropped was no longer the oldest and slow samples stuck).

pub const WINDOW: usize = 100;
pub const TARGET_MS: f64 = 75.0;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WindowSummary {
    pub average: f64,
    pub max: f64,
    pub p95: f64,
    pub len: usize,
}

pub struct RoutingTimes {
    ring: [f64; WINDOW],
    len: usize,
    next: usize,
}

impl Default for RoutingTimes {
    fn default() -> Self {
        RoutingTimes {
            ring: [0.0; WINDOW],
            len: 0,
            next: 0,
        }
    }
}

impl RoutingTimes {
    /// Adds a sample; returns true when the window's length is now a multiple of 10
    /// (the legacy's cue to emit `performance_metrics`).
    pub fn record(&mut self, ms: f64) -> bool {
        self.ring[self.next] = ms;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        self.len.is_multiple_of(10)
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Average, max and p95 = sorted[floor(n·0.95)]; all zero with no samples.
    pub fn summary(&self) -> WindowSummary {
        if self.len == 0 {
            return WindowSummary::default();
        }
        // samples in recording order (oldest first), so the sum matches a JS reduce
        let start = if self.len < WINDOW { 0 } else { self.next };
        let mut sorted = [0.0f64; WINDOW];
        let mut sum = 0.0;
        for (i, slot) in sorted.iter_mut().enumerate().take(self.len) {
            let v = self.ring[(start + i) % WINDOW];
            *slot = v;
            sum += v;
        }
        let s = &mut sorted[..self.len];
        s.sort_by(f64::total_cmp);
        WindowSummary {
            average: sum / self.len as f64,
            max: s[self.len - 1],
            p95: s[((self.len as f64) * 0.95).floor() as usize],
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_oldest_sample() {
        let mut w = RoutingTimes::default();
        w.record(1000.0); // one slow sample first
        for _ in 0..100 {
            w.record(1.0);
        }
        assert_eq!(w.summary().max, 1.0); // the slow one left the window
    }

    #[test]
    fn emits_on_multiples_of_ten_then_every_sample() {
        let mut w = RoutingTimes::default();
        let cues: Vec<bool> = (0..105).map(|_| w.record(1.0)).collect();
        assert!(cues[9] && !cues[10] && cues[19] && cues[99] && cues[100] && cues[104]);
    }

    #[test]
    fn p95_is_floor_index() {
        let mut w = RoutingTimes::default();
        for i in 1..=20 {
            w.record(i as f64);
        }
        assert_eq!(w.summary().p95, 20.0); // sorted[floor(20·0.95)] = sorted[19]
        assert_eq!(w.summary().average, 10.5);
    }
}
