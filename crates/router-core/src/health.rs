//! One model's health state machine, driven by outcomes and by an explicit `now_ms`.
//!
//! ```text
//! healthy ──429──────────────────────────▶ rate_limited ──until passes──▶ healthy
//! healthy ──N consecutive / ratio failures──▶ ejected ──until passes, a decision──▶ probing
//! probing ──the probe succeeds──▶ healthy      probing ──the probe fails──▶ ejected (longer)
//! any ──auth──▶ auth_failed ──availability restored / new configs──▶ healthy
//! ```
//!
//! Ejection follows Envoy's outlier detection: consecutive failures, or a failure ratio
//! over a sliding window with a minimum volume; the ejection time is the base time times
//! the number of ejections so far (capped), plus jitter; the count falls back to zero once
//! the model has stayed healthy for the cap. After the ejection time exactly one request
//! probes the model (half open). A probe whose outcome never comes is lost after
//! `probe_timeout_ms`, and the model may be probed again.
//!
//! In fleet mode another process's view of the model ([`Peer`]) is applied over the local
//! state: a model healthy here but rate limited or ejected in another process is kept out
//! (`state()`, `until_ms()` and `routable()` report the peer's state). A peer's rate limit
//! ends with its time; a peer's ejection holds the model out until the fleet layer clears it
//! (the prober's restored message) or hands the probe to this process ([`Health::take_probe`]):
//! only one process probes an ejected model.

use crate::outcome::OutcomeClass;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Healthy,
    RateLimited,
    Ejected,
    Probing,
    AuthFailed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::RateLimited => "rate_limited",
            State::Ejected => "ejected",
            State::Probing => "probing",
            State::AuthFailed => "auth_failed",
        }
    }
}

/// Why a transition happened (the `reason` of `model_health_changed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    RateLimited,
    ConsecutiveFailures,
    FailureRate,
    ProbeStarted,
    ProbeSucceeded,
    ProbeFailed,
    ProbeRateLimited,
    ProbeLost,
    CooldownOver,
    AuthFailed,
    AvailabilityRestored,
    ConfigsChanged,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RateLimited => "rate_limited",
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::FailureRate => "failure_rate",
            Reason::ProbeStarted => "probe_started",
            Reason::ProbeSucceeded => "probe_succeeded",
            Reason::ProbeFailed => "probe_failed",
            Reason::ProbeRateLimited => "probe_rate_limited",
            Reason::ProbeLost => "probe_lost",
            Reason::CooldownOver => "cooldown_over",
            Reason::AuthFailed => "auth_failed",
            Reason::AvailabilityRestored => "availability_restored",
            Reason::ConfigsChanged => "configs_changed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Reason,
    /// When the new state ends (`None`: it has no set end).
    pub until_ms: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HealthConfig {
    /// Consecutive model failures that eject it (Envoy's consecutive 5xx).
    pub consecutive_failures: u32,
    /// Failure share over the window that ejects (with at least `min_requests` in it).
    pub failure_rate_threshold: f64,
    pub failure_rate_min_requests: u32,
    pub failure_rate_window_ms: f64,
    /// First ejection time; the n-th ejection lasts n times this, up to the cap.
    pub base_ejection_ms: f64,
    pub max_ejection_ms: f64,
    /// Jitter: a cooldown is lengthened by up to this share of itself.
    pub jitter: f64,
    /// Cooldown after a 429 without a Retry-After.
    pub rate_limit_cooldown_ms: f64,
    /// Cap on any 429 cooldown, Retry-After included.
    pub max_rate_limit_cooldown_ms: f64,
    /// A probe without an outcome this long is lost (the model may be probed again).
    pub probe_timeout_ms: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            consecutive_failures: 3,
            failure_rate_threshold: 0.5,
            failure_rate_min_requests: 10,
            failure_rate_window_ms: 10_000.0,
            base_ejection_ms: 5_000.0,
            max_ejection_ms: 300_000.0,
            jitter: 0.1,
            rate_limit_cooldown_ms: 5_000.0,
            max_rate_limit_cooldown_ms: 60_000.0,
            probe_timeout_ms: 30_000.0,
        }
    }
}

