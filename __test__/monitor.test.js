'use strict'
// PerformanceMonitor: the legacy contract, and each monitor deviation (a test that fails on
// the legacy behaviour).
const fc = require('fast-check')
const { PerformanceMonitor } = require('model-router-native')

/** The legacy getStats arithmetic, recomputed naively. */
function naiveStats(values) {
  const n = values.length
  if (n === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const pct = (p) => sorted[Math.max(0, Math.ceil(n * p) - 1)]
  let sum = 0
  for (const v of values) sum += v
  const mean = sum / n
  let sq = 0
  for (const v of values) sq += (v - mean) * (v - mean)
  return {
    mean,
    median: pct(0.5),
    p95: pct(0.95),
    p99: pct(0.99),
    min: sorted[0],
    max: sorted[n - 1],
    count: n,
    stddev: Math.sqrt(sq / n),
  }
}

function expectClose(actual, expected) {
  expect(Object.keys(actual)).toEqual(Object.keys(expected))
  for (const k of Object.keys(expected)) {
    const e = expected[k]
    const tol = Math.max(Math.abs(e), 1e-300) * 1e-9
    expect(Math.abs(actual[k] - e)).toBeLessThanOrEqual(tol)
  }
}

const monitors = []
function monitor(options = { healthCheckIntervalMs: 0 }) {
  const m = new PerformanceMonitor(options)
  monitors.push(m)
  return m
}
afterEach(() => {
  jest.useRealTimers()
  for (const m of monitors.splice(0)) m.shutdown()
})

describe('recording and statistics', () => {
  test('getStats follows the legacy rules over the last 1000 values', () => {
    const m = monitor()
    const all = []
    for (let i = 0; i < 1500; i++) {
      const v = ((i * 7919) % 1009) / 7 - 20
      m.recordMetric('lat', v)
      all.push(v)
    }
    const stats = m.getStats('lat')
    expect(stats.count).toBe(1000)
    expectClose(stats, naiveStats(all.slice(-1000)))
    expect(m.getStats('unknown')).toBeNull()
  })

  test('property: interleaved records and reads equal a naive recomputation', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 9 })), {
          minLength: 1,
          maxLength: 2500,
        }),
        fc.constantFrom(1, 7, 1024),
        (ops, bufferSize) => {
          const m = new PerformanceMonitor({ healthCheckIntervalMs: 0, bufferSize })
          const kept = { a: [], b: [] }
          for (const [name, v, read] of ops) {
            m.recordMetric(name, v)
            kept[name].push(v === 0 ? 0 : v) // -0 and 0 are one value
            if (kept[name].length > 1000) kept[name].shift()
            if (read === 0) expectClose(m.getStats(name), naiveStats(kept[name]))
          }
          const metrics = m.getMetrics()
          for (const name of ['a', 'b']) {
            if (kept[name].length === 0) expect(metrics[name]).toBeUndefined()
            else expectClose(metrics[name], naiveStats(kept[name]))
          }
          m.shutdown()
        },
      ),
      { numRuns: 40 },
    )
  })

  test('reads see values still in the buffer (deviation: a buffered recorder hid them)', () => {
    const m = monitor({ healthCheckIntervalMs: 0, bufferSize: 4096 })
    m.recordMetric('x', 1)
    expect(m.getStats('x').count).toBe(1)
    m.recordMetric('x', 2)
    m.recordMetric('y', 5)
    expect(Object.keys(m.getMetrics())).toEqual(['x', 'y'])
    expect(m.getMetrics().x.count).toBe(2)
    m.recordMetric('x', 3)
    expect(m.exportData('csv').trim().split('\n')).toHaveLength(5)
    m.recordMetric('x', 4)
    expect(JSON.parse(m.exportData()).x.history).toHaveLength(4)
    for (let i = 0; i < 5; i++) m.recordMetric('orchestration_latency', 2000)
    expect(m.getHealthScore()).toBe(100)
    m.recordMetric('orchestration_latency', 1e6)
    expect(m.getHealthScore()).toBeLessThan(100)
  })

  test('time windows use per-value timestamps (timestamp ≥ now − window)', () => {
    jest.useFakeTimers({ now: 1_000_000 })
    const m = monitor()
    for (let i = 0; i < 10; i++) {
      m.recordMetric('w', i)
      jest.setSystemTime(1_000_000 + (i + 1) * 1000)
    }
    // now = 1,010,000; values were recorded at 1,000,000 + i·1000
    expect(m.getStats('w', 3000).count).toBe(3)
    expectClose(m.getStats('w', 3000), naiveStats([7, 8, 9]))
    expect(m.getStats('w', 0).count).toBe(10) // falsy window: whole history
    expect(m.getStats('w', 1)).toBeNull()
    m.clearOldMetrics(5000) // keeps timestamp ≥ now − 5000
    expect(m.getStats('w').count).toBe(5)
    m.clearOldMetrics(0)
    expect(m.getStats('w')).toBeNull()
    expect(m.getMetrics()).toEqual({}) // an emptied history is left out
    expect(JSON.parse(m.exportData()).w).toEqual({ stats: null, history: [] })
  })

  test('all-time histogram: every value, bounded memory, p50/p90/p99/p999', () => {
    const m = monitor()
    for (let i = 1; i <= 20000; i++) m.recordMetric('h', i / 10)
    expect(m.getStats('h').count).toBe(1000)
    const all = m.getAllTimeStats('h')
    expect(all.count).toBe(20000)
    expect(all.min).toBe(0.1)
    expect(all.max).toBe(2000)
    for (const [got, want] of [
      [all.p50, 1000],
      [all.p90, 1800],
      [all.p99, 1980],
      [all.p999, 1998],
    ]) {
      expect(Math.abs(got - want) / want).toBeLessThan(1e-3)
    }
    expect(m.getAllTimeStats('nope')).toBeNull()
  })
})

