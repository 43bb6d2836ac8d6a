//! Spending budgets: a limit on cost per window, over everything (`Global`), one model
//! (`Model`) or one caller key (`Key`: a team, a user, an API key). Windows are fixed
//! periods from when the budget was set; spend starts again at each period's start.
//!
//! A decision reserves its estimated cost on every budget it falls under; the call's
//! outcome settles the reservation with the real cost. So spend can pass a limit only by
//! what reservations that fitted when made turn out to cost above their estimate.
//!
//! Fleet mode ([`BudgetBook::set_fleet`]): a limit is the whole fleet's. Each budget spends
//! a [`CostLease`], a slice of the fleet's spend in the current period taken from Redis
//! (periods are aligned to multiples of the window on Redis's clock, so every process
//! counts the same period). A budget whose lease cannot cover a decision's cost is
//! exceeded here until the lease is refilled; refills, lapsed capacity and costs above the
//! estimates go through [`BudgetBook::take_lease_work`], off the decision path. When the
//! fleet state is unavailable each process keeps to its share of the limit, in its own
//! periods.

use ahash::AHashMap;

use crate::quota::{FleetQuota, FULL_RETRY_MS, LEASE_MS, REFILL_WAIT_MS};

/// Reservations awaiting their outcome at most; past this the oldest stay spent as
/// estimated.
pub const MAX_PENDING: usize = 100_000;
/// Budgets at most.
pub const MAX_BUDGETS: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Model(String),
    Key(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub scope: Scope,
    pub limit: f64,
    pub window_ms: f64,
    /// When the budget was set: periods start at `start_ms + k × window_ms`.
    pub start_ms: f64,
    /// Spent in the current period (settled costs and reservations awaiting an outcome).
    pub spent: f64,
    /// Start of the period `spent` belongs to.
    period_ms: f64,
    /// Fleet mode: the fleet's spend this process holds and has not spent.
    pub lease: CostLease,
    /// Fleet mode: the fleet's counter for the period at the last lease call (spend
    /// granted to every process, including this one's unspent lease), and when (local
    /// clock) that period ends.
    pub fleet_spent: Option<(f64, f64)>,
    /// Fleet mode: what to give back (negative: costs above the estimates to add) and the
    /// fleet period it belongs to.
    give: f64,
    give_period: u64,
    refilling: bool,
    retry_at: f64,
    /// The last grant (the low-water mark is a quarter of it) and the largest cost
    /// reserved (a refill asks for at least twice it).
    granted: f64,
    largest: f64,
    /// Local periods were aligned to the fleet's.
    aligned: bool,
    /// Fleet mode: a lease call for this budget was answered (granted, full or failed)
    /// since leasing (re)started; until then its refills are first asks.
    answered: bool,
}

/// A budget's slice of the fleet's spend for one period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostLease {
    pub amount: f64,
    /// After this the remainder lapses (is given back); never past the period's end.
    pub expires_ms: f64,
    /// The fleet's period (ms on Redis's clock) it belongs to.
    pub period: u64,
}

impl Default for CostLease {
    fn default() -> Self {
        CostLease {
            amount: 0.0,
            expires_ms: f64::NEG_INFINITY,
            period: 0,
        }
    }
}

/// What the fleet layer should ask of Redis for one budget.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetLeaseWork {
    /// Index of the budget.
    pub budget: usize,
    pub want: f64,
    /// Spend to give back (negative: to add).
    pub give: f64,
    /// The fleet period `give` belongs to (0: none).
    pub give_period: u64,
    /// A first ask: the budget's lease was never answered since it was set or leasing
    /// (re)started, so decisions wait for this call rather than refuse.
    pub first: bool,
}