const BUCKETS: usize = 10;

/// Successes and failures over a sliding window, in `BUCKETS` time slices (bounded).
#[derive(Clone, Debug, Default, PartialEq)]
struct FailureWindow {
    /// (slice number, total, failures)
    slices: [(i64, u32, u32); BUCKETS],
}

impl FailureWindow {
    fn add(&mut self, now_ms: f64, window_ms: f64, failed: bool) {
        let width = (window_ms / BUCKETS as f64).max(1.0);
        let n = (now_ms / width).floor() as i64;
        let s = &mut self.slices[n.rem_euclid(BUCKETS as i64) as usize];
        if s.0 != n {
            *s = (n, 0, 0);
        }
        s.1 += 1;
        s.2 += failed as u32;
    }

    /// (total, failures) in the window ending at `now_ms`.
    fn counts(&self, now_ms: f64, window_ms: f64) -> (u32, u32) {
        let width = (window_ms / BUCKETS as f64).max(1.0);
        let n = (now_ms / width).floor() as i64;
        self.slices
            .iter()
            .filter(|s| s.0 > n - BUCKETS as i64 && s.0 <= n && s.1 > 0)
            .fold((0, 0), |(t, f), s| (t + s.1, f + s.2))
    }

    fn clear(&mut self) {
        *self = FailureWindow::default();
    }
}

/// Whether, and how, a decision may name the model at some instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Routable {
    Healthy,
    /// Its ejection time is over and no probe is out: the next decision probes it.
    ProbeReady,
    /// Not before this instant (`f64::INFINITY`: not until someone restores it).
    CoolingUntil(f64),
}

/// Another process's state of the model, on this router's clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peer {
    /// `RateLimited` or `Ejected` (a peer's probe counts as an ejection: it is not ours).
    pub state: State,
    pub until_ms: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    state: State,
    /// Fleet mode: another process's cooldown, applied while the local state is healthy.
    peer: Option<Peer>,
    /// End of a rate limit or an ejection; start of a probe while probing.
    until_ms: f64,
    consecutive: u32,
    window: FailureWindow,
    /// Ejections counted towards the next ejection's length.
    ejections: u32,
    /// Ejections ever (reported).
    total_ejections: u64,
    /// When the model last became healthy after an ejection.
    restored_at_ms: f64,
    /// The decision that carries the probe (`None`: any outcome of the model answers it).
    probe_decision: Option<u64>,
    probe_started_ms: f64,
    /// The reason of the last transition.
    reason: Option<Reason>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            state: State::Healthy,
            peer: None,
            until_ms: 0.0,
            consecutive: 0,
            window: FailureWindow::default(),
            ejections: 0,
            total_ejections: 0,
            restored_at_ms: f64::NEG_INFINITY,
            probe_decision: None,
            probe_started_ms: 0.0,
            reason: None,
        }
    }
}

impl Health {
    /// The state decisions see: the local one, or a peer's cooldown while the local state is
    /// healthy.
    pub fn state(&self) -> State {
        match self.peer {
            Some(p) if self.state == State::Healthy => p.state,
            _ => self.state,
        }
    }
    /// The state of this process's own state machine (no peer applied).
    pub fn local_state(&self) -> State {
        self.state
    }
    /// End of the current cooldown (rate limited, ejected), if any, a peer's included.
    pub fn until_ms(&self) -> Option<f64> {
        match self.peer {
            Some(p) if self.state == State::Healthy => Some(p.until_ms),
            _ => matches!(self.state, State::RateLimited | State::Ejected).then_some(self.until_ms),
        }
    }
    pub fn peer(&self) -> Option<Peer> {
        self.peer
    }

    /// Another process reports the model rate limited or ejected until `until_ms` (this
    /// router's clock). Other states are ignored. A later report replaces an earlier one.
    pub fn set_peer(&mut self, state: State, until_ms: f64) {
        if matches!(state, State::RateLimited | State::Ejected) && !until_ms.is_nan() {
            self.peer = Some(Peer { state, until_ms });
        }
    }

