'use strict'
// Mode "ab": the flags' fractions, the sticky and monotonic assignment, the per-arm figures
// against a hand computation, and the automatic rollback (on an injected native regression,
// not on noise within the margin). Time is a virtual clock throughout.
const { EventEmitter } = require('node:events')
const fc = require('fast-check')
const {
  createModelRouter,
  createCacheManager,
  createPerformanceMonitor,
  getRolloutStats,
  readRolloutFlag,
  resolveMode,
  setRolloutShare,
  ModelRouter,
  CacheManager,
} = require('model-router-native')
const { CacheManager: LegacyCache } = require('model-router-legacy-ports')
const { PerformanceMonitor: LegacyMonitor } = require('model-router-legacy-ports')

function models() {
  const m = (name, tier, capabilities, latencyTarget, costPerToken) => [
    name,
    { name, tier, capabilities, latencyTarget, costPerToken, maxTokens: 8192 },
  ]
  return new Map([
    m('gemini-2.5-pro', 'pro', ['reasoning', 'code'], 2500, 3.5e-6),
    m('gemini-2.5-flash', 'pro', ['code'], 800, 5e-7),
    m('gemini-2.0-flash', 'free', [], 600, 2e-7),
  ])
}
const ctx = (task, userTier = 'pro') => ({ task, userTier, priority: 'medium', latencyRequirement: 2000 })

/** The virtual clock and the latency each side's next call takes on it. */
function clock() {
  const c = { t: 0, legacyMs: () => 1, nativeMs: () => 1 }
  c.now = () => c.t
  return c
}

/** A legacy router that answers "legacy-model" and takes `c.legacyMs()` on the clock. */
function legacyRouter(c, fail = () => false) {
  return class LegacyRouter extends EventEmitter {
    async selectOptimalModel(context) {
      c.t += c.legacyMs(context)
      if (fail(context)) throw new Error('legacy failure')
      return { modelName: 'legacy-model', confidence: 0.5, reason: 'fixed', routingTime: 0, fromCache: false }
    }
    recordPerformance() {}
    shutdown() {}
  }
}

/** The native router's calls take `c.nativeMs()` on the clock; `fail(context)` makes them reject. */
function slowNative(c, fail = () => false) {
  const real = ModelRouter.prototype.selectOptimalModel
  return jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(function (context, m) {
    c.t += c.nativeMs(context)
    if (fail(context)) return Promise.reject(new Error('native regression'))
    return real.call(this, context, m)
  })
}

const made = []
function track(x) {
  made.push(x)
  return x
}
afterEach(() => {
  jest.restoreAllMocks()
  for (const x of made.splice(0)) {
    try {
      x.shutdown?.()
    } catch {}
  }
})

