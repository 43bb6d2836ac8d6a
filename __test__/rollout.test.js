'use strict'
// The rollout toolkit: flags, the untouched legacy path, shadow agreement and disagreement,
// the circuit breaker (opening, half-open probe, closing) and that a native-side failure
// never reaches the caller.
const { EventEmitter } = require('node:events')
const { spawn } = require('node:child_process')
const path = require('node:path')
const {
  createModelRouter,
  createCacheManager,
  createPerformanceMonitor,
  flagEnabled,
  resolveMode,
  getRolloutStats,
  ModelRouter,
  CacheManager,
  PerformanceMonitor,
} = require('model-router-native')
const { ModelRouter: LegacyRouter } = require('model-router-legacy-ports')
const { CacheManager: LegacyCache } = require('model-router-legacy-ports')
const { PerformanceMonitor: LegacyMonitor } = require('model-router-legacy-ports')

function models() {
  const m = (name, tier, capabilities, latencyTarget, costPerToken) => [
    name,
    { name, tier, capabilities, latencyTarget, costPerToken, maxTokens: 8192 },
  ]
  return new Map([
    m('gemini-2.5-deep-think', 'enterprise', ['advanced-reasoning', 'reasoning', 'code'], 8000, 1e-5),
    m('gemini-2.5-pro', 'pro', ['reasoning', 'code'], 2500, 3.5e-6),
    m('gemini-pro-vertex', 'enterprise', ['reasoning'], 2000, 5e-6),
    m('gemini-2.0-flash-thinking', 'pro', ['reasoning'], 1500, 1e-6),
    m('gemini-2.5-flash', 'pro', ['code'], 800, 5e-7),
    m('gemini-2.0-flash', 'free', [], 600, 2e-7),
  ])
}
const ctx = (task, userTier = 'pro', priority = 'medium', latencyRequirement = 2000) => ({ task, userTier, priority, latencyRequirement })

/** A legacy router that always answers `model` and counts its calls. */
class FixedRouter extends EventEmitter {
  constructor() {
    super()
    this.calls = 0
    this.model = 'legacy-model'
  }
  async selectOptimalModel(context) {
    this.calls++
    if (context.task === 'legacy-fails') throw new Error('legacy failure')
    const d = { modelName: this.model, confidence: 0.5, reason: 'fixed', routingTime: 0, fromCache: false }
    this.emit('routing_decision', d)
    return d
  }
  recordPerformance() {
    this.calls++
  }
  getRoutingPerformance() {
    return { averageTime: -1, p95Time: -1, cacheHitRate: 0, targetMet: true }
  }
  shutdown() {}
}

const routers = []
function track(r) {
  routers.push(r)
  return r
}
afterEach(() => {
  jest.restoreAllMocks()
  for (const r of routers.splice(0)) {
    try {
      r.shutdown?.()
      r.dispose?.()
    } catch {}
  }
})

describe('flags', () => {
  test('a boolean flag is on for "true", off for "false", empty or unset; anything else is a RangeError naming it', () => {
    expect(flagEnabled('X', { X: 'true' })).toBe(true)
    for (const v of ['false', '', undefined]) expect(flagEnabled('X', { X: v })).toBe(false)
    for (const v of ['TRUE', 'True', '1', 'yes', 'on', ' true', '0.5'])
      expect(() => flagEnabled('X', { X: v })).toThrow(/^X must be "true" or "false"/)
  })

  test('each kind reads its flag; the monitor follows the router flag', () => {
    const env = { ENABLE_ASYNC_ROUTING: 'true', ENABLE_CONNECTION_POOLING: 'false' }
    expect(resolveMode('router', { env })).toBe('native')
    expect(resolveMode('monitor', { env })).toBe('native')
    expect(resolveMode('cache', { env })).toBe('legacy')
    expect(resolveMode('cache', { env: { ENABLE_CONNECTION_POOLING: 'true' } })).toBe('native')
    expect(resolveMode('router', { env: {} })).toBe('legacy')
  })

  test('options override the environment: mode wins over enabled, enabled over the flag', () => {
    const env = { ENABLE_ASYNC_ROUTING: 'true' }
    expect(resolveMode('router', { env, enabled: false })).toBe('legacy')
    expect(resolveMode('router', { env: {}, enabled: true })).toBe('native')
    expect(resolveMode('router', { env, enabled: false, mode: 'shadow' })).toBe('shadow')
    expect(() => resolveMode('router', { mode: 'canary' })).toThrow(TypeError)
  })

  test('process.env is read by default', () => {
    const old = process.env.ENABLE_ASYNC_ROUTING
    try {
      process.env.ENABLE_ASYNC_ROUTING = 'true'
      const r = track(createModelRouter(FixedRouter))
      expect(getRolloutStats(r).mode).toBe('native')
      delete process.env.ENABLE_ASYNC_ROUTING
      expect(createModelRouter(FixedRouter)).toBeInstanceOf(FixedRouter)
    } finally {
      if (old === undefined) delete process.env.ENABLE_ASYNC_ROUTING
      else process.env.ENABLE_ASYNC_ROUTING = old
    }
  })
})

describe('flag off: the legacy implementation, untouched', () => {
  test('a class, a factory or an instance is returned as the legacy object itself', () => {
    const env = {}
    const a = createModelRouter(FixedRouter, { env })
    expect(a).toBeInstanceOf(FixedRouter)
    expect(a.getRolloutStats).toBeUndefined()
    expect(getRolloutStats(a)).toBeNull()
    const made = new FixedRouter()
    expect(createModelRouter(() => made, { env })).toBe(made)
    expect(createModelRouter(made, { env })).toBe(made)
    const cache = createCacheManager(LegacyCache, { env, config: { maxMemorySize: 1000 } })
    expect(cache).toBeInstanceOf(LegacyCache)
    cache.shutdown()
    const mon = createPerformanceMonitor(LegacyMonitor, { env })
    expect(mon).toBeInstanceOf(LegacyMonitor)
    mon.dispose()
  })

  test('a bad legacy argument is a TypeError', () => {
    expect(() => createModelRouter(42)).toThrow(TypeError)
    expect(() => createCacheManager(null)).toThrow(TypeError)
  })

  test('createPerformanceMonitor(options) without a legacy implementation is the native monitor', () => {
    const m = createPerformanceMonitor({ healthCheckIntervalMs: 0 })
    expect(m).toBeInstanceOf(PerformanceMonitor)
    m.shutdown()
    const n = createPerformanceMonitor()
    expect(n).toBeInstanceOf(PerformanceMonitor)
    n.shutdown()
  })
})