describe('events', () => {
  test('threshold_exceeded then metric_recorded, per value, with the legacy payloads', () => {
    const m = monitor()
    const seen = []
    m.on('threshold_exceeded', (e) => seen.push(['threshold', e]))
    m.on('metric_recorded', (e) => seen.push(['recorded', e]))
    m.recordMetric('orchestration_latency', 3500, { req: 1 })
    m.recordMetric('orchestration_latency', 100)
    m.recordMetric('routing_overhead', 450)
    expect(seen.map(([k, e]) => [k, e.value])).toEqual([
      ['threshold', 3500],
      ['recorded', 3500],
      ['recorded', 100],
      ['threshold', 450],
      ['recorded', 450],
    ])
    const [, t] = seen[0]
    expect(t).toEqual({ metric: 'orchestration_latency', value: 3500, threshold: 3000, severity: 'low', timestamp: expect.any(Date) })
    expect(seen[3][1].severity).toBe('critical') // 450 / 150 = 3
    const [, r] = seen[1]
    expect(r).toEqual({ name: 'orchestration_latency', value: 3500, timestamp: expect.any(Date), metadata: { req: 1 } })
    expect(Object.keys(seen[2][1])).toEqual(['name', 'value', 'timestamp', 'metadata'])
  })

  test('severity boundaries 1.5 / 2 / 3', () => {
    const m = monitor()
    const sev = []
    m.on('threshold_exceeded', (e) => sev.push(e.severity))
    for (const v of [3001, 4500, 6000, 9000]) m.recordMetric('orchestration_latency', v)
    expect(sev).toEqual(['low', 'medium', 'high', 'critical'])
  })

  test('a throwing listener loses nothing that was recorded', () => {
    const m = monitor()
    m.on('metric_recorded', () => {
      throw new Error('listener')
    })
    expect(() => m.recordMetric('x', 1)).toThrow('listener')
    m.removeAllListeners()
    m.recordMetric('x', 2)
    expect(m.getStats('x').count).toBe(2)
  })

  test('setThreshold changes thresholds and their direction', () => {
    const m = monitor()
    const events = []
    m.on('threshold_exceeded', (e) => events.push(e))
    m.setThreshold('cache_hit_rate', 0.5, 'higher')
    m.recordMetric('cache_hit_rate', 0.9)
    m.recordMetric('cache_hit_rate', 0.2) // 0.5 / 0.2 = 2.5 → high
    m.setThreshold('orchestration_latency', 10)
    m.recordMetric('orchestration_latency', 11)
    expect(events.map((e) => [e.metric, e.value, e.severity])).toEqual([
      ['cache_hit_rate', 0.2, 'high'],
      ['orchestration_latency', 11, 'low'],
    ])
    expect(m.getThresholds().cache_hit_rate).toEqual({ value: 0.5, direction: 'higher' })
  })
})

