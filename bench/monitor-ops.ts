/**
 * PerformanceMonitor, native drop-in beside the legacy TypeScript port, on the same inputs
 * in the same process: recordMetric, getStats over 1000 values, getMetrics over 20
 * metrics, exportData.
 *
 * recordMetric costs tens of nanoseconds, less than reading the clock twice, so it is timed
 * in runs of 1000 calls and reported per call (p50/p99 of the per-call average of a run).
 */
import { PerformanceMonitor as NativeMonitor } from 'model-router-native'

import { PerformanceMonitor as LegacyMonitor } from './legacy/performance-monitor'
import { measure, type Row } from './measure'

type Monitor = {
  recordMetric(name: string, value: number, metadata?: unknown): void
  getStats(name: string, timeWindowMs?: number): unknown
  getMetrics(): unknown
  exportData(format?: any): string
}

interface Side {
  side: string
  make: () => Monitor
  dispose: (m: Monitor) => void
}

const SIDES: Side[] = [
  { side: 'legacy', make: () => new LegacyMonitor(), dispose: (m) => (m as LegacyMonitor).dispose() },
  { side: 'native', make: () => new NativeMonitor(), dispose: (m) => (m as NativeMonitor).shutdown() },
]

/**
 * The native monitor reading the clock once per synchronous run of records (opt-in). A run
 * of 1000 calls here is one synchronous turn, so one clock read serves 100 records.
 */
const NATIVE_TURN: Side = {
  side: 'native',
  make: () => new NativeMonitor({ timestamps: 'turn' }),
  dispose: (m) => (m as NativeMonitor).shutdown(),
}

/** Deterministic latency-like values (a few ms, a long tail). */
function value(i: number): number {
  const u = ((i * 2654435761) >>> 0) / 2 ** 32
  return 5 + 40 * u * u * u + (i % 97 === 0 ? 900 : 0)
}

function filled(make: () => Monitor, metrics: number, perMetric: number): Monitor {
  const m = make()
  for (let i = 0; i < perMetric; i++) {
    for (let k = 0; k < metrics; k++) m.recordMetric(k === 0 ? 'orchestration_latency' : `metric_${k}`, value(i * 31 + k))
  }
  return m
}

export async function run(opts: { quick: boolean }): Promise<Row[]> {
  const rows: Row[] = []
  const n = (full: number) => (opts.quick ? Math.max(50, Math.floor(full / 10)) : full)

  // recordMetric: runs of 1000 calls, the codebase's two names alternating
  async function recordRow(s: Side, op: string): Promise<Row> {
    const m = s.make()
    const RUN = 1000
    let j = 0
    const r = await measure(
      () => {
        for (let i = 0; i < RUN; i++, j++) {
          m.recordMetric((j & 1) === 0 ? 'orchestration_latency' : 'routing_overhead', value(j))
        }
      },
      { iterations: n(3000) },
    )
    s.dispose(m)
    return {
      group: 'monitor',
      op,
      side: s.side,
      p50Us: r.p50Us / RUN,
      p99Us: r.p99Us / RUN,
      opsPerSec: r.opsPerSec * RUN,
      note: 'per call, timed in runs of 1000',
    }
  }

  for (const s of SIDES) {
    rows.push(await recordRow(s, 'recordMetric'))
    if (s.side === 'legacy') rows.push(await recordRow(s, 'recordMetric (native: timestamps "turn")'))
    else rows.push(await recordRow(NATIVE_TURN, 'recordMetric (native: timestamps "turn")'))

    // getStats over 1000 values, nothing recorded in between (steady read)
    {
      const m = filled(s.make, 1, 1000)
      const r = await measure(() => m.getStats('orchestration_latency'), { iterations: n(5000) })
      rows.push({ group: 'monitor', op: 'getStats 1000 values', side: s.side, ...r })
      s.dispose(m)
    }

    // getStats over 1000 values right after a new value (the window changed: no cache)
    {
      const m = filled(s.make, 1, 1000)
      let j = 0
      const r = await measure(
        () => {
          m.recordMetric('orchestration_latency', value(j++))
          return m.getStats('orchestration_latency')
        },
        { iterations: n(5000) },
      )
      rows.push({ group: 'monitor', op: 'recordMetric + getStats 1000 values', side: s.side, ...r })
      s.dispose(m)
    }

    // getMetrics over 20 metrics of 1000 values, one new value per call
    {
      const m = filled(s.make, 20, 1000)
      let j = 0
      const r = await measure(
        () => {
          m.recordMetric(`metric_${1 + (j % 19)}`, value(j++))
          return m.getMetrics()
        },
        { iterations: n(1000) },
      )
      rows.push({ group: 'monitor', op: 'recordMetric + getMetrics 20 metrics', side: s.side, ...r })
      s.dispose(m)
    }

    // exports over 20 metrics of 1000 values
    for (const format of ['json', 'prometheus']) {
      if (format === 'prometheus' && s.side === 'legacy') continue // the legacy has no such format
      const m = filled(s.make, 20, 1000)
      const r = await measure(() => m.exportData(format), { iterations: n(format === 'json' ? 200 : 2000) })
      rows.push({ group: 'monitor', op: `exportData("${format}") 20 metrics`, side: s.side, ...r })
      s.dispose(m)
    }
  }
  return rows
}
