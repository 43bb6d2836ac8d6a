/**
 * The rollout's feature flags and modes: which environment variable governs each kind, what
 * values it accepts ("true", "false", or a fraction: the share of an A/B rollout), and the
 * mode the factory options resolve to.
 */
import { rangeError, typeError } from './errors'

/**
 * How a rollout factory serves calls: `"legacy"` the legacy instance itself; `"native"` the
 * native class behind a circuit breaker, retrying failures on legacy; `"shadow"` both sides,
 * serving the legacy's answer and comparing; `"ab"` a sticky share of the inputs on native.
 */
export type RolloutMode = 'legacy' | 'native' | 'shadow' | 'ab'
/** Which drop-in class a rollout stands for: `ModelRouter`, `CacheManager` or `PerformanceMonitor`. */
export type RolloutKind = 'router' | 'cache' | 'monitor'

/** What a rollout flag says: a mode, and for mode "ab" the share served by native. */
export type RolloutFlag = { mode: 'legacy' | 'native' } | { mode: 'ab'; share: number }

/** Which environment flag governs each kind. The monitor follows the router's flag. */
export const ROLLOUT_FLAGS: Readonly<Record<RolloutKind, string>> = Object.freeze({
  router: 'ENABLE_ASYNC_ROUTING',
  cache: 'ENABLE_CONNECTION_POOLING',
  monitor: 'ENABLE_ASYNC_ROUTING',
})
/**
 * The environment variable that turns the cache's `predictiveWarmCache` on ("true") or off
 * ("false", empty or unset). Read when `createCacheManager` builds a wrapper without
 * `options.predictive`; any other value is then a `RangeError` naming the variable.
 */
export const PREDICTIVE_FLAG = 'ENABLE_PREDICTIVE_CACHING'

type Env = Record<string, string | undefined>

/** A decimal fraction from 0 to 1: "0", "0.1", ".25", "1", "1.0". */
const FRACTION = /^(?:0(?:\.\d*)?|\.\d+|1(?:\.0*)?)$/

/**
 * A boolean flag (`ENABLE_PREDICTIVE_CACHING`): "true" is on; "false", empty or unset is
 * off; anything else is a `RangeError` naming the variable.
 */
export function flagEnabled(name: string, env: Env = process.env): boolean {
  const v = env[name]
  if (v === 'true') return true
  if (v === undefined || v === '' || v === 'false') return false
  throw rangeError(name, '"true" or "false"', v)
}

/**
 * A rollout flag (`ENABLE_ASYNC_ROUTING`, `ENABLE_CONNECTION_POOLING`): "true" is mode
 * "native"; "false", empty or unset is "legacy"; a fraction from 0 to 1 (e.g. "0.1") is
 * mode "ab" with that share; anything else is a `RangeError` naming the variable.
 */
export function readRolloutFlag(name: string, env: Env = process.env): RolloutFlag {
  const v = env[name]
  if (v === 'true') return { mode: 'native' }
  if (v === undefined || v === '' || v === 'false') return { mode: 'legacy' }
  if (typeof v === 'string' && FRACTION.test(v)) return { mode: 'ab', share: Number(v) }
  throw rangeError(name, '"true", "false" or a fraction from 0 to 1 (e.g. "0.1")', v)
}

/** The options that decide the mode (a subset of the factories' options). */
export interface ModeOptions {
  /** Forces a mode (any other value is a `TypeError`); wins over everything else. */
  mode?: RolloutMode
  /** `true`: mode "native", `false`: mode "legacy", over the flag (not a boolean: `TypeError`). */
  enabled?: boolean
  /**
   * Mode "ab" with this share on native, 0 to 1 (not a number: `TypeError`; outside 0..1:
   * `RangeError`; with another `mode` or with `enabled`: `TypeError`).
   */
  share?: number
  /** Where the flag is read (default `process.env`). */
  env?: Env
}

/** The mode and share a factory will use, and the flag the share was read from (null: from the options). */
export interface ResolvedRollout {
  mode: RolloutMode
  share: number
  flag: string | null
}

/** A boolean option, when given: anything else (`"no"` included) is a `TypeError`, not truthiness. */
function checkFlagOption(options: object, field: 'enabled' | 'fallback' | 'predictive'): void {
  const v = (options as Record<string, unknown>)[field]
  if (v !== undefined && typeof v !== 'boolean') throw typeError(field, 'a boolean', v)
}

/** A share option: a number from 0 to 1. */
export function checkShare(field: string, v: unknown): number {
  if (typeof v !== 'number') throw typeError(field, 'a number from 0 to 1', v)
  if (!(v >= 0 && v <= 1)) throw rangeError(field, 'a fraction from 0 to 1', v)
  return v
}

/** The share of mode "ab" read from a flag: its fraction, 1 for "true", 0 otherwise. */
function flagShare(flag: RolloutFlag): number {
  return flag.mode === 'ab' ? flag.share : flag.mode === 'native' ? 1 : 0
}

/**
 * Precedence: `mode` > `enabled` > `share` (mode "ab") > the flag. With mode "ab" and no
 * `share`, the share is the flag's (its fraction; "true" 1; otherwise 0).
 */
export function resolveRollout(kind: RolloutKind, options: ModeOptions = {}): ResolvedRollout {
  if (options === null || typeof options !== 'object') throw typeError('options', 'an object', options)
  for (const flag of ['enabled', 'fallback', 'predictive'] as const) checkFlagOption(options, flag)
  const { mode, share } = options
  if (mode !== undefined && mode !== 'legacy' && mode !== 'native' && mode !== 'shadow' && mode !== 'ab') {
    throw typeError('mode', '"legacy", "native", "shadow" or "ab"', mode)
  }
  if (share !== undefined) {
    checkShare('share', share)
    if ((mode !== undefined && mode !== 'ab') || options.enabled !== undefined) {
      throw typeError('share', 'given only with mode "ab" (and without enabled)', share)
    }
    return { mode: 'ab', share, flag: null }
  }
  const name = ROLLOUT_FLAGS[kind]
  const env = options.env ?? process.env
  if (mode === 'ab') return { mode, share: flagShare(readRolloutFlag(name, env)), flag: name }
  if (mode !== undefined) return { mode, share: mode === 'native' ? 1 : 0, flag: null }
  if (options.enabled !== undefined)
    return options.enabled ? { mode: 'native', share: 1, flag: null } : { mode: 'legacy', share: 0, flag: null }
  const flag = readRolloutFlag(name, env)
  return { mode: flag.mode, share: flagShare(flag), flag: flag.mode === 'ab' ? name : null }
}

/**
 * The mode a factory of `kind` will use for these options (precedence: `mode` > `enabled`
 * > `share` > the flag of `ROLLOUT_FLAGS[kind]`).
 *
 * @throws {TypeError} `options` not an object, or a field of the wrong type (named).
 * @throws {RangeError} `share` outside 0..1, or a flag value it does not accept (the variable named).
 */
export function resolveMode(kind: RolloutKind, options: ModeOptions = {}): RolloutMode {
  return resolveRollout(kind, options).mode
}
