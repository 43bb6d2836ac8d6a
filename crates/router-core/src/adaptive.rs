//! The adaptive strategy's live state and its final pick.
//!
//! Per model (by name): health ([`Health`]), a Peak-EWMA latency estimate and the decisions
//! in flight (from decision to outcome, each dropped after `in_flight_timeout_ms` so an
//! outcome never reported cannot leak). The pick, over candidates ranked by the legacy
//! score: health filter, then a probe when one is due, then the first candidate while its
//! model is not slow, else a power-of-two-choices pick on predicted latency × (in-flight
//! calls + 1) among the candidates whose predicted latency meets the request's deadline
//! (all of them when none does); and never none: when nothing is routable, the model that
//! clears soonest (or a rejection).
//!
//! "Slow" is relative to the model's own latency target and needs the evidence of more than
//! one call ([`SLOW_EVIDENCE`]): a latency estimate over `slow_factor` × target (the estimate
//! takes a peak only when the next answer confirms it, see [`PeakEwma`]), or two calls out
//! for longer than that, or `late_calls` calls out for longer than `late_factor` × target
//! while no call decided after them has come back within that time (a model that stopped
//! answering quickly is seen before its first slow answer comes back; a few slow calls among
//! quick ones are its latency tail). One healthy answer from a model's latency tail diverts
//! nothing, so steady traffic keeps the ranking `strategy: "legacy"` gives it. A model passed
//! over for slowness gets one call at a time until an answer brings its estimate back under
//! the limit.

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
    /// The first-ranked model is kept while neither its latency estimate nor the age of its
    /// second-oldest call in flight exceeds this many times its latency target.
    pub slow_factor: f64,
    /// This many calls out for longer than `late_factor` × the model's latency target also
    /// mark it slow, unless a call decided after them has come back within that time.
    pub late_calls: usize,
    pub late_factor: f64,
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
            slow_factor: 4.0,
            late_calls: 3,
            late_factor: 1.5,
        }
    }
}

/// Calls that must show a model slow before it is passed over: two answers over the limit in
/// a row (the estimate's confirmation) or two calls out for longer than the limit.
pub const SLOW_EVIDENCE: usize = 2;

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
    /// When the latest-decided call that was answered quickly (a success within
    /// `late_factor` × target) was decided: calls out for long while later ones answer
    /// quickly are the latency tail, not a model that stopped answering.
    quick_answer_decided_ms: f64,
}