describe('flags: "true", "false", or a fraction (mode "ab")', () => {
  const NAME = 'ENABLE_ASYNC_ROUTING'
  test('every accepted value', () => {
    expect(readRolloutFlag(NAME, { [NAME]: 'true' })).toEqual({ mode: 'native' })
    for (const v of ['false', '', undefined]) expect(readRolloutFlag(NAME, { [NAME]: v })).toEqual({ mode: 'legacy' })
    const fractions = { 0: 0, '0.': 0, '0.0': 0, 0.1: 0.1, '.25': 0.25, 0.05: 0.05, 0.999: 0.999, 1: 1, '1.': 1, '1.0': 1, '1.000': 1 }
    for (const [v, share] of Object.entries(fractions)) expect(readRolloutFlag(NAME, { [NAME]: v })).toEqual({ mode: 'ab', share })
  })

  test('every other value is a RangeError naming the variable and what it accepts', () => {
    for (const v of [
      'TRUE',
      'True',
      'yes',
      'on',
      'off',
      ' true',
      'true ',
      '1.5',
      '2',
      '-0.1',
      '-0',
      '1.01',
      '0.1.2',
      ' 0.1',
      '0.1 ',
      '1e-1',
      '0x1',
      'NaN',
      'Infinity',
      '.',
      '10%',
      'abc',
    ]) {
      expect(() => readRolloutFlag(NAME, { [NAME]: v })).toThrow(RangeError)
      expect(() => readRolloutFlag(NAME, { [NAME]: v })).toThrow(`${NAME} must be "true", "false" or a fraction from 0 to 1 (e.g. "0.1")`)
    }
  })

  test('a fraction makes the factories build mode "ab" with that share; each kind reads its flag', () => {
    const env = { ENABLE_ASYNC_ROUTING: '0.1', ENABLE_CONNECTION_POOLING: '0.25' }
    expect(resolveMode('router', { env })).toBe('ab')
    expect(resolveMode('monitor', { env })).toBe('ab')
    const r = track(createModelRouter(legacyRouter(clock()), { env }))
    expect(getRolloutStats(r)).toMatchObject({ mode: 'ab', arms: { share: 0.1 } })
    const c = track(createCacheManager(LegacyCache, { env, config: { maxMemorySize: 1e6 } }))
    expect(getRolloutStats(c)).toMatchObject({ mode: 'ab', arms: { share: 0.25 } })
  })

  test('a refused flag value fails the factory with the RangeError', () => {
    expect(() => createModelRouter(legacyRouter(clock()), { env: { ENABLE_ASYNC_ROUTING: 'yes' } })).toThrow(/ENABLE_ASYNC_ROUTING must be/)
    expect(() => createCacheManager(LegacyCache, { env: { ENABLE_CONNECTION_POOLING: '1.5' } })).toThrow(
      /ENABLE_CONNECTION_POOLING must be/,
    )
  })

  test('options: share implies mode "ab"; it is checked; mode "ab" without share takes the flag\'s', () => {
    expect(resolveMode('router', { env: {}, share: 0.3 })).toBe('ab')
    expect(() => resolveMode('router', { share: 0.3, mode: 'native' })).toThrow(TypeError)
    expect(() => resolveMode('router', { share: 0.3, enabled: true })).toThrow(TypeError)
    expect(() => resolveMode('router', { share: '0.3' })).toThrow(/share must be a number from 0 to 1/)
    expect(() => resolveMode('router', { share: 1.5 })).toThrow(RangeError)
    expect(() => resolveMode('router', { share: NaN })).toThrow(RangeError)
    const r = track(createModelRouter(legacyRouter(clock()), { mode: 'ab', env: { ENABLE_ASYNC_ROUTING: '0.4' } }))
    expect(getRolloutStats(r).arms.share).toBe(0.4)
    const all = track(createModelRouter(legacyRouter(clock()), { mode: 'ab', env: { ENABLE_ASYNC_ROUTING: 'true' } }))
    expect(getRolloutStats(all).arms.share).toBe(1)
  })

  test('bad ab options are TypeErrors/RangeErrors naming the field', () => {
    const L = legacyRouter(clock())
    expect(() => createModelRouter(L, { share: 0.5, assignBy: 'userId' })).toThrow(/options.assignBy must be a function/)
    expect(() => createModelRouter(L, { share: 0.5, rollback: 5 })).toThrow(/rollback must be an object/)
    expect(() => createModelRouter(L, { share: 0.5, rollback: { minCalls: -1 } })).toThrow(/rollback.minCalls must be a finite number >= 0/)
    expect(() => createModelRouter(L, { share: 0.5, rollback: { errorRateMargin: 2 } })).toThrow(RangeError)
    expect(() => createModelRouter(L, { share: 0.5, rollback: { maxSamples: 1e9 } })).toThrow(/rollback.maxSamples/)
    expect(() => setRolloutShare({}, 0.5)).toThrow(TypeError)
    const r = track(createModelRouter(L, { share: 0.5 }))
    expect(() => setRolloutShare(r, 2)).toThrow(RangeError)
    const bad = track(createModelRouter(L, { share: 0.5, assignBy: () => 42 }))
    expect(() => bad.selectOptimalModel(ctx('x'), models())).toThrow(/assignBy must be a string/)
  })
})

