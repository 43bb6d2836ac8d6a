// The router sees every change of the caller's availableModels Map, however it is made (its
// own methods, Map.prototype called directly, a frozen Map), and leaves the Map untouched.
const { ModelRouter } = require('model-router-native')

const config = (name) => ({ name, tier: 'free', capabilities: [], latencyTarget: 500, costPerToken: 1e-6, maxTokens: 100_000 })
const context = { task: 'summarise the meeting notes', userTier: 'free', priority: 'medium', latencyRequirement: 2000 }

/** Routes `context` until the decision is served from the routing cache (the fast path). */
async function routeCached(router, models) {
  for (let i = 0; i < 3; i++) {
    const d = await router.selectOptimalModel(context, models)
    if (d.fromCache) return d
  }
  throw new Error('no routing-cache hit after three calls')
}

describe('changes of the availableModels Map', () => {
  let router
  beforeEach(() => {
    router = new ModelRouter({ seed: 1 })
  })
  afterEach(() => router.shutdown())

  test('an entry removed through Map.prototype.delete directly is never chosen again', async () => {
    const models = new Map([
      ['a', config('a')],
      ['b', config('b')],
    ])
    const first = await routeCached(router, models)
    Map.prototype.delete.call(models, first.modelName)
    const next = await router.selectOptimalModel(context, models)
    expect(models.has(next.modelName)).toBe(true)
  })

  test('an entry added through Map.prototype.set directly is routed to', async () => {
    const models = new Map([['a', config('a')]])
    await routeCached(router, models)
    Map.prototype.delete.call(models, 'a')
    Map.prototype.set.call(models, 'c', config('c'))
    expect((await router.selectOptimalModel(context, models)).modelName).toBe('c')
  })

  test("the caller's Map is left untouched: no property added, its methods its own", async () => {
    const models = new Map([['a', config('a')]])
    await routeCached(router, models)
    expect(Reflect.ownKeys(models)).toEqual([])
    expect(models.set).toBe(Map.prototype.set)
    expect(models.delete).toBe(Map.prototype.delete)
  })

  test('an entry replaced under the same name is routed with its new config', async () => {
    const models = new Map([['a', config('a')]])
    await routeCached(router, models)
    Map.prototype.set.call(models, 'a', { ...config('a'), tier: 'enterprise' })
    await expect(router.selectOptimalModel(context, models)).rejects.toMatchObject({ code: 'ERR_NO_ELIGIBLE_MODEL' })
  })

  test('a frozen Map is walked on every call: removals and replacements are seen', async () => {
    const models = Object.freeze(
      new Map([
        ['a', config('a')],
        ['b', config('b')],
      ]),
    )
    const first = await routeCached(router, models)
    models.delete(first.modelName)
    expect(models.has((await router.selectOptimalModel(context, models)).modelName)).toBe(true)
    const other = [...models.keys()][0]
    models.set(other, { ...config(other), tier: 'enterprise' })
    await expect(router.selectOptimalModel(context, models)).rejects.toMatchObject({ code: 'ERR_NO_ELIGIBLE_MODEL' })
  })
})