describe('mode "native"', () => {
  test('serves the native router, is an EventEmitter with the native events', async () => {
    const r = track(createModelRouter(FixedRouter, { mode: 'native' }))
    expect(r).toBeInstanceOf(EventEmitter)
    const seen = []
    r.on('routing_decision', (d) => seen.push(d))
    const d = await r.selectOptimalModel(ctx('Write a function'), models())
    expect(d.modelName).not.toBe('legacy-model')
    expect(seen).toEqual([d])
    expect(getRolloutStats(r).calls).toEqual({ legacy: 0, native: 1 })
    expect(typeof r.getRoutingPerformance().averageTime).toBe('number')
    expect(r.getRoutingPerformance().averageTime).not.toBe(-1)
  })

  test('fallback: false returns the bare native instance', () => {
    const r = track(createModelRouter(FixedRouter, { mode: 'native', fallback: false }))
    expect(r).toBeInstanceOf(ModelRouter)
  })

  test('a native rejection is retried on legacy: the caller gets the legacy answer, not the error', async () => {
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('native boom')))
    const r = track(createModelRouter(FixedRouter, { mode: 'native' }))
    await expect(r.selectOptimalModel(ctx('x'), models())).resolves.toMatchObject({ modelName: 'legacy-model' })
    expect(getRolloutStats(r).fallbacks).toBe(1)
  })

  test('a native synchronous throw is retried on legacy, synchronously', () => {
    jest.spyOn(ModelRouter.prototype, 'getRoutingPerformance').mockImplementation(() => {
      throw new Error('native sync boom')
    })
    const r = track(createModelRouter(FixedRouter, { mode: 'native' }))
    expect(r.getRoutingPerformance()).toEqual({ averageTime: -1, p95Time: -1, cacheHitRate: 0, targetMet: true })
  })

  test('a native throw inside an async method is retried too', async () => {
    jest.spyOn(CacheManager.prototype, 'get').mockImplementation(() => {
      throw new Error('thrown, not rejected')
    })
    const c = track(createCacheManager(LegacyCache, { mode: 'native', config: { maxMemorySize: 1e6 } }))
    await expect(c.get('k')).resolves.toBeNull()
  })

  test('an error the legacy raises too reaches the caller as the legacy error, and does not count against native', async () => {
    const r = track(createModelRouter(FixedRouter, { mode: 'native', circuit: { minCalls: 1, windowSize: 4, maxErrorRate: 0 } }))
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('native says no')))
    await expect(r.selectOptimalModel(ctx('legacy-fails'), models())).rejects.toThrow('legacy failure')
    expect(getRolloutStats(r).circuit).toMatchObject({ state: 'closed', errorRate: 0 })
  })

  test('with the real legacy port: an empty Map rejects with the legacy error on both paths', async () => {
    const r = track(createModelRouter(LegacyRouter, { mode: 'native' }))
    await expect(r.selectOptimalModel(ctx('x'), new Map())).rejects.toThrow('No models available')
  })
})

describe('after shutdown', () => {
  test('a call rejects with ERR_SHUT_DOWN: no legacy instance is made (its timers would keep the process alive), nothing counts against native', async () => {
    let made = 0
    class CountedRouter extends FixedRouter {
      constructor() {
        super()
        made++
      }
    }
    class CountedCache extends EventEmitter {
      constructor() {
        super()
        made++
      }
      async get() {
        return 'from-legacy'
      }
      shutdown() {}
    }
    const r = createModelRouter(CountedRouter, { mode: 'native' })
    await r.selectOptimalModel(ctx('before'), models())
    r.shutdown()
    await expect(r.selectOptimalModel(ctx('after'), models())).rejects.toMatchObject({ code: 'ERR_SHUT_DOWN' })
    const c = createCacheManager(CountedCache, { mode: 'native' })
    c.shutdown()
    await expect(c.get('k')).rejects.toMatchObject({ code: 'ERR_SHUT_DOWN' })
    expect(made).toBe(0)
    for (const w of [r, c]) {
      const stats = getRolloutStats(w)
      expect(stats.fallbacks).toBe(0)
      expect(stats.circuit.state).toBe('closed')
      expect(stats.circuit.windowCalls).toBe(w === r ? 1 : 0)
    }
  })
})

describe('after shutdown, with the circuit open and no legacy instance', () => {
  test("calls are served by native, a failed probe gives native's own error and is settled, no legacy instance is made", () => {
    let clock = 0
    let made = 0
    class CountedMonitor {
      constructor() {
        made++
      }
      recordMetric() {}
      shutdown() {}
    }
    const m = createPerformanceMonitor(CountedMonitor, {
      mode: 'native',
      now: () => clock,
      latencySample: 1,
      circuit: { windowSize: 4, minCalls: 2, maxP99Ms: 150, cooldownMs: 1000 },
      config: { healthCheckIntervalMs: 0 },
    })
    // slow native calls open the circuit on p99: nothing fell back, so no legacy instance
    const real = PerformanceMonitor.prototype.recordMetric
    const spy = jest.spyOn(PerformanceMonitor.prototype, 'recordMetric').mockImplementation(function (...a) {
      clock += 200
      return real.apply(this, a)
    })
    m.recordMetric('a', 1)
    m.recordMetric('a', 2)
    spy.mockRestore()
    expect(getRolloutStats(m).circuit.state).toBe('open')
    m.shutdown()
    m.recordMetric('ok', 1) // open circuit, nothing to fall back on: native records it
    expect(m.getStats('ok').count).toBe(1)
    clock += 1000
    expect(() => m.recordMetric('x', 'a')).toThrow(TypeError) // the probe: native's error
    expect(getRolloutStats(m).circuit.state).toBe('open') // settled, not left half open
    expect(made).toBe(0)
  })
})