describe('sticky, monotonic assignment', () => {
  test('the same input always lands on the same side; raising the share only moves inputs legacy → native (property)', async () => {
    const c = clock()
    const r = track(createModelRouter(legacyRouter(c), { share: 0, now: c.now }))
    const side = async (context) => ((await r.selectOptimalModel(context, models())).modelName === 'legacy-model' ? 'legacy' : 'native')
    const input = fc.record({ task: fc.string({ maxLength: 40 }), userTier: fc.constantFrom('free', 'pro', 'enterprise') })
    await fc.assert(
      fc.asyncProperty(
        fc.array(input, { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (inputs, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a]
          const contexts = inputs.map((i) => ({ ...i, priority: 'medium', latencyRequirement: 2000 }))
          setRolloutShare(r, low)
          const before = []
          for (const x of contexts) before.push(await side(x))
          for (let k = 0; k < contexts.length; k++) expect(await side(contexts[k])).toBe(before[k]) // sticky
          setRolloutShare(r, high)
          for (let k = 0; k < contexts.length; k++) {
            const after = await side(contexts[k])
            if (before[k] === 'native') expect(after).toBe('native') // never back to legacy
            if (high === 1) expect(after).toBe('native')
          }
          setRolloutShare(r, 0)
          for (const x of contexts) expect(await side(x)).toBe('legacy')
        },
      ),
      { numRuns: 100 },
    )
  })

  test('the share is the fraction of inputs on native, within sampling error', async () => {
    const { contextPosition, onNative, keyPosition } = require('../dist/ab-assign.js')
    for (const share of [0.05, 0.5]) {
      let n = 0
      for (let i = 0; i < 20000; i++) if (onNative(contextPosition(ctx(`task number ${i}`, 'pro')), share)) n++
      expect(Math.abs(n / 20000 - share)).toBeLessThan(4 * Math.sqrt((share * (1 - share)) / 20000))
      let k = 0
      for (let i = 0; i < 20000; i++) if (onNative(keyPosition(`resp:${i}`), share)) k++
      expect(Math.abs(k / 20000 - share)).toBeLessThan(4 * Math.sqrt((share * (1 - share)) / 20000))
    }
  })

  test('router: the default key is userTier + task; assignBy replaces it (e.g. a user id)', async () => {
    const { contextPosition, keyPosition, onNative } = require('../dist/ab-assign.js')
    const a = ctx('same task', 'pro')
    const b = ctx('same task', 'free')
    expect(contextPosition({ ...a, priority: 'low' })).toBe(contextPosition(a)) // priority plays no part
    expect(contextPosition(a)).not.toBe(contextPosition(b))
    // a user id: every task of one user lands on one side
    const c = clock()
    const r = track(createModelRouter(legacyRouter(c), { share: 0.5, now: c.now, assignBy: (context) => context.userId }))
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']
    for (const u of users) {
      const want = onNative(keyPosition(u), 0.5) ? 'native' : 'legacy'
      for (let t = 0; t < 3; t++) {
        const d = await r.selectOptimalModel({ ...ctx(`task ${t}`), userId: u }, models())
        expect(d.modelName === 'legacy-model' ? 'legacy' : 'native').toBe(want)
      }
    }
  })

  test("cache: a key's writes and reads go to the same arm, so every arm reads back what it stored", async () => {
    const c = clock()
    const cache = track(createCacheManager(LegacyCache, { share: 0.5, now: c.now, config: { maxMemorySize: 1e6 } }))
    for (let i = 0; i < 40; i++) await cache.set(`k${i}`, { i })
    for (let i = 0; i < 40; i++) expect(await cache.get(`k${i}`)).toEqual({ i })
    const s = getRolloutStats(cache)
    expect(s.calls.native).toBeGreaterThan(0)
    expect(s.calls.legacy).toBeGreaterThan(0)
    expect(s.arms.native.hitRate).toBe(1)
    expect(s.arms.legacy.hitRate).toBe(1)
  })
})

describe('per-arm figures', () => {
  test('calls, errors, latency, models and the difference with its interval match a hand computation', async () => {
    const c = clock()
    // latencies drawn from fixed lists per side; every fifth legacy call and every fourth native call fail
    const L = [3, 5, 4, 8, 6, 2, 9, 4, 5, 7]
    const N = [1, 2, 1.5, 3, 2.5, 1, 2, 4]
    let li = 0
    let ni = 0
    c.legacyMs = () => L[li++ % L.length]
    c.nativeMs = () => N[ni++ % N.length]
    const legacyFails = (context) => Number(context.task.split(' ')[1]) % 5 === 0
    slowNative(c, (_context) => ni % 4 === 0)
    const r = track(createModelRouter(legacyRouter(c, legacyFails), { share: 0.5, now: c.now, rollback: { enabled: false } }))
    const seen = { legacy: [], native: [] }
    const legacyBefore = () => li
    for (let i = 0; i < 60; i++) {
      const l0 = legacyBefore()
      const n0 = ni
      const t0 = c.t
      let modelName
      try {
        modelName = (await r.selectOptimalModel(ctx(`task ${i}`), models())).modelName
      } catch {
        modelName = null
      }
      if (ni > n0) {
        // native served (or failed, then legacy retried): the native arm's figure is native's own time
        const nativeMs = N[(ni - 1) % N.length]
        seen.native.push({ ms: nativeMs, failed: ni % 4 === 0, model: ni % 4 === 0 ? null : modelName })
      } else {
        expect(li).toBe(l0 + 1)
        seen.legacy.push({ ms: c.t - t0, failed: modelName === null, model: modelName })
      }
    }
    const s = getRolloutStats(r)
    const hand = (xs) => {
      const ms = xs.map((x) => x.ms)
      const n = ms.length
      const mean = ms.reduce((a, b) => a + b, 0) / n
      const variance = ms.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)
      const sorted = [...ms].sort((a, b) => a - b)
      const pct = (p) => sorted[Math.ceil(n * p) - 1]
      const errors = xs.filter((x) => x.failed).length
      const models = {}
      for (const x of xs) if (x.model) models[x.model] = (models[x.model] ?? 0) + 1
      return { n, mean, variance, p50: pct(0.5), p95: pct(0.95), p99: pct(0.99), errors, models }
    }
    const hl = hand(seen.legacy)
    const hn = hand(seen.native)
    expect(hl.n).toBeGreaterThan(10)
    expect(hn.n).toBeGreaterThan(10)
    for (const [arm, h] of [
      ['legacy', hl],
      ['native', hn],
    ]) {
      const a = s.arms[arm]
      expect(a.calls).toBe(h.n)
      expect(a.errors).toBe(h.errors)
      expect(a.errorRate).toBeCloseTo(h.errors / h.n, 12)
      expect(a.latency.meanMs).toBeCloseTo(h.mean, 12)
      expect(a.latency.sdMs).toBeCloseTo(Math.sqrt(h.variance), 12)
      expect([a.latency.p50Ms, a.latency.p95Ms, a.latency.p99Ms]).toEqual([h.p50, h.p95, h.p99])
      expect(a.models).toEqual(h.models)
    }
    const z = 1.959963984540054
    const d = s.arms.difference
    expect(d.method).toBe('normal approximation on the means, 95%')
    const est = hn.mean - hl.mean
    const se = Math.sqrt(hn.variance / hn.n + hl.variance / hl.n)
    expect(d.latencyMeanMs.estimate).toBeCloseTo(est, 12)
    expect(d.latencyMeanMs.low).toBeCloseTo(est - z * se, 12)
    expect(d.latencyMeanMs.high).toBeCloseTo(est + z * se, 12)
    expect(d.latencyMeanMs.significant).toBe(est - z * se > 0 || est + z * se < 0)
    const pn = hn.errors / hn.n
    const pl = hl.errors / hl.n
    const seRate = Math.sqrt((pn * (1 - pn)) / hn.n + (pl * (1 - pl)) / hl.n)
    expect(d.errorRate.estimate).toBeCloseTo(pn - pl, 12)
    expect(d.errorRate.low).toBeCloseTo(pn - pl - z * seRate, 12)
    expect(d.errorRate.high).toBeCloseTo(pn - pl + z * seRate, 12)
    // a native failure was retried on legacy: the caller never saw it
    expect(s.fallbacks).toBe(hn.errors)
  })

  test('cache: the hit rate per arm and its difference', async () => {
    const c = clock()
    const { keyPosition, onNative } = require('../dist/ab-assign.js')
    const cache = track(createCacheManager(LegacyCache, { share: 0.5, now: c.now, config: { maxMemorySize: 1e6 } }))
    const arm = (k) => (onNative(keyPosition(k), 0.5) ? 'native' : 'legacy')
    const hits = { legacy: 0, native: 0 }
    const gets = { legacy: 0, native: 0 }
    for (let i = 0; i < 30; i++) if (i % 3 !== 0) await cache.set(`k${i}`, i)
    for (let i = 0; i < 30; i++) {
      const v = await cache.get(`k${i}`)
      gets[arm(`k${i}`)]++
      if (v !== null) hits[arm(`k${i}`)]++
    }
    const s = getRolloutStats(cache).arms
    expect(s.legacy.gets).toBe(gets.legacy)
    expect(s.native.gets).toBe(gets.native)
    expect(s.legacy.hitRate).toBeCloseTo(hits.legacy / gets.legacy, 12)
    expect(s.native.hitRate).toBeCloseTo(hits.native / gets.native, 12)
    expect(s.difference.hitRate.estimate).toBeCloseTo(hits.native / gets.native - hits.legacy / gets.legacy, 12)
  })

  test('the model distribution is bounded: beyond 64 names the rest count as "(other)"', () => {
    const { ArmStats } = require('../dist/ab-arms.js')
    const a = new ArmStats()
    for (let i = 0; i < 100; i++) a.model(`m${i}`)
    const models = a.report('router').models
    expect(Object.keys(models)).toHaveLength(65)
    expect(models['(other)']).toBe(36)
  })
})

