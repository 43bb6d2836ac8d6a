/**
 * The circuit breaker of the rollout toolkit: judges the native side over a bounded,
 * count-based sliding window of its most recent calls (error rate and p99 latency), opens
 * when either crosses its bound, and after a cooldown lets exactly one probe call through
 * to decide whether to close again. It keeps no timer: the cooldown is checked against the
 * clock when a call arrives, so an idle process is never kept alive.
 */

import { rangeError, typeError } from './errors'

/**
 * The circuit breaker's state: `"closed"` calls go to native; `"open"` they go to legacy
 * until `cooldownMs` has passed; `"half_open"` one probe call is on native, the others on legacy.
 */
export type CircuitState = 'closed' | 'open' | 'half_open'

/**
 * The circuit breaker of mode "native" (`RolloutOptions.circuit`), all optional: once the
 * window of the last `windowSize` native calls holds `minCalls`, the circuit opens when
 * their error rate exceeds `maxErrorRate` or the p99 of the timed ones exceeds `maxP99Ms`.
 * Each field must be a finite number ≥ 0, else a `RangeError` naming it (`circuit.windowSize`, …);
 * `circuit` not an object is a `TypeError`.
 */
export interface CircuitOptions {
  /** Native calls the window holds (default 100; rounded down, at least 1; above 1,000,000 is a `RangeError`). */
  windowSize?: number
  /** Calls the window must hold before it is judged (default 20; rounded down, kept within 1..`windowSize`). */
  minCalls?: number
  /** Error rate (0 to 1; above 1 is a `RangeError`) above which the circuit opens (default 0.01). */
  maxErrorRate?: number
  /** p99 latency (ms) of the window's timed calls above which the circuit opens (default 150); the probe must also finish within it to close the circuit. */
  maxP99Ms?: number
  /** Milliseconds the circuit stays open before one probe call is let through (default 30000). */
  cooldownMs?: number
}

/** Why the circuit opened: the payload of the wrapper's `circuit_open` event, and `CircuitSnapshot.lastOpen`. */
export interface CircuitOpenEvent {
  /** The window's error rate or p99 crossed its bound, or the probe failed (an error, or slower than `maxP99Ms`). */
  reason: 'error_rate' | 'p99_latency' | 'probe_failed'
  /** The window's error rate then, 0 to 1. */
  errorRate: number
  /** The p99 latency (ms) of the window's timed calls then (for a failed probe, at least the probe's latency). */
  p99: number
  /** The error that tipped it, when an error did. */
  error?: string
}

/** The circuit breaker now: `RolloutStats.circuit`. */
export interface CircuitSnapshot {
  /** Its state. */
  state: CircuitState
  /** How many times it has opened. */
  opens: number
  /** Why it opened last; null if it never did. */
  lastOpen: CircuitOpenEvent | null
  /** Native calls in the window (emptied when a probe closes the circuit). */
  windowCalls: number
  /** The window's error rate, 0 to 1 (0 when empty). */
  errorRate: number
  /** The p99 latency (ms) of the window's timed calls (0 when none). */
  p99Ms: number
}

/** `admit()`: the call goes to native (the circuit is closed). */
export const ADMIT_NATIVE = 0
/** `admit()`: the call is the probe (the circuit is now half open). */
export const ADMIT_PROBE = 1
/** `admit()`: the call goes to legacy (open, or a probe pending). */
export const ADMIT_LEGACY = 2

/** The largest window of calls the breaker keeps (three typed arrays of this length). */
const MAX_WINDOW = 1_000_000

function positive(o: CircuitOptions, name: keyof CircuitOptions, fallback: number): number {
  const v = o[name]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) {
    throw new RangeError(`circuit.${name} must be a finite number ≥ 0, got ${String(v)}`)
  }
  return v
}

/** The breaker of one mode "native" wrapper (see the file comment). */
export class CircuitBreaker {
  readonly windowSize: number
  readonly minCalls: number
  readonly maxErrorRate: number
  readonly maxP99Ms: number
  readonly cooldownMs: number
  state: CircuitState = 'closed'
  opens = 0
  lastOpen: CircuitOpenEvent | null = null
  readonly #latencies: Float64Array
  readonly #failed: Uint8Array
  readonly #scratch: Float64Array
  #count = 0
  #next = 0
  #failures = 0
  /** Calls of the window slower than `maxP99Ms`. */
  #slow = 0
  /** Calls of the window that were timed (an untimed call's latency is NaN). */
  #timed = 0
  #openedAt = 0
  #probing = false
  /** Numbers the probes: the outcome of a probe given up (see `admit`) decides nothing. */
  #probeSerial = 0
  #probeStartedAt = 0

  readonly #now: () => number

  constructor(options: CircuitOptions | undefined, now: () => number = () => performance.now()) {
    this.#now = now
    if (options === undefined) options = {}
    else if (options === null || typeof options !== 'object') throw typeError('circuit', 'an object of circuit options', options)
    this.windowSize = Math.max(1, Math.floor(positive(options, 'windowSize', 100)))
    // three typed arrays of this length are allocated
    if (this.windowSize > MAX_WINDOW) throw rangeError('circuit.windowSize', `at most ${MAX_WINDOW}`, this.windowSize)
    this.minCalls = Math.min(this.windowSize, Math.max(1, Math.floor(positive(options, 'minCalls', 20))))
    this.maxErrorRate = positive(options, 'maxErrorRate', 0.01)
    // a rate above 1 can never be crossed: a circuit that never opens on errors is a typo
    if (this.maxErrorRate > 1) throw rangeError('circuit.maxErrorRate', 'a rate from 0 to 1', this.maxErrorRate)
    this.maxP99Ms = positive(options, 'maxP99Ms', 150)
    this.cooldownMs = positive(options, 'cooldownMs', 30_000)
    this.#latencies = new Float64Array(this.windowSize)
    this.#failed = new Uint8Array(this.windowSize)
    this.#scratch = new Float64Array(this.windowSize)
  }

