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
  recordMetric(name: string, value: number, metadata?: unknown): void
}

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
  /** Receives the rollout metrics (`rollout_<kind>_*`). */
  monitor?: MetricSink
  /** Disagreements kept, the most recent (default 100). */
  maxDisagreements?: number
  /** Shadow comparisons pending at once; beyond it the native call is skipped and counted (default 1000). */
  maxShadowInFlight?: number
  /**
   * Whether a native error counts against the circuit (default: every error after which the
   * legacy retry succeeded; an error the legacy raises too is the caller's, not native's).
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

export interface CacheRolloutOptions extends RolloutOptions<CacheConfig> {
  /**
   * Whether `predictiveWarmCache` warms (default: the `ENABLE_PREDICTIVE_CACHING` flag);
   * off, it resolves at once and does nothing. Applies to the wrappers (modes "native" and
   * "shadow"); mode "legacy" returns the legacy instance untouched.
   */
  predictive?: boolean
}

export interface Disagreement {
  method: string
  /** The inputs, copied (a Map as its keys, long strings cut to 1000 characters). */
  args: unknown[]
  legacy: unknown
  native: unknown
  at: number
}

export interface RolloutStats {
  kind: RolloutKind
  mode: RolloutMode
  /** Calls served by (or, in shadow mode, run on) each side. */
  calls: { legacy: number; native: number }
  /** Native calls that failed and were retried on legacy. */
  fallbacks: number
  /** Shadow native calls skipped because `maxShadowInFlight` were pending. */
  shadowSkipped: number
  /** Native errors in shadow mode (never seen by the caller). */
  shadowErrors: number
  agreement: { compared: number; agreed: number; rate: number }
  disagreements: Disagreement[]
  circuit: CircuitSnapshot | null
  /** Latencies of the compared operations (shadow) or of the timed native calls (native), last 1024 per side. */
  latency: { legacy: LatencySummary; native: LatencySummary }
  /** Mode "ab": the arms, their difference and the rollback; null in the other modes. */
  arms: AbReport | null
}

/** What the wrapper adds to the drop-in interface. */
export interface RolloutControl {
  getRolloutStats(): RolloutStats
  /** Resolves when every pending shadow comparison has been recorded. */
  rolloutSettled(): Promise<void>
}

export type Rollout<T> = T & Partial<RolloutControl>
