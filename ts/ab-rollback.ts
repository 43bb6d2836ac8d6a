/**
 * The automatic rollback of an A/B rollout: each arm's calls of the last `windowMs` (at most
 * `maxSamples` per arm, the most recent) are compared once per `checkEveryMs`; when both
 * arms hold `minCalls` and the native arm's error rate exceeds the legacy arm's by more than
 * `errorRateMargin`, or its p99 latency exceeds the legacy arm's by more than `p99MarginMs`,
 * the verdict is a rollback. Time is read from the caller's clock; there is no timer.
 */
import { rangeError, typeError } from './errors'
import { percentileOf } from './rollout-latency'

/**
 * When mode "ab" rolls the native arm back (share to 0): judged at most once per
 * `checkEveryMs`, over each arm's calls of the last `windowMs`, once both hold `minCalls`;
 * a rollback when the native error rate exceeds the legacy's by more than `errorRateMargin`
 * or the native p99 exceeds the legacy's by more than `p99MarginMs`. All optional. A field
 * of the wrong type is a `TypeError` and one out of range (negative, not finite) a
 * `RangeError`, each naming it (`rollback.windowMs`, …); `rollback` not an object is a `TypeError`.
 */
export interface RollbackOptions {
  /** The window, in ms of the rollout's clock (default 60000). */
  windowMs?: number
  /** Calls each arm must hold in the window before it is judged (default 200; rounded down, at least 1). */
  minCalls?: number
  /** How much higher (absolute, 0..1; above 1 is a `RangeError`) the native error rate may be (default 0.01). */
  errorRateMargin?: number
  /** How much higher (ms) the native p99 may be (default 25). */
  p99MarginMs?: number
  /** Least time between two judgements, ms (default 1000; 0 judges at every call). */
  checkEveryMs?: number
  /** Calls kept per arm, the most recent (default 4096, at most 1,000,000). */
  maxSamples?: number
  /** `false`: never roll back (the figures are still reported). Default true. */
  enabled?: boolean
}

/** One arm's calls in the rollback window (at most `maxSamples`, the most recent). */
export interface ArmWindow {
  /** Calls in the window. */
  calls: number
  /** Those that failed with an error that counts (`countsAsFailure`). */
  errors: number
  /** errors / calls, 0 to 1. */
  errorRate: number
  /** The p99 latency (ms) of the window's calls, `sorted[ceil(0.99·n) − 1]`. */
  p99Ms: number
}

/**
 * The payload of the wrapper's `rollout_rollback` event (mode "ab"): the native arm was
 * rolled back, its share is 0 until `setRolloutShare` or a new flag value. Also
 * `AbReport.rollback`, and the metadata of the `rollout_<kind>_rollback` metric.
 */
export interface RollbackEvent {
  /** Which margin the native arm exceeded (the error rate is judged first). */
  reason: 'error_rate' | 'p99_latency'
  /** The share before the rollback (it is 0 after). */
  share: number
  /** The window judged (ms, `RollbackOptions.windowMs`). */
  windowMs: number
  /** The native arm's calls in the window. */
  native: ArmWindow
  /** The legacy arm's calls in the window. */
  legacy: ArmWindow
  /** When, on the rollout's clock. */
  at: number
}

const MAX_SAMPLES = 1_000_000

function nonNegative(o: RollbackOptions, name: keyof RollbackOptions, fallback: number): number {
  const v = o[name]
  if (v === undefined) return fallback
  if (typeof v !== 'number') throw typeError(`rollback.${name}`, 'a number', v)
  if (!(v >= 0) || !Number.isFinite(v)) throw rangeError(`rollback.${name}`, 'a finite number >= 0', v)
  return v
}

/** One arm's recent calls: when, how long, whether it failed. A fixed ring. */
class Samples {
  readonly #at: Float64Array
  readonly #ms: Float64Array
  readonly #failed: Uint8Array
  #n = 0
  #next = 0
  readonly #cap: number

