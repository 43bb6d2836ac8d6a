/**
 * The adaptive strategy's public types and the checks and encodings of its inputs: the
 * options, reported outcomes and the health records and events that come back from Rust.
 * `ModelRouter` (`model-router.ts`) owns the state; this module holds no state.
 */
import { rangeError, typeError } from './errors'
import { PICK_AFFINITY, PICK_BALANCED, PICK_PREFERRED, PICK_PROBE } from './router-layout'

/** What went wrong with a call, as the provider or the caller's client says. */
export type OutcomeErrorType =
  | 'rate_limit'
  | 'overloaded'
  | 'server'
  | 'timeout'
  | 'connection'
  | 'auth'
  | 'bad_request'
  | 'context_length'
  | 'content_policy'

/** The outcome of a model call, for `reportOutcome`. */
export interface Outcome {
  /** The call succeeded. */
  ok: boolean
  /** Time to the provider's answer, or to the failure (ms, finite, ≥ 0). */
  latencyMs: number
  /** The provider's HTTP status, when there was one (an integer from 100 to 599). */
  status?: number
  /** Wins over `status`. */
  errorType?: OutcomeErrorType
  /** From the provider's Retry-After (ms, finite, ≥ 0); read for rate limits. */
  retryAfterMs?: number
  /** Tokens of the prompt (settles rate-limit and budget reservations). */
  inputTokens?: number
  /** Tokens of the answer (settles rate-limit and budget reservations). */
  outputTokens?: number
  /** What the call cost (settles budget reservations; else tokens × `costPerToken`). */
  cost?: number
}

/** A model's health under the adaptive strategy: `healthy`; `rate_limited` (a 429, until its Retry-After); `ejected` (model failures, until the ejection time ends); `probing` (one half-open request out); `auth_failed` (until restored). */
export type ModelHealthState = 'healthy' | 'rate_limited' | 'ejected' | 'probing' | 'auth_failed'

/** Why a model's health changed (the `reason` of a health record or event). */
export type ModelHealthReason =
  | 'rate_limited'
  | 'consecutive_failures'
  | 'failure_rate'
  | 'probe_started'
  | 'probe_succeeded'
  | 'probe_failed'
  | 'probe_rate_limited'
  | 'probe_lost'
  | 'cooldown_over'
  | 'auth_failed'
  | 'availability_restored'
  | 'configs_changed'

/** One model's live state (`getModelHealth()`). */
export interface ModelHealth {
  /** The model. */
  modelName: string
  /** Its health now. */
  state: ModelHealthState
  /** When a rate limit or an ejection ends, on the router's clock (ms); absent otherwise. */
  untilMs?: number
  /** Why the model is in its state (absent while it never changed). */
  reason?: ModelHealthReason
  /** Peak-EWMA latency estimate now (ms): the model's `latencyTarget` until a call returns. */
  latencyEstimateMs: number
  /** Decisions naming the model whose outcome has not been reported (bounded, expiring). */
  inFlight: number
  /** Ejections so far. */
  ejections: number
  /** Model failures in a row (rate limits and caller errors do not count). */
  consecutiveFailures: number
  /** `updateModelAvailability` / step 1 availability (an unavailable model is never routed to). */
  available: boolean
}

/** Payload of the `model_health_changed` event. */
export interface ModelHealthChange {
  /** The model. */
  modelName: string
  /** The state it left. */
  from: ModelHealthState
  /** The state it entered. */
  to: ModelHealthState
  /** Why. */
  reason: ModelHealthReason
  /** When the new state ends (rate limited, ejected), on the router's clock; else undefined. */
  untilMs: number | undefined
}