impl Budget {
    fn period_at(&self, now_ms: f64) -> f64 {
        if self.window_ms <= 0.0 || now_ms < self.start_ms {
            return self.start_ms;
        }
        self.start_ms + ((now_ms - self.start_ms) / self.window_ms).floor() * self.window_ms
    }
    fn roll(&mut self, now_ms: f64) {
        let p = self.period_at(now_ms);
        if p > self.period_ms {
            self.period_ms = p;
            self.spent = 0.0;
        }
    }
    /// When the current period ends.
    pub fn resets_at(&self, now_ms: f64) -> f64 {
        self.period_at(now_ms) + self.window_ms
    }
    /// Spent in the period of `now_ms`.
    pub fn spent_at(&self, now_ms: f64) -> f64 {
        if self.period_at(now_ms) > self.period_ms {
            0.0
        } else {
            self.spent
        }
    }
    /// A lease past its time gives its remainder back.
    fn lapse(&mut self, now_ms: f64) {
        if now_ms >= self.lease.expires_ms && self.lease.amount != 0.0 {
            if self.give_period != self.lease.period {
                self.give = 0.0;
            }
            self.give += self.lease.amount;
            self.give_period = self.lease.period;
            self.lease.amount = 0.0;
        }
    }
    /// Fleet mode: the lease cannot cover `cost` at `now_ms`.
    fn lease_short(&self, cost: f64, now_ms: f64) -> bool {
        now_ms >= self.lease.expires_ms || self.lease.amount < cost
    }
    /// The limit this process keeps to.
    fn local_limit(&self, fleet: FleetQuota) -> f64 {
        match fleet {
            FleetQuota::Share(s) => self.limit * s,
            _ => self.limit,
        }
    }
    fn applies(&self, model: &str, key: Option<&str>) -> bool {
        match &self.scope {
            Scope::Global => true,
            Scope::Model(m) => m == model,
            Scope::Key(k) => key == Some(k.as_str()),
        }
    }
}

#[derive(Clone, Debug)]
struct Pending {
    cost: f64,
    /// (budget index, period start, fleet period of the lease) the reservation was made in.
    on: Vec<(usize, f64, u64)>,
}

#[derive(Clone, Debug)]
pub struct BudgetBook {
    budgets: Vec<Budget>,
    pending: AHashMap<u64, Pending>,
    pending_order: std::collections::VecDeque<u64>,
    fleet: FleetQuota,
    /// The last time (router clock) a budget was exceeded only for want of a lease whose
    /// refill is asked for or out (the fleet's period is not spent): a refusal then is
    /// worth one wait. Written by `exceeded_by`, a read of the book.
    lease_short_at: std::cell::Cell<f64>,
}

impl Default for BudgetBook {
    fn default() -> Self {
        BudgetBook {
            budgets: Vec::new(),
            pending: AHashMap::new(),
            pending_order: std::collections::VecDeque::new(),
            fleet: FleetQuota::Local,
            lease_short_at: std::cell::Cell::new(f64::NAN),
        }
    }
}