  /**
   * Whether this call may go to the native side: `ADMIT_NATIVE`, `ADMIT_PROBE` (the circuit
   * was open and the cooldown has passed: this caller is the probe, the state is now
   * `half_open`, and every other call stays on legacy until the probe has reported) or
   * `ADMIT_LEGACY`. A number, not an object: this runs on every call. A probe still pending
   * after another `cooldownMs` (if it is not 0) is given up (a native call that never
   * settles must not keep the circuit half open for good): the next call is a new probe, and
   * only its outcome counts (`currentProbe`).
   */
  admit(): number {
    if (this.state === 'closed') return ADMIT_NATIVE
    const now = this.#now()
    // with no cooldown a pending probe is never given up: every call would be a new probe
    const due = this.state === 'open' ? now - this.#openedAt : this.#probing && this.cooldownMs > 0 ? now - this.#probeStartedAt : -1
    if (due >= this.cooldownMs) {
      this.state = 'half_open'
      this.#probing = true
      this.#probeStartedAt = now
      this.#probeSerial++
      return ADMIT_PROBE
    }
    return ADMIT_LEGACY
  }

  /** The number of the probe `admit` let through last: pass it to `settleProbe`. */
  get currentProbe(): number {
    return this.#probeSerial
  }

  /**
   * Records one native call (closed state). Returns the reason to open, or null.
   * `error` is the message of a native failure, if it failed. `latencyMs` is NaN for a call
   * that was not timed: it counts for the error rate, and the p99 is that of the timed calls.
   */
  record(latencyMs: number, error: string | undefined): CircuitOpenEvent | null {
    const i = this.#next
    if (this.#count === this.windowSize) {
      this.#failures -= this.#failed[i]
      const old = this.#latencies[i]
      if (old === old) {
        this.#timed--
        if (old > this.maxP99Ms) this.#slow--
      }
    } else {
      this.#count++
    }
    this.#latencies[i] = latencyMs
    this.#failed[i] = error === undefined ? 0 : 1
    this.#failures += this.#failed[i]
    if (latencyMs === latencyMs) {
      this.#timed++
      if (latencyMs > this.maxP99Ms) this.#slow++
    }
    this.#next = i + 1 === this.windowSize ? 0 : i + 1
    if (this.state !== 'closed' || this.#count < this.minCalls) return null
    const errorRate = this.#failures / this.#count
    // a success never raises the rate, except that the window is judged first at minCalls
    if ((error !== undefined || this.#count === this.minCalls) && errorRate > this.maxErrorRate) {
      return this.#open({ reason: 'error_rate', errorRate, p99: this.#refreshP99(), error })
    }
    // p99 = sorted[ceil(0.99·n) − 1] of the n timed calls exceeds the bound exactly when at
    // least n − ceil(0.99·n) + 1 of them exceed it: a counter, so no sort on the hot path.
    const n = this.#timed
    if (n > 0 && this.#slow >= n - Math.ceil(n * 0.99) + 1) {
      return this.#open({ reason: 'p99_latency', errorRate, p99: this.#refreshP99() })
    }
    return null
  }

  /**
   * The outcome of probe `probe`: a success closes the circuit (with a fresh window) and
   * returns null, a failure opens it again. Returns undefined, changing nothing, for a probe
   * given up or already settled.
   */
  settleProbe(probe: number, latencyMs: number, error: string | undefined): CircuitOpenEvent | null | undefined {
    if (!this.#probing || probe !== this.#probeSerial) return undefined
    this.#probing = false
    if (error === undefined && latencyMs <= this.maxP99Ms) {
      this.state = 'closed'
      this.#count = 0
      this.#next = 0
      this.#failures = 0
      this.#slow = 0
      this.#timed = 0
      return null
    }
    return this.#open({ reason: 'probe_failed', errorRate: this.errorRate(), p99: Math.max(this.#refreshP99(), latencyMs), error })
  }

  /** Probe `probe` will not run: open again, for another cooldown (a stale number changes nothing). */
  abandonProbe(probe: number): void {
    if (!this.#probing || probe !== this.#probeSerial) return
    this.#probing = false
    this.state = 'open'
    this.#openedAt = this.#now()
  }

  get probeInFlight(): boolean {
    return this.#probing
  }

  errorRate(): number {
    return this.#count === 0 ? 0 : this.#failures / this.#count
  }

  snapshot(): CircuitSnapshot {
    return {
      state: this.state,
      opens: this.opens,
      lastOpen: this.lastOpen,
      windowCalls: this.#count,
      errorRate: this.errorRate(),
      p99Ms: this.#refreshP99(),
    }
  }

  #open(event: CircuitOpenEvent): CircuitOpenEvent {
    this.state = 'open'
    this.#openedAt = this.#now()
    this.opens++
    this.lastOpen = event
    return event
  }

  /** The p99 latency of the window's timed calls (a sort: only when opening or asked). */
  #refreshP99(): number {
    const n = this.#timed
    if (n === 0) return 0
    const s = this.#scratch.subarray(0, this.#count)
    s.set(this.#latencies.subarray(0, this.#count))
    s.sort() // NaN (untimed) last
    return s[Math.min(n - 1, Math.ceil(n * 0.99) - 1)]
  }
}
