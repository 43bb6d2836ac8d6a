/**
 * The wrapper of modes "native", "shadow" and "ab" (mode "legacy" is the legacy instance
 * itself): one method per method of the drop-in interface, dispatched by mode, and an
 * EventEmitter whose events are those of the side being served.
 */
import { EventEmitter } from 'node:events'

import type { Arm } from './ab-arms'
import { AbRollout } from './ab-rollout'
import { ADMIT_LEGACY, ADMIT_PROBE, CircuitBreaker, type CircuitOpenEvent } from './circuit-breaker'
import { codedError, rangeError, typeError } from './errors'
import { checkShare, type RolloutKind } from './rollout-flags'
import { type KindSpec, SPECS } from './rollout-kinds'
import { LatencyRing } from './rollout-latency'
import { NativeLane, type NativeLaneOwner } from './rollout-native-lane'
import type { Disagreement, LegacyImplementation, MetricSink, RolloutControl, RolloutOptions, RolloutStats } from './rollout-types'

/** A whole number ≥ 0 or `Infinity` (no bound); `fallback` when absent. */
function count(field: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number') throw typeError(field, 'a number', v)
  if (!(Number.isInteger(v) || v === Infinity) || v < 0) throw rangeError(field, 'a whole number >= 0, or Infinity', v)
  return v
}

/** A fraction from 0 to 1; `fallback` when absent. */
function share(field: string, v: unknown, fallback: number): number {
  return v === undefined ? fallback : checkShare(field, v)
}

function optionalFunction<F>(field: string, v: F | undefined): F | undefined {
  if (v !== undefined && typeof v !== 'function') throw typeError(field, 'a function', v)
  return v
}

/**
 * The default `countsAsFailure`: a `TypeError` or `RangeError` is the native side refusing
 * the caller's input (it names the field), not a native failure.
 */
function countsByDefault(err: unknown): boolean {
  return !(err instanceof TypeError || err instanceof RangeError)
}

function isObjectLike(v: unknown): v is object {
  return (typeof v === 'object' && v !== null) || typeof v === 'function'
}

/** Events the wrapper emits itself; every other event is the served side's. */
const OWN_EVENTS = new Set<string | symbol>([
  'newListener',
  'removeListener',
  'circuit_open',
  'circuit_close',
  'circuit_half_open',
  'shadow_disagreement',
  'native_error',
  'rollout_rollback',
])