describe('circuit breaker', () => {
  function setup(circuit) {
    let clock = 0
    const opens = []
    const closes = []
    const halfOpens = []
    const r = track(
      createModelRouter(FixedRouter, {
        mode: 'native',
        now: () => clock,
        latencySample: 1,
        circuit: { windowSize: 10, minCalls: 5, maxErrorRate: 0.1, maxP99Ms: 150, cooldownMs: 1000, ...circuit },
      }),
    )
    r.on('circuit_open', (e) => opens.push(e))
    r.on('circuit_close', (e) => closes.push(e))
    r.on('circuit_half_open', (e) => halfOpens.push(e))
    return { r, opens, closes, halfOpens, tick: (ms) => (clock += ms), clock: () => clock }
  }

  test('opens on the error rate, then serves legacy without calling native', async () => {
    const { r, opens } = setup()
    const spy = jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('native down')))
    for (let i = 0; i < 5; i++)
      await expect(r.selectOptimalModel(ctx(`t${i}`), models())).resolves.toMatchObject({ modelName: 'legacy-model' })
    expect(opens).toHaveLength(1)
    expect(opens[0]).toMatchObject({ reason: 'error_rate', errorRate: 1, error: 'native down' })
    expect(getRolloutStats(r).circuit.state).toBe('open')
    const before = spy.mock.calls.length
    for (let i = 0; i < 10; i++) await r.selectOptimalModel(ctx(`u${i}`), models())
    expect(spy.mock.calls.length).toBe(before)
    expect(getRolloutStats(r).calls.legacy).toBe(15)
  })

  test('does not open below minCalls, nor while the error rate stays within the bound', async () => {
    const { r, opens } = setup({ maxErrorRate: 0.5 })
    const real = ModelRouter.prototype.selectOptimalModel
    let n = 0
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(function (...a) {
      return n++ % 4 === 0 ? Promise.reject(new Error('sometimes')) : real.apply(this, a)
    })
    for (let i = 0; i < 40; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    expect(opens).toEqual([])
    expect(getRolloutStats(r).circuit.errorRate).toBeCloseTo(0.2, 5)
  })

  test('opens on the p99 latency of the window', async () => {
    const { r, opens, tick } = setup()
    const real = ModelRouter.prototype.selectOptimalModel
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(function (...a) {
      tick(200) // the simulated clock says this call took 200 ms
      return real.apply(this, a)
    })
    for (let i = 0; i < 5; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    expect(opens).toHaveLength(1)
    expect(opens[0].reason).toBe('p99_latency')
    expect(opens[0].p99).toBe(200)
  })

  test('after the cooldown one probe goes to native; a failed probe opens again, a good one closes', async () => {
    const { r, opens, closes, halfOpens, tick } = setup()
    const real = ModelRouter.prototype.selectOptimalModel
    let failing = true
    const spy = jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(function (...a) {
      return failing ? Promise.reject(new Error('still down')) : real.apply(this, a)
    })
    for (let i = 0; i < 5; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    expect(opens).toHaveLength(1)

    tick(999) // not yet
    let calls = spy.mock.calls.length
    await r.selectOptimalModel(ctx('early'), models())
    expect(spy.mock.calls.length).toBe(calls)

    tick(1) // cooldown over: the next call is the probe, and it fails
    await expect(r.selectOptimalModel(ctx('probe 1'), models())).resolves.toMatchObject({ modelName: 'legacy-model' })
    expect(spy.mock.calls.length).toBe(calls + 1)
    expect(halfOpens).toHaveLength(1)
    expect(opens).toHaveLength(2)
    expect(opens[1].reason).toBe('probe_failed')
    expect(getRolloutStats(r).circuit.state).toBe('open')

    tick(1000)
    failing = false
    calls = spy.mock.calls.length
    const d = await r.selectOptimalModel(ctx('probe 2'), models())
    expect(d.modelName).not.toBe('legacy-model')
    expect(closes).toHaveLength(1)
    expect(getRolloutStats(r).circuit).toMatchObject({ state: 'closed', opens: 2, windowCalls: 0 })
    await r.selectOptimalModel(ctx('after'), models())
    expect(spy.mock.calls.length).toBe(calls + 2)
  })

  test('a probe whose native call fails keeps the circuit open, even when legacy fails too or the error does not count', async () => {
    for (const variant of ['both fail', 'does not count']) {
      let clock = 0
      const closes = []
      const r = track(
        createModelRouter(FixedRouter, {
          mode: 'native',
          now: () => clock,
          circuit: { windowSize: 10, minCalls: 1, maxErrorRate: 0, cooldownMs: 1000 },
          countsAsFailure: (e) => variant === 'both fail' || e.message !== 'not counted',
        }),
      )
      r.on('circuit_close', (e) => closes.push(e))
      const spy = jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('down')))
      await r.selectOptimalModel(ctx('opens'), models())
      expect(getRolloutStats(r).circuit.state).toBe('open')
      clock += 1000
      if (variant === 'both fail') {
        const legacy = jest
          .spyOn(FixedRouter.prototype, 'selectOptimalModel')
          .mockImplementation(() => Promise.reject(new Error('legacy too')))
        await expect(r.selectOptimalModel(ctx('probe'), models())).rejects.toThrow('legacy too')
        legacy.mockRestore()
      } else {
        spy.mockImplementation(() => Promise.reject(new Error('not counted')))
        await r.selectOptimalModel(ctx('probe'), models())
      }
      expect(getRolloutStats(r).circuit.state).toBe('open')
      expect(closes).toHaveLength(0)
      spy.mockRestore()
    }
  })

  test('a throwing circuit_half_open listener does not leave the circuit half open', async () => {
    const { r, tick } = setup({ minCalls: 1, maxErrorRate: 0 })
    const spy = jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementationOnce(() => Promise.reject(new Error('down')))
    await r.selectOptimalModel(ctx('opens'), models())
    let once = true
    r.on('circuit_half_open', () => {
      if (once) {
        once = false
        throw new Error('listener bug')
      }
    })
    tick(1000)
    expect(() => r.selectOptimalModel(ctx('probe'), models())).toThrow('listener bug')
    expect(getRolloutStats(r).circuit.state).toBe('open') // another cooldown, then a new probe
    tick(1000)
    await r.selectOptimalModel(ctx('probe again'), models())
    expect(getRolloutStats(r).circuit.state).toBe('closed')
    spy.mockRestore()
  })

  test('input errors (TypeError, RangeError) do not count against native by default', async () => {
    const m = track(
      createPerformanceMonitor(LegacyMonitor, {
        mode: 'native',
        circuit: { minCalls: 1, maxErrorRate: 0 },
        config: { healthCheckIntervalMs: 0 },
      }),
    )
    for (let i = 0; i < 30; i++) m.recordMetric('x', i)
    m.recordMetric('x', NaN) // native refuses it (RangeError); legacy serves it
    expect(getRolloutStats(m).circuit.state).toBe('closed')
  })

  test('half-open lets a single probe through: calls during the probe go to legacy', async () => {
    const { r, tick } = setup()
    const real = ModelRouter.prototype.selectOptimalModel
    let mode = 'fail'
    let release
    const spy = jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(function (...a) {
      if (mode === 'fail') return Promise.reject(new Error('down'))
      return new Promise((resolve) => (release = resolve)).then(() => real.apply(this, a))
    })
    for (let i = 0; i < 5; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    tick(1000)
    mode = 'slow'
    const n = spy.mock.calls.length
    const probe = r.selectOptimalModel(ctx('probe'), models())
    expect(getRolloutStats(r).circuit.state).toBe('half_open')
    const others = await Promise.all([1, 2, 3].map((i) => r.selectOptimalModel(ctx(`meanwhile ${i}`), models())))
    expect(others.map((d) => d.modelName)).toEqual(['legacy-model', 'legacy-model', 'legacy-model'])
    expect(spy.mock.calls.length).toBe(n + 1)
    release()
    expect((await probe).modelName).not.toBe('legacy-model')
    expect(getRolloutStats(r).circuit.state).toBe('closed')
  })

  test('a probe that never settles is given up after another cooldown; its late outcome changes nothing', async () => {
    const { r, opens, closes, halfOpens, tick } = setup()
    const real = ModelRouter.prototype.selectOptimalModel
    let mode = 'fail'
    let releaseHung
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(function (...a) {
      if (mode === 'fail') return Promise.reject(new Error('down'))
      if (mode === 'hang') return new Promise((resolve) => (releaseHung = resolve)).then(() => real.apply(this, a))
      return real.apply(this, a)
    })
    for (let i = 0; i < 5; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    tick(1000)
    mode = 'hang'
    const hung = r.selectOptimalModel(ctx('hung probe'), models())
    expect(getRolloutStats(r).circuit.state).toBe('half_open')
    tick(999) // still within the cooldown: calls go to legacy
    expect((await r.selectOptimalModel(ctx('meanwhile'), models())).modelName).toBe('legacy-model')
    tick(1)
    mode = 'fail' // the second probe fails: the circuit opens again
    await expect(r.selectOptimalModel(ctx('second probe'), models())).resolves.toMatchObject({ modelName: 'legacy-model' })
    expect(halfOpens).toHaveLength(2)
    expect(opens.map((e) => e.reason)).toEqual(['error_rate', 'probe_failed'])
    expect(getRolloutStats(r).circuit.state).toBe('open')
    // the first probe succeeds at last: it was given up, so the circuit stays open
    releaseHung()
    expect((await hung).modelName).not.toBe('legacy-model')
    expect(closes).toEqual([])
    expect(getRolloutStats(r).circuit.state).toBe('open')
  })

  test('a failed probe opens the circuit again at once, while its legacy retry still runs', async () => {
    const { r, opens, tick } = setup()
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('down')))
    for (let i = 0; i < 5; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    let release
    jest.spyOn(FixedRouter.prototype, 'selectOptimalModel').mockImplementation(() => new Promise((resolve) => (release = resolve)))
    tick(1000)
    const probe = r.selectOptimalModel(ctx('probe'), models())
    await new Promise(setImmediate) // native has failed; the legacy retry is pending
    expect(opens.map((e) => e.reason)).toEqual(['error_rate', 'probe_failed'])
    expect(getRolloutStats(r).circuit.state).toBe('open')
    release({ modelName: 'legacy-model' })
    await expect(probe).resolves.toEqual({ modelName: 'legacy-model' })
    expect(opens).toHaveLength(2)
  })

  test('cooldownMs 0: one probe at a time still, the calls meanwhile go to legacy', async () => {
    const { r, halfOpens } = setup({ cooldownMs: 0 })
    const spy = jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('down')))
    for (let i = 0; i < 5; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    spy.mockImplementation(() => new Promise(() => {})) // the probe never settles
    const n = spy.mock.calls.length
    const calls = Array.from({ length: 10 }, (_, i) => r.selectOptimalModel(ctx(`c${i}`), models()))
    expect(spy.mock.calls.length).toBe(n + 1)
    expect(halfOpens).toHaveLength(1)
    const served = await Promise.all(calls.slice(1))
    expect(served.every((d) => d.modelName === 'legacy-model')).toBe(true)
  })

  test('a slow probe keeps the circuit open', async () => {
    const { r, opens, tick } = setup()
    const real = ModelRouter.prototype.selectOptimalModel
    let fail = true
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(function (...a) {
      if (fail) return Promise.reject(new Error('down'))
      tick(500)
      return real.apply(this, a)
    })
    for (let i = 0; i < 5; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    tick(1000)
    fail = false
    await r.selectOptimalModel(ctx('slow probe'), models())
    expect(opens.map((e) => e.reason)).toEqual(['error_rate', 'probe_failed'])
  })

  test('events follow the served side: legacy events while the circuit is open', async () => {
    const { r } = setup()
    const seen = []
    r.on('routing_decision', (d) => seen.push(d.modelName))
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('down')))
    for (let i = 0; i < 5; i++) await r.selectOptimalModel(ctx(`t${i}`), models()) // retried on legacy: legacy events
    await r.selectOptimalModel(ctx('open'), models())
    expect(seen).toEqual(Array(6).fill('legacy-model'))
  })

  test('rollout metrics reach the PerformanceMonitor', async () => {
    const monitor = new PerformanceMonitor({ healthCheckIntervalMs: 0 })
    const r = track(createModelRouter(FixedRouter, { mode: 'native', monitor, circuit: { minCalls: 2, windowSize: 4, maxErrorRate: 0.1 } }))
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('down')))
    for (let i = 0; i < 3; i++) await r.selectOptimalModel(ctx(`t${i}`), models())
    expect(monitor.getStats('rollout_router_fallback').count).toBe(2)
    expect(monitor.getStats('rollout_router_circuit_open')).toMatchObject({ count: 1, max: 1 })
    monitor.shutdown()
  })
})