/** Tuning of `strategy: "adaptive"` (every field optional; defaults in docs/router.md). */
export interface AdaptiveOptions {
  /** Monotonic clock in ms (default `performance.now`): cooldowns, windows, EWMA decay, routing-cache TTL, purge. */
  clock?: () => number
  /** Every eligible model cooling or ejected: name the one that clears soonest (default `"closest"`) or reject. */
  whenNoneHealthy?: 'closest' | 'reject'
  /** Consecutive model failures that eject a model (default 3). */
  consecutiveFailures?: number
  /** Failure share over the window that ejects (default 0.5)… */
  failureRateThreshold?: number
  /** …once the window holds this many calls (default 10)… */
  failureRateMinRequests?: number
  /** …over this window (ms, default 10000). */
  failureRateWindowMs?: number
  /** First ejection time; the n-th lasts n times this (ms, default 5000)… */
  baseEjectionMs?: number
  /** …up to this cap (ms, default 300000). */
  maxEjectionMs?: number
  /** Cooldowns are lengthened by up to this share of themselves (default 0.1). */
  jitter?: number
  /** Cooldown after a 429 without `retryAfterMs` (ms, default 5000, plus jitter). */
  rateLimitCooldownMs?: number
  /** Cap on any 429 cooldown, Retry-After included (ms, default 60000). */
  maxRateLimitCooldownMs?: number
  /** A probe whose outcome never comes is lost after this long (ms, default 30000). */
  probeTimeoutMs?: number
  /** Peak-EWMA time constant (ms, default 10000). */
  latencyDecayMs?: number
  /** A failure counts as a latency of at least this many times the model's `latencyTarget` (default 2). */
  failurePenalty?: number
  /** A decision without an outcome stops counting as in flight after this long (ms, default 120000). */
  inFlightTimeoutMs?: number
  /** Decisions counted in flight per model at most (default 1024). */
  maxInFlight?: number
  /** The best-ranked healthy model is kept while neither its latency estimate (a slow answer counts once the next answer confirms it) nor its second-oldest call in flight exceeds this many times its `latencyTarget` (default 4). */
  slowFactor?: number
  /** This many calls out for longer than `lateFactor` × `latencyTarget`, with no call decided after them back within that time, also mark a model slow (default 3)… */
  lateCalls?: number
  /** …(default 1.5). */
  lateFactor?: number
  /**
   * The input-token estimate of a task (default: the router's own, cheap and conservative:
   * ⌈ASCII bytes / 3⌉ + 1 per non-ASCII character, 2 per character outside the BMP). Must
   * depend on the task alone (it is read when the request's candidates are ranked, and
   * cached with them) and return a finite number ≥ 0. A model whose `maxTokens` is below
   * the estimate plus `context.tokenBudget` is never named.
   */
  estimateTokens?: (task: string) => number
  /** Output tokens a decision reserves against a model's `tpm` when the context has no `tokenBudget` (default 1024). */
  defaultOutputTokens?: number
  /** Session affinity for contexts with a `sessionId` (default true; false turns it off). */
  sessionAffinity?: boolean
  /** A session not routed for this long is forgotten (ms, default 600000). */
  sessionIdleMs?: number
  /** Sessions remembered at most; the least recently routed drops first (default 10000, integer 1–1000000). */
  maxSessions?: number
}

/** Error types in the order of their codes in Rust (`router_core::outcome::ErrorType::ALL`). */
const ERROR_TYPES: readonly OutcomeErrorType[] = [
  'rate_limit',
  'overloaded',
  'server',
  'timeout',
  'connection',
  'auth',
  'bad_request',
  'context_length',
  'content_policy',
]
const ERROR_TYPES_TEXT = ERROR_TYPES.map((e) => `"${e}"`).join(', ')
const SERVER = 2
const CALLER_ERRORS_FROM = 6

function errorTypeCode(e: string): number {
  for (let i = 0; i < ERROR_TYPES.length; i++) if (ERROR_TYPES[i] === e) return i
  return -1
}

/** The error-type code of an HTTP status alone (-1: not an error status). */
function statusCode(status: number): number {
  if (status === 429) return 0
  if (status === 503 || status === 529) return 1
  if (status === 408) return 3
  if (status === 401 || status === 403) return 5
  if (status === 413) return 7
  if (status >= 500 && status <= 599) return SERVER
  if (status >= 400 && status <= 499) return 6
  return -1
}

function optionalNumber(field: string, v: unknown): number {
  if (v === undefined) return NaN
  if (typeof v !== 'number') throw typeError(field, 'a number', v)
  if (!Number.isFinite(v) || v < 0) throw rangeError(field, 'a finite number ≥ 0', v)
  return v
}

/** An outcome, checked and encoded: nothing is applied unless all of it is valid. */
export interface EncodedOutcome {
  latency: number
  /** 0 success, else 1 + the error type's code. */
  classCode: number
  /** Performance sample: 1 success, 0 failure, -1 none (a caller error). */
  success: number
  cost: number
  output: number
  total: number
  retryAfter: number
  /** The outcome's `cost` (NaN: absent), which settles a budget reservation. */
  reportedCost: number
  ok: boolean
}

