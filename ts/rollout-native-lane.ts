/**
 * The hot path of mode "native": a call while the circuit is closed. It lives in an object
 * of one shape for every wrapper: a wrapper's own shape differs by kind (its methods are own
 * properties), and property loads on `this` in a path shared by three shapes or more cost
 * more than the rest of the path. Anything but the plain closed-circuit call is handed back
 * to the wrapper (`NativeLaneOwner`).
 */
import type { CircuitBreaker } from './circuit-breaker'
import type { LatencyRing } from './rollout-latency'

/** What the lane hands back to the wrapper. */
export interface NativeLaneOwner {
  /** The general path: a circuit not closed (probe, legacy), or after shutdown. */
  nativeCall(name: string, args: unknown[]): unknown
  /** A native call threw or rejected (`ms` NaN when it was not timed). */
  nativeFailed(name: string, args: unknown[], err: unknown, ms: number, probe: number): unknown
  /** A promise from native: waits on it, then settles the call (or retries on legacy). */
  awaitNative(result: PromiseLike<unknown>, name: string, args: unknown[], t0: number, probe: number): Promise<unknown>
  /** The breaker opened on this call's record. */
  circuitOpened(event: NonNullable<ReturnType<CircuitBreaker['record']>>): void
}

type AnyFn = (...args: unknown[]) => unknown

/** The closed-circuit call path of one mode "native" wrapper (see the file comment). */
export class NativeLane {
  /** Set by the wrapper at `shutdown()`: every call then takes the general path. */
  shutDown = false
  #sampleState = 0x9e3779b9
  /** A call is timed when the next xorshift draw is below this (share · 2^32). */
  readonly #sampleBelow: number

  readonly #owner: NativeLaneOwner
  readonly #native: Record<string, unknown>
  readonly #breaker: CircuitBreaker
  readonly #calls: { legacy: number; native: number }
  readonly #latency: LatencyRing
  readonly #now: () => number
  /** Promise-returning methods that cannot reject for these arguments (see `KindSpec.neverRejects`). */
  readonly #neverRejects: Record<string, (args: unknown[]) => boolean>

  constructor(
    owner: NativeLaneOwner,
    native: Record<string, unknown>,
    breaker: CircuitBreaker,
    calls: { legacy: number; native: number },
    latency: LatencyRing,
    now: () => number,
    latencySample: number,
    neverRejects: Record<string, (args: unknown[]) => boolean>,
  ) {
    this.#neverRejects = neverRejects
    this.#owner = owner
    this.#native = native
    this.#breaker = breaker
    this.#calls = calls
    this.#latency = latency
    this.#now = now
    this.#sampleBelow = latencySample * 2 ** 32
  }

  /**
   * Whether this call is timed: a share `latencySample` of them, drawn by a xorshift (no
   * aliasing with a periodic call pattern). Two clock reads cost ~0.15 µs on the VMs
   * measured, as much as the rest of the wrapper: timing every call would double its cost.
   */
  draw(): boolean {
    let x = this.#sampleState
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.#sampleState = x
    return x >>> 0 < this.#sampleBelow
  }

  call(name: string, args: unknown[]): unknown {
    const breaker = this.#breaker
    if (breaker.state !== 'closed' || this.shutDown) return this.#owner.nativeCall(name, args)
    this.#calls.native++
    const timed = this.draw()
    const t0 = timed ? this.#now() : NaN
    const target = this.#native
    let result: unknown
    try {
      const fn = target[name]
      if (typeof fn !== 'function') throw new TypeError(`${name} is not a function`)
      result = (fn as AnyFn).apply(target, args)
    } catch (err) {
      return this.#owner.nativeFailed(name, args, err, timed ? this.#now() - t0 : NaN, 0)
    }
    if (result instanceof Promise || isThenable(result)) {
      if (timed) return this.#owner.awaitNative(result as PromiseLike<unknown>, name, args, t0, 0)
      const sure = this.#neverRejects[name]
      if (sure === undefined || !sure(args)) return this.#owner.awaitNative(result as PromiseLike<unknown>, name, args, NaN, 0)
    }
    // settled (a value, or a promise that cannot reject): a success
    const ms = timed ? this.#now() - t0 : NaN
    if (timed) this.#latency.push(ms)
    const opened = breaker.record(ms, undefined)
    if (opened !== null) this.#owner.circuitOpened(opened)
    return result
  }
}

function isThenable(v: unknown): boolean {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function'
}
