/** The public types of the rollout toolkit: the factories' options, the statistics, the wrapper's controls. */
import type { AbReport } from './ab-rollout'
import type { RollbackOptions } from './ab-rollback'
import type { CacheConfig } from './cache-manager'
import type { CircuitOptions, CircuitSnapshot } from './circuit-breaker'
import type { RolloutKind, RolloutMode } from './rollout-flags'
import type { LatencySummary } from './rollout-latency'

/** A legacy class, a factory returning an instance, or an instance. */
export type LegacyImplementation<T extends object> = (new (...args: any[]) => T) | ((...args: any[]) => T) | T

/** Something with `recordMetric`, e.g. a `PerformanceMonitor` (legacy or native). */
export interface MetricSink {
  /**
   * Receives one rollout metric (`rollout_<kind>_<what>`, see `RolloutOptions.monitor`). An
   * error it throws is swallowed: the rollout's own metrics never fail a call.
   */
  recordMetric(name: string, value: number, metadata?: unknown): void
}

/**
 * Options of `createModelRouter`, `createCacheManager` and `createPerformanceMonitor`, all
 * optional (`C`: the constructor argument of both sides). Precedence of the mode: `mode` >
 * `enabled` > `share` > the environment flag.
 *
 * The factories throw a `TypeError` naming the field for an option of the wrong type
 * (`options` not an object; `enabled`, `fallback` or `predictive` not a boolean; an unknown
 * `mode`; `share` given with another mode or with `enabled`; `now`, `countsAsFailure` or
 * `assignBy` not a function; `circuit` or `rollback` not an object) and a `RangeError`
 * naming it for a value out of range (`share` or `latencySample` outside 0..1,
 * `maxDisagreements` or `maxShadowInFlight` not a whole number ≥ 0 or `Infinity`, a
 * `circuit` or `rollback` field out of range, a flag in `env` with a value it does not accept).
 */
export interface RolloutOptions<C = unknown> {
  /** Forces a mode; without it the environment flag decides ("true", "false" or a fraction). */
  mode?: RolloutMode
  /** Overrides the environment flag (`true` → "native", `false` → "legacy"); `mode` wins over it. */
  enabled?: boolean
  /** Mode "ab": the share of inputs served by native, 0..1 (implies mode "ab"; default the flag's). */
  share?: number
  /**
   * Mode "ab": the key that makes the assignment sticky, from the call's input: the routing
   * context (router), the key (cache), the metric name (monitor). Default: the context's
   * `userTier` and a hash of its `task`; the key; the metric name.
   */
  assignBy?: (input: any) => string
  /** Mode "ab": when the native arm is rolled back (see `RollbackOptions`). */
  rollback?: RollbackOptions
  /** The constructor argument given to both sides (e.g. the cache config). */
  config?: C
  /** Where flags are read (default `process.env`). */
  env?: Record<string, string | undefined>
  /** The circuit breaker of mode "native" (see `CircuitOptions` for the defaults). */
  circuit?: CircuitOptions
  /** Mode "native" without fallback: returns the bare native instance. Default true. */
  fallback?: boolean
  /**
   * Receives the rollout metrics, named `rollout_<kind>_<what>`: `agreement` (1 or 0 per
   * compared call), `legacy_latency` and `native_latency` (ms, compared calls), `native_error`
   * (shadow), `fallback` (1 per call retried on legacy), `circuit_open` (1 on opening, 0 on
   * closing), `rollback` (1, metadata the `RollbackEvent`). Default: none.
   */
  monitor?: MetricSink
  /** Disagreements kept, the most recent (default 100; a whole number ≥ 0, or `Infinity`). */
  maxDisagreements?: number
  /** Shadow comparisons pending at once; beyond it the native call is skipped and counted in `shadowSkipped` (default 1000; a whole number ≥ 0, or `Infinity`). */
  maxShadowInFlight?: number
  /**
   * Whether a native error counts against the circuit (mode "native") or the native arm
   * (mode "ab"). Default: every error but a `TypeError` or `RangeError` (native refusing the
   * caller's input, naming the field) and `ERR_SHUT_DOWN`. In mode "native" a native error
   * the legacy retry raises too never counts: the input was bad, not the native code.
   */
  countsAsFailure?: (err: unknown) => boolean
  /** Clock in ms, for the latencies and the cooldown (default `performance.now`). */
  now?: () => number
  /**
   * Mode "native": the share of calls timed, from 0 to 1 (default 0.1; 1 times every
   * call). The probe, and every call while the circuit is not closed, is always timed.
   */
  latencySample?: number
}

