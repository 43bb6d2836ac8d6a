/** The latencies of one side of a rollout wrapper: the last `LATENCY_RING` calls, for percentiles. */

/** Latencies of one side, in ms: the mean and percentiles of its last 1024 timed calls (all 0 when none). */
export interface LatencySummary {
  /** Calls recorded, all of them (the percentiles are over the last 1024). */
  count: number
  /** Mean latency (ms) of the last 1024 calls. */
  meanMs: number
  /** Median latency (ms), `sorted[ceil(n·0.5) − 1]`. */
  p50Ms: number
  /** 95th percentile latency (ms). */
  p95Ms: number
  /** 99th percentile latency (ms). */
  p99Ms: number
}

/** Latencies kept per side for the percentiles. */
export const LATENCY_RING = 1024

/** `sorted[ceil(n·p) − 1]`, the percentile the whole package uses. */
export function percentileOf(sorted: ArrayLike<number>, n: number, p: number): number {
  return n === 0 ? 0 : sorted[Math.min(n - 1, Math.max(0, Math.ceil(n * p) - 1))]
}

/** The last `LATENCY_RING` latencies of one side, and the count of all. */
export class LatencyRing {
  readonly #values = new Float64Array(LATENCY_RING)
  #n = 0
  #total = 0
  #sum = 0
  push(ms: number): void {
    const i = this.#total % LATENCY_RING
    if (this.#n === LATENCY_RING) this.#sum -= this.#values[i]
    else this.#n++
    this.#values[i] = ms
    this.#sum += ms
    this.#total++
  }
  summary(): LatencySummary {
    if (this.#n === 0) return { count: 0, meanMs: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0 }
    const s = this.#values.slice(0, this.#n).sort()
    return {
      count: this.#total,
      meanMs: this.#sum / this.#n,
      p50Ms: percentileOf(s, this.#n, 0.5),
      p95Ms: percentileOf(s, this.#n, 0.95),
      p99Ms: percentileOf(s, this.#n, 0.99),
    }
  }
}
