//! Per-model request and token quotas (`rpm`, `tpm`) over a continuous 60-second window:
//! a sliding log of what was sent, so no 60 s window — whatever its start — holds more than
//! the quota (a fixed minute would allow a double burst at its edge).
//!
//! A decision reserves one request and its estimated tokens; the call's outcome settles the
//! reservation with the real token count. A reservation whose outcome never comes keeps its
//! estimate and leaves the log with the window, like any other.
//!
//! Fleet mode ([`QuotaBook::set_fleet`]): the quota is the whole fleet's. A process spends
//! a [`Lease`] (a slice of the fleet's window it took from Redis) as well as its own log: a
//! model whose lease cannot cover the next request is over quota here until the lease is
//! refilled. Refills, returns of lapsed capacity and token corrections are asked for
//! through [`QuotaBook::take_lease_work`] (the fleet layer sends them, off the decision
//! path). When the fleet state is unavailable each process keeps to its share of the limit
//! ([`FleetQuota::Share`]).

use std::collections::VecDeque;

use ahash::AHashMap;

/// The window quotas are counted over.
pub const WINDOW_MS: f64 = 60_000.0;
/// Reservations held per model at most; a full log admits nothing until one ages out.
pub const MAX_RESERVATIONS: usize = 100_000;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quota {
    /// Requests per 60 s window (`None`: unlimited).
    pub rpm: Option<f64>,
    /// Tokens per 60 s window (`None`: unlimited).
    pub tpm: Option<f64>,
}

impl Quota {
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none()
    }
}

/// How long a granted lease may be spent; what is left then is returned to the fleet.
pub const LEASE_MS: f64 = 2_000.0;
/// Over quota for want of a lease: retried this soon (the refill is under way).
pub const REFILL_WAIT_MS: f64 = 20.0;
/// The fleet's window was full (nothing granted): asked again after this long, so a full
/// window does not turn every process's work timer into a stream of Redis calls.
pub const FULL_RETRY_MS: f64 = 250.0;
/// Models with lease work waiting, at most (one entry per model with a quota).
pub const MAX_LEASE_WORK: usize = 4096;

/// Where the limit of a model with a quota is enforced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FleetQuota {
    /// This process alone (no fleet).
    Local,
    /// The fleet's window, spent through leases.
    Leased,
    /// The fleet state is unavailable: this share (0, 1] of the limit, locally.
    Share(f64),
}

/// Capacity of the fleet's window this process holds and has not spent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Lease {
    pub requests: f64,
    pub tokens: f64,
    /// After this the remainder lapses (is returned).
    pub expires_ms: f64,
}

/// What the fleet layer should ask of Redis for one model.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseWork {
    pub name: String,
    /// Capacity to take (0: none wanted now).
    pub want_requests: f64,
    pub want_tokens: f64,
    /// Capacity to give back (lapsed, or unused at shutdown).
    pub return_requests: f64,
    /// Tokens to give back; negative: tokens used beyond the estimates to add.
    pub return_tokens: f64,
    /// The fleet's mark of the grant the capacity came from (see [`QuotaBook::grant`]).
    pub return_from: u64,
    /// A first ask: the model's lease was never answered since leasing (re)started, so
    /// decisions wait for this call rather than refuse (see [`QuotaBook::set_fleet`]).
    pub first: bool,
}

#[derive(Clone, Copy, Debug)]
struct Sent {
    decision: u64,
    at_ms: f64,
    tokens: f64,
}

#[derive(Clone, Debug, Default)]
struct Log {
    quota: Quota,
    sent: VecDeque<Sent>,
    tokens: f64,
    lease: Lease,
    /// A refill was asked for and has not been answered.
    refilling: bool,
    /// Capacity to give back, tokens to correct, at the next lease work.
    give_requests: f64,
    give_tokens: f64,
    /// The last grant (requests, tokens): the low-water mark is a quarter of it.
    granted: (f64, f64),
    /// The fleet's mark of the last grant (where capacity is given back).
    grant_mark: u64,
    /// After a refill that got nothing: not asked again before this.
    retry_at: f64,
    /// Fleet mode: a lease call for this model was answered (granted, full or failed) since
    /// leasing (re)started; until then its refills are first asks.
    answered: bool,
}

impl Log {
    fn age_out(&mut self, now_ms: f64) {
        while let Some(s) = self.sent.front() {
            if s.at_ms > now_ms - WINDOW_MS {
                break;
            }
            self.tokens -= s.tokens;
            self.sent.pop_front();
        }
        if self.sent.is_empty() {
            self.tokens = 0.0; // no drift from float sums
        }
    }