describe('mode "shadow"', () => {
  test('router: every call runs on both, the legacy answer is served, agreement is recorded', async () => {
    const monitor = new PerformanceMonitor({ healthCheckIntervalMs: 0 })
    const legacyRouter = new LegacyRouter()
    const r = track(createModelRouter(() => legacyRouter, { mode: 'shadow', monitor, config: { tierPolicy: 'legacy' } }))
    routers.push(legacyRouter)
    const ms = models()
    const served = []
    for (const t of ['Write a function to sort', 'Summarize this text', 'hello world']) {
      served.push(await r.selectOptimalModel(ctx(t), ms))
    }
    await r.rolloutSettled()
    // the served decision is the legacy's own (its reason text and no native fields)
    expect(legacyRouter.getRoutingPerformance().averageTime).toBeGreaterThan(0)
    const s = getRolloutStats(r)
    expect(s.calls).toEqual({ legacy: 3, native: 3 })
    expect(s.agreement).toEqual({ compared: 3, agreed: 3, rate: 1 })
    expect(s.disagreements).toEqual([])
    expect(s.latency.legacy.count).toBe(3)
    expect(s.latency.native.count).toBe(3)
    expect(monitor.getStats('rollout_router_agreement')).toMatchObject({ count: 3, mean: 1 })
    expect(monitor.getStats('rollout_router_native_latency').count).toBe(3)
    expect(monitor.getStats('rollout_router_legacy_latency').count).toBe(3)
    // state-changing calls reach both sides
    r.recordPerformance('gemini-2.5-flash', 100, true, 0.001)
    expect(legacyRouter.getPerformanceData().map((p) => p.modelName)).toEqual(['gemini-2.5-flash'])
    monitor.shutdown()
  })

  test('router: a disagreement is logged with the inputs and both answers, and emitted', async () => {
    const r = track(createModelRouter(FixedRouter, { mode: 'shadow' }))
    const events = []
    r.on('shadow_disagreement', (e) => events.push(e))
    const d = await r.selectOptimalModel(ctx('Write a function'), models())
    expect(d.modelName).toBe('legacy-model')
    await r.rolloutSettled()
    const s = getRolloutStats(r)
    expect(s.agreement).toEqual({ compared: 1, agreed: 0, rate: 0 })
    expect(s.disagreements).toHaveLength(1)
    const e = s.disagreements[0]
    expect(e.method).toBe('selectOptimalModel')
    expect(e.args[0]).toEqual(ctx('Write a function'))
    expect(e.args[1]).toEqual([...models().keys()])
    expect(e.legacy.modelName).toBe('legacy-model')
    expect(typeof e.native.modelName).toBe('string')
    expect(e.native.modelName).not.toBe('legacy-model')
    expect(events).toEqual([e])
  })

  test('the disagreement log is bounded and keeps the most recent', async () => {
    const r = track(createModelRouter(FixedRouter, { mode: 'shadow', maxDisagreements: 3 }))
    for (let i = 0; i < 10; i++) await r.selectOptimalModel(ctx(`task ${i}`), models())
    await r.rolloutSettled()
    const s = getRolloutStats(r)
    expect(s.agreement.compared).toBe(10)
    expect(s.disagreements.map((d) => d.args[0].task)).toEqual(['task 7', 'task 8', 'task 9'])
  })

  test('a native-side exception never reaches the caller (sync, async, thrown)', async () => {
    jest.spyOn(ModelRouter.prototype, 'selectOptimalModel').mockImplementation(() => Promise.reject(new Error('native async boom')))
    jest.spyOn(ModelRouter.prototype, 'recordPerformance').mockImplementation(() => {
      throw new Error('native sync boom')
    })
    const r = track(createModelRouter(FixedRouter, { mode: 'shadow' }))
    await expect(r.selectOptimalModel(ctx('a'), models())).resolves.toMatchObject({ modelName: 'legacy-model' })
    expect(() => r.recordPerformance('m', 1, true, 0)).not.toThrow()
    await r.rolloutSettled()
    const s = getRolloutStats(r)
    expect(s.shadowErrors).toBe(2)
    expect(s.disagreements[0].native).toEqual({ error: 'native async boom', code: undefined })
  })

  test('a legacy error is served as it is', async () => {
    const r = track(createModelRouter(FixedRouter, { mode: 'shadow' }))
    await expect(r.selectOptimalModel(ctx('legacy-fails'), models())).rejects.toThrow('legacy failure')
  })

  test("events are the legacy side's only", async () => {
    const r = track(createModelRouter(FixedRouter, { mode: 'shadow' }))
    const seen = []
    r.on('routing_decision', (d) => seen.push(d.modelName))
    await r.selectOptimalModel(ctx('Write a function'), models())
    await r.rolloutSettled()
    expect(seen).toEqual(['legacy-model'])
    r.removeAllListeners('routing_decision')
  })

  test('cache: both caches get the writes, reads are served from legacy, agreement is deep equality', async () => {
    const c = track(createCacheManager(LegacyCache, { mode: 'shadow', config: { maxMemorySize: 1e6 } }))
    const value = { answer: 'forty-two', tokens: [1, 2, 3] }
    await c.set('k1', value, 3600)
    const got = await c.get('k1')
    expect(got).toBe(value) // the legacy's memory hit: the very object (a legacy defect, served as it is)
    expect(await c.get('missing')).toBeNull()
    await c.rolloutSettled()
    const s = getRolloutStats(c)
    expect(s.calls).toEqual({ legacy: 3, native: 3 })
    expect(s.agreement).toEqual({ compared: 2, agreed: 2, rate: 1 })
  })

  test("cache: the legacy disk level changes a value's type — recorded as a disagreement", async () => {
    // the codebase's 1000-byte budget: a 200-byte object is not placed in memory, so the
    // legacy reads it back from its disk level as JSON text; the native cache keeps its type
    const c = track(createCacheManager(LegacyCache, { mode: 'shadow', config: { maxMemorySize: 1000 } }))
    const value = { text: 'x'.repeat(200) }
    await c.set('big', value)
    const got = await c.get('big')
    expect(got).toBe(JSON.stringify(value))
    await c.rolloutSettled()
    const [d] = getRolloutStats(c).disagreements
    expect(d).toMatchObject({ method: 'get', args: ['big'], legacy: JSON.stringify(value), native: value })
  })

  test("cache: getOrSet calls the loader once; the native side stores the legacy's loaded value", async () => {
    class LegacyWithGetOrSet extends LegacyCache {
      async getOrSet(key, loader, ttl) {
        const hit = await this.get(key)
        if (hit !== null) return hit
        const v = await loader()
        await this.set(key, v, ttl)
        return v
      }
    }
    const c = track(createCacheManager(LegacyWithGetOrSet, { mode: 'shadow', config: { maxMemorySize: 1e6 } }))
    let loads = 0
    await expect(c.getOrSet('g', async () => ({ n: ++loads }))).resolves.toEqual({ n: 1 })
    await c.rolloutSettled()
    expect(loads).toBe(1)
    await expect(c.get('g')).resolves.toEqual({ n: 1 })
    await c.rolloutSettled()
    expect(getRolloutStats(c).agreement).toEqual({ compared: 1, agreed: 1, rate: 1 })
  })

  test('a method only the native side has is answered by it alone in mode "native" too, circuit open or not', async () => {
    let clock = 0
    const c = track(
      createCacheManager(LegacyCache, {
        mode: 'native',
        now: () => clock,
        config: { persistToDisk: false },
        circuit: { minCalls: 1, maxErrorRate: 0, cooldownMs: 1e9 },
        countsAsFailure: () => true,
      }),
    )
    // a loader error is the caller's: it reaches the caller, with no fallback
    await expect(c.getOrSet('k', () => Promise.reject(new Error('loader failed')))).rejects.toThrow('loader failed')
    expect(getRolloutStats(c).fallbacks).toBe(0)
    const spy = jest.spyOn(CacheManager.prototype, 'set').mockImplementationOnce(() => Promise.reject(new Error('down')))
    await c.set('opens', 1)
    expect(getRolloutStats(c).circuit.state).toBe('open')
    spy.mockRestore()
    expect(await c.getOrSet('n', () => 'native only')).toBe('native only')
    clock += 1
    expect(await c.getOrSet('n', () => 'not called')).toBe('native only')
  })

  test('listeners added after removeAllListeners() or shutdown() still hear the served side', () => {
    for (const mode of ['native', 'shadow']) {
      const m = track(createPerformanceMonitor(LegacyMonitor, { mode, config: { healthCheckIntervalMs: 0 } }))
      m.on('metric_recorded', () => {})
      m.removeAllListeners()
      let heard = 0
      m.on('metric_recorded', () => heard++)
      m.recordMetric('x', 1)
      expect(heard).toBe(1)
    }
  })

  test('a method only the native side has is answered by it alone', async () => {
    const c = track(createCacheManager(LegacyCache, { mode: 'shadow', config: { maxMemorySize: 1e6 } }))
    let loads = 0
    await expect(c.getOrSet('only-native', async () => ++loads)).resolves.toBe(1)
    await c.rolloutSettled()
    expect(loads).toBe(1)
    expect(getRolloutStats(c).calls).toEqual({ legacy: 0, native: 0 })
  })
})