impl ModelState {
    fn new() -> ModelState {
        ModelState {
            health: Health::default(),
            latency: None,
            in_flight: VecDeque::new(),
            last_error: None,
            quick_answer_decided_ms: f64::NEG_INFINITY,
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
    /// When the oldest call in flight was decided (`None`: none in flight).
    pub fn oldest_in_flight_ms(&self) -> Option<f64> {
        self.in_flight.front().map(|&(_, at)| at)
    }
    /// When the `k`-th oldest call in flight was decided (`None`: fewer in flight).
    pub fn kth_in_flight_ms(&self, k: usize) -> Option<f64> {
        self.in_flight.get(k.max(1) - 1).map(|&(_, at)| at)
    }
    /// When the latest-decided call that came back quickly was decided (negative infinity:
    /// none); late calls decided no later are the latency tail.
    pub fn quick_answer_decided_ms(&self) -> f64 {
        self.quick_answer_decided_ms
    }
}

/// A candidate with its live state, as the pick weighs it.
#[derive(Clone, Copy, Debug)]
struct Seen {
    c: Candidate,
    routable: Routable,
    /// Decayed latency estimate, raised to the age of the oldest call in flight.
    predicted: f64,
    /// Decayed latency estimate, raised to the age of the `SLOW_EVIDENCE`-th oldest call in
    /// flight: what the slowness test reads (one call alone is no evidence).
    evidence: f64,
    in_flight: usize,
    /// The estimate as last updated by an answer (no decay).
    raw: f64,
    /// `late_calls` calls are out for longer than `late_factor` × target, and no call decided
    /// after them came back within that time.
    late: bool,
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
    /// The model that served the request's session, still a healthy candidate (set by the
    /// router on a `Preferred` pick of it).
    Affinity,
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

#[derive(Clone)]
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

    /// Forgets every model's state and the waiting events (`shutdown()`).
    pub fn clear(&mut self) {
        self.states.clear();
        self.events.clear();
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

    /// Fleet mode: applies `f` to the health of `name` (created on first use) and records
    /// the transition it returns, if any, as an event.
    pub fn update_health(
        &mut self,
        name: &str,
        keep: &dyn Fn(&str) -> bool,
        f: impl FnOnce(&mut Health) -> Option<Transition>,
    ) {
        let s = self.state_mut(name, keep);
        let t = f(&mut s.health);
        Self::push_event(&mut self.events, name, t);
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
        let decided = match decision {
            Some(id) => s
                .in_flight
                .iter()
                .position(|&(d, _)| d == id)
                .and_then(|at| s.in_flight.remove(at)),
            None => s.in_flight.pop_front(),
        };
        // only a quick *answer* shows the model serving: a quick rejection (429, a caller
        // error, a refused connection) says nothing about calls that hang
        if let (Some((_, at)), OutcomeClass::Success) = (decided, class) {
            if latency_ms <= cfg.late_factor * prior_ms {
                s.quick_answer_decided_ms = s.quick_answer_decided_ms.max(at);
            }
        }
        let decay = cfg.latency_decay_ms;
        match class {
            OutcomeClass::Success => match s.latency.as_mut() {
                Some(e) => e.observe(latency_ms, now_ms, decay),
                None => s.latency = Some(PeakEwma::first(latency_ms, prior_ms, now_ms)),
            },
            OutcomeClass::Failure(_) => {
                s.latency
                    .get_or_insert_with(|| PeakEwma::new(prior_ms, now_ms))
                    .raise(
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
        let mut seen: Vec<Seen> = Vec::with_capacity(candidates.len());
        for c in candidates {
            let Some(name) = name_of(c.index) else {
                continue;
            };
            let one = match self.states.get_mut(name) {
                Some(s) => {
                    Self::refresh_state(&mut self.events, &cfg, name, s, now_ms);
                    let age = s.oldest_in_flight_ms().map_or(0.0, |at| now_ms - at);
                    let age_k = s
                        .kth_in_flight_ms(SLOW_EVIDENCE)
                        .map_or(0.0, |at| now_ms - at);
                    let late = s.kth_in_flight_ms(cfg.late_calls).is_some_and(|at| {
                        now_ms - at > cfg.late_factor * c.latency_target
                            && s.quick_answer_decided_ms < at
                    });
                    let estimate = s.latency_estimate(now_ms, c.latency_target, decay);
                    Seen {
                        late,
                        c: *c,
                        routable: s.health.routable(now_ms),
                        predicted: estimate.max(age),
                        evidence: estimate.max(age_k),
                        in_flight: s.in_flight(),
                        raw: s.latency.map_or(c.latency_target, |e| e.last()),
                    }
                }
                None => Seen {
                    late: false,
                    c: *c,
                    routable: Routable::Healthy,
                    predicted: c.latency_target,
                    evidence: c.latency_target,
                    in_flight: 0,
                    raw: c.latency_target,
                },
            };
            seen.push(one);
        }
        let healthy: Vec<usize> = (0..seen.len())
            .filter(|&i| seen[i].routable == Routable::Healthy)
            .collect();
        let probe = (0..seen.len()).find(|&i| seen[i].routable == Routable::ProbeReady);
        let chosen: (usize, PickKind) = match (probe, healthy.is_empty()) {
            (Some(p), empty) if allow_probe || empty => (p, PickKind::Probe),
            (_, false) => self.choose_healthy(&seen, &healthy, deadline_ms),
            (_, true) => {
                // never none: the candidate that clears soonest
                let soonest = (0..seen.len())
                    .map(|i| match seen[i].routable {
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
        let Seen {
            c,
            predicted,
            in_flight,
            ..
        } = seen[i];
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
        seen: &[Seen],
        healthy: &[usize],
        deadline_ms: f64,
    ) -> (usize, PickKind) {
        let first = healthy[0];
        let f = seen[first];
        let meets = |i: usize| deadline_ms <= 0.0 || seen[i].predicted <= deadline_ms;
        let limit = f.c.latency_target * self.config.slow_factor;
        // passed over for slowness: one call at a time until an answer brings it back
        let recovering = f.raw > limit && f.in_flight > 0;
        if (f.evidence <= limit && !recovering && !f.late) || healthy.len() == 1 {
            return (first, PickKind::Preferred);
        }
        // a model passed over for slowness, with its one call out, waits for that call
        let limit_of = |i: usize| seen[i].c.latency_target * self.config.slow_factor;
        let waiting =
            |i: usize| seen[i].late || (seen[i].raw > limit_of(i) && seen[i].in_flight > 0);
        let open: Vec<usize> = healthy.iter().copied().filter(|&i| !waiting(i)).collect();
        let healthy: &[usize] = if open.is_empty() { healthy } else { &open };
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
        let cost = |i: usize| seen[i].predicted * (seen[i].in_flight as f64 + 1.0);
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
    fn two_calls_out_longer_than_the_limit_mark_the_model_slow_one_does_not() {
        let mut b = book();
        b.config.late_calls = 100; // only the calls' ages here
        let pick = |b: &mut AdaptiveBook, now: f64| {
            b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap().0
        };
        assert_eq!(pick(&mut b, 0.0).index, 0);
        assert_eq!(pick(&mut b, 100.0).index, 0);
        // target 1000 × slow factor 4: past 4000 ms the first call alone is out too long
        assert_eq!(pick(&mut b, 4001.0).index, 0, "one call is not enough");
        assert_eq!(pick(&mut b, 4100.0).index, 0);
        // the second call too: slow
        let p = pick(&mut b, 4101.0);
        assert_ne!(p.index, 0);
        assert_eq!(p.kind, PickKind::Balanced);
    }

    /// `n` answers of `ms` from model `a`, `gap_ms` apart from `at_ms`, each answering a
    /// decision made just before it; returns the time of the last one.
    fn answers(b: &mut AdaptiveBook, n: usize, ms: f64, at_ms: f64, gap_ms: f64) -> f64 {
        let mut now = at_ms;
        for k in 0..n {
            now = at_ms + gap_ms * k as f64;
            b.report(
                "a",
                None,
                OutcomeClass::Success,
                ms,
                None,
                now,
                1000.0,
                &keep,
            );
        }
        now
    }

    fn picks_a(b: &mut AdaptiveBook, now: f64) -> bool {
        let (p, _) = b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
        p.index == 0
    }

    #[test]
    fn one_tail_answer_does_not_make_a_model_slow() {
        let mut b = book();
        // a's answers take 600 ms (target 1000, limit 4000), one of them 9000 ms
        let t = answers(&mut b, 20, 600.0, 0.0, 100.0);
        let t = answers(&mut b, 1, 9000.0, t + 100.0, 0.0);
        for k in 1..=20 {
            assert!(
                picks_a(&mut b, t + k as f64),
                "decision {k} after the tail answer"
            );
        }
        let t = answers(&mut b, 5, 600.0, t + 100.0, 100.0);
        // another tail answer later, a faster one between: still one answer's evidence
        let t = answers(&mut b, 1, 9000.0, t + 100.0, 0.0);
        assert!(picks_a(&mut b, t + 1.0));
        assert!(b.last_estimate("a").unwrap() < 4000.0);
    }

    #[test]
    fn a_sustained_slowdown_is_seen_on_its_second_slow_answer() {
        let mut b = book();
        let t = answers(&mut b, 20, 600.0, 0.0, 100.0);
        // a becomes 8× slower: its first 4800 ms answer does not divert
        let t = answers(&mut b, 1, 4800.0, t + 100.0, 0.0);
        assert!(picks_a(&mut b, t + 1.0));
        // the second, 200 ms later (within the 10 s time constant), does
        let t = answers(&mut b, 1, 4800.0, t + 200.0, 0.0);
        assert_eq!(b.last_estimate("a"), Some(4800.0));
        for k in 1..=10 {
            let now = t + k as f64;
            let (p, id) = b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
            assert_ne!(p.index, 0, "decision {k} after the second slow answer");
            assert_eq!(p.kind, PickKind::Balanced);
            let other = name_of(p.index).unwrap();
            b.report(
                other,
                Some(id),
                OutcomeClass::Success,
                600.0,
                None,
                now,
                1000.0,
                &keep,
            );
        }
    }

    #[test]
    fn two_slow_answers_further_apart_than_the_time_constant_are_two_tail_answers() {
        let mut b = book();
        let t = answers(&mut b, 20, 600.0, 0.0, 100.0);
        let decay = b.config.latency_decay_ms;
        let t = answers(&mut b, 2, 9000.0, t + 100.0, decay + 1.0);
        assert!(picks_a(&mut b, t + 1.0));
    }

    #[test]
    fn late_calls_mark_the_model_slow_before_any_answer() {
        let mut b = book();
        b.config.late_calls = 2;
        // target 1000 × late factor 1.5: two calls out longer than 1500 ms
        b.pick(&cands(), &name_of, 0.0, true, 0.0, &keep).unwrap();
        let (p, _) = b.pick(&cands(), &name_of, 0.0, true, 100.0, &keep).unwrap();
        assert_eq!(p.index, 0);
        let (p, _) = b
            .pick(&cands(), &name_of, 0.0, true, 1600.0, &keep)
            .unwrap();
        assert_eq!(p.index, 0, "one late call is not enough");
        let (p, _) = b
            .pick(&cands(), &name_of, 0.0, true, 1601.0, &keep)
            .unwrap();
        assert_ne!(p.index, 0);
    }

    #[test]
    fn quick_rejections_do_not_hide_late_calls() {
        let mut b = book();
        b.config.late_calls = 2;
        // two calls stay out; the calls decided after them are refused at once
        let mut now = 0.0;
        b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
        b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
        for _ in 0..16 {
            now += 100.0;
            let (p, id) = b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
            if p.index != 0 {
                break;
            }
            b.report(
                "a",
                Some(id),
                OutcomeClass::CallerError(ErrorType::BadRequest),
                5.0,
                None,
                now + 5.0,
                1000.0,
                &keep,
            );
        }
        assert!(now > 1500.0);
        let (p, _) = b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
        assert_ne!(p.index, 0, "two late calls, and no answer since");
    }

    #[test]
    fn late_calls_among_quick_answers_are_the_latency_tail() {
        let mut b = book();
        b.config.late_calls = 2;
        // two calls stay out; the calls decided after them answer in 300 ms
        let mut now = 0.0;
        b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
        b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
        for _ in 0..20 {
            now += 100.0;
            let (p, id) = b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
            assert_eq!(p.index, 0, "at {now} ms");
            b.report(
                "a",
                Some(id),
                OutcomeClass::Success,
                300.0,
                None,
                now + 300.0,
                1000.0,
                &keep,
            );
        }
        // 2000 ms: both first calls are out longer than 1.5 × 1000 ms
        assert!(now > 1500.0);
        let (p, _) = b.pick(&cands(), &name_of, 0.0, true, now, &keep).unwrap();
        assert_eq!(p.index, 0);
    }

    #[test]
    fn a_model_passed_over_for_slowness_gets_one_call_at_a_time() {
        let mut b = book();
        answers(&mut b, 2, 9000.0, 0.0, 1.0);
        // long after, the decayed estimate is back under the limit: one call goes to a
        let later = 60_000.0;
        let (p, id) = b.pick(&cands(), &name_of, 0.0, true, later, &keep).unwrap();
        assert_eq!(p.index, 0);
        for _ in 0..5 {
            let (p, _) = b
                .pick(&cands(), &name_of, 0.0, true, later + 1.0, &keep)
                .unwrap();
            assert_ne!(p.index, 0, "only one call while its last answer was slow");
        }
        b.report(
            "a",
            Some(id),
            OutcomeClass::Success,
            500.0,
            None,
            later + 2.0,
            1000.0,
            &keep,
        );
        let (p, _) = b
            .pick(&cands(), &name_of, 0.0, true, later + 3.0, &keep)
            .unwrap();
        assert_eq!(p.index, 0);
    }

    #[test]
    fn a_slow_preferred_model_is_passed_over() {
        let mut b = book();
        answers(&mut b, 2, 30_000.0, 0.0, 0.5);
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
        let (p, id_b) = b
            .pick(&cands(), &name_of, 2000.0, true, 1.0, &keep)
            .unwrap();
        assert_eq!(p.index, 1);
        report(&mut b, "b", Some(id_b), OutcomeClass::Success, 2.0);
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
