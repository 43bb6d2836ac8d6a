'use strict'
// Differential test: the native PerformanceMonitor against the TypeScript port of the legacy
// monitor (legacy/, written from the contract), call for call on seeded random
// sequences of every public method, with the clock under Jest's fake timers.
//
// The native monitor fixes some legacy defects (README "Deviations from the legacy"). Each
// fix is reproduced on the port as a small named patch (FIXES below); methods the legacy
// does not have (setTarget, setThreshold, getTargets, getThresholds) are mirrored on the
// port's own target/threshold maps (addExtensions). Every native instance must then observe
// exactly what the port with every fix observes: return values, thrown error classes,
// events and their order. To show that each patch is needed, a port with all fixes but one
// runs in lockstep, and the observations it gets wrong are counted under that fix's name.
//
// Tolerance: none. Every number is compared bit for bit (Object.is, NaN and ±Infinity
// included) and exports as exact strings. Percentiles, min and max are elements picked by
// the contract's rule; mean and stddev are summed in recording order on both sides (the
// README promises bit-for-bit results); health scores and impacts are the same IEEE-754
// operations in the same order (targets averaged in insertion order on both sides).
//
// Kept out of this stream on purpose: three deviations this test found, documented since and
// covered by their own tests in monitor.test.js: -0 as a value (native records 0, so getStats
// gives min 0 where the legacy gives -0); values whose squares overflow (|v| ≳ 1e154: the
// legacy health score becomes NaN, native counts 0); values at or below 0 under a
// higher-is-better target or threshold (native takes the ratio as Infinity where
// target/value is negative). So values stay within ±1e150, never -0, and only names whose
// values are never negative get a "higher" direction.
//
// DIFF_STEPS (default 3000) and DIFF_SEED change the stream; the checks that the stream
// reached every case (and that each fix mattered) need DIFF_STEPS ≥ 2000.
const { PerformanceMonitor } = require('model-router-native')
const { PerformanceMonitor: LegacyMonitor } = require('model-router-legacy-ports')

// the benchmark workload's seeded PRNG (mulberry32)
const { rng } = require('model-router-legacy-ports')

const STEPS = Number(process.env.DIFF_STEPS || 3000)
const SEED = Number(process.env.DIFF_SEED || 20261128)
const START_MS = Date.UTC(2026, 10, 28, 12, 0, 0)
/** A full comparison of every instance's state (exports, all stats) every this many steps. */
const FULL_CHECK_EVERY = 250

// --- names and the values each gets -------------------------------------------------------

/** Names whose values are never negative: only these may get a higher-is-better target or threshold. */
const RATE_NAMES = ['cache_hit_rate', 'model_availability', 'error_rate', 'cache_miss_rate', 'queue_depth']
const SIGNED_NAMES = [
  'orchestration_latency',
  'routing_overhead',
  'model_latency',
  'auth_latency',
  'routing_cache_lookups',
  'custom metric, with comma', // CSV quotes nothing
  'toString', // the legacy looks names up in Maps: no target
  '__proto__', // a plain-object key in getMetrics / exportData on both sides
  '',
  'métrique_é😀',
  'n'.repeat(1024), // the longest accepted name
  'nul\u0000and\nnewline', // passed through to CSV as is, on both sides
]
const NAMES = [...RATE_NAMES, ...SIGNED_NAMES]
const EVENTS = ['metric_recorded', 'threshold_exceeded', 'health_check']

/** Typical magnitude of each name's values (rates are in [0, 1]). */
function scaleOf(name) {
  if (name === 'queue_depth') return 40
  if (RATE_NAMES.includes(name)) return 0.5
  if (name === 'orchestration_latency') return 2000
  if (name === 'model_latency') return 1500
  if (name === 'routing_overhead' || name.startsWith('routing')) return 100
  return 300
}