describe('bottlenecks and health', () => {
  test('legacy bottleneck text, severity, impact, component and order', () => {
    const m = monitor()
    for (let i = 0; i < 10; i++) m.recordMetric('routing_overhead', 250) // 2.5× → medium
    for (let i = 0; i < 10; i++) m.recordMetric('orchestration_latency', 9000) // 4.5× → critical
    for (let i = 0; i < 4; i++) m.recordMetric('error_rate', 1) // fewer than 5: skipped
    for (let i = 0; i < 10; i++) m.recordMetric('model_latency', 99999) // no target: skipped
    const b = m.analyzeBottlenecks()
    expect(b).toEqual([
      {
        component: 'orchestrator',
        metric: 'orchestration_latency',
        severity: 'critical',
        impact: 1,
        description: 'orchestration_latency P95 (9000.00) exceeds target (2000)',
        recommendation: 'Consider enabling caching, optimizing model selection, or implementing request batching',
      },
      {
        component: 'router',
        metric: 'routing_overhead',
        severity: 'medium',
        impact: Math.min(1, (2.5 - 1) / 3) * 0.8,
        description: 'routing_overhead P95 (250.00) exceeds target (100)',
        recommendation: 'Optimize routing algorithm, reduce rule complexity, or implement routing cache',
      },
    ])
  })

  test('high variance gives the legacy CV bottleneck', () => {
    const m = monitor()
    for (const v of [10, 10, 10, 10, 200]) m.recordMetric('routing_overhead', v)
    const cv = m.analyzeBottlenecks().find((x) => x.description.includes('variance'))
    const s = naiveStats([10, 10, 10, 10, 200])
    expect(cv).toEqual({
      component: 'router',
      metric: 'routing_overhead',
      severity: 'medium',
      impact: 0.3,
      description: `routing_overhead shows high variance (CV: ${(s.stddev / s.mean).toFixed(2)})`,
      recommendation: 'Investigate cause of performance inconsistency',
    })
  })

  test('deviation: a good hit rate does not lower the health score, a bad one does', () => {
    const good = monitor()
    for (let i = 0; i < 10; i++) good.recordMetric('cache_hit_rate', 0.9)
    expect(good.getHealthScore()).toBe(100) // legacy: 100 − (0.2/0.7)·50 ≈ 85.7
    const bad = monitor()
    for (let i = 0; i < 10; i++) bad.recordMetric('cache_hit_rate', 0.35)
    expect(bad.getHealthScore()).toBe(75) // legacy: 100
    const avail = monitor()
    for (let i = 0; i < 10; i++) avail.recordMetric('model_availability', 1)
    expect(avail.getHealthScore()).toBe(100)
  })

  test('deviation: a falling hit rate is a bottleneck, a high one is not', () => {
    const m = monitor()
    for (let i = 0; i < 10; i++) m.recordMetric('cache_hit_rate', 0.1)
    for (let i = 0; i < 10; i++) m.recordMetric('model_availability', 0.999)
    expect(m.analyzeBottlenecks()).toEqual([
      {
        component: 'cache',
        metric: 'cache_hit_rate',
        severity: 'critical',
        impact: 0.7,
        description: 'cache_hit_rate P5 (0.10) is below target (0.7)',
        recommendation: 'Increase cache size, optimize cache key generation, or extend TTL values',
      },
    ])
  })

  test('lower-is-better health: legacy penalty and cv factor; 100 with no data', () => {
    const m = monitor()
    expect(m.getHealthScore()).toBe(100)
    for (let i = 0; i < 5; i++) m.recordMetric('orchestration_latency', 3000)
    expect(m.getHealthScore()).toBe(75)
  })

  test('setTarget changes value and direction', () => {
    const m = monitor()
    for (let i = 0; i < 6; i++) m.recordMetric('queue_depth', 10)
    expect(m.analyzeBottlenecks()).toEqual([])
    m.setTarget('queue_depth', 100, 'higher')
    expect(m.analyzeBottlenecks().map((b) => b.description)).toEqual(['queue_depth P5 (10.00) is below target (100)'])
    m.setTarget('queue_depth', 5) // keeps "higher"
    expect(m.getTargets().queue_depth).toEqual({ value: 5, direction: 'higher' })
    m.setTarget('queue_depth', 5, 'lower')
    expect(m.analyzeBottlenecks().map((b) => b.description)).toEqual(['queue_depth P95 (10.00) exceeds target (5)'])
    expect(m.getTargets().cache_hit_rate).toEqual({ value: 0.7, direction: 'higher' })
  })

  test('health_check fires on its period and shutdown stops the timer (deviation)', () => {
    jest.useFakeTimers()
    const m = monitor({ healthCheckIntervalMs: 1000 })
    const checks = []
    m.on('health_check', (e) => checks.push(e))
    m.recordMetric('orchestration_latency', 3000)
    jest.advanceTimersByTime(1000)
    expect(checks).toEqual([{ score: 75, status: 'fair', bottlenecks: 0, timestamp: expect.any(Date) }])
    expect(jest.getTimerCount()).toBe(1)
    m.shutdown()
    expect(jest.getTimerCount()).toBe(0) // legacy: the timer kept running
    expect(m.listenerCount('health_check')).toBe(0)
    expect(m.getMetrics()).toEqual({})
  })

  test('default health check period is 60 s', () => {
    jest.useFakeTimers()
    const m = monitor({})
    const checks = []
    m.on('health_check', (e) => checks.push(e.status))
    jest.advanceTimersByTime(59_999)
    expect(checks).toEqual([])
    jest.advanceTimersByTime(1)
    expect(checks).toEqual(['excellent'])
  })
})

