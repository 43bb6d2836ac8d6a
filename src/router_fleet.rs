//! N-API binding of the router's fleet state: another process's model health applied to
//! this router's mirror, the probe taken over, quota leases; and the Redis calls behind them
//! (`fleet-core`'s `health_topic` and `quota_lease`). The drop-in layer (`ts/router-fleet.ts`)
//! wires them; Redis is never called from a routing decision.

use std::time::{SystemTime, UNIX_EPOCH};

use fleet_core::budget_lease::BudgetCall;
use fleet_core::health_topic::{Cooldown, HealthMessage};
use fleet_core::quota_lease::LeaseCall;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use router_core::budget::{BudgetLeaseWork, Scope};
use router_core::health::State;
use router_core::quota::{FleetQuota, LeaseWork};

use crate::errors::invalid_arg;
use crate::fleet::{promise, FleetHandle};
use crate::router::{sync_live, Handle};

fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// A peer's health as applied: `untilMs` on the router's clock.
#[napi(object)]
pub struct BindingPeerHealth {
    pub model_name: String,
    /// `rate_limited`, `ejected` or `healthy`.
    pub state: String,
    pub until_ms: f64,
}

fn apply(h: &Handle, msg: HealthMessage, now: f64) -> BindingPeerHealth {
    let mut hd = h.borrow_mut();
    let out = match msg {
        HealthMessage::Cooldown { model, cooldown } => {
            // the other process's wall-clock instant, on this router's clock
            let until = now + (cooldown.until_wall_ms() as f64 - wall_ms());
            let state = match cooldown {
                Cooldown::RateLimited { .. } => State::RateLimited,
                Cooldown::Ejected { .. } => State::Ejected,
            };
            hd.router.update_health(&model, |hl| {
                hl.set_peer(state, until);
                None
            });
            BindingPeerHealth {
                model_name: model,
                state: state.as_str().into(),
                until_ms: until,
            }
        }
        HealthMessage::Restored { model } => {
            hd.router
                .update_health(&model, |hl| hl.clear_peer(true, now));
            BindingPeerHealth {
                model_name: model,
                state: "healthy".into(),
                until_ms: now,
            }
        }
    };
    sync_live(&mut hd);
    out
}

/// Applies a message of the bus's `health` topic from another process at `now` (the
/// router's clock). Null: not a health message (ignored).
#[napi(catch_unwind)]
pub fn router_fleet_apply(
    h: &Handle,
    op: String,
    payload: String,
    now: f64,
) -> Option<BindingPeerHealth> {
    HealthMessage::decode(&op, &payload).map(|m| apply(h, m, now))
}

/// A stored cooldown read on connect, as one process holds it.
#[napi(object)]
pub struct BindingStoredCooldown {
    pub model_name: String,
    pub state: String,
    pub until_wall_ms: f64,
}

/// Applies a cooldown read from the store.
#[napi(catch_unwind)]
pub fn router_fleet_apply_stored(
    h: &Handle,
    cooldown: BindingStoredCooldown,
    now: f64,
) -> Option<BindingPeerHealth> {
    let until_wall_ms = cooldown.until_wall_ms.max(0.0) as u64;
    let c = match cooldown.state.as_str() {
        "rate_limited" => Cooldown::RateLimited { until_wall_ms },
        "ejected" => Cooldown::Ejected { until_wall_ms },
        _ => return None,
    };
    Some(apply(
        h,
        HealthMessage::Cooldown {
            model: cooldown.model_name,
            cooldown: c,
        },
        now,
    ))
}

/// This process's own health states still in force (no peer's state): rate limited or
/// ejected until `untilMs`, or a probe out (`untilMs` 0).
#[napi(catch_unwind)]
pub fn router_fleet_local_health(h: &Handle) -> Vec<BindingPeerHealth> {
    let hd = h.borrow();
    let book = hd.router.adaptive();
    book.names()
        .filter_map(|n| {
            let hl = &book.get(n)?.health;
            let state = hl.local_state();
            matches!(state, State::RateLimited | State::Ejected | State::Probing).then(|| {
                BindingPeerHealth {
                    model_name: n.to_owned(),
                    state: state.as_str().into(),
                    until_ms: hl.until_ms().unwrap_or(0.0),
                }
            })
        })
        .collect()
}

/// Drops every peer's state (the fleet state is unavailable: each process decides alone).
#[napi(catch_unwind)]
pub fn router_fleet_clear_peers(h: &Handle, now: f64) {
    let mut hd = h.borrow_mut();
    let names: Vec<String> = hd.router.adaptive().names().map(str::to_owned).collect();
    for n in names {
        hd.router.update_health(&n, |hl| hl.clear_peer(false, now));
    }
    sync_live(&mut hd);
}