describe('predictive caching flag', () => {
  test('ENABLE_PREDICTIVE_CACHING off: predictiveWarmCache does nothing; on: it warms', async () => {
    const spy = jest.spyOn(CacheManager.prototype, 'predictiveWarmCache')
    const off = track(createCacheManager(LegacyCache, { mode: 'native', env: {} }))
    await off.predictiveWarmCache({ userTier: 'pro', priority: 'high', capabilities: [] })
    expect(spy).not.toHaveBeenCalled()
    const on = track(createCacheManager(LegacyCache, { env: { ENABLE_CONNECTION_POOLING: 'true', ENABLE_PREDICTIVE_CACHING: 'true' } }))
    await on.predictiveWarmCache({ userTier: 'pro', priority: 'high', capabilities: [] })
    expect(spy).toHaveBeenCalledTimes(1)
    const forced = track(createCacheManager(LegacyCache, { mode: 'native', env: { ENABLE_PREDICTIVE_CACHING: 'true' }, predictive: false }))
    await forced.predictiveWarmCache({ userTier: 'pro', priority: 'high' })
    expect(spy).toHaveBeenCalledTimes(1)
  })
})

describe('monitor', () => {
  test("shadow: recordMetric reaches both, reads are the legacy's", () => {
    const legacy = new LegacyMonitor()
    const m = track(createPerformanceMonitor(() => legacy, { mode: 'shadow', config: { healthCheckIntervalMs: 0 } }))
    routers.push(legacy)
    for (let i = 1; i <= 10; i++) m.recordMetric('orchestration_latency', i * 100)
    expect(m.getStats('orchestration_latency')).toEqual(legacy.getStats('orchestration_latency'))
    expect(getRolloutStats(m).calls).toEqual({ legacy: 11, native: 11 })
  })
})

