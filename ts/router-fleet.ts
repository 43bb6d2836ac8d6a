/**
 * The fleet state of `ModelRouter` (its `redis` option): one view of model health and one
 * set of quotas for every process of an application.
 *
 * - Health: each change of this router's own health state machine (rate limited or ejected
 *   until a time, a probe out, restored) is published on the bus's `health` topic and
 *   stored under the prefix with its expiry. Other processes' changes are applied to the
 *   router core's peer state, so a decision honours another process's ejection without a
 *   Redis call. The process whose ejection it is probes the model; the others keep it out
 *   until its restored (or new) message, or until the stored state would have expired —
 *   then one of them takes the probe with a `SET NX PX` lock, from the work timer, never
 *   from a decision. On (re)subscription the stored cooldowns are read again.
 * - Quotas (`rpm`, `tpm`) and budgets (`setBudget`): the router core spends leases; the work
 *   timer sends the refills it asks for (one Lua script per model or budget and refill),
 *   gives back lapsed capacity and, on `shutdown()`, whatever is unspent.
 * - Degraded (Redis down or slower than `timeoutMs`): peers' states are dropped (each
 *   process decides alone) and each process keeps to its share of every quota (limit /
 *   live processes last seen in the heartbeat set); `fleet_degraded` fires once,
 *   `fleet_restored` after, when this process publishes the health states it holds (its
 *   changes while degraded reached no one).
 *
 * Everything Redis-side lives in `crates/fleet-core` (`health_topic.rs`, `quota_lease.rs`);
 * the peer state and the leases in `crates/router-core`; the binding is `src/router_fleet.rs`.
 */
import { native } from './native'
import type { fleetOptions } from './fleet-cache'
import { weakInterval } from './weak-interval'

type RouterHandle = ReturnType<typeof native.routerCreate>
type FleetHandle = ReturnType<typeof native.fleetConnect>
type FleetOptions = NonNullable<ReturnType<typeof fleetOptions>>
type NativeEvent = Parameters<Parameters<typeof native.fleetConnect>[1]>[0]
type LeaseWork = ReturnType<typeof native.routerFleetLeaseWork>[number]
type BudgetWork = ReturnType<typeof native.routerFleetBudgetWork>[number]

/** What the fleet state needs of the router that owns it. */
export interface RouterFleetHost {
  /** The router's native handle. */
  readonly handle: RouterHandle
  /** The router's clock (ms). */
  now(): number
  /** Takes and emits the health events Rust holds (a peer's restore may have made some). */
  drainHealth(): void
  /** Emits when someone listens. */
  emit(event: string, payload?: unknown): void
}

/** How often the work timer runs: takeovers due, lease refills and give-backs. */
const WORK_MS = 10
/** Heartbeats: every second, alive for three. */
const HEARTBEAT_MS = 1000
const HEARTBEAT_TTL_MS = 3000
/** Peer ejections held at most (one per model name; a bound on what messages may fill). */
const MAX_HOLDS = 4096

/** A health event of this router (see `native.routerTakeHealthEvents`). */
interface OwnChange {
  modelName?: unknown
  from?: unknown
  to?: unknown
  untilMs?: unknown
}

export class RouterFleet {
  #handle: FleetHandle | null
  readonly #host: RouterFleetHost
  readonly #probeTimeoutMs: number
  /** Peer ejections: model → when (router clock) this process may take the probe. */
  readonly #holds = new Map<string, number>()
  /** Models whose probe lock is being asked for. */
  readonly #asking = new Set<string>()
  /** Lease calls out (quotas, budgets). */
  #leasing = 0
  #budgetLeasing = 0
  #live = 1
  #degraded = false
  #lastBeat = -Infinity
  readonly #timer: NodeJS.Timeout