/** Checks `outcome` (a `TypeError`/`RangeError` naming the field) and encodes it. */
export function encodeOutcome(outcome: unknown, into: EncodedOutcome): EncodedOutcome {
  if (typeof outcome !== 'object' || outcome === null) throw typeError('outcome', 'an object', outcome)
  const o = outcome as Record<string, unknown>
  const ok = o.ok
  if (typeof ok !== 'boolean') throw typeError('outcome.ok', 'a boolean', ok)
  const latency = o.latencyMs
  if (typeof latency !== 'number') throw typeError('outcome.latencyMs', 'a number', latency)
  if (!(latency >= 0 && latency < Infinity)) throw rangeError('outcome.latencyMs', 'a finite number ≥ 0', latency)
  let classCode = 0
  const status = o.status
  if (status !== undefined) {
    if (typeof status !== 'number') throw typeError('outcome.status', 'a number', status)
    if (!Number.isInteger(status) || status < 100 || status > 599) throw rangeError('outcome.status', 'an integer from 100 to 599', status)
  }
  const errorType = o.errorType
  let code = -1
  if (errorType !== undefined) {
    code = typeof errorType === 'string' ? errorTypeCode(errorType) : -1
    if (code < 0) throw typeError('outcome.errorType', `one of ${ERROR_TYPES_TEXT}`, errorType)
  }
  const retryAfter = optionalNumber('outcome.retryAfterMs', o.retryAfterMs)
  const input = optionalNumber('outcome.inputTokens', o.inputTokens)
  const output = optionalNumber('outcome.outputTokens', o.outputTokens)
  const cost = optionalNumber('outcome.cost', o.cost)
  if (!ok) {
    if (code < 0 && status !== undefined) code = statusCode(status as number)
    if (code < 0) code = SERVER
    classCode = 1 + code
  }
  into.ok = ok
  into.latency = latency
  into.classCode = classCode
  into.success = ok ? 1 : code >= CALLER_ERRORS_FROM ? -1 : 0
  into.cost = cost === cost ? cost : 0
  into.output = output === output && input === input ? output : NaN
  into.total = output === output && input === input ? input + output : NaN
  into.retryAfter = retryAfter
  into.reportedCost = cost
  return into
}

/** Class code of a failed `recordPerformance` sample: a server error. */
export const SERVER_FAILURE_CODE = 1 + SERVER

/** Options that take any finite number ≥ 0 (durations in ms, `lateFactor`, `defaultOutputTokens`). */
const DURATION_OPTIONS = [
  'lateFactor',
  'failureRateWindowMs',
  'baseEjectionMs',
  'maxEjectionMs',
  'rateLimitCooldownMs',
  'maxRateLimitCooldownMs',
  'probeTimeoutMs',
  'latencyDecayMs',
  'inFlightTimeoutMs',
  'sessionIdleMs',
  'defaultOutputTokens',
] as const
/** Integer options and their ranges. */
const COUNT_OPTIONS = [
  ['consecutiveFailures', 1, 1_000_000],
  ['failureRateMinRequests', 1, 1_000_000],
  ['maxInFlight', 1, 1_000_000],
  ['lateCalls', 1, 1_000_000],
  ['maxSessions', 1, 1_000_000],
] as const
/** Share options in [0, 1]. */
const SHARE_OPTIONS = ['failureRateThreshold', 'jitter'] as const
/** Factor options ≥ 1. */
const FACTOR_OPTIONS = ['failurePenalty', 'slowFactor'] as const

/**
 * Checks the adaptive options of `opts` and copies them into `out` (the JSON sent to Rust);
 * returns the clock, if any. Throws before anything is applied.
 */
export function checkAdaptiveOptions(opts: Record<string, unknown>, out: Record<string, unknown>): (() => number) | undefined {
  const clock = opts.clock
  if (clock !== undefined && typeof clock !== 'function') throw typeError('options.clock', 'a function returning milliseconds', clock)
  if (opts.whenNoneHealthy !== undefined) {
    if (opts.whenNoneHealthy !== 'closest' && opts.whenNoneHealthy !== 'reject') {
      throw typeError('options.whenNoneHealthy', '"closest" or "reject"', opts.whenNoneHealthy)
    }
    out.whenNoneHealthy = opts.whenNoneHealthy
  }
  if (opts.sessionAffinity !== undefined) {
    if (typeof opts.sessionAffinity !== 'boolean') throw typeError('options.sessionAffinity', 'a boolean', opts.sessionAffinity)
    out.sessionAffinity = opts.sessionAffinity
  }
  for (const k of DURATION_OPTIONS) {
    const v = opts[k]
    if (v === undefined) continue
    if (typeof v !== 'number') throw typeError(`options.${k}`, 'a number', v)
    if (!Number.isFinite(v) || v < 0) throw rangeError(`options.${k}`, 'a finite number ≥ 0', v)
    out[k] = v
  }
  for (const [k, min, max] of COUNT_OPTIONS) {
    const v = opts[k]
    if (v === undefined) continue
    if (typeof v !== 'number') throw typeError(`options.${k}`, 'a number', v)
    if (!Number.isInteger(v) || v < min || v > max) throw rangeError(`options.${k}`, `an integer from ${min} to ${max}`, v)
    out[k] = v
  }
  for (const k of SHARE_OPTIONS) {
    const v = opts[k]
    if (v === undefined) continue
    if (typeof v !== 'number') throw typeError(`options.${k}`, 'a number', v)
    if (!(v >= 0 && v <= 1)) throw rangeError(`options.${k}`, 'a number from 0 to 1', v)
    out[k] = v
  }
  for (const k of FACTOR_OPTIONS) {
    const v = opts[k]
    if (v === undefined) continue
    if (typeof v !== 'number') throw typeError(`options.${k}`, 'a number', v)
    if (!Number.isFinite(v) || v < 1) throw rangeError(`options.${k}`, 'a finite number ≥ 1', v)
    out[k] = v
  }
  if (
    out.baseEjectionMs !== undefined &&
    out.maxEjectionMs !== undefined &&
    (out.baseEjectionMs as number) > (out.maxEjectionMs as number)
  ) {
    throw rangeError('options.baseEjectionMs', `at most options.maxEjectionMs (${out.maxEjectionMs})`, out.baseEjectionMs)
  }
  return clock as (() => number) | undefined
}

