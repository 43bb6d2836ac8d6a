/**
 * The per-arm figures of an A/B rollout (calls, errors, latency, the router's model
 * distribution, the cache's hit rate) and the difference between the arms with a 95%
 * confidence interval by the **normal approximation on the means**: for latency, Welch's
 * standard error sqrt(s²_native/n_native + s²_legacy/n_legacy) with the sample variances
 * (n − 1); for a rate (errors, hits), the mean of 0/1 outcomes, standard error
 * sqrt(p(1 − p)/n) per arm. The interval is the difference ± 1.96 standard errors; it
 * excludes 0 (`significant`) once the sample is enough to tell the arms apart.
 */
import { LatencyRing, type LatencySummary } from './rollout-latency'

/** A side of an A/B rollout. */
export type Arm = 'legacy' | 'native'

/** Distinct model names counted per arm; the rest are counted under `OTHER_MODELS`. */
const MAX_MODELS = 64
/** The name `ArmReport.models` counts models under once an arm has counted `MAX_MODELS` (64) distinct ones. */
export const OTHER_MODELS = '(other)'
const Z95 = 1.959963984540054

/** One arm's latencies, in ms: the percentiles of its last 1024 calls, and the mean and spread of all of them. */
export interface ArmLatency extends LatencySummary {
  /** Mean latency (ms) over every call of the arm (the percentiles are over the last 1024). */
  meanMs: number
  /** Sample standard deviation (ms, n − 1) over every call of the arm; 0 below 2 calls. */
  sdMs: number
}

/** One arm's figures in an A/B rollout, since the wrapper was made (a rollback resets nothing here). */
export interface ArmReport {
  /** Calls the arm served (each timed). */
  calls: number
  /** Calls that threw or rejected with an error that counts (`countsAsFailure`). */
  errors: number
  /** errors / calls, 0 to 1 (0 with no call). */
  errorRate: number
  /** The arm's latencies (ms). */
  latency: ArmLatency
  /** Router: how many decisions named each model (64 names at most; the rest are counted under `"(other)"`). */
  models?: Record<string, number>
  /** Cache: `get` calls, and the share that found a value. */
  gets?: number
  /** Cache: the share of `get` calls that found a value, 0 to 1 (0 with no `get`). */
  hitRate?: number
}

/** native − legacy, with its 95% interval. */
export interface ArmDifference {
  /** The observed difference, native − legacy (ms for latency, a fraction for a rate). */
  estimate: number
  /** Lower end of the 95% interval: estimate − 1.96 standard errors. */
  low: number
  /** Upper end of the 95% interval: estimate + 1.96 standard errors. */
  high: number
  /** The interval excludes 0. */
  significant: boolean
}

/**
 * native − legacy per figure, each with a 95% confidence interval by the normal
 * approximation on the means (Welch's standard error for latency; sqrt(p(1 − p)/n) per arm
 * for a rate).
 */
export interface ArmComparison {
  /** How the intervals are computed. */
  method: 'normal approximation on the means, 95%'
  /** Difference of the mean latencies (ms); null until each arm has 2 calls. */
  latencyMeanMs: ArmDifference | null
  /** Difference of the error rates; null until each arm has a call. */
  errorRate: ArmDifference | null
  /** Cache only: difference of the `get` hit rates; null until each arm has a `get`. */
  hitRate?: ArmDifference | null
}

function interval(estimate: number, se: number): ArmDifference {
  const low = estimate - Z95 * se
  const high = estimate + Z95 * se
  return { estimate, low, high, significant: low > 0 || high < 0 }
}

function rateDifference(hitsN: number, nN: number, hitsL: number, nL: number): ArmDifference | null {
  if (nN === 0 || nL === 0) return null
  const pN = hitsN / nN
  const pL = hitsL / nL
  return interval(pN - pL, Math.sqrt((pN * (1 - pN)) / nN + (pL * (1 - pL)) / nL))
}

/** One arm's running figures: calls, errors, Welford mean and variance of latency, its last 1024 latencies, models, cache hits. */
export class ArmStats {
  calls = 0
  errors = 0
  gets = 0
  hits = 0
  #timed = 0
  #mean = 0
  /** Welford's sum of squared deviations. */
  #m2 = 0
  readonly #ring = new LatencyRing()
  #models: Map<string, number> | null = null

  record(ms: number, failed: boolean): void {
    this.calls++
    if (failed) this.errors++
    this.#timed++
    const d = ms - this.#mean
    this.#mean += d / this.#timed
    this.#m2 += d * (ms - this.#mean)
    this.#ring.push(ms)
  }

  model(name: unknown): void {
    if (typeof name !== 'string') return
    this.#models ??= new Map()
    const m = this.#models
    const key = m.has(name) || m.size < MAX_MODELS ? name : OTHER_MODELS
    m.set(key, (m.get(key) ?? 0) + 1)
  }

  get(hit: boolean): void {
    this.gets++
    if (hit) this.hits++
  }

  variance(): number {
    return this.#timed < 2 ? 0 : this.#m2 / (this.#timed - 1)
  }

  report(kind: string): ArmReport {
    const r: ArmReport = {
      calls: this.calls,
      errors: this.errors,
      errorRate: this.calls === 0 ? 0 : this.errors / this.calls,
      latency: { ...this.#ring.summary(), meanMs: this.#mean, sdMs: Math.sqrt(this.variance()) },
    }
    if (kind === 'router') r.models = Object.fromEntries(this.#models ?? [])
    if (kind === 'cache') {
      r.gets = this.gets
      r.hitRate = this.gets === 0 ? 0 : this.hits / this.gets
    }
    return r
  }

  /** native (`this`) − legacy. */
  static compare(kind: string, native: ArmStats, legacy: ArmStats): ArmComparison {
    const c: ArmComparison = {
      method: 'normal approximation on the means, 95%',
      latencyMeanMs:
        native.#timed < 2 || legacy.#timed < 2
          ? null
          : interval(native.#mean - legacy.#mean, Math.sqrt(native.variance() / native.#timed + legacy.variance() / legacy.#timed)),
      errorRate: rateDifference(native.errors, native.calls, legacy.errors, legacy.calls),
    }
    if (kind === 'cache') c.hitRate = rateDifference(native.hits, native.gets, legacy.hits, legacy.gets)
    return c
  }
}
