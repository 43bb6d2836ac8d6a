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
 *   gives back lapsed capacity and, on `shutdown()`, whatever is unspent. A limit's first
 *   lease is asked for as soon as the limit is known (a new model set, `setBudget`, leases
 *   resumed): a decision made while one is out waits for it (`warming`), and one refused
 *   for want of a lease whose refill is out waits for that (`refill`). The router core
 *   flags first asks and says when a refusal was for want of a lease. A wait ends when the
 *   calls out are answered, at most `2 × timeoutMs + WORK_MS` (a call answers or fails
 *   within `timeoutMs`; one more round may follow for a limit that appeared meanwhile). A lease call Redis does not answer in time puts the process on its share
 *   of every limit at once, before the `degraded` event arrives.
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
  /** First-lease calls out: decisions wait while any is. */
  #firstOut = 0
  /** Decisions waiting for the lease calls out, and when they stop waiting regardless. */
  #wait: Promise<void> | null = null
  #endWait: (() => void) | null = null
  #waitTimer: NodeJS.Timeout | undefined
  /** Lease batches sent for the wait after its first was answered (at most one). */
  #waitRounds = 0
  /** A wait's bound, `2 × timeoutMs + WORK_MS`: one lease call answers or fails within `timeoutMs`; a second round may follow one that found more work (a limit that appeared meanwhile). */
  readonly #waitMs: number
  #live = 1
  #degraded = false
  /** A lease call went unanswered while not degraded: on the share until Redis answers. */
  #fallback = false
  #beating = false
  #lastBeat = -Infinity
  readonly #timer: NodeJS.Timeout

  constructor(options: FleetOptions, host: RouterFleetHost, probeTimeoutMs: number) {
    this.#host = host
    this.#probeTimeoutMs = probeTimeoutMs
    this.#waitMs = 2 * options.timeoutMs + WORK_MS
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
        this.#fallback = false
        const now = this.#host.now()
        native.routerFleetClearPeers(h, now)
        this.#holds.clear()
        native.routerFleetQuotaMode(h, 'share', 1 / this.#live, now)
        this.#host.emit('fleet_degraded', { reason: e.detail })
        break
      }
      case 'restored':
        this.#degraded = false
        this.#fallback = false
        this.#resumeLeases()
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
    this.#sendLeases(fh, now)
    const wall = Date.now()
    // on the fallback share, a beat is what tells that Redis answers again
    if ((wall - this.#lastBeat >= HEARTBEAT_MS || this.#fallback) && !this.#beating) {
      this.#lastBeat = wall
      this.#beating = true
      native.fleetHeartbeat(fh, HEARTBEAT_TTL_MS).then(
        (n) => {
          this.#beating = false
          if (n > 0) this.#live = n
          if (n > 0 && this.#fallback && !this.#degraded && this.#handle !== null) {
            this.#fallback = false
            this.#resumeLeases()
          }
        },
        () => {
          this.#beating = false
        },
      )
    }
  }

  /** Sends the lease work the router core holds (one batch of quota calls and one of budget calls out at a time). */
  #sendLeases(fh: FleetHandle, now: number): void {
    const h = this.#host.handle
    if (this.#leasing === 0) {
      const work = native.routerFleetLeaseWork(h, now, Math.max(0.01, 0.25 / this.#live))
      for (const w of work) this.#lease(fh, w)
    }
    if (this.#budgetLeasing === 0) {
      const work = native.routerFleetBudgetWork(h, now, Math.max(0.01, 0.25 / this.#live))
      for (const w of work) this.#leaseBudget(fh, w)
    }
  }

  /** Leases (again): every limit's first lease is asked for at once. */
  #resumeLeases(): void {
    native.routerFleetQuotaMode(this.#host.handle, 'leased', 1, this.#host.now())
    this.prefetch()
  }

  /** Asks now for the leases the router core wants (called when limits appear: a new model set, `setBudget`). */
  prefetch(): void {
    const fh = this.#handle
    if (fh !== null && !this.#degraded && !this.#fallback) this.#sendLeases(fh, this.#host.now())
  }

  /** While a limit's first lease is out: a promise that settles when the lease calls out are answered (at most `2 × timeoutMs + WORK_MS`). Else null, at no cost. */
  warming(): Promise<void> | null {
    return this.#firstOut > 0 ? this.#waitLeases() : null
  }

  /** After a decision was refused at `now`: when the router core found a limit short only of a lease, sends the refills it asked for and returns a promise that settles when the lease calls out are answered (bounded as `warming`); null when the refusal was for something else or no call is out (the refusal stands). */
  refill(now: number): Promise<void> | null {
    const fh = this.#handle
    if (fh === null || !native.routerFleetLeaseShort(this.#host.handle, now)) return null
    if (this.#wait === null && !this.#degraded && !this.#fallback) this.#sendLeases(fh, this.#host.now())
    return this.#leasing + this.#budgetLeasing > 0 ? this.#waitLeases() : null
  }

  /** One promise for every waiting decision. Its timer does not hold the process: a lease call out does, for at most `timeoutMs`. */
  #waitLeases(): Promise<void> {
    if (this.#wait !== null) return this.#wait
    this.#waitRounds = 0
    this.#wait = new Promise<void>((resolve) => {
      this.#endWait = resolve
    })
    this.#waitTimer = setTimeout(RouterFleet.#waitOver, this.#waitMs, new WeakRef(this))
    this.#waitTimer.unref()
    return this.#wait
  }

  static #waitOver(ref: WeakRef<RouterFleet>): void {
    const fleet = ref.deref()
    if (fleet !== undefined) fleet.#stopWaiting()
  }

  #stopWaiting(): void {
    const end = this.#endWait
    this.#wait = null
    this.#endWait = null
    clearTimeout(this.#waitTimer)
    this.#waitTimer = undefined
    end?.()
  }

  /**
   * A lease call Redis did not answer in time: each limit's share now (the `degraded` event
   * follows), so the decisions waiting for it proceed. A call skipped while a cluster is
   * still connecting leaves the limits leased: the share would be granted outside the
   * fleet's window by every process starting at once.
   */
  #fallBack(): void {
    const fh = this.#handle
    if (fh === null || this.#degraded || this.#fallback || !native.fleetDegraded(fh)) return
    this.#fallback = true
    native.routerFleetQuotaMode(this.#host.handle, 'share', 1 / this.#live, this.#host.now())
  }

  /** A lease call was answered: when none is out, waiting decisions go on, unless what came back asks for one more batch at once (a limit that appeared while the first was out). */
  #answeredOne(first: boolean): void {
    if (first) this.#firstOut--
    if (this.#wait === null || this.#leasing + this.#budgetLeasing > 0) return
    const fh = this.#handle
    if (fh !== null && !this.#degraded && !this.#fallback && this.#waitRounds++ === 0) this.#sendLeases(fh, this.#host.now())
    if (this.#leasing + this.#budgetLeasing === 0) this.#stopWaiting()
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
    const first = w.first
    if (first) this.#firstOut++
    const done = (requests: number, tokens: number, mark: number, state: string): void => {
      this.#leasing--
      if (this.#handle !== null) {
        if (state === 'unavailable') this.#fallBack() // to the share before the empty grant
        native.routerFleetGrant(this.#host.handle, w.modelName, requests, tokens, mark, this.#host.now())
      }
      this.#answeredOne(first)
    }
    native.fleetLease(fh, w).then(
      (g) => done(g.requests, g.tokens, g.mark, g.state),
      () => done(0, 0, 0, 'unavailable'),
    )
  }

  #leaseBudget(fh: FleetHandle, w: BudgetWork): void {
    this.#budgetLeasing++
    const first = w.first
    if (first) this.#firstOut++
    const done = (amount: number, spent: number, period: number, leftMs: number, state: string): void => {
      this.#budgetLeasing--
      if (this.#handle !== null) {
        if (state === 'unavailable') this.#fallBack()
        native.routerFleetBudgetGrant(this.#host.handle, w.budget, amount, spent, period, leftMs, this.#host.now())
      }
      this.#answeredOne(first)
    }
    native.fleetLeaseBudget(fh, w).then(
      (g) => done(g.amount, g.spent, g.period, g.leftMs, g.state),
      () => done(0, 0, 0, 0, 'unavailable'),
    )
  }

  /** Gives back unspent leases, leaves the live set and closes the connection. */
  close(): void {
    const fh = this.#handle
    if (fh === null) return
    this.#handle = null
    clearInterval(this.#timer)
    this.#stopWaiting()
    const back = native.routerFleetReleaseAll(this.#host.handle, this.#host.now())
    const calls: Promise<unknown>[] = back.map((w) => native.fleetLease(fh, w))
    for (const w of native.routerFleetReleaseBudgets(this.#host.handle, this.#host.now())) calls.push(native.fleetLeaseBudget(fh, w))
    calls.push(native.fleetLeave(fh))
    Promise.allSettled(calls).then(() => native.fleetClose(fh))
  }
}