impl BudgetBook {
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty()
    }
    pub fn budgets(&self) -> &[Budget] {
        &self.budgets
    }

    /// Sets a budget (replacing the one of the same scope, whose spend is kept); returns its
    /// index, or `None` when `MAX_BUDGETS` are set already.
    pub fn set(&mut self, scope: Scope, limit: f64, window_ms: f64, now_ms: f64) -> Option<usize> {
        if let Some(i) = self.budgets.iter().position(|b| b.scope == scope) {
            let b = &mut self.budgets[i];
            b.limit = limit;
            if b.window_ms != window_ms {
                b.window_ms = window_ms;
                b.start_ms = now_ms;
                b.period_ms = now_ms;
                b.aligned = false;
                b.lease.expires_ms = f64::NEG_INFINITY;
                b.lapse(now_ms);
            }
            return Some(i);
        }
        if self.budgets.len() >= MAX_BUDGETS {
            return None;
        }
        self.budgets.push(Budget {
            scope,
            limit,
            window_ms,
            start_ms: now_ms,
            spent: 0.0,
            period_ms: now_ms,
            lease: CostLease::default(),
            fleet_spent: None,
            give: 0.0,
            give_period: 0,
            refilling: false,
            retry_at: f64::NEG_INFINITY,
            granted: 0.0,
            largest: 0.0,
            aligned: false,
            answered: false,
        });
        Some(self.budgets.len() - 1)
    }

    /// Where limits are enforced (the quotas' modes). Entering `Leased` starts every budget
    /// without a lease, its first one to be asked for at once (a failed call while the fleet
    /// state was unavailable does not delay it); leaving it gives held leases back.
    pub fn set_fleet(&mut self, fleet: FleetQuota, now_ms: f64) {
        let was = self.fleet;
        self.fleet = match fleet {
            FleetQuota::Share(s) if !(s > 0.0 && s <= 1.0) => FleetQuota::Share(1.0),
            f => f,
        };
        if was != FleetQuota::Leased && self.fleet == FleetQuota::Leased {
            for b in &mut self.budgets {
                b.retry_at = f64::NEG_INFINITY;
                b.answered = false;
            }
        }
        if was == FleetQuota::Leased && self.fleet != FleetQuota::Leased {
            for b in &mut self.budgets {
                b.lease.expires_ms = f64::NEG_INFINITY;
                b.lapse(now_ms);
                b.refilling = false;
            }
        }
    }

    pub fn fleet(&self) -> FleetQuota {
        self.fleet
    }

    /// The room budget `i` leaves at `now_ms` as [spent, limit] (a decision costing `c` fits
    /// while `spent + c ≤ limit`): in fleet mode no more than its lease holds, none once the
    /// lease lapsed; the share of the limit when the fleet state is unavailable.
    pub fn room(&self, i: usize, now_ms: f64) -> [f64; 2] {
        let Some(b) = self.budgets.get(i) else {
            return [f64::INFINITY, 0.0];
        };
        match self.fleet {
            FleetQuota::Leased if now_ms >= b.lease.expires_ms => [f64::INFINITY, 0.0],
            FleetQuota::Leased => [0.0, b.lease.amount.max(0.0)],
            f => [b.spent_at(now_ms), b.local_limit(f)],
        }
    }

    /// What budget `i` has spent in the period of `now_ms`: in fleet mode the fleet's spend
    /// as of the last lease call (less what this process holds unspent) when that is the
    /// same period and more than this process's own; else this process's.
    pub fn spent(&self, i: usize, now_ms: f64) -> f64 {
        let Some(b) = self.budgets.get(i) else {
            return 0.0;
        };
        let own = b.spent_at(now_ms);
        match b.fleet_spent {
            Some((s, until)) if self.fleet == FleetQuota::Leased && now_ms < until => {
                let held = if now_ms < b.lease.expires_ms {
                    b.lease.amount.max(0.0)
                } else {
                    0.0
                };
                (s - held).max(own)
            }
            _ => own,
        }
    }

    /// Fleet mode: the earliest time after `now_ms` a lease lapses (infinity: none).
    pub fn lease_deadline_ms(&self, now_ms: f64) -> f64 {
        if self.fleet != FleetQuota::Leased {
            return f64::INFINITY;
        }
        self.budgets
            .iter()
            .map(|b| b.lease.expires_ms)
            .filter(|&at| at > now_ms)
            .fold(f64::INFINITY, f64::min)
    }

    /// Fleet mode: the budgets whose lease runs low or lapsed (refills of `slice` of the
    /// limit, at least twice the largest cost reserved), and spend to give back.
    pub fn take_lease_work(&mut self, now_ms: f64, slice: f64) -> Vec<BudgetLeaseWork> {
        let leased = self.fleet == FleetQuota::Leased;
        let mut out = Vec::new();
        for (i, b) in self.budgets.iter_mut().enumerate() {
            b.lapse(now_ms);
            let low = b.lease.amount < (b.granted / 4.0).max(b.largest)
                || now_ms >= b.lease.expires_ms - LEASE_MS / 4.0;
            let want = if leased && low && !b.refilling && now_ms >= b.retry_at {
                b.refilling = true;
                (b.limit * slice).max(2.0 * b.largest).min(b.limit)
            } else {
                0.0
            };
            let give = std::mem::take(&mut b.give);
            if want > 0.0 || give != 0.0 {
                out.push(BudgetLeaseWork {
                    first: want > 0.0 && !b.answered,
                    budget: i,
                    want,
                    give,
                    give_period: b.give_period,
                });
            }
        }
        out
    }

    /// The fleet granted `amount` to budget `i` at `now_ms` for its period `period`, which
    /// ends `left_ms` from now; `fleet_spent` is the fleet's counter after the grant.
    /// Granted while no longer leasing: given back.
    pub fn grant(
        &mut self,
        i: usize,
        amount: f64,
        fleet_spent: f64,
        period: u64,
        left_ms: f64,
        now_ms: f64,
    ) {
        let leased = self.fleet == FleetQuota::Leased;
        let Some(b) = self.budgets.get_mut(i) else {
            return;
        };
        b.refilling = false;
        b.answered = true;
        if period == 0 {
            // the call failed: the lease held stays, the refill is asked again later
            b.retry_at = now_ms + FULL_RETRY_MS;
            return;
        }
        b.fleet_spent = Some((fleet_spent, now_ms + left_ms.max(0.0)));
        if !leased {
            if b.give_period != period {
                b.give = 0.0;
            }
            b.give += amount;
            b.give_period = period;
            return;
        }
        if !b.aligned && left_ms.is_finite() && left_ms > 0.0 {
            // local periods follow the fleet's, so a degraded process counts the same ones
            b.aligned = true;
            b.start_ms = now_ms + left_ms - b.window_ms;
            b.period_ms = b.period_at(now_ms);
        }
        if b.lease.period != period {
            // a new fleet period: what the old lease held is no longer the fleet's to spend
            b.lease.amount = 0.0;
            b.lease.period = period;
        } else {
            b.lapse(now_ms);
        }
        b.lease.amount += amount;
        b.lease.expires_ms = now_ms + LEASE_MS.min(left_ms.max(0.0));
        // the fleet's float sums leave dust when its period is spent: that is a full period
        // (asked again after FULL_RETRY_MS), not a grant to refill at once
        if amount > b.limit * 1e-9 {
            b.granted = amount;
        } else {
            b.retry_at = now_ms + FULL_RETRY_MS;
        }
    }

    /// Every unspent lease, to give back (shutdown).
    pub fn release_all(&mut self, now_ms: f64) -> Vec<BudgetLeaseWork> {
        for b in &mut self.budgets {
            b.lease.expires_ms = f64::NEG_INFINITY;
        }
        let was = std::mem::replace(&mut self.fleet, FleetQuota::Local);
        let out = self.take_lease_work(now_ms, 0.0);
        self.fleet = was;
        out
    }

    /// The first budget a call to `model` costing `cost` would exceed, with when it resets.
    pub fn exceeded_by(
        &self,
        model: &str,
        key: Option<&str>,
        cost: f64,
        now_ms: f64,
    ) -> Option<(usize, f64)> {
        let fleet = self.fleet;
        self.budgets
            .iter()
            .enumerate()
            .find(|(_, b)| {
                b.applies(model, key)
                    && if fleet == FleetQuota::Leased {
                        b.lease_short(cost, now_ms)
                    } else {
                        b.spent_at(now_ms) + cost > b.local_limit(fleet)
                    }
            })
            .map(|(i, b)| {
                // leased: retried once the refill under way is in, unless the fleet's
                // period is spent
                let fleet_full = b
                    .fleet_spent
                    .is_some_and(|(s, until)| now_ms < until && s + cost > b.limit);
                if fleet == FleetQuota::Leased && !fleet_full {
                    if now_ms >= b.retry_at {
                        self.lease_short_at.set(now_ms);
                    }
                    (i, (now_ms + REFILL_WAIT_MS).max(b.retry_at))
                } else {
                    (i, b.resets_at(now_ms))
                }
            })
    }

    /// Whether a budget was exceeded at `now_ms` only for want of a lease whose refill is
    /// asked for or out (not a spent fleet period, nor a refill retried later): a refusal
    /// at `now_ms` may wait for that refill.
    pub fn lease_short_at(&self, now_ms: f64) -> bool {
        self.lease_short_at.get() == now_ms
    }

    /// Decision `decision` to `model` reserves `cost` on every budget it falls under.
    pub fn reserve(
        &mut self,
        decision: u64,
        model: &str,
        key: Option<&str>,
        cost: f64,
        now_ms: f64,
    ) {
        let leased = self.fleet == FleetQuota::Leased;
        let mut on = Vec::new();
        for (i, b) in self.budgets.iter_mut().enumerate() {
            if b.applies(model, key) {
                b.roll(now_ms);
                b.spent += cost;
                if leased {
                    b.lease.amount -= cost;
                    b.largest = b.largest.max(cost);
                }
                on.push((i, b.period_ms, b.lease.period));
            }
        }
        if on.is_empty() {
            return;
        }
        if self.pending_order.len() >= MAX_PENDING {
            if let Some(old) = self.pending_order.pop_front() {
                self.pending.remove(&old);
            }
        }
        self.pending_order.push_back(decision);
        self.pending.insert(decision, Pending { cost, on });
    }

    /// The outcome of `decision` cost `cost`: its reservation is replaced by it (in the
    /// periods it was made in).
    pub fn settle(&mut self, decision: u64, cost: f64) {
        let Some(p) = self.pending.remove(&decision) else {
            return;
        };
        if let Some(at) = self.pending_order.iter().position(|&d| d == decision) {
            self.pending_order.remove(at);
        }
        let leased = self.fleet == FleetQuota::Leased;
        for (i, period, fleet_period) in p.on {
            if let Some(b) = self.budgets.get_mut(i) {
                if b.period_ms == period {
                    b.spent = (b.spent + cost - p.cost).max(0.0);
                }
                if !leased || fleet_period == 0 {
                    continue;
                }
                // the difference goes back to the lease it was taken from, or to the fleet
                if b.lease.period == fleet_period {
                    b.lease.amount += p.cost - cost;
                } else if b.give_period == fleet_period {
                    b.give += p.cost - cost;
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.budgets.clear();
        self.pending.clear();
        self.pending_order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_then_settles_and_resets_each_period() {
        let mut b = BudgetBook::default();
        b.set(Scope::Global, 1.0, 1000.0, 0.0);
        assert_eq!(b.exceeded_by("m", None, 0.6, 0.0), None);
        b.reserve(1, "m", None, 0.6, 0.0);
        assert_eq!(b.exceeded_by("m", None, 0.6, 10.0), Some((0, 1000.0)));
        b.settle(1, 0.2);
        assert_eq!(b.exceeded_by("m", None, 0.6, 20.0), None);
        b.reserve(2, "m", None, 0.8, 20.0);
        assert_eq!(b.exceeded_by("m", None, 0.1, 999.0), Some((0, 1000.0)));
        // a new period
        assert_eq!(b.exceeded_by("m", None, 0.9, 1000.0), None);
        // a settlement of the old period does not touch the new one
        b.reserve(3, "m", None, 0.5, 1000.0);
        b.settle(2, 0.0);
        assert_eq!(b.budgets()[0].spent_at(1000.0), 0.5);
    }

    #[test]
    fn model_and_key_budgets_apply_to_their_own() {
        let mut b = BudgetBook::default();
        b.set(Scope::Model("a".into()), 1.0, 1000.0, 0.0);
        b.set(Scope::Key("team".into()), 2.0, 1000.0, 0.0);
        b.reserve(1, "a", Some("team"), 0.9, 0.0);
        assert_eq!(b.exceeded_by("a", None, 0.2, 1.0), Some((0, 1000.0)));
        assert_eq!(b.exceeded_by("b", None, 5.0, 1.0), None);
        assert_eq!(
            b.exceeded_by("b", Some("team"), 1.2, 1.0),
            Some((1, 1000.0))
        );
        assert_eq!(b.exceeded_by("b", Some("other"), 1.2, 1.0), None);
    }

    #[test]
    fn setting_the_same_scope_replaces_it() {
        let mut b = BudgetBook::default();
        assert_eq!(b.set(Scope::Global, 1.0, 1000.0, 0.0), Some(0));
        b.reserve(1, "m", None, 0.5, 0.0);
        assert_eq!(b.set(Scope::Global, 2.0, 1000.0, 5.0), Some(0));
        assert_eq!(b.budgets().len(), 1);
        assert_eq!(b.budgets()[0].spent_at(5.0), 0.5);
    }

    #[test]
    fn a_budgets_refills_are_first_asks_until_one_is_answered() {
        let mut b = BudgetBook::default();
        b.set(Scope::Global, 10.0, 60_000.0, 0.0);
        b.set_fleet(FleetQuota::Leased, 0.0);
        let firsts = |w: Vec<BudgetLeaseWork>| -> Vec<(usize, bool)> {
            w.into_iter()
                .filter(|w| w.want > 0.0)
                .map(|w| (w.budget, w.first))
                .collect()
        };
        assert_eq!(firsts(b.take_lease_work(0.0, 0.25)), [(0, true)]);
        // a failed call is an answer too: the retry is a refill, not a first ask
        b.grant(0, 0.0, 0.0, 0, 0.0, 1.0);
        assert_eq!(
            firsts(b.take_lease_work(1.0 + FULL_RETRY_MS, 0.25)),
            [(0, false)]
        );
        b.grant(0, 2.5, 2.5, 600_000, 30_000.0, 300.0);
        // budgets cleared and set again: the index is reused, the budget is new
        b.clear();
        b.set(Scope::Key("team".into()), 10.0, 60_000.0, 400.0);
        assert_eq!(firsts(b.take_lease_work(400.0, 0.25)), [(0, true)]);
        b.grant(0, 2.5, 2.5, 600_000, 30_000.0, 410.0);
        // leases resumed after the fleet state was unavailable: a first ask again
        b.set_fleet(FleetQuota::Share(0.5), 500.0);
        b.take_lease_work(500.0, 0.25);
        b.set_fleet(FleetQuota::Leased, 600.0);
        assert_eq!(firsts(b.take_lease_work(600.0, 0.25)), [(0, true)]);
    }

    #[test]
    fn a_refusal_for_want_of_a_lease_is_told_from_a_spent_period() {
        let mut b = BudgetBook::default();
        b.set(Scope::Global, 10.0, 60_000.0, 0.0);
        b.set_fleet(FleetQuota::Leased, 0.0);
        assert!(b.exceeded_by("m", None, 1.0, 0.0).is_some());
        assert!(b.lease_short_at(0.0));
        assert!(!b.lease_short_at(1.0));
        b.take_lease_work(0.0, 0.25);
        // the fleet's period is spent: exceeded until it resets, no refill to wait for
        b.grant(0, 0.0, 10.0, 600_000, 30_000.0, 10.0);
        assert_eq!(b.exceeded_by("m", None, 1.0, 20.0), Some((0, 30_010.0)));
        assert!(!b.lease_short_at(20.0));
    }

    #[test]
    fn leased_budget_spends_its_lease_and_asks_for_more() {
        let mut b = BudgetBook::default();
        b.set(Scope::Global, 10.0, 60_000.0, 0.0);
        b.set_fleet(FleetQuota::Leased, 0.0);
        // no lease yet: exceeded, retried soon; the room says none
        assert_eq!(
            b.exceeded_by("m", None, 1.0, 0.0),
            Some((0, REFILL_WAIT_MS))
        );
        assert_eq!(b.room(0, 0.0), [f64::INFINITY, 0.0]);
        let w = b.take_lease_work(0.0, 0.25);
        assert_eq!(
            w,
            vec![BudgetLeaseWork {
                budget: 0,
                want: 2.5,
                give: 0.0,
                give_period: 0,
                first: true,
            }]
        );
        // one refill at a time
        assert!(b.take_lease_work(1.0, 0.25).is_empty());
        // granted 2.5 in fleet period 600_000, which ends 30 s from now
        b.grant(0, 2.5, 2.5, 600_000, 30_000.0, 10.0);
        assert_eq!(b.room(0, 10.0), [0.0, 2.5]);
        assert_eq!(b.lease_deadline_ms(10.0), 10.0 + LEASE_MS);
        // local periods now follow the fleet's
        assert_eq!(b.budgets()[0].resets_at(10.0), 30_010.0);
        assert_eq!(b.exceeded_by("m", None, 2.0, 10.0), None);
        b.reserve(1, "m", None, 2.0, 10.0);
        assert_eq!(b.room(0, 11.0), [0.0, 0.5]);
        assert_eq!(b.exceeded_by("m", None, 1.0, 11.0), Some((0, 31.0)));
        // an outcome cheaper than its estimate returns the difference to the lease
        b.settle(1, 1.5);
        assert_eq!(b.room(0, 12.0), [0.0, 1.0]);
        // low: a refill of at least twice the largest cost
        assert_eq!(b.take_lease_work(12.0, 0.1)[0].want, 4.0);
        b.grant(0, 4.0, 6.5, 600_000, 29_990.0, 20.0);
        assert_eq!(b.room(0, 20.0), [0.0, 5.0]);
        // the fleet's spend: its counter less this process's unspent lease
        assert_eq!(b.spent(0, 20.0), 1.5);
        // the lease lapses: no room; the remainder is given back to its period
        assert_eq!(b.room(0, 20.0 + LEASE_MS), [f64::INFINITY, 0.0]);
        let w = b.take_lease_work(20.0 + LEASE_MS, 0.1);
        assert_eq!(w[0].give, 5.0);
        assert_eq!(w[0].give_period, 600_000);
    }

    #[test]
    fn lease_ends_with_the_period_and_full_fleet_waits_for_the_next() {
        let mut b = BudgetBook::default();
        b.set(Scope::Global, 10.0, 60_000.0, 0.0);
        b.set_fleet(FleetQuota::Leased, 0.0);
        b.take_lease_work(0.0, 0.25);
        // 500 ms left in the period: the lease lapses then
        b.grant(0, 2.5, 10.0, 600_000, 500.0, 0.0);
        assert_eq!(b.lease_deadline_ms(0.0), 500.0);
        b.reserve(1, "m", None, 2.5, 1.0);
        // the fleet's period is spent: exceeded until the period ends
        assert_eq!(b.exceeded_by("m", None, 1.0, 2.0), Some((0, 500.0)));
        // nothing granted: not asked again before FULL_RETRY_MS
        b.take_lease_work(2.0, 0.25);
        b.grant(0, 0.0, 10.0, 600_000, 498.0, 2.0);
        assert!(b.take_lease_work(3.0, 0.25).is_empty());
        assert_eq!(b.take_lease_work(2.0 + FULL_RETRY_MS, 0.25).len(), 1);
        // a grant in the next period starts a new lease; an old settlement does not touch it
        b.grant(0, 2.5, 2.5, 660_000, 60_000.0, 600.0);
        b.settle(1, 0.0);
        assert_eq!(b.room(0, 600.0), [0.0, 2.5]);
    }

    #[test]
    fn leases_resumed_ask_at_once_though_a_call_failed_while_unavailable() {
        let mut b = BudgetBook::default();
        b.set(Scope::Global, 10.0, 60_000.0, 0.0);
        b.set_fleet(FleetQuota::Leased, 0.0);
        assert_eq!(b.take_lease_work(0.0, 0.25).len(), 1);
        // the call was not answered: the process goes on its share, the failure is noted
        b.set_fleet(FleetQuota::Share(1.0), 1.0);
        b.grant(0, 0.0, 0.0, 0, 0.0, 1.0);
        assert!(b.take_lease_work(2.0, 0.25).is_empty());
        // Redis answers again: the first lease is work at once, not after FULL_RETRY_MS
        b.set_fleet(FleetQuota::Leased, 3.0);
        let w = b.take_lease_work(3.0, 0.25);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].want, 2.5);
    }

    #[test]
    fn a_grant_of_float_dust_is_a_full_period() {
        let mut b = BudgetBook::default();
        b.set(Scope::Global, 2.07, 60_000.0, 0.0);
        b.set_fleet(FleetQuota::Leased, 0.0);
        b.take_lease_work(0.0, 0.25);
        b.grant(0, 2.07, 2.07, 600_000, 30_000.0, 0.0);
        b.reserve(1, "m", None, 2.07, 0.0);
        // the period is spent: what comes back is the float sums' remainder
        assert_eq!(b.take_lease_work(0.5, 0.25).len(), 1);
        b.grant(0, 4.4e-16, 2.07, 600_000, 30_000.0, 1.0);
        assert!(b.take_lease_work(2.0, 0.25).is_empty());
        assert_eq!(b.take_lease_work(1.0 + FULL_RETRY_MS, 0.25).len(), 1);
    }

    #[test]
    fn degraded_keeps_to_the_share_and_leaving_the_lease_gives_it_back() {
        let mut b = BudgetBook::default();
        b.set(Scope::Global, 10.0, 60_000.0, 0.0);
        b.set_fleet(FleetQuota::Leased, 0.0);
        b.take_lease_work(0.0, 0.25);
        b.grant(0, 2.5, 2.5, 600_000, 30_000.0, 0.0);
        b.set_fleet(FleetQuota::Share(0.5), 5.0);
        let w = b.take_lease_work(5.0, 0.25);
        assert_eq!((w[0].want, w[0].give), (0.0, 2.5));
        b.reserve(1, "m", None, 4.0, 5.0);
        assert_eq!(b.room(0, 6.0), [4.0, 5.0]);
        assert_eq!(b.exceeded_by("m", None, 1.0, 6.0), None);
        assert_eq!(b.exceeded_by("m", None, 1.5, 6.0), Some((0, 30_000.0)));
    }
}
