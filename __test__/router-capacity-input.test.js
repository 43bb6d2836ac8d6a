// strategy "adaptive": every capacity option and field rejects bad input with a TypeError or
// RangeError whose message names it, and applies nothing.
const { ModelRouter } = require('model-router-native')
const { ctx, adaptiveRouters } = require('./fixtures/adaptive-router')

const make = adaptiveRouters()
const models = (extra = {}) =>
  new Map([['m', { name: 'm', tier: 'pro', capabilities: ['code'], latencyTarget: 300, costPerToken: 1e-6, maxTokens: 100000, ...extra }]])

/** The error `fn` throws or rejects with. */
async function errorOf(fn) {
  try {
    await fn()
  } catch (e) {
    return e
  }
  throw new Error('expected an error')
}
function expectNamed(err, type, name) {
  expect(err).toBeInstanceOf(type)
  expect(err.message).toContain(name)
}

describe('bad input names the option or field', () => {
  test.each([
    ['maxSessions', 'x', TypeError],
    ['maxSessions', 0, RangeError],
    ['maxSessions', 1.5, RangeError],
    ['maxSessions', 2_000_000, RangeError],
    ['sessionIdleMs', '1', TypeError],
    ['sessionIdleMs', -1, RangeError],
    ['sessionIdleMs', NaN, RangeError],
    ['sessionAffinity', 'yes', TypeError],
    ['sessionAffinity', 1, TypeError],
    ['estimateTokens', 5, TypeError],
    ['defaultOutputTokens', 'x', TypeError],
    ['defaultOutputTokens', -1, RangeError],
  ])('options.%s = %p', async (option, value, type) => {
    const err = await errorOf(() => new ModelRouter({ strategy: 'adaptive', [option]: value }))
    expectNamed(err, type, `options.${option}`)
  })

  test.each([
    ['rpm', '5', TypeError],
    ['rpm', 0, RangeError],
    ['rpm', Infinity, RangeError],
    ['tpm', null, TypeError],
    ['tpm', -3, RangeError],
    ['tpm', NaN, RangeError],
  ])('ModelConfig.%s = %p', async (field, value, type) => {
    const r = make()
    const err = await errorOf(() => r.selectOptimalModel(ctx(), models({ [field]: value })))
    expectNamed(err, type, `availableModels.get("m").${field}`)
    const fallback = await errorOf(() => r.selectFallbackModel('m', ctx(), models({ [field]: value }), 'timeout'))
    expectNamed(fallback, type, `.${field}`)
  })

  test.each([
    ['sessionId', 42, TypeError],
    ['sessionId', '\ud800', TypeError],
    ['budgetKey', 7, TypeError],
    ['budgetKey', '\udc00x', TypeError],
  ])('context.%s = %p, in selectOptimalModel and explain', async (field, value, type) => {
    const r = make()
    for (const call of [
      () => r.selectOptimalModel(ctx({ [field]: value }), models()),
      () => r.explain(ctx({ [field]: value }), models()),
    ]) {
      expectNamed(await errorOf(call), type, `context.${field}`)
    }
    // nothing was routed or reserved
    expect(r.getModelHealth().every((h) => h.inFlight === 0)).toBe(true)
  })

  test.each([
    [{ scope: 'team', limit: 1, windowMs: 1 }, TypeError, 'budget.scope'],
    [{ scope: 'model', limit: 1, windowMs: 1 }, TypeError, 'budget.name'],
    [{ scope: 'key', name: 5, limit: 1, windowMs: 1 }, TypeError, 'budget.name'],
    [{ scope: 'global', name: 'x', limit: 1, windowMs: 1 }, TypeError, 'budget.name'],
    [{ scope: 'global', limit: '1', windowMs: 1 }, TypeError, 'budget.limit'],
    [{ scope: 'global', limit: -1, windowMs: 1 }, RangeError, 'budget.limit'],
    [{ scope: 'global', limit: Infinity, windowMs: 1 }, RangeError, 'budget.limit'],
    [{ scope: 'global', limit: 1 }, TypeError, 'budget.windowMs'],
    [{ scope: 'global', limit: 1, windowMs: 0 }, RangeError, 'budget.windowMs'],
    [null, TypeError, 'budget'],
  ])('setBudget(%p)', (budget, type, name) => {
    const r = make()
    let err
    try {
      r.setBudget(budget)
    } catch (e) {
      err = e
    }
    expectNamed(err, type, name)
    expect(r.getBudgets()).toEqual([])
  })

  test('estimateTokens results', async () => {
    for (const [bad, type] of [
      ['7', TypeError],
      [-1, RangeError],
      [Infinity, RangeError],
    ]) {
      const r = make({ estimateTokens: () => bad })
      expectNamed(await errorOf(() => r.selectOptimalModel(ctx(), models())), type, 'options.estimateTokens()')
      expectNamed(await errorOf(() => r.selectFallbackModel('m', ctx(), models(), 'timeout')), type, 'options.estimateTokens()')
    }
  })
})