  constructor(cap: number) {
    this.#cap = cap
    this.#at = new Float64Array(cap)
    this.#ms = new Float64Array(cap)
    this.#failed = new Uint8Array(cap)
  }
  push(at: number, ms: number, failed: boolean): void {
    const i = this.#next
    this.#at[i] = at
    this.#ms[i] = ms
    this.#failed[i] = failed ? 1 : 0
    this.#next = i + 1 === this.#cap ? 0 : i + 1
    if (this.#n < this.#cap) this.#n++
  }
  clear(): void {
    this.#n = 0
    this.#next = 0
  }
  /** The calls made at or after `since`. */
  window(since: number): ArmWindow {
    const lat: number[] = []
    let errors = 0
    for (let k = 0; k < this.#n; k++) {
      if (this.#at[k] < since) continue
      lat.push(this.#ms[k])
      errors += this.#failed[k]
    }
    lat.sort((a, b) => a - b)
    const calls = lat.length
    return { calls, errors, errorRate: calls === 0 ? 0 : errors / calls, p99Ms: percentileOf(lat, calls, 0.99) }
  }
}

/** Judges the arms of one mode "ab" wrapper against the `RollbackOptions` (see the file comment). */
export class RollbackJudge {
  readonly windowMs: number
  readonly minCalls: number
  readonly errorRateMargin: number
  readonly p99MarginMs: number
  readonly checkEveryMs: number
  readonly enabled: boolean
  readonly #arms: { native: Samples; legacy: Samples }
  #lastCheck = -Infinity

  constructor(options: RollbackOptions | undefined) {
    if (options === undefined) options = {}
    else if (options === null || typeof options !== 'object') throw typeError('rollback', 'an object of rollback options', options)
    if (options.enabled !== undefined && typeof options.enabled !== 'boolean')
      throw typeError('rollback.enabled', 'a boolean', options.enabled)
    this.enabled = options.enabled ?? true
    this.windowMs = nonNegative(options, 'windowMs', 60_000)
    this.minCalls = Math.max(1, Math.floor(nonNegative(options, 'minCalls', 200)))
    this.errorRateMargin = nonNegative(options, 'errorRateMargin', 0.01)
    if (this.errorRateMargin > 1) throw rangeError('rollback.errorRateMargin', 'a rate from 0 to 1', this.errorRateMargin)
    this.p99MarginMs = nonNegative(options, 'p99MarginMs', 25)
    this.checkEveryMs = nonNegative(options, 'checkEveryMs', 1000)
    const cap = Math.floor(nonNegative(options, 'maxSamples', 4096))
    if (cap < 1 || cap > MAX_SAMPLES) throw rangeError('rollback.maxSamples', `a whole number from 1 to ${MAX_SAMPLES}`, cap)
    this.#arms = { native: new Samples(cap), legacy: new Samples(cap) }
  }

  record(arm: 'native' | 'legacy', at: number, ms: number, failed: boolean): void {
    this.#arms[arm].push(at, ms, failed)
  }

  /** Starts afresh (a new share): the calls made before say nothing about it. */
  reset(): void {
    this.#arms.native.clear()
    this.#arms.legacy.clear()
  }

  /** Whether a judgement is due at `now` (the caller then calls `judge`). */
  due(now: number): boolean {
    return now - this.#lastCheck >= this.checkEveryMs
  }

  /** The rollback's figures when the native arm is worse by more than a margin, else null. */
  judge(now: number, share: number): RollbackEvent | null {
    this.#lastCheck = now
    if (!this.enabled) return null
    const since = now - this.windowMs
    const native = this.#arms.native.window(since)
    const legacy = this.#arms.legacy.window(since)
    if (native.calls < this.minCalls || legacy.calls < this.minCalls) return null
    const base = { share, windowMs: this.windowMs, native, legacy, at: now }
    if (native.errorRate - legacy.errorRate > this.errorRateMargin) return { reason: 'error_rate', ...base }
    if (native.p99Ms - legacy.p99Ms > this.p99MarginMs) return { reason: 'p99_latency', ...base }
    return null
  }
}
