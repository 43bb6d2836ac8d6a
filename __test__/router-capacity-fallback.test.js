// strategy "adaptive": the fallback paths (selectFallbackModel, the emergency fallback) name
// only a model with room for the request — within its quota, its budgets and its context
// window — in virtual time. Under the other strategies they stay the legacy's.
const { ModelRouter } = require('model-router-native')
const { ctx, adaptiveRouters } = require('./fixtures/adaptive-router')

const make = adaptiveRouters()

function config(name, latencyTarget, extra = {}) {
  return { name, tier: 'pro', capabilities: ['code'], latencyTarget, costPerToken: 1e-6, maxTokens: 100000, ...extra }
}
/**
 * The pro tier's fallback list starts with gemini-2.5-flash, then gemini-2.0-flash-thinking;
 * selectFallbackModel's first strategy (same tier, shared capabilities) takes the Map's first
 * model other than the original. Flash also ranks first for the context (fastest).
 */
function models(flash = {}) {
  return new Map([
    ['gemini-2.5-flash', config('gemini-2.5-flash', 300, flash)],
    ['gemini-2.0-flash-thinking', config('gemini-2.0-flash-thinking', 1500)],
    ['gemini-2.5-pro', config('gemini-2.5-pro', 2500)],
  ])
}
function markAvailable(r, m) {
  for (const name of m.keys()) r.updateModelAvailability(name, true)
}
const fallback = (r, m, c = ctx()) => r.selectFallbackModel('gemini-2.5-pro', c, m, 'timeout').then((d) => d.modelName)

describe('selectFallbackModel', () => {
  test('passes over a model over its quota, and its pick counts against the quota', async () => {
    const r = make()
    const m = models({ rpm: 1 })
    markAvailable(r, m)
    expect(await fallback(r, m)).toBe('gemini-2.5-flash')
    r.clock.t += 1000
    expect(await fallback(r, m)).toBe('gemini-2.0-flash-thinking')
    r.clock.t = 1000 + 60000 // the first pick leaves the window
    expect(await fallback(r, m)).toBe('gemini-2.5-flash')
  })

  test('passes over a model whose window does not hold the request', async () => {
    const r = make()
    const m = models({ maxTokens: 500 })
    markAvailable(r, m)
    expect(await fallback(r, m, ctx({ tokenBudget: 100 }))).toBe('gemini-2.5-flash')
    expect(await fallback(r, m, ctx({ tokenBudget: 1000 }))).toBe('gemini-2.0-flash-thinking')
  })

  test('passes over a model that would exceed a budget; none fits: ERR_BUDGET_EXCEEDED', async () => {
    const r = make()
    const m = models()
    markAvailable(r, m)
    // 11 input + 989 output tokens × 1e-6 = 0.001 per decision
    r.setBudget({ scope: 'model', name: 'gemini-2.5-flash', limit: 0.0015, windowMs: 60000 })
    const c = ctx({ tokenBudget: 989 })
    expect(await fallback(r, m, c)).toBe('gemini-2.5-flash')
    expect(await fallback(r, m, c)).toBe('gemini-2.0-flash-thinking')
    r.setBudget({ scope: 'key', name: 'team', limit: 0.0005, windowMs: 60000 })
    const err = await fallback(r, m, ctx({ tokenBudget: 989, budgetKey: 'team' })).catch((e) => e)
    expect(err.code).toBe('ERR_BUDGET_EXCEEDED')
    // the first budget the first model would exceed (as a routing call names it)
    expect(err.budget).toEqual({ scope: 'model', name: 'gemini-2.5-flash' })
    await expect(fallback(r, m, ctx({ budgetKey: 7 }))).rejects.toThrow(/context\.budgetKey/)
  })

  test('every model over quota: ERR_NO_HEALTHY_MODEL with when the soonest clears', async () => {
    const r = make()
    const m = new Map([...models()].map(([k, v]) => [k, { ...v, rpm: 1 }]))
    markAvailable(r, m)
    await fallback(r, m)
    r.clock.t += 1000
    await fallback(r, m)
    r.clock.t += 1000
    // the original itself is the last resort (strategy 4)
    expect(await fallback(r, m)).toBe('gemini-2.5-pro')
    r.clock.t += 1000
    const err = await fallback(r, m).catch((e) => e)
    expect(err.code).toBe('ERR_NO_HEALTHY_MODEL')
    expect(err.retryAfterMs).toBe(57000)
  })

  test('other strategies keep the legacy fallback (quotas are not read)', async () => {
    const r = make.track(new ModelRouter())
    const m = models({ rpm: 1, maxTokens: 10 })
    markAvailable(r, m)
    for (let i = 0; i < 3; i++) expect(await fallback(r, m, ctx({ tokenBudget: 1000 }))).toBe('gemini-2.5-flash')
  })
})

describe('the emergency fallback', () => {
  /** A router whose routing_decision listener throws: every routed miss becomes the emergency fallback. */
  function throwing(opts) {
    const r = make(opts)
    r.on('routing_decision', () => {
      throw new Error('listener failed')
    })
    return r
  }

  test('does not name the model the decision just took the last request of', async () => {
    const r = throwing()
    const d = await r.selectOptimalModel(ctx(), models({ rpm: 1 }))
    expect(d.reason).toMatch(/^Emergency fallback: listener failed/)
    expect(d.modelName).toBe('gemini-2.0-flash-thinking')
    // the legacy strategy names the tier list's first model
    const legacy = make.track(new ModelRouter())
    legacy.on('routing_decision', () => {
      throw new Error('listener failed')
    })
    expect((await legacy.selectOptimalModel(ctx(), models({ rpm: 1 }))).modelName).toBe('gemini-2.5-flash')
  })

  test('does not name a model whose window is too small', async () => {
    const r = throwing()
    // 600 characters: 200 input tokens; flash holds 100
    const d = await r.selectOptimalModel(ctx({ task: 'x'.repeat(600) }), models({ maxTokens: 100 }))
    expect(d.reason).toMatch(/^Emergency fallback/)
    expect(d.modelName).toBe('gemini-2.0-flash-thinking')
  })

  test('does not name a model that would exceed a budget', async () => {
    const r = throwing()
    r.setBudget({ scope: 'model', name: 'gemini-2.5-flash', limit: 0.0015, windowMs: 60000 })
    // the decision reserves 0.001 of flash's 0.0015; a second 0.001 would not fit
    const d = await r.selectOptimalModel(ctx({ tokenBudget: 989 }), models())
    expect(d.reason).toMatch(/^Emergency fallback/)
    expect(d.modelName).toBe('gemini-2.0-flash-thinking')
    expect(r.getBudgets()[0].spent).toBeCloseTo(0.001, 9)
  })

  test('no model with room: the call rejects as a routing call would', async () => {
    const r = throwing()
    r.setBudget({ scope: 'key', name: 'team', limit: 0.0015, windowMs: 60000 })
    const err = await r.selectOptimalModel(ctx({ tokenBudget: 989, budgetKey: 'team' }), models()).catch((e) => e)
    expect(err.code).toBe('ERR_BUDGET_EXCEEDED')
    expect(err.budget).toEqual({ scope: 'key', name: 'team' })
  })
})
