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

/** One recorded value: the payload of the `metric_recorded` event. */
export interface PerformanceMetric {
  /** The metric's name, as given to `recordMetric`. */
  name: string
  /** The value recorded (a finite number, in the metric's own unit). */
  value: number
  /** When it was recorded (see `PerformanceMonitorOptions.timestamps`). */
  timestamp: Date
  /** The metadata given to `recordMetric`, as given (not copied); undefined when none. */
  metadata?: any
}

/**
 * Statistics of one metric over its last 1000 values (or those of them inside a time
 * window), in the metric's own unit. Percentiles are `sorted[ceil(n·p) − 1]`, as the legacy.
 */
export interface PerformanceStats {
  /** Arithmetic mean, summed in recording order (bit-for-bit the legacy's). */
  mean: number
  /** The 50th percentile (`sorted[ceil(n·0.5) − 1]`, no averaging of the two middle values). */
  median: number
  /** The 95th percentile. */
  p95: number
  /** The 99th percentile. */
  p99: number
  /** Smallest value. */
  min: number
  /** Largest value. */
  max: number
  /** Number of values the statistics cover (at most 1000). */
  count: number
  /** Population standard deviation (divides by n, not n − 1). */
  stddev: number
}

/** How serious a bottleneck or a threshold crossing is, from least to most. */
export type Severity = 'low' | 'medium' | 'high' | 'critical'

/** A finding of `analyzeBottlenecks`. */
export interface Bottleneck {
  /**
   * The component the metric belongs to, from its name: `"orchestrator"` (contains
   * "orchestration"), `"router"` ("routing"), `"model_client"` ("model"), `"cache"`,
   * `"authentication"` ("auth"), else `"unknown"`.
   */
  component: string
  /** The metric's name. */
  metric: string
  /**
   * For a tail past the target: by the ratio of tail to target (≥ 4 `"critical"`, ≥ 3
   * `"high"`, ≥ 2 `"medium"`, else `"low"`); `"medium"` for high variance.
   */
  severity: Severity
  /**
   * Ranking weight, 0 to 1 (the list is sorted by it, highest first):
   * `min((ratio − 1) / 3, 1)` × the metric's weight (orchestration_latency and error_rate 1,
   * model_latency 0.9, routing_overhead 0.8, cache_hit_rate 0.7, others 0.5); 0.3 for high variance.
   */
  impact: number
  /** What was found, e.g. `"orchestration_latency P95 (4200.00) exceeds target (2000)"`. */
  description: string
  /** What to do about it (a fixed text per metric). */
  recommendation: string
}

/** Which side of a target or threshold is good. */
export type MetricDirection = 'lower' | 'higher'

/** A target or an alert threshold of one metric (see `getTargets`, `getThresholds`). */
export interface MetricBound {
  /** The bound, in the metric's own unit. */
  value: number
  /** `"lower"`: lower is better (latency, error rate); `"higher"`: hit rate, availability. */
  direction: MetricDirection
}

/** Every value ever recorded for a metric (not only the last 1000), from an HDR histogram. */
export interface AllTimeStats {
  /** Values ever recorded (exact). */
  count: number
  /** Their sum (exact). */
  sum: number
  /** `sum / count`. */
  mean: number
  /** Smallest value (exact, negative values included). */
  min: number
  /** Largest value (exact). */
  max: number
  /** 50th percentile, from the histogram (3 significant digits; values clamped to [0, 10^9]). */
  p50: number
  /** 90th percentile, from the histogram. */
  p90: number
  /** 99th percentile, from the histogram. */
  p99: number
  /** 99.9th percentile, from the histogram. */
  p999: number
}

/**
 * The payload of the `threshold_exceeded` event: a value past its metric's alert threshold
 * (above it for a `"lower"` threshold, below it for a `"higher"` one).
 */
export interface ThresholdExceededEvent {
  /** The metric's name. */
  metric: string
  /** The value recorded. */
  value: number
  /** The threshold it crossed. */
  threshold: number
  /**
   * By how far past it the value is, as a ratio (value / threshold, or threshold / value
   * for a `"higher"` threshold): ≥ 3 `"critical"`, ≥ 2 `"high"`, ≥ 1.5 `"medium"`, else `"low"`.
   */
  severity: Severity
  /** The value's timestamp. */
  timestamp: Date
}