describe('automatic rollback', () => {
  const rollbackOptions = { windowMs: 10_000, minCalls: 50, errorRateMargin: 0.02, p99MarginMs: 20, checkEveryMs: 1000 }

  function setup(extra = {}) {
    const c = clock()
    const events = []
    const r = track(createModelRouter(legacyRouter(c), { share: 0.5, now: c.now, rollback: rollbackOptions, ...extra }))
    r.on('rollout_rollback', (e) => events.push(e))
    return { c, r, events }
  }
  const run = async (r, from, n) => {
    for (let i = from; i < from + n; i++) await r.selectOptimalModel(ctx(`task ${i}`), models())
  }

  test('an injected p99 regression on the native arm rolls back: share 0, the event with the figures', async () => {
    const { c, r, events } = setup()
    c.legacyMs = () => 5
    c.nativeMs = () => 60 // 55 ms worse than legacy, margin 20
    slowNative(c)
    await run(r, 0, 400)
    expect(events).toHaveLength(1)
    const e = events[0]
    expect(e).toMatchObject({
      reason: 'p99_latency',
      share: 0.5,
      windowMs: 10_000,
      native: { p99Ms: 60, errors: 0 },
      legacy: { p99Ms: 5, errors: 0 },
    })
    expect(e.native.calls).toBeGreaterThanOrEqual(50)
    expect(e.legacy.calls).toBeGreaterThanOrEqual(50)
    expect(getRolloutStats(r).arms).toMatchObject({ share: 0, rollback: e })
    // from then on everything is served by legacy, and the share stays 0
    const before = getRolloutStats(r).calls.native
    c.nativeMs = () => 1
    await run(r, 400, 300)
    expect(getRolloutStats(r).calls.native).toBe(before)
    expect(getRolloutStats(r).arms.share).toBe(0)
    expect(events).toHaveLength(1)
  })

  test('an injected error-rate regression rolls back; the caller never saw the native errors', async () => {
    const { c, r, events } = setup()
    c.legacyMs = () => 10
    c.nativeMs = () => 10
    let k = 0
    slowNative(c, () => k++ % 10 === 0) // 10% of native calls fail, margin 2%
    await run(r, 0, 400)
    expect(events).toHaveLength(1)
    expect(events[0].reason).toBe('error_rate')
    expect(events[0].native.errorRate).toBeGreaterThan(0.05)
    expect(events[0].legacy.errorRate).toBe(0)
    expect(getRolloutStats(r).fallbacks).toBeGreaterThan(0)
  })

  test('noise within the margins does not roll back', async () => {
    const { c, r, events } = setup()
    let k = 0
    c.legacyMs = () => 5 + (k % 7)
    c.nativeMs = () => 5 + ((k++ * 3) % 17) // p99 worse by at most 10 ms, margin 20
    slowNative(c, () => k % 100 === 0) // 1% of native calls fail, margin 2%
    await run(r, 0, 2000)
    expect(events).toEqual([])
    expect(getRolloutStats(r).arms.share).toBe(0.5)
  })

  test('no verdict below the minimum sample', async () => {
    const { c, r, events } = setup({ rollback: { ...rollbackOptions, minCalls: 100_000 } })
    c.nativeMs = () => 100
    slowNative(c)
    await run(r, 0, 300)
    expect(events).toEqual([])
  })

  test('calls older than the window are forgotten: the same calls roll back with a longer window only', async () => {
    const scenario = async (windowMs) => {
      const { c, r, events } = setup({ rollback: { ...rollbackOptions, windowMs, checkEveryMs: 30_000 } })
      c.nativeMs = () => 100
      const spy = slowNative(c)
      await run(r, 0, 200) // about 10 s of slow native calls, not judged yet
      spy.mockRestore()
      c.t = 29_000
      c.legacyMs = () => 1.5
      c.nativeMs = () => 1.5
      slowNative(c)
      await run(r, 200, 800) // judged once the clock passes 30 s
      jest.restoreAllMocks()
      return events.map((e) => e.reason)
    }
    expect(await scenario(10_000)).toEqual([])
    expect(await scenario(40_000)).toEqual(['p99_latency'])
  })

  test('the share comes back only by setRolloutShare or a new flag value', async () => {
    const env = { ENABLE_ASYNC_ROUTING: '0.5' }
    const c = clock()
    const events = []
    const r = track(createModelRouter(legacyRouter(c), { env, now: c.now, rollback: rollbackOptions }))
    r.on('rollout_rollback', (e) => events.push(e))
    c.nativeMs = () => 80
    const spy = slowNative(c)
    await run(r, 0, 400)
    expect(events).toHaveLength(1)
    spy.mockRestore()
    c.nativeMs = () => 1
    slowNative(c)
    // time passes, the same flag value: still 0
    c.t += 60_000
    await run(r, 400, 50)
    expect(getRolloutStats(r).arms.share).toBe(0)
    // a new flag value is followed (at the next judgement)
    env.ENABLE_ASYNC_ROUTING = '0.2'
    c.t += 1000
    await run(r, 500, 5)
    expect(getRolloutStats(r).arms.share).toBe(0.2)
    // and a call
    setRolloutShare(r, 0.7)
    expect(getRolloutStats(r).arms.share).toBe(0.7)
    // an invalid new value changes nothing
    env.ENABLE_ASYNC_ROUTING = 'maybe'
    c.t += 1000
    await run(r, 600, 5)
    expect(getRolloutStats(r).arms.share).toBe(0.7)
  })

  test('rollback metrics reach the monitor', async () => {
    const recorded = []
    const { c, r } = setup({ monitor: { recordMetric: (name, value, meta) => recorded.push([name, value, meta]) } })
    c.nativeMs = () => 100
    slowNative(c)
    await run(r, 0, 400)
    const rb = recorded.filter(([name]) => name === 'rollout_router_rollback')
    expect(rb).toHaveLength(1)
    expect(rb[0][2].reason).toBe('p99_latency')
  })
})

