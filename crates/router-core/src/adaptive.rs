//! The adaptive strategy's live state and its final pick.
//!
//! Per model (by name): health ([`Health`]), a Peak-EWMA latency estimate and the decisions
//! in flight (from decision to outcome, each dropped after `in_flight_timeout_ms` so an
//! outcome never reported cannot leak). The pick, over candidates ranked by the legacy
//! score: health filter → a probe when one is due → the first candidate while its
//! predicted latency meets the deadline → else a power-of-two-choices pick on predicted
//! latency × (in flight + 1), among the candidates that meet the deadline if any → and
//! never none: when nothing is routable, the model that clears soonest (or a rejection).

use std::collections::VecDeque;

use ahash::AHashMap;

use crate::health::{Health, HealthConfig, Reason, Routable, State, Transition};
use crate::latency::PeakEwma;
use crate::outcome::{ErrorType, OutcomeClass};

/// What to do when no eligible model is routable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenNoneHealthy {
    /// Name the model that clears soonest, and say so in the reason.
    Closest,
    /// Refuse: the caller gets `ERR_NO_HEALTHY_MODEL` with the wait.
    Reject,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveConfig {
    pub health: HealthConfig,
    pub when_none_healthy: WhenNoneHealthy,
    /// Peak-EWMA time constant.
    pub latency_decay_ms: f64,
    /// A failure counts as a latency sample of at least this many times the model's latency
    /// target (a fast failure is penalised, not read as fast).
    pub failure_penalty: f64,
    /// A decision without an outcome stops counting as in flight after this long.
    pub in_flight_timeout_ms: f64,
    /// Decisions counted in flight per model at most (the oldest drops first).
    pub max_in_flight: usize,
    /// The first-ranked model is kept while its predicted latency is within the deadline,
    /// or within this many times its latency target when the deadline is tighter.
    pub slow_factor: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            health: HealthConfig::default(),
            when_none_healthy: WhenNoneHealthy::Closest,
            latency_decay_ms: 10_000.0,
            failure_penalty: 2.0,
            in_flight_timeout_ms: 120_000.0,
            max_in_flight: 1024,
            slow_factor: 2.0,
        }
    }
}

/// Distinct model names with state; past this, state of names outside the current model
/// set is dropped.
pub const MAX_MODELS: usize = 4096;
/// Health events waiting to be taken; the oldest drop first.
pub const MAX_EVENTS: usize = 1024;

#[derive(Clone, Debug)]
pub struct HealthEvent {
    pub model_name: String,
    pub transition: Transition,
}

#[derive(Clone, Debug)]
pub struct ModelState {
    pub health: Health,
    latency: Option<PeakEwma>,
    /// (decision id, when it was made), oldest first.
    in_flight: VecDeque<(u64, f64)>,
    /// The last failure class the caller reported and when (context-length retries).
    last_error: Option<(ErrorType, f64)>,
}

impl ModelState {
    fn new() -> ModelState {
        ModelState {
            health: Health::default(),
            latency: None,
            in_flight: VecDeque::new(),
            last_error: None,
        }
    }
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
    /// Predicted latency at `now_ms` (the prior when no sample came yet).
    pub fn latency_estimate(&self, now_ms: f64, prior_ms: f64, decay_ms: f64) -> f64 {
        self.latency
            .map_or(prior_ms, |e| e.estimate(now_ms, prior_ms, decay_ms))
    }
    pub fn last_error(&self) -> Option<ErrorType> {
        self.last_error.map(|(e, _)| e)
    }
}