describe('exports', () => {
  test('json: stats over the retained history and the last 100 stored metrics', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 2, 3, 4, 5, 6) })
    const m = monitor()
    for (let i = 0; i < 150; i++) m.recordMetric('a', i, i === 120 ? { tag: 'x' } : i === 10 ? { old: true } : undefined)
    m.recordMetric('b', 1.5)
    const text = m.exportData('json')
    const iso = '2026-01-02T03:04:05.006Z'
    const expected = {
      a: {
        stats: naiveStats(Array.from({ length: 150 }, (_, i) => i)),
        history: Array.from({ length: 100 }, (_, j) => {
          const i = j + 50
          return i === 120 ? { name: 'a', value: i, timestamp: iso, metadata: { tag: 'x' } } : { name: 'a', value: i, timestamp: iso }
        }),
      },
      b: { stats: naiveStats([1.5]), history: [{ name: 'b', value: 1.5, timestamp: iso }] },
    }
    expect(text).toBe(JSON.stringify(expected, null, 2))
    expect(m.exportData()).toBe(text)
  })

  test('csv: header, then per metric its last 100 values, every line ending in a newline', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 2) })
    const m = monitor()
    for (let i = 0; i < 120; i++) m.recordMetric('a', i + 0.25)
    m.recordMetric('b', -3)
    const lines = m.exportData('csv').split('\n')
    expect(lines[0]).toBe('metric,timestamp,value')
    expect(lines[1]).toBe('a,2026-01-02T00:00:00.000Z,20.25')
    expect(lines[100]).toBe('a,2026-01-02T00:00:00.000Z,119.25')
    expect(lines[101]).toBe('b,2026-01-02T00:00:00.000Z,-3')
    expect(lines[102]).toBe('')
    expect(lines).toHaveLength(103)
  })

  test('prometheus: parsed by a Prometheus text-format parser', () => {
    const parse = require('parse-prometheus-text-format')
    const m = monitor()
    for (let i = 1; i <= 2000; i++) m.recordMetric('orchestration_latency', i)
    m.recordMetric('weird "name"\\x', 2.5)
    for (let i = 0; i < 10; i++) m.recordMetric('cache_hit_rate', 0.35)
    const families = parse(m.exportData('prometheus'))
    const byName = Object.fromEntries(families.map((f) => [f.name, f]))
    const lat = byName.performance_monitor_metric_orchestration_latency
    expect(lat.type).toBe('SUMMARY')
    expect(lat.help).toContain('"orchestration_latency"')
    expect(Number(lat.metrics[0].count)).toBe(2000)
    expect(Number(lat.metrics[0].sum)).toBe((2000 * 2001) / 2)
    expect(Object.keys(lat.metrics[0].quantiles)).toEqual(['0.5', '0.9', '0.99', '0.999'])
    expect(Math.abs(Number(lat.metrics[0].quantiles['0.99']) - 1980) / 1980).toBeLessThan(1e-3)
    const weird = byName.performance_monitor_metric_weird__name__x
    expect(weird.help).toContain('weird "name"\\x')
    expect(Number(weird.metrics[0].sum)).toBe(2.5)
    const targets = byName.performance_monitor_target
    expect(targets.type).toBe('GAUGE')
    expect(targets.metrics).toContainEqual({ value: '0.7', labels: { metric: 'cache_hit_rate', direction: 'higher' } })
    const health = byName.performance_monitor_health_score
    expect(Number(health.metrics[0].value)).toBe(m.getHealthScore())
  })
})

