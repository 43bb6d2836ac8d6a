// ModelRouter drop-in: the contract's interface, events, fixed defects and bad input.
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { ModelRouter } = require('model-router-native')
const { ModelRouter: LegacyRouter } = require('model-router-legacy-ports')

const root = path.join(__dirname, '..')

function config(name, tier, capabilities, latencyTarget, costPerToken) {
  return {
    name,
    tier,
    capabilities,
    latencyTarget,
    costPerToken,
    maxTokens: 8192,
    apiKey: 'sk-SECRET-123',
    endpoint: 'https://x',
    projectId: 'p',
  }
}
function defaultModels() {
  return new Map([
    ['gemini-2.5-deep-think', config('gemini-2.5-deep-think', 'enterprise', ['advanced-reasoning', 'reasoning', 'code'], 8000, 1e-5)],
    ['gemini-2.5-pro', config('gemini-2.5-pro', 'pro', ['reasoning', 'code'], 2500, 3.5e-6)],
    ['gemini-pro-vertex', config('gemini-pro-vertex', 'enterprise', ['reasoning'], 2000, 5e-6)],
    ['gemini-2.0-flash-thinking', config('gemini-2.0-flash-thinking', 'pro', ['reasoning'], 1500, 1e-6)],
    ['gemini-2.5-flash', config('gemini-2.5-flash', 'pro', ['code'], 800, 5e-7)],
    ['gemini-2.0-flash', config('gemini-2.0-flash', 'free', [], 600, 2e-7)],
  ])
}
const ctx = (over = {}) => ({ task: 'Write a haiku about autumn', userTier: 'pro', priority: 'medium', latencyRequirement: 3000, ...over })

let routers = []
const make = (opts) => {
  const r = new ModelRouter(opts)
  routers.push(r)
  return r
}
afterEach(() => {
  for (const r of routers) r.shutdown()
  routers = []
})

