/**
 * The public types of `ModelRouter.explain()` and the conversion of the explanation Rust
 * returns. This module holds no state.
 */
import type { CodedError } from './errors'
import type { ModelHealthState } from './router-adaptive'

/** Why a model is not a candidate for a request (checked in this order). */
export type CandidateExclusion =
  /** Above the user's tier. */
  | 'tier'
  /** `updateModelAvailability(name, false)`. */
  | 'unavailable'
  /** Its `maxTokens` is below the request's `requiredTokens`. */
  | 'context_window'
  /** The legacy's filter (complexity wants advanced reasoning or code; a latency requirement under 1000 ms wants `latencyTarget` < 1200) while other models pass it. */
  | 'legacy_filter'
  /** Its next request would exceed its `rpm`/`tpm` until `untilMs`. */
  | 'quota'
  /** Cooling after a 429 until `untilMs`. */
  | 'rate_limited'
  /** Ejected until `untilMs` (then one probe may go to it). */
  | 'ejected'
  /** Its single half-open probe is out. */
  | 'probing'
  /** Credentials refused, until `updateModelAvailability(name, true)` or new configs. */
  | 'auth_failed'

/** The legacy's four score factors (0–1) and their weighted sum, which rank the candidates. */
export interface ScoreParts {
  /** The weighted sum the candidates are ranked by. */
  total: number
  /** Latency factor (0–1). */
  latency: number
  /** Complexity fit (0–1). */
  complexity: number
  /** Reliability (0–1). */
  reliability: number
  /** Cost factor for the user's tier (0–1). */
  cost: number
}

/** One model of the Map as `explain()` sees it for the request. */
export interface CandidateExplanation {
  /** The model. */
  modelName: string
  /** A candidate of the live pick (not excluded). */
  kept: boolean
  /** Why it was left out; absent when kept. */
  excludedBy?: CandidateExclusion
  /** When a `quota`, `rate_limited` or `ejected` exclusion ends, on the router's clock (ms). */
  untilMs?: number
  /** Position in the legacy's ranking (0: best); absent when it did not pass the legacy's filter. */
  rank?: number
  /** Its score parts for this request. */
  score: ScoreParts
  /** Its health now. */
  state: ModelHealthState
  /** Predicted latency now (ms): the decayed Peak-EWMA estimate, at least the age of its oldest call in flight. */
  latencyEstimateMs: number
  /** Its calls in flight. */
  inFlight: number
  /** The predicted latency meets the request's `latencyRequirement` (the deadline the power-of-two draw prefers). */
  meetsDeadline: boolean
  /** The model that served the context's `sessionId` last (affinity keeps it while it is kept and healthy). */
  sessionModel: boolean
  /** The model the decision names. */
  chosen: boolean
}

/** What `selectOptimalModel` would decide now, and why (`explain()`). */
export interface RoutingExplanation {
  /** The decision a routing call would resolve with now (absent when it would reject). */
  decision?: { modelName: string; confidence: number; reason: string }
  /** The error a routing call would reject with now (absent when it would decide). */
  error?: CodedError
  /** Estimated input tokens of the task (or `estimateTokens`) plus `tokenBudget`: the context window a model needs. */
  requiredTokens: number
  /** Every model of the Map, in its order. */
  candidates: CandidateExplanation[]
}

/** Converts Rust's candidate records (`null` becomes an absent field). */
export function toCandidates(records: Array<Record<string, unknown>>, names: string[], chosen: number): CandidateExplanation[] {
  return records.map((r) => {
    const index = r.index as number
    const c = { modelName: names[index], kept: r.excludedBy === null } as CandidateExplanation
    if (r.excludedBy !== null) c.excludedBy = r.excludedBy as CandidateExclusion
    if (r.untilMs !== null) c.untilMs = r.untilMs as number
    if (r.rank !== null) c.rank = r.rank as number
    const p = r.score as ScoreParts
    c.score = { total: p.total, latency: p.latency, complexity: p.complexity, reliability: p.reliability, cost: p.cost }
    c.state = r.state as ModelHealthState
    c.latencyEstimateMs = r.latencyEstimateMs as number
    c.inFlight = r.inFlight as number
    c.meetsDeadline = r.meetsDeadline as boolean
    c.sessionModel = r.sessionModel as boolean
    c.chosen = index === chosen
    return c
  })
}
