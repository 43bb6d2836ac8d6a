/**
 * The rollout toolkit: feature flags, shadow mode (A/B without risk) and automatic fallback.
 *
 * `createModelRouter`, `createCacheManager` and `createPerformanceMonitor` take the caller's
 * legacy implementation (a class, a factory or an instance) and return an object with the
 * drop-in interface:
 * - mode "legacy": the legacy instance itself, untouched;
 * - mode "native": a wrapper serving the native class behind a circuit breaker; a call that
 *   fails on the native side is retried on the legacy side (created only when first needed);
 * - mode "shadow": a wrapper running every call on both, serving the legacy result and
 *   recording agreement, both latencies and every disagreement;
 * - mode "ab": a wrapper sending a share of the inputs to native, sticky per input, with
 *   per-arm figures and an automatic rollback (share to 0) when native does worse.
 * The environment flag decides unless `mode` is given ("true", "false", or a fraction: the
 * share of mode "ab").
 */
import { CacheManager } from './cache-manager'
import { typeError } from './errors'
import { ModelRouter, type ModelRouterOptions } from './model-router'
import { PerformanceMonitor, type PerformanceMonitorOptions } from './performance-monitor'
import { checkShare, flagEnabled, PREDICTIVE_FLAG, resolveRollout, type RolloutKind } from './rollout-flags'
import type { CacheRolloutOptions, LegacyImplementation, MetricSink, Rollout, RolloutOptions, RolloutStats } from './rollout-types'
import { type AnyFn, instantiate, RolloutWrapper } from './rollout-wrapper'

export type { ArmComparison, ArmDifference, ArmLatency, ArmReport } from './ab-arms'
export type { ArmWindow, RollbackEvent, RollbackOptions } from './ab-rollback'
export type { AbReport } from './ab-rollout'
export type { CircuitOpenEvent, CircuitOptions, CircuitSnapshot, CircuitState } from './circuit-breaker'
export { flagEnabled, PREDICTIVE_FLAG, readRolloutFlag, resolveMode, ROLLOUT_FLAGS } from './rollout-flags'
export type { ModeOptions, RolloutFlag, RolloutKind, RolloutMode } from './rollout-flags'
export type { LatencySummary } from './rollout-latency'
export type {
  CacheRolloutOptions,
  Disagreement,
  LegacyImplementation,
  MetricSink,
  Rollout,
  RolloutControl,
  RolloutOptions,
  RolloutStats,
} from './rollout-types'

function checkImpl(fn: string, impl: unknown): void {
  if (impl === null || (typeof impl !== 'function' && typeof impl !== 'object')) {
    throw typeError(`${fn}: legacy`, 'a class, a factory or an instance', impl)
  }
}

function build<T extends object>(
  kind: RolloutKind,
  legacy: LegacyImplementation<T>,
  options: RolloutOptions,
  makeNative: () => object,
  extraMethods: () => Record<string, AnyFn> = () => ({}),
): Rollout<T> {
  const { mode, share, flag } = resolveRollout(kind, options)
  if (mode === 'legacy') return instantiate(legacy, options.config) as Rollout<T>
  const native = makeNative()
  if (mode === 'native' && options.fallback === false) return native as Rollout<T>
  const w = new RolloutWrapper(kind, mode, () => instantiate(legacy, options.config), native, options, extraMethods(), { share, flag })
  return w as unknown as Rollout<T>
}

/**
 * The router for this process: `ENABLE_ASYNC_ROUTING` "true" is the native one behind a
 * circuit breaker, a fraction an A/B rollout with that share on native, else the legacy one;
 * `options.mode` overrides ("shadow" runs both). The legacy implementation is built with
 * `options.config` (mode "native": only on the first fallback), the native `ModelRouter`
 * with the same.
 *
 * @throws {TypeError} `legacy` not a class, a factory or an instance; `options` not an
 *   object, or an option of the wrong type (named: see `RolloutOptions`).
 * @throws {RangeError} an option out of range, or the environment flag set to a value it
 *   does not accept (the variable named).
 */
