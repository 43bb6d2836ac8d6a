/**
 * `PerformanceMonitor`: the drop-in for the legacy class, over the native monitor core.
 *
 * Boundary tricks live here. `recordMetric` never crosses into native code: it writes
 * (metric id, value, timestamp) into a Float64Array and the buffer goes to native in one
 * call when it is full or before any read, so every read sees every value recorded before
 * it. Names become small integer ids once (a JS Map). Metadata stays on the JS side, only
 * for the last 100 values per metric (the ones `exportData("json")` shows). Events are
 * emitted here, per value, only when someone listens.
 */
import { EventEmitter } from 'node:events'

import { fromNative, rangeError, typeError } from './errors'
import { native } from './native'
import { wellFormed } from './strings'
import { weakInterval } from './weak-interval'

export interface PerformanceMetric {
  name: string
  value: number
  timestamp: Date
  metadata?: any
}

export interface PerformanceStats {
  mean: number
  median: number
  p95: number
  p99: number
  min: number
  max: number
  count: number
  stddev: number
}

export type Severity = 'low' | 'medium' | 'high' | 'critical'

export interface Bottleneck {
  component: string
  metric: string
  severity: Severity
  impact: number
  description: string
  recommendation: string
}

/** Which side of a target or threshold is good. */
export type MetricDirection = 'lower' | 'higher'

export interface MetricBound {
  value: number
  /** `"lower"`: lower is better (latency, error rate); `"higher"`: hit rate, availability. */
  direction: MetricDirection
}

/** Every value ever recorded for a metric (not only the last 1000), from an HDR histogram. */
export interface AllTimeStats {
  count: number
  sum: number
  mean: number
  min: number
  max: number
  p50: number
  p90: number
  p99: number
  p999: number
}

export interface ThresholdExceededEvent {
  metric: string
  value: number
  threshold: number
  severity: Severity
  timestamp: Date
}

export type HealthStatus = 'excellent' | 'good' | 'fair' | 'poor' | 'critical'

export interface HealthCheckEvent {
  score: number
  status: HealthStatus
  bottlenecks: number
  timestamp: Date
}

export type ExportFormat = 'json' | 'csv' | 'prometheus'

export interface PerformanceMonitorOptions {
  /** Period of the `health_check` event in ms (default 60000; 0 turns it off). The timer never keeps the process alive. */
  healthCheckIntervalMs?: number
  /** Bound on distinct metric names (default 1000); a new name beyond it throws a RangeError. Each metric holds at most ~160 KB. */
  maxMetrics?: number
  /** Values buffered on the JS side before one native call records them (default 1024, 24 KB). */
  bufferSize?: number
  /**
   * How `recordMetric` timestamps values. `"exact"` (default, as the legacy): `Date.now()`
   * per value — a clock read costs ~80 ns on some VMs, more than the rest of the call.
   * `"turn"`: the clock is read once per synchronous run of records (re-read after every
   * 100), so values recorded in the same event-loop turn share a timestamp that may trail
   * the true time by the length of that turn.
   */
  timestamps?: 'exact' | 'turn'
}

/** Values per metric that the exports show (legacy). */
const EXPORT_HISTORY = 100
const STRIDE = 3 // id, value, timestamp
const STATS_WIDTH = 8
const BOTTLENECK_WIDTH = 6
const DEFAULT_BOTTLENECK_WINDOW_MS = 300000
const DEFAULT_CLEAR_OLDER_MS = 86400000
/** In "turn" timestamp mode, the clock is re-read after this many records in one turn. */
const TURN_CLOCK_REUSE = 100
const RESOLVED_TURN = Promise.resolve()
/** Slots of the name → id cache, indexed by name length (a power of two). */
const NAME_SLOTS = 32

const DEFAULT_TARGETS: ReadonlyArray<[string, number, MetricDirection]> = [
  ['orchestration_latency', 2000, 'lower'],
  ['routing_overhead', 100, 'lower'],
  ['cache_hit_rate', 0.7, 'higher'],
  ['model_availability', 0.99, 'higher'],
  ['error_rate', 0.01, 'lower'],
]

const DEFAULT_THRESHOLDS: ReadonlyArray<[string, number]> = [
  ['orchestration_latency', 3000],
  ['routing_overhead', 150],
  ['model_latency', 5000],
  ['cache_miss_rate', 0.4],
  ['error_rate', 0.05],
]

