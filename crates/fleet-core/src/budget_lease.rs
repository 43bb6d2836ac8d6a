//! Fleet-wide spending budgets as cost leases: a process takes a slice of a budget's limit
//! for the current period from Redis with one atomic script, spends it locally (the router
//! core's `CostLease`), asks for more below a low-water mark and gives back what it did not
//! spend. Redis is never on the decision path.
//!
//! A budget is a hash `{prefix}b:{scope}:{name}` (`scope` `g`, `m` or `k`; `name` empty for
//! the global budget) with two fields: `p`, the period's start, and `s`, the spend granted
//! in it. Periods are aligned to multiples of the window on Redis's clock (`TIME`), so every
//! process counts the same period whatever its host's clock; a grant is at most the limit
//! minus `s`. Spend given back counts only in the period it was granted in; costs above the
//! estimates are added to it. The key expires two windows after its last call.

use crate::client::{Failure, Fleet};

/// The budget script. KEYS[1] the budget; ARGV: limit, window (ms), want, give back
/// (negative: spend to add), the period the give-back belongs to (0: none). Returns
/// {granted, spent after, period start, ms left in the period}.
const SCRIPT: &str = r#"
local key = KEYS[1]
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local want, give, from = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = now - (now % window)
if redis.call('TYPE', key).ok ~= 'hash' and redis.call('EXISTS', key) == 1 then
  redis.call('DEL', key)
end
local p = tonumber(redis.call('HGET', key, 'p'))
local s = tonumber(redis.call('HGET', key, 's')) or 0
if p ~= period then s = 0 end
if from == period then
  if give > 0 then s = math.max(0, s - give) elseif give < 0 then s = s - give end
end
local g = 0
if want > 0 then g = math.max(0, math.min(want, limit - s)) end
s = s + g
redis.call('HSET', key, 'p', string.format('%d', period))
redis.call('HSET', key, 's', tostring(s))
redis.call('PEXPIRE', key, 2 * window)
return {tostring(g), tostring(s), string.format('%d', period), string.format('%d', period + window - now)}
"#;

/// Which budget: its scope (`g` global, `m` model, `k` caller key) and name.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetCall {
    pub scope: char,
    pub name: String,
    pub limit: f64,
    pub window_ms: f64,
    pub want: f64,
    /// Spend to give back (negative: to add).
    pub give: f64,
    /// The period `give` belongs to (0: none).
    pub give_period: u64,
}

/// What the fleet granted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetGrant {
    pub amount: f64,
    /// The fleet's spend in the period after this call (every process's grants).
    pub spent: f64,
    /// The period's start (ms on Redis's clock) and what is left of it.
    pub period: u64,
    pub left_ms: f64,
}

fn clean(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

impl Fleet {
    /// The key of a budget.
    pub fn budget_key(&self, scope: char, name: &str) -> String {
        format!("{}b:{scope}:{name}", self.keys().prefix())
    }

    /// Takes and gives back spend of a budget's current period. `Err(true)`: Redis
    /// unavailable; `Err(false)`: the server refused.
    pub async fn lease_budget(&self, call: &BudgetCall) -> Result<BudgetGrant, bool> {
        let give = if call.give.is_finite() {
            call.give
        } else {
            0.0
        };
        // whole milliseconds, at least one: the script's modulo and PEXPIRE need them
        let window = clean(call.window_ms).round().max(1.0) as u64;
        let cmd = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(1)
            .arg(self.budget_key(call.scope, &call.name))
            .arg(clean(call.limit))
            .arg(window)
            .arg(clean(call.want))
            .arg(give)
            .arg(call.give_period)
            .to_owned();
        let r =
            self.call(|mut conn| async move {
                conn.query::<(String, String, String, String)>(&cmd).await
            })
            .await;
        let num = |s: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .unwrap_or(0.0)
        };
        match r {
            Ok((g, s, p, left)) => Ok(BudgetGrant {
                amount: clean(num(&g)),
                spent: num(&s),
                period: num(&p).max(0.0) as u64,
                left_ms: num(&left).max(0.0),
            }),
            Err(Failure::Unavailable) => Err(true),
            Err(Failure::Server) => Err(false),
        }
    }
}