describe('interface', () => {
  test('works with no argument, returns a promise of a RoutingDecision', async () => {
    const r = make()
    const p = r.selectOptimalModel(ctx(), defaultModels())
    expect(p).toBeInstanceOf(Promise)
    const d = await p
    expect(Object.keys(d).sort()).toEqual(['confidence', 'fromCache', 'modelName', 'reason', 'routingTime'])
    expect(d.fromCache).toBe(false)
    expect(d.reason).toMatch(/^Best match: latency=\d\.\d\d, complexity=\d\.\d\d$/)
    expect(typeof d.routingTime).toBe('number')
    const again = await r.selectOptimalModel(ctx(), defaultModels())
    expect(again).toMatchObject({ modelName: d.modelName, confidence: 0.95, reason: 'LRU cache hit', fromCache: true })
  })

  test('sync methods stay sync and the seven default rules have working conditions', () => {
    const r = make()
    const rules = r.getRules()
    expect(rules.map((x) => x.id)).toEqual([
      'critical-tasks',
      'enterprise-tier',
      'low-latency',
      'code-tasks',
      'large-context',
      'free-tier',
      'deep-reasoning',
    ])
    const byId = Object.fromEntries(rules.map((x) => [x.id, x]))
    expect(byId['critical-tasks'].condition(ctx({ priority: 'critical' }))).toBe(true)
    expect(byId['critical-tasks'].condition(ctx())).toBe(false)
    expect(byId['code-tasks'].condition(ctx({ task: 'review my CODE' }))).toBe(true)
    expect(byId['code-tasks'].condition(ctx({ capabilities: ['code'] }))).toBe(true)
    expect(byId['large-context'].condition(ctx({ tokenBudget: 100001 }))).toBe(true)
    expect(byId['deep-reasoning'].condition(ctx({ task: 'Analyze this' }))).toBe(true)
    expect(byId['low-latency'].condition(ctx({ latencyRequirement: 999 }))).toBe(true)
    expect(
      r.addRule({ id: 'x', name: 'X', condition: () => true, modelPreference: ['gemini-2.0-flash'], weight: 1, active: true }),
    ).toBeUndefined()
    r.addRule({ id: 'low-latency', name: 'LL', condition: () => false, modelPreference: [], weight: 2, active: true })
    expect(r.getRules().map((x) => x.id)).toEqual([
      'critical-tasks',
      'enterprise-tier',
      'low-latency',
      'code-tasks',
      'large-context',
      'free-tier',
      'deep-reasoning',
      'x',
    ])
    expect(r.getRules()[2].weight).toBe(2)
    expect(r.removeRule('x')).toBe(true)
    expect(r.removeRule('x')).toBe(false)
    expect(r.getRoutingPerformance()).toEqual({ averageTime: 0, p95Time: 0, cacheHitRate: 0, targetMet: true })
    expect(r.getModelUsageStats()).toEqual({})
    expect(r.getPerformanceData()).toEqual([])
  })

  test('events: routing_decision, performance_metrics every 10 samples, availability, performance, fallback', async () => {
    const r = make()
    const events = []
    for (const name of [
      'routing_decision',
      'performance_metrics',
      'model_availability_changed',
      'batch_availability_update',
      'model_performance_updated',
      'fallback_triggered',
    ]) {
      r.on(name, (p) => events.push([name, p]))
    }
    const models = defaultModels()
    for (let i = 0; i < 10; i++) await r.selectOptimalModel(ctx({ task: `task number ${i}` }), models)
    expect(events.filter(([n]) => n === 'routing_decision')).toHaveLength(10)
    const metrics = events.filter(([n]) => n === 'performance_metrics')
    expect(metrics).toHaveLength(1)
    expect(Object.keys(metrics[0][1]).sort()).toEqual([
      'averageRoutingTime',
      'cacheHitRate',
      'maxRoutingTime',
      'p95RoutingTime',
      'targetMet',
    ])
    r.updateModelAvailability('gemini-2.5-pro', false)
    r.updateModelAvailability('gemini-2.5-pro', false) // no change: no event
    r.updateModelAvailability('brand-new', true) // first sighting counts
    expect(
      events.filter(([n]) => n === 'model_availability_changed').map(([, p]) => [p.modelName, p.available, typeof p.timestamp]),
    ).toEqual([
      ['gemini-2.5-pro', false, 'number'],
      ['brand-new', true, 'number'],
    ])
    r.updateBatchAvailability(
      new Map([
        ['gemini-2.5-pro', true],
        ['brand-new', true],
      ]),
    )
    expect(events.filter(([n]) => n === 'batch_availability_update')[0][1].changes).toEqual([{ model: 'gemini-2.5-pro', available: true }])
    r.recordPerformance('gemini-2.5-pro', 1200, true, 0.01, { input: 10, output: 30, total: 40 })
    const perf = events.find(([n]) => n === 'model_performance_updated')[1]
    expect(perf).toMatchObject({ modelName: 'gemini-2.5-pro', latency: 1200, success: true, cost: 0.01 })
    expect(perf.performance.lastUsed).toBeInstanceOf(Date)
    expect(perf.performance.usageCount).toBe(1)
    const fb = await r.selectFallbackModel('gemini-2.5-pro', ctx(), models, 'timeout')
    expect(fb.confidence).toBe(0.6)
    expect(fb.reason).toBe('Fallback from gemini-2.5-pro: timeout')
    expect(events.find(([n]) => n === 'fallback_triggered')[1]).toMatchObject({
      originalModel: 'gemini-2.5-pro',
      fallbackModel: fb.modelName,
      reason: 'timeout',
    })
  })

  test('a throwing listener gives the emergency fallback, as in the legacy', async () => {
    const r = make()
    r.on('routing_decision', () => {
      throw new Error('boom')
    })
    const d = await r.selectOptimalModel(ctx(), defaultModels())
    expect(d).toMatchObject({ confidence: 0.1, reason: 'Emergency fallback: boom', fromCache: false })
  })

  test('optimizeBasedOnPerformance with getMetrics()-shaped data changes nothing', async () => {
    const a = make()
    const b = make()
    a.optimizeBasedOnPerformance({ orchestration_latency: { mean: 5 } })
    const models = defaultModels()
    for (let i = 0; i < 20; i++) {
      const c = ctx({ task: `t${i} analyze code`, latencyRequirement: 500 + i * 300 })
      expect((await a.selectOptimalModel(c, models)).modelName).toBe((await b.selectOptimalModel(c, models)).modelName)
    }
  })

  test('the same Map mutated, or a config edited in place, is seen', async () => {
    const r = make()
    const models = new Map([['only', config('only', 'free', [], 500, 1e-7)]])
    expect((await r.selectOptimalModel(ctx({ userTier: 'free' }), models)).modelName).toBe('only')
    models.set('other', config('other', 'free', [], 100, 1e-7))
    models.delete('only')
    expect((await r.selectOptimalModel(ctx({ userTier: 'free', task: 'x' }), models)).modelName).toBe('other')
    models.get('other').tier = 'enterprise' // edited in place: a free user may no longer use it
    await expect(r.selectOptimalModel(ctx({ userTier: 'free', task: 'y' }), models)).rejects.toMatchObject({
      code: 'ERR_NO_ELIGIBLE_MODEL',
    })
  })

  test('the key memo for repeated requests is bounded in bytes, whatever cacheSize is', () => {
    const script = `
      const { ModelRouter } = require(${JSON.stringify(require.resolve('model-router-native'))})
      const models = new Map([['m', { name: 'm', tier: 'free', capabilities: [], latencyTarget: 100, costPerToken: 0, maxTokens: 10 }]])
      ;(async () => {
        const r = new ModelRouter({ cacheSize: 1_000_000 })
        global.gc(); const h0 = process.memoryUsage().heapUsed
        const pad = 'x'.repeat(4080)
        for (let i = 0; i < 20000; i++) {
          const c = { task: pad + String(i).padStart(16, '0'), userTier: 'free', priority: 'low', latencyRequirement: 1000 }
          await r.selectOptimalModel(c, models); await r.selectOptimalModel(c, models) // the second is memoized
        }
        global.gc()
        console.log((process.memoryUsage().heapUsed - h0) / 2 ** 20)
      })()`
    const grewMiB = Number(execFileSync(process.execPath, ['--expose-gc', '-e', script]).toString().trim())
    expect(grewMiB).toBeLessThan(30) // 20,000 tasks of 4 KB: ~91 MiB when the memo followed cacheSize
  })

  /** Two free-tier models, "a" faster than "b". */
  const twoFreeModels = () =>
    new Map([
      ['a', config('a', 'free', [], 500, 1e-7)],
      ['b', config('b', 'free', [], 900, 1e-7)],
    ])

  test('a config replaced by an equal copy, then edited in place, is seen (the copy is watched)', async () => {
    const r = make()
    const models = twoFreeModels()
    const c = ctx({ userTier: 'free', task: 'same request' })
    const first = (await r.selectOptimalModel(c, models)).modelName
    await r.selectOptimalModel(c, models)
    models.set(first, { ...models.get(first), apiKey: 'rotated' }) // same routing fields, new object
    await r.selectOptimalModel(c, models)
    models.get(first).tier = 'enterprise' // in place, on the copy now in the Map
    expect((await r.selectOptimalModel(c, models)).modelName).not.toBe(first)
    expect((await r.selectOptimalModel(ctx({ userTier: 'free', task: 'a new request' }), models)).modelName).not.toBe(first)
    // the same through a new Map of copies
    const copies = new Map([...models].map(([k, v]) => [k, { ...v }]))
    await r.selectOptimalModel(c, copies)
    const other = first === 'a' ? 'b' : 'a'
    copies.get(other).tier = 'enterprise'
    await expect(r.selectOptimalModel(ctx({ userTier: 'free', task: 'yet another request' }), copies)).rejects.toMatchObject({
      code: 'ERR_NO_ELIGIBLE_MODEL',
    })
  })

  test('a repeated request whose model was edited in place to a higher tier is not served from the cache', async () => {
    const r = make()
    const models = twoFreeModels()
    const c = ctx({ userTier: 'free', task: 'same request, many times' })
    const first = await r.selectOptimalModel(c, models)
    for (let i = 0; i < 3; i++) expect(await r.selectOptimalModel(c, models)).toMatchObject({ modelName: first.modelName, fromCache: true })
    models.get(first.modelName).tier = 'enterprise' // in place: the free user may no longer use it
    const after = await r.selectOptimalModel(c, models)
    expect(after.modelName).not.toBe(first.modelName)
    expect(after.fromCache).toBe(false)
    // an edit that leaves the tier alone does not stop the cached decision
    models.get(after.modelName).latencyTarget += 1
    await r.selectOptimalModel(c, models)
    expect(await r.selectOptimalModel(c, models)).toMatchObject({ modelName: after.modelName, fromCache: true })
  })
})