/// This process won the probe of `model`, ejected by another process that did not answer:
/// its next decision probes it. False: no peer ejection holds the model any more.
#[napi(catch_unwind)]
pub fn router_fleet_take_probe(h: &Handle, model_name: String, now: f64) -> bool {
    let mut hd = h.borrow_mut();
    let mut taken = false;
    hd.router.update_health(&model_name, |hl| {
        taken = hl.take_probe(now);
        None
    });
    sync_live(&mut hd);
    taken
}

/// A peer's ejection of `model` is still held past its time (another process probes it):
/// keep the model out until `untilMs`.
#[napi(catch_unwind)]
pub fn router_fleet_extend_peer(h: &Handle, model_name: String, until_ms: f64) {
    let mut hd = h.borrow_mut();
    hd.router.update_health(&model_name, |hl| {
        if hl.peer().is_some_and(|p| p.state == State::Ejected) {
            hl.set_peer(State::Ejected, until_ms);
        }
        None
    });
    sync_live(&mut hd);
}

/// Where quotas are enforced: `local`, `leased` (the fleet's window), or `share` (this
/// process's `share` of each limit, the fleet state being unavailable).
#[napi(catch_unwind)]
pub fn router_fleet_quota_mode(h: &Handle, mode: String, share: f64, now: f64) -> Result<()> {
    let m = match mode.as_str() {
        "local" => FleetQuota::Local,
        "leased" => FleetQuota::Leased,
        "share" => FleetQuota::Share(share),
        _ => return Err(invalid_arg("mode must be local, leased or share")),
    };
    let mut hd = h.borrow_mut();
    hd.router.quotas_mut().set_fleet(m, now);
    hd.router.budgets_mut().set_fleet(m, now);
    // the layer's memo admits from the room it last read: not to be trusted past a change
    // of where the limit is kept
    crate::router::distrust_capacity(&mut hd);
    Ok(())
}

/// Lease work for one model: what to take from its fleet window and what to give back.
#[napi(object)]
pub struct BindingLeaseWork {
    pub model_name: String,
    pub rpm: Option<f64>,
    pub tpm: Option<f64>,
    pub want_requests: f64,
    pub want_tokens: f64,
    pub return_requests: f64,
    pub return_tokens: f64,
    pub return_from: f64,
    /// The model's first ask since it appeared or leases (re)started: decisions wait for it.
    pub first: bool,
}

fn to_js_work(h: &Handle, work: Vec<LeaseWork>) -> Vec<BindingLeaseWork> {
    let hd = h.borrow();
    work.into_iter()
        .map(|w| {
            let q = hd.router.quotas().quota(&w.name).unwrap_or_default();
            BindingLeaseWork {
                rpm: q.rpm,
                tpm: q.tpm,
                want_requests: w.want_requests,
                want_tokens: w.want_tokens,
                return_requests: w.return_requests,
                return_tokens: w.return_tokens,
                return_from: w.return_from as f64,
                first: w.first,
                model_name: w.name,
            }
        })
        .collect()
}

/// The share of a limit one refill asks for: `slice` within (0, 1], else 5%.
fn lease_slice(slice: f64) -> f64 {
    if slice.is_finite() && slice > 0.0 {
        slice.min(1.0)
    } else {
        0.05
    }
}

/// The lease work waiting (refills below the low-water mark, lapsed capacity): a refill
/// asks for `slice` of each limit (at least one request, and one request's tokens).
#[napi(catch_unwind)]
pub fn router_fleet_lease_work(h: &Handle, now: f64, slice: f64) -> Vec<BindingLeaseWork> {
    let slice = lease_slice(slice);
    let work = {
        let mut hd = h.borrow_mut();
        if !hd.router.quotas().has_lease_work() && !hd.router.quotas().has_lapsed(now) {
            return Vec::new();
        }
        hd.router.quotas_mut().take_lease_work(now, &|q| {
            (
                q.rpm.map_or(0.0, |r| (r * slice).ceil().max(1.0)),
                q.tpm.map_or(0.0, |t| (t * slice).ceil().max(1.0)),
            )
        })
    };
    to_js_work(h, work)
}

/// Whether a decision refused at `now` found a quota or budget short only of a lease whose
/// refill is asked for or out (not a spent window or period, not a cooldown): worth waiting
/// for that refill once.
#[napi(catch_unwind)]
pub fn router_fleet_lease_short(h: &Handle, now: f64) -> bool {
    let hd = h.borrow();
    hd.router.quotas().lease_short_at(now) || hd.router.budgets().lease_short_at(now)
}

/// The fleet granted capacity to `model` (zeros: its window is full).
#[napi(catch_unwind)]
pub fn router_fleet_grant(
    h: &Handle,
    model_name: String,
    requests: f64,
    tokens: f64,
    mark: f64,
    now: f64,
) {
    let mark = if mark.is_finite() && mark > 0.0 {
        mark as u64
    } else {
        0
    };
    let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
    h.borrow_mut().router.quotas_mut().grant(
        &model_name,
        clean(requests),
        clean(tokens),
        mark,
        now,
    );
}