    /// When one more request of `tokens` fits (`now_ms` when it does now; infinity when it
    /// never can, being larger than the token quota).
    fn clears_at(&self, quota: Quota, tokens: f64, now_ms: f64) -> f64 {
        if self.sent.len() >= MAX_RESERVATIONS {
            return self.sent[0].at_ms + WINDOW_MS;
        }
        let mut at = now_ms;
        if let Some(rpm) = quota.rpm {
            let keep = (rpm as usize).saturating_sub(1); // requests the window may still hold
            if self.sent.len() > keep {
                if rpm < 1.0 {
                    return f64::INFINITY;
                }
                at = at.max(self.sent[self.sent.len() - keep - 1].at_ms + WINDOW_MS);
            }
        }
        if let Some(tpm) = quota.tpm {
            if tokens > tpm {
                return f64::INFINITY;
            }
            let mut held = self.tokens;
            let mut i = 0;
            while held + tokens > tpm && i < self.sent.len() {
                held -= self.sent[i].tokens;
                at = at.max(self.sent[i].at_ms + WINDOW_MS);
                i += 1;
            }
        }
        at
    }

    /// Fleet mode: the lease cannot cover one more request of `tokens` at `now_ms`.
    fn lease_short(&self, tokens: f64, now_ms: f64) -> bool {
        let l = &self.lease;
        now_ms >= l.expires_ms
            || (self.quota.rpm.is_some() && l.requests < 1.0)
            || (self.quota.tpm.is_some() && l.tokens < tokens)
    }

    /// A lease past its time gives its remainder back.
    fn lapse(&mut self, now_ms: f64) {
        if now_ms >= self.lease.expires_ms
            && (self.lease.requests > 0.0 || self.lease.tokens != 0.0)
        {
            self.give_requests += self.lease.requests.max(0.0);
            self.give_tokens += self.lease.tokens;
            self.lease.requests = 0.0;
            self.lease.tokens = 0.0;
        }
    }
}

/// What a model's quota leaves for more requests now: one more request of `t` tokens fits
/// while `requests ≥ 1` and `tokens_held + t ≤ tpm` (the same sum `clears_at` compares).
/// Time only ages reservations out, so the room read at one instant holds at any later one
/// until the next reservation or settlement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuotaRoom {
    /// Requests the window still admits (with no `rpm`, until the log is full).
    pub requests: f64,
    /// Tokens the window holds.
    pub tokens_held: f64,
    /// The token quota (infinity: no `tpm`).
    pub tpm: f64,
}

impl QuotaRoom {
    pub const UNLIMITED: QuotaRoom = QuotaRoom {
        requests: f64::INFINITY,
        tokens_held: 0.0,
        tpm: f64::INFINITY,
    };
}

/// The quota logs of the models that have a quota, by name.
#[derive(Clone, Debug)]
pub struct QuotaBook {
    logs: AHashMap<String, Log>,
    fleet: FleetQuota,
    /// Models with lease work waiting (bounded by the models with a quota).
    work: Vec<String>,
    /// The last time (router clock) a model was over quota only for want of a lease whose
    /// refill is asked for or out (its window admits): a refusal then is worth one wait.
    lease_short_at: f64,
}

impl Default for QuotaBook {
    fn default() -> Self {
        QuotaBook {
            logs: AHashMap::new(),
            fleet: FleetQuota::Local,
            work: Vec::new(),
            lease_short_at: f64::NAN,
        }
    }
}

impl QuotaBook {
    /// Sets the quotas of the current model set: names without one are forgotten; a model
    /// keeps its log through a quota change (what it was sent still counts).
    pub fn set_quotas(&mut self, quotas: &[(String, Quota)]) {
        self.logs
            .retain(|name, _| quotas.iter().any(|(n, q)| n == name && !q.is_unlimited()));
        self.work.retain(|n| quotas.iter().any(|(m, _)| m == n));
        for (name, q) in quotas {
            if q.is_unlimited() {
                continue;
            }
            let new = !self.logs.contains_key(name);
            self.logs.entry(name.clone()).or_default().quota = *q;
            if new && self.fleet == FleetQuota::Leased {
                self.ask_first(name);
            }
        }
    }