test('a process using the three factories in shadow mode exits by itself', async () => {
  const entry = path.join(__dirname, '..', 'index.cjs')
  const ports = require.resolve('model-router-legacy-ports')
  const script = `
    const x = require(${JSON.stringify(entry)})
    const { ModelRouter, CacheManager, PerformanceMonitor } = require(${JSON.stringify(ports)})
    const monitor = x.createPerformanceMonitor(PerformanceMonitor, { mode: 'shadow' })
    const router = x.createModelRouter(ModelRouter, { mode: 'shadow', monitor })
    const cache = x.createCacheManager(CacheManager, { mode: 'native', monitor })
    ;(async () => {
      const models = new Map([['gemini-2.0-flash', { name: 'gemini-2.0-flash', tier: 'free', capabilities: [], latencyTarget: 600, costPerToken: 2e-7, maxTokens: 8192 }]])
      const d = await router.selectOptimalModel({ task: 'hi', userTier: 'free', priority: 'low', latencyRequirement: 2000 }, models)
      await cache.set('k', d)
      await cache.get('k')
      monitor.recordMetric('routing_overhead', d.routingTime)
      console.log('done')
    })()
  `
  const r = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const killer = setTimeout(() => child.kill('SIGKILL'), 30000)
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, out, err })
    })
  })
  expect(r).toEqual({ code: 0, signal: null, out: 'done\n', err: '' })
})