function isThenable(v: unknown): v is PromiseLike<unknown> {
  if (v instanceof Promise) return true
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function'
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** A native call made after `shutdown()`: the caller's mistake, not native's failure. */
function isShutDown(err: unknown): boolean {
  return err !== null && typeof err === 'object' && (err as { code?: unknown }).code === 'ERR_SHUT_DOWN'
}

/** A bounded copy of an input or answer for the disagreement log. */
function clip(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return v.length > 1000 ? `${v.slice(0, 1000)}… (${v.length} chars)` : v
  if (typeof v === 'function') return `[function ${v.name || 'anonymous'}]`
  if (v === null || typeof v !== 'object') return v
  if (v instanceof Map) return [...v.keys()].slice(0, 100)
  if (v instanceof Error) return { error: v.message, code: (v as { code?: unknown }).code }
  if (depth >= 3) return '[…]'
  if (Array.isArray(v)) return v.slice(0, 100).map((x) => clip(x, depth + 1))
  if (ArrayBuffer.isView(v)) return `[${v.constructor.name} ${v.byteLength} bytes]`
  const out: Record<string, unknown> = {}
  let k = 0
  for (const key of Object.keys(v)) {
    if (k++ >= 50) break
    out[key] = clip((v as Record<string, unknown>)[key], depth + 1)
  }
  return out
}

/** Builds the legacy instance from a class, a factory or an instance. */
export function instantiate<T extends object>(impl: LegacyImplementation<T>, config: unknown): T {
  const args = config === undefined ? [] : [config]
  if (typeof impl !== 'function') return impl as T
  const fn = impl as (...a: unknown[]) => T
  const source = Function.prototype.toString.call(fn)
  const isClass = /^class[\s{]/.test(source) || (fn.prototype !== undefined && Object.getOwnPropertyNames(fn.prototype).length > 1)
  return isClass ? new (fn as unknown as new (...a: unknown[]) => T)(...args) : fn(...args)
}

function methodNames(obj: object): string[] {
  const names = new Set<string>()
  for (let p = Object.getPrototypeOf(obj); p && p !== EventEmitter.prototype && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (name !== 'constructor' && typeof (obj as Record<string, unknown>)[name] === 'function') names.add(name)
    }
  }
  return [...names]
}

type Side = 'legacy' | 'native'
/** Any method of a wrapped instance. */
export type AnyFn = (...args: unknown[]) => unknown

/**
 * The wrapper of modes "native", "shadow" and "ab": an EventEmitter whose events are those
 * of the side being served (in mode "ab", both), with one method per method of the drop-in
 * interface.
 */
export class RolloutWrapper extends EventEmitter implements RolloutControl, NativeLaneOwner {
  #legacyInstance: Record<string, unknown> | null = null
  /** `shutdown()` ran: no legacy instance is created after it (its timers would keep the process alive). */
  #shutDown = false
  readonly #nativeInstance: Record<string, unknown>
  readonly #spec: KindSpec
  readonly #breaker: CircuitBreaker | null
  /** Mode "ab": the share, the assignment, the arms and the rollback. */
  readonly ab: AbRollout | null
  readonly #now: () => number
  readonly #sink: MetricSink | undefined
  readonly #maxDisagreements: number
  readonly #maxShadowInFlight: number
  readonly #countsAsFailure: (err: unknown) => boolean
  /** Mode "native": the call path while the circuit is closed. */
  readonly #lane: NativeLane | null
  readonly #calls = { legacy: 0, native: 0 }
  #fallbacks = 0
  #shadowSkipped = 0
  #shadowErrors = 0
  #compared = 0
  #agreed = 0
  readonly #disagreements: Disagreement[] = []
  readonly #latency = { legacy: new LatencyRing(), native: new LatencyRing() }
  readonly #pending = new Set<Promise<void>>()
  /** Legacy retries under way: their events are forwarded even while native is served. */
  #legacyRetries = 0
  /**
   * What an event listener threw while the served side emitted (see `forward`): the call it
   * escapes from passes it to the caller. The listener failed, not the implementation: a
   * legacy retry would run the call twice (on both sides) and hide the caller's own error.
   */
  readonly #listenerErrors = new WeakSet<object>()
  /** The same for a thrown primitive (a WeakSet holds objects only): the latest one. */
  #listenerThrew: { value: unknown } | null = null
  /** event → the forwarders attached to each side. */
  readonly #forwarders = new Map<string | symbol, { legacy: AnyFn; native: AnyFn }>()

  readonly #makeLegacy: () => object

  constructor(
    readonly kind: RolloutKind,
    readonly mode: 'native' | 'shadow' | 'ab',
    makeLegacy: () => object,
    native: object,
    options: RolloutOptions,
    extraMethods: Record<string, AnyFn> = {},
    ab: { share: number; flag: string | null } = { share: 0, flag: null },
  ) {
    super()
    this.#makeLegacy = makeLegacy
    this.#spec = SPECS[kind]
    this.#nativeInstance = native as Record<string, unknown>
    this.#now = optionalFunction('options.now', options.now) ?? (() => performance.now())
    this.#sink = options.monitor
    this.#maxDisagreements = count('options.maxDisagreements', options.maxDisagreements, 100)
    this.#maxShadowInFlight = count('options.maxShadowInFlight', options.maxShadowInFlight, 1000)
    this.#countsAsFailure = optionalFunction('options.countsAsFailure', options.countsAsFailure) ?? countsByDefault
    this.#breaker = mode === 'native' ? new CircuitBreaker(options.circuit, this.#now) : null
    const latencySample = share('options.latencySample', options.latencySample, 0.1)
    this.#lane =
      mode === 'native'
        ? new NativeLane(
            this,
            this.#nativeInstance,
            this.#breaker!,
            this.#calls,
            this.#latency.native,
            this.#now,
            latencySample,
            this.#spec.neverRejects ?? {},
          )
        : null
    this.ab =
      mode === 'ab'
        ? new AbRollout(
            { ...ab, env: options.env ?? process.env, assignBy: options.assignBy, rollback: options.rollback },
            this.#spec.position,
          )
        : null
    // The native side's errors never reach the caller through an unhandled 'error' event.
    ;(native as EventEmitter).on?.('error', (err: unknown) => this.#onNativeEvent('error', err))
    if (mode !== 'native') this.#legacy()

    const names = new Set([...this.#spec.methods, ...methodNames(native)])
    if (this.#legacyInstance !== null) for (const n of methodNames(this.#legacyInstance)) names.add(n)
    for (const name of names) {
      if (name in EventEmitter.prototype || name === 'getRolloutStats' || name === 'rolloutSettled') continue
      Object.defineProperty(this, name, {
        value: extraMethods[name] ?? this.#dispatcher(name),
        writable: true,
        configurable: true,
        enumerable: false,
      })
    }
    this.#hookAdd()
    this.#hookRemove()
  }

  // Forwarding the served side's events while the wrapper has listeners for them.
  #hookAdd(): void {
    this.on('newListener', (event: string | symbol) => {
      if (!OWN_EVENTS.has(event) && !this.#forwarders.has(event)) this.#forward(event)
    })
  }

  #hookRemove(): void {
    this.on('removeListener', (event: string | symbol) => {
      if (!OWN_EVENTS.has(event) && this.listenerCount(event) === 0) this.#unforward(event)
    })
  }

  /** `EventEmitter`'s, keeping the forwarding hooks (a listener added later still works). */
  override removeAllListeners(event?: string | symbol): this {
    // Node tells "no argument" from `undefined` by the argument count
    if (event === undefined) super.removeAllListeners()
    else super.removeAllListeners(event)
    for (const e of [...this.#forwarders.keys()]) {
      if (event === undefined || e === event) this.#unforward(e)
    }
    if (event === undefined || event === 'newListener') this.#hookAdd()
    if (event === undefined || event === 'removeListener') this.#hookRemove()
    return this
  }

  // ---- events ------------------------------------------------------------------------

  /** The side whose events the caller sees right now ("both" in mode "ab": each arm serves). */
  #served(): Side | 'both' {
    if (this.mode === 'shadow') return 'legacy'
    if (this.mode === 'ab') return 'both'
    return this.#breaker!.state === 'closed' || this.#breaker!.probeInFlight ? 'native' : 'legacy'
  }

  #forward(event: string | symbol): void {
    const make =
      (side: Side): AnyFn =>
      (...args: unknown[]) => {
        const served = this.#served()
        if (served === side || served === 'both' || (side === 'legacy' && this.#legacyRetries > 0)) {
          try {
            super.emit(event, ...args)
          } catch (err) {
            if (isObjectLike(err)) this.#listenerErrors.add(err)
            else this.#listenerThrew = { value: err }
            throw err
          }
        }
      }
    const f = { legacy: make('legacy'), native: make('native') }
    this.#forwarders.set(event, f)
    ;(this.#nativeInstance as unknown as EventEmitter).on?.(event, f.native)
    ;(this.#legacyInstance as unknown as EventEmitter | null)?.on?.(event, f.legacy)
  }

  #unforward(event: string | symbol): void {
    const f = this.#forwarders.get(event)
    if (f === undefined) return
    this.#forwarders.delete(event)
    ;(this.#nativeInstance as unknown as EventEmitter).off?.(event, f.native)
    ;(this.#legacyInstance as unknown as EventEmitter | null)?.off?.(event, f.legacy)
  }

  #onNativeEvent(event: string, err: unknown): void {
    if (event === 'error' && this.#served() === 'legacy') this.#metric('native_error', 1, { error: messageOf(err) })
  }

  /** The legacy instance, created when first needed (mode "native": on the first fallback). */
  #legacy(): Record<string, unknown> {
    if (this.#legacyInstance === null) {
      if (this.#shutDown) throw codedError('ERR_SHUT_DOWN', `the ${this.kind} wrapper was shut down`)
      const inst = this.#makeLegacy() as Record<string, unknown>
      this.#legacyInstance = inst
      for (const [event, f] of this.#forwarders) (inst as unknown as EventEmitter).on?.(event, f.legacy)
    }
    return this.#legacyInstance
  }

  // ---- dispatch ----------------------------------------------------------------------

  /**
   * The method `name` of the wrapper. A method only one side has (e.g. a native extra such
   * as `getOrSet`) is answered by that side alone, with nothing to compare and no fallback.
   */
  #dispatcher(name: string): AnyFn {
    if (name === 'shutdown') return (...args) => this.#shutdownBoth(args)
    if (typeof this.#nativeInstance[name] !== 'function') return (...args) => this.#direct(this.#legacy(), name, args)
    if (this.mode === 'native') {
      const lane = this.#lane!
      return (...args) => lane.call(name, args)
    }
    if (this.mode === 'ab') {
      if (typeof this.#legacy()[name] !== 'function') return (...args) => this.#direct(this.#nativeInstance, name, args)
      const at = this.#spec.assign[name]
      return at === undefined ? (...args) => this.#bothCall(name, args) : (...args) => this.#abCall(name, args, args[at])
    }
    return (...args) =>
      typeof this.#legacy()[name] === 'function' ? this.#shadowCall(name, args) : this.#direct(this.#nativeInstance, name, args)
  }

  #direct(target: Record<string, unknown>, name: string, args: unknown[]): unknown {
    const fn = target[name]
    if (typeof fn !== 'function') throw new TypeError(`${name} is not a function`)
    return (fn as AnyFn).apply(target, args)
  }

  #invoke(side: Side, name: string, args: unknown[]): unknown {
    return this.#direct(side === 'native' ? this.#nativeInstance : this.#legacy(), name, args)
  }

  /**
   * Mode "native", the general path (the closed circuit's calls take `NativeLane.call`):
   * served by native unless the circuit is open; a native failure is retried on legacy.
   * @internal
   */
  nativeCall(name: string, args: unknown[]): unknown {
    const breaker = this.#breaker!
    // the probe's number (see `CircuitBreaker.currentProbe`), 0 when this call is no probe
    let probe = 0
    if (breaker.state !== 'closed') {
      const gate = breaker.admit()
      if (gate === ADMIT_LEGACY) return this.#legacyServe(name, args)
      if (gate === ADMIT_PROBE) {
        probe = breaker.currentProbe
        try {
          super.emit('circuit_half_open', { cooldownMs: breaker.cooldownMs })
        } catch (err) {
          // a throwing listener must not leave the circuit half open for good
          breaker.abandonProbe(probe)
          throw err
        }
      }
    }
    this.#calls.native++
    // NaN: not timed. The probe is always timed.
    const t0 = probe !== 0 || this.#lane!.draw() ? this.#now() : NaN
    let result: unknown
    try {
      result = this.#invoke('native', name, args)
    } catch (err) {
      return this.nativeFailed(name, args, err, this.#now() - t0, probe)
    }
    if (!isThenable(result)) {
      this.#settleNative(t0 === t0 ? this.#now() - t0 : NaN, undefined, probe)
      return result
    }
    return this.awaitNative(result, name, args, t0, probe)
  }

  /** @internal */
  awaitNative(result: PromiseLike<unknown>, name: string, args: unknown[], t0: number, probe: number): Promise<unknown> {
    return (result as Promise<unknown>).then(
      (value) => {
        this.#settleNative(t0 === t0 ? this.#now() - t0 : NaN, undefined, probe)
        return value
      },
      (err) => this.nativeFailed(name, args, err, this.#now() - t0, probe),
    )
  }

  /** @internal */
  circuitOpened(event: CircuitOpenEvent): void {
    super.emit('circuit_open', event)
    this.#metric('circuit_open', 1, event)
  }

  /** A native call threw or rejected: the caller's listener error passes, anything else is retried. @internal */
  nativeFailed(name: string, args: unknown[], err: unknown, ms: number, probe: number): unknown {
    if (this.#byListener(err)) {
      // native did its work; the caller's listener threw, as it would have with the legacy
      this.#settleNative(ms, undefined, probe)
      throw err
    }
    return this.#retryOnLegacy(name, args, err, ms, probe)
  }

  /** Whether no legacy instance exists and none may be made (`shutdown()` ran first). */
  get #noLegacy(): boolean {
    return this.#shutDown && this.#legacyInstance === null
  }

  #legacyServe(name: string, args: unknown[]): unknown {
    // a method only native has (e.g. `getOrSet`) is answered by native whatever the circuit;
    // so is every call after shutdown() when no legacy instance was ever made
    if (this.#noLegacy || typeof this.#legacy()[name] !== 'function') return this.#invoke('native', name, args)
    this.#calls.legacy++
    return this.#invoke('legacy', name, args)
  }

  /** Runs the call on legacy; the native error counts against the circuit only if legacy succeeds. */
  #retryOnLegacy(name: string, args: unknown[], nativeErr: unknown, ms: number, probe: number): unknown {
    if (isShutDown(nativeErr)) {
      // used after shutdown: the caller gets the native answer; it says nothing about native
      if (probe !== 0) this.#breaker!.abandonProbe(probe)
      throw nativeErr
    }
    const error = messageOf(nativeErr) || 'native error'
    // A probe whose native call failed never closes the circuit, whatever legacy does: it
    // is settled now, not after the retry (a slow retry would outlast the probe's time).
    if (probe !== 0) this.#settleNative(ms, error, probe)
    if (this.#noLegacy || typeof this.#legacy()[name] !== 'function') {
      // nothing to fall back to (a native-only method, or shut down before any legacy
      // instance was made): the caller gets native's error
      throw nativeErr
    }
    this.#fallbacks++
    const counts = this.#countsAsFailure(nativeErr)
    const judge = (legacyFailed: boolean) => {
      // A call that failed on both sides, or whose error does not count, says nothing
      // against native in the window.
      if (probe === 0) this.#settleNative(ms, legacyFailed || !counts ? undefined : error, 0)
    }
    this.#metric('fallback', 1, { method: name, error: messageOf(nativeErr) })
    this.#legacyRetries++
    let result: unknown
    try {
      result = this.#legacyServe(name, args)
    } catch (legacyErr) {
      this.#legacyRetries--
      judge(true)
      throw legacyErr
    }
    if (!isThenable(result)) {
      this.#legacyRetries--
      judge(false)
      return result
    }
    return Promise.resolve(result).then(
      (value) => {
        this.#legacyRetries--
        judge(false)
        return value
      },
      (legacyErr) => {
        this.#legacyRetries--
        judge(true)
        throw legacyErr
      },
    )
  }

  /** `probe`: the probe's number, 0 for a call made while the circuit was closed. */
  #settleNative(ms: number, error: string | undefined, probe: number): void {
    const breaker = this.#breaker!
    if (ms === ms) this.#latency.native.push(ms)
    let opened: CircuitOpenEvent | null | undefined
    if (probe !== 0) {
      opened = breaker.settleProbe(probe, ms, error)
      if (opened === undefined) return // a probe given up: a newer one decides
      if (opened === null) {
        super.emit('circuit_close', { probeLatency: ms })
        this.#metric('circuit_open', 0)
      }
    } else {
      opened = breaker.record(ms, error)
    }
    if (opened !== null) this.circuitOpened(opened)
  }

  /**
   * Mode "ab": the call goes to its input's arm and is timed there. A native failure counts
   * in the native arm and is retried on legacy (the caller sees no error the legacy would
   * not raise); a legacy failure counts in the legacy arm and reaches the caller.
   */
  #abCall(name: string, args: unknown[], input: unknown): unknown {
    const ab = this.ab!
    const t0 = this.#now()
    const rollback = ab.tick(t0)
    if (rollback !== null) {
      this.#metric('rollback', 1, rollback)
      super.emit('rollout_rollback', rollback)
    }
    const arm = ab.armOf(input)
    this.#calls[arm]++
    let result: unknown
    try {
      result = this.#direct(arm === 'native' ? this.#nativeInstance : this.#legacy(), name, args)
    } catch (err) {
      return this.#abFailed(arm, name, args, err, t0)
    }
    if (!isThenable(result)) {
      this.#abSettled(arm, name, t0, result)
      return result
    }
    return (result as Promise<unknown>).then(
      (value) => {
        this.#abSettled(arm, name, t0, value)
        return value
      },
      (err) => this.#abFailed(arm, name, args, err, t0),
    )
  }

  #abSettled(arm: Arm, name: string, t0: number, value: unknown): void {
    const now = this.#now()
    this.ab!.record(arm, now, now - t0, false)
    this.#spec.observe?.[name]?.(this.ab!.arms[arm], value)
  }

  #abFailed(arm: Arm, name: string, args: unknown[], err: unknown, t0: number): unknown {
    const now = this.#now()
    if (this.#byListener(err)) {
      // the side did its work; the caller's listener threw, as it would have with the legacy
      this.ab!.record(arm, now, now - t0, false)
      throw err
    }
    const shutDown = isShutDown(err)
    this.ab!.record(arm, now, now - t0, !shutDown && this.#countsAsFailure(err))
    if (arm === 'legacy' || shutDown || this.#noLegacy) throw err
    this.#fallbacks++
    this.#metric('fallback', 1, { method: name, error: messageOf(err) })
    this.#legacyRetries++
    let result: unknown
    try {
      result = this.#direct(this.#legacy(), name, args)
    } catch (legacyErr) {
      this.#legacyRetries--
      throw legacyErr
    }
    if (!isThenable(result)) {
      this.#legacyRetries--
      return result
    }
    return Promise.resolve(result).finally(() => this.#legacyRetries--)
  }

  /**
   * Mode "ab", a method with no assignment (a write such as `recordPerformance` or `clear`,
   * a read of the whole state): it runs on both sides, so each arm's instance stays whole;
   * the legacy's answer (or error) is served, the native side's errors are dropped.
   */
  #bothCall(name: string, args: unknown[]): unknown {
    let legacyResult: unknown
    let legacyThrew = false
    try {
      legacyResult = this.#direct(this.#legacy(), name, args)
    } catch (err) {
      legacyResult = err
      legacyThrew = true
    }
    try {
      const r = this.#direct(this.#nativeInstance, name, args)
      if (isThenable(r)) (r as Promise<unknown>).then(undefined, () => {})
    } catch {
      // the legacy's answer is the one served
    }
    if (legacyThrew) throw legacyResult
    return legacyResult
  }

  /** Whether `err` is what one of the caller's event listeners threw (see `forward`). */
  #byListener(err: unknown): boolean {
    return isObjectLike(err) ? this.#listenerErrors.has(err) : this.#listenerThrew !== null && this.#listenerThrew.value === err
  }

  /** Mode "shadow": both sides run, the legacy result (or error) is what the caller gets. */
  #shadowCall(name: string, args: unknown[]): unknown {
    const compare = this.#spec.compare[name]
    this.#calls.legacy++
    const t0 = this.#now()
    let legacyResult: unknown
    let legacyThrew = false
    try {
      legacyResult = this.#invoke('legacy', name, args)
    } catch (err) {
      legacyResult = err
      legacyThrew = true
    }
    const legacyMs = this.#now() - t0
    if (this.#pending.size >= this.#maxShadowInFlight) {
      this.#shadowSkipped++
    } else {
      this.#runShadowNative(name, args, compare, legacyThrew ? Promise.reject(legacyResult) : legacyResult, legacyMs, t0)
    }
    if (legacyThrew) throw legacyResult
    return legacyResult
  }

  #runShadowNative(
    name: string,
    args: unknown[],
    compare: ((a: unknown, b: unknown) => boolean) | undefined,
    legacyResult: unknown,
    legacyMs: number,
    t0: number,
  ): void {
    const rewrite = this.#spec.shadowArgs?.[name]
    if (isThenable(legacyResult)) (legacyResult as Promise<unknown>).catch(() => {}) // served to the caller, who handles it
    const nativeArgs = rewrite !== undefined ? rewrite(args, legacyResult) : args
    this.#calls.native++
    const n0 = this.#now()
    let nativeResult: unknown
    try {
      nativeResult = this.#invoke('native', name, nativeArgs)
    } catch (err) {
      nativeResult = Promise.reject(err)
    }
    const nativeSyncMs = this.#now() - n0
    if (!isThenable(legacyResult) && !isThenable(nativeResult)) {
      this.#judgeShadow(
        name,
        args,
        compare,
        { ok: true, value: legacyResult, ms: legacyMs },
        { ok: true, value: nativeResult, ms: nativeSyncMs },
      )
      return
    }
    const settle = (p: unknown, start: number) =>
      Promise.resolve(p).then(
        (value) => ({ ok: true, value, ms: this.#now() - start }),
        (value) => ({ ok: false, value, ms: this.#now() - start }),
      )
    const legacyP = isThenable(legacyResult) ? settle(legacyResult, t0) : Promise.resolve({ ok: true, value: legacyResult, ms: legacyMs })
    const done: Promise<void> = Promise.all([legacyP, settle(nativeResult, n0)]).then(([l, n]) => {
      this.#pending.delete(done)
      this.#judgeShadow(name, args, compare, l, n)
    })
    this.#pending.add(done)
  }

  #judgeShadow(
    name: string,
    args: unknown[],
    compare: ((a: unknown, b: unknown) => boolean) | undefined,
    l: { ok: boolean; value: unknown; ms: number },
    n: { ok: boolean; value: unknown; ms: number },
  ): void {
    if (!n.ok && l.ok) {
      this.#shadowErrors++
      this.#metric('native_error', 1, { method: name, error: messageOf(n.value) })
    }
    if (compare === undefined) return
    this.#latency.legacy.push(l.ms)
    this.#latency.native.push(n.ms)
    let same: boolean
    try {
      same = l.ok === n.ok && (l.ok ? compare(l.value, n.value) : true)
    } catch {
      same = false
    }
    this.#compared++
    if (same) this.#agreed++
    this.#metric('agreement', same ? 1 : 0, undefined)
    this.#metric('legacy_latency', l.ms, undefined)
    this.#metric('native_latency', n.ms, undefined)
    if (same) return
    const entry: Disagreement = {
      method: name,
      args: args.map((a) => clip(a)),
      legacy: clip(l.ok ? l.value : l.value instanceof Error ? l.value : { error: l.value }),
      native: clip(n.ok ? n.value : n.value instanceof Error ? n.value : { error: n.value }),
      at: Date.now(),
    }
    if (this.#maxDisagreements > 0) {
      if (this.#disagreements.length >= this.#maxDisagreements) this.#disagreements.shift()
      this.#disagreements.push(entry)
    }
    if (this.listenerCount('shadow_disagreement') > 0) super.emit('shadow_disagreement', entry)
  }

  #metric(what: string, value: number, metadata?: unknown): void {
    if (this.#sink === undefined) return
    try {
      this.#sink.recordMetric(`rollout_${this.kind}_${what}`, value, metadata)
    } catch {
      // the rollout's own metrics never fail a call
    }
  }

  #shutdownBoth(args: unknown[]): void {
    this.#shutDown = true
    if (this.#lane !== null) this.#lane.shutDown = true
    let legacyErr: unknown
    try {
      const fn = this.#legacyInstance?.shutdown
      if (typeof fn === 'function') fn.apply(this.#legacyInstance, args)
    } catch (err) {
      legacyErr = err
    }
    try {
      ;(this.#nativeInstance.shutdown as AnyFn).apply(this.#nativeInstance, args)
    } catch {
      // a native failure at shutdown is not the caller's concern
    }
    // the instances drop their listeners at shutdown: attach the forwarders again, so the
    // wrapper's listeners keep hearing whatever they still emit
    for (const event of [...this.#forwarders.keys()]) {
      this.#unforward(event)
      this.#forward(event)
    }
    if (legacyErr !== undefined) throw legacyErr
  }

  // ---- control -----------------------------------------------------------------------

  getRolloutStats(): RolloutStats {
    return {
      kind: this.kind,
      mode: this.mode,
      calls: { ...this.#calls },
      fallbacks: this.#fallbacks,
      shadowSkipped: this.#shadowSkipped,
      shadowErrors: this.#shadowErrors,
      agreement: { compared: this.#compared, agreed: this.#agreed, rate: this.#compared === 0 ? 1 : this.#agreed / this.#compared },
      disagreements: this.#disagreements.slice(),
      circuit: this.#breaker?.snapshot() ?? null,
      latency: { legacy: this.#latency.legacy.summary(), native: this.#latency.native.summary() },
      arms: this.ab?.report(this.kind) ?? null,
    }
  }

  async rolloutSettled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending])
  }
}