describe('the wrapper in mode "ab"', () => {
  test('events of both arms reach the caller; methods with no assignment run on both, the legacy answer served', async () => {
    const c = clock()
    const r = track(createModelRouter(legacyRouter(c), { share: 0.5, now: c.now }))
    const decisions = []
    r.on('routing_decision', (d) => decisions.push(d.modelName))
    for (let i = 0; i < 20; i++) await r.selectOptimalModel(ctx(`task ${i}`), models())
    expect(decisions.length).toBe(getRolloutStats(r).calls.native) // the legacy stub emits none
    const rec = jest.spyOn(ModelRouter.prototype, 'recordPerformance')
    r.recordPerformance('gemini-2.5-flash', 100, true, 0.001)
    expect(rec).toHaveBeenCalledTimes(1)
  })

  test("monitor: a metric's values go to one arm, and its statistics are read from there", () => {
    const m = track(createPerformanceMonitor(LegacyMonitor, { share: 0.5, config: { healthCheckIntervalMs: 0 } }))
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) {
      for (let i = 1; i <= 4; i++) m.recordMetric(name, i * 10)
      expect(m.getStats(name)).toMatchObject({ count: 4, mean: 25, max: 40 })
    }
    const s = getRolloutStats(m)
    expect(s.calls.legacy + s.calls.native).toBe(6 * 5)
    expect(s.calls.legacy).toBeGreaterThan(0) // both arms hold metrics: a read from the other arm would find none
    expect(s.calls.native).toBeGreaterThan(0)
  })

  test('a native rejection is retried on legacy; a legacy failure reaches the caller', async () => {
    const c = clock()
    slowNative(c, () => true)
    const r = track(
      createModelRouter(
        legacyRouter(c, (context) => context.task === 'bad'),
        { share: 1, now: c.now, rollback: { enabled: false } },
      ),
    )
    await expect(r.selectOptimalModel(ctx('fine'), models())).resolves.toMatchObject({ modelName: 'legacy-model' })
    setRolloutShare(r, 0)
    await expect(r.selectOptimalModel(ctx('bad'), models())).rejects.toThrow('legacy failure')
    const s = getRolloutStats(r).arms
    expect([s.native.errors, s.legacy.errors]).toEqual([1, 1])
  })

  test('CacheManager: a native-only method is answered by native', async () => {
    const cache = track(createCacheManager(LegacyCache, { share: 0.5, config: { maxMemorySize: 1e6 } }))
    expect(typeof CacheManager.prototype.getOrSet).toBe('function')
    await expect(cache.getOrSet('g', () => 7)).resolves.toBe(7)
  })
})
