/**
 * Checks of the router's input: contexts, options and the caller's callbacks' results. Each
 * bad value is a `TypeError`/`RangeError` naming its field.
 */
import { rangeError, typeError } from './errors'
import { checkAdaptiveOptions } from './router-adaptive'
import type { ModelRouterOptions } from './router-types'
import { wellFormed } from './strings'

/** Tier and priority codes; comparisons, not a table (a tier named "toString" is unknown). */
export function tierCode(t: string): number | undefined {
  return t === 'pro' ? 1 : t === 'free' ? 0 : t === 'enterprise' ? 2 : undefined
}
function priorityCode(p: string): number | undefined {
  return p === 'medium' ? 1 : p === 'high' ? 2 : p === 'low' ? 0 : p === 'critical' ? 3 : undefined
}
export const TIERS_TEXT = '"free", "pro" or "enterprise"'
const PRIORITIES_TEXT = '"low", "medium", "high" or "critical"'

/** A context checked and encoded for the binding. */
export interface Checked {
  task: string
  tier: number
  priority: number
  latency: number
  budget: number // NaN when absent
  capabilitiesJson: string | null
}

export function checkNumber(field: string, v: unknown, optional: boolean): number {
  if (typeof v === 'number' && v >= 0 && v < Infinity) return v // the common case, first
  if (v === undefined && optional) return NaN
  if (typeof v !== 'number') throw typeError(field, 'a number', v)
  if (!Number.isFinite(v) || v < 0) throw rangeError(field, 'a finite number ≥ 0', v)
  return v
}

export function checkStrings(field: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw typeError(field, 'an array of strings', v)
  // the field's name is built only for an error (this runs per routed context)
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string' || !wellFormed(v[i])) throw typeError(`${field}[${i}]`, 'a well-formed string', v[i])
  }
  return v as string[]
}

/** A string Rust can hold exactly (no lone surrogate), or a `TypeError` naming `field`. */
export function checkString(field: string, v: unknown): string {
  if (typeof v !== 'string' || !wellFormed(v)) throw typeError(field, 'a well-formed string', v)
  return v
}

export function checkContext(c: unknown): Checked {
  if (typeof c !== 'object' || c === null) throw typeError('context', 'an object', c)
  const ctx = c as Record<string, unknown>
  const task = ctx.task
  if (typeof task !== 'string') throw typeError('context.task', 'a string', task)
  const userTier = ctx.userTier
  const tier = typeof userTier === 'string' ? tierCode(userTier) : undefined
  if (tier === undefined) throw typeError('context.userTier', TIERS_TEXT, userTier)
  const prio = ctx.priority
  const priority = typeof prio === 'string' ? priorityCode(prio) : undefined
  if (priority === undefined) throw typeError('context.priority', PRIORITIES_TEXT, prio)
  const latency = checkNumber('context.latencyRequirement', ctx.latencyRequirement, false)
  const budget = checkNumber('context.tokenBudget', ctx.tokenBudget, true)
  const caps = ctx.capabilities
  const capabilitiesJson = caps === undefined ? null : JSON.stringify(checkStrings('context.capabilities', caps))
  return { task, tier, priority, latency, budget, capabilitiesJson }
}

/** An optional quota: absent, or a finite number > 0. */
export function checkQuota(field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number') throw typeError(field, 'a number', v)
  if (!(v > 0 && v < Infinity)) throw rangeError(field, 'a finite number > 0', v)
  return v
}

export function checkOptions(o: unknown): ModelRouterOptions {
  if (o === undefined) return {}
  if (typeof o !== 'object' || o === null) throw typeError('options', 'an object', o)
  const opts = o as Record<string, unknown>
  const out: ModelRouterOptions = {}
  if (opts.strategy !== undefined) {
    if (opts.strategy !== 'legacy' && opts.strategy !== 'rules' && opts.strategy !== 'adaptive') {
      throw typeError('options.strategy', '"legacy", "rules" or "adaptive"', opts.strategy)
    }
    out.strategy = opts.strategy
  }
  if (opts.tierPolicy !== undefined) {
    if (opts.tierPolicy !== 'strict' && opts.tierPolicy !== 'legacy')
      throw typeError('options.tierPolicy', '"strict" or "legacy"', opts.tierPolicy)
    out.tierPolicy = opts.tierPolicy
  }
  if (opts.seed !== undefined) {
    if (typeof opts.seed !== 'number') throw typeError('options.seed', 'a number', opts.seed)
    if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) throw rangeError('options.seed', 'a safe integer ≥ 0', opts.seed)
    out.seed = opts.seed
  }
  if (opts.cacheSize !== undefined) {
    if (typeof opts.cacheSize !== 'number') throw typeError('options.cacheSize', 'a number', opts.cacheSize)
    if (!Number.isInteger(opts.cacheSize) || opts.cacheSize < 1 || opts.cacheSize > 1_000_000) {
      throw rangeError('options.cacheSize', 'an integer from 1 to 1000000', opts.cacheSize)
    }
    out.cacheSize = opts.cacheSize
  }
  if (opts.cacheTtlMs !== undefined) out.cacheTtlMs = checkNumber('options.cacheTtlMs', opts.cacheTtlMs, false)
  if (opts.estimateTokens !== undefined) {
    if (typeof opts.estimateTokens !== 'function')
      throw typeError('options.estimateTokens', 'a function (task) => tokens', opts.estimateTokens)
    out.estimateTokens = opts.estimateTokens as (task: string) => number
  }
  // the clock stays here; the rest goes to Rust with the JSON
  const clock = checkAdaptiveOptions(opts, out as Record<string, unknown>)
  if (clock !== undefined) out.clock = clock
  return out
}

/** The caller's input-token estimate of `task`, checked (a bad one would misroute silently). */
export function readEstimate(estimate: (task: string) => number, task: string): number {
  const n = estimate(task)
  if (typeof n !== 'number') throw typeError('options.estimateTokens()', 'a number of tokens', n)
  if (!(n >= 0 && n < Infinity)) throw rangeError('options.estimateTokens()', 'a finite number ≥ 0', n)
  return n
}

/** The clock's reading, checked: a bad clock would corrupt every cooldown and TTL. */
export function readClock(clock: () => number): number {
  const t = clock()
  if (typeof t !== 'number' || !Number.isFinite(t)) throw typeError('options.clock()', 'a finite number of milliseconds', t)
  return t
}
