// strategy "adaptive": spending budgets (setBudget, getBudgets, context.budgetKey) through the
// public API, in virtual time.
const { ModelRouter } = require('model-router-native')
const { adaptiveRouters } = require('./fixtures/adaptive-router')

function config(name, latencyTarget, costPerToken) {
  return { name, tier: 'pro', capabilities: ['code'], latencyTarget, costPerToken, maxTokens: 100000 }
}
/** "pricey" ranks first for the context below; "cheap" costs a tenth. */
function models() {
  return new Map([
    ['pricey', config('pricey', 300, 1e-3)],
    ['mid', config('mid', 400, 5e-4)],
    ['cheap', config('cheap', 500, 1e-4)],
  ])
}
// 31 ASCII characters: 11 tokens of input; tokenBudget 989 → 1000 tokens reserved
const ctx = (over = {}) => ({
  task: 'Write a function to sort a list',
  userTier: 'pro',
  priority: 'high',
  latencyRequirement: 2000,
  tokenBudget: 989,
  ...over,
})

const make = adaptiveRouters()

describe('budgets', () => {
  test('a decision reserves its estimated cost; when the best model would overspend, the cheapest that fits', async () => {
    const r = make()
    const m = models()
    r.setBudget({ scope: 'global', limit: 1.5, windowMs: 60000 })
    const d1 = await r.selectOptimalModel(ctx(), m) // pricey: 1.0 reserved
    expect(d1.modelName).toBe('pricey')
    expect(r.getBudgets()).toEqual([{ scope: 'global', limit: 1.5, windowMs: 60000, spent: 1, remaining: 0.5, resetsAtMs: 61000 }])
    const d2 = await r.selectOptimalModel(ctx(), m) // pricey would overspend: mid (0.5) and cheap (0.1) fit, cheap first
    expect(d2.modelName).toBe('cheap')
    // the outcomes settle with the real cost
    r.reportOutcome(d1, { ok: true, latencyMs: 100, cost: 0.2 })
    r.reportOutcome(d2, { ok: true, latencyMs: 100, inputTokens: 10, outputTokens: 90 }) // 100 tokens × 1e-4
    const [b] = r.getBudgets()
    expect(b.spent).toBeCloseTo(0.21, 10)
    expect((await r.selectOptimalModel(ctx(), m)).modelName).toBe('pricey')
  })

  test('none fits: ERR_BUDGET_EXCEEDED naming the budget and when it resets; the next window starts again', async () => {
    const r = make()
    const m = models()
    r.setBudget({ scope: 'key', name: 'team-a', limit: 0.05, windowMs: 10000 })
    const err = await r.selectOptimalModel(ctx({ budgetKey: 'team-a' }), m).catch((e) => e)
    expect(err.code).toBe('ERR_BUDGET_EXCEEDED')
    expect(err.budget).toEqual({ scope: 'key', name: 'team-a' })
    expect(err.resetsAtMs).toBe(11000)
    expect(err.retryAfterMs).toBe(10000)
    expect(err.message).toMatch(/key "team-a" budget/)
    // other keys and no key are not under it
    expect((await r.selectOptimalModel(ctx({ budgetKey: 'team-b' }), m)).modelName).toBe('pricey')
    expect((await r.selectOptimalModel(ctx(), m)).modelName).toBe('pricey')
    // a smaller request fits the cheap model
    expect((await r.selectOptimalModel(ctx({ budgetKey: 'team-a', tokenBudget: 89 }), m)).modelName).toBe('cheap')
  })

  test('a model budget applies to that model only', async () => {
    const r = make()
    const m = models()
    r.setBudget({ scope: 'model', name: 'pricey', limit: 1, windowMs: 60000 })
    const turn = async () => {
      const d = await r.selectOptimalModel(ctx(), m)
      r.reportOutcome(d, { ok: true, latencyMs: 100 }) // no cost, no tokens: the estimate stays spent
      return d.modelName
    }
    expect(await turn()).toBe('pricey')
    expect(await turn()).toBe('cheap')
    r.clock.t += 60000
    expect(await turn()).toBe('pricey')
  })

  test('spend never exceeds a budget by more than the reservations that fitted when made (random traffic)', async () => {
    const r = make()
    const m = models()
    r.setBudget({ scope: 'global', limit: 3, windowMs: 60000 })
    let seed = 7
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
    const price = { pricey: 1e-3, mid: 5e-4, cheap: 1e-4 }
    for (let i = 0; i < 200; i++) {
      r.clock.t += 50
      const tokenBudget = Math.floor(rand() * 3000)
      const d = await r.selectOptimalModel(ctx({ tokenBudget }), m).catch((e) => e)
      if (d instanceof Error) {
        expect(d.code).toBe('ERR_BUDGET_EXCEEDED')
        continue
      }
      // settle at most the estimate (a conservative estimate's usual case)
      const estimate = price[d.modelName] * (11 + tokenBudget)
      if (rand() < 0.7) r.reportOutcome(d, { ok: true, latencyMs: 100, cost: rand() * estimate })
      const [b] = r.getBudgets()
      expect(b.spent).toBeLessThanOrEqual(b.limit + 1e-9)
    }
  })

  test('bad input is a TypeError/RangeError naming the field; other strategies have no budgets', async () => {
    const r = make()
    expect(() => r.setBudget(null)).toThrow(/budget/)
    expect(() => r.setBudget({ scope: 'team', limit: 1, windowMs: 1 })).toThrow(/budget\.scope/)
    expect(() => r.setBudget({ scope: 'key', limit: 1, windowMs: 1 })).toThrow(/budget\.name/)
    expect(() => r.setBudget({ scope: 'global', name: 'x', limit: 1, windowMs: 1 })).toThrow(/budget\.name/)
    expect(() => r.setBudget({ scope: 'global', limit: -1, windowMs: 1 })).toThrow(RangeError)
    expect(() => r.setBudget({ scope: 'global', limit: '1', windowMs: 1 })).toThrow(/budget\.limit/)
    expect(() => r.setBudget({ scope: 'global', limit: 1, windowMs: 0 })).toThrow(/budget\.windowMs/)
    await expect(r.selectOptimalModel(ctx({ budgetKey: 5 }), models())).rejects.toThrow(/context\.budgetKey/)
    const legacy = new ModelRouter()
    make.track(legacy)
    expect(() => legacy.setBudget({ scope: 'global', limit: 1, windowMs: 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_UNSUPPORTED_STRATEGY' }),
    )
  })
})