function makeGen(seed) {
  const r = rng(seed)
  const pick = (xs) => xs[Math.floor(r() * xs.length)]
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
  // each name drifts between regimes: steady, noisy, slow (tail past the target), erratic
  const regimes = new Map()
  const regimeOf = (name) => {
    if (!regimes.has(name) || r() < 0.01) {
      regimes.set(name, { centre: pick([0.1, 0.3, 0.7, 1, 1.4, 2.5, 5]), sigma: pick([0, 0.05, 0.3, 0.8, 1.6]) })
    }
    return regimes.get(name)
  }
  /** A value for `name`, given the reference port's current target and threshold for it. */
  const value = (name, target, threshold) => rawValue(name, target, threshold) + 0 // no -0 (see the top)
  const rawValue = (name, target, threshold) => {
    const nonNegative = RATE_NAMES.includes(name)
    const u = r()
    if (u < 0.6) {
      const { centre, sigma } = regimeOf(name)
      const v = scaleOf(name) * centre * Math.exp(sigma * normal())
      return nonNegative && scaleOf(name) < 1 ? Math.min(1, v) : v
    }
    if (u < 0.75) {
      // boundaries: thresholds fire strictly above, severities and bottlenecks start at ≥
      const refs = [target, threshold].filter((x) => x !== undefined)
      if (refs.length > 0) {
        const ref = pick(refs)
        const k = pick([1, 1.5, 2, 3, 4, 1 / 1.5, 1 / 2, 1 / 3, 1 / 4, 1.05])
        const v = ref * k
        return pick([v, v * (1 + Number.EPSILON), v * (1 - Number.EPSILON)])
      }
      return scaleOf(name) * pick([1, 1.5, 2, 3])
    }
    if (u < 0.85) return Math.floor(r() * 11)
    if (u < 0.9) return 0
    if (u < 0.95 && !nonNegative) return -scaleOf(name) * r() * pick([0.01, 1, 100])
    return pick([1e9, 1e15, 1e100, 1e150, 1e-300, 5e-324, 0.1 + 0.2]) * (nonNegative || r() < 0.7 ? 1 : -1)
  }
  const metadata = () =>
    pick([undefined, undefined, undefined, { model: 'gemini-2.5-flash' }, 'tag', 42, null, { nested: { list: [1, 'two'] } }])
  return { r, pick, value, metadata }
}

// --- the reference port, with the documented fixes ----------------------------------------

const IMPACT_WEIGHTS = {
  orchestration_latency: 1.0,
  routing_overhead: 0.8,
  model_latency: 0.9,
  cache_hit_rate: 0.7,
  error_rate: 1.0,
}
const RECOMMENDATIONS = {
  orchestration_latency: 'Consider enabling caching, optimizing model selection, or implementing request batching',
  routing_overhead: 'Optimize routing algorithm, reduce rule complexity, or implement routing cache',
  model_latency: 'Switch to faster models, implement request optimization, or add model warm-up',
  cache_hit_rate: 'Increase cache size, optimize cache key generation, or extend TTL values',
  error_rate: 'Implement better error handling, add retries, or investigate root cause',
}
const own = (table, key) => (Object.hasOwn(table, key) ? table[key] : undefined)

function componentOf(metric) {
  if (metric.includes('orchestration')) return 'orchestrator'
  if (metric.includes('routing')) return 'router'
  if (metric.includes('model')) return 'model_client'
  if (metric.includes('cache')) return 'cache'
  if (metric.includes('auth')) return 'authentication'
  return 'unknown'
}

const bottleneckSeverity = (ratio) => (ratio >= 4 ? 'critical' : ratio >= 3 ? 'high' : ratio >= 2 ? 'medium' : 'low')
const alertSeverity = (ratio) => (ratio >= 3 ? 'critical' : ratio >= 2 ? 'high' : ratio >= 1.5 ? 'medium' : 'low')

/** Input rules of the README's "bad input" deviation (plus lone surrogates, README history). */
function wellFormed(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1)
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) return false
  }
  return true
}
function checkName(name) {
  if (typeof name !== 'string') throw new TypeError('name')
  if (!wellFormed(name)) throw new TypeError('name')
  if (name.length > 1024) throw new RangeError('name')
}
function checkFinite(value) {
  if (typeof value !== 'number') throw new TypeError('value')
  if (!Number.isFinite(value)) throw new RangeError('value')
}
function checkWindow(window) {
  if (window === undefined || window === null) return
  if (typeof window !== 'number') throw new TypeError('window')
  if (Number.isNaN(window) || window < 0) throw new RangeError('window')
}
function checkDirection(direction) {
  if (direction === 'lower' || direction === 'higher') return
  throw typeof direction === 'string' ? new RangeError('direction') : new TypeError('direction')
}

/**
 * Methods the legacy lacks, mirrored on the port's own Maps (always applied: the calls need
 * them). Directions live beside the Maps; the legacy only knows "lower".
 */