const RECOMMENDATIONS = new Map<string, string>([
  ['orchestration_latency', 'Consider enabling caching, optimizing model selection, or implementing request batching'],
  ['routing_overhead', 'Optimize routing algorithm, reduce rule complexity, or implement routing cache'],
  ['model_latency', 'Switch to faster models, implement request optimization, or add model warm-up'],
  ['cache_hit_rate', 'Increase cache size, optimize cache key generation, or extend TTL values'],
  ['error_rate', 'Implement better error handling, add retries, or investigate root cause'],
])

const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical']

function componentOf(metric: string): string {
  if (metric.includes('orchestration')) return 'orchestrator'
  if (metric.includes('routing')) return 'router'
  if (metric.includes('model')) return 'model_client'
  if (metric.includes('cache')) return 'cache'
  if (metric.includes('auth')) return 'authentication'
  return 'unknown'
}

function healthStatus(score: number): HealthStatus {
  if (score >= 90) return 'excellent'
  if (score >= 80) return 'good'
  if (score >= 70) return 'fair'
  if (score >= 50) return 'poor'
  return 'critical'
}

function toStats(a: ArrayLike<number>, o: number): PerformanceStats {
  return {
    mean: a[o],
    median: a[o + 1],
    p95: a[o + 2],
    p99: a[o + 3],
    min: a[o + 4],
    max: a[o + 5],
    count: a[o + 6],
    stddev: a[o + 7],
  }
}

/** The last EXPORT_HISTORY metadata values of one metric, by sequence number. */
interface MetadataRing {
  seqs: Float64Array
  values: unknown[]
}

/** Longest metric name, in UTF-16 code units: names are kept (up to `maxMetrics` of them). */
export const MAX_NAME_LENGTH = 1024

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw typeError('name', 'a string', name)
  // a lone surrogate cannot cross into UTF-8 unchanged: two such names would be one metric
  if (!wellFormed(name)) throw typeError('name', 'a well-formed string (no lone surrogate)', name)
  if (name.length > MAX_NAME_LENGTH) throw rangeError('name', `at most ${MAX_NAME_LENGTH} characters long`, name)
}

function checkFinite(field: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') throw typeError(field, 'a finite number', value)
  if (!Number.isFinite(value)) throw rangeError(field, 'a finite number', value)
}

/** A time window: undefined, null or 0 mean "no window"; otherwise a number ≥ 0. */
function checkWindow(field: string, value: unknown): number {
  if (value === undefined || value === null) return 0
  if (typeof value !== 'number') throw typeError(field, 'a number of milliseconds', value)
  if (Number.isNaN(value) || value < 0) throw rangeError(field, 'a number of milliseconds ≥ 0', value)
  return value
}

function checkDirection(field: string, value: unknown): MetricDirection {
  if (value === 'lower' || value === 'higher') return value
  if (typeof value !== 'string') throw typeError(field, '"lower" or "higher"', value)
  throw rangeError(field, '"lower" or "higher"', value)
}