describe('legacy defects, fixed (each test fails on the legacy port)', () => {
  const task = 'Summarize the quarterly report for the board of directors'

  test('the routing-cache key covers every field: a free user never gets an enterprise decision', async () => {
    for (const [R, fixed] of [
      [LegacyRouter, false],
      [ModelRouter, true],
    ]) {
      const r = new R()
      const models = defaultModels()
      const ent = await r.selectOptimalModel({ task, userTier: 'enterprise', priority: 'high', latencyRequirement: 3000 }, models)
      const free = await r.selectOptimalModel(
        { task: task + ' (free)', userTier: 'free', priority: 'high', latencyRequirement: 3000 },
        models,
      )
      if (fixed) {
        expect(free.fromCache).toBe(false)
        expect(models.get(free.modelName).tier).toBe('free')
      } else {
        expect(free.fromCache).toBe(true) // the legacy defect
        expect(free.modelName).toBe(ent.modelName)
      }
      r.dispose ? r.dispose() : r.shutdown()
    }
  })

  test('fallbacks respect the tier: ERR_NO_ELIGIBLE_MODEL instead of a pro model for a free user', async () => {
    const models = new Map([...defaultModels()].filter(([, c]) => c.tier !== 'free'))
    const free = { task: 'hi', userTier: 'free', priority: 'low', latencyRequirement: 3000 }
    const legacy = new LegacyRouter()
    expect(models.get((await legacy.selectOptimalModel(free, models)).modelName).tier).not.toBe('free')
    legacy.dispose()
    await expect(make().selectOptimalModel(free, models)).rejects.toMatchObject({ code: 'ERR_NO_ELIGIBLE_MODEL' })
    await expect(make().selectFallbackModel('gemini-2.5-flash', free, models, 'x')).rejects.toMatchObject({ code: 'ERR_NO_ELIGIBLE_MODEL' })
    const lenient = make({ tierPolicy: 'legacy' })
    expect((await lenient.selectOptimalModel(free, models)).modelName).toBe('gemini-2.5-flash')
  })

  test('explicit unavailability holds, and a cached decision is not served for an unavailable model', async () => {
    for (const [R, fixed] of [
      [LegacyRouter, false],
      [ModelRouter, true],
    ]) {
      const r = new R()
      const models = defaultModels()
      const first = await r.selectOptimalModel(ctx(), models)
      r.updateModelAvailability(first.modelName, false)
      const second = await r.selectOptimalModel(ctx(), models)
      const third = await r.selectOptimalModel(ctx({ task: 'another task entirely' }), models)
      if (fixed) {
        expect(second.modelName).not.toBe(first.modelName)
        expect(second.fromCache).toBe(false)
        expect(third.modelName).not.toBe(first.modelName)
      } else {
        expect(second.modelName).toBe(first.modelName)
      }
      r.dispose ? r.dispose() : r.shutdown()
    }
  })

  test('moving averages start from the first sample', () => {
    const legacy = new LegacyRouter()
    legacy.recordPerformance('m', 3000, true, 0.5)
    expect(legacy.getPerformanceData()[0].avgLatency).toBeCloseTo(300)
    legacy.dispose()
    const r = make()
    r.recordPerformance('m', 3000, true, 0.5)
    expect(r.getPerformanceData()[0]).toMatchObject({ avgLatency: 3000, avgCost: 0.5, usageCount: 1, successRate: 1 })
    r.recordPerformance('m', 1000, false, 0.5)
    expect(r.getPerformanceData()[0].avgLatency).toBeCloseTo(2800)
    expect(r.getPerformanceData()[0].successRate).toBe(0.5)
  })

  test('each task is analysed from its whole text: same first 100 characters, different length', async () => {
    const prefix = 'x'.repeat(100)
    const long = prefix + ' analyze implement optimize algorithm architecture debug { } ( ) [ ] => function class if for'.repeat(100)
    const models = new Map([
      ['plain', config('plain', 'pro', [], 3000, 1e-7)],
      ['smart', config('smart', 'pro', ['advanced-reasoning'], 3000, 1e-7)],
    ])
    const c = (t) => ({ task: t, userTier: 'pro', priority: 'low', latencyRequirement: 5000 })
    const legacy = new LegacyRouter()
    await legacy.selectOptimalModel(c(prefix), models)
    const legacyLong = await legacy.selectOptimalModel(c(long), models)
    legacy.dispose()
    const r = make()
    await r.selectOptimalModel(c(prefix), models)
    const nativeLong = await r.selectOptimalModel(c(long), models)
    expect(legacyLong.modelName).toBe('plain') // scored with the short task's analysis
    expect(nativeLong.modelName).toBe('smart') // score > 0.8 keeps only advanced models
  })

  test('cache hit rate is hits / lookups', async () => {
    const r = make()
    const models = defaultModels()
    await r.selectOptimalModel(ctx(), models) // miss
    await r.selectOptimalModel(ctx(), models) // hit
    await r.selectOptimalModel(ctx(), models) // hit
    await r.selectOptimalModel(ctx({ task: 'other' }), models) // miss
    expect(r.getRoutingPerformance().cacheHitRate).toBe(0.5)
    expect(r.getRouterStats().cache).toEqual({ size: 2, hitRate: 0.5, limit: 1000 })
  })

  test('the routing-time window drops its oldest sample (the legacy sorted it in place)', async () => {
    const r = make()
    const models = defaultModels()
    const slow = { task: 'slow one', userTier: 'pro', priority: 'low', latencyRequirement: 3000 }
    // make one sample slow with a slow listener, then push 100 fast ones
    const hold = () => {
      const end = Date.now() + 30
      while (Date.now() < end);
    }
    r.once('routing_decision', hold)
    await r.selectOptimalModel(slow, models)
    for (let i = 0; i < 100; i++) await r.selectOptimalModel(ctx(), models)
    expect(r.getRoutingPerformance().p95Time).toBeLessThan(5)
  })
})