    /// Another process's cooldown of the model is over (its probe succeeded, or the fleet
    /// state is unavailable and each process decides alone). A model this process ejected
    /// and has not probed yet is restored too: the prober found it up.
    pub fn clear_peer(&mut self, restored: bool, now_ms: f64) -> Option<Transition> {
        self.peer = None;
        if restored && self.state == State::Ejected {
            return self.restore(now_ms);
        }
        None
    }

    /// This process takes over the probe of a peer's ejection (it won the fleet's probe
    /// lock): the model becomes ejected here with its time over, so the next decision
    /// probes it. Returns false (nothing changed) unless a peer ejection holds the model.
    pub fn take_probe(&mut self, now_ms: f64) -> bool {
        match self.peer {
            Some(p) if p.state == State::Ejected && self.state == State::Healthy => {
                self.peer = None;
                self.state = State::Ejected;
                self.until_ms = now_ms;
                self.probe_decision = None;
                true
            }
            _ => false,
        }
    }
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }
    pub fn total_ejections(&self) -> u64 {
        self.total_ejections
    }
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }
    /// When the outstanding probe was sent (meaningful while probing).
    pub fn probe_started_ms(&self) -> f64 {
        self.probe_started_ms
    }
    pub fn probe_decision(&self) -> Option<u64> {
        self.probe_decision
    }

    fn go(&mut self, to: State, reason: Reason, until_ms: Option<f64>) -> Option<Transition> {
        let from = self.state;
        self.state = to;
        self.reason = Some(reason);
        if let Some(u) = until_ms {
            self.until_ms = u;
        }
        Some(Transition {
            from,
            to,
            reason,
            until_ms,
        })
    }

    /// Applies the time-driven transitions due at `now_ms`: a rate limit that is over, a
    /// probe that is lost.
    pub fn refresh(&mut self, now_ms: f64, cfg: &HealthConfig) -> Option<Transition> {
        // a peer's rate limit ends with its time; a peer's ejection waits for the fleet
        if self
            .peer
            .is_some_and(|p| p.state == State::RateLimited && now_ms >= p.until_ms)
        {
            self.peer = None;
        }
        match self.state {
            State::RateLimited if now_ms >= self.until_ms => {
                self.consecutive = 0;
                self.go(State::Healthy, Reason::CooldownOver, None)
            }
            State::Probing if now_ms - self.probe_started_ms >= cfg.probe_timeout_ms => {
                self.probe_decision = None;
                self.go(State::Ejected, Reason::ProbeLost, Some(now_ms))
            }
            _ => None,
        }
    }

    /// How a decision may name the model at `now_ms` (call `refresh` first).
    pub fn routable(&self, now_ms: f64) -> Routable {
        match self.state {
            State::Healthy => match self.peer {
                None => Routable::Healthy,
                Some(p) if p.state == State::RateLimited && now_ms >= p.until_ms => {
                    Routable::Healthy
                }
                // a peer's ejection past its time: its prober (or whoever takes the probe)
                // answers; here the model stays out, the soonest to clear
                Some(p) => Routable::CoolingUntil(p.until_ms.max(now_ms)),
            },
            State::RateLimited => Routable::CoolingUntil(self.until_ms),
            State::Ejected if now_ms >= self.until_ms => Routable::ProbeReady,
            State::Ejected => Routable::CoolingUntil(self.until_ms),
            // the probe's answer is awaited; at worst it is lost at the probe timeout
            State::Probing => Routable::CoolingUntil(self.probe_started_ms),
            State::AuthFailed => Routable::CoolingUntil(f64::INFINITY),
        }
    }

    /// A decision names the model as its probe (it must be `ProbeReady`).
    pub fn start_probe(&mut self, now_ms: f64, decision: Option<u64>) -> Option<Transition> {
        if self.state != State::Ejected || now_ms < self.until_ms {
            return None;
        }
        self.probe_decision = decision;
        self.probe_started_ms = now_ms;
        self.go(State::Probing, Reason::ProbeStarted, None)
    }

    fn eject(
        &mut self,
        now_ms: f64,
        jitter_u: f64,
        cfg: &HealthConfig,
        reason: Reason,
    ) -> Option<Transition> {
        if now_ms - self.restored_at_ms >= cfg.max_ejection_ms {
            self.ejections = 0; // healthy for long enough: start over
        }
        self.ejections = self.ejections.saturating_add(1);
        self.total_ejections += 1;
        let base = (cfg.base_ejection_ms * self.ejections as f64).min(cfg.max_ejection_ms);
        let until = now_ms + base * (1.0 + cfg.jitter * jitter_u.clamp(0.0, 1.0));
        self.consecutive = 0;
        self.window.clear();
        self.probe_decision = None;
        self.restored_at_ms = f64::INFINITY; // not restored since this ejection
        self.go(State::Ejected, reason, Some(until))
    }

    /// Whether an outcome of `decision` answers the outstanding probe.
    fn answers_probe(&self, decision: Option<u64>) -> bool {
        self.state == State::Probing
            && (decision.is_none()
                || self.probe_decision.is_none()
                || decision == self.probe_decision)
    }

    /// Applies one outcome of a call the model served. `retry_after_ms` is the provider's
    /// Retry-After (429 only); `jitter_u` a uniform draw in [0, 1).
    pub fn on_outcome(
        &mut self,
        class: OutcomeClass,
        decision: Option<u64>,
        retry_after_ms: Option<f64>,
        now_ms: f64,
        jitter_u: f64,
        cfg: &HealthConfig,
    ) -> Option<Transition> {
        let probe = self.answers_probe(decision);
        match class {
            OutcomeClass::CallerError(_) => {
                // the caller's request was at fault; a probe answered this way shows the
                // model is up
                if probe {
                    self.restore(now_ms)
                } else {
                    None
                }
            }
            OutcomeClass::Success => {
                self.consecutive = 0;
                if self.state == State::Healthy {
                    self.window.add(now_ms, cfg.failure_rate_window_ms, false);
                }
                if probe {
                    self.restore(now_ms)
                } else {
                    None
                }
            }
            OutcomeClass::RateLimited => {
                if self.state == State::AuthFailed || (self.state == State::Probing && !probe) {
                    return None;
                }
                let cooldown = match retry_after_ms {
                    Some(ms) => ms,
                    None => {
                        cfg.rate_limit_cooldown_ms * (1.0 + cfg.jitter * jitter_u.clamp(0.0, 1.0))
                    }
                }
                .clamp(0.0, cfg.max_rate_limit_cooldown_ms);
                let until = now_ms + cooldown;
                match self.state {
                    // an earlier call's 429 does not shorten an ejection
                    State::Ejected => None,
                    State::RateLimited if until <= self.until_ms => None,
                    State::RateLimited => {
                        self.until_ms = until;
                        self.go(State::RateLimited, Reason::RateLimited, Some(until))
                    }
                    State::Probing => {
                        self.probe_decision = None;
                        self.go(State::RateLimited, Reason::ProbeRateLimited, Some(until))
                    }
                    _ => self.go(State::RateLimited, Reason::RateLimited, Some(until)),
                }
            }
            OutcomeClass::Failure(_) => match self.state {
                State::Probing if probe => self.eject(now_ms, jitter_u, cfg, Reason::ProbeFailed),
                State::Healthy | State::RateLimited => {
                    self.consecutive = self.consecutive.saturating_add(1);
                    self.window.add(now_ms, cfg.failure_rate_window_ms, true);
                    let (total, failures) = self.window.counts(now_ms, cfg.failure_rate_window_ms);
                    if self.consecutive >= cfg.consecutive_failures.max(1) {
                        self.eject(now_ms, jitter_u, cfg, Reason::ConsecutiveFailures)
                    } else if total >= cfg.failure_rate_min_requests.max(1)
                        && failures as f64 >= cfg.failure_rate_threshold * total as f64
                    {
                        self.eject(now_ms, jitter_u, cfg, Reason::FailureRate)
                    } else {
                        None
                    }
                }
                // late answers of calls sent before the ejection
                _ => None,
            },
            OutcomeClass::Auth => {
                // an ejected model's late answers change nothing; its probe will tell
                if matches!(self.state, State::AuthFailed | State::Ejected)
                    || (self.state == State::Probing && !probe)
                {
                    return None;
                }
                self.probe_decision = None;
                self.go(State::AuthFailed, Reason::AuthFailed, None)
            }
        }
    }

    fn restore(&mut self, now_ms: f64) -> Option<Transition> {
        // the model answered: any peer's cooldown of it is stale
        self.peer = None;
        self.probe_decision = None;
        self.consecutive = 0;
        self.window.clear();
        self.restored_at_ms = now_ms;
        self.go(State::Healthy, Reason::ProbeSucceeded, None)
    }

    /// Ends an auth ejection (availability restored, or new configs).
    pub fn clear_auth(&mut self, reason: Reason) -> Option<Transition> {
        if self.state != State::AuthFailed {
            return None;
        }
        self.consecutive = 0;
        self.window.clear();
        self.go(State::Healthy, reason, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ErrorType;

    const FAIL: OutcomeClass = OutcomeClass::Failure(ErrorType::Server);

    fn cfg() -> HealthConfig {
        HealthConfig {
            jitter: 0.0,
            ..HealthConfig::default()
        }
    }

    fn fail_n(h: &mut Health, n: u32, now: f64) -> Option<Transition> {
        let mut last = None;
        for _ in 0..n {
            last = h.on_outcome(FAIL, None, None, now, 0.0, &cfg());
        }
        last
    }

    #[test]
    fn rate_limit_with_retry_after_cools_until_then() {
        let mut h = Health::default();
        let t = h
            .on_outcome(
                OutcomeClass::RateLimited,
                None,
                Some(2000.0),
                100.0,
                0.0,
                &cfg(),
            )
            .unwrap();
        assert_eq!(
            (t.from, t.to, t.until_ms),
            (State::Healthy, State::RateLimited, Some(2100.0))
        );
        assert_eq!(h.routable(2099.0), Routable::CoolingUntil(2100.0));
        assert_eq!(h.refresh(2099.0, &cfg()), None);
        let t = h.refresh(2100.0, &cfg()).unwrap();
        assert_eq!((t.to, t.reason), (State::Healthy, Reason::CooldownOver));
        assert_eq!(h.routable(2100.0), Routable::Healthy);
    }

    #[test]
    fn rate_limit_without_retry_after_uses_default_with_jitter_and_cap() {
        let c = HealthConfig {
            jitter: 0.5,
            ..HealthConfig::default()
        };
        let mut h = Health::default();
        let t = h
            .on_outcome(OutcomeClass::RateLimited, None, None, 0.0, 1.0, &c)
            .unwrap();
        assert_eq!(t.until_ms, Some(c.rate_limit_cooldown_ms * 1.5));
        let mut h = Health::default();
        let t = h
            .on_outcome(OutcomeClass::RateLimited, None, Some(1e9), 0.0, 0.0, &c)
            .unwrap();
        assert_eq!(t.until_ms, Some(c.max_rate_limit_cooldown_ms));
    }

    #[test]
    fn a_later_429_extends_but_never_shortens() {
        let mut h = Health::default();
        h.on_outcome(
            OutcomeClass::RateLimited,
            None,
            Some(5000.0),
            0.0,
            0.0,
            &cfg(),
        );
        assert_eq!(
            h.on_outcome(
                OutcomeClass::RateLimited,
                None,
                Some(1000.0),
                100.0,
                0.0,
                &cfg()
            ),
            None
        );
        let t = h
            .on_outcome(
                OutcomeClass::RateLimited,
                None,
                Some(9000.0),
                100.0,
                0.0,
                &cfg(),
            )
            .unwrap();
        assert_eq!(t.until_ms, Some(9100.0));
    }

    #[test]
    fn consecutive_failures_eject_and_successes_reset_the_count() {
        let mut h = Health::default();
        assert_eq!(fail_n(&mut h, 2, 0.0), None);
        h.on_outcome(OutcomeClass::Success, None, None, 1.0, 0.0, &cfg());
        assert_eq!(fail_n(&mut h, 2, 2.0), None);
        let t = fail_n(&mut h, 1, 3.0).unwrap();
        assert_eq!(
            (t.from, t.to, t.reason),
            (State::Healthy, State::Ejected, Reason::ConsecutiveFailures)
        );
        assert_eq!(t.until_ms, Some(3.0 + cfg().base_ejection_ms));
        assert_eq!(h.total_ejections(), 1);
    }

    #[test]
    fn failure_ratio_over_the_window_ejects_with_minimum_volume() {
        let c = HealthConfig {
            consecutive_failures: 100,
            ..cfg()
        };
        let mut h = Health::default();
        // alternate: 50% failures, never 2 in a row
        for i in 0..9 {
            let class = if i % 2 == 0 {
                FAIL
            } else {
                OutcomeClass::Success
            };
            assert_eq!(h.on_outcome(class, None, None, i as f64, 0.0, &c), None);
        }
        // the 10th makes the volume: 5 of 10 fail
        let t = h.on_outcome(OutcomeClass::Success, None, None, 9.0, 0.0, &c);
        assert_eq!(t, None); // a success never ejects
        let t = h.on_outcome(FAIL, None, None, 10.0, 0.0, &c).unwrap();
        assert_eq!(t.reason, Reason::FailureRate);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let c = HealthConfig {
            consecutive_failures: 100,
            failure_rate_min_requests: 4,
            ..cfg()
        };
        let mut h = Health::default();
        for _ in 0..3 {
            h.on_outcome(FAIL, None, None, 0.0, 0.0, &c);
        }
        // long after, the old failures no longer count: 1 of 1, below the volume
        assert_eq!(h.on_outcome(FAIL, None, None, 60_000.0, 0.0, &c), None);
    }

    #[test]
    fn one_probe_after_the_ejection_time_and_its_success_restores() {
        let mut h = Health::default();
        fail_n(&mut h, 3, 0.0);
        let until = cfg().base_ejection_ms;
        assert_eq!(h.routable(until - 1.0), Routable::CoolingUntil(until));
        assert_eq!(h.start_probe(until - 1.0, Some(7)), None);
        assert_eq!(h.routable(until), Routable::ProbeReady);
        let t = h.start_probe(until, Some(7)).unwrap();
        assert_eq!((t.from, t.to), (State::Ejected, State::Probing));
        // while the probe is out, nothing else is sent
        assert!(matches!(h.routable(until + 1.0), Routable::CoolingUntil(_)));
        // another decision's late answer does not count as the probe's
        assert_eq!(
            h.on_outcome(
                OutcomeClass::Success,
                Some(3),
                None,
                until + 2.0,
                0.0,
                &cfg()
            ),
            None
        );
        let t = h
            .on_outcome(
                OutcomeClass::Success,
                Some(7),
                None,
                until + 3.0,
                0.0,
                &cfg(),
            )
            .unwrap();
        assert_eq!(
            (t.from, t.to, t.reason),
            (State::Probing, State::Healthy, Reason::ProbeSucceeded)
        );
    }

    #[test]
    fn a_failed_probe_ejects_again_for_longer_up_to_the_cap() {
        let c = HealthConfig {
            max_ejection_ms: 12_000.0,
            ..cfg()
        };
        let mut h = Health::default();
        let mut now = 0.0;
        for _ in 0..3 {
            h.on_outcome(FAIL, None, None, now, 0.0, &c);
        }
        let mut lengths = vec![h.until_ms().unwrap() - now];
        for _ in 0..3 {
            now = h.until_ms().unwrap();
            h.start_probe(now, Some(1)).unwrap();
            let t = h
                .on_outcome(FAIL, Some(1), None, now + 10.0, 0.0, &c)
                .unwrap();
            assert_eq!((t.to, t.reason), (State::Ejected, Reason::ProbeFailed));
            now += 10.0;
            lengths.push(h.until_ms().unwrap() - now);
        }
        assert_eq!(lengths, vec![5_000.0, 10_000.0, 12_000.0, 12_000.0]);
    }

    #[test]
    fn the_ejection_count_starts_over_after_a_long_healthy_spell() {
        let mut h = Health::default();
        fail_n(&mut h, 3, 0.0);
        let t0 = h.until_ms().unwrap();
        h.start_probe(t0, None);
        h.on_outcome(OutcomeClass::Success, None, None, t0, 0.0, &cfg());
        let later = t0 + cfg().max_ejection_ms;
        let t = fail_n(&mut h, 3, later).unwrap();
        assert_eq!(t.until_ms, Some(later + cfg().base_ejection_ms));
    }

    #[test]
    fn a_lost_probe_lets_the_model_be_probed_again() {
        let mut h = Health::default();
        fail_n(&mut h, 3, 0.0);
        let t0 = h.until_ms().unwrap();
        h.start_probe(t0, Some(1));
        assert_eq!(h.refresh(t0 + cfg().probe_timeout_ms - 1.0, &cfg()), None);
        let t = h.refresh(t0 + cfg().probe_timeout_ms, &cfg()).unwrap();
        assert_eq!(
            (t.from, t.to, t.reason),
            (State::Probing, State::Ejected, Reason::ProbeLost)
        );
        assert_eq!(
            h.routable(t0 + cfg().probe_timeout_ms),
            Routable::ProbeReady
        );
    }

    #[test]
    fn a_rate_limited_probe_cools_again() {
        let mut h = Health::default();
        fail_n(&mut h, 3, 0.0);
        let t0 = h.until_ms().unwrap();
        h.start_probe(t0, Some(1));
        let t = h
            .on_outcome(
                OutcomeClass::RateLimited,
                Some(1),
                Some(1000.0),
                t0 + 1.0,
                0.0,
                &cfg(),
            )
            .unwrap();
        assert_eq!(
            (t.to, t.reason, t.until_ms),
            (
                State::RateLimited,
                Reason::ProbeRateLimited,
                Some(t0 + 1001.0)
            )
        );
    }

    #[test]
    fn caller_errors_never_count() {
        let mut h = Health::default();
        for e in [
            ErrorType::BadRequest,
            ErrorType::ContextLength,
            ErrorType::ContentPolicy,
        ] {
            for i in 0..50 {
                assert_eq!(
                    h.on_outcome(
                        OutcomeClass::CallerError(e),
                        None,
                        None,
                        i as f64,
                        0.0,
                        &cfg()
                    ),
                    None
                );
            }
        }
        assert_eq!(h.state(), State::Healthy);
        assert_eq!(fail_n(&mut h, 2, 100.0), None); // the count started from zero
    }

    #[test]
    fn auth_ejects_until_cleared() {
        let mut h = Health::default();
        let t = h
            .on_outcome(OutcomeClass::Auth, None, None, 0.0, 0.0, &cfg())
            .unwrap();
        assert_eq!((t.to, t.until_ms), (State::AuthFailed, None));
        assert_eq!(h.routable(1e12), Routable::CoolingUntil(f64::INFINITY));
        assert_eq!(h.refresh(1e12, &cfg()), None);
        // a success of an earlier call does not restore it
        assert_eq!(
            h.on_outcome(OutcomeClass::Success, None, None, 1.0, 0.0, &cfg()),
            None
        );
        let t = h.clear_auth(Reason::AvailabilityRestored).unwrap();
        assert_eq!((t.from, t.to), (State::AuthFailed, State::Healthy));
        assert_eq!(h.clear_auth(Reason::AvailabilityRestored), None);
    }

    #[test]
    fn late_failures_during_an_ejection_change_nothing() {
        let mut h = Health::default();
        fail_n(&mut h, 3, 0.0);
        let until = h.until_ms();
        assert_eq!(fail_n(&mut h, 10, 1.0), None);
        assert_eq!(h.until_ms(), until);
        assert_eq!(
            h.on_outcome(OutcomeClass::RateLimited, None, Some(1e6), 1.0, 0.0, &cfg()),
            None
        );
    }

    #[test]
    fn a_peer_rate_limit_keeps_the_model_out_until_its_time() {
        let mut h = Health::default();
        h.set_peer(State::RateLimited, 1000.0);
        assert_eq!(h.state(), State::RateLimited);
        assert_eq!(h.local_state(), State::Healthy);
        assert_eq!(h.until_ms(), Some(1000.0));
        assert_eq!(h.routable(999.0), Routable::CoolingUntil(1000.0));
        assert_eq!(h.routable(1000.0), Routable::Healthy);
        // no transition of this process's state machine; the peer is dropped
        assert_eq!(h.refresh(1000.0, &cfg()), None);
        assert_eq!(h.peer(), None);
        assert_eq!(h.state(), State::Healthy);
    }

    #[test]
    fn a_peer_ejection_holds_past_its_time_and_is_never_probed_here() {
        let mut h = Health::default();
        h.set_peer(State::Ejected, 5000.0);
        assert_eq!(h.routable(4000.0), Routable::CoolingUntil(5000.0));
        // past its time: still out (its prober answers), never ProbeReady here
        assert_eq!(h.refresh(9000.0, &cfg()), None);
        assert_eq!(h.routable(9000.0), Routable::CoolingUntil(9000.0));
        assert_eq!(h.start_probe(9000.0, Some(1)), None);
        assert_eq!(h.state(), State::Ejected);
        // the prober's restored message
        assert_eq!(h.clear_peer(true, 9001.0), None);
        assert_eq!(h.routable(9001.0), Routable::Healthy);
        // states that are not cooldowns are not applied
        h.set_peer(State::Probing, 1.0);
        h.set_peer(State::AuthFailed, 1.0);
        assert_eq!(h.peer(), None);
    }

    #[test]
    fn taking_over_a_peer_probe_makes_the_next_decision_the_probe() {
        let mut h = Health::default();
        assert!(!h.take_probe(0.0));
        h.set_peer(State::RateLimited, 100.0);
        assert!(!h.take_probe(0.0)); // a rate limit has no probe
        h.set_peer(State::Ejected, 100.0);
        assert!(h.take_probe(200.0));
        assert_eq!(h.routable(200.0), Routable::ProbeReady);
        let t = h.start_probe(200.0, Some(4)).unwrap();
        assert_eq!((t.from, t.to), (State::Ejected, State::Probing));
        let t = h
            .on_outcome(OutcomeClass::Success, Some(4), None, 250.0, 0.0, &cfg())
            .unwrap();
        assert_eq!(t.to, State::Healthy);
    }

    #[test]
    fn a_peer_restore_ends_a_local_ejection_not_yet_probed_and_local_answers_clear_the_peer() {
        let mut h = Health::default();
        fail_n(&mut h, 3, 0.0);
        h.set_peer(State::Ejected, 8000.0);
        assert_eq!(h.state(), State::Ejected);
        let t = h.clear_peer(true, 10.0).unwrap();
        assert_eq!((t.from, t.to), (State::Ejected, State::Healthy));
        // a peer view without a restore leaves a local ejection alone
        fail_n(&mut h, 3, 20.0);
        assert_eq!(h.clear_peer(false, 30.0), None);
        assert_eq!(h.local_state(), State::Ejected);
        // the local probe succeeding drops a peer's stale ejection
        let until = h.until_ms().unwrap();
        h.set_peer(State::Ejected, until + 1e6);
        h.start_probe(until, Some(9)).unwrap();
        h.on_outcome(
            OutcomeClass::Success,
            Some(9),
            None,
            until + 1.0,
            0.0,
            &cfg(),
        );
        assert_eq!(h.peer(), None);
        assert_eq!(h.routable(until + 2.0), Routable::Healthy);
    }
}
