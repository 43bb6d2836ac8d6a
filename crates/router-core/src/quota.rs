//! Per-model request and token quotas (`rpm`, `tpm`) over a continuous 60-second window:
//! a sliding log of what was sent, so no 60 s window — whatever its start — holds more than
//! the quota (a fixed minute would allow a double burst at its edge).
//!
//! A decision reserves one request and its estimated tokens; the call's outcome settles the
//! reservation with the real token count. A reservation whose outcome never comes keeps its
//! estimate and leaves the log with the window, like any other.

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
    fn clears_at(&self, tokens: f64, now_ms: f64) -> f64 {
        if self.sent.len() >= MAX_RESERVATIONS {
            return self.sent[0].at_ms + WINDOW_MS;
        }
        let mut at = now_ms;
        if let Some(rpm) = self.quota.rpm {
            let keep = (rpm as usize).saturating_sub(1); // requests the window may still hold
            if self.sent.len() > keep {
                if rpm < 1.0 {
                    return f64::INFINITY;
                }
                at = at.max(self.sent[self.sent.len() - keep - 1].at_ms + WINDOW_MS);
            }
        }
        if let Some(tpm) = self.quota.tpm {
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
#[derive(Clone, Debug, Default)]
pub struct QuotaBook {
    logs: AHashMap<String, Log>,
}

impl QuotaBook {
    /// Sets the quotas of the current model set: names without one are forgotten; a model
    /// keeps its log through a quota change (what it was sent still counts).
    pub fn set_quotas(&mut self, quotas: &[(String, Quota)]) {
        self.logs
            .retain(|name, _| quotas.iter().any(|(n, q)| n == name && !q.is_unlimited()));
        for (name, q) in quotas {
            if q.is_unlimited() {
                continue;
            }
            self.logs.entry(name.clone()).or_default().quota = *q;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }

    pub fn quota(&self, name: &str) -> Option<Quota> {
        self.logs.get(name).map(|l| l.quota)
    }

    /// When `name` can take one more request of `tokens` (`now_ms` or earlier: now).
    pub fn clears_at(&mut self, name: &str, tokens: f64, now_ms: f64) -> f64 {
        match self.logs.get_mut(name) {
            None => now_ms,
            Some(log) => {
                log.age_out(now_ms);
                log.clears_at(tokens, now_ms)
            }
        }
    }

    /// The room `name`'s quota leaves at `now_ms` (after aging out what left the window).
    pub fn room(&mut self, name: &str, now_ms: f64) -> QuotaRoom {
        let Some(log) = self.logs.get_mut(name) else {
            return QuotaRoom::UNLIMITED;
        };
        log.age_out(now_ms);
        // `clears_at` admits while fewer than ⌊rpm⌋ (and than MAX_RESERVATIONS) are held
        let cap = log.quota.rpm.map_or(MAX_RESERVATIONS as f64, |r| {
            r.floor().min(MAX_RESERVATIONS as f64)
        });
        QuotaRoom {
            requests: cap - log.sent.len() as f64,
            tokens_held: log.tokens,
            tpm: log.quota.tpm.unwrap_or(f64::INFINITY),
        }
    }

    /// As `clears_at`, without aging anything out (for `explain`).
    pub fn peek_clears_at(&self, name: &str, tokens: f64, now_ms: f64) -> f64 {
        match self.logs.get(name) {
            None => now_ms,
            Some(log) => {
                let mut l = log.clone();
                l.age_out(now_ms);
                l.clears_at(tokens, now_ms)
            }
        }
    }

    /// Decision `decision` sends one request of `tokens` (estimated) to `name` at `now_ms`.
    pub fn reserve(&mut self, name: &str, decision: u64, tokens: f64, now_ms: f64) {
        if let Some(log) = self.logs.get_mut(name) {
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
        if let Some(log) = self.logs.get_mut(name) {
            if let Some(s) = log.sent.iter_mut().rev().find(|s| s.decision == decision) {
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
}