describe('bad input', () => {
  test('non-string name, non-finite value, unknown format: TypeError / RangeError naming it', () => {
    const m = monitor()
    m.recordMetric('ok', 1, { keep: true })
    const before = m.exportData('json')
    expect(() => m.recordMetric(42, 1)).toThrow(new TypeError('name must be a string, got 42'))
    expect(() => m.recordMetric(undefined, 1)).toThrow(TypeError)
    expect(() => m.recordMetric('ok', NaN)).toThrow(new RangeError('value must be a finite number, got NaN'))
    expect(() => m.recordMetric('ok', Infinity)).toThrow(RangeError)
    expect(() => m.recordMetric('ok', '5')).toThrow(new TypeError('value must be a finite number, got "5"'))
    expect(() => m.recordMetric('new', NaN)).toThrow(RangeError)
    expect(() => m.getStats(7)).toThrow(/name must be a string/)
    expect(() => m.getStats('ok', -1)).toThrow(RangeError)
    expect(() => m.getStats('ok', '1')).toThrow(TypeError)
    expect(() => m.exportData('xml')).toThrow(new RangeError('format must be "json", "csv" or "prometheus", got "xml"'))
    expect(() => m.exportData(1)).toThrow(TypeError)
    expect(() => m.setTarget('ok', NaN)).toThrow(RangeError)
    expect(() => m.setTarget('ok', 1, 'up')).toThrow(/direction/)
    expect(() => m.clearOldMetrics('x')).toThrow(TypeError)
    expect(m.exportData('json')).toBe(before)
    expect(Object.keys(m.getMetrics())).toEqual(['ok'])
  })

  test('maxMetrics bounds distinct names without touching recorded values', () => {
    const m = monitor({ healthCheckIntervalMs: 0, maxMetrics: 2 })
    m.recordMetric('a', 1)
    m.recordMetric('b', 2)
    expect(() => m.recordMetric('c', 3)).toThrow(RangeError)
    m.recordMetric('a', 4)
    expect(m.getMetrics()).toEqual({ a: naiveStats([1, 4]), b: naiveStats([2]) })
    expect(() => new PerformanceMonitor({ maxMetrics: 0 })).toThrow(RangeError)
  })

  test('a metric name longer than 1024 characters is refused by every method that keeps names', () => {
    const m = monitor({ healthCheckIntervalMs: 0 })
    const longest = 'n'.repeat(1024)
    m.recordMetric(longest, 1)
    expect(m.getStats(longest).count).toBe(1)
    const tooLong = 'n'.repeat(1025)
    for (const call of [
      () => m.recordMetric(tooLong, 1),
      () => m.setTarget(tooLong, 1),
      () => m.setThreshold(tooLong, 1),
      () => m.getStats(tooLong),
    ]) {
      expect(call).toThrow(RangeError)
      expect(call).toThrow(/name must be at most 1024 characters long, got a string of length 1025/)
    }
    expect(Object.keys(m.getMetrics())).toEqual([longest])
  })

  test('a name with a lone surrogate is refused: two such names would be one metric', () => {
    const m = monitor({ healthCheckIntervalMs: 0 })
    for (const call of [
      () => m.recordMetric('\uD800', 1),
      () => m.setTarget('x\uDBFF', 1),
      () => m.setThreshold('\uDC00', 1),
      () => m.getStats('\uD800'),
    ]) {
      expect(call).toThrow(TypeError)
      expect(call).toThrow(/name must be a well-formed string/)
    }
    m.recordMetric('\uD83D\uDE00', 1) // a surrogate pair is well formed
    expect(Object.keys(m.getMetrics())).toEqual(['\uD83D\uDE00'])
  })

  test('shutdown clears data and listeners; the monitor can record again', () => {
    const m = monitor()
    m.on('metric_recorded', () => {})
    m.recordMetric('a', 1)
    m.shutdown()
    expect(m.listenerCount('metric_recorded')).toBe(0)
    expect(m.getStats('a')).toBeNull()
    expect(m.exportData('csv')).toBe('metric,timestamp,value\n')
    m.recordMetric('b', 2)
    expect(m.getMetrics()).toEqual({ b: naiveStats([2]) })
  })
})

