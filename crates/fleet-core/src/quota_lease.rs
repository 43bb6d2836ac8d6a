//! Fleet-wide quotas (`rpm`, `tpm`) as leases: a process takes a slice of a model's window
//! from Redis with one atomic script, spends it locally (the router core's lease), asks for
//! more below a low-water mark and gives back what it did not spend. Redis is never on the
//! decision path.
//!
//! The window is a hash per model (`{prefix}q:{tag}:{model}`): fields `r{second}` and
//! `t{second}` count the requests and tokens granted in that second of Redis's clock
//! (`TIME`, so hosts' clocks do not matter). A grant is at most the limit minus the sum over
//! the last [`WINDOW_S`] seconds: 60 s plus the time a lease may be spent, so a request sent
//! late in a lease's life still counts for a full 60 s after it was sent. Capacity given
//! back is taken off the second it was granted in (never below zero, never from a second
//! that left the window); tokens used beyond the estimates are added to the current second.

use crate::client::{Failure, Fleet};

/// Seconds a grant counts: the 60 s window plus a lease's life (2 s) plus one for the
/// second's rounding.
pub const WINDOW_S: u64 = 63;

/// The lease script. KEYS[1] the window; ARGV: rpm, tpm (-1: none), want requests, want
/// tokens, give back requests, give back tokens (negative: tokens to add), the second the
/// give-back was granted in (0: none). Returns {requests, tokens, second} granted.
const SCRIPT: &str = r#"
local key = KEYS[1]
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local want_r, want_t = tonumber(ARGV[3]), tonumber(ARGV[4])
local give_r, give_t, from = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[8])
if redis.call('TYPE', key).ok ~= 'hash' and redis.call('EXISTS', key) == 1 then
  redis.call('DEL', key)
end
local h = redis.call('HGETALL', key)
local used_r, used_t = 0, 0
local old = {}
local vals = {}
for i = 1, #h, 2 do
  local f = h[i]
  local s = tonumber(string.sub(f, 2))
  local v = tonumber(h[i + 1])
  local kind = string.sub(f, 1, 1)
  if s == nil or v == nil or (kind ~= 'r' and kind ~= 't') or s <= now - window then
    old[#old + 1] = f
  else
    vals[f] = v
    if kind == 'r' then used_r = used_r + v else used_t = used_t + v end
  end
end
if #old > 0 then redis.call('HDEL', key, unpack(old)) end
local function take(kind, n)
  if n <= 0 or from <= now - window then return 0 end
  local f = kind .. from
  local have = vals[f] or 0
  local back = math.min(n, have)
  if back > 0 then redis.call('HINCRBYFLOAT', key, f, -back) end
  return back
end
used_r = used_r - take('r', give_r)
if give_t > 0 then
  used_t = used_t - take('t', give_t)
elseif give_t < 0 then
  redis.call('HINCRBYFLOAT', key, 't' .. now, -give_t)
  used_t = used_t - give_t
end
local gr, gt = 0, 0
if rpm >= 0 and want_r > 0 then gr = math.max(0, math.min(want_r, rpm - used_r)) end
if tpm >= 0 and want_t > 0 then gt = math.max(0, math.min(want_t, tpm - used_t)) end
-- a request needs both: no tokens granted without a request, nor the reverse
if rpm >= 0 and tpm >= 0 and (gr == 0 or gt == 0) then gr, gt = 0, 0 end
if gr > 0 then redis.call('HINCRBYFLOAT', key, 'r' .. now, gr) end
if gt > 0 then redis.call('HINCRBYFLOAT', key, 't' .. now, gt) end
redis.call('PEXPIRE', key, window * 1000)
return {tostring(gr), tostring(gt), now}
"#;

/// One lease call: what to take and what to give back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaseCall {
    pub rpm: Option<f64>,
    pub tpm: Option<f64>,
    pub want_requests: f64,
    pub want_tokens: f64,
    pub return_requests: f64,
    pub return_tokens: f64,
    /// The Redis second the returned capacity was granted in (0: none).
    pub return_second: u64,
}

/// What the fleet granted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Granted {
    pub requests: f64,
    pub tokens: f64,
    /// The Redis second it counts in (give it back there).
    pub second: u64,
}

/// Finite and not negative, else zero (nothing odd reaches the script).
fn clean(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

impl Fleet {
    /// Takes and gives back capacity of `model`'s fleet window. `Err(true)`: Redis
    /// unavailable (the caller keeps to its share); `Err(false)`: the server refused (the
    /// caller grants itself nothing this time).
    pub async fn lease(&self, model: &str, call: LeaseCall) -> Result<Granted, bool> {
        let key = self.keys().quota(model);
        let limit = |x: Option<f64>| x.map_or(-1.0, clean);
        let rt = call.return_tokens;
        let rt = if rt.is_finite() { rt } else { 0.0 };
        let cmd = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(1)
            .arg(&key)
            .arg(limit(call.rpm))
            .arg(limit(call.tpm))
            .arg(clean(call.want_requests))
            .arg(clean(call.want_tokens))
            .arg(clean(call.return_requests))
            .arg(rt)
            .arg(call.return_second)
            .arg(WINDOW_S)
            .to_owned();
        let r = self
            .call(|mut conn| async move { conn.query::<(String, String, u64)>(&cmd).await })
            .await;
        match r {
            Ok((r, t, second)) => Ok(Granted {
                requests: r.parse::<f64>().map_or(0.0, clean),
                tokens: t.parse::<f64>().map_or(0.0, clean),
                second,
            }),
            Err(Failure::Unavailable) => Err(true),
            Err(Failure::Server) => Err(false),
        }
    }

    /// Says this process is alive for `ttl_ms` more, and returns how many are (itself
    /// included). None: Redis unavailable.
    pub async fn heartbeat(&self, now_wall_ms: u64, ttl_ms: u64) -> Option<u64> {
        let key = self.keys().heartbeats();
        let origin = format!("{:016x}", self.origin());
        let cmds = [
            redis::cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(now_wall_ms)
                .to_owned(),
            redis::cmd("ZADD")
                .arg(&key)
                .arg(now_wall_ms + ttl_ms)
                .arg(&origin)
                .to_owned(),
            redis::cmd("ZCARD").arg(&key).to_owned(),
            redis::cmd("PEXPIRE").arg(&key).arg(ttl_ms * 4).to_owned(),
        ];
        let r = self
            .call(|conn| async move { conn.batch::<redis::Value>(&cmds).await })
            .await;
        match r {
            Ok(v) => match v.get(2) {
                Some(Ok(redis::Value::Int(n))) => Some((*n).max(1) as u64),
                // the key is not a sorted set (garbage): replaced next time
                _ => {
                    let _ = self
                        .call(|mut conn| async move {
                            conn.query::<i64>(&redis::cmd("DEL").arg(&key).to_owned())
                                .await
                        })
                        .await;
                    Some(1)
                }
            },
            Err(_) => None,
        }
    }

    /// This process leaves the set of live ones (shutdown).
    pub async fn leave(&self) {
        let cmd = redis::cmd("ZREM")
            .arg(self.keys().heartbeats())
            .arg(format!("{:016x}", self.origin()))
            .to_owned();
        let _ = self
            .call(|mut conn| async move { conn.query::<i64>(&cmd).await })
            .await;
    }
}
