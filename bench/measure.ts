/**
 * Shared measuring helpers for the benchmark suite: every operation is timed call by call
 * (so p50 and p99 are real percentiles), after a warm-up, on the same inputs for each side.
 */

/** One row of a per-operation table: one operation on one side. */
export interface Row {
  group: 'router' | 'cache' | 'monitor' | 'workload'
  op: string
  side: string // 'legacy' | 'native' | a peer's npm name
  p50Us: number
  p99Us: number
  opsPerSec: number
  note?: string
}

export interface MeasureOptions {
  /** Timed calls (default 20,000; --quick runs use fewer). */
  iterations?: number
  /** Untimed calls first, so the JIT settles (default iterations / 10). */
  warmup?: number
  /**
   * Calls per timed sample (default 1). Sub-microsecond operations are timed in batches so
   * that the clock reads (~0.1 µs each here) do not dominate; a sample is then the mean of
   * its batch, and p50/p99 are over batches.
   */
  batch?: number
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]
}

function summarize(samples: Float64Array, totalNs: number, n: number) {
  samples.sort()
  return {
    p50Us: percentile(samples, 0.5) / 1000,
    p99Us: percentile(samples, 0.99) / 1000,
    opsPerSec: n / (totalNs / 1e9),
  }
}

/** Times `fn(i)` call by call; an async `fn` is awaited each time (sequential use). */
export async function measure(
  fn: (i: number) => unknown,
  opts: MeasureOptions = {},
): Promise<{ p50Us: number; p99Us: number; opsPerSec: number }> {
  const n = opts.iterations ?? 20_000
  const warmup = opts.warmup ?? Math.max(100, Math.floor(n / 10))
  for (let i = 0; i < warmup; i++) {
    const r = fn(i)
    if (r instanceof Promise) await r
  }
  const batch = Math.max(1, opts.batch ?? 1)
  const batches = Math.max(1, Math.floor(n / batch))
  const samples = new Float64Array(batches)
  let k = warmup
  const start = process.hrtime.bigint()
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint()
    for (let j = 0; j < batch; j++) {
      const r = fn(k++)
      if (r instanceof Promise) await r
    }
    samples[b] = Number(process.hrtime.bigint() - t0) / batch
  }
  return summarize(samples, Number(process.hrtime.bigint() - start), batches * batch)
}

/**
 * Throughput with `inFlight` calls outstanding at once (e.g. 64 concurrent `set`s): p50/p99
 * are per-call latencies from start to settle, ops/s is completed calls per second.
 */
export async function measureInFlight(
  fn: (i: number) => Promise<unknown>,
  inFlight: number,
  total: number,
): Promise<{ p50Us: number; p99Us: number; opsPerSec: number }> {
  const samples = new Float64Array(total)
  let next = 0
  const start = process.hrtime.bigint()
  async function lane() {
    while (next < total) {
      const i = next++
      const t0 = process.hrtime.bigint()
      await fn(i)
      samples[i] = Number(process.hrtime.bigint() - t0)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  return summarize(samples, Number(process.hrtime.bigint() - start), total)
}

export type Measured = { p50Us: number; p99Us: number; opsPerSec: number }

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]

/**
 * Measures several sides of one operation in `rounds` rounds, the sides in turn (which one
 * goes first alternates), and returns each side's median p50, p99 and ops/s over its rounds:
 * the shared machine's load drifts, and a drift then reaches every side alike.
 * `runs[k]()` measures side k once (a round's share of the calls).
 */
export async function interleaved(runs: Array<() => Promise<Measured>>, rounds = 5): Promise<Measured[]> {
  const per = runs.map(() => ({ p50: [] as number[], p99: [] as number[], ops: [] as number[] }))
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < runs.length; j++) {
      const k = round % 2 === 0 ? j : runs.length - 1 - j
      const m = await runs[k]()
      per[k].p50.push(m.p50Us)
      per[k].p99.push(m.p99Us)
      per[k].ops.push(m.opsPerSec)
    }
  }
  return per.map((p) => ({ p50Us: median(p.p50), p99Us: median(p.p99), opsPerSec: median(p.ops) }))
}
