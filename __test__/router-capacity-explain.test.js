// explain(context, models): what selectOptimalModel would decide now, every model's part in it,
// and nothing reserved or changed; through the public API, in virtual time.
const { ModelRouter } = require('model-router-native')
const { ctx, adaptiveRouters } = require('./fixtures/adaptive-router')

function config(name, latencyTarget, maxTokens, tier = 'pro') {
  return { name, tier, capabilities: ['code'], latencyTarget, costPerToken: 1e-6, maxTokens }
}
function models() {
  return new Map([
    ['small', config('small', 400, 1000)],
    ['medium', config('medium', 600, 4000)],
    ['large', config('large', 900, 100000)],
    ['top', config('top', 300, 100000, 'enterprise')],
  ])
}

const make = adaptiveRouters()
const byName = (e, n) => e.candidates.find((c) => c.modelName === n)

describe('explain', () => {
  test('names the model the next decision names, with every model and why', async () => {
    const r = make()
    const m = models()
    r.reportOutcome('medium', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 20000 })
    const task = 'x'.repeat(3 * 1500) // 1500 tokens: small (1000) is too small
    const e = await r.explain(ctx({ task }), m)
    expect(e.requiredTokens).toBe(1500)
    expect(e.candidates.map((c) => c.modelName)).toEqual(['small', 'medium', 'large', 'top'])
    expect(byName(e, 'top')).toMatchObject({ kept: false, excludedBy: 'tier', chosen: false })
    expect(byName(e, 'small')).toMatchObject({ kept: false, excludedBy: 'context_window' })
    expect(byName(e, 'medium')).toMatchObject({ kept: false, excludedBy: 'rate_limited', untilMs: 21000, state: 'rate_limited' })
    const large = byName(e, 'large')
    expect(large).toMatchObject({ kept: true, chosen: true, state: 'healthy', latencyEstimateMs: 900, inFlight: 0, meetsDeadline: true })
    expect(large.excludedBy).toBeUndefined()
    expect(Object.keys(large.score).sort()).toEqual(['complexity', 'cost', 'latency', 'reliability', 'total'])
    expect(large.score.total).toBeGreaterThan(0)
    expect(e.decision).toEqual({ modelName: 'large', confidence: 0.9, reason: 'Adaptive: best-ranked healthy model' })
    const d = await r.selectOptimalModel(ctx({ task }), m)
    expect(d.modelName).toBe('large')
  })

  test('reserves nothing: no call in flight, no cache access, no decision id', async () => {
    const r = make()
    const m = models()
    await r.selectOptimalModel(ctx(), m)
    const before = r.getModelHealth().map((h) => h.inFlight)
    const stats = r.getCacheStats ? r.getCacheStats() : undefined
    for (let i = 0; i < 5; i++) {
      r.clock.t += 10
      expect((await r.explain(ctx(), m)).decision.modelName).toBe('small')
    }
    expect(r.getModelHealth().map((h) => h.inFlight)).toEqual(before)
    if (stats !== undefined) expect(r.getCacheStats()).toEqual(stats)
    // the in-flight count of the router grows only with real decisions
    await r.selectOptimalModel(ctx(), m)
    expect(byName(await r.explain(ctx(), m), 'small').inFlight).toBe(2)
  })

  test('says when a routing call would reject, and why', async () => {
    const r = make({ whenNoneHealthy: 'reject' })
    const m = models()
    const tooBig = await r.explain(ctx({ tokenBudget: 500000 }), m)
    expect(tooBig.decision).toBeUndefined()
    expect(tooBig.error.code).toBe('ERR_NO_ELIGIBLE_MODEL')
    expect(tooBig.error.excludedBy).toBe('context_window')
    for (const n of ['small', 'medium', 'large']) r.reportOutcome(n, { ok: false, latencyMs: 10, status: 429, retryAfterMs: 5000 })
    const cooling = await r.explain(ctx(), m)
    expect(cooling.error.code).toBe('ERR_NO_HEALTHY_MODEL')
    expect(cooling.error.retryAfterMs).toBe(5000)
    expect(cooling.candidates.filter((c) => c.excludedBy === 'rate_limited').length).toBe(3)
  })

  test('bad input is a TypeError naming the field; other strategies reject with ERR_UNSUPPORTED_STRATEGY', async () => {
    const r = make()
    await expect(r.explain({ ...ctx(), task: 5 }, models())).rejects.toThrow(/context\.task/)
    await expect(r.explain({ ...ctx(), retryCount: -1 }, models())).rejects.toThrow(RangeError)
    const legacy = new ModelRouter()
    make.track(legacy)
    await expect(legacy.explain(ctx(), models())).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_STRATEGY' })
  })
})