export function createModelRouter<T extends object>(
  legacy: LegacyImplementation<T>,
  options: RolloutOptions<ModelRouterOptions> = {},
): Rollout<T> {
  checkImpl('createModelRouter', legacy)
  return build('router', legacy, options, () => new ModelRouter(options.config))
}

/**
 * The cache for this process: `ENABLE_CONNECTION_POOLING` chooses the native cache (its
 * SQLite pool), or with a fraction an A/B rollout by key; `ENABLE_PREDICTIVE_CACHING` (or
 * `options.predictive`) turns
 * `predictiveWarmCache` on; off, it resolves at once and does nothing.
 *
 * @throws {TypeError} `legacy` not a class, a factory or an instance; `options` not an
 *   object, or an option of the wrong type (named: see `RolloutOptions`).
 * @throws {RangeError} an option out of range, or the environment flag set to a value it
 *   does not accept (the variable named).
 */
export function createCacheManager<T extends object>(legacy: LegacyImplementation<T>, options: CacheRolloutOptions = {}): Rollout<T> {
  checkImpl('createCacheManager', legacy)
  // read once `build` has checked the options
  return build(
    'cache',
    legacy,
    options,
    () => new CacheManager(options.config),
    (): Record<string, AnyFn> =>
      (options.predictive ?? flagEnabled(PREDICTIVE_FLAG, options.env ?? process.env))
        ? {}
        : { predictiveWarmCache: () => Promise.resolve() },
  )
}

/**
 * The plain form, with no legacy implementation: a native `PerformanceMonitor`, as
 * `new PerformanceMonitor(options)`.
 *
 * @throws {TypeError} `options` not an object, or an option of the wrong type (named).
 * @throws {RangeError} an option out of range (named).
 */
export function createPerformanceMonitor(options?: PerformanceMonitorOptions): PerformanceMonitor
/**
 * The monitor for this process; it follows the router's flag (`ENABLE_ASYNC_ROUTING`)
 * unless `options.enabled` or `options.mode` says otherwise.
 *
 * `legacy` is a class, a factory, or an instance with a `recordMetric` method; any other
 * first argument is taken as the options of the plain form (a native `PerformanceMonitor`).
 *
 * @throws {TypeError} `options` not an object, or an option of the wrong type (named: see
 *   `RolloutOptions`).
 * @throws {RangeError} an option out of range, or the environment flag set to a value it
 *   does not accept (the variable named).
 */
export function createPerformanceMonitor<T extends object>(
  legacy: LegacyImplementation<T>,
  options?: RolloutOptions<PerformanceMonitorOptions>,
): Rollout<T>
export function createPerformanceMonitor(legacy?: unknown, options: RolloutOptions<PerformanceMonitorOptions> = {}): unknown {
  const isImpl =
    typeof legacy === 'function' ||
    (legacy !== null && typeof legacy === 'object' && typeof (legacy as MetricSink).recordMetric === 'function')
  if (!isImpl) return new PerformanceMonitor(legacy as PerformanceMonitorOptions | undefined)
  return build('monitor', legacy as object, options, () => new PerformanceMonitor(options.config))
}

/**
 * Sets the share of an A/B rollout (mode "ab"), e.g. back up after a rollback: from 0 to 1,
 * the fraction of inputs served by native. The rollback window starts afresh.
 *
 * @throws {TypeError} `obj` not a wrapper in mode "ab"; `share` not a number.
 * @throws {RangeError} `share` outside 0..1.
 */
export function setRolloutShare(obj: unknown, share: number): void {
  if (!(obj instanceof RolloutWrapper) || obj.ab === null)
    throw typeError('setRolloutShare: obj', 'an object made by a rollout factory in mode "ab"', obj)
  obj.ab.setShare(checkShare('share', share))
}

/** The rollout statistics of an object made by one of the factories, or null (mode "legacy", or not one of ours). */
export function getRolloutStats(obj: unknown): RolloutStats | null {
  return obj instanceof RolloutWrapper ? obj.getRolloutStats() : null
}
