// strategy "adaptive": model quotas (rpm, tpm) through the public API, in virtual time. A model
// whose next request would exceed its quota in any 60 s window is skipped like a cooling model.
const { ModelRouter } = require('model-router-native')
const { ctx, adaptiveRouters } = require('./fixtures/adaptive-router')

function config(name, latencyTarget, extra = {}) {
  return { name, tier: 'pro', capabilities: ['code'], latencyTarget, costPerToken: 1e-6, maxTokens: 100000, ...extra }
}

const make = adaptiveRouters()

describe('rpm', () => {
  test('the top model takes its quota per 60 s window, repeats served from the memo included', async () => {
    const r = make()
    const m = new Map([
      ['top', config('top', 300, { rpm: 3 })],
      ['next', config('next', 500)],
    ])
    const names = []
    for (let i = 0; i < 6; i++) {
      r.clock.t += 100
      const d = await r.selectOptimalModel(ctx(), m)
      r.reportOutcome(d, { ok: true, latencyMs: 200 })
      names.push(d.modelName)
    }
    expect(names).toEqual(['top', 'top', 'top', 'next', 'next', 'next'])
    r.clock.t = 1100 + 60000 // the first request leaves the window
    expect((await r.selectOptimalModel(ctx(), m)).modelName).toBe('top')
  })

  test('every model over quota: ERR_NO_HEALTHY_MODEL with retryAfterMs under reject; explain() says quota', async () => {
    const r = make({ whenNoneHealthy: 'reject' })
    const m = new Map([
      ['top', config('top', 300, { rpm: 1 })],
      ['next', config('next', 500, { rpm: 1 })],
    ])
    await r.selectOptimalModel(ctx(), m)
    r.clock.t += 1000
    await r.selectOptimalModel(ctx(), m)
    r.clock.t += 1000
    const err = await r.selectOptimalModel(ctx(), m).catch((e) => e)
    expect(err.code).toBe('ERR_NO_HEALTHY_MODEL')
    expect(err.retryAfterMs).toBe(58000)
    const e = await r.explain(ctx(), m)
    expect(e.candidates.map((c) => [c.excludedBy, c.untilMs])).toEqual([
      ['quota', 61000],
      ['quota', 62000],
    ])
  })
})

describe('tpm', () => {
  test('a decision reserves input + tokenBudget; reportOutcome settles it with the real tokens', async () => {
    const r = make()
    const m = new Map([
      ['top', config('top', 300, { tpm: 2000 })],
      ['next', config('next', 500)],
    ])
    const d1 = await r.selectOptimalModel(ctx({ tokenBudget: 1400 }), m)
    expect(d1.modelName).toBe('top')
    const d2 = await r.selectOptimalModel(ctx({ tokenBudget: 1400 }), m)
    expect(d2.modelName).toBe('next')
    r.reportOutcome(d1, { ok: true, latencyMs: 100, inputTokens: 100, outputTokens: 200 })
    expect((await r.selectOptimalModel(ctx({ tokenBudget: 1400 }), m)).modelName).toBe('top')
  })

  test('without a tokenBudget, defaultOutputTokens is reserved', async () => {
    const r = make({ defaultOutputTokens: 100 })
    const m = new Map([
      ['top', config('top', 300, { tpm: 250 })],
      ['next', config('next', 500)],
    ])
    // 11 tokens of input + 100: two fit in 250, the third does not
    const names = []
    for (let i = 0; i < 3; i++) names.push((await r.selectOptimalModel(ctx(), m)).modelName)
    expect(names).toEqual(['top', 'top', 'next'])
  })
})

describe('bad input', () => {
  test('rpm, tpm and defaultOutputTokens are checked, naming the field', async () => {
    const r = make()
    for (const [bad, type] of [
      ['5', TypeError],
      [0, RangeError],
      [-1, RangeError],
      [Infinity, RangeError],
      [NaN, RangeError],
    ]) {
      const m = new Map([['top', config('top', 300, { rpm: bad })]])
      const err = await r.selectOptimalModel(ctx(), m).catch((e) => e)
      expect(err).toBeInstanceOf(type)
      expect(err.message).toMatch(/availableModels\.get\("top"\)\.rpm/)
      const m2 = new Map([['top', config('top', 300, { tpm: bad })]])
      expect((await r.selectOptimalModel(ctx(), m2).catch((e) => e)).message).toMatch(/\.tpm/)
    }
    expect(() => new ModelRouter({ strategy: 'adaptive', defaultOutputTokens: -1 })).toThrow(RangeError)
    expect(() => new ModelRouter({ strategy: 'adaptive', defaultOutputTokens: 'x' })).toThrow(/options\.defaultOutputTokens/)
  })

  test('a quota edited in place on a config is seen on the next call; what was sent still counts', async () => {
    const r = make()
    const top = config('top', 300, { rpm: 100 })
    const m = new Map([
      ['top', top],
      ['next', config('next', 500)],
    ])
    for (let i = 0; i < 3; i++) expect((await r.selectOptimalModel(ctx(), m)).modelName).toBe('top')
    top.rpm = 3
    expect((await r.selectOptimalModel(ctx(), m)).modelName).toBe('next')
    top.rpm = 4
    expect((await r.selectOptimalModel(ctx(), m)).modelName).toBe('top')
    expect((await r.selectOptimalModel(ctx(), m)).modelName).toBe('next')
  })
})