/** The health score in words: ≥ 90 `"excellent"`, ≥ 80 `"good"`, ≥ 70 `"fair"`, ≥ 50 `"poor"`, else `"critical"`. */
export type HealthStatus = 'excellent' | 'good' | 'fair' | 'poor' | 'critical'

/** The payload of the `health_check` event, emitted every `healthCheckIntervalMs`. */
export interface HealthCheckEvent {
  /** `getHealthScore()`, 0 to 100. */
  score: number
  /** The score in words. */
  status: HealthStatus
  /** How many bottlenecks `analyzeBottlenecks()` finds (last 5 minutes). */
  bottlenecks: number
  /** When the check ran. */
  timestamp: Date
}

/** A format of `exportData`: `"json"` and `"csv"` as the legacy, `"prometheus"` the text exposition format. */
export type ExportFormat = 'json' | 'csv' | 'prometheus'

/**
 * Options of `new PerformanceMonitor(options)`, all optional. A value of the wrong type is a
 * `TypeError`, one out of range a `RangeError`, each naming the field (`options.maxMetrics`, …).
 */
export interface PerformanceMonitorOptions {
  /**
   * Period of the `health_check` event in ms (default 60000; 0 turns it off): an integer
   * from 0 to 2^31 − 1. The timer never keeps the process alive.
   */
  healthCheckIntervalMs?: number
  /**
   * Bound on distinct metric names (default 1000; an integer from 1 to 2^32 − 1); a new name
   * beyond it makes `recordMetric` throw a `RangeError`. Each metric holds at most ~160 KB.
   */
  maxMetrics?: number
  /** Values buffered on the JS side before one native call records them (default 1024, 24 bytes each; an integer from 1 to 2^20). */
  bufferSize?: number
  /**
   * How `recordMetric` timestamps values. `"exact"` (default, as the legacy): `Date.now()`
   * per value — a clock read costs ~80 ns on some VMs, more than the rest of the call.
   * `"turn"`: the clock is read once per synchronous run of records (re-read after every
   * 100), so values recorded in the same event-loop turn share a timestamp that may trail
   * the true time by the length of that turn. Any other value is a `RangeError`.
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

/**
 * Records metric values and reports their statistics, bottlenecks and a health score: the
 * drop-in for the legacy `PerformanceMonitor` (same methods, all synchronous, same events).
 * Per metric it keeps the last 1000 values (for `getStats`, `getMetrics`, the bottlenecks
 * and the health score) and an all-time histogram (`getAllTimeStats`).
 *
 * Default targets: `orchestration_latency` 2000 (lower is better), `routing_overhead` 100
 * (lower), `cache_hit_rate` 0.7 (higher), `model_availability` 0.99 (higher), `error_rate`
 * 0.01 (lower). Default alert thresholds (all `"lower"`): `orchestration_latency` 3000,
 * `routing_overhead` 150, `model_latency` 5000, `cache_miss_rate` 0.4, `error_rate` 0.05.
 *
 * Events (an `EventEmitter`; each emitted synchronously):
 * - `"metric_recorded"`, payload {@link PerformanceMetric}: every value, from `recordMetric`.
 * - `"threshold_exceeded"`, payload {@link ThresholdExceededEvent}: a value past its
 *   metric's threshold, from `recordMetric` (before `metric_recorded`).
 * - `"health_check"`, payload {@link HealthCheckEvent}: every `healthCheckIntervalMs`
 *   (default 60000); an error thrown by a listener is swallowed.
 * Building the per-value events costs nothing while neither has a listener.
 *
 * @throws {TypeError} from the constructor: `options` not an object, or an option of the
 *   wrong type (the message names it).
 * @throws {RangeError} from the constructor: an option out of range (the message names it).
 */
export class PerformanceMonitor extends EventEmitter {
  readonly #handle: ReturnType<typeof native.monitorCreate>
  readonly #maxMetrics: number
  #ids = new Map<string, number>()
  /**
   * A name → id cache in front of `ids`, one entry per name length: metric names rarely
   * share a length, and a hit costs a string compare (~5 ns here) where `Map.get` costs
   * ~9–15 ns, a third of `recordMetric`. Names of the same length evict each other and
   * fall back to the Map (costing about what the Map alone costs).
   */
  #slotNames: (string | undefined)[] = new Array(NAME_SLOTS).fill(undefined)
  #slotIds: number[] = new Array(NAME_SLOTS).fill(0)
  #names: string[] = []
  /** Values recorded per id: the sequence number of the next one (native counts alike). */
  #seqs: number[] = []
  #metadata: (MetadataRing | undefined)[] = []
  /** Threshold per id (NaN: none) and its direction, mirrored from `thresholds`. */
  #thresholdOf: number[] = []
  #thresholdHigher: boolean[] = []
  readonly #thresholds = new Map<string, MetricBound>()
  readonly #targets = new Map<string, MetricBound>()
  readonly #buf: Float64Array
  readonly #capacity: number
  #pending = 0
  /** Out-parameter of the native stats calls (cheaper than a returned array). */
  readonly #out = new Float64Array(STATS_WIDTH)
  /** Out-parameter of the variable-length native results; grows on demand. */
  #scratch = new Float64Array(1024)
  readonly #turnClock: boolean
  #turnNow = -1
  #turnUses = 0
  readonly #endTurn = (): void => {
    this.#turnNow = -1
  }
  /** Whether `metric_recorded` or `threshold_exceeded` has a listener (see refreshWatched). */
  #watched = false
  #healthTimer: NodeJS.Timeout | null = null

