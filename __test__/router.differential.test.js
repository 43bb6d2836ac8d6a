// Differential test: the native router with `strategy: "legacy"` against the TypeScript port
// of the legacy router (legacy/, written from the contract), step for step on 10,000+
// seeded random contexts, model sets and performance/availability updates.
//
// The native router fixes the contract's defects. Each fix is reproduced on the port as a
// small named patch (FIXES below): the port with every fix must decide exactly as the native
// router does. Every difference between the plain legacy port and native is then named: for
// each fix, a port with all fixes but that one runs in lockstep, and the decisions it gets
// wrong are counted under that fix's name.
const { ModelRouter } = require('model-router-native')
const { ModelRouter: LegacyRouter } = require('model-router-legacy-ports')

const STEPS = Number(process.env.DIFF_STEPS || 10_000)

// the benchmark workload's seeded PRNG (mulberry32)
const { rng } = require('model-router-legacy-ports')

const { MODEL_NAMES: NAMES, routerWorkload } = require('./fixtures/router-workload')

function makeGen(seed) {
  const r = rng(seed)
  const { pick, context, config, models } = routerWorkload(r, { longTaskChance: 0.05, longTaskExtraWords: 1200, tasksKept: 200 })
  return { r, pick, context, config, models }
}

/** The contract's deviations, applied to a legacy port instance. */
const FIXES = {
  'routing-cache key covers every field (no collisions)': (legacy) => {
    legacy.generateCacheKey = (c) =>
      JSON.stringify([c.task, c.userTier, c.priority, c.latencyRequirement, c.tokenBudget ?? null, c.capabilities ?? null])
  },
  'each task analysed from its whole text and own capabilities': (legacy) => {
    legacy.getComplexityAnalysis = (c) => legacy.analyzeTaskComplexity(c.task, c.capabilities)
  },
  'moving averages start from the first sample': (legacy) => {
    const record = legacy.recordPerformance.bind(legacy)
    legacy.recordPerformance = (name, latency, success, cost, usage) => {
      const fresh = !legacy.getPerformanceData().some((p) => p.modelName === name)
      record(name, latency, success, cost, usage)
      if (fresh) {
        const p = legacy.getPerformanceData().find((q) => q.modelName === name)
        p.avgLatency = latency
        p.avgCost = cost
      }
    }
  },
  'explicit unavailability holds': (legacy) => {
    // step 1 clears the availability map and marks every model available: keep explicit marks
    const m = legacy.modelAvailability
    let refilling = false
    m.clear = () => {
      refilling = true
    }
    const set = Map.prototype.set
    m.set = function (k, v) {
      if (refilling && this.has(k)) return this
      return set.call(this, k, v)
    }
    const get = Map.prototype.get
    m.get = function (k) {
      refilling = false
      return get.call(this, k)
    }
  },
  'a cached decision is used only while its model is eligible': (legacy) => {
    let current = new Map()
    const select = legacy.selectOptimalModel.bind(legacy)
    legacy.selectOptimalModel = (c, models) => {
      current = models
      return select(c, models)
    }
    const cache = legacy.routingCache
    const get = Map.prototype.get
    cache.get = function (k) {
      const e = get.call(this, k)
      if (e === undefined) return undefined
      const name = e.decision.modelName
      if (current.has(name) && legacy.modelAvailability.get(name) === true) return e
      // dropped, so it cannot come back once the model returns (its config may have changed)
      this.delete(k)
      legacy.lruOrder.splice(legacy.lruOrder.indexOf(k), 1)
      return undefined
    }
  },
}

function legacyWith(fixNames) {
  const legacy = new LegacyRouter()
  for (const name of fixNames) FIXES[name](legacy)
  return legacy
}

const pickFields = (d) => ({ modelName: d.modelName, confidence: d.confidence, reason: d.reason, fromCache: d.fromCache })

describe('native legacy strategy vs the legacy port', () => {
  jest.setTimeout(300_000)

  test(`identical decisions on ${STEPS} seeded steps, every difference named`, async () => {
    const gen = makeGen(20261127)
    const native = new ModelRouter({ tierPolicy: 'legacy' })
    const allFixes = Object.keys(FIXES)
    const fixed = legacyWith(allFixes)
    const plain = legacyWith([])
    const allButOne = allFixes.map((name) => [name, legacyWith(allFixes.filter((n) => n !== name))])
    const routers = [fixed, plain, ...allButOne.map(([, l]) => l)]

    const differences = Object.fromEntries(allFixes.map((n) => [n, 0]))
    let plainDiffers = 0
    let hits = 0
    let models = gen.models()
    let steps = 0
    while (steps < STEPS) {
      const roll = gen.r()
      if (roll < 0.02) {
        models = gen.models() // a new Map
      } else if (roll < 0.04) {
        const name = gen.pick(NAMES) // the same Map, mutated
        if (models.has(name) && models.size > 1 && gen.r() < 0.5) models.delete(name)
        else models.set(name, gen.config(name))
      } else if (roll < 0.1) {
        const name = gen.pick([...models.keys()])
        const args = [name, gen.pick([200, 900, 3000, 12000]), gen.r() < 0.8, gen.pick([0, 0.001, 0.02])]
        native.recordPerformance(...args)
        for (const l of routers) l.recordPerformance(...args)
      } else if (roll < 0.13) {
        const name = gen.pick(NAMES)
        const available = gen.r() < 0.6
        native.updateModelAvailability(name, available)
        for (const l of routers) l.updateModelAvailability(name, available)
      } else if (roll < 0.14) {
        const updates = new Map(NAMES.filter(() => gen.r() < 0.3).map((n) => [n, gen.r() < 0.7]))
        native.updateBatchAvailability(updates)
        for (const l of routers) l.updateBatchAvailability(updates)
      } else {
        const context = gen.context()
        const got = pickFields(await native.selectOptimalModel(context, models))
        const want = pickFields(await fixed.selectOptimalModel(context, models))
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(
            `step ${steps}: native ${JSON.stringify(got)} != legacy+fixes ${JSON.stringify(want)} for ${JSON.stringify(context)} with ${JSON.stringify([...models.keys()])}`,
          )
        }
        if (got.fromCache) hits++
        const p = pickFields(await plain.selectOptimalModel(context, models))
        if (JSON.stringify(p) !== JSON.stringify(got)) plainDiffers++
        for (const [name, l] of allButOne) {
          const d = pickFields(await l.selectOptimalModel(context, models))
          if (JSON.stringify(d) !== JSON.stringify(got)) differences[name]++
        }
        steps++
      }
    }
    for (const l of routers) l.dispose()
    native.shutdown()
    // printed for the README's table
    console.log(
      `differential: ${steps} decisions identical to legacy+fixes (${hits} cache hits); ` +
        `the plain legacy port differs on ${plainDiffers}; decisions each fix changes: ${JSON.stringify(differences)}`,
    )
    expect(hits).toBeGreaterThan(steps * 0.1)
    // every fix changes some decisions in this stream, so each patch above is exercised
    for (const name of allFixes) expect(differences[name]).toBeGreaterThan(0)
    expect(plainDiffers).toBeGreaterThan(0)
  })
})
