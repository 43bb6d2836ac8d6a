// strategy "adaptive": context windows. No decision names a model whose maxTokens is below the
// request's estimated input tokens plus its tokenBudget; through the public API, in virtual time.
const { ModelRouter } = require('model-router-native')
const { ctx, adaptiveRouters } = require('./fixtures/adaptive-router')

function config(name, latencyTarget, maxTokens) {
  return { name, tier: 'pro', capabilities: ['code'], latencyTarget, costPerToken: 1e-6, maxTokens }
}
/** The legacy ranks them small, medium, large for the context below (small is the fastest). */
function models() {
  return new Map([
    ['small', config('small', 400, 1000)],
    ['medium', config('medium', 600, 4000)],
    ['large', config('large', 900, 100000)],
  ])
}

const make = adaptiveRouters()

describe('the default estimate', () => {
  test('a short task goes to the best-ranked model, a long one past every too-small window', async () => {
    const r = make()
    const m = models()
    expect((await r.selectOptimalModel(ctx(), m)).modelName).toBe('small')
    // 3 ASCII characters count one token: 3 × 2000 characters estimate 2000 tokens
    const long = ctx({ task: 'x'.repeat(6000) })
    for (let i = 0; i < 4; i++) {
      // repeats are served from the memo and the routing cache: still never "small"
      r.clock.t += 10
      expect((await r.selectOptimalModel(long, m)).modelName).toBe('medium')
    }
  })

  test('the tokenBudget counts: the estimate plus the budget must fit', async () => {
    const r = make()
    const m = models()
    const task = 'y'.repeat(300) // 100 tokens
    expect((await r.selectOptimalModel(ctx({ task, tokenBudget: 900 }), m)).modelName).toBe('small')
    expect((await r.selectOptimalModel(ctx({ task, tokenBudget: 901 }), m)).modelName).toBe('medium')
    expect((await r.selectOptimalModel(ctx({ task, tokenBudget: 3901 }), m)).modelName).toBe('large')
  })

  test('non-ASCII text counts a token per character', async () => {
    const r = make()
    // 1500 CJK characters: 1500 tokens (the small window holds 1000)
    expect((await r.selectOptimalModel(ctx({ task: '中'.repeat(1500) }), models())).modelName).toBe('medium')
  })

  test('a model cooling does not open a too-small window: the large one is named as the closest', async () => {
    const r = make()
    const m = models()
    r.reportOutcome('large', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 30000 })
    const d = await r.selectOptimalModel(ctx({ task: 'z'.repeat(15000) }), m)
    expect(d.modelName).toBe('large')
    expect(d.reason).toMatch(/clears soonest/)
  })

  test('a config whose maxTokens is edited in place is seen on the next call', async () => {
    const r = make()
    const m = models()
    const task = 'w'.repeat(1500) // 500 tokens
    for (let i = 0; i < 3; i++) expect((await r.selectOptimalModel(ctx({ task }), m)).modelName).toBe('small')
    m.get('small').maxTokens = 400
    expect((await r.selectOptimalModel(ctx({ task }), m)).modelName).toBe('medium')
  })
})

describe('when no window holds the request', () => {
  test('ERR_NO_ELIGIBLE_MODEL says the context window excluded everything, with the tokens needed', async () => {
    const r = make()
    const err = await r.selectOptimalModel(ctx({ task: 'q'.repeat(300), tokenBudget: 200000 }), models()).catch((e) => e)
    expect(err.code).toBe('ERR_NO_ELIGIBLE_MODEL')
    expect(err.excludedBy).toBe('context_window')
    expect(err.requiredTokens).toBe(200100)
    expect(err.message).toMatch(/context window/)
  })

  test('no model of the tier is still the plain ERR_NO_ELIGIBLE_MODEL', async () => {
    const r = make()
    const err = await r.selectOptimalModel(ctx({ userTier: 'free' }), models()).catch((e) => e)
    expect(err.code).toBe('ERR_NO_ELIGIBLE_MODEL')
    expect(err.excludedBy).toBeUndefined()
  })
})

describe('estimateTokens', () => {
  test('replaces the default estimate, once per new request', async () => {
    const seen = []
    const r = make({ estimateTokens: (task) => (seen.push(task), task.startsWith('big') ? 5000 : 10) })
    const m = models()
    expect((await r.selectOptimalModel(ctx({ task: 'big one' }), m)).modelName).toBe('large')
    expect((await r.selectOptimalModel(ctx({ task: 'tiny one' }), m)).modelName).toBe('small')
    const before = seen.length
    for (let i = 0; i < 3; i++) expect((await r.selectOptimalModel(ctx({ task: 'big one' }), m)).modelName).toBe('large')
    // repeats are served from the memo: the estimator is not asked again for each
    expect(seen.length - before).toBeLessThan(3)
  })

  test('is not read by the legacy strategy, whose decisions stay the legacy’s', async () => {
    let calls = 0
    const r = new ModelRouter({ estimateTokens: () => (calls++, 1e9) })
    make.track(r)
    expect((await r.selectOptimalModel(ctx(), models())).modelName).toBeDefined()
    expect(calls).toBe(0)
  })

  test('bad option and bad results are a TypeError/RangeError naming it', async () => {
    expect(() => new ModelRouter({ strategy: 'adaptive', estimateTokens: 5 })).toThrow(TypeError)
    expect(() => new ModelRouter({ strategy: 'adaptive', estimateTokens: 'x' })).toThrow(/options\.estimateTokens/)
    for (const [bad, type] of [
      ['7', TypeError],
      [undefined, TypeError],
      [-1, RangeError],
      [NaN, RangeError],
      [Infinity, RangeError],
    ]) {
      const r = make({ estimateTokens: () => bad })
      const err = await r.selectOptimalModel(ctx(), models()).catch((e) => e)
      expect(err).toBeInstanceOf(type)
      expect(err.message).toMatch(/options\.estimateTokens\(\)/)
    }
  })
})