/** Options of `createCacheManager`: those of every factory, and `predictive`. */
export interface CacheRolloutOptions extends RolloutOptions<CacheConfig> {
  /**
   * Whether `predictiveWarmCache` warms (default: the `ENABLE_PREDICTIVE_CACHING` flag);
   * off, it resolves at once and does nothing. Applies to the wrappers (modes "native" and
   * "shadow"); mode "legacy" returns the legacy instance untouched.
   */
  predictive?: boolean
}

/** A shadow-mode call whose two answers differed: an entry of `RolloutStats.disagreements` and the payload of the `shadow_disagreement` event. */
export interface Disagreement {
  /** The method called. */
  method: string
  /** The inputs, copied (a Map as its keys, long strings cut to 1000 characters). */
  args: unknown[]
  /** The legacy's answer, copied as `args` (an error as `{error, code}`). */
  legacy: unknown
  /** The native side's answer, copied likewise. */
  native: unknown
  /** When it was judged, ms since the epoch (`Date.now()`). */
  at: number
}

/** What `getRolloutStats` reports of a wrapper. */
export interface RolloutStats {
  /** Which drop-in class the wrapper stands for. */
  kind: RolloutKind
  /** The wrapper's mode (never "legacy": that mode returns the legacy instance itself). */
  mode: RolloutMode
  /** Calls served by (or, in shadow mode, run on) each side. */
  calls: { legacy: number; native: number }
  /** Native calls that failed and were retried on legacy. */
  fallbacks: number
  /** Shadow native calls skipped because `maxShadowInFlight` were pending. */
  shadowSkipped: number
  /** Native errors in shadow mode (never seen by the caller). */
  shadowErrors: number
  /** Shadow mode: calls whose answers were compared, those that agreed, and agreed / compared (1 when none). */
  agreement: { compared: number; agreed: number; rate: number }
  /** The most recent disagreements (at most `maxDisagreements`), oldest first; a copy. */
  disagreements: Disagreement[]
  /** Mode "native": the circuit breaker's state; null in the other modes. */
  circuit: CircuitSnapshot | null
  /** Latencies of the compared operations (shadow) or of the timed native calls (native), last 1024 per side. */
  latency: { legacy: LatencySummary; native: LatencySummary }
  /** Mode "ab": the arms, their difference and the rollback; null in the other modes. */
  arms: AbReport | null
}

/** What the wrapper adds to the drop-in interface. */
export interface RolloutControl {
  /** The wrapper's statistics now (a copy). */
  getRolloutStats(): RolloutStats
  /** Resolves when every pending shadow comparison has been recorded. */
  rolloutSettled(): Promise<void>
}

/**
 * What a rollout factory returns: the drop-in interface `T`, and in modes "native",
 * "shadow" and "ab" the wrapper's controls (`RolloutControl`; absent in mode "legacy", which
 * returns the legacy instance itself, and in mode "native" with `fallback: false`, which
 * returns the bare native instance).
 *
 * The wrapper is an `EventEmitter` whose events are those of the side being served (in
 * mode "ab", of both sides), and its own:
 * - `"circuit_open"`, payload {@link CircuitOpenEvent}: the circuit opened (mode "native").
 * - `"circuit_half_open"`, payload `{ cooldownMs: number }`: the cooldown passed and this
 *   call is the probe. A listener that throws sends the circuit back to open.
 * - `"circuit_close"`, payload `{ probeLatency: number }` (ms): the probe succeeded and the
 *   circuit closed.
 * - `"shadow_disagreement"`, payload {@link Disagreement}: the two answers of a shadow
 *   call differed.
 * - `"rollout_rollback"`, payload {@link RollbackEvent}: mode "ab" rolled the native arm
 *   back (share 0).
 * A native failure is retried on the legacy side (modes "native" and "ab"), so the caller
 * sees the legacy's error when both fail. After `shutdown()` no legacy instance is made (its
 * timers would keep the process alive): the native side's `ERR_SHUT_DOWN` reaches the caller as is.
 */
export type Rollout<T> = T & Partial<RolloutControl>