    /// Fleet mode: the first lease of `name` is asked for now, before a decision needs it
    /// (a model that holds nothing and has no refill out).
    fn ask_first(&mut self, name: &str) {
        let Some(log) = self.logs.get(name) else {
            return;
        };
        if !log.refilling
            && log.lease.requests <= 0.0
            && log.lease.tokens <= 0.0
            && !self.work.iter().any(|n| n == name)
            && self.work.len() < MAX_LEASE_WORK
        {
            self.work.push(name.to_owned());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }

    pub fn quota(&self, name: &str) -> Option<Quota> {
        self.logs.get(name).map(|l| l.quota)
    }

    /// The quota a log is checked against here: the limit, or this process's share of it.
    fn local_quota(fleet: FleetQuota, q: Quota) -> Quota {
        match fleet {
            FleetQuota::Share(s) => Quota {
                rpm: q.rpm.map(|r| (r * s).floor()),
                tpm: q.tpm.map(|t| (t * s).floor()),
            },
            _ => q,
        }
    }

    /// When `name` can take one more request of `tokens` (`now_ms` or earlier: now).
    pub fn clears_at(&mut self, name: &str, tokens: f64, now_ms: f64) -> f64 {
        let fleet = self.fleet;
        match self.logs.get_mut(name) {
            None => now_ms,
            Some(log) => {
                log.age_out(now_ms);
                let at = log.clears_at(Self::local_quota(fleet, log.quota), tokens, now_ms);
                if fleet == FleetQuota::Leased && log.lease_short(tokens, now_ms) {
                    log.lapse(now_ms);
                    if at <= now_ms && now_ms >= log.retry_at {
                        self.lease_short_at = now_ms;
                    }
                    if now_ms >= log.retry_at
                        && !self.work.iter().any(|n| n == name)
                        && self.work.len() < MAX_LEASE_WORK
                    {
                        self.work.push(name.to_owned());
                    }
                    return at.max(now_ms + REFILL_WAIT_MS).max(log.retry_at);
                }
                at
            }
        }
    }

    /// The room `name`'s quota leaves at `now_ms` (after aging out what left the window):
    /// the limit this process keeps to (its share when the fleet state is unavailable) and,
    /// in fleet mode, no more than its lease holds; none once the lease has lapsed.
    pub fn room(&mut self, name: &str, now_ms: f64) -> QuotaRoom {
        let fleet = self.fleet;
        let Some(log) = self.logs.get_mut(name) else {
            return QuotaRoom::UNLIMITED;
        };
        log.age_out(now_ms);
        let quota = Self::local_quota(fleet, log.quota);
        // `clears_at` admits while fewer than ⌊rpm⌋ (and than MAX_RESERVATIONS) are held
        let cap = quota.rpm.map_or(MAX_RESERVATIONS as f64, |r| {
            r.floor().min(MAX_RESERVATIONS as f64)
        });
        let mut room = QuotaRoom {
            requests: cap - log.sent.len() as f64,
            tokens_held: log.tokens,
            tpm: quota.tpm.unwrap_or(f64::INFINITY),
        };
        if fleet == FleetQuota::Leased {
            let lease = log.lease;
            if now_ms >= lease.expires_ms {
                room.requests = 0.0;
            }
            if quota.rpm.is_some() {
                room.requests = room.requests.min(lease.requests.floor());
            }
            if quota.tpm.is_some() {
                room.tpm = room.tpm.min(log.tokens + lease.tokens.max(0.0));
            }
        }
        room
    }

    /// Fleet mode: the earliest time after `now_ms` a lease lapses (infinity when none does
    /// or not leasing). A lapsed lease leaves no room; the layer's memo admits hits from the
    /// room it last read only before this, so it never spends a lease that lapsed since.
    pub fn lease_deadline_ms(&self, now_ms: f64) -> f64 {
        if self.fleet != FleetQuota::Leased {
            return f64::INFINITY;
        }
        self.logs
            .values()
            .map(|l| l.lease.expires_ms)
            .filter(|&at| at > now_ms)
            .fold(f64::INFINITY, f64::min)
    }

    /// As `clears_at`, without aging anything out or asking for a lease (for `explain`).
    pub fn peek_clears_at(&self, name: &str, tokens: f64, now_ms: f64) -> f64 {
        match self.logs.get(name) {
            None => now_ms,
            Some(log) => {
                let mut l = log.clone();
                l.age_out(now_ms);
                let at = l.clears_at(Self::local_quota(self.fleet, l.quota), tokens, now_ms);
                if self.fleet == FleetQuota::Leased && l.lease_short(tokens, now_ms) {
                    return at.max(now_ms + REFILL_WAIT_MS).max(l.retry_at);
                }
                at
            }
        }
    }

    /// Where limits are enforced. Entering `Leased` starts every model without capacity and
    /// asks for every model's first lease at once; leaving it gives held capacity back.
    pub fn set_fleet(&mut self, fleet: FleetQuota, now_ms: f64) {
        let was = self.fleet;
        self.fleet = match fleet {
            FleetQuota::Share(s) if !(s > 0.0 && s <= 1.0) => FleetQuota::Share(1.0),
            f => f,
        };
        if was != FleetQuota::Leased && self.fleet == FleetQuota::Leased {
            let names: Vec<String> = self.logs.keys().cloned().collect();
            for n in names {
                if let Some(log) = self.logs.get_mut(&n) {
                    log.retry_at = f64::NEG_INFINITY;
                    log.answered = false;
                }
                self.ask_first(&n);
            }
        }
        if was == FleetQuota::Leased && self.fleet != FleetQuota::Leased {
            for log in self.logs.values_mut() {
                log.lease.expires_ms = f64::NEG_INFINITY;
                log.lapse(now_ms);
                log.refilling = false;
            }
            self.work = self
                .logs
                .iter()
                .filter(|(_, l)| l.give_requests > 0.0 || l.give_tokens != 0.0)
                .map(|(n, _)| n.clone())
                .take(MAX_LEASE_WORK)
                .collect();
        }
    }

    pub fn fleet(&self) -> FleetQuota {
        self.fleet
    }

    /// The lease of `name` (fleet mode).
    pub fn lease(&self, name: &str) -> Option<Lease> {
        self.logs.get(name).map(|l| l.lease)
    }

    /// Whether a lease lapsed with capacity left (to give back).
    pub fn has_lapsed(&self, now_ms: f64) -> bool {
        self.logs.values().any(|l| {
            now_ms >= l.lease.expires_ms && (l.lease.requests > 0.0 || l.lease.tokens != 0.0)
        })
    }

    /// Whether a model was over quota at `now_ms` only for want of a lease whose refill is
    /// asked for or out (not for its window, nor a full fleet window retried later): a
    /// refusal at `now_ms` may wait for that refill.
    pub fn lease_short_at(&self, now_ms: f64) -> bool {
        self.lease_short_at == now_ms
    }

    /// Whether any model has lease work waiting.
    pub fn has_lease_work(&self) -> bool {
        !self.work.is_empty()
    }

    /// The lease work waiting: refills of `slice(quota)` for models whose lease runs low
    /// (one at a time per model), and capacity to give back. Marks the refills as asked.
    pub fn take_lease_work(
        &mut self,
        now_ms: f64,
        slice: &dyn Fn(Quota) -> (f64, f64),
    ) -> Vec<LeaseWork> {
        let leased = self.fleet == FleetQuota::Leased;
        // leases that lapsed without a decision looking at them give their remainder back too
        for (name, log) in &self.logs {
            if now_ms >= log.lease.expires_ms
                && (log.lease.requests > 0.0 || log.lease.tokens != 0.0)
                && !self.work.iter().any(|n| n == name)
                && self.work.len() < MAX_LEASE_WORK
            {
                self.work.push(name.clone());
            }
        }
        let mut out = Vec::with_capacity(self.work.len());
        for name in std::mem::take(&mut self.work) {
            let Some(log) = self.logs.get_mut(&name) else {
                continue;
            };
            log.lapse(now_ms);
            let (want_requests, want_tokens) = if leased && !log.refilling {
                log.refilling = true;
                let (r, t) = slice(log.quota);
                (
                    if log.quota.rpm.is_some() { r } else { 0.0 },
                    if log.quota.tpm.is_some() { t } else { 0.0 },
                )
            } else {
                (0.0, 0.0)
            };
            let first = (want_requests > 0.0 || want_tokens > 0.0) && !log.answered;
            let w = LeaseWork {
                name,
                first,
                want_requests,
                want_tokens,
                return_requests: std::mem::take(&mut log.give_requests),
                return_tokens: std::mem::take(&mut log.give_tokens),
                return_from: log.grant_mark,
            };
            if w.want_requests > 0.0
                || w.want_tokens > 0.0
                || w.return_requests > 0.0
                || w.return_tokens != 0.0
            {
                out.push(w);
            }
        }
        out
    }

    /// The fleet granted `requests` and `tokens` to `name` at `now_ms` (an answer to a
    /// refill; zeros when the window is full), under `mark` (the fleet's name for the grant,
    /// handed back with what is returned). Granted while no longer leasing: given back.
    pub fn grant(&mut self, name: &str, requests: f64, tokens: f64, mark: u64, now_ms: f64) {
        let leased = self.fleet == FleetQuota::Leased;
        let Some(log) = self.logs.get_mut(name) else {
            return;
        };
        log.refilling = false;
        log.answered = true;
        if requests > 0.0 || tokens > 0.0 {
            log.grant_mark = mark;
        }
        if !leased {
            log.give_requests += requests;
            log.give_tokens += tokens;
            if !self.work.iter().any(|n| n == name) && self.work.len() < MAX_LEASE_WORK {
                self.work.push(name.to_owned());
            }
            return;
        }
        log.lapse(now_ms);
        log.lease.requests += requests;
        log.lease.tokens += tokens;
        log.lease.expires_ms = now_ms + LEASE_MS;
        if requests > 0.0 || tokens > 0.0 {
            log.granted = (requests, tokens);
        } else {
            log.retry_at = now_ms + FULL_RETRY_MS;
        }
    }

    /// Every model's unspent lease, to give back (shutdown).
    pub fn release_all(&mut self, now_ms: f64) -> Vec<LeaseWork> {
        for log in self.logs.values_mut() {
            log.lease.expires_ms = f64::NEG_INFINITY;
            log.lapse(now_ms);
        }
        let names: Vec<String> = self.logs.keys().cloned().collect();
        let was = std::mem::replace(&mut self.fleet, FleetQuota::Local);
        self.work = names;
        let out = self.take_lease_work(now_ms, &|_| (0.0, 0.0));
        self.fleet = was;
        out
    }

    /// Decision `decision` sends one request of `tokens` (estimated) to `name` at `now_ms`.
    pub fn reserve(&mut self, name: &str, decision: u64, tokens: f64, now_ms: f64) {
        let leased = self.fleet == FleetQuota::Leased;
        if let Some(log) = self.logs.get_mut(name) {
            if leased {
                log.lease.requests -= 1.0;
                log.lease.tokens -= tokens;
                // below the low-water mark (a quarter of the last grant, or of the lease's
                // time, left): ask for more before it runs out
                let low = (log.quota.rpm.is_some()
                    && log.lease.requests < (log.granted.0 / 4.0).max(1.0))
                    || (log.quota.tpm.is_some()
                        && log.lease.tokens < (log.granted.1 / 4.0).max(tokens))
                    || now_ms >= log.lease.expires_ms - LEASE_MS / 4.0;
                if low
                    && !log.refilling
                    && !self.work.iter().any(|n| n == name)
                    && self.work.len() < MAX_LEASE_WORK
                {
                    self.work.push(name.to_owned());
                }
            }
            log.age_out(now_ms);
            if log.sent.len() >= MAX_RESERVATIONS {
                if let Some(s) = log.sent.pop_front() {
                    log.tokens -= s.tokens;
                }
            }
            log.sent.push_back(Sent {
                decision,
                at_ms: now_ms,
                tokens,
            });
            log.tokens += tokens;
        }
    }

    /// The outcome of `decision` on `name` reports `tokens` used: the reservation holds that
    /// instead of its estimate (no-op when it has left the window).
    pub fn settle(&mut self, name: &str, decision: u64, tokens: f64) {
        let leased = self.fleet == FleetQuota::Leased;
        if let Some(log) = self.logs.get_mut(name) {
            if let Some(s) = log.sent.iter_mut().rev().find(|s| s.decision == decision) {
                if leased {
                    // the lease was charged the estimate: the difference goes back to it
                    log.lease.tokens += s.tokens - tokens;
                }
                log.tokens += tokens - s.tokens;
                s.tokens = tokens;
            }
        }
    }

    /// Requests and tokens `name` holds in the window ending at `now_ms`.
    pub fn usage(&self, name: &str, now_ms: f64) -> (usize, f64) {
        self.logs.get(name).map_or((0, 0.0), |l| {
            l.sent
                .iter()
                .filter(|s| s.at_ms > now_ms - WINDOW_MS)
                .fold((0, 0.0), |(n, t), s| (n + 1, t + s.tokens))
        })
    }

    pub fn clear(&mut self) {
        self.logs.clear();
        self.work.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(rpm: Option<f64>, tpm: Option<f64>) -> QuotaBook {
        let mut b = QuotaBook::default();
        b.set_quotas(&[("m".into(), Quota { rpm, tpm })]);
        b
    }

    #[test]
    fn rpm_admits_that_many_in_any_60_s_window() {
        let mut b = book(Some(3.0), None);
        for (i, t) in [0.0, 10_000.0, 20_000.0].into_iter().enumerate() {
            assert_eq!(b.clears_at("m", 1.0, t), t);
            b.reserve("m", i as u64, 1.0, t);
        }
        // the fourth waits until the first leaves the window
        assert_eq!(b.clears_at("m", 1.0, 30_000.0), 60_000.0);
        assert_eq!(b.clears_at("m", 1.0, 59_999.0), 60_000.0);
        assert_eq!(b.clears_at("m", 1.0, 60_000.0), 60_000.0);
    }

    #[test]
    fn no_double_burst_at_a_minute_edge() {
        let mut b = book(Some(2.0), None);
        b.reserve("m", 0, 1.0, 59_000.0);
        b.reserve("m", 1, 1.0, 59_500.0);
        // a fixed minute would admit two more at 60 000
        assert_eq!(b.clears_at("m", 1.0, 60_000.0), 119_000.0);
    }

    #[test]
    fn tpm_counts_reserved_tokens_and_settles_them() {
        let mut b = book(None, Some(1000.0));
        b.reserve("m", 0, 600.0, 0.0);
        assert_eq!(b.clears_at("m", 500.0, 1.0), 60_000.0);
        assert_eq!(b.clears_at("m", 400.0, 1.0), 1.0);
        // the call used 300: room for 700 now
        b.settle("m", 0, 300.0);
        assert_eq!(b.clears_at("m", 700.0, 2.0), 2.0);
        assert_eq!(b.usage("m", 2.0), (1, 300.0));
        // larger than the quota: never
        assert_eq!(b.clears_at("m", 1001.0, 2.0), f64::INFINITY);
    }

    #[test]
    fn an_unsettled_reservation_leaves_with_the_window() {
        let mut b = book(Some(1.0), Some(100.0));
        b.reserve("m", 0, 100.0, 0.0);
        assert_eq!(b.clears_at("m", 10.0, 30_000.0), 60_000.0);
        assert_eq!(b.clears_at("m", 10.0, 60_000.0), 60_000.0);
        assert_eq!(b.usage("m", 60_000.0), (0, 0.0));
    }

    #[test]
    fn room_admits_exactly_what_clears_at_admits() {
        let mut b = book(Some(3.5), Some(1000.0));
        let mut t = 0.0;
        let mut rng = 7u64;
        for d in 0..400u64 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            t += (rng >> 40) as f64 % 9000.0;
            let tokens = ((rng >> 20) % 600) as f64;
            let room = b.room("m", t);
            let fits = room.requests >= 1.0 && room.tokens_held + tokens <= room.tpm;
            assert_eq!(
                fits,
                b.clears_at("m", tokens, t) <= t,
                "decision {d} at {t}"
            );
            if fits {
                b.reserve("m", d, tokens, t);
                if d % 3 == 0 {
                    b.settle("m", d, tokens / 2.0);
                }
            }
        }
        assert_eq!(book(None, None).room("m", 0.0), QuotaRoom::UNLIMITED);
        // a token quota alone still admits no more than the log holds
        let mut b = book(None, Some(1e12));
        for d in 0..3 {
            b.reserve("m", d, 1.0, 0.0);
        }
        assert_eq!(b.room("m", 1.0).requests, (MAX_RESERVATIONS - 3) as f64);
    }

    #[test]
    fn models_without_a_quota_are_not_tracked() {
        let mut b = book(None, None);
        assert!(b.is_empty());
        b.reserve("m", 0, 1.0, 0.0);
        assert_eq!(b.clears_at("m", 1e9, 0.0), 0.0);
    }

    #[test]
    fn a_changed_quota_keeps_the_log() {
        let mut b = book(Some(1.0), None);
        b.reserve("m", 0, 1.0, 0.0);
        b.set_quotas(&[(
            "m".into(),
            Quota {
                rpm: Some(1.0),
                tpm: None,
            },
        )]);
        assert_eq!(b.clears_at("m", 1.0, 1.0), 60_000.0);
        b.set_quotas(&[(
            "m".into(),
            Quota {
                rpm: Some(2.0),
                tpm: None,
            },
        )]);
        assert_eq!(b.clears_at("m", 1.0, 1.0), 1.0);
    }

    fn leased(rpm: Option<f64>, tpm: Option<f64>) -> QuotaBook {
        let mut b = book(rpm, tpm);
        b.set_fleet(FleetQuota::Leased, 0.0);
        b
    }

    fn slice(q: Quota) -> (f64, f64) {
        (
            q.rpm.map_or(0.0, |r| (r / 10.0).ceil()),
            q.tpm.map_or(0.0, |t| (t / 10.0).ceil()),
        )
    }

    #[test]
    fn leased_a_model_waits_for_its_first_lease_and_spends_it() {
        let mut b = leased(Some(100.0), None);
        // entering leased mode asks for the first lease at once
        assert!(b.has_lease_work());
        // no capacity yet: over quota for a moment (the decision asks for nothing more)
        assert_eq!(b.clears_at("m", 1.0, 0.0), REFILL_WAIT_MS);
        let w = b.take_lease_work(0.0, &slice);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].want_requests, w[0].want_tokens), (10.0, 0.0));
        // asked once while the answer is out
        assert_eq!(b.clears_at("m", 1.0, 1.0), 1.0 + REFILL_WAIT_MS);
        assert_eq!(b.take_lease_work(1.0, &slice), vec![]);
        b.grant("m", 10.0, 0.0, 1, 2.0);
        for i in 0..10 {
            assert_eq!(b.clears_at("m", 1.0, 3.0), 3.0, "request {i}");
            b.reserve("m", i, 1.0, 3.0);
        }
        assert_eq!(b.lease("m").unwrap().requests, 0.0);
        assert_eq!(b.clears_at("m", 1.0, 3.0), 3.0 + REFILL_WAIT_MS);
        // the local window still applies: 10 of 100 used
        assert_eq!(b.usage("m", 3.0), (10, 10.0));
    }

    #[test]
    fn refills_are_first_asks_until_one_is_answered_even_through_many_model_sets() {
        let mut b = leased(Some(100.0), None);
        let firsts = |w: Vec<LeaseWork>| -> Vec<(String, bool)> {
            w.into_iter()
                .filter(|w| w.want_requests > 0.0 || w.want_tokens > 0.0)
                .map(|w| (w.name, w.first))
                .collect()
        };
        assert_eq!(firsts(b.take_lease_work(0.0, &slice)), [("m".into(), true)]);
        b.grant("m", 10.0, 0.0, 1, 1.0);
        // the model set changes many times: every new model's first ask is flagged, and a
        // model that stayed refills as a refill (nothing is remembered past the set)
        let mut t = 2.0;
        for i in 0..6000 {
            let name = format!("x{i}");
            b.set_quotas(&[
                (
                    "m".into(),
                    Quota {
                        rpm: Some(100.0),
                        tpm: None,
                    },
                ),
                (
                    name.clone(),
                    Quota {
                        rpm: Some(100.0),
                        tpm: None,
                    },
                ),
            ]);
            // `m`'s lease lapses and is refilled on the way: never a first ask
            let mut w = firsts(b.take_lease_work(t, &slice));
            w.retain(|(n, first)| n != "m" || *first);
            assert_eq!(w, [(name.clone(), true)]);
            b.grant(&name, 10.0, 0.0, 1, t);
            b.grant("m", 10.0, 0.0, 1, t);
            for d in 0..8 {
                b.reserve(&name, d, 1.0, t);
            }
            // below the low-water mark: a refill, not a first ask
            assert_eq!(firsts(b.take_lease_work(t, &slice)), [(name, false)]);
            t += 1.0;
        }
        // a failed call is an answer too
        b.set_quotas(&[(
            "y".into(),
            Quota {
                rpm: Some(100.0),
                tpm: None,
            },
        )]);
        assert_eq!(firsts(b.take_lease_work(t, &slice)), [("y".into(), true)]);
        b.grant("y", 0.0, 0.0, 0, t);
        assert_eq!(
            b.clears_at("y", 1.0, t + FULL_RETRY_MS),
            t + FULL_RETRY_MS + REFILL_WAIT_MS
        );
        assert_eq!(
            firsts(b.take_lease_work(t + FULL_RETRY_MS, &slice)),
            [("y".into(), false)]
        );
    }

    #[test]
    fn a_refusal_for_want_of_a_lease_is_told_from_a_full_window() {
        let mut b = leased(Some(2.0), None);
        // no lease yet, the window admits: only the lease is short
        assert_eq!(b.clears_at("m", 1.0, 0.0), REFILL_WAIT_MS);
        assert!(b.lease_short_at(0.0));
        assert!(!b.lease_short_at(1.0));
        b.take_lease_work(0.0, &slice);
        b.grant("m", 2.0, 0.0, 1, 1.0);
        b.reserve("m", 1, 1.0, 2.0);
        b.reserve("m", 2, 1.0, 2.0);
        // the local window is full too: it clears in a minute, no refill makes it sooner
        assert_eq!(b.clears_at("m", 1.0, 3.0), 2.0 + WINDOW_MS);
        assert!(!b.lease_short_at(3.0));
        // the fleet's window was full: retried after FULL_RETRY_MS, nothing to wait for now
        let mut b = leased(Some(100.0), None);
        b.take_lease_work(0.0, &slice);
        b.grant("m", 0.0, 0.0, 0, 1.0);
        assert_eq!(b.clears_at("m", 1.0, 2.0), 1.0 + FULL_RETRY_MS);
        assert!(!b.lease_short_at(2.0));
    }

    #[test]
    fn first_leases_are_asked_for_before_a_decision_needs_them() {
        let mut b = leased(Some(100.0), None);
        let w = b.take_lease_work(0.0, &slice);
        assert_eq!(w.len(), 1);
        // a model added while leasing: its first lease is work at once; a known one is not
        // asked again while its refill is out
        b.set_quotas(&[
            (
                "m".into(),
                Quota {
                    rpm: Some(100.0),
                    tpm: None,
                },
            ),
            (
                "n".into(),
                Quota {
                    rpm: None,
                    tpm: Some(1000.0),
                },
            ),
        ]);
        let w = b.take_lease_work(1.0, &slice);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].name.as_str(), w[0].want_tokens), ("n", 100.0));
        b.grant("m", 10.0, 0.0, 1, 2.0);
        b.grant("n", 0.0, 100.0, 1, 2.0);
        // leases resumed after the fleet state was unavailable: every model asks again
        b.set_fleet(FleetQuota::Share(0.5), 3.0);
        b.take_lease_work(3.0, &slice);
        assert!(!b.has_lease_work());
        b.set_fleet(FleetQuota::Leased, 4.0);
        let mut names: Vec<String> = b
            .take_lease_work(4.0, &slice)
            .into_iter()
            .filter(|w| w.want_requests > 0.0 || w.want_tokens > 0.0)
            .map(|w| w.name)
            .collect();
        names.sort();
        assert_eq!(names, ["m", "n"]);
        // outside leased mode nothing is asked for
        let mut b = book(Some(100.0), None);
        b.set_quotas(&[(
            "k".into(),
            Quota {
                rpm: Some(5.0),
                tpm: None,
            },
        )]);
        assert!(!b.has_lease_work());
    }

    #[test]
    fn a_lease_runs_low_and_asks_for_more_before_it_is_spent() {
        let mut b = leased(Some(100.0), None);
        b.clears_at("m", 1.0, 0.0);
        b.take_lease_work(0.0, &slice);
        b.grant("m", 2.0, 0.0, 1, 0.0);
        b.reserve("m", 0, 1.0, 0.0);
        assert!(!b.has_lease_work());
        b.reserve("m", 1, 1.0, 0.0);
        assert!(b.has_lease_work());
        // late in the lease's life counts as low too
        let mut b = leased(Some(100.0), None);
        b.clears_at("m", 1.0, 0.0);
        b.take_lease_work(0.0, &slice);
        b.grant("m", 10.0, 0.0, 1, 0.0);
        b.reserve("m", 0, 1.0, LEASE_MS * 0.8);
        assert!(b.has_lease_work());
    }

    #[test]
    fn a_lapsed_lease_is_given_back_and_token_corrections_travel_with_it() {
        let mut b = leased(None, Some(1000.0));
        b.clears_at("m", 100.0, 0.0);
        b.take_lease_work(0.0, &slice);
        b.grant("m", 0.0, 500.0, 1, 0.0);
        b.reserve("m", 7, 100.0, 10.0);
        // the call used 300: 200 more than the lease was charged
        b.settle("m", 7, 300.0);
        assert_eq!(b.lease("m").unwrap().tokens, 200.0);
        // the lease lapses unused; the interval's work gives back the 200 left
        let w = b.take_lease_work(LEASE_MS, &slice);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].return_requests, w[0].return_tokens), (0.0, 200.0));
        assert_eq!(b.lease("m").unwrap().tokens, 0.0);
        // overspent: a negative give-back adds the excess to the fleet's window
        let mut b = leased(None, Some(1000.0));
        b.clears_at("m", 100.0, 0.0);
        b.take_lease_work(0.0, &slice);
        b.grant("m", 0.0, 100.0, 1, 0.0);
        b.reserve("m", 1, 100.0, 1.0);
        b.settle("m", 1, 250.0);
        let w = b.release_all(5.0);
        assert_eq!(w[0].return_tokens, -150.0);
    }

    #[test]
    fn degraded_each_process_keeps_to_its_share() {
        let mut b = book(Some(100.0), None);
        b.set_fleet(FleetQuota::Share(0.25), 0.0);
        for i in 0..25 {
            assert_eq!(b.clears_at("m", 1.0, 0.0), 0.0);
            b.reserve("m", i, 1.0, 0.0);
        }
        assert_eq!(b.clears_at("m", 1.0, 0.0), WINDOW_MS);
        // a nonsense share is taken as the whole limit
        b.set_fleet(FleetQuota::Share(0.0), 0.0);
        assert_eq!(b.fleet(), FleetQuota::Share(1.0));
    }

    #[test]
    fn leaving_leased_mode_gives_held_capacity_back_and_late_grants_too() {
        let mut b = leased(Some(100.0), None);
        b.clears_at("m", 1.0, 0.0);
        b.take_lease_work(0.0, &slice);
        b.grant("m", 10.0, 0.0, 1, 0.0);
        b.reserve("m", 0, 1.0, 0.0);
        b.set_fleet(FleetQuota::Share(0.5), 1.0);
        let w = b.take_lease_work(1.0, &slice);
        assert_eq!(w[0].return_requests, 9.0);
        assert_eq!(w[0].want_requests, 0.0);
        b.grant("m", 4.0, 0.0, 1, 2.0);
        let w = b.take_lease_work(2.0, &slice);
        assert_eq!(w[0].return_requests, 4.0);
        assert_eq!(b.lease("m").unwrap().requests, 0.0);
    }

    #[test]
    fn a_full_fleet_window_is_asked_again_only_after_a_while() {
        let mut b = leased(Some(100.0), None);
        b.clears_at("m", 1.0, 0.0);
        b.take_lease_work(0.0, &slice);
        b.grant("m", 0.0, 0.0, 0, 10.0);
        // over quota until the retry, and no lease work meanwhile
        assert_eq!(b.clears_at("m", 1.0, 11.0), 10.0 + FULL_RETRY_MS);
        assert!(!b.has_lease_work());
        assert_eq!(
            b.clears_at("m", 1.0, 10.0 + FULL_RETRY_MS),
            10.0 + FULL_RETRY_MS + REFILL_WAIT_MS
        );
        assert!(b.has_lease_work());
    }

    #[test]
    fn leased_room_is_the_lease_and_none_once_it_lapses() {
        let mut b = leased(Some(100.0), Some(1000.0));
        // no lease yet: no room, nothing to wait for
        assert_eq!(b.room("m", 0.0).requests, 0.0);
        assert_eq!(b.lease_deadline_ms(0.0), f64::INFINITY);
        b.grant("m", 10.0, 100.0, 1, 0.0);
        let r = b.room("m", 1.0);
        assert_eq!(r.requests, 10.0);
        assert_eq!(r.tpm - r.tokens_held, 100.0);
        assert_eq!(b.lease_deadline_ms(1.0), LEASE_MS);
        b.reserve("m", 1, 30.0, 1.0);
        let r = b.room("m", 1.0);
        assert_eq!((r.requests, r.tpm - r.tokens_held), (9.0, 70.0));
        // lapsed: no room, and no deadline left to wait for
        assert_eq!(b.room("m", LEASE_MS).requests, 0.0);
        assert_eq!(b.lease_deadline_ms(LEASE_MS), f64::INFINITY);
    }

    #[test]
    fn a_share_is_the_room_when_the_fleet_is_unavailable() {
        let mut b = book(Some(100.0), Some(1000.0));
        b.set_fleet(FleetQuota::Share(0.25), 0.0);
        let r = b.room("m", 0.0);
        assert_eq!((r.requests, r.tpm), (25.0, 250.0));
        assert_eq!(b.lease_deadline_ms(0.0), f64::INFINITY);
    }
}