/** `null` from Rust's JSON becomes an absent field. */
export function toModelHealth(r: Record<string, unknown>): ModelHealth {
  const h: ModelHealth = {
    modelName: r.modelName as string,
    state: r.state as ModelHealthState,
    latencyEstimateMs: r.latencyEstimateMs as number,
    inFlight: r.inFlight as number,
    ejections: r.ejections as number,
    consecutiveFailures: r.consecutiveFailures as number,
    available: r.available as boolean,
  }
  if (r.untilMs !== null && r.untilMs !== undefined) h.untilMs = r.untilMs as number
  if (r.reason !== null && r.reason !== undefined) h.reason = r.reason as ModelHealthReason
  return h
}

export function toHealthChange(r: Record<string, unknown>): ModelHealthChange {
  return {
    modelName: r.modelName as string,
    from: r.from as ModelHealthState,
    to: r.to as ModelHealthState,
    reason: r.reason as ModelHealthReason,
    untilMs: r.untilMs === null ? undefined : (r.untilMs as number),
  }
}

/** The reason text of an adaptive decision. */
export function adaptiveReason(
  pick: number,
  modelName: string,
  predictedMs: number,
  inFlight: number,
  untilMs: number,
  nowMs: number,
): string {
  const load = `predicted ${Math.round(predictedMs)} ms, ${inFlight} in flight`
  switch (pick) {
    case PICK_PREFERRED:
      // constant: the layer's memo serves this pick without knowing the numbers
      return 'Adaptive: best-ranked healthy model'
    case PICK_BALANCED:
      return `Adaptive: power of two choices (${load})`
    case PICK_PROBE:
      return `Adaptive: half-open probe of ejected ${modelName}`
    case PICK_AFFINITY:
      return 'Adaptive: the session’s model (affinity)'
    default:
      return untilMs === Infinity
        ? `Adaptive: no healthy model; ${modelName} is ejected until restored`
        : `Adaptive: no healthy model; ${modelName} clears soonest (in ${Math.max(0, Math.round(untilMs - nowMs))} ms)`
  }
}

/**
 * An adaptive decision: the legacy `RoutingDecision`'s fields (same keys, order and JSON),
 * plus, in private fields no key, JSON, spread or copy shows, the router that made it and the
 * decision's id and model name id, which `reportOutcome` reads without a lookup table (a
 * `WeakMap` of decisions cost more than the rest of a memo hit in the garbage collector).
 */
export class AdaptiveDecision {
  modelName: string
  confidence: number
  reason: string
  routingTime: number
  fromCache: boolean
  readonly #owner: object
  /** decision id · 4096 + model name id. */
  readonly #tag: number
  /** The owner's name-table generation when the tag was made. */
  readonly #names: number

  constructor(
    modelName: string,
    confidence: number,
    reason: string,
    routingTime: number,
    fromCache: boolean,
    owner: object,
    tag: number,
    names: number,
  ) {
    this.modelName = modelName
    this.confidence = confidence
    this.reason = reason
    this.routingTime = routingTime
    this.fromCache = fromCache
    this.#owner = owner
    this.#tag = tag
    this.#names = names
  }

  /** The tag of `d` when `owner` made it (−1: made by `owner` before its name table was reset); else undefined. */
  static tagOf(d: unknown, owner: object, names: number): number | undefined {
    if (typeof d !== 'object' || d === null || !(#tag in d)) return undefined
    const a = d as AdaptiveDecision
    if (a.#owner !== owner) return undefined
    return a.#names === names ? a.#tag : -1
  }
}