describe('bad input', () => {
  const models = defaultModels()
  test.each([
    ['context', null, TypeError, /context must be an object/],
    ['task', ctx({ task: 42 }), TypeError, /context\.task must be a string/],
    ['tier', ctx({ userTier: 'gold' }), TypeError, /context\.userTier/],
    ['tier toString', ctx({ userTier: 'toString' }), TypeError, /context\.userTier/],
    ['priority', ctx({ priority: 'urgent' }), TypeError, /context\.priority/],
    ['latency NaN', ctx({ latencyRequirement: NaN }), RangeError, /context\.latencyRequirement/],
    ['latency string', ctx({ latencyRequirement: '5' }), TypeError, /context\.latencyRequirement/],
    ['budget', ctx({ tokenBudget: -1 }), RangeError, /context\.tokenBudget/],
    ['capabilities', ctx({ capabilities: [1] }), TypeError, /context\.capabilities\[0\]/],
  ])('%s', async (_, c, Cls, message) => {
    const err = await make()
      .selectOptimalModel(c, models)
      .catch((e) => e)
    expect(err).toBeInstanceOf(Cls)
    expect(err.message).toMatch(message)
  })

  test('availableModels: not a Map, empty, bad config', async () => {
    const r = make()
    await expect(r.selectOptimalModel(ctx(), {})).rejects.toThrow(TypeError)
    await expect(r.selectOptimalModel(ctx(), new Map())).rejects.toMatchObject({ code: 'ERR_NO_MODELS', message: 'No models available' })
    const bad = new Map([['m', { ...config('m', 'gold', [], 1, 1) }]])
    await expect(r.selectOptimalModel(ctx(), bad)).rejects.toThrow(/availableModels\.get\("m"\)\.tier/)
    const bad2 = new Map([['m', { ...config('m', 'free', [], 1, 1), latencyTarget: Infinity }]])
    await expect(r.selectOptimalModel(ctx(), bad2)).rejects.toThrow(RangeError)
  })

  test('options, rules and other methods', () => {
    expect(() => new ModelRouter({ strategy: 'fastest' })).toThrow(/options\.strategy/)
    expect(() => new ModelRouter({ seed: -1 })).toThrow(RangeError)
    expect(() => new ModelRouter({ cacheSize: 0 })).toThrow(RangeError)
    const r = make()
    expect(() => r.addRule({ id: 'a', name: 'a', condition: 'yes', modelPreference: [], weight: 1, active: true })).toThrow(
      /rule\.condition/,
    )
    expect(() => r.addRule({ id: 'a', name: 'a', condition: () => true, modelPreference: [], weight: NaN, active: true })).toThrow(
      RangeError,
    )
    expect(() => r.recordPerformance(5, 1, true, 1)).toThrow(/modelName/)
    expect(() => r.recordPerformance('m', NaN, true, 1)).toThrow(RangeError)
    // tokenUsage.input is not read, as in the legacy: any value passes
    for (const input of [undefined, null, 'a']) r.recordPerformance('m', 1, true, 1, { input, output: 1, total: 1 })
    expect(() => r.updateModelAvailability('m', 'yes')).toThrow(/available/)
    expect(() => r.updateBatchAvailability([])).toThrow(/updates/)
  })
})