  constructor(options: FleetOptions, host: RouterFleetHost, probeTimeoutMs: number) {
    this.#host = host
    this.#probeTimeoutMs = probeTimeoutMs
    // the router's options (and any apiKey in its model configs) never reach this call
    this.#handle = native.fleetConnect({ ...options, compression: false, maxValueBytes: 0 }, RouterFleet.#onEvent(new WeakRef(this)))
    native.routerFleetQuotaMode(host.handle, 'leased', 1, host.now())
    this.#timer = weakInterval(this, WORK_MS, RouterFleet.#workTick)
  }

  // Built outside the constructor: the native side must not keep a dropped router alive.
  static #onEvent(ref: WeakRef<RouterFleet>): (e: NativeEvent) => void {
    return (e) => {
      const fleet = ref.deref()
      if (fleet !== undefined) fleet.#event(e)
    }
  }

  static #workTick(fleet: RouterFleet): void {
    fleet.#work()
  }

  #event(e: NativeEvent): void {
    if (this.#handle === null) return
    const h = this.#host.handle
    switch (e.kind) {
      case 'degraded': {
        this.#degraded = true
        const now = this.#host.now()
        native.routerFleetClearPeers(h, now)
        this.#holds.clear()
        native.routerFleetQuotaMode(h, 'share', 1 / this.#live, now)
        this.#host.emit('fleet_degraded', { reason: e.detail })
        break
      }
      case 'restored':
        this.#degraded = false
        native.routerFleetQuotaMode(h, 'leased', 1, this.#host.now())
        this.#publishLocal()
        this.#loadStored()
        this.#host.emit('fleet_restored', { downMs: e.value })
        break
      case 'subscribed':
        // messages may have been missed while unsubscribed: read the stored cooldowns
        this.#loadStored()
        break
      case 'message':
        if (e.topic === 'health') {
          const applied = native.routerFleetApply(h, e.op ?? '', e.detail ?? '', this.#host.now())
          if (applied !== null) this.#applied(applied.modelName, applied.state, applied.untilMs)
        }
        break
    }
  }

  /** Tracks a peer's state applied to the router (for the takeover of its probe), and says so. */
  #applied(model: string, state: string, untilMs: number): void {
    if (state === 'ejected') {
      if (this.#holds.size < MAX_HOLDS || this.#holds.has(model)) this.#holds.set(model, untilMs + this.#probeTimeoutMs)
    } else {
      this.#holds.delete(model)
    }
    this.#host.drainHealth()
    this.#host.emit('fleet_health', { modelName: model, state, untilMs: state === 'healthy' ? undefined : untilMs })
  }

  #loadStored(): void {
    const fh = this.#handle
    if (fh === null) return
    native.fleetLoadHealth(fh).then(
      (stored) => {
        if (stored === null || this.#handle === null) return
        const now = this.#host.now()
        for (const c of stored.cooldowns) {
          const applied = native.routerFleetApplyStored(this.#host.handle, c, now)
          if (applied !== null) this.#applied(applied.modelName, applied.state, applied.untilMs)
        }
      },
      () => {},
    )
  }

  /** This router's own health changes, as `#drainHealth` took them: published. */
  published(events: OwnChange[]): void {
    const fh = this.#handle
    if (fh === null || this.#degraded) return
    const now = this.#host.now()
    const wall = Date.now()
    for (const e of events) {
      const model = e.modelName
      if (typeof model !== 'string') continue
      let p: Promise<boolean> | undefined
      if ((e.to === 'rate_limited' || e.to === 'ejected') && typeof e.untilMs === 'number') {
        // an ejection stays stored while its probe may be out, so a late joiner holds it too
        const keep = e.to === 'ejected' ? this.#probeTimeoutMs : 0
        p = native.fleetPublishHealth(fh, model, e.to, wall + Math.max(0, e.untilMs - now), keep)
      } else if (e.to === 'probing') {
        p = native.fleetPublishHealth(fh, model, 'ejected', wall + this.#probeTimeoutMs, 0)
      } else if (e.to === 'healthy' && (e.from === 'ejected' || e.from === 'probing')) {
        p = native.fleetPublishHealth(fh, model, 'healthy', 0, 0)
      }
      p?.catch(() => {})
    }
  }

  /** This router's own health states still in force (changes made while degraded were not published): published and stored, so peers learn them. */
  #publishLocal(): void {
    const own = native.routerFleetLocalHealth(this.#host.handle)
    this.published(own.map((r) => ({ modelName: r.modelName, from: 'healthy', to: r.state, untilMs: r.untilMs })))
  }

  /** The work timer: takeovers due, lease refills and give-backs, the heartbeat. */
  #work(): void {
    const fh = this.#handle
    if (fh === null) return
    const h = this.#host.handle
    const now = this.#host.now()
    if (!this.#degraded) {
      for (const [model, at] of this.#holds) {
        if (at > now || this.#asking.has(model)) continue
        this.#asking.add(model)
        native.fleetTakeProbeLock(fh, model, this.#probeTimeoutMs).then(
          (r) => this.#probeLock(model, r),
          () => this.#asking.delete(model),
        )
      }
    }
    if (this.#leasing === 0) {
      const work = native.routerFleetLeaseWork(h, now, Math.max(0.01, 0.25 / this.#live))
      for (const w of work) this.#lease(fh, w)
    }
    if (this.#budgetLeasing === 0) {
      const work = native.routerFleetBudgetWork(h, now, Math.max(0.01, 0.25 / this.#live))
      for (const w of work) this.#leaseBudget(fh, w)
    }
    const wall = Date.now()
    if (wall - this.#lastBeat >= HEARTBEAT_MS) {
      this.#lastBeat = wall
      native.fleetHeartbeat(fh, HEARTBEAT_TTL_MS).then(
        (n) => {
          if (n > 0) this.#live = n
        },
        () => {},
      )
    }
  }

  #probeLock(model: string, r: number): void {
    this.#asking.delete(model)
    if (this.#handle === null || !this.#holds.has(model)) return
    const now = this.#host.now()
    if (r === 1) {
      // this process probes: its next decision naming the model is the probe
      this.#holds.delete(model)
      native.routerFleetTakeProbe(this.#host.handle, model, now)
    } else if (r === 0) {
      // another process probes: wait for its word, at most another probe's time
      this.#holds.set(model, now + this.#probeTimeoutMs)
      native.routerFleetExtendPeer(this.#host.handle, model, now + this.#probeTimeoutMs)
    }
  }

  #lease(fh: FleetHandle, w: LeaseWork): void {
    this.#leasing++
    native.fleetLease(fh, w).then(
      (g) => {
        this.#leasing--
        if (this.#handle === null) return
        native.routerFleetGrant(this.#host.handle, w.modelName, g.requests, g.tokens, g.mark, this.#host.now())
      },
      () => {
        this.#leasing--
        if (this.#handle !== null) native.routerFleetGrant(this.#host.handle, w.modelName, 0, 0, 0, this.#host.now())
      },
    )
  }

  #leaseBudget(fh: FleetHandle, w: BudgetWork): void {
    this.#budgetLeasing++
    const done = (amount: number, spent: number, period: number, leftMs: number): void => {
      this.#budgetLeasing--
      if (this.#handle !== null) native.routerFleetBudgetGrant(this.#host.handle, w.budget, amount, spent, period, leftMs, this.#host.now())
    }
    native.fleetLeaseBudget(fh, w).then(
      (g) => done(g.amount, g.spent, g.period, g.leftMs),
      () => done(0, 0, 0, 0),
    )
  }

  /** Gives back unspent leases, leaves the live set and closes the connection. */
  close(): void {
    const fh = this.#handle
    if (fh === null) return
    this.#handle = null
    clearInterval(this.#timer)
    const back = native.routerFleetReleaseAll(this.#host.handle, this.#host.now())
    const calls: Promise<unknown>[] = back.map((w) => native.fleetLease(fh, w))
    for (const w of native.routerFleetReleaseBudgets(this.#host.handle, this.#host.now())) calls.push(native.fleetLeaseBudget(fh, w))
    calls.push(native.fleetLeave(fh))
    Promise.allSettled(calls).then(() => native.fleetClose(fh))
  }
}