/// A candidate as the pick sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Index in the model set.
    pub index: usize,
    /// The model's latency target (the estimate's prior).
    pub latency_target: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PickKind {
    /// The first-ranked routable candidate.
    Preferred,
    /// A power-of-two-choices pick.
    Balanced,
    /// The half-open probe of an ejected model.
    Probe,
    /// Nothing routable: the model that clears soonest, at `until_ms`.
    Closest { until_ms: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pick {
    pub index: usize,
    pub kind: PickKind,
    /// Predicted latency of the pick (ms) and its calls in flight before this one.
    pub predicted_ms: f64,
    pub in_flight: usize,
}

pub struct AdaptiveBook {
    pub config: AdaptiveConfig,
    states: AHashMap<String, ModelState>,
    events: VecDeque<HealthEvent>,
    rng: fastrand::Rng,
    next_decision: u64,
}

impl AdaptiveBook {
    pub fn new(config: AdaptiveConfig, seed: Option<u64>) -> AdaptiveBook {
        AdaptiveBook {
            config,
            states: AHashMap::new(),
            events: VecDeque::new(),
            rng: match seed {
                Some(s) => fastrand::Rng::with_seed(s ^ 0x9e37_79b9_7f4a_7c15),
                None => fastrand::Rng::new(),
            },
            next_decision: 0,
        }
    }

    pub fn get(&self, name: &str) -> Option<&ModelState> {
        self.states.get(name)
    }

    /// Names with state, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    fn push_event(events: &mut VecDeque<HealthEvent>, name: &str, t: Option<Transition>) {
        if let Some(transition) = t {
            if events.len() >= MAX_EVENTS {
                events.pop_front();
            }
            events.push_back(HealthEvent {
                model_name: name.to_string(),
                transition,
            });
        }
    }

    /// The id the next decision gets (decisions made outside `pick` take ids from here too).
    pub fn next_decision(&self) -> u64 {
        self.next_decision
    }
    pub fn set_next_decision(&mut self, id: u64) {
        self.next_decision = id;
    }

    /// Counts decision `id`, made at `now_ms` outside `pick` (a healthy first-ranked model
    /// served by the caller's memo), as in flight on `name`.
    pub fn track(&mut self, name: &str, id: u64, now_ms: f64, keep: &dyn Fn(&str) -> bool) {
        let max = self.config.max_in_flight.max(1);
        let s = self.state_mut(name, keep);
        if s.in_flight.len() >= max {
            s.in_flight.pop_front();
        }
        s.in_flight.push_back((id, now_ms));
        self.next_decision = self.next_decision.max(id + 1);
    }

    /// The earliest instant a time-driven change is due for any model (a cooldown or an
    /// ejection ending, a probe lost); infinity when none is.
    pub fn next_change_ms(&self) -> f64 {
        let probe_timeout = self.config.health.probe_timeout_ms;
        self.states
            .values()
            .map(|s| match s.health.state() {
                State::RateLimited | State::Ejected => s.health.until_ms().unwrap_or(f64::INFINITY),
                State::Probing => s.health.probe_started_ms() + probe_timeout,
                _ => f64::INFINITY,
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// The raw last latency estimate of `name` (`None`: no sample yet).
    pub fn last_estimate(&self, name: &str) -> Option<f64> {
        self.states
            .get(name)
            .and_then(|s| s.latency.map(|e| e.last()))
    }

    /// Health events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<HealthEvent> {
        self.events.drain(..).collect()
    }
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// The state of `name`, created on first use (bounded: see `MAX_MODELS`).
    fn state_mut(&mut self, name: &str, keep: &dyn Fn(&str) -> bool) -> &mut ModelState {
        if !self.states.contains_key(name) {
            if self.states.len() >= MAX_MODELS {
                self.states.retain(|n, _| keep(n));
                if self.states.len() >= MAX_MODELS {
                    self.states.clear();
                }
            }
            self.states.insert(name.to_string(), ModelState::new());
        }
        self.states.get_mut(name).expect("inserted above")
    }

    /// Applies the time-driven transitions of `name` due at `now_ms`.
    pub fn refresh(&mut self, name: &str, now_ms: f64) {
        let cfg = self.config;
        if let Some(s) = self.states.get_mut(name) {
            Self::refresh_state(&mut self.events, &cfg, name, s, now_ms);
        }
    }

    fn refresh_state(
        events: &mut VecDeque<HealthEvent>,
        cfg: &AdaptiveConfig,
        name: &str,
        s: &mut ModelState,
        now_ms: f64,
    ) {
        let t = s.health.refresh(now_ms, &cfg.health);
        Self::push_event(events, name, t);
        let cutoff = now_ms - cfg.in_flight_timeout_ms;
        while s.in_flight.front().is_some_and(|&(_, at)| at <= cutoff) {
            s.in_flight.pop_front();
        }
    }

    /// Applies every time-driven transition due at `now_ms`.
    pub fn refresh_all(&mut self, now_ms: f64) {
        let names: Vec<String> = self.states.keys().cloned().collect();
        for n in names {
            self.refresh(&n, now_ms);
        }
    }

    /// Applies one outcome of a call `name` served. `decision`: the id `pick` returned
    /// (`None`: reported by model name, which answers that model's oldest call in flight).
    /// `prior_ms` is the model's latency target, used if this is its first sample.
    #[allow(clippy::too_many_arguments)]
    pub fn report(
        &mut self,
        name: &str,
        decision: Option<u64>,
        class: OutcomeClass,
        latency_ms: f64,
        retry_after_ms: Option<f64>,
        now_ms: f64,
        prior_ms: f64,
        keep: &dyn Fn(&str) -> bool,
    ) {
        let cfg = self.config;
        let u = self.rng.f64();
        let s = self.state_mut(name, keep);
        match decision {
            Some(id) => {
                if let Some(at) = s.in_flight.iter().position(|&(d, _)| d == id) {
                    s.in_flight.remove(at);
                }
            }
            None => {
                s.in_flight.pop_front();
            }
        }
        let decay = cfg.latency_decay_ms;
        match class {
            OutcomeClass::Success => {
                s.latency
                    .get_or_insert_with(|| PeakEwma::new(latency_ms, now_ms))
                    .observe(latency_ms, now_ms, decay);
            }
            OutcomeClass::Failure(_) => {
                s.latency
                    .get_or_insert_with(|| PeakEwma::new(prior_ms, now_ms))
                    .observe(
                        latency_ms.max(prior_ms * cfg.failure_penalty),
                        now_ms,
                        decay,
                    );
            }
            _ => {}
        }
        if let OutcomeClass::Failure(e) | OutcomeClass::CallerError(e) = class {
            s.last_error = Some((e, now_ms));
        } else if class == OutcomeClass::Success {
            s.last_error = None;
        }
        let t = s
            .health
            .on_outcome(class, decision, retry_after_ms, now_ms, u, &cfg.health);
        Self::push_event(&mut self.events, name, t);
    }

    /// Ends an auth ejection of `name` (availability restored or new configs).
    pub fn clear_auth(&mut self, name: &str, reason: Reason) {
        if let Some(s) = self.states.get_mut(name) {
            let t = s.health.clear_auth(reason);
            Self::push_event(&mut self.events, name, t);
        }
    }

    pub fn clear_all_auth(&mut self, reason: Reason) {
        let names: Vec<String> = self
            .states
            .iter()
            .filter(|(_, s)| s.health.state() == State::AuthFailed)
            .map(|(n, _)| n.clone())
            .collect();
        for n in names {
            self.clear_auth(&n, reason);
        }
    }

    /// Chooses among `candidates` (ranked, best first; all eligible for the request) at
    /// `now_ms`. `name_of` gives a candidate's model name. `deadline_ms`: the request's
    /// latency requirement (0: none). `allow_probe`: a probe may be sent (not on a retry,
    /// unless nothing else is routable). Records the decision as in flight and returns
    /// its id with the pick; `Err(ms)`: nothing routable and the policy rejects, `ms`
    /// until the soonest model clears.
    pub fn pick<'n>(
        &mut self,
        candidates: &[Candidate],
        name_of: &dyn Fn(usize) -> Option<&'n str>,
        deadline_ms: f64,
        allow_probe: bool,
        now_ms: f64,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(Pick, u64), f64> {
        let cfg = self.config;
        let decay = cfg.latency_decay_ms;
        // (candidate, routable, predicted, in flight)
        let mut seen: Vec<(Candidate, Routable, f64, usize)> = Vec::with_capacity(candidates.len());
        for c in candidates {
            let Some(name) = name_of(c.index) else {
                continue;
            };
            let (routable, predicted, in_flight) = match self.states.get_mut(name) {
                Some(s) => {
                    Self::refresh_state(&mut self.events, &cfg, name, s, now_ms);
                    (
                        s.health.routable(now_ms),
                        s.latency_estimate(now_ms, c.latency_target, decay),
                        s.in_flight(),
                    )
                }
                None => (Routable::Healthy, c.latency_target, 0),
            };
            seen.push((*c, routable, predicted, in_flight));
        }
        let healthy: Vec<usize> = (0..seen.len())
            .filter(|&i| seen[i].1 == Routable::Healthy)
            .collect();
        let probe = (0..seen.len()).find(|&i| seen[i].1 == Routable::ProbeReady);
        let chosen: (usize, PickKind) = match (probe, healthy.is_empty()) {
            (Some(p), empty) if allow_probe || empty => (p, PickKind::Probe),
            (_, false) => self.choose_healthy(&seen, &healthy, deadline_ms),
            (_, true) => {
                // never none: the candidate that clears soonest
                let soonest = (0..seen.len())
                    .map(|i| match seen[i].1 {
                        Routable::CoolingUntil(u) => (i, u),
                        _ => (i, now_ms),
                    })
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                let Some((i, until)) = soonest else {
                    return Err(0.0);
                };
                if cfg.when_none_healthy == WhenNoneHealthy::Reject {
                    return Err((until - now_ms).max(0.0));
                }
                (i, PickKind::Closest { until_ms: until })
            }
        };
        let (i, kind) = chosen;
        let (c, _, predicted, in_flight) = seen[i];
        let id = self.next_decision;
        self.next_decision += 1;
        let name = name_of(c.index).unwrap_or_default();
        let s = self.state_mut(name, keep);
        if s.in_flight.len() >= cfg.max_in_flight.max(1) {
            s.in_flight.pop_front();
        }
        s.in_flight.push_back((id, now_ms));
        if kind == PickKind::Probe {
            let t = s.health.start_probe(now_ms, Some(id));
            Self::push_event(&mut self.events, name, t);
        }
        Ok((
            Pick {
                index: c.index,
                kind,
                predicted_ms: predicted,
                in_flight,
            },
            id,
        ))
    }

    fn choose_healthy(
        &mut self,
        seen: &[(Candidate, Routable, f64, usize)],
        healthy: &[usize],
        deadline_ms: f64,
    ) -> (usize, PickKind) {
        let first = healthy[0];
        let (c, _, predicted, _) = seen[first];
        let meets = |i: usize| deadline_ms <= 0.0 || seen[i].2 <= deadline_ms;
        let limit = if deadline_ms > 0.0 {
            deadline_ms.max(c.latency_target * self.config.slow_factor)
        } else {
            c.latency_target * self.config.slow_factor
        };
        if predicted <= limit || healthy.len() == 1 {
            return (first, PickKind::Preferred);
        }
        let in_time: Vec<usize> = healthy.iter().copied().filter(|&i| meets(i)).collect();
        let pool: &[usize] = if in_time.is_empty() {
            healthy
        } else {
            &in_time
        };
        if pool.len() == 1 {
            return (pool[0], PickKind::Balanced);
        }
        let a = self.rng.usize(..pool.len());
        let mut b = self.rng.usize(..pool.len() - 1);
        if b >= a {
            b += 1;
        }
        let cost = |i: usize| seen[i].2 * (seen[i].3 as f64 + 1.0);
        let (a, b) = (pool[a.min(b)], pool[a.max(b)]); // ranked order breaks ties
        (if cost(b) < cost(a) { b } else { a }, PickKind::Balanced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ErrorType;

    const NAMES: [&str; 3] = ["a", "b", "c"];

    fn cands() -> Vec<Candidate> {
        (0..3)
            .map(|index| Candidate {
                index,
                latency_target: 1000.0,
            })
            .collect()
    }
    fn name_of(i: usize) -> Option<&'static str> {
        NAMES.get(i).copied()
    }
    fn keep(_: &str) -> bool {
        true
    }
    fn book() -> AdaptiveBook {
        AdaptiveBook::new(
            AdaptiveConfig {
                health: HealthConfig {
                    jitter: 0.0,
                    ..HealthConfig::default()
                },
                ..AdaptiveConfig::default()
            },
            Some(1),
        )
    }
    fn report(b: &mut AdaptiveBook, name: &str, id: Option<u64>, class: OutcomeClass, now: f64) {
        b.report(name, id, class, 500.0, None, now, 1000.0, &keep);
    }

    #[test]
    fn the_first_ranked_healthy_model_is_preferred() {
        let mut b = book();
        let (p, _) = b
            .pick(&cands(), &name_of, 2000.0, true, 0.0, &keep)
            .unwrap();
        assert_eq!((p.index, p.kind), (0, PickKind::Preferred));
    }

    #[test]
    fn in_flight_counts_from_decision_to_outcome_and_expires() {
        let mut b = book();
        let (_, id1) = b
            .pick(&cands(), &name_of, 2000.0, true, 0.0, &keep)
            .unwrap();
        let (_, _id2) = b
            .pick(&cands(), &name_of, 2000.0, true, 0.0, &keep)
            .unwrap();
        assert_eq!(b.get("a").unwrap().in_flight(), 2);
        report(&mut b, "a", Some(id1), OutcomeClass::Success, 1.0);
        assert_eq!(b.get("a").unwrap().in_flight(), 1);
        // an outcome by name answers the oldest call in flight
        report(&mut b, "a", None, OutcomeClass::Success, 2.0);
        assert_eq!(b.get("a").unwrap().in_flight(), 0);
        b.pick(&cands(), &name_of, 2000.0, true, 10.0, &keep)
            .unwrap();
        b.refresh("a", 10.0 + b.config.in_flight_timeout_ms);
        assert_eq!(b.get("a").unwrap().in_flight(), 0);
    }

    #[test]
    fn in_flight_is_capped() {
        let mut b = book();
        b.config.max_in_flight = 5;
        for _ in 0..20 {
            b.pick(&cands(), &name_of, 2000.0, true, 0.0, &keep)
                .unwrap();
        }
        assert_eq!(b.get("a").unwrap().in_flight(), 5);
    }

    #[test]
    fn a_slow_preferred_model_is_passed_over() {
        let mut b = book();
        b.report(
            "a",
            None,
            OutcomeClass::Success,
            30_000.0,
            None,
            0.0,
            1000.0,
            &keep,
        );
        for _ in 0..10 {
            let (p, _) = b
                .pick(&cands(), &name_of, 2000.0, true, 1.0, &keep)
                .unwrap();
            assert_ne!(p.index, 0);
            assert_eq!(p.kind, PickKind::Balanced);
        }
    }

    #[test]
    fn ejected_models_are_skipped_then_probed_once() {
        let mut b = book();
        for _ in 0..3 {
            report(
                &mut b,
                "a",
                None,
                OutcomeClass::Failure(ErrorType::Server),
                0.0,
            );
        }
        let until = b.get("a").unwrap().health.until_ms().unwrap();
        let (p, _) = b
            .pick(&cands(), &name_of, 2000.0, true, 1.0, &keep)
            .unwrap();
        assert_eq!(p.index, 1);
        let (p, probe_id) = b
            .pick(&cands(), &name_of, 2000.0, true, until, &keep)
            .unwrap();
        assert_eq!((p.index, p.kind), (0, PickKind::Probe));
        let (p, _) = b
            .pick(&cands(), &name_of, 2000.0, true, until + 1.0, &keep)
            .unwrap();
        assert_eq!(p.index, 1, "one probe only");
        report(
            &mut b,
            "a",
            Some(probe_id),
            OutcomeClass::Success,
            until + 2.0,
        );
        let (p, _) = b
            .pick(&cands(), &name_of, 2000.0, true, until + 3.0, &keep)
            .unwrap();
        assert_eq!(p.index, 0);
        let kinds: Vec<_> = b.take_events().iter().map(|e| e.transition.to).collect();
        assert_eq!(kinds, vec![State::Ejected, State::Probing, State::Healthy]);
    }

    #[test]
    fn no_probe_on_a_retry_while_another_model_is_healthy() {
        let mut b = book();
        for _ in 0..3 {
            report(
                &mut b,
                "a",
                None,
                OutcomeClass::Failure(ErrorType::Server),
                0.0,
            );
        }
        let until = b.get("a").unwrap().health.until_ms().unwrap();
        let (p, _) = b
            .pick(&cands(), &name_of, 2000.0, false, until, &keep)
            .unwrap();
        assert_eq!(p.index, 1);
    }

    #[test]
    fn never_none_names_the_soonest_or_rejects() {
        let mut b = book();
        for (n, ms) in [("a", 9000.0), ("b", 3000.0), ("c", 6000.0)] {
            b.report(
                n,
                None,
                OutcomeClass::RateLimited,
                10.0,
                Some(ms),
                0.0,
                1000.0,
                &keep,
            );
        }
        let (p, _) = b
            .pick(&cands(), &name_of, 2000.0, true, 100.0, &keep)
            .unwrap();
        assert_eq!(
            (p.index, p.kind),
            (1, PickKind::Closest { until_ms: 3000.0 })
        );
        b.config.when_none_healthy = WhenNoneHealthy::Reject;
        assert_eq!(
            b.pick(&cands(), &name_of, 2000.0, true, 100.0, &keep),
            Err(2900.0)
        );
    }

    #[test]
    fn a_failure_is_penalised_not_read_as_fast() {
        let mut b = book();
        b.report(
            "a",
            None,
            OutcomeClass::Success,
            1000.0,
            None,
            0.0,
            1000.0,
            &keep,
        );
        b.report(
            "a",
            None,
            OutcomeClass::Failure(ErrorType::Connection),
            5.0,
            None,
            0.0,
            1000.0,
            &keep,
        );
        let e = b.get("a").unwrap().latency_estimate(0.0, 1000.0, 10_000.0);
        assert!(e >= 2000.0, "{e}");
    }

    #[test]
    fn caller_errors_leave_latency_and_health_alone() {
        let mut b = book();
        for _ in 0..20 {
            b.report(
                "a",
                None,
                OutcomeClass::CallerError(ErrorType::BadRequest),
                1.0,
                None,
                0.0,
                1000.0,
                &keep,
            );
        }
        let s = b.get("a").unwrap();
        assert_eq!(s.health.state(), State::Healthy);
        assert_eq!(s.latency_estimate(0.0, 1000.0, 10_000.0), 1000.0);
        assert_eq!(s.last_error(), Some(ErrorType::BadRequest));
    }

    #[test]
    fn state_and_events_are_bounded() {
        let mut b = book();
        for i in 0..(MAX_MODELS + 10) {
            b.report(
                &format!("m{i}"),
                None,
                OutcomeClass::Auth,
                1.0,
                None,
                0.0,
                1.0,
                &|_| false,
            );
        }
        assert!(b.states.len() <= MAX_MODELS);
        assert_eq!(b.pending_events(), MAX_EVENTS);
    }
}