describe('name → id cache (one slot per name length)', () => {
  test('names sharing a length, equal strings built at run time, and 33 lengths apart', () => {
    const m = monitor()
    // 'aa'/'bb' share a slot, 'x' and a 33-character name share one (length mod 32)
    const long = 'y'.repeat(33)
    const seq = ['aa', 'bb', 'aa', 'x', long, 'x', 'bb', long, ['a', 'a'].join('')]
    const want = {}
    seq.forEach((name, i) => {
      m.recordMetric(name, i)
      ;(want[name] ??= []).push(i)
    })
    for (const [name, values] of Object.entries(want)) expect(m.getStats(name)).toEqual(naiveStats(values))
    expect(Object.keys(m.getMetrics())).toEqual(['aa', 'bb', 'x', long])
  })

  test('a rejected name is not cached; shutdown forgets the cached ids', () => {
    const m = monitor({ healthCheckIntervalMs: 0, maxMetrics: 2 })
    m.recordMetric('ab', 1)
    m.recordMetric('cd', 2)
    expect(() => m.recordMetric('ef', 3)).toThrow(RangeError) // same length, over maxMetrics
    expect(() => m.recordMetric('ef', 3)).toThrow(RangeError)
    expect(() => m.recordMetric(undefined, 3)).toThrow(TypeError)
    expect(() => m.recordMetric({ length: 2 }, 3)).toThrow(TypeError)
    m.recordMetric('cd', 4)
    expect(m.getMetrics()).toEqual({ ab: naiveStats([1]), cd: naiveStats([2, 4]) })
    m.shutdown()
    // ids restart from 0: 'cd' first now, and a cached 'cd' → 1 would be wrong
    m.recordMetric('cd', 5)
    m.recordMetric('ef', 6)
    expect(m.getMetrics()).toEqual({ cd: naiveStats([5]), ef: naiveStats([6]) })
    expect(() => m.recordMetric('ab', 7)).toThrow(RangeError)
  })
})