/// Every unspent lease, to give back (shutdown).
#[napi(catch_unwind)]
pub fn router_fleet_release_all(h: &Handle, now: f64) -> Vec<BindingLeaseWork> {
    let work = h.borrow_mut().router.quotas_mut().release_all(now);
    to_js_work(h, work)
}

/// Lease work for one budget: what to take from the fleet's spend in its period and what
/// to give back.
#[napi(object)]
pub struct BindingBudgetWork {
    /// The budget's index.
    pub budget: u32,
    /// `g` global, `m` model, `k` caller key.
    pub scope: String,
    pub name: String,
    pub limit: f64,
    pub window_ms: f64,
    pub want: f64,
    pub give: f64,
    pub give_period: f64,
    /// The budget's first ask since it was set or leases (re)started: decisions wait for it.
    pub first: bool,
}

fn to_js_budget_work(h: &Handle, work: Vec<BudgetLeaseWork>) -> Vec<BindingBudgetWork> {
    let hd = h.borrow();
    let budgets = hd.router.budgets().budgets();
    work.into_iter()
        .filter_map(|w| {
            let b = budgets.get(w.budget)?;
            let (scope, name) = match &b.scope {
                Scope::Global => ("g", String::new()),
                Scope::Model(n) => ("m", n.clone()),
                Scope::Key(n) => ("k", n.clone()),
            };
            Some(BindingBudgetWork {
                budget: w.budget as u32,
                scope: scope.into(),
                name,
                limit: b.limit,
                window_ms: b.window_ms,
                want: w.want,
                give: w.give,
                give_period: w.give_period as f64,
                first: w.first,
            })
        })
        .collect()
}

/// The budgets' lease work waiting (refills of `slice` of each limit, lapsed spend).
#[napi(catch_unwind)]
pub fn router_fleet_budget_work(h: &Handle, now: f64, slice: f64) -> Vec<BindingBudgetWork> {
    let slice = lease_slice(slice);
    let work = {
        let mut hd = h.borrow_mut();
        if hd.router.budgets().is_empty() {
            return Vec::new();
        }
        hd.router.budgets_mut().take_lease_work(now, slice)
    };
    to_js_budget_work(h, work)
}

/// The fleet granted `amount` of budget `budget`'s period `period` (which ends `leftMs`
/// from now), its spend being `spent` after the grant.
#[napi(catch_unwind)]
pub fn router_fleet_budget_grant(
    h: &Handle,
    budget: u32,
    amount: f64,
    spent: f64,
    period: f64,
    left_ms: f64,
    now: f64,
) {
    let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
    h.borrow_mut().router.budgets_mut().grant(
        budget as usize,
        clean(amount),
        clean(spent),
        clean(period) as u64,
        clean(left_ms),
        now,
    );
}

/// Every budget's unspent lease, to give back (shutdown).
#[napi(catch_unwind)]
pub fn router_fleet_release_budgets(h: &Handle, now: f64) -> Vec<BindingBudgetWork> {
    let work = h.borrow_mut().router.budgets_mut().release_all(now);
    to_js_budget_work(h, work)
}

/// What a budget lease call got: `state` as `BindingGrant`'s, the spend granted, the
/// fleet's spend after it, the period (ms on Redis's clock) and the ms left in it.
#[napi(object)]
pub struct BindingBudgetGrant {
    pub state: String,
    pub amount: f64,
    pub spent: f64,
    pub period: f64,
    pub left_ms: f64,
}

/// Takes and gives back spend of a budget's fleet period (one script, one round trip).
#[napi(catch_unwind, ts_return_type = "Promise<BindingBudgetGrant>")]
pub fn fleet_lease_budget<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    work: BindingBudgetWork,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    let call = BudgetCall {
        scope: match work.scope.as_str() {
            "m" => 'm',
            "k" => 'k',
            _ => 'g',
        },
        name: work.name,
        limit: work.limit,
        window_ms: work.window_ms,
        want: work.want,
        give: work.give,
        give_period: work.give_period.max(0.0) as u64,
    };
    promise(
        env,
        async move { fleet.lease_budget(&call).await },
        |r| match r {
            Ok(g) => BindingBudgetGrant {
                state: "granted".into(),
                amount: g.amount,
                spent: g.spent,
                period: g.period as f64,
                left_ms: g.left_ms,
            },
            Err(unavailable) => BindingBudgetGrant {
                state: if unavailable {
                    "unavailable"
                } else {
                    "refused"
                }
                .into(),
                amount: 0.0,
                spent: 0.0,
                period: 0.0,
                left_ms: 0.0,
            },
        },
    )
}