  constructor(options: PerformanceMonitorOptions = {}) {
    super()
    if (options === null || typeof options !== 'object') throw typeError('options', 'an object', options)
    const interval = positiveInt('options.healthCheckIntervalMs', options.healthCheckIntervalMs, 60000, 0, MAX_TIMER_MS)
    // the native side counts metrics in 32 bits
    this.#maxMetrics = positiveInt('options.maxMetrics', options.maxMetrics, 1000, 1, 2 ** 32 - 1)
    // the buffer holds STRIDE numbers per value: bounded so that it stays an allocation
    this.#capacity = positiveInt('options.bufferSize', options.bufferSize, 1024, 1, 1 << 20)
    this.#buf = new Float64Array(this.#capacity * STRIDE)
    const timestamps = options.timestamps ?? 'exact'
    if (timestamps !== 'exact' && timestamps !== 'turn') {
      throw rangeError('options.timestamps', '"exact" or "turn"', timestamps)
    }
    this.#turnClock = timestamps === 'turn'
    this.#handle = native.monitorCreate(this.#maxMetrics)
    for (const [name, value, direction] of DEFAULT_TARGETS) this.#targets.set(name, { value, direction })
    for (const [name, value] of DEFAULT_THRESHOLDS) this.#thresholds.set(name, { value, direction: 'lower' })
    if (interval > 0) {
      this.#healthTimer = weakInterval(this, interval, PerformanceMonitor.#healthTick)
    }
  }