describe('listeners added and removed every way', () => {
  test('events follow on/once/prepend/off/removeAllListeners', () => {
    const m = monitor()
    const got = []
    const f = (e) => got.push(['on', e.value])
    m.once('metric_recorded', (e) => got.push(['once', e.value]))
    m.recordMetric('x', 1)
    m.recordMetric('x', 2) // the once listener is gone: nothing
    m.addListener('metric_recorded', f)
    m.recordMetric('x', 3)
    m.off('metric_recorded', f)
    m.recordMetric('x', 4)
    m.prependOnceListener('threshold_exceeded', (e) => got.push(['threshold', e.value]))
    m.recordMetric('error_rate', 0.5)
    m.prependListener('metric_recorded', f)
    m.removeAllListeners('metric_recorded')
    m.recordMetric('x', 5)
    m.on('metric_recorded', f)
    m.removeAllListeners()
    m.recordMetric('x', 6)
    expect(got).toEqual([
      ['once', 1],
      ['on', 3],
      ['threshold', 0.5],
    ])
    expect(m.getStats('x').count).toBe(6)
  })

  test('"exact" timestamps (default): Date.now() at the call, real or faked', () => {
    const m = monitor()
    const stamps = []
    for (let i = 0; i < 300; i++) {
      const before = Date.now()
      m.recordMetric('e', i)
      const after = Date.now()
      stamps.push([before, after])
    }
    const rows = m.exportData('csv').trim().split('\n').slice(1)
    rows.forEach((r, i) => {
      const t = Date.parse(r.split(',')[1])
      expect(t).toBeGreaterThanOrEqual(stamps[200 + i][0])
      expect(t).toBeLessThanOrEqual(stamps[200 + i][1])
    })
    jest.useFakeTimers({ now: 5_000_000 })
    m.recordMetric('f', 1)
    jest.setSystemTime(5_000_250)
    m.recordMetric('f', 2)
    expect(JSON.parse(m.exportData()).f.history.map((h) => Date.parse(h.timestamp))).toEqual([5_000_000, 5_000_250])
  })

  test('"turn" timestamps: one clock read per synchronous run, exact values', async () => {
    const m = monitor({ healthCheckIntervalMs: 0, timestamps: 'turn' })
    const before = Date.now()
    for (let i = 0; i < 250; i++) m.recordMetric('t', i)
    await new Promise((r) => setTimeout(r, 5))
    m.recordMetric('t', 250)
    const after = Date.now()
    const rows = m.exportData('csv').trim().split('\n').slice(1)
    const stamps = rows.map((r) => Date.parse(r.split(',')[1]))
    for (const s of stamps) {
      expect(s).toBeGreaterThanOrEqual(before)
      expect(s).toBeLessThanOrEqual(after)
    }
    // the record after the turn ended read the clock again
    expect(stamps[stamps.length - 1]).toBeGreaterThan(stamps[0])
    expectClose(m.getStats('t'), naiveStats(Array.from({ length: 251 }, (_, i) => i)))
    expect(() => new PerformanceMonitor({ timestamps: 'coarse' })).toThrow(RangeError)
  })
})