describe('beyond the legacy', () => {
  test('cacheTtlMs: a decision expires from the routing cache and from the key memo alike', async () => {
    const r = make({ cacheTtlMs: 150 })
    const models = defaultModels()
    const c = ctx({ task: 'Summarize this memo' })
    expect((await r.selectOptimalModel(c, models)).fromCache).toBe(false)
    // the second call hits in Rust and fills the JS memo; the third is served by the memo
    expect((await r.selectOptimalModel(c, models)).fromCache).toBe(true)
    expect((await r.selectOptimalModel(c, models)).fromCache).toBe(true)
    expect(r.getRouterStats().cache.hitRate).toBeCloseTo(2 / 3, 5)
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect((await r.selectOptimalModel(c, models)).fromCache).toBe(false)
    expect((await r.selectOptimalModel(c, models)).fromCache).toBe(true)
  })

  test('long tasks (over 1 KB, keyed by digest) hit only on the identical text', async () => {
    const r = make()
    const models = defaultModels()
    const long = 'x'.repeat(50_000)
    expect((await r.selectOptimalModel(ctx({ task: long + 'a' }), models)).fromCache).toBe(false)
    expect((await r.selectOptimalModel(ctx({ task: long + 'a' }), models)).fromCache).toBe(true)
    expect((await r.selectOptimalModel(ctx({ task: long + 'b' }), models)).fromCache).toBe(false)
    expect((await r.selectOptimalModel(ctx({ task: long + 'a', userTier: 'free' }), models)).fromCache).toBe(false)
  })

  test('rules strategy: reproducible with a seed, never above the tier, balances load', async () => {
    const run = async () => {
      const r = make({ strategy: 'rules', seed: 99 })
      const out = []
      for (let i = 0; i < 60; i++) {
        const d = await r.selectOptimalModel(ctx({ task: `request ${i} with code`, userTier: 'pro' }), defaultModels())
        expect(['free', 'pro']).toContain(defaultModels().get(d.modelName).tier)
        expect(d.reason).toMatch(/^Rules pipeline: score=/)
        out.push(d.modelName)
      }
      return out
    }
    const a = await run()
    expect(await run()).toEqual(a)
    expect(new Set(a).size).toBeGreaterThan(1)
  })

  test('rules strategy uses custom JS rules', async () => {
    const r = make({ strategy: 'rules', seed: 1 })
    r.addRule({
      id: 'vip',
      name: 'VIP',
      condition: (c) => c.task.startsWith('VIP'),
      modelPreference: ['gemini-2.0-flash'],
      weight: 100,
      active: true,
    })
    for (const rule of r.getRules()) if (rule.id !== 'vip') r.addRule({ ...rule, active: false })
    const d = await r.selectOptimalModel(ctx({ task: 'VIP please', userTier: 'free' }), defaultModels())
    expect(d.modelName).toBe('gemini-2.0-flash')
  })

  test('apiKey and other secrets never reach stats, events or exports', async () => {
    const r = make()
    const seen = []
    for (const e of ['routing_decision', 'performance_metrics', 'model_performance_updated', 'fallback_triggered'])
      r.on(e, (p) => seen.push(p))
    const models = defaultModels()
    for (let i = 0; i < 12; i++) await r.selectOptimalModel(ctx({ task: `t${i}` }), models)
    r.recordPerformance('gemini-2.5-pro', 10, true, 1)
    await r.selectFallbackModel('gemini-2.5-pro', ctx(), models, 'x')
    const dump = JSON.stringify([seen, r.getRouterStats(), r.getPerformanceData(), r.getModelUsageStats(), r.getRules()])
    expect(dump).not.toMatch(/SECRET|sk-|https:\/\/x/)
  })

  test('no timer keeps the process alive: a child that routes exits by itself', () => {
    const script = `
      const { ModelRouter } = require(${JSON.stringify(path.join(root, 'index.cjs'))})
      const r = new ModelRouter()
      r.selectOptimalModel({ task: 't', userTier: 'free', priority: 'low', latencyRequirement: 100 },
        new Map([['m', { name: 'm', tier: 'free', capabilities: [], latencyTarget: 5, costPerToken: 0, maxTokens: 1 }]]))
        .then((d) => console.log(d.modelName))`
    const out = execFileSync(process.execPath, ['-e', script], { timeout: 20000 }).toString()
    expect(out.trim()).toBe('m')
  })

  test('shutdown releases the router; later calls fail with ERR_SHUT_DOWN', async () => {
    const r = new ModelRouter()
    await r.selectOptimalModel(ctx(), defaultModels())
    r.shutdown()
    r.shutdown() // idempotent
    await expect(r.selectOptimalModel(ctx(), defaultModels())).rejects.toMatchObject({ code: 'ERR_SHUT_DOWN' })
  })

  test('ESM import and require both work through the package entry points', () => {
    const esm = `import { ModelRouter, CacheManager, PerformanceMonitor } from 'model-router-native'
      console.log(typeof ModelRouter, typeof CacheManager, typeof PerformanceMonitor)`
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', esm], { cwd: root, timeout: 20000 }).toString()
    expect(out.trim()).toBe('function function function')
    const cjs = `const m = require('model-router-native'); console.log(typeof m.ModelRouter)`
    expect(execFileSync(process.execPath, ['-e', cjs], { cwd: root, timeout: 20000 }).toString().trim()).toBe('function')
  })
})