  /**
   * Records a value (timestamped now). Costs no native call: the value is buffered and
   * reaches the native core in a batch, before any read (every read sees every value
   * recorded before it). Emits `threshold_exceeded` and `metric_recorded` when listened to.
   * Only the last 100 values' metadata is kept (for `exportData("json")`).
   *
   * @param name the metric (at most `MAX_NAME_LENGTH` UTF-16 units, no lone surrogate).
   * @param value a finite number, in the metric's own unit (ms for latencies, 0–1 for rates).
   * @param metadata anything; kept as given, not copied.
   * @throws {TypeError} `value` not a number; `name` not a string or with a lone surrogate.
   * @throws {RangeError} `value` NaN or infinite; `name` longer than `MAX_NAME_LENGTH`, or a
   *   new name beyond `maxMetrics` distinct names.
   */
  recordMetric(name: string, value: number, metadata?: any): void {
    if (typeof value !== 'number' || value - value !== 0) checkFinite('value', value)
    let id: number
    const slot = typeof name === 'string' ? name.length & (NAME_SLOTS - 1) : -1
    if (slot >= 0 && this.#slotNames[slot] === name) id = this.#slotIds[slot]
    else id = this.#idOf(name, slot)
    const now = this.#turnClock ? this.#turnTime() : Date.now()
    const n = this.#pending
    const o = n * STRIDE
    const b = this.#buf
    b[o] = id
    b[o + 1] = value
    b[o + 2] = now
    this.#pending = n + 1
    const seq = this.#seqs[id]++
    if (metadata !== undefined) this.#keepMetadata(id, seq, metadata)
    if (n + 1 === this.#capacity) this.#flush()
    if (this.#watched) this.#emitRecorded(id, name, value, now, metadata)
  }

  /**
   * Statistics of `name` over its last 1000 values, or over those recorded in the last
   * `timeWindowMs` ms (undefined, null or 0: no window). Null when `name` was never
   * recorded or has no value in the window.
   *
   * @throws {TypeError} `name` not a string or with a lone surrogate; `timeWindowMs` not a number.
   * @throws {RangeError} `name` longer than `MAX_NAME_LENGTH`; `timeWindowMs` NaN or negative.
   */
  getStats(name: string, timeWindowMs?: number): PerformanceStats | null {
    checkName(name)
    const window = checkWindow('timeWindowMs', timeWindowMs)
    const id = this.#ids.get(name)
    if (id === undefined) return null
    if (this.#pending !== 0) this.#flush()
    return native.monitorStats(this.#handle, id, Date.now(), window, this.#out) ? toStats(this.#out, 0) : null
  }

  /**
   * Statistics over every value ever recorded for `name` (HDR histogram, 3 significant
   * digits; not cleared by `clearOldMetrics`, only by `shutdown`). Null when `name` was
   * never recorded.
   *
   * @throws {TypeError} `name` not a string or with a lone surrogate.
   * @throws {RangeError} `name` longer than `MAX_NAME_LENGTH`.
   */
  getAllTimeStats(name: string): AllTimeStats | null {
    checkName(name)
    const id = this.#ids.get(name)
    if (id === undefined) return null
    if (this.#pending !== 0) this.#flush()
    if (!native.monitorAllTime(this.#handle, id, this.#out)) return null
    const [count, sum, min, max, p50, p90, p99, p999] = this.#out
    return { count, sum, mean: sum / count, min, max, p50, p90, p99, p999 }
  }

  /**
   * The bottlenecks of the last `timeWindowMs` ms (default 300000, 5 minutes), sorted by
   * `impact`, highest first. A metric is judged when it has a target and at least 5 values in
   * the window: a lower-is-better target is missed when its p95 exceeds 1.5 × the target, a
   * higher-is-better one when its p5 is below target / 1.5; any such metric whose
   * stddev / mean exceeds 0.5 is also reported for high variance. A window of 0 or null
   * behaves as the legacy's: only metrics with 5 values timestamped now or later are judged,
   * over all their retained values.
   *
   * @throws {TypeError} `timeWindowMs` not a number.
   * @throws {RangeError} `timeWindowMs` NaN or negative.
   */
  analyzeBottlenecks(timeWindowMs: number = DEFAULT_BOTTLENECK_WINDOW_MS): Bottleneck[] {
    const window = checkWindow('timeWindowMs', timeWindowMs)
    if (this.#pending !== 0) this.#flush()
    const now = Date.now()
    const len = this.#flat((out) => native.monitorBottlenecks(this.#handle, now, window, out))
    const a = this.#scratch
    const out: Bottleneck[] = []
    for (let o = 0; o < len; o += BOTTLENECK_WIDTH) {
      const metric = this.#names[a[o]]
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

  /**
   * Health score, 0 to 100: the average over every metric with a target and values in the
   * last 5 minutes of 100 − 50 × its mean's relative shortfall on the bad side of the
   * target (not below 0), times (1 − cv / 2) when its coefficient of variation cv exceeds
   * 0.3; 100 when no such metric has values.
   */
  getHealthScore(): number {
    if (this.#pending !== 0) this.#flush()
    return native.monitorHealthScore(this.#handle, Date.now())
  }

  /** The statistics of every metric that holds values (its last 1000), by name. */
  getMetrics(): Record<string, PerformanceStats> {
    if (this.#pending !== 0) this.#flush()
    const len = this.#flat((out) => native.monitorAllStats(this.#handle, out))
    const a = this.#scratch
    const out: Record<string, PerformanceStats> = {}
    for (let o = 0; o < len; o += STATS_WIDTH + 1) {
      out[this.#names[a[o]]] = toStats(a, o + 1)
    }
    return out
  }

  /**
   * Drops the values recorded more than `olderThanMs` ms ago (default 86400000, 24 hours)
   * from the last-1000 windows. The all-time statistics, the names, targets and thresholds stay.
   *
   * @throws {TypeError} `olderThanMs` not a number.
   * @throws {RangeError} `olderThanMs` NaN.
   */
  clearOldMetrics(olderThanMs: number = DEFAULT_CLEAR_OLDER_MS): void {
    if (typeof olderThanMs !== 'number') throw typeError('olderThanMs', 'a number of milliseconds', olderThanMs)
    if (Number.isNaN(olderThanMs)) throw rangeError('olderThanMs', 'a number of milliseconds', olderThanMs)
    if (this.#pending !== 0) this.#flush()
    native.monitorClearOlder(this.#handle, Date.now(), olderThanMs)
  }

  /**
   * `"json"` and `"csv"` as the legacy (the last 100 values per metric); `"prometheus"`:
   * the text exposition format (all-time summaries, targets, health score). Default `"json"`.
   *
   * @throws {TypeError} `format` not a string.
   * @throws {RangeError} `format` not one of the three.
   */
  exportData(format: ExportFormat = 'json'): string {
    if (format !== 'json' && format !== 'csv' && format !== 'prometheus') {
      if (typeof format !== 'string') throw typeError('format', '"json", "csv" or "prometheus"', format)
      throw rangeError('format', '"json", "csv" or "prometheus"', format)
    }
    if (this.#pending !== 0) this.#flush()
    if (format === 'prometheus') return native.monitorPrometheus(this.#handle, Date.now())
    const hLen = this.#flat((out) => native.monitorHistory(this.#handle, EXPORT_HISTORY, out))
    const h = this.#scratch.slice(0, hLen)
    if (format === 'csv') {
      let csv = 'metric,timestamp,value\n'
      for (let o = 0; o < hLen; ) {
        const name = this.#names[h[o]]
        const k = h[o + 1]
        o += 2
        for (let i = 0; i < k; i++, o += STRIDE) {
          csv += `${name},${new Date(h[o + 2]).toISOString()},${h[o + 1]}\n`
        }
      }
      return csv
    }
    const stats = new Map<number, PerformanceStats>()
    const allLen = this.#flat((out) => native.monitorAllStats(this.#handle, out))
    const all = this.#scratch
    for (let o = 0; o < allLen; o += STATS_WIDTH + 1) stats.set(all[o], toStats(all, o + 1))
    const data: Record<string, { stats: PerformanceStats | null; history: unknown[] }> = {}
    for (let o = 0; o < hLen; ) {
      const id = h[o]
      const name = this.#names[id]
      const k = h[o + 1]
      o += 2
      const history: unknown[] = []
      for (let i = 0; i < k; i++, o += STRIDE) {
        history.push({
          name,
          value: h[o + 1],
          timestamp: new Date(h[o + 2]).toISOString(),
          metadata: this.#metadataOf(id, h[o]),
        })
      }
      data[name] = { stats: stats.get(id) ?? null, history }
    }
    return JSON.stringify(data, null, 2)
  }

  /**
   * Sets the target of `name` (used by `analyzeBottlenecks` and `getHealthScore`);
   * `direction` defaults to the target's current one, else `"lower"` (lower is better).
   *
   * @param value the target, > 0, in the metric's own unit.
   * @throws {TypeError} `name` not a string or with a lone surrogate; `value` not a number;
   *   `direction` not a string.
   * @throws {RangeError} `name` too long; `value` not finite or ≤ 0; `direction` neither
   *   `"lower"` nor `"higher"`.
   */
  setTarget(name: string, value: number, direction?: MetricDirection): void {
    checkName(name)
    checkFinite('value', value)
    // the health score and bottlenecks divide by the target: only a positive one means anything
    if (value <= 0) throw rangeError('value', 'a target > 0', value)
    const dir = direction === undefined ? (this.#targets.get(name)?.direction ?? 'lower') : checkDirection('direction', direction)
    try {
      native.monitorSetTarget(this.#handle, name, value, dir === 'higher')
    } catch (err) {
      throw fromNative(err)
    }
    this.#targets.set(name, { value, direction: dir })
  }

  /**
   * Sets an alert threshold: `threshold_exceeded` fires for a value above it (`"lower"`,
   * the default) or below it (`"higher"`). Severity by how far past it the value is.
   * `direction` defaults to the threshold's current one, else `"lower"`.
   *
   * @throws {TypeError} `name` not a string or with a lone surrogate; `value` not a number;
   *   `direction` not a string.
   * @throws {RangeError} `name` too long, or a new name beyond 10000 thresholds; `value` not
   *   finite; `direction` neither `"lower"` nor `"higher"`.
   */
  setThreshold(name: string, value: number, direction?: MetricDirection): void {
    checkName(name)
    checkFinite('value', value)
    const dir = direction === undefined ? (this.#thresholds.get(name)?.direction ?? 'lower') : checkDirection('direction', direction)
    if (!this.#thresholds.has(name) && this.#thresholds.size >= 10000) {
      throw rangeError('name', 'one of at most 10000 thresholds', name)
    }
    this.#thresholds.set(name, { value, direction: dir })
    const id = this.#ids.get(name)
    if (id !== undefined) {
      this.#thresholdOf[id] = value
      this.#thresholdHigher[id] = dir === 'higher'
    }
  }

  /** Every target by metric name (copies: changing them changes nothing). */
  getTargets(): Record<string, MetricBound> {
    const out: Record<string, MetricBound> = {}
    for (const [name, t] of this.#targets) out[name] = { ...t }
    return out
  }

  /** Every alert threshold by metric name (copies: changing them changes nothing). */
  getThresholds(): Record<string, MetricBound> {
    const out: Record<string, MetricBound> = {}
    for (const [name, t] of this.#thresholds) out[name] = { ...t }
    return out
  }

  /**
   * Stops the health-check timer, removes every listener and clears all recorded data (names,
   * values, all-time statistics, metadata). Targets and thresholds stay. The monitor remains usable.
   */
  shutdown(): void {
    if (this.#healthTimer !== null) {
      clearInterval(this.#healthTimer)
      this.#healthTimer = null
    }
    this.removeAllListeners()
    this.#pending = 0
    this.#ids = new Map()
    this.#slotNames.fill(undefined)
    this.#names = []
    this.#seqs = []
    this.#metadata = []
    this.#thresholdOf = []
    this.#thresholdHigher = []
    native.monitorReset(this.#handle)
  }

  /** The id of `name` (registering it), remembered in its cache slot (−1: none). */
  #idOf(name: string, slot: number): number {
    let id = this.#ids.get(name)
    if (id === undefined) id = this.#register(name)
    if (slot >= 0) {
      this.#slotNames[slot] = name
      this.#slotIds[slot] = id
    }
    return id
  }

  #register(name: string): number {
    checkName(name)
    if (this.#names.length >= this.#maxMetrics) {
      throw rangeError('name', `one of at most maxMetrics (${this.#maxMetrics}) distinct names`, name)
    }
    let id: number
    try {
      id = native.monitorRegister(this.#handle, name)
    } catch (err) {
      throw fromNative(err)
    }
    this.#ids.set(name, id)
    this.#names[id] = name
    this.#seqs[id] = 0
    this.#metadata[id] = undefined
    const t = this.#thresholds.get(name)
    this.#thresholdOf[id] = t === undefined ? NaN : t.value
    this.#thresholdHigher[id] = t !== undefined && t.direction === 'higher'
    return id
  }

  // `recordMetric` checks one boolean to know whether to build events: looking the two
  // events up in the listener table on every call would cost more than the rest of the
  // call. Every way to add or remove a listener goes through these overrides (`once`
  // wrappers remove themselves with `removeListener`), and each recomputes the flag.
  #refreshWatched(): void {
    this.#watched = this.listenerCount('metric_recorded') !== 0 || this.listenerCount('threshold_exceeded') !== 0
  }

  /** As `EventEmitter.addListener`; events: `metric_recorded`, `threshold_exceeded`, `health_check` (see the class). */
  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    super.addListener(event, listener)
    this.#refreshWatched()
    return this
  }

  /** As `EventEmitter.on`; events: `metric_recorded`, `threshold_exceeded`, `health_check` (see the class). */
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener)
    this.#refreshWatched()
    return this
  }

  /** As `EventEmitter.once`; events: `metric_recorded`, `threshold_exceeded`, `health_check` (see the class). */
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    super.once(event, listener)
    this.#refreshWatched()
    return this
  }

  /** As `EventEmitter.prependListener`; events: `metric_recorded`, `threshold_exceeded`, `health_check` (see the class). */
  override prependListener(event: string | symbol, listener: (...args: any[]) => void): this {
    super.prependListener(event, listener)
    this.#refreshWatched()
    return this
  }

  /** As `EventEmitter.prependOnceListener`; events: `metric_recorded`, `threshold_exceeded`, `health_check` (see the class). */
  override prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this {
    super.prependOnceListener(event, listener)
    this.#refreshWatched()
    return this
  }

  /** As `EventEmitter.removeListener`; events: `metric_recorded`, `threshold_exceeded`, `health_check` (see the class). */
  override removeListener(event: string | symbol, listener: (...args: any[]) => void): this {
    super.removeListener(event, listener)
    this.#refreshWatched()
    return this
  }

  /** As `EventEmitter.off`; events: `metric_recorded`, `threshold_exceeded`, `health_check` (see the class). */
  override off(event: string | symbol, listener: (...args: any[]) => void): this {
    super.off(event, listener)
    this.#refreshWatched()
    return this
  }

  /** As `EventEmitter.removeAllListeners`; events: `metric_recorded`, `threshold_exceeded`, `health_check` (see the class). */
  override removeAllListeners(event?: string | symbol): this {
    if (event === undefined) super.removeAllListeners()
    else super.removeAllListeners(event)
    this.#refreshWatched()
    return this
  }

  /** "turn" timestamps: one clock read per synchronous run of records (at most TURN_CLOCK_REUSE). */
  #turnTime(): number {
    let t = this.#turnNow
    if (t < 0 || ++this.#turnUses >= TURN_CLOCK_REUSE) {
      // a promise job, not queueMicrotask: Jest's fake timers fake queueMicrotask (and drop
      // its jobs when real timers return), which would pin the turn's time
      if (t < 0) void RESOLVED_TURN.then(this.#endTurn)
      t = Date.now()
      this.#turnNow = t
      this.#turnUses = 0
    }
    return t
  }

  /** Runs a native call that fills `scratch`, growing it once if too short; returns the length. */
  #flat(call: (out: Float64Array) => number): number {
    let n = call(this.#scratch)
    if (n < 0) {
      this.#scratch = new Float64Array(Math.max(-n, this.#scratch.length * 2))
      n = call(this.#scratch)
    }
    return n
  }

  #flush(): void {
    const n = this.#pending
    this.#pending = 0
    try {
      native.monitorRecordBatch(this.#handle, this.#buf, n)
    } catch (err) {
      throw fromNative(err)
    }
  }

  #keepMetadata(id: number, seq: number, value: unknown): void {
    let ring = this.#metadata[id]
    if (ring === undefined) {
      ring = { seqs: new Float64Array(EXPORT_HISTORY).fill(-1), values: new Array(EXPORT_HISTORY) }
      this.#metadata[id] = ring
    }
    const slot = seq % EXPORT_HISTORY
    ring.seqs[slot] = seq
    ring.values[slot] = value
  }

  #metadataOf(id: number, seq: number): unknown {
    const ring = this.#metadata[id]
    if (ring === undefined) return undefined
    const slot = seq % EXPORT_HISTORY
    return ring.seqs[slot] === seq ? ring.values[slot] : undefined
  }

  #emitRecorded(id: number, name: string, value: number, now: number, metadata: unknown): void {
    const threshold = this.#thresholdOf[id]
    if (threshold === threshold && this.listenerCount('threshold_exceeded') !== 0) {
      const higher = this.#thresholdHigher[id]
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
  static #healthTick(monitor: PerformanceMonitor): void {
    monitor.#performHealthCheck()
  }

  #performHealthCheck(): void {
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
