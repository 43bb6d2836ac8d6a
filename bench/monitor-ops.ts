/**
 * PerformanceMonitor, native drop-in beside the legacy TypeScript port, on the same inputs
 * in the same process: recordMetric, getStats over 1000 values, getMetrics over 20
 * metrics, exportData.
 *
 * recordMetric costs tens of nanoseconds, less than reading the clock twice, so it is timed
 * in runs of 1000 calls and reported per call (p50/p99 of the per-call average of a run).
 * Its inputs are computed before timing (generating a value costs ~10–20 ns, which would
 * be counted on both sides and shrink the ratio), and the sides take turns in several
 * rounds (the machine is shared and its load drifts): each row is the median over rounds.
 */
import { PerformanceMonitor as NativeMonitor } from 'model-router-native'

import { PerformanceMonitor as LegacyMonitor } from 'model-router-legacy-ports'
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
  side: 'native (timestamps "turn")',
  make: () => new NativeMonitor({ timestamps: 'turn' }),
  dispose: (m) => (m as NativeMonitor).shutdown(),
}

/**
 * The native monitor with a buffer of 2^20 values: a fold into the native core (when the
 * buffer fills) falls in at most one run of a round, so its p50 is the JS side alone, and
 * its difference to the default monitor's is what the fold costs a value.
 */
const NATIVE_NO_FOLD: Side = {
  side: 'native, buffer 2^20 (the JS side alone)',
  make: () => new NativeMonitor({ bufferSize: 1 << 20 }),
  dispose: (m) => (m as NativeMonitor).shutdown(),
}

/**
 * The floor of `recordMetric` with exact timestamps: one `Date.now()` and a store of (id,
 * value, timestamp) into a ring of a `Float64Array`, behind the same kind of method call.
 */
class FloorRecorder {
  private readonly buf = new Float64Array(1024 * 3)
  private at = 0
  recordMetric(_name: string, value: number): void {
    const o = this.at
    const b = this.buf
    b[o] = 0
    b[o + 1] = value
    b[o + 2] = Date.now()
    this.at = o + 3 === b.length ? 0 : o + 3
  }
  getStats(): void {}
  getMetrics(): void {}
  exportData(): string {
    return ''
  }
}

const FLOOR: Side = {
  side: 'floor: one Date.now() + a store',
  make: () => new FloorRecorder(),
  dispose: () => {},
}