function addExtensions(legacy) {
  legacy.targetDirections = new Map([
    ['orchestration_latency', 'lower'],
    ['routing_overhead', 'lower'],
    ['cache_hit_rate', 'higher'],
    ['model_availability', 'higher'],
    ['error_rate', 'lower'],
  ])
  legacy.thresholdDirections = new Map([...legacy.thresholds.keys()].map((n) => [n, 'lower']))
  legacy.setTarget = (name, value, direction) => {
    checkName(name)
    checkFinite(value)
    if (value <= 0) throw new RangeError('value')
    if (direction !== undefined) checkDirection(direction)
    legacy.targets.set(name, value)
    legacy.targetDirections.set(name, direction ?? legacy.targetDirections.get(name) ?? 'lower')
  }
  legacy.setThreshold = (name, value, direction) => {
    checkName(name)
    checkFinite(value)
    if (direction !== undefined) checkDirection(direction)
    legacy.thresholds.set(name, value)
    legacy.thresholdDirections.set(name, direction ?? legacy.thresholdDirections.get(name) ?? 'lower')
  }
  const bounds = (values, directions) => {
    const out = {}
    for (const [name, value] of values) out[name] = { value, direction: directions.get(name) }
    return out
  }
  legacy.getTargets = () => bounds(legacy.targets, legacy.targetDirections)
  legacy.getThresholds = () => bounds(legacy.thresholds, legacy.thresholdDirections)

  // A "higher" threshold fires below the value, severity by threshold/value: the legacy
  // recordMetric is run with that threshold out of reach, and the alert is emitted just
  // before its metric_recorded, where the legacy emits its own.
  let pendingAlert = null
  const emit = legacy.emit
  legacy.emit = function (event, ...args) {
    if (event === 'metric_recorded' && pendingAlert !== null) {
      const alert = pendingAlert
      pendingAlert = null
      emit.call(this, 'threshold_exceeded', alert)
    }
    return emit.call(this, event, ...args)
  }
  const record = legacy.recordMetric
  legacy.recordMetric = function (name, value, metadata) {
    if (legacy.thresholdDirections.get(name) !== 'higher') return record.call(this, name, value, metadata)
    const threshold = legacy.thresholds.get(name)
    if (value < threshold) {
      const ratio = threshold / value
      pendingAlert = { metric: name, value, threshold, severity: alertSeverity(ratio), timestamp: new Date() }
    }
    legacy.thresholds.set(name, Infinity)
    try {
      return record.call(this, name, value, metadata)
    } finally {
      pendingAlert = null
      legacy.thresholds.set(name, threshold)
    }
  }
}

