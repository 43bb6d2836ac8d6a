//! Whether the fleet level is usable, as a state machine fed by the outcome of each Redis
//! call. The first failure (an error or no answer within `timeoutMs`) makes it degraded:
//! [`Transition::Degraded`] is reported once, calls skip Redis (they continue on local
//! state at no cost) and a prober retries with exponential backoff; the first success
//! reports [`Transition::Restored`]. Time comes from a [`Clock`], so tests run in virtual
//! time.

use std::sync::Arc;
use std::time::Instant;

pub trait Clock: Send + Sync {
    /// Milliseconds from an arbitrary, fixed origin; never decreases.
    fn now_ms(&self) -> u64;
}

/// The monotonic clock of the process.
pub struct SystemClock(Instant);

impl SystemClock {
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(SystemClock(Instant::now()))
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Degraded,
    /// Restored after this many milliseconds degraded.
    Restored {
        down_ms: u64,
    },
}

/// Delay before each reconnection attempt: `min_ms * 2^attempt`, at most `max_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl Backoff {
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        self.min_ms
            .saturating_mul(1u64 << attempt.min(32))
            .min(self.max_ms)
    }
}

pub struct Health {
    clock: Arc<dyn Clock>,
    backoff: Backoff,
    degraded_since: Option<u64>,
    attempt: u32,
    degradations: u64,
}

impl Health {
    pub fn new(clock: Arc<dyn Clock>, backoff: Backoff) -> Self {
        Self {
            clock,
            backoff,
            degraded_since: None,
            attempt: 0,
            degradations: 0,
        }
    }

    pub fn is_degraded(&self) -> bool {
        self.degraded_since.is_some()
    }

    /// Times the level became degraded.
    pub fn degradations(&self) -> u64 {
        self.degradations
    }

    /// A call failed or timed out: `Some(Degraded)` the first time only.
    pub fn on_failure(&mut self) -> Option<Transition> {
        if self.degraded_since.is_some() {
            return None;
        }
        self.degraded_since = Some(self.clock.now_ms());
        self.attempt = 0;
        self.degradations += 1;
        Some(Transition::Degraded)
    }

    /// A call (or a probe) succeeded: `Some(Restored)` when the level was degraded.
    pub fn on_success(&mut self) -> Option<Transition> {
        let since = self.degraded_since.take()?;
        self.attempt = 0;
        Some(Transition::Restored {
            down_ms: self.clock.now_ms().saturating_sub(since),
        })
    }

    /// The delay before the next probe, advancing the backoff.
    pub fn next_probe_delay_ms(&mut self) -> u64 {
        let d = self.backoff.delay_ms(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Virtual(AtomicU64);
    impl Clock for Virtual {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn degraded_once_backoff_grows_restored_once_with_the_time_down() {
        let clock = Arc::new(Virtual(AtomicU64::new(1000)));
        let mut h = Health::new(
            clock.clone(),
            Backoff {
                min_ms: 50,
                max_ms: 400,
            },
        );
        assert_eq!(h.on_success(), None);
        assert_eq!(h.on_failure(), Some(Transition::Degraded));
        assert_eq!(h.on_failure(), None);
        assert_eq!(h.on_failure(), None);
        assert!(h.is_degraded());
        let delays: Vec<u64> = (0..6).map(|_| h.next_probe_delay_ms()).collect();
        assert_eq!(delays, [50, 100, 200, 400, 400, 400]);
        clock.0.store(3500, Ordering::SeqCst);
        assert_eq!(h.on_success(), Some(Transition::Restored { down_ms: 2500 }));
        assert_eq!(h.on_success(), None);
        assert!(!h.is_degraded());
        // a new outage starts the backoff over
        assert_eq!(h.on_failure(), Some(Transition::Degraded));
        assert_eq!(h.next_probe_delay_ms(), 50);
        assert_eq!(h.degradations(), 2);
    }

    #[test]
    fn backoff_saturates() {
        let b = Backoff {
            min_ms: 1,
            max_ms: u64::MAX,
        };
        assert_eq!(b.delay_ms(1000), 1u64 << 32);
    }
}