describe('parity with the legacy: fallbacks leave the Map alone, rule changes apply at once, stable ordering, refused strings, shutdown', () => {
  test('selectFallbackModel does not mark the Map it is given available (the contract), like the legacy', async () => {
    const models = new Map([
      ['a', config('a', 'free', [], 500, 1e-7)],
      ['b', config('b', 'free', [], 500, 1e-7)],
    ])
    const c = ctx({ userTier: 'free', task: 't' })
    for (const [R, opts] of [
      [LegacyRouter, undefined],
      [ModelRouter, { tierPolicy: 'legacy' }],
    ]) {
      const r = new R(opts)
      await expect(r.selectFallbackModel('a', c, models, 'timeout')).rejects.toThrow('No models available for fallback')
      await r.selectOptimalModel(ctx({ userTier: 'free', task: 'u' }), new Map([['a', config('a', 'free', [], 500, 1e-7)]]))
      expect((await r.selectFallbackModel('a', c, models, 'timeout')).modelName).toBe('a') // b was never marked
      expect(r.getRouterStats().availability).toMatchObject({ total: 1, available: 1 })
      r.shutdown ? r.shutdown() : r.dispose()
    }
  })

  test('rules strategy: adding or removing a rule changes the next decision at once (no stale cache)', async () => {
    const r = make({ strategy: 'rules', seed: 7 })
    const models = new Map([
      ['gemini-2.0-flash', config('gemini-2.0-flash', 'free', [], 500, 1e-7)],
      ['other', config('other', 'free', [], 500, 1e-7)],
    ])
    for (const rule of r.getRules()) r.addRule({ ...rule, active: false })
    const vip = (pref) => ({ id: 'vip', name: 'VIP', condition: () => true, modelPreference: [pref], weight: 100, active: true })
    r.addRule(vip('other'))
    const c = ctx({ userTier: 'free', priority: 'low', latencyRequirement: 5000, task: 'hello' })
    expect((await r.selectOptimalModel(c, models)).modelName).toBe('other')
    expect((await r.selectOptimalModel(c, models)).fromCache).toBe(true)
    r.addRule(vip('gemini-2.0-flash'))
    expect(await r.selectOptimalModel(c, models)).toMatchObject({ modelName: 'gemini-2.0-flash', fromCache: false })
  })

  test('getPerformanceData and getRouterStats list models in first-recorded order', () => {
    for (let run = 0; run < 5; run++) {
      const r = make()
      const order = ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.0-flash', 'x', 'y', 'z']
      for (const n of order) r.recordPerformance(n, 100, true, 0.001)
      expect(r.getPerformanceData().map((p) => p.modelName)).toEqual(order)
      expect(r.getRouterStats().models.map((m) => m.name)).toEqual(order)
      r.shutdown()
    }
  })

  test('strings with a lone surrogate (model names, capabilities, rules) are a TypeError naming the field', async () => {
    const r = make()
    const bad = '\uD800'
    await expect(r.selectOptimalModel(ctx(), new Map([[bad, config(bad, 'free', [], 500, 1e-7)]]))).rejects.toThrow(TypeError)
    await expect(r.selectOptimalModel(ctx(), new Map([['m', config('m', 'free', [bad], 500, 1e-7)]]))).rejects.toThrow(/capabilities\[0\]/)
    await expect(r.selectOptimalModel(ctx({ capabilities: [bad] }), defaultModels())).rejects.toThrow(/context\.capabilities\[0\]/)
    const rule = { id: bad, name: 'n', condition: () => true, modelPreference: ['m'], weight: 1, active: true }
    expect(() => r.addRule(rule)).toThrow(/rule\.id/)
    expect(() => r.addRule({ ...rule, id: 'ok', modelPreference: [bad] })).toThrow(/rule\.modelPreference\[0\]/)
    expect((await r.selectOptimalModel(ctx(), defaultModels())).modelName).toBeDefined() // still usable
  })

  test('names with a lone surrogate are a TypeError on every method that takes one', async () => {
    const r = make()
    const bad = '\uD800'
    expect(() => r.removeRule(bad)).toThrow(/\bid\b/)
    expect(() => r.updateModelAvailability(bad, false)).toThrow(/modelName/)
    expect(() => r.updateBatchAvailability(new Map([[bad, false]]))).toThrow(/updates key/)
    expect(() => r.recordPerformance(bad, 100, true, 0.001)).toThrow(/modelName/)
    await expect(r.selectFallbackModel(bad, ctx(), defaultModels(), 'x')).rejects.toThrow(/originalModel/)
  })

  test('after shutdown() every getter throws ERR_SHUT_DOWN', () => {
    const r = make()
    r.shutdown()
    for (const get of ['getRoutingPerformance', 'getRouterStats', 'getModelUsageStats', 'getPerformanceData', 'getRules']) {
      expect(() => r[get]()).toThrow(expect.objectContaining({ code: 'ERR_SHUT_DOWN' }))
    }
  })

  test('optimizeBasedOnPerformance reads numeric strings as the legacy comparisons do', async () => {
    const confidence = async (avgLatency) => {
      const r = make()
      r.optimizeBasedOnPerformance({ avgLatency })
      const d = await r.selectOptimalModel(ctx({ task: 'Write a function to sort a list' }), defaultModels())
      r.shutdown()
      return d.confidence
    }
    expect(await confidence('3000')).toBe(await confidence(3000))
    expect(await confidence(3000)).not.toBe(await confidence(0))
  })
})