/** A monitor that does nothing: what the timed loop itself costs per call. */
const NO_OP: Side = {
  side: 'reference',
  make: () => ({ recordMetric() {}, getStats() {}, getMetrics() {}, exportData: () => '' }),
  dispose: () => {},
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

/** `recordOnly`: only the recordMetric rows (with the floor and the ratio). */
export async function run(opts: { quick: boolean; recordOnly?: boolean }): Promise<Row[]> {
  const rows: Row[] = []
  const n = (full: number) => (opts.quick ? Math.max(50, Math.floor(full / 10)) : full)

  // recordMetric: runs of 1000 calls, the codebase's two names alternating, inputs
  // precomputed; the sides take turns round by round
  const inputs = Float64Array.from({ length: 4096 }, (_, i) => value(i))
  const names = ['orchestration_latency', 'routing_overhead']
  const RUN = 1000
  const ROUNDS = opts.quick ? 5 : 15
  const recordSides = [SIDES[0], SIDES[1], NATIVE_TURN, NATIVE_NO_FOLD, FLOOR, NO_OP]
  // One loop function per side: a call site shared by the sides would be polymorphic, and
  // slower than the monomorphic call an application has.
  type Loop = (m: Monitor, j: number) => number
  const loops: Loop[] = [
    (m, j) => {
      for (let i = 0; i < RUN; i++, j++) m.recordMetric(names[j & 1], inputs[j & 4095])
      return j
    },
    (m, j) => {
      for (let i = 0; i < RUN; i++, j++) m.recordMetric(names[j & 1], inputs[j & 4095])
      return j
    },
    (m, j) => {
      for (let i = 0; i < RUN; i++, j++) m.recordMetric(names[j & 1], inputs[j & 4095])
      return j
    },
    (m, j) => {
      for (let i = 0; i < RUN; i++, j++) m.recordMetric(names[j & 1], inputs[j & 4095])
      return j
    },
    (m, j) => {
      for (let i = 0; i < RUN; i++, j++) m.recordMetric(names[j & 1], inputs[j & 4095])
      return j
    },
    (m, j) => {
      for (let i = 0; i < RUN; i++, j++) m.recordMetric(names[j & 1], inputs[j & 4095])
      return j
    },
  ]
  const monitors = recordSides.map((s) => s.make())
  const cursors = recordSides.map(() => 0)
  const perRound = recordSides.map(() => ({ p50: [] as number[], p99: [] as number[], ops: [] as number[] }))
  for (let round = 0; round < ROUNDS; round++) {
    // the side that goes first rotates: a side timed right after another is not always the
    // same one (measured here: which of two equal loops runs first moved it by ~10%)
    for (let step = 0; step < recordSides.length; step++) {
      const k = (step + round) % recordSides.length
      const m = monitors[k]
      const loop = loops[k]
      const r = await measure(
        () => {
          cursors[k] = loop(m, cursors[k])
        },
        { iterations: n(300), warmup: round === 0 ? 100 : 10 },
      )
      perRound[k].p50.push(r.p50Us / RUN)
      perRound[k].p99.push(r.p99Us / RUN)
      perRound[k].ops.push(r.opsPerSec * RUN)
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]
  const loopNs = median(perRound[recordSides.indexOf(NO_OP)].p50) * 1000
  const floorNs = median(perRound[recordSides.indexOf(FLOOR)].p50) * 1000
  const jsSideNs = median(perRound[recordSides.indexOf(NATIVE_NO_FOLD)].p50) * 1000
  const nativeNs = median(perRound[recordSides.indexOf(SIDES[1])].p50) * 1000
  // the parts of the default native call above the floor, both measured in these rounds
  const parts = `; above the floor: the JS side (checks, name id, sequence number) ${(jsSideNs - floorNs).toFixed(1)} ns, the fold into the native core ${(nativeNs - jsSideNs).toFixed(1)} ns a value; goal ≤ 1.3× the floor`
  for (let k = 0; k < recordSides.length; k++) {
    const isLoop = recordSides[k] === NO_OP
    const ns = median(perRound[k].p50) * 1000
    // the ratio to the floor, as timed (both include the loop) and with the loop subtracted
    const vsFloor =
      recordSides[k] === NO_OP || recordSides[k] === FLOOR
        ? ''
        : `; ${(ns / floorNs).toFixed(2)}× the floor (${((ns - loopNs) / (floorNs - loopNs)).toFixed(2)}× without the loop)`
    rows.push({
      group: 'monitor',
      op: isLoop ? 'recordMetric timing loop, no-op monitor (reference)' : 'recordMetric',
      side: recordSides[k].side,
      p50Us: median(perRound[k].p50),
      p99Us: median(perRound[k].p99),
      opsPerSec: median(perRound[k].ops),
      note: isLoop
        ? 'the loop and call cost in the recordMetric rows'
        : `per call, runs of ${RUN}, median of ${ROUNDS} interleaved rounds; includes ~${loopNs.toFixed(0)} ns of loop${vsFloor}${recordSides[k] === SIDES[1] ? parts : ''}`,
    })
    recordSides[k].dispose(monitors[k])
  }
  if (opts.recordOnly) return rows
  {
    // what "exact" timestamps pay per value (Date.now, as the legacy's new Date())
    let sink = 0
    const r = await measure(
      () => {
        for (let i = 0; i < RUN; i++) sink += Date.now()
      },
      { iterations: n(300) },
    )
    if (sink === 1) console.log() // keeps the reads
    rows.push({
      group: 'monitor',
      op: 'Date.now() (reference)',
      side: 'reference',
      p50Us: r.p50Us / RUN,
      p99Us: r.p99Us / RUN,
      opsPerSec: r.opsPerSec * RUN,
      note: 'one clock read: what timestamps "exact" pay per value',
    })
  }

  for (const s of SIDES) {
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