test('large results (30 metrics × 120 values) come back whole', () => {
  const m = monitor()
  for (let i = 0; i < 120; i++) for (let k = 0; k < 30; k++) m.recordMetric(`m${k}`, k * 1000 + i)
  const lines = m.exportData('csv').split('\n')
  expect(lines).toHaveLength(1 + 30 * 100 + 1)
  expect(lines[1 + 29 * 100 + 99]).toMatch(/^m29,.*,29119$/)
  const json = JSON.parse(m.exportData('json'))
  expect(Object.keys(json)).toHaveLength(30)
  expect(json.m7.history[0].value).toBe(7020)
  const metrics = m.getMetrics()
  expect(Object.keys(metrics)).toHaveLength(30)
  expect(metrics.m29.max).toBe(29119)
})

describe('turn timestamps under fake timers, and the maxMetrics bound', () => {
  test('timestamps "turn" follow Jest fake timers, and real time once they are gone', async () => {
    jest.useFakeTimers({ now: 1_000_000 })
    const m = new PerformanceMonitor({ timestamps: 'turn', healthCheckIntervalMs: 0 })
    try {
      m.recordMetric('x', 1)
      jest.setSystemTime(1_000_000 + 10 * 60_000)
      await Promise.resolve()
      await Promise.resolve()
      m.recordMetric('x', 2) // a later turn: a fresh clock read
      expect(m.getStats('x', 60_000)).toMatchObject({ count: 1 })
      jest.useRealTimers()
      await Promise.resolve()
      m.recordMetric('y', 3)
      expect(m.getStats('y', 60_000)).toMatchObject({ count: 1 })
    } finally {
      jest.useRealTimers()
      m.shutdown()
    }
  })

  test('maxMetrics beyond 2^32 - 1 is a RangeError (it wrapped around natively)', () => {
    expect(() => new PerformanceMonitor({ maxMetrics: 2 ** 32, healthCheckIntervalMs: 0 })).toThrow(RangeError)
    const m = new PerformanceMonitor({ maxMetrics: 2 ** 32 - 1, healthCheckIntervalMs: 0 })
    m.recordMetric('a', 1)
    expect(m.getStats('a')).toMatchObject({ count: 1 })
    m.shutdown()
  })
})

describe('documented deviations: zeros, NaN health contributions, values at or below 0', () => {
  test('-0 is recorded as 0 (the sorted copy and the window agree on one zero)', () => {
    const m = monitor()
    m.recordMetric('lat', -0)
    const s = m.getStats('lat')
    for (const v of [s.min, s.median, s.p95, s.max]) expect(Object.is(v, 0)).toBe(true) // legacy: -0
  })

  test('a health contribution that would be NaN counts 0: the score stays a number in 0..100', () => {
    const m = monitor()
    // stddev overflows to Infinity: the legacy's 0 · (1 − ∞/2) is NaN, and so is its score
    for (const v of [1.5e308, -1.5e308, 18000]) m.recordMetric('orchestration_latency', v)
    expect(m.getHealthScore()).toBe(0)
  })

  test('"higher": a p5 or value at or below 0 is infinitely far below the target (critical)', () => {
    const m = monitor()
    for (let i = 0; i < 10; i++) m.recordMetric('cache_hit_rate', -0.5)
    // target/p5 would be negative: "low" with a negative impact
    expect(m.analyzeBottlenecks()).toMatchObject([{ metric: 'cache_hit_rate', severity: 'critical', impact: 0.7 }])
    m.setThreshold('queue_depth', 10, 'higher')
    const alerts = []
    m.on('threshold_exceeded', (e) => alerts.push(e.severity))
    m.recordMetric('queue_depth', -5)
    m.recordMetric('queue_depth', 0)
    expect(alerts).toEqual(['critical', 'critical'])
  })
})