/** Node runs a timer of 2^31 ms or more every 1 ms (with a TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1

function positiveInt(field: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw typeError(field, 'an integer', value)
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(field, `an integer from ${min} to ${max}`, value)
  return value
}

export class PerformanceMonitor extends EventEmitter {
  private readonly handle: ReturnType<typeof native.monitorCreate>
  private readonly maxMetrics: number
  private ids = new Map<string, number>()
  /**
   * A name → id cache in front of `ids`, one entry per name length: metric names rarely
   * share a length, and a hit costs a string compare (~5 ns here) where `Map.get` costs
   * ~9–15 ns, a third of `recordMetric`. Names of the same length evict each other and
   * fall back to the Map (costing about what the Map alone costs).
   */
  private slotNames: (string | undefined)[] = new Array(NAME_SLOTS).fill(undefined)
  private slotIds: number[] = new Array(NAME_SLOTS).fill(0)
  private names: string[] = []
  /** Values recorded per id: the sequence number of the next one (native counts alike). */
  private seqs: number[] = []
  private metadata: (MetadataRing | undefined)[] = []
  /** Threshold per id (NaN: none) and its direction, mirrored from `thresholds`. */
  private thresholdOf: number[] = []
  private thresholdHigher: boolean[] = []
  private readonly thresholds = new Map<string, MetricBound>()
  private readonly targets = new Map<string, MetricBound>()
  private readonly buf: Float64Array
  private readonly capacity: number
  private pending = 0
  /** Out-parameter of the native stats calls (cheaper than a returned array). */
  private readonly out = new Float64Array(STATS_WIDTH)
  /** Out-parameter of the variable-length native results; grows on demand. */
  private scratch = new Float64Array(1024)
  private readonly turnClock: boolean
  private turnNow = -1
  private turnUses = 0
  private readonly endTurn = (): void => {
    this.turnNow = -1
  }
  /** Whether `metric_recorded` or `threshold_exceeded` has a listener (see refreshWatched). */
  private watched = false
  private healthTimer: NodeJS.Timeout | null = null

  constructor(options: PerformanceMonitorOptions = {}) {
    super()
    if (options === null || typeof options !== 'object') throw typeError('options', 'an object', options)
    const interval = positiveInt('options.healthCheckIntervalMs', options.healthCheckIntervalMs, 60000, 0, MAX_TIMER_MS)
    // the native side counts metrics in 32 bits
    this.maxMetrics = positiveInt('options.maxMetrics', options.maxMetrics, 1000, 1, 2 ** 32 - 1)
    // the buffer holds STRIDE numbers per value: bounded so that it stays an allocation
    this.capacity = positiveInt('options.bufferSize', options.bufferSize, 1024, 1, 1 << 20)
    this.buf = new Float64Array(this.capacity * STRIDE)
    const timestamps = options.timestamps ?? 'exact'
    if (timestamps !== 'exact' && timestamps !== 'turn') {
      throw rangeError('options.timestamps', '"exact" or "turn"', timestamps)
    }
    this.turnClock = timestamps === 'turn'
    this.handle = native.monitorCreate(this.maxMetrics)
    for (const [name, value, direction] of DEFAULT_TARGETS) this.targets.set(name, { value, direction })
    for (const [name, value] of DEFAULT_THRESHOLDS) this.thresholds.set(name, { value, direction: 'lower' })
    if (interval > 0) {
      this.healthTimer = weakInterval(this, interval, PerformanceMonitor.healthTick)
    }
  }

  /**
   * Records a value (timestamped now). Costs no native call: the value is buffered and
   * reaches the native core in a batch, before any read.
   */
  recordMetric(name: string, value: number, metadata?: any): void {
    if (typeof value !== 'number' || value - value !== 0) checkFinite('value', value)
    let id: number
    const slot = typeof name === 'string' ? name.length & (NAME_SLOTS - 1) : -1
    if (slot >= 0 && this.slotNames[slot] === name) id = this.slotIds[slot]
    else id = this.idOf(name, slot)
    const now = this.turnClock ? this.turnTime() : Date.now()
    const n = this.pending
    const o = n * STRIDE
    const b = this.buf
    b[o] = id
    b[o + 1] = value
    b[o + 2] = now
    this.pending = n + 1
    const seq = this.seqs[id]++
    if (metadata !== undefined) this.keepMetadata(id, seq, metadata)
    if (n + 1 === this.capacity) this.flush()
    if (this.watched) this.emitRecorded(id, name, value, now, metadata)
  }

  getStats(name: string, timeWindowMs?: number): PerformanceStats | null {
    checkName(name)
    const window = checkWindow('timeWindowMs', timeWindowMs)
    const id = this.ids.get(name)
    if (id === undefined) return null
    if (this.pending !== 0) this.flush()
    return native.monitorStats(this.handle, id, Date.now(), window, this.out) ? toStats(this.out, 0) : null
  }

  /** Statistics over every value ever recorded for `name` (HDR histogram, 3 significant digits; not cleared by `clearOldMetrics`). */
  getAllTimeStats(name: string): AllTimeStats | null {
    checkName(name)
    const id = this.ids.get(name)
    if (id === undefined) return null
    if (this.pending !== 0) this.flush()
    if (!native.monitorAllTime(this.handle, id, this.out)) return null
    const [count, sum, min, max, p50, p90, p99, p999] = this.out
    return { count, sum, mean: sum / count, min, max, p50, p90, p99, p999 }
  }

  analyzeBottlenecks(timeWindowMs: number = DEFAULT_BOTTLENECK_WINDOW_MS): Bottleneck[] {
    const window = checkWindow('timeWindowMs', timeWindowMs)
    if (this.pending !== 0) this.flush()
    const now = Date.now()
    const len = this.flat((out) => native.monitorBottlenecks(this.handle, now, window, out))
    const a = this.scratch
    const out: Bottleneck[] = []
    for (let o = 0; o < len; o += BOTTLENECK_WIDTH) {
      const metric = this.names[a[o]]
      const finding = a[o + 1]
      const observed = a[o + 4]
      const target = a[o + 5]
      const bottleneck: Bottleneck = {
        component: componentOf(metric),
        metric,
        severity: SEVERITIES[a[o + 2]],
        impact: a[o + 3],
        description: '',
        recommendation: '',
      }
      if (finding === 2) {
        bottleneck.description = `${metric} shows high variance (CV: ${observed.toFixed(2)})`
        bottleneck.recommendation = 'Investigate cause of performance inconsistency'
      } else {
        bottleneck.description =
          finding === 0
            ? `${metric} P95 (${observed.toFixed(2)}) exceeds target (${target})`
            : `${metric} P5 (${observed.toFixed(2)}) is below target (${target})`
        bottleneck.recommendation = RECOMMENDATIONS.get(metric) ?? 'Investigate performance degradation'
      }
      out.push(bottleneck)
    }
    return out
  }

  /** 0–100 over the last 5 minutes of every target metric; each target judged in its direction. */
  getHealthScore(): number {
    if (this.pending !== 0) this.flush()
    return native.monitorHealthScore(this.handle, Date.now())
  }

  getMetrics(): Record<string, PerformanceStats> {
    if (this.pending !== 0) this.flush()
    const len = this.flat((out) => native.monitorAllStats(this.handle, out))
    const a = this.scratch
    const out: Record<string, PerformanceStats> = {}
    for (let o = 0; o < len; o += STATS_WIDTH + 1) {
      out[this.names[a[o]]] = toStats(a, o + 1)
    }
    return out
  }

  clearOldMetrics(olderThanMs: number = DEFAULT_CLEAR_OLDER_MS): void {
    if (typeof olderThanMs !== 'number') throw typeError('olderThanMs', 'a number of milliseconds', olderThanMs)
    if (Number.isNaN(olderThanMs)) throw rangeError('olderThanMs', 'a number of milliseconds', olderThanMs)
    if (this.pending !== 0) this.flush()
    native.monitorClearOlder(this.handle, Date.now(), olderThanMs)
  }

  /**
   * `"json"` and `"csv"` as the legacy (the last 100 values per metric); `"prometheus"`:
   * the text exposition format (all-time summaries, targets, health score).
   */
  exportData(format: ExportFormat = 'json'): string {
    if (format !== 'json' && format !== 'csv' && format !== 'prometheus') {
      if (typeof format !== 'string') throw typeError('format', '"json", "csv" or "prometheus"', format)
      throw rangeError('format', '"json", "csv" or "prometheus"', format)
    }
    if (this.pending !== 0) this.flush()
    if (format === 'prometheus') return native.monitorPrometheus(this.handle, Date.now())
    const hLen = this.flat((out) => native.monitorHistory(this.handle, EXPORT_HISTORY, out))
    const h = this.scratch.slice(0, hLen)
    if (format === 'csv') {
      let csv = 'metric,timestamp,value\n'
      for (let o = 0; o < hLen; ) {
        const name = this.names[h[o]]
        const k = h[o + 1]
        o += 2
        for (let i = 0; i < k; i++, o += STRIDE) {
          csv += `${name},${new Date(h[o + 2]).toISOString()},${h[o + 1]}\n`
        }
      }
      return csv
    }
    const stats = new Map<number, PerformanceStats>()
    const allLen = this.flat((out) => native.monitorAllStats(this.handle, out))
    const all = this.scratch
    for (let o = 0; o < allLen; o += STATS_WIDTH + 1) stats.set(all[o], toStats(all, o + 1))
    const data: Record<string, { stats: PerformanceStats | null; history: unknown[] }> = {}
    for (let o = 0; o < hLen; ) {
      const id = h[o]
      const name = this.names[id]
      const k = h[o + 1]
      o += 2
      const history: unknown[] = []
      for (let i = 0; i < k; i++, o += STRIDE) {
        history.push({
          name,
          value: h[o + 1],
          timestamp: new Date(h[o + 2]).toISOString(),
          metadata: this.metadataOf(id, h[o]),
        })
      }
      data[name] = { stats: stats.get(id) ?? null, history }
    }
    return JSON.stringify(data, null, 2)
  }

  /** Sets a target; `direction` defaults to the target's current one, else `"lower"`. */
  setTarget(name: string, value: number, direction?: MetricDirection): void {
    checkName(name)
    checkFinite('value', value)
    // the health score and bottlenecks divide by the target: only a positive one means anything
    if (value <= 0) throw rangeError('value', 'a target > 0', value)
    const dir =
      direction === undefined ? (this.targets.get(name)?.direction ?? 'lower') : checkDirection('direction', direction)
    try {
      native.monitorSetTarget(this.handle, name, value, dir === 'higher')
    } catch (err) {
      throw fromNative(err)
    }
    this.targets.set(name, { value, direction: dir })
  }

  /**
   * Sets an alert threshold: `threshold_exceeded` fires for a value above it (`"lower"`,
   * the default) or below it (`"higher"`). Severity by how far past it the value is.
   */
  setThreshold(name: string, value: number, direction?: MetricDirection): void {
    checkName(name)
    checkFinite('value', value)
    const dir =
      direction === undefined ? (this.thresholds.get(name)?.direction ?? 'lower') : checkDirection('direction', direction)
    if (!this.thresholds.has(name) && this.thresholds.size >= 10000) {
      throw rangeError('name', 'one of at most 10000 thresholds', name)
    }
    this.thresholds.set(name, { value, direction: dir })
    const id = this.ids.get(name)
    if (id !== undefined) {
      this.thresholdOf[id] = value
      this.thresholdHigher[id] = dir === 'higher'
    }
  }

  getTargets(): Record<string, MetricBound> {
    const out: Record<string, MetricBound> = {}
    for (const [name, t] of this.targets) out[name] = { ...t }
    return out
  }

  getThresholds(): Record<string, MetricBound> {
    const out: Record<string, MetricBound> = {}
    for (const [name, t] of this.thresholds) out[name] = { ...t }
    return out
  }

  /** Stops the health-check timer, removes listeners and clears all recorded data. */
  shutdown(): void {
    if (this.healthTimer !== null) {
      clearInterval(this.healthTimer)
      this.healthTimer = null
    }
    this.removeAllListeners()
    this.pending = 0
    this.ids = new Map()
    this.slotNames.fill(undefined)
    this.names = []
    this.seqs = []
    this.metadata = []
    this.thresholdOf = []
    this.thresholdHigher = []
    native.monitorReset(this.handle)
  }

  /** The id of `name` (registering it), remembered in its cache slot (−1: none). */
  private idOf(name: string, slot: number): number {
    let id = this.ids.get(name)
    if (id === undefined) id = this.register(name)
    if (slot >= 0) {
      this.slotNames[slot] = name
      this.slotIds[slot] = id
    }
    return id
  }

  private register(name: string): number {
    checkName(name)
    if (this.names.length >= this.maxMetrics) {
      throw rangeError('name', `one of at most maxMetrics (${this.maxMetrics}) distinct names`, name)
    }
    let id: number
    try {
      id = native.monitorRegister(this.handle, name)
    } catch (err) {
      throw fromNative(err)
    }
    this.ids.set(name, id)
    this.names[id] = name
    this.seqs[id] = 0
    this.metadata[id] = undefined
    const t = this.thresholds.get(name)
    this.thresholdOf[id] = t === undefined ? NaN : t.value
    this.thresholdHigher[id] = t !== undefined && t.direction === 'higher'
    return id
  }

  // `recordMetric` checks one boolean to know whether to build events: looking the two
  // events up in the listener table on every call would cost more than the rest of the
  // call. Every way to add or remove a listener goes through these overrides (`once`
  // wrappers remove themselves with `removeListener`), and each recomputes the flag.
  private refreshWatched(): void {
    this.watched = this.listenerCount('metric_recorded') !== 0 || this.listenerCount('threshold_exceeded') !== 0
  }

  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    super.addListener(event, listener)
    this.refreshWatched()
    return this
  }

  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener)
    this.refreshWatched()
    return this
  }

  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    super.once(event, listener)
    this.refreshWatched()
    return this
  }

  override prependListener(event: string | symbol, listener: (...args: any[]) => void): this {
    super.prependListener(event, listener)
    this.refreshWatched()
    return this
  }

  override prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this {
    super.prependOnceListener(event, listener)
    this.refreshWatched()
    return this
  }

  override removeListener(event: string | symbol, listener: (...args: any[]) => void): this {
    super.removeListener(event, listener)
    this.refreshWatched()
    return this
  }

  override off(event: string | symbol, listener: (...args: any[]) => void): this {
    super.off(event, listener)
    this.refreshWatched()
    return this
  }

  override removeAllListeners(event?: string | symbol): this {
    if (event === undefined) super.removeAllListeners()
    else super.removeAllListeners(event)
    this.refreshWatched()
    return this
  }

  /** "turn" timestamps: one clock read per synchronous run of records (at most TURN_CLOCK_REUSE). */
  private turnTime(): number {
    let t = this.turnNow
    if (t < 0 || ++this.turnUses >= TURN_CLOCK_REUSE) {
      // a promise job, not queueMicrotask: Jest's fake timers fake queueMicrotask (and drop
      // its jobs when real timers return), which would pin the turn's time
      if (t < 0) void RESOLVED_TURN.then(this.endTurn)
      t = Date.now()
      this.turnNow = t
      this.turnUses = 0
    }
    return t
  }

  /** Runs a native call that fills `scratch`, growing it once if too short; returns the length. */
  private flat(call: (out: Float64Array) => number): number {
    let n = call(this.scratch)
    if (n < 0) {
      this.scratch = new Float64Array(Math.max(-n, this.scratch.length * 2))
      n = call(this.scratch)
    }
    return n
  }

  private flush(): void {
    const n = this.pending
    this.pending = 0
    try {
      native.monitorRecordBatch(this.handle, this.buf, n)
    } catch (err) {
      throw fromNative(err)
    }
  }

  private keepMetadata(id: number, seq: number, value: unknown): void {
    let ring = this.metadata[id]
    if (ring === undefined) {
      ring = { seqs: new Float64Array(EXPORT_HISTORY).fill(-1), values: new Array(EXPORT_HISTORY) }
      this.metadata[id] = ring
    }
    const slot = seq % EXPORT_HISTORY
    ring.seqs[slot] = seq
    ring.values[slot] = value
  }

  private metadataOf(id: number, seq: number): unknown {
    const ring = this.metadata[id]
    if (ring === undefined) return undefined
    const slot = seq % EXPORT_HISTORY
    return ring.seqs[slot] === seq ? ring.values[slot] : undefined
  }

  private emitRecorded(id: number, name: string, value: number, now: number, metadata: unknown): void {
    const threshold = this.thresholdOf[id]
    if (threshold === threshold && this.listenerCount('threshold_exceeded') !== 0) {
      const higher = this.thresholdHigher[id]
      if (higher ? value < threshold : value > threshold) {
        const ratio = higher ? (value > 0 ? threshold / value : Infinity) : value / threshold
        const severity: Severity = ratio >= 3 ? 'critical' : ratio >= 2 ? 'high' : ratio >= 1.5 ? 'medium' : 'low'
        const event: ThresholdExceededEvent = { metric: name, value, threshold, severity, timestamp: new Date(now) }
        this.emit('threshold_exceeded', event)
      }
    }
    if (this.listenerCount('metric_recorded') !== 0) {
      const metric: PerformanceMetric = { name, value, timestamp: new Date(now), metadata }
      this.emit('metric_recorded', metric)
    }
  }

  /** The health timer's tick (static: see `weakInterval`). */
  private static healthTick(monitor: PerformanceMonitor): void {
    monitor.performHealthCheck()
  }

  private performHealthCheck(): void {
    try {
      const score = this.getHealthScore()
      const event: HealthCheckEvent = {
        score,
        status: healthStatus(score),
        bottlenecks: this.analyzeBottlenecks().length,
        timestamp: new Date(),
      }
      this.emit('health_check', event)
    } catch {
      // a throwing listener must not crash the timer (as the legacy)
    }
  }
}
