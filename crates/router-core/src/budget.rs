//! Spending budgets: a limit on cost per window, over everything (`Global`), one model
//! (`Model`) or one caller key (`Key`: a team, a user, an API key). Windows are fixed
//! periods from when the budget was set; spend starts again at each period's start.
//!
//! A decision reserves its estimated cost on every budget it falls under; the call's
//! outcome settles the reservation with the real cost. So spend can pass a limit only by
//! what reservations that fitted when made turn out to cost above their estimate.

use ahash::AHashMap;

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
    /// (budget index, period start) the reservation was made in.
    on: Vec<(usize, f64)>,
}

#[derive(Clone, Debug, Default)]
pub struct BudgetBook {
    budgets: Vec<Budget>,
    pending: AHashMap<u64, Pending>,
    pending_order: std::collections::VecDeque<u64>,
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
        });
        Some(self.budgets.len() - 1)
    }

    /// The first budget a call to `model` costing `cost` would exceed, with when it resets.
    pub fn exceeded_by(
        &self,
        model: &str,
        key: Option<&str>,
        cost: f64,
        now_ms: f64,
    ) -> Option<(usize, f64)> {
        self.budgets
            .iter()
            .enumerate()
            .find(|(_, b)| b.applies(model, key) && b.spent_at(now_ms) + cost > b.limit)
            .map(|(i, b)| (i, b.resets_at(now_ms)))
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
        let mut on = Vec::new();
        for (i, b) in self.budgets.iter_mut().enumerate() {
            if b.applies(model, key) {
                b.roll(now_ms);
                b.spent += cost;
                on.push((i, b.period_ms));
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
        for (i, period) in p.on {
            if let Some(b) = self.budgets.get_mut(i) {
                if b.period_ms == period {
                    b.spent = (b.spent + cost - p.cost).max(0.0);
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
}