describe('parity with the legacy: key order, expired entries, the timer, optimizeBasedOnPerformance, copies', () => {
  // the router's interval faked; promise jobs and its routing clock stay real
  const TIMERS_ONLY = { doNotFake: ['performance', 'nextTick', 'queueMicrotask', 'setImmediate'] }

  test('stats and performance records have the legacy key order (JSON output matches)', async () => {
    const r = make()
    const legacy = new LegacyRouter()
    try {
      for (const router of [r, legacy]) {
        await router.selectOptimalModel(ctx(), defaultModels())
        router.recordPerformance('gemini-2.5-flash', 700, true, 0.001)
      }
      const keys = (router) => {
        const s = router.getRouterStats()
        return [
          Object.keys(s),
          Object.keys(s.cache),
          Object.keys(s.availability),
          Object.keys(s.models[0].performance),
          Object.keys(router.getPerformanceData()[0]),
        ]
      }
      expect(keys(r)).toEqual(keys(legacy))
    } finally {
      legacy.dispose()
    }
  })

  test('an expired routing-cache entry stays until the 5-minute purge, as in the legacy', async () => {
    jest.useFakeTimers(TIMERS_ONLY)
    try {
      const r = make({ cacheTtlMs: 0 }) // every entry is expired at its next lookup
      await r.selectOptimalModel(ctx(), defaultModels())
      const again = await r.selectOptimalModel(ctx(), defaultModels())
      expect(again.fromCache).toBe(false)
      await r.selectOptimalModel(ctx({ task: 'another task' }), defaultModels())
      expect(r.getRouterStats().cache.size).toBe(2)
      jest.advanceTimersByTime(9 * 30_000) // the 30 s timer, nine times: no purge yet
      expect(r.getRouterStats().cache.size).toBe(2)
      jest.advanceTimersByTime(30_000) // 5 minutes: the purge
      expect(r.getRouterStats().cache.size).toBe(0)
    } finally {
      jest.useRealTimers()
    }
  })

  test('a throwing performance_metrics listener throws from the timer, as in the legacy; the router goes on', async () => {
    jest.useFakeTimers(TIMERS_ONLY)
    try {
      const r = make()
      r.once('performance_metrics', () => {
        throw new Error('listener failed')
      })
      expect(() => jest.advanceTimersByTime(30_000)).toThrow('listener failed')
      const seen = []
      r.on('performance_metrics', (p) => seen.push(p.cacheHitRate))
      jest.advanceTimersByTime(30_000)
      expect(seen).toEqual([0])
      expect((await r.selectOptimalModel(ctx(), defaultModels())).modelName).toBeTruthy()
    } finally {
      jest.useRealTimers()
    }
  })

  test('optimizeBasedOnPerformance reads its fields as the legacy compares them; null or undefined data is a TypeError', async () => {
    // weights shift the scores (with these models a shift changes the confidence): a fresh
    // task's decision shows whether the data moved them, on both sides
    const decide = async (router, data) => {
      router.optimizeBasedOnPerformance(data)
      return router.selectOptimalModel(
        ctx({ task: `task ${JSON.stringify(String(data.avgLatency))}${JSON.stringify(String(data.recentFailures))}` }),
        defaultModels(),
      )
    }
    const cases = [
      { avgLatency: [3000] },
      { avgLatency: new Date(5000) },
      { recentFailures: { valueOf: () => 9 } },
      { recentFailures: '7' },
      { avgLatency: 'slow' },
      { recentFailures: [1, 2] },
      { recentFailures: Object(10n) },
      { recentFailures: { valueOf: () => 10n } },
    ]
    for (const data of cases) {
      const r = make()
      const legacy = new LegacyRouter()
      try {
        const [n, l] = [await decide(r, data), await decide(legacy, data)]
        expect([n.modelName, n.confidence]).toEqual([l.modelName, l.confidence])
      } finally {
        legacy.dispose()
      }
    }
    // the legacy applies the failures shift, then throws comparing the Symbol: so does native
    {
      const r = make()
      const legacy = new LegacyRouter()
      try {
        for (const router of [r, legacy])
          expect(() => router.optimizeBasedOnPerformance({ recentFailures: 10, avgLatency: Symbol('x') })).toThrow(TypeError)
        const [n, l] = [await decide(r, {}), await decide(legacy, {})]
        expect([n.modelName, n.confidence]).toEqual([l.modelName, l.confidence])
      } finally {
        legacy.dispose()
      }
    }
    const r = make()
    expect(() => r.optimizeBasedOnPerformance(undefined)).toThrow(TypeError)
    expect(() => r.optimizeBasedOnPerformance(null)).toThrow(/data must be an object/)
  })

  test('deviation: rules, records and stats are copies (the legacy handed out its live objects)', async () => {
    const r = make()
    r.getRules()[0].weight = 99
    expect(r.getRules()[0].weight).not.toBe(99)
    r.recordPerformance('gemini-2.5-flash', 700, true, 0.001)
    const record = r.getPerformanceData()[0]
    r.recordPerformance('gemini-2.5-flash', 700, true, 0.001)
    expect(record.usageCount).toBe(1)
    expect(r.getPerformanceData()[0].usageCount).toBe(2)
    // the legacy's record is its live state
    const legacy = new LegacyRouter()
    legacy.recordPerformance('gemini-2.5-flash', 700, true, 0.001)
    const live = legacy.getPerformanceData()[0]
    legacy.recordPerformance('gemini-2.5-flash', 700, true, 0.001)
    expect(live.usageCount).toBe(2)
    legacy.dispose()
  })
})