/** The README's deviations, each applied to a port instance. */
const FIXES = {
  'each target has a direction (health score and bottlenecks)': (legacy) => {
    const higher = (name) => legacy.targetDirections.get(name) === 'higher'
    legacy.getHealthScore = function () {
      const scores = []
      for (const [name, target] of this.targets) {
        const stats = this.getStats(name, 300000)
        if (!stats) continue
        let score = 100
        // the penalty applies on the bad side of the target only
        if (higher(name) ? stats.mean < target : stats.mean > target) {
          const shortfall = higher(name) ? target - stats.mean : stats.mean - target
          score = Math.max(0, score - (shortfall / target) * 50)
        }
        const cv = stats.stddev / stats.mean
        if (cv > 0.3) score *= 1 - cv * 0.5
        scores.push(Math.max(0, score))
      }
      if (scores.length === 0) return 100
      let sum = 0
      for (const s of scores) sum += s
      return sum / scores.length
    }
    legacy.analyzeBottlenecks = function (timeWindowMs = 300000) {
      const found = []
      const cutoff = Date.now() - timeWindowMs
      for (const [name, history] of this.metrics) {
        const inWindow = history.filter((m) => m.timestamp.getTime() >= cutoff)
        if (inWindow.length < 5) continue
        const stats = this.getStats(name, timeWindowMs)
        if (!stats) continue
        const target = this.targets.get(name)
        if (target === undefined) continue
        const component = componentOf(name)
        const weight = own(IMPACT_WEIGHTS, name) ?? 0.5
        const recommendation = own(RECOMMENDATIONS, name) ?? 'Investigate performance degradation'
        if (higher(name)) {
          // the low tail p5, over the values getStats used (a falsy window: all of them)
          const sorted = (timeWindowMs ? inWindow : history).map((m) => m.value).sort((a, b) => a - b)
          const p5 = sorted[Math.max(0, Math.ceil(sorted.length * 0.05) - 1)]
          if (p5 < target / 1.5) {
            const ratio = target / p5
            found.push({
              component,
              metric: name,
              severity: bottleneckSeverity(ratio),
              impact: Math.min(1, (ratio - 1) / 3) * weight,
              description: `${name} P5 (${p5.toFixed(2)}) is below target (${target})`,
              recommendation,
            })
          }
        } else if (stats.p95 > target * 1.5) {
          const ratio = stats.p95 / target
          found.push({
            component,
            metric: name,
            severity: bottleneckSeverity(ratio),
            impact: Math.min(1, (ratio - 1) / 3) * weight,
            description: `${name} P95 (${stats.p95.toFixed(2)}) exceeds target (${target})`,
            recommendation,
          })
        }
        const cv = stats.stddev / stats.mean
        if (cv > 0.5) {
          found.push({
            component,
            metric: name,
            severity: 'medium',
            impact: 0.3,
            description: `${name} shows high variance (CV: ${cv.toFixed(2)})`,
            recommendation: 'Investigate cause of performance inconsistency',
          })
        }
      }
      return found.sort((a, b) => b.impact - a.impact)
    }
  },
  'shutdown() clears the health-check timer': (legacy) => {
    const shutdown = legacy.shutdown
    legacy.shutdown = function () {
      clearInterval(this.healthTimer)
      this.healthTimer = null
      return shutdown.call(this)
    }
  },
  'bad input is refused (TypeError / RangeError), nothing recorded': (legacy) => {
    const guard = (method, check) => {
      const original = legacy[method]
      legacy[method] = function (...args) {
        check(...args)
        return original.apply(this, args)
      }
    }
    guard('recordMetric', (name, value) => {
      checkName(name)
      checkFinite(value)
    })
    guard('getStats', (name, window) => {
      checkName(name)
      checkWindow(window)
    })
    guard('analyzeBottlenecks', (window) => checkWindow(window))
    guard('clearOldMetrics', (olderThan) => {
      if (olderThan === undefined) return
      if (typeof olderThan !== 'number') throw new TypeError('olderThanMs')
      if (Number.isNaN(olderThan)) throw new RangeError('olderThanMs')
    })
    guard('exportData', (format) => {
      if (format === undefined || format === 'json' || format === 'csv') return
      throw typeof format === 'string' ? new RangeError('format') : new TypeError('format')
    })
  },
}

function legacyWith(fixNames) {
  const legacy = new LegacyMonitor()
  addExtensions(legacy)
  for (const name of fixNames) FIXES[name](legacy)
  return legacy
}

// --- observing ----------------------------------------------------------------------------

// no result object other than a Date has a getTime method (and this is cheaper than a
// brand check, which mattered: it runs for every event of every side)
const isDate = (x) => typeof x.getTime === 'function'

/**
 * Exact equality of two results: numbers by Object.is (bit for bit, -0 and NaN included),
 * Dates by their time, objects by their own keys in order (key order is observable in
 * JSON.stringify and Object.keys).
 */
function same(a, b) {
  // primitives first: this runs for every event of every side
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b)
  if (a === b) return true
  if (isDate(a) || isDate(b)) return isDate(a) && isDate(b) && Object.is(a.getTime(), b.getTime())
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  if (keysA.length !== keysB.length) return false
  for (let i = 0; i < keysA.length; i++) {
    if (keysA[i] !== keysB[i] || !same(a[keysA[i]], b[keysB[i]])) return false
  }
  return true
}

/** Readable text of a result for failure messages (-0, NaN, ±Infinity, Dates kept apart). */
function show(x) {
  return JSON.stringify(x, function (key, v) {
    const raw = this[key]
    if (raw !== null && typeof raw === 'object' && isDate(raw)) return { date: raw.getTime() }
    if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return `#${Object.is(v, -0) ? '-0' : v}`
    if (v === undefined && key !== '') return '#undefined'
    return v
  })
}

/** An event as exact text, built when it is emitted (cheaper to compare than objects). */
function eventText(event, payload) {
  let text = event
  for (const key of Object.keys(payload)) {
    const v = payload[key]
    // String(number) is the shortest text that reads back as the same double
    let shown
    if (typeof v === 'number') shown = Object.is(v, -0) ? '-0' : String(v)
    else if (typeof v === 'string') shown = JSON.stringify(v)
    else if (v === undefined) shown = 'undefined'
    else if (v !== null && typeof v === 'object' && isDate(v)) shown = `Date(${v.getTime()})`
    else shown = show(v)
    text += ` ${key}=${shown}`
  }
  return text
}

