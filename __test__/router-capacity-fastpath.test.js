// strategy "adaptive": repeated contexts (routing-cache hits the drop-in layer admits without
// asking Rust) stay within quotas and budgets exactly as decisions made in Rust do, and keep
// session affinity; in virtual time.
const { ctx, adaptiveRouters } = require('./fixtures/adaptive-router')

const make = adaptiveRouters()

function config(name, latencyTarget, extra = {}) {
  return { name, tier: 'pro', capabilities: ['code'], latencyTarget, costPerToken: 1e-6, maxTokens: 100000, ...extra }
}
// 31 characters: 11 input tokens; tokenBudget 89 → 100 tokens reserved per decision
const c = (over = {}) => ctx({ tokenBudget: 89, ...over })

async function route(r, m, n, over) {
  const names = []
  for (let i = 0; i < n; i++) {
    r.clock.t += 10
    names.push((await r.selectOptimalModel(c(over), m)).modelName)
  }
  return names
}
const count = (names, name) => names.filter((n) => n === name).length

describe('repeated contexts within quotas and budgets', () => {
  test('rpm: exactly the quota goes to the top model in a window, then the next', async () => {
    const r = make()
    const m = new Map([
      ['top', config('top', 300, { rpm: 40 })],
      ['next', config('next', 500)],
    ])
    const names = await route(r, m, 100)
    expect(names.slice(0, 40)).toEqual(Array(40).fill('top'))
    expect(count(names, 'top')).toBe(40)
    r.clock.t += 60000
    expect(count(await route(r, m, 10), 'top')).toBe(10)
  })

  test('tpm: as many 100-token reservations as fit', async () => {
    const r = make()
    const m = new Map([
      ['top', config('top', 300, { tpm: 2550 })],
      ['next', config('next', 500)],
    ])
    expect(count(await route(r, m, 60), 'top')).toBe(25)
  })

  test('a settlement above its estimate, still buffered, counts before the next hit', async () => {
    const r = make()
    const m = new Map([
      ['top', config('top', 300, { tpm: 1000 })],
      ['next', config('next', 500)],
    ])
    const d = await r.selectOptimalModel(c(), m)
    expect(d.modelName).toBe('top')
    // 100 reserved, 850 used: 850 held; one more 100 fits (950), a second does not
    r.reportOutcome(d, { ok: true, latencyMs: 100, inputTokens: 50, outputTokens: 800 })
    expect(await route(r, m, 3)).toEqual(['top', 'next', 'next'])
  })

  test('a key budget: repeated contexts under the key go to the top model while it fits, then the cheaper one; other keys are not under it', async () => {
    const r = make()
    const m = new Map([
      ['top', config('top', 300)], // 100 tokens × 1e-6: 1e-4 a decision
      ['next', config('next', 500, { costPerToken: 1e-7 })],
    ])
    r.setBudget({ scope: 'key', name: 'k', limit: 3.5e-4, windowMs: 60000 })
    const names = await route(r, m, 6, { budgetKey: 'k' })
    expect(names).toEqual(['top', 'top', 'top', 'next', 'next', 'next'])
    expect(await route(r, m, 2, { budgetKey: 'other' })).toEqual(['top', 'top'])
  })

  test('budgets: the top model until its budget is spent, then the cheaper one; the key’s budget holds every model', async () => {
    const r = make()
    const m = new Map([
      ['top', config('top', 300, { costPerToken: 1e-3 })],
      ['cheap', config('cheap', 500, { costPerToken: 1e-4 })],
    ])
    // a decision on top reserves 0.1, on cheap 0.01
    r.setBudget({ scope: 'model', name: 'top', limit: 0.45, windowMs: 60000 })
    const names = await route(r, m, 10)
    expect(names.slice(0, 4)).toEqual(Array(4).fill('top'))
    expect(count(names, 'top')).toBe(4)
    r.setBudget({ scope: 'key', name: 'team', limit: 0.035, windowMs: 60000 })
    const keyed = await Promise.all(
      [0, 1, 2, 3, 4].map(() =>
        r.selectOptimalModel(c({ budgetKey: 'team' }), m).then(
          (d) => d.modelName,
          (e) => e.code,
        ),
      ),
    )
    expect(keyed).toEqual(['cheap', 'cheap', 'cheap', 'ERR_BUDGET_EXCEEDED', 'ERR_BUDGET_EXCEEDED'])
    const [top, key] = r.getBudgets()
    expect(top.spent).toBeCloseTo(0.4, 12)
    expect(key.spent).toBeCloseTo(0.03, 12)
  })

  test('a session moves at once when its model cools, stays through the cooldown, then returns home, on repeated contexts', async () => {
    const r = make()
    const m = new Map([
      ['top', config('top', 300)],
      ['next', config('next', 500)],
    ])
    const first = await r.selectOptimalModel(c({ sessionId: 's' }), m)
    expect(first.modelName).toBe('top')
    r.reportOutcome(first, { ok: false, errorType: 'rate_limit', statusCode: 429, latencyMs: 10, retryAfterMs: 1000 })
    const moved = await r.selectOptimalModel(c({ sessionId: 's' }), m)
    expect(moved.modelName).toBe('next')
    r.reportOutcome(moved, { ok: true, latencyMs: 100 })
    // while top cools down the session stays on next
    expect(await route(r, m, 3, { sessionId: 's' })).toEqual(Array(3).fill('next'))
    r.clock.t += 5000 // top has recovered: the session returns to its home model
    const back = await route(r, m, 5, { sessionId: 's' })
    expect(back).toEqual(Array(5).fill('top'))
    const d = await r.selectOptimalModel(c({ sessionId: 's' }), m)
    expect(d.reason).toBe('Adaptive: the session’s model (affinity)')
    expect(d.fromCache).toBe(true)
    expect((await r.selectOptimalModel(c({ sessionId: 'other' }), m)).modelName).toBe('top')
  })

  test('another Map of the same config objects on every call: repeated contexts are still served without asking Rust', async () => {
    // the binding the layer calls (the same module instance), wrapped to count routing calls
    const { native } = require('../dist/native.js')
    const names = ['routerSelect', 'routerSelectPlain', 'routerPickCached']
    const saved = names.map((n) => native[n])
    let calls = 0
    for (const [k, n] of names.entries()) {
      native[n] = (...a) => {
        calls++
        return saved[k](...a)
      }
    }
    try {
      const r = make()
      const top = config('top', 300, { rpm: 1000 })
      const next = config('next', 500)
      const fresh = () =>
        new Map([
          ['top', top],
          ['next', next],
        ])
      await route(r, fresh(), 2) // a miss, then the hit that memoizes the entry
      const before = calls
      expect(before).toBeGreaterThan(0) // the wrapper counts: the miss crossed
      const names2 = []
      for (let i = 0; i < 5; i++) names2.push(...(await route(r, fresh(), 1, { sessionId: 's' })))
      expect(names2).toEqual(Array(5).fill('top'))
      expect(calls).toBe(before)
    } finally {
      for (const [k, n] of names.entries()) native[n] = saved[k]
    }
  })
})