/// Publishes this process's cooldown of `model` (`rate_limited`/`ejected` until
/// `untilWallMs`, kept `keepMs` longer in the store) or its end (`healthy`).
#[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
pub fn fleet_publish_health<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    model_name: String,
    state: String,
    until_wall_ms: f64,
    keep_ms: f64,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    let until_wall_ms = until_wall_ms.max(0.0) as u64;
    let keep = keep_ms.clamp(0.0, 86_400_000.0) as u64;
    let cooldown = match state.as_str() {
        "rate_limited" => Some(Cooldown::RateLimited { until_wall_ms }),
        "ejected" => Some(Cooldown::Ejected { until_wall_ms }),
        "healthy" => None,
        _ => {
            return Err(invalid_arg(
                "state must be rate_limited, ejected or healthy",
            ))
        }
    };
    promise(
        env,
        async move {
            match cooldown {
                Some(c) => {
                    fleet
                        .publish_cooldown(&model_name, c, wall_ms() as u64, keep)
                        .await
                }
                None => fleet.publish_restored(&model_name).await,
            }
        },
        |ok| ok,
    )
}

#[napi(object)]
pub struct BindingStoredHealth {
    pub cooldowns: Vec<BindingStoredCooldown>,
    pub garbage: u32,
}

/// The cooldowns stored now (null: Redis unavailable).
#[napi(catch_unwind, ts_return_type = "Promise<BindingStoredHealth | null>")]
pub fn fleet_load_health<'e>(env: &'e Env, h: &External<FleetHandle>) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    promise(env, async move { fleet.load_health().await }, |stored| {
        stored.map(|s| BindingStoredHealth {
            garbage: s.garbage as u32,
            cooldowns: s
                .cooldowns
                .into_iter()
                .map(|(model_name, c)| BindingStoredCooldown {
                    model_name,
                    state: c.state().into(),
                    until_wall_ms: c.until_wall_ms() as f64,
                })
                .collect(),
        })
    })
}

/// Tries to take the probe of `model`: 1 this process probes, 0 another does, -1 Redis
/// unavailable.
#[napi(catch_unwind, ts_return_type = "Promise<number>")]
pub fn fleet_take_probe_lock<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    model_name: String,
    lease_ms: f64,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    let lease = lease_ms.clamp(1.0, 86_400_000.0) as u64;
    promise(
        env,
        async move { fleet.take_probe_lock(&model_name, lease).await },
        |r| match r {
            Some(true) => 1,
            Some(false) => 0,
            None => -1,
        },
    )
}

/// What a lease call got: `state` `granted` (with the capacity and its mark),
/// `unavailable` (Redis down or slow) or `refused` (the server refused the script).
#[napi(object)]
pub struct BindingGrant {
    pub state: String,
    pub requests: f64,
    pub tokens: f64,
    pub mark: f64,
}

/// Takes and gives back capacity of a model's fleet window (one script, one round trip).
#[napi(catch_unwind, ts_return_type = "Promise<BindingGrant>")]
pub fn fleet_lease<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    work: BindingLeaseWork,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    let call = LeaseCall {
        rpm: work.rpm,
        tpm: work.tpm,
        want_requests: work.want_requests,
        want_tokens: work.want_tokens,
        return_requests: work.return_requests,
        return_tokens: work.return_tokens,
        return_second: work.return_from.max(0.0) as u64,
    };
    let model = work.model_name;
    promise(
        env,
        async move { fleet.lease(&model, call).await },
        |r| match r {
            Ok(g) => BindingGrant {
                state: "granted".into(),
                requests: g.requests,
                tokens: g.tokens,
                mark: g.second as f64,
            },
            Err(unavailable) => BindingGrant {
                state: if unavailable {
                    "unavailable"
                } else {
                    "refused"
                }
                .into(),
                requests: 0.0,
                tokens: 0.0,
                mark: 0.0,
            },
        },
    )
}

/// Says this process is alive for `ttlMs`; resolves with the live processes (0: Redis
/// unavailable).
#[napi(catch_unwind, ts_return_type = "Promise<number>")]
pub fn fleet_heartbeat<'e>(
    env: &'e Env,
    h: &External<FleetHandle>,
    ttl_ms: f64,
) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    let ttl = ttl_ms.clamp(1.0, 3_600_000.0) as u64;
    promise(
        env,
        async move { fleet.heartbeat(wall_ms() as u64, ttl).await },
        |n| n.map_or(0.0, |n| n as f64),
    )
}

/// This process leaves the live set (shutdown).
#[napi(catch_unwind, ts_return_type = "Promise<void>")]
pub fn fleet_leave<'e>(env: &'e Env, h: &External<FleetHandle>) -> Result<Object<'e>> {
    let fleet = h.fleet.clone();
    promise(env, async move { fleet.leave().await }, |_| ())
}