test('the ESM entry point names every rollout export', () => {
  const { execFileSync } = require('node:child_process')
  const mjs = path.join(__dirname, '..', 'index.mjs')
  const names = [
    'createModelRouter',
    'createCacheManager',
    'createPerformanceMonitor',
    'getRolloutStats',
    'flagEnabled',
    'resolveMode',
    'ROLLOUT_FLAGS',
    'PREDICTIVE_FLAG',
  ]
  const out = execFileSync(process.execPath, [
    '--input-type=module',
    '-e',
    `import * as m from ${JSON.stringify(mjs)}; console.log(JSON.stringify(${JSON.stringify(names)}.map((n) => typeof m[n])))`,
  ]).toString()
  expect(JSON.parse(out)).toEqual(['function', 'function', 'function', 'function', 'function', 'function', 'object', 'string'])
})

test('the breaker opens on p99 exactly when the sorted p99 of the window exceeds the bound', () => {
  const fc = require('fast-check')
  const { CircuitBreaker } = require('../dist/circuit-breaker.js')
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 300 }), (windowSize, lat) => {
      const b = new CircuitBreaker({ windowSize, minCalls: 1, maxP99Ms: 150, maxErrorRate: 1 }, () => 0)
      for (let i = 0; i < lat.length; i++) {
        const opened = b.record(lat[i], undefined)
        const win = lat.slice(Math.max(0, i + 1 - windowSize), i + 1).sort((x, y) => x - y)
        const p99 = win[Math.ceil(win.length * 0.99) - 1]
        if (p99 > 150) {
          expect(opened).toEqual({ reason: 'p99_latency', errorRate: 0, p99 })
          return
        }
        expect(opened).toBeNull()
      }
    }),
    { numRuns: 300 },
  )
})

test('with untimed calls (NaN), the breaker judges the p99 of the timed calls of the window, exactly as sorting them', () => {
  const fc = require('fast-check')
  const { CircuitBreaker } = require('../dist/circuit-breaker.js')
  const latency = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(NaN))
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.array(latency, { maxLength: 300 }), (windowSize, lat) => {
      const b = new CircuitBreaker({ windowSize, minCalls: 1, maxP99Ms: 150, maxErrorRate: 1 }, () => 0)
      for (let i = 0; i < lat.length; i++) {
        const opened = b.record(lat[i], undefined)
        const win = lat
          .slice(Math.max(0, i + 1 - windowSize), i + 1)
          .filter((x) => !Number.isNaN(x))
          .sort((x, y) => x - y)
        const p99 = win.length === 0 ? 0 : win[Math.ceil(win.length * 0.99) - 1]
        if (p99 > 150) {
          expect(opened).toEqual({ reason: 'p99_latency', errorRate: 0, p99 })
          return
        }
        expect(opened).toBeNull()
      }
    }),
    { numRuns: 300 },
  )
})

test('mode "native" times the share latencySample of its calls (default 0.1), every call with 1', () => {
  const timed = (latencySample) => {
    const m = track(createPerformanceMonitor(LegacyMonitor, { mode: 'native', latencySample, config: { healthCheckIntervalMs: 0 } }))
    for (let i = 0; i < 5000; i++) m.recordMetric('x', i)
    return getRolloutStats(m).latency.native.count
  }
  const byDefault = timed(undefined)
  expect(byDefault).toBeGreaterThan(5000 * 0.1 - 4 * Math.sqrt(5000 * 0.1 * 0.9))
  expect(byDefault).toBeLessThan(5000 * 0.1 + 4 * Math.sqrt(5000 * 0.1 * 0.9))
  const half = timed(0.5)
  expect(Math.abs(half - 2500)).toBeLessThan(4 * Math.sqrt(5000 * 0.25))
  expect(timed(1)).toBe(5000)
  expect(timed(0)).toBe(0)
  expect(() => createPerformanceMonitor(LegacyMonitor, { mode: 'native', latencySample: 2 })).toThrow(
    /options.latencySample must be a fraction from 0 to 1/,
  )
  expect(() => createPerformanceMonitor(LegacyMonitor, { mode: 'native', latencySample: '1' })).toThrow(TypeError)
})

test('mode "native" returns the native cache get\'s promise as it is for a well-formed key (it cannot reject); a malformed key still gets the legacy answer', async () => {
  // a legacy that accepts a lone surrogate, which the native cache refuses with a TypeError
  class LooseCache {
    async get(key) {
      return `legacy:${key.length}`
    }
    async set() {}
    shutdown() {}
  }
  const c = track(createCacheManager(LooseCache, { mode: 'native', latencySample: 0, config: { maxMemorySize: 1e6 } }))
  await c.set('k', { v: 1 })
  const spy = jest.spyOn(CacheManager.prototype, 'get')
  const p = c.get('k')
  expect(p).toBe(spy.mock.results[0].value) // the native promise itself: no promise made by the wrapper
  await expect(p).resolves.toEqual({ v: 1 })
  await expect(c.get('bad\uDBFF')).resolves.toBe('legacy:4')
  const s = getRolloutStats(c)
  expect(s.fallbacks).toBe(1)
  expect(s.circuit.errorRate).toBe(0) // a TypeError is the input's fault, not native's
  // the contract the fast path relies on: an internal error (here a throwing listener) resolves null
  const bare = track(new CacheManager({ maxMemorySize: 1e6 }))
  await bare.set('k', 1)
  bare.on('cache_hit', () => {
    throw new Error('listener')
  })
  await expect(bare.get('k')).resolves.toBeNull()
})