const sameTexts = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])

function observe(fn) {
  try {
    return { ok: fn() }
  } catch (err) {
    // native errors may come from another realm: compare by name
    return { threw: err.name === 'Error' ? `Error: ${err.message}` : err.name }
  }
}

/** A side: a monitor, the events it emitted since the last comparison, and its listeners. */
function side(label, monitor) {
  return { label, monitor, events: [], listeners: new Map() }
}
function listen(s, event) {
  if (s.listeners.has(event)) return
  const fn = (payload) => s.events.push(eventText(event, payload))
  s.listeners.set(event, fn)
  s.monitor.on(event, fn)
}
function unlisten(s, event) {
  const fn = s.listeners.get(event)
  if (fn === undefined) return
  s.listeners.delete(event)
  s.monitor.off(event, fn)
}

function firstDifference(a, b) {
  let i = 0
  while (i < a.length && a[i] === b[i]) i++
  const around = (text) => JSON.stringify(text.slice(Math.max(0, i - 80), i + 120))
  return `at ${i}: ${around(a)} vs ${around(b)}`
}

// --- the run ------------------------------------------------------------------------------

describe('native PerformanceMonitor vs the legacy port', () => {
  jest.setTimeout(120_000)

  afterEach(() => jest.useRealTimers())

  test(`identical observations on ${STEPS} seeded steps, every difference named`, async () => {
    jest.useFakeTimers({ now: START_MS })
    const gen = makeGen(SEED)
    const allFixes = Object.keys(FIXES)

    let natives = []
    let reference // the port with every fix
    let plain // the port as the legacy was
    let allButOne = [] // [fix name, side]
    const createAll = () => {
      // buffers of 1 (flushed on every value), 7 (bursts cross many flushes) and 1024 (reads
      // flush); "turn" timestamps equal "exact" here because the clock only moves between
      // steps, and each step starts a new event-loop turn
      natives = [
        side('native (defaults)', new PerformanceMonitor()),
        side('native bufferSize 1', new PerformanceMonitor({ bufferSize: 1 })),
        side('native bufferSize 7, timestamps "turn"', new PerformanceMonitor({ bufferSize: 7, timestamps: 'turn' })),
      ]
      reference = side('legacy + all fixes', legacyWith(allFixes))
      plain = side('legacy', legacyWith([]))
      allButOne = allFixes.map((name) => [name, side(`legacy without "${name}"`, legacyWith(allFixes.filter((n) => n !== name)))])
      for (const s of everySide()) for (const event of EVENTS) listen(s, event)
    }
    const everySide = () => [...natives, reference, plain, ...allButOne.map(([, s]) => s)]
    const disposeAll = () => {
      for (const s of natives) s.monitor.shutdown()
      for (const s of [reference, plain, ...allButOne.map(([, l]) => l)]) s.monitor.dispose()
    }
    createAll()

    const differences = Object.fromEntries(allFixes.map((n) => [n, 0]))
    let plainDiffers = 0
    const seen = {} // what the stream exercised, asserted at the end
    const count = (what, n = 1) => (seen[what] = (seen[what] ?? 0) + n)
    /** All-time tallies per name since the last shutdown (native-only getAllTimeStats). */
    let allTime = new Map()

    /** Runs `call` on every side and compares what each observed, events included. */
    const compare = (what, call) => {
      const want = observe(() => call(reference.monitor))
      const wantEvents = reference.events.splice(0)
      for (const e of wantEvents) count(`event ${e.slice(0, e.indexOf(' '))}`)
      for (const s of natives) {
        const got = observe(() => call(s.monitor))
        if (!same(got, want)) {
          throw new Error(`step ${step} ${what}: ${s.label} != ${reference.label} ${firstDifference(show(got), show(want))}`)
        }
        const gotEvents = s.events.splice(0)
        if (!sameTexts(gotEvents, wantEvents)) {
          const where = firstDifference(gotEvents.join('\n'), wantEvents.join('\n'))
          throw new Error(`step ${step} ${what}: events of ${s.label} != ${reference.label} ${where}`)
        }
      }
      const differs = (s) => {
        const o = observe(() => call(s.monitor))
        return !sameTexts(s.events.splice(0), wantEvents) || !same(o, want)
      }
      if (differs(plain)) plainDiffers++
      for (const [name, s] of allButOne) if (differs(s)) differences[name]++
      return want
    }

    /** Moves the clock (health checks fire on every side) and compares their events. */
    const moveClock = (what, move) => {
      move()
      compare(what, () => null)
    }

    const pickName = () => gen.pick(NAMES)
    const record = (name, value, metadata) => {
      const result = compare('recordMetric', (m) => m.recordMetric(name, value, metadata))
      // stored unless refused (a throwing listener runs after the value is stored)
      if (!result.threw || result.threw.startsWith('Error')) tally(name, value)
      return result
    }
    const tally = (name, value) => {
      const t = allTime.get(name) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity }
      t.count++
      t.sum += value
      t.min = Math.min(t.min, value)
      t.max = Math.max(t.max, value)
      allTime.set(name, t)
    }
    const valueFor = (name) => gen.value(name, reference.monitor.targets.get(name), reference.monitor.thresholds.get(name))

    const fullCheck = () => {
      compare('getMetrics', (m) => m.getMetrics())
      compare('exportData json', (m) => m.exportData('json'))
      compare('exportData csv', (m) => m.exportData('csv'))
      compare('getHealthScore', (m) => m.getHealthScore())
      compare('analyzeBottlenecks', (m) => m.analyzeBottlenecks())
      for (const name of NAMES) compare('getStats', (m) => m.getStats(name, 300000))
      // native-only: the all-time tallies (exact count, sum, min, max) and identical
      // histograms and Prometheus text on every native instance
      for (const [name, t] of allTime) {
        const first = natives[0].monitor.getAllTimeStats(name)
        expect({ count: first.count, sum: first.sum, min: first.min, max: first.max }).toEqual(t)
        for (const s of natives.slice(1)) expect(s.monitor.getAllTimeStats(name)).toEqual(first)
      }
      const text = natives[0].monitor.exportData('prometheus')
      for (const s of natives.slice(1)) expect(s.monitor.exportData('prometheus')).toBe(text)
      count('full check')
    }

    const BAD_CALLS = [
      (m) => m.recordMetric(42, 1),
      (m) => m.recordMetric(undefined, 1),
      (m) => m.recordMetric('n'.repeat(1025), 1),
      (m) => m.recordMetric('lone \uD800 surrogate', 1),
      (m) => m.recordMetric('orchestration_latency', NaN),
      (m) => m.recordMetric('routing_overhead', Infinity),
      (m) => m.recordMetric('error_rate', -Infinity),
      (m) => m.recordMetric('model_latency', '5000'),
      (m) => m.recordMetric('a new name', null),
      (m) => m.getStats(7),
      (m) => m.getStats('orchestration_latency', -1),
      (m) => m.getStats('orchestration_latency', NaN),
      (m) => m.getStats('orchestration_latency', '60000'),
      (m) => m.getStats('orchestration_latency', true),
      (m) => m.analyzeBottlenecks(-300000),
      (m) => m.analyzeBottlenecks('300000'),
      (m) => m.clearOldMetrics('x'),
      (m) => m.clearOldMetrics(NaN),
      (m) => m.clearOldMetrics(null),
      (m) => m.exportData('xml'),
      (m) => m.exportData(null),
      (m) => m.exportData(1),
      (m) => m.setTarget('queue_depth', 0),
      (m) => m.setTarget('queue_depth', -5),
      (m) => m.setTarget('queue_depth', NaN),
      (m) => m.setTarget(3, 10),
      (m) => m.setTarget('queue_depth', 10, 'up'),
      (m) => m.setThreshold('queue_depth', Infinity),
      (m) => m.setThreshold('queue_depth', 10, 7),
    ]

    const renew = () => {
      disposeAll()
      createAll()
      allTime = new Map()
      count('new instances')
    }
    let step = 0
    let renewAt = -1
    try {
      for (; step < STEPS; step++) {
        // a new event-loop turn per step (the "turn" clock re-reads the time)
        await null
        if (step === renewAt) renew()
        const u = gen.r()
        if (u < 0.4) {
          const name = pickName()
          record(name, valueFor(name), gen.metadata())
          count('record')
        } else if (u < 0.425) {
          // a burst past the 1000-value window and the buffers
          const name = pickName()
          const n = gen.pick([5, 99, 100, 101, 999, 1000, 1001, 1500, 2500])
          const values = []
          const metadata = []
          for (let i = 0; i < n; i++) {
            values.push(valueFor(name))
            metadata.push(i % 97 === 0 ? gen.metadata() : undefined)
          }
          // one comparison for the whole burst: its events, in order, and nothing thrown
          const result = compare('burst of recordMetric', (m) => {
            for (let i = 0; i < n; i++) m.recordMetric(name, values[i], metadata[i])
          })
          expect(result).toEqual({ ok: undefined })
          for (const v of values) tally(name, v)
          count('burst')
        } else if (u < 0.53) {
          const dt = gen.pick([0, 1, 7, 999, 1000, 30_000, 59_999, 60_000, 60_001, 120_000, 299_999, 300_000, 300_001])
          moveClock('advanceTimersByTime', () => jest.advanceTimersByTime(dt))
          count('clock advanced')
        } else if (u < 0.545) {
          // jumps without firing 60 s ticks in between (a suspended process, an NTP step back)
          const jump = gen.pick([3_600_000, 86_399_999, 86_400_000, 86_400_001, -1, -1000, -60_000, -400_000])
          moveClock('setSystemTime', () => jest.setSystemTime(Date.now() + jump))
          count(jump < 0 ? 'clock stepped back' : 'clock jumped')
        } else if (u < 0.63) {
          const name = gen.r() < 0.9 ? pickName() : 'never recorded'
          const window = gen.pick([undefined, 0, null, 1, 1000, 59_999, 60_000, 300_000, 300_001, 3_600_000, 86_400_000, Infinity])
          const stats = compare('getStats', (m) => m.getStats(name, window)).ok
          count(stats ? 'stats' : 'stats null')
        } else if (u < 0.66) {
          compare('getMetrics', (m) => m.getMetrics())
        } else if (u < 0.71) {
          const window = gen.pick([undefined, undefined, 0, null, 1000, 60_000, 300_000, Infinity])
          const found = compare('analyzeBottlenecks', (m) => m.analyzeBottlenecks(window)).ok
          for (const b of found) count(`bottleneck ${b.description.replace(/.* (P95|P5|variance).*/, '$1')}`)
        } else if (u < 0.75) {
          const score = compare('getHealthScore', (m) => m.getHealthScore()).ok
          count(typeof score === 'number' && score < 100 ? 'health below 100' : 'health 100')
        } else if (u < 0.77) {
          const format = gen.pick([undefined, 'json', 'csv'])
          compare('exportData', (m) => m.exportData(format))
          count('export')
        } else if (u < 0.78) {
          const olderThan = gen.pick([undefined, 0, 1000, 60_000, 300_000, 3_600_000, -1])
          compare('clearOldMetrics', (m) => m.clearOldMetrics(olderThan))
          count('clearOldMetrics')
        } else if (u < 0.8) {
          // targets: "higher" only for names whose values are never negative (see the top)
          const name = pickName()
          const rate = RATE_NAMES.includes(name)
          const value = gen.pick(rate ? [0.05, 0.5, 0.7, 0.99, 40, 100] : [1, 50, 100, 300, 2000, 5000])
          const direction = gen.pick(rate ? [undefined, 'lower', 'higher'] : [undefined, 'lower'])
          const threshold = rate ? value : gen.pick([value, 0, -50])
          if (gen.r() < 0.5) compare('setTarget', (m) => m.setTarget(name, value, direction))
          else compare('setThreshold', (m) => m.setThreshold(name, threshold, direction))
          compare('getTargets', (m) => m.getTargets())
          compare('getThresholds', (m) => m.getThresholds())
          count('target or threshold set')
        } else if (u < 0.83) {
          const call = gen.pick(BAD_CALLS)
          const result = compare('bad input', call)
          count(result.threw ? 'bad input refused' : 'bad input accepted')
        } else if (u < 0.88) {
          // listeners come and go: the native side emits only while someone listens
          const event = gen.pick(EVENTS)
          const how = gen.pick(['on', 'on', 'off', 'removeAllListeners'])
          for (const s of everySide()) {
            if (how === 'on') listen(s, event)
            else if (how === 'off') unlisten(s, event)
            else {
              s.monitor.removeAllListeners(event)
              s.listeners.delete(event)
            }
          }
          count('listener churn')
        } else if (u < 0.9) {
          // a listener that reads and records from inside the event: it must see the value
          // just recorded (native: still in the buffer) and its own record nests in order
          const event = gen.pick(['metric_recorded', 'threshold_exceeded'])
          const window = gen.pick([undefined, 60_000])
          for (const s of everySide()) {
            const m = s.monitor
            m.once(event, (e) => {
              const name = e.name ?? e.metric
              s.events.push(`inner getStats ${show(m.getStats(name, window))}`)
              m.recordMetric('derived_from_listener', e.value)
              s.events.push(`inner getStats derived ${show(m.getStats('derived_from_listener'))}`)
            })
          }
          const name = gen.pick(['orchestration_latency', 'routing_overhead', 'model_latency', 'error_rate'])
          record(name, reference.monitor.thresholds.get(name) * gen.pick([0.5, 2, 5]))
          // the listener stays until an event fires: clear it so every side starts alike
          for (const s of everySide()) s.monitor.removeAllListeners(event)
          for (const s of everySide()) if (s.listeners.has(event)) s.monitor.on(event, s.listeners.get(event))
          count(`reentrant ${event} listener`)
        } else if (u < 0.91) {
          // a listener that throws: recordMetric throws after storing; the timer swallows it
          const event = gen.pick(['metric_recorded', 'health_check'])
          const boom = () => {
            throw new Error('listener boom')
          }
          for (const s of everySide()) s.monitor.once(event, boom)
          if (event === 'metric_recorded') {
            const name = pickName()
            record(name, valueFor(name))
          } else {
            moveClock('advanceTimersByTime', () => jest.advanceTimersByTime(60_000))
            for (const s of everySide()) s.monitor.removeListener(event, boom)
          }
          count(`throwing ${event} listener`)
        } else if (u < 0.92) {
          compare('shutdown', (m) => m.shutdown())
          allTime = new Map()
          // whoever listens afterwards would still hear the legacy's health checks
          const listenAgain = gen.r() < 0.8
          for (const s of everySide()) {
            s.listeners.clear()
            if (listenAgain) for (const event of EVENTS) listen(s, event)
          }
          renewAt = step + gen.pick([20, 100, 300]) // then fresh instances, timers running again
          count('shutdown')
        } else if (u < 0.922) {
          renew()
        } else {
          // a repeated read (native answers it from its cache) must agree too
          const name = pickName()
          compare('getStats twice', (m) => [m.getStats(name), m.getStats(name)])
        }
        if (step % FULL_CHECK_EVERY === FULL_CHECK_EVERY - 1) fullCheck()
      }
      fullCheck()
    } finally {
      // no timer may outlive the test, failed or not
      disposeAll()
    }

    console.log(
      `monitor differential (seed ${SEED}): ${STEPS} steps identical on ${natives.length} native instances; ` +
        `the plain legacy port differs on ${plainDiffers} observations; observations each fix changes: ` +
        `${JSON.stringify(differences)}; exercised: ${JSON.stringify(seen)}`,
    )
    if (STEPS < 2000) return // a short stream need not reach every case
    // every patch explains some difference, so each one is needed
    for (const name of allFixes) expect(differences[name]).toBeGreaterThan(0)
    expect(plainDiffers).toBeGreaterThan(0)
    // the stream reached the cases it is meant to compare
    for (const what of [
      'event health_check',
      'event threshold_exceeded',
      'reentrant metric_recorded listener',
      'reentrant threshold_exceeded listener',
      'clearOldMetrics',
      'target or threshold set',
      'burst',
      'clock stepped back',
      'clock jumped',
      'stats null',
      'bottleneck P95',
      'bottleneck P5',
      'bottleneck variance',
      'health below 100',
      'bad input refused',
      'throwing metric_recorded listener',
      'shutdown',
      'full check',
    ]) {
      expect(seen[what] ?? 0).toBeGreaterThan(0)
    }
  })

  test('documented limit, not a legacy defect (docs/monitor.md, options): a 1001st distinct name throws RangeError', () => {
    const native = new PerformanceMonitor()
    const legacy = new LegacyMonitor()
    try {
      for (let i = 0; i < 1000; i++) {
        native.recordMetric(`metric_${i}`, i)
        legacy.recordMetric(`metric_${i}`, i)
      }
      expect(() => native.recordMetric('one name too many', 1)).toThrow(RangeError)
      legacy.recordMetric('one name too many', 1) // the legacy takes any number of names
      expect(native.getStats('one name too many')).toBeNull()
      const { 'one name too many': extra, ...legacyMetrics } = legacy.getMetrics()
      expect(extra.count).toBe(1)
      // nothing recorded before is touched, and known names still record
      expect(native.getMetrics()).toEqual(legacyMetrics)
      native.recordMetric('metric_0', 5)
      expect(native.getStats('metric_0').count).toBe(2)
    } finally {
      native.shutdown()
      legacy.dispose()
    }
  })
})