describe('options are checked', () => {
  test('bad counts and non-functions are a TypeError/RangeError naming the option, at construction', () => {
    const make = (options) => createCacheManager(LegacyCache, { mode: 'shadow', config: { persistToDisk: false }, ...options })
    expect(() => make({ maxShadowInFlight: NaN })).toThrow(/maxShadowInFlight/)
    expect(() => make({ maxShadowInFlight: -1 })).toThrow(RangeError)
    expect(() => make({ maxDisagreements: 1.5 })).toThrow(/maxDisagreements/)
    expect(() => make({ countsAsFailure: 'no' })).toThrow(TypeError)
    expect(() => make({ now: 5 })).toThrow(/options\.now/)
    expect(() => createModelRouter(FixedRouter, { mode: 'native', circuit: { windowSize: 2 ** 40 } })).toThrow(/circuit\.windowSize/)
    // boolean options are booleans: "no" is not false
    expect(() => createModelRouter(FixedRouter, { enabled: 'yes' })).toThrow(new TypeError('enabled must be a boolean, got "yes"'))
    expect(() => createModelRouter(FixedRouter, { mode: 'native', fallback: 'no' })).toThrow(
      new TypeError('fallback must be a boolean, got "no"'),
    )
    expect(() => createCacheManager(LegacyCache, { predictive: 'yes', config: { persistToDisk: false } })).toThrow(
      /predictive must be a boolean/,
    )
    expect(() => createModelRouter(FixedRouter, 5)).toThrow(new TypeError('options must be an object, got 5'))
    expect(() => createModelRouter(FixedRouter, null)).toThrow(TypeError)
    expect(() => createModelRouter(FixedRouter, { mode: 'native', circuit: { maxErrorRate: 2 } })).toThrow(
      /circuit\.maxErrorRate must be a rate from 0 to 1/,
    )
    for (const circuit of [null, 5, 'fast']) {
      expect(() => createModelRouter(FixedRouter, { mode: 'native', circuit })).toThrow(
        new TypeError(`circuit must be an object of circuit options, got ${JSON.stringify(circuit)}`),
      )
    }
    expect(() => createPerformanceMonitor(LegacyMonitor, { mode: 'native', config: { bufferSize: 2 ** 40 } })).toThrow(/bufferSize/)
  })
})

describe('listener housekeeping', () => {
  test("removeAllListeners() removes every listener; removing one hook event keeps the other event's listeners", async () => {
    const w = track(createCacheManager(LegacyCache, { mode: 'native', config: { persistToDisk: false } }))
    w.on('cache_set', () => {})
    w.on('removeListener', () => {})
    w.removeAllListeners('newListener')
    expect(w.listenerCount('removeListener')).toBe(2) // the user's and the wrapper's hook
    w.removeAllListeners()
    expect(w.listenerCount('cache_set')).toBe(0)
    let heard = 0
    w.on('cache_set', () => heard++)
    await w.set('k', 1)
    expect(heard).toBe(1)
  })

  test('Infinity means no bound for maxShadowInFlight and maxDisagreements', () => {
    expect(() =>
      createCacheManager(LegacyCache, {
        mode: 'shadow',
        config: { persistToDisk: false },
        maxShadowInFlight: Infinity,
        maxDisagreements: Infinity,
      }),
    ).not.toThrow()
  })
})

describe('a throwing listener under mode "native"', () => {
  const boom = () => {
    throw new Error('listener failed')
  }

  test('router: the listener error reaches the caller; the call is not run again on legacy, nothing counts against native', () => {
    let legacyMade = 0
    const router = track(createModelRouter(() => ++legacyMade && new LegacyRouter(), { mode: 'native' }))
    router.once('model_availability_changed', boom)
    expect(() => router.updateModelAvailability('gemini-2.0-flash', false)).toThrow('listener failed')
    router.once('batch_availability_update', boom)
    expect(() => router.updateBatchAvailability(new Map([['gemini-2.0-flash', true]]))).toThrow('listener failed')
    expect(legacyMade).toBe(0)
    expect(getRolloutStats(router)).toMatchObject({ fallbacks: 0 })
    expect(getRolloutStats(router).circuit).toMatchObject({ state: 'closed' })
  })

  test('router: an async method rejects with the listener error, even with other calls between', async () => {
    let legacyMade = 0
    const router = track(createModelRouter(() => ++legacyMade && new LegacyRouter(), { mode: 'native' }))
    await router.selectOptimalModel(ctx('hello'), models())
    router.once('fallback_triggered', boom)
    const pending = router.selectFallbackModel('gemini-2.5-pro', ctx('hello'), models(), 'timeout')
    router.recordPerformance('gemini-2.5-pro', 500, true, 0.001) // another call before the rejection
    await expect(pending).rejects.toThrow('listener failed')
    expect(legacyMade).toBe(0)
  })

  test('monitor: a throwing metric_recorded listener escapes recordMetric; the value is recorded once, on native', () => {
    let legacyMade = 0
    const monitor = track(createPerformanceMonitor(() => ++legacyMade && new LegacyMonitor(), { mode: 'native' }))
    monitor.once('metric_recorded', boom)
    expect(() => monitor.recordMetric('lat', 5)).toThrow('listener failed')
    expect(legacyMade).toBe(0)
    expect(monitor.getStats('lat')).toMatchObject({ count: 1 })
  })

  test('cache: a throwing cache_set listener rejects the set; nothing is retried on legacy', async () => {
    let legacyMade = 0
    const cache = track(
      createCacheManager(() => ++legacyMade && new LegacyCache({ persistToDisk: false }), {
        mode: 'native',
        config: { persistToDisk: false },
      }),
    )
    cache.once('cache_set', boom)
    await expect(cache.set('k', 'v')).rejects.toThrow('listener failed')
    expect(await cache.get('k')).toBe('v')
    expect(legacyMade).toBe(0)
    expect(getRolloutStats(cache)).toMatchObject({ fallbacks: 0 })
  })
})
