// Differential test, part two: what router.differential.test.js does not compare.
//
// The native router (`strategy: "legacy"`, with both tier policies) runs in lockstep with the
// TypeScript port of the legacy router (legacy/, written from the contract) on seeded
// random streams that interleave selectOptimalModel with addRule / removeRule / getRules,
// selectFallbackModel, recordPerformance, availability updates, getRoutingPerformance,
// getRouterStats, getModelUsageStats, getPerformanceData, optimizeBasedOnPerformance, the
// 30 s timer, and event listeners that throw. After every operation both sides must return
// the same thing (or fail with the same message and code) and must have emitted the same
// events, in the same order, with the same payloads.
//
// Excluded from every comparison, because they measure wall time: `routingTime` (decisions,
// `fallback_triggered`), `averageRoutingTime` / `maxRoutingTime` / `p95RoutingTime` /
// `targetMet` (`performance_metrics`), `averageTime` / `p95Time` / `targetMet`
// (getRoutingPerformance, getRouterStats().performance), `timestamp` (availability events),
// `lastUsed` (performance records), and the `routing_slow` event as a whole (emitted only
// when a decision took over 75 ms).
//
// Compared too, since this test found them different and they were fixed: the key order of
// every returned object and payload (results are compared as JSON text), and when expired
// routing-cache entries leave (at the 5 min purge, not at their lookup).
//
// The contract's documented deviations are reproduced on the port as named patches
// (PORT_PATCHES, STRICT_TIER_PATCH), as router.differential.test.js does for decisions.
//
// Time: Jest's fake timers drive both routers' intervals and the port's Date.now(). The
// native routing cache runs on a monotonic clock inside Rust that fake timers cannot reach,
// so expiry is made deterministic at its two ends instead: with the default 5 min TTL no
// native entry expires during the test while the port's clock is held still; with
// `cacheTtlMs: 0` every native entry is expired at its next lookup while the port's clock
// jumps 5 minutes before every request.
const { ModelRouter } = require('model-router-native')
const { ModelRouter: LegacyPort } = require('model-router-legacy-ports')
// the benchmark workload's seeded PRNG (mulberry32)
const { rng } = require('model-router-legacy-ports')

/** Lockstep operations in the main stream (the expiry stream runs a quarter of them). */
const STEPS = Number(process.env.DIFF_STEPS || 12000)

const TICK_MS = 30_000
const CACHE_TTL_MS = 5 * 60_000

const { MODEL_NAMES, routerWorkload } = require('./fixtures/router-workload')
const TIER_LEVEL = { free: 0, pro: 1, enterprise: 2 }
const DEFAULT_RULE_IDS = ['critical-tasks', 'enterprise-tier', 'low-latency', 'code-tasks', 'large-context', 'free-tier', 'deep-reasoning']
/** The contract's step-5 fallback lists, needed by the strict-tier patch. */
const TIER_FALLBACK_LISTS = {
  enterprise: ['gemini-2.5-pro', 'gemini-pro-vertex', 'gemini-2.0-flash-thinking', 'gemini-2.0-flash'],
  pro: ['gemini-2.5-flash', 'gemini-2.0-flash-thinking', 'gemini-2.0-flash'],
  free: ['gemini-2.0-flash', 'gemini-2.5-flash'],
}
const EVENT_NAMES = [
  'routing_decision',
  'routing_slow',
  'performance_metrics',
  'fallback_triggered',
  'model_performance_updated',
  'model_availability_changed',
  'batch_availability_update',
]

// ---------------------------------------------------------------- seeded generators

/** Random contexts, model sets, outcomes, rules and metric data from one seed. */
function makeWorkload(seed) {
  const r = rng(seed)
  const chance = (p) => r() < p
  const { pick, subset, context, config, models } = routerWorkload(r, { longTaskChance: 0.04, longTaskExtraWords: 900, tasksKept: 150 })
  const tokenUsage = () => {
    if (chance(0.5)) return undefined
    const total = pick([0, 10, 100, 4000])
    const output = Math.floor(r() * (total + 1))
    return { input: total - output, output, total }
  }
  // what callers pass: the monitor's getMetrics() (no field the router reads), or hand-built
  // objects whose fields are numbers, numeric strings or junk
  const optimizeData = () =>
    pick([
      () => ({}),
      () => ({ orchestration_latency: { mean: 2500, median: 2400, p95: 4000, p99: 5000, min: 1, max: 6000, count: 9, stddev: 3 } }),
      () => ({ recentFailures: pick([0, 5, 6, 10, '7', 'none', undefined, NaN]) }),
      () => ({ avgLatency: pick([0, 2000, 2001, 5000, '2500', 'slow', undefined, NaN]) }),
      () => ({ recentFailures: pick([3, 6, 12]), avgLatency: pick([1500, 2500, 9000]) }),
    ])()
  const ruleId = () => pick([...DEFAULT_RULE_IDS, 'custom-a', 'custom-b', 'custom-c', 'custom-d'])
  const ruleSpec = () => ({
    id: ruleId(),
    name: pick(['Vision first', 'Batch jobs', 'Night shift', '']),
    conditionKind: pick(Object.keys(CONDITION_KINDS)),
    modelPreference: subset([...MODEL_NAMES, 'not-a-model'], 0.3),
    weight: pick([-1, 0, 0.5, 3, 7, 10, 11]),
    active: chance(0.7),
  })
  const reason = () => pick(['timeout', 'rate limited', 'HTTP 503', ''])
  return { r, pick, chance, subset, context, config, models, tokenUsage, optimizeData, ruleId, ruleSpec, reason }
}

/** Conditions for added rules; each side gets its own instance so calls can be counted per side. */
const CONDITION_KINDS = {
  'high priority': (c) => c.priority === 'high',
  'wants vision': (c) => (c.capabilities || []).includes('vision'),
  'long task': (c) => c.task.length > 80,
  'tight latency': (c) => c.latencyRequirement > 0 && c.latencyRequirement < 1500,
  always: () => true,
  throws: () => {
    throw new Error('condition failed')
  },
}

// ---------------------------------------------------------------- the port, with the fixes

/**
 * The documented deviations, applied to a port instance. `state` holds what the patches
 * share: the Map and context of the request being routed, and the hit/miss counts.
 */
const PORT_PATCHES = {
  'routing-cache key covers every field (no collisions)': (port) => {
    port.generateCacheKey = (c) =>
      JSON.stringify([c.task, c.userTier, c.priority, c.latencyRequirement, c.tokenBudget ?? null, c.capabilities ?? null])
  },
  'each task analysed from its whole text and own capabilities': (port) => {
    port.getComplexityAnalysis = (c) => port.analyzeTaskComplexity(c.task, c.capabilities)
  },
  'moving averages start from the first sample': (port) => {
    const record = port.recordPerformance.bind(port)
    port.recordPerformance = (name, latency, success, cost, tokenUsage) => {
      if (port.modelPerformance.has(name)) return record(name, latency, success, cost, tokenUsage)
      // fixed before model_performance_updated reports the record (the payload is that record)
      const emit = port.emit
      port.emit = function (event, payload, ...rest) {
        if (event === 'model_performance_updated') {
          payload.performance.avgLatency = latency
          payload.performance.avgCost = cost
        }
        return emit.call(this, event, payload, ...rest)
      }
      try {
        return record(name, latency, success, cost, tokenUsage)
      } finally {
        port.emit = emit
      }
    }
  },
  'explicit unavailability holds': (port) => {
    // step 1 is clear() then set(name, true) per key: keep every existing mark instead
    const availability = port.modelAvailability
    let refilling = false
    availability.clear = () => {
      refilling = true
    }
    availability.set = function (name, available) {
      if (refilling && Map.prototype.has.call(this, name)) return this
      return Map.prototype.set.call(this, name, available)
    }
    availability.get = function (name) {
      refilling = false // step 1 is over once anything reads availability
      return Map.prototype.get.call(this, name)
    }
  },
  'a cached decision is used only while its model is eligible': (port, state) => {
    const cache = port.routingCache
    cache.get = function (key) {
      // native rejects an empty Map before it looks anything up (and keeps the entry)
      if (state.models.size === 0) return undefined
      const entry = Map.prototype.get.call(this, key)
      // an expired entry is not served anyway: it stays until replaced or purged, as native
      const expired = entry !== undefined && Date.now() - entry.timestamp >= CACHE_TTL_MS
      if (entry === undefined || expired || state.eligibleForCache(entry.decision.modelName)) return entry
      // dropped, as native does: it cannot come back once the model returns with another config
      this.delete(key)
      port.lruOrder.splice(port.lruOrder.indexOf(key), 1)
      return undefined
    }
  },
  'cache hit rate is hits / (hits + misses)': (port, state) => {
    const lookup = port.routingCache.get
    port.routingCache.get = function (key) {
      const entry = lookup.call(this, key)
      // native rejects an empty Map before looking anything up
      if (state.models.size > 0) {
        if (entry !== undefined && Date.now() - entry.timestamp < CACHE_TTL_MS) state.hits++
        else state.misses++
      }
      return entry
    }
    port.legacyCacheHitRate = () => {
      const lookups = state.hits + state.misses
      return lookups === 0 ? 0 : state.hits / lookups
    }
  },
  // README: errors carry a stable `code` (the messages are the legacy's)
  'errors carry ERR_NO_MODELS / ERR_NO_ELIGIBLE_MODEL codes': (port) => {
    const withCode = (error, models) => {
      if (error && error.code === undefined) {
        if (error.message === 'No models available') error.code = 'ERR_NO_MODELS'
        if (error.message === 'No models available for fallback') error.code = models.size === 0 ? 'ERR_NO_MODELS' : 'ERR_NO_ELIGIBLE_MODEL'
      }
      return error
    }
    const select = port.selectOptimalModel.bind(port)
    port.selectOptimalModel = (c, models) => select(c, models).catch((e) => Promise.reject(withCode(e, models)))
    const fallback = port.selectFallbackModel.bind(port)
    port.selectFallbackModel = (original, c, models, why) =>
      fallback(original, c, models, why).catch((e) => Promise.reject(withCode(e, models)))
  },
}

/** Native's default `tierPolicy: "strict"`: no fallback or cached decision above the user's tier. */
const STRICT_TIER_PATCH = (port, state) => {
  state.strict = true
  const level = (tier) => TIER_LEVEL[tier] ?? 0
  const allowed = (name, models, userTier) =>
    models.has(name) && port.modelAvailability.get(name) === true && level(models.get(name).tier) <= level(userTier)
  // steps 5 and 9: the tier's list, then any allowed model of the Map, else ERR_NO_ELIGIBLE_MODEL
  port.getFallbackByTier = (userTier, models) => {
    if (models.size === 0) throw new Error('No models available')
    for (const name of TIER_FALLBACK_LISTS[userTier] || TIER_FALLBACK_LISTS.free) if (allowed(name, models, userTier)) return name
    for (const name of models.keys()) if (allowed(name, models, userTier)) return name
    const error = new Error(`No available model is allowed for userTier ${JSON.stringify(userTier)}`)
    error.code = 'ERR_NO_ELIGIBLE_MODEL'
    throw error
  }
  // selectFallbackModel: every strategy reads availability only, so a model above the user's
  // tier is made to read as unavailable for the duration of the call
  const fallback = port.selectFallbackModel.bind(port)
  port.selectFallbackModel = (original, c, models, why) => {
    const real = port.modelAvailability
    port.modelAvailability = {
      get: (name) => real.get(name) === true && models.has(name) && level(models.get(name).tier) <= level(c.userTier),
    }
    try {
      return fallback(original, c, models, why) // the port's body runs synchronously
    } finally {
      port.modelAvailability = real
    }
  }
}

function makePort({ strict }) {
  const port = new LegacyPort()
  const state = {
    models: new Map(),
    context: undefined,
    hits: 0,
    misses: 0,
    strict: false,
    eligibleForCache(name) {
      if (!this.models.has(name) || port.modelAvailability.get(name) !== true) return false
      return !this.strict || (TIER_LEVEL[this.models.get(name).tier] ?? 0) <= (TIER_LEVEL[this.context.userTier] ?? 0)
    },
  }
  for (const apply of Object.values(PORT_PATCHES)) apply(port, state)
  if (strict) STRICT_TIER_PATCH(port, state)
  // outermost: the patches above read the request being routed
  const select = port.selectOptimalModel.bind(port)
  port.selectOptimalModel = (c, models) => {
    state.models = models
    state.context = c
    return select(c, models)
  }
  return port
}

// ---------------------------------------------------------------- comparison helpers

/** A deep copy in the same key order (compared as JSON text: the order counts). */
function canonical(value) {
  if (value instanceof Date) return '<Date>'
  if (Array.isArray(value)) return value.map(canonical)
  if (value !== null && typeof value === 'object') {
    const out = {}
    for (const key of Object.keys(value)) out[key] = canonical(value[key])
    return out
  }
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN'
  return value
}

const without = (object, keys) => {
  const copy = { ...object }
  for (const key of keys) delete copy[key]
  return copy
}
const withoutTiming = {
  routing_decision: (d) => without(d, ['routingTime']),
  fallback_triggered: (p) => without(p, ['routingTime']),
  performance_metrics: (p) => without(p, ['averageRoutingTime', 'maxRoutingTime', 'p95RoutingTime', 'targetMet']),
  model_availability_changed: (p) => without(p, ['timestamp']),
  batch_availability_update: (p) => without(p, ['timestamp']),
  model_performance_updated: (p) => ({ ...p, performance: performanceRecord(p.performance) }),
}
const decisionFields = (d) => without(d, ['routingTime'])
const performanceRecord = (p) => without(p, ['lastUsed'])
const routingPerformance = (p) => without(p, ['averageTime', 'p95Time', 'targetMet'])
const routerStats = (s) => ({
  performance: routingPerformance(s.performance),
  cache: s.cache,
  availability: s.availability,
  models: s.models.map((m) => ({ name: m.name, performance: performanceRecord(m.performance) })),
})

/** Logs every emit of `router` (payload copied at once: the port hands out live objects). */
function recordEvents(router, log) {
  // native builds some payloads only when someone listens
  for (const name of EVENT_NAMES) router.on(name, () => {})
  const emit = router.emit
  router.emit = function (name, ...args) {
    if (name !== 'routing_slow') {
      const payload = args[0] === undefined ? undefined : (withoutTiming[name] || ((x) => x))(args[0])
      log.push(JSON.stringify(canonical([name, payload])))
    }
    return emit.call(this, name, ...args)
  }
}

async function outcome(act) {
  try {
    return { value: await act() }
  } catch (e) {
    return { error: { message: e.message, code: e.code ?? null } }
  }
}

const liveRouters = []

/** A native router and the port with the matching fixes, each with its event log. */
function makePair(label, nativeOptions, { strict }) {
  const sides = {
    native: { name: 'native', router: new ModelRouter({ strategy: 'legacy', ...nativeOptions }) },
    port: { name: 'port', router: makePort({ strict }) },
  }
  for (const side of Object.values(sides)) {
    side.events = []
    side.conditionCalls = 0
    // each side's own default rules, to put back later (native's carry its native conditions)
    side.defaultRules = new Map(side.router.getRules().map((rule) => [rule.id, rule]))
    recordEvents(side.router, side.events)
    liveRouters.push(side.router)
  }
  return { label, ...sides, unnamedDefaults: new Set(DEFAULT_RULE_IDS) }
}

function release(router) {
  if (typeof router.shutdown === 'function') router.shutdown()
  else router.dispose()
}

/**
 * Runs `act(side, pair)` on both sides of every pair; both must give the same outcome and
 * emit the same events. Returns the outcomes, native's first, per pair.
 */
async function lockstep(pairs, what, act) {
  const results = []
  for (const pair of pairs) {
    const got = canonical(await outcome(() => act(pair.native, pair)))
    const want = canonical(await outcome(() => act(pair.port, pair)))
    const gotText = JSON.stringify(got)
    const wantText = JSON.stringify(want)
    if (gotText !== wantText) throw new Error(`${pair.label}, ${what}:\n native ${gotText}\n port   ${wantText}`)
    const gotEvents = pair.native.events.splice(0)
    const wantEvents = pair.port.events.splice(0)
    if (gotEvents.join('\n') !== wantEvents.join('\n')) {
      throw new Error(
        `${pair.label}, ${what}: events differ\n native ${gotEvents.join('\n        ')}\n port   ${wantEvents.join('\n        ')}`,
      )
    }
    results.push({ result: got, events: gotEvents })
  }
  return results
}

/** getRules() as compared: default rules' names are not in the contract (the port made its own up). */
function rulesView(side, pair) {
  return side.router.getRules().map((rule) => ({
    id: rule.id,
    name: pair.unnamedDefaults.has(rule.id) ? '(default)' : rule.name,
    modelPreference: rule.modelPreference,
    weight: rule.weight,
    active: rule.active,
  }))
}

/** Evaluates every rule's condition on `context` (not counted as a router's call). */
function evaluateRules(side, context) {
  side.evaluating = true
  try {
    return side.router.getRules().map((rule) => {
      try {
        return rule.condition(context)
      } catch (e) {
        return `throws: ${e.message}`
      }
    })
  } finally {
    side.evaluating = false
  }
}

function ruleFor(spec, side) {
  const condition = CONDITION_KINDS[spec.conditionKind]
  return {
    id: spec.id,
    name: spec.name,
    // a counting wrapper per side: the legacy strategy must never call an added condition
    condition: (c) => {
      if (!side.evaluating) side.conditionCalls++
      return condition(c)
    },
    modelPreference: [...spec.modelPreference],
    weight: spec.weight,
    active: spec.active,
  }
}

/** The port's private weights: only used to count optimize calls that changed something. */
const portWeights = (pair) => JSON.stringify(pair.port.router.weights)

// Fake Date and intervals; the port's and native's `performance.now()` stay real (timing only).
const FAKE_TIMERS = { doNotFake: ['performance', 'hrtime', 'nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate'] }

/** Fires every router's 30 s timer once; `keepClock` puts Date back so no port cache entry ages. */
/**
 * Fires every router's 30 s timer. `keepClock`: the port's clock stands still; `expireAll`:
 * it first jumps past the TTL, so at a purge every port entry has expired, as every native
 * entry has with `cacheTtlMs: 0`.
 */
function fireTimers(keepClock, expireAll = false) {
  if (expireAll) jest.setSystemTime(Date.now() + CACHE_TTL_MS)
  const before = Date.now()
  jest.advanceTimersByTime(TICK_MS)
  if (keepClock) jest.setSystemTime(before)
}

beforeEach(() => {
  jest.useFakeTimers(FAKE_TIMERS)
})

afterEach(() => {
  for (const router of liveRouters.splice(0)) release(router)
  // shutdown()/dispose() left no interval behind
  expect(jest.getTimerCount()).toBe(0)
  jest.useRealTimers()
})

// ---------------------------------------------------------------- the random streams

/**
 * One seeded stream of lockstep operations over fresh router pairs (one per tier policy),
 * renewed every `steps / epochs` operations. `expiring`: native `cacheTtlMs: 0`, and the
 * port's clock jumps past the TTL before every request.
 */
async function runStream({ seed, steps, epochs, expiring }) {
  const work = makeWorkload(seed)
  const tally = {}
  const count = (name, n = 1) => {
    tally[name] = (tally[name] || 0) + n
  }
  const nativeOptions = expiring ? { cacheTtlMs: 0 } : {}
  let pairs = []
  let models = work.models()
  const beforeRequest = () => {
    if (expiring) jest.setSystemTime(Date.now() + CACHE_TTL_MS)
  }
  const countEvents = (results) => {
    for (const { events } of results) for (const e of events) count(`event ${JSON.parse(e)[0]}`)
  }

  for (let step = 0; step < steps; step++) {
    if (step % Math.ceil(steps / epochs) === 0) {
      for (const pair of pairs) {
        release(pair.native.router)
        release(pair.port.router)
      }
      pairs = [
        makePair('tierPolicy "legacy"', { tierPolicy: 'legacy', ...nativeOptions }, { strict: false }),
        makePair('tierPolicy "strict"', { tierPolicy: 'strict', ...nativeOptions }, { strict: true }),
      ]
    }
    const at = `step ${step}`
    const roll = work.r()
    let results
    if (roll < 0.015) {
      models = work.models() // a new Map
      continue
    } else if (roll < 0.03) {
      const name = work.pick(MODEL_NAMES) // the same Map, edited
      if (models.has(name) && models.size > 1 && work.chance(0.5)) models.delete(name)
      else models.set(name, work.config(name))
      continue
    } else if (roll < 0.09) {
      const name = work.chance(0.9) ? work.pick([...models.keys()]) : work.pick(MODEL_NAMES)
      const args = [name, work.pick([0, 200, 900, 3000, 12000]), work.chance(0.8), work.pick([0, 0.001, 0.02]), work.tokenUsage()]
      results = await lockstep(pairs, `${at} recordPerformance(${JSON.stringify(args)})`, (side) => side.router.recordPerformance(...args))
      count('recordPerformance')
    } else if (roll < 0.115) {
      const args = [work.pick(MODEL_NAMES), work.chance(0.6)]
      results = await lockstep(pairs, `${at} updateModelAvailability(${JSON.stringify(args)})`, (side) =>
        side.router.updateModelAvailability(...args),
      )
      count('updateModelAvailability')
    } else if (roll < 0.125) {
      const updates = new Map(work.subset(MODEL_NAMES, 0.3).map((n) => [n, work.chance(0.7)]))
      results = await lockstep(pairs, `${at} updateBatchAvailability(${JSON.stringify([...updates])})`, (side) =>
        side.router.updateBatchAvailability(updates),
      )
      count('updateBatchAvailability')
    } else if (roll < 0.15) {
      // a Map of its own sometimes: the method must not refresh availability from it
      const fallbackModels = work.chance(0.6) ? models : work.chance(0.05) ? new Map() : work.models()
      const original = work.chance(0.85) && fallbackModels.size > 0 ? work.pick([...fallbackModels.keys()]) : work.pick(MODEL_NAMES)
      const context = work.context()
      const why = work.reason()
      results = await lockstep(
        pairs,
        `${at} selectFallbackModel(${original}, ${JSON.stringify(context)}, ${JSON.stringify([...fallbackModels.keys()])})`,
        async (side) => {
          const d = await side.router.selectFallbackModel(original, context, fallbackModels, why)
          return decisionFields(d)
        },
      )
      for (const { result } of results) {
        if (result.error) count(`fallback throws ${result.error.code}`)
        else count(result.value.modelName === original ? 'fallback to the original' : 'fallback to another model')
      }
    } else if (roll < 0.17) {
      const spec = work.ruleSpec()
      for (const pair of pairs) pair.unnamedDefaults.delete(spec.id)
      results = await lockstep(pairs, `${at} addRule(${JSON.stringify(spec)})`, (side, pair) => {
        const replacing = side.router.getRules().some((rule) => rule.id === spec.id)
        side.router.addRule(ruleFor(spec, side))
        return { replacing, rules: rulesView(side, pair) }
      })
      count(results[0].result.value.replacing ? 'addRule replacing in place' : 'addRule new')
      if (!spec.active) count('addRule inactive')
    } else if (roll < 0.178) {
      const id = work.ruleId()
      for (const pair of pairs) pair.unnamedDefaults.delete(id)
      results = await lockstep(pairs, `${at} removeRule(${id})`, (side, pair) => {
        const removed = side.router.removeRule(id)
        return { removed, rules: rulesView(side, pair) }
      })
      count(results[0].result.value.removed ? 'removeRule removed' : 'removeRule absent')
    } else if (roll < 0.183) {
      // a default rule put back (native: its native condition again), at its old place or last
      const id = work.pick(DEFAULT_RULE_IDS)
      for (const pair of pairs) pair.unnamedDefaults.add(id)
      results = await lockstep(pairs, `${at} addRule(default ${id})`, (side, pair) => {
        side.router.addRule(side.defaultRules.get(id))
        return rulesView(side, pair)
      })
      count('addRule default again')
    } else if (roll < 0.195) {
      const context = work.context()
      results = await lockstep(pairs, `${at} rule conditions on ${JSON.stringify(context)}`, (side, pair) => ({
        rules: rulesView(side, pair),
        matches: evaluateRules(side, context),
        // added conditions are never consulted by the legacy strategy
        routerCalls: side.conditionCalls,
      }))
      count('rule conditions evaluated')
    } else if (roll < 0.2) {
      const data = work.optimizeData()
      const before = pairs.map(portWeights)
      results = await lockstep(pairs, `${at} optimizeBasedOnPerformance(${JSON.stringify(data)})`, (side) =>
        side.router.optimizeBasedOnPerformance(data),
      )
      if (pairs.some((pair, i) => portWeights(pair) !== before[i])) count('optimize changed weights')
      else count('optimize changed nothing')
    } else if (roll < 0.22) {
      results = await lockstep(pairs, `${at} stats`, (side, _pair) => ({
        routing: routingPerformance(side.router.getRoutingPerformance()),
        stats: routerStats(side.router.getRouterStats()),
        usage: side.router.getModelUsageStats(),
        performance: side.router.getPerformanceData().map(performanceRecord),
      }))
      count('stats compared')
    } else if (roll < 0.225) {
      // every router's timer, at once, outside any lockstep call: compare the events after
      fireTimers(!expiring, expiring)
      results = await lockstep(pairs, `${at} 30 s timer`, () => undefined)
      count('timer fired')
    } else if (roll < 0.24) {
      // a listener that throws once: the legacy turns it into an emergency fallback while
      // routing, and lets it escape from the other methods
      const event = work.pick([
        'routing_decision',
        'performance_metrics',
        'model_performance_updated',
        'model_availability_changed',
        'batch_availability_update',
        'fallback_triggered',
      ])
      const context = work.context()
      const name = work.pick([...models.keys()])
      const available = work.chance(0.5)
      const thrower = () => {
        throw new Error(`listener of ${event} failed`)
      }
      results = await lockstep(pairs, `${at} ${event} listener throws`, async (side) => {
        side.router.once(event, thrower)
        try {
          beforeRequest()
          if (event === 'model_performance_updated') return side.router.recordPerformance(name, 500, true, 0.001)
          if (event === 'model_availability_changed') return side.router.updateModelAvailability(name, available)
          if (event === 'batch_availability_update') return side.router.updateBatchAvailability(new Map([[name, available]]))
          if (event === 'fallback_triggered') return decisionFields(await side.router.selectFallbackModel(name, context, models, 'boom'))
          return decisionFields(await side.router.selectOptimalModel(context, models))
        } finally {
          side.router.removeListener(event, thrower)
        }
      })
      for (const { result } of results) {
        if (result.value && result.value.confidence === 0.1) count('emergency fallback')
        if (result.error && /listener of/.test(result.error.message)) count('listener error escaped')
      }
    } else if (roll < 0.243) {
      const context = work.context()
      results = await lockstep(pairs, `${at} selectOptimalModel with an empty Map`, async (side) => {
        beforeRequest()
        return decisionFields(await side.router.selectOptimalModel(context, new Map()))
      })
      count('empty Map')
    } else {
      const context = work.context()
      results = await lockstep(
        pairs,
        `${at} selectOptimalModel(${JSON.stringify(context)}, ${JSON.stringify([...models.keys()])})`,
        async (side) => {
          beforeRequest()
          return decisionFields(await side.router.selectOptimalModel(context, models))
        },
      )
      for (const { result } of results) {
        if (result.error) count(`decision rejects ${result.error.code}`)
        else if (result.value.fromCache) count('decision from cache')
        else if (result.value.confidence === 0.3) count('decision: no candidates')
        else count('decision scored')
      }
    }
    countEvents(results)
  }
  for (const pair of pairs) {
    release(pair.native.router)
    release(pair.port.router)
  }
  return tally
}

describe('native legacy strategy vs the legacy port: the rest of ModelRouter', () => {
  jest.setTimeout(120_000)

  test(`${STEPS} seeded lockstep operations: rules, fallbacks, stats, optimize, usage, timers and events`, async () => {
    const tally = await runStream({ seed: 20261128, steps: STEPS, epochs: 3, expiring: false })
    console.log(`differential-rest: ${JSON.stringify(tally)}`)
    // every operation and outcome below happened, on both tier policies, so none is compared vacuously
    const expected = [
      'decision scored',
      'decision from cache',
      'decision: no candidates',
      'decision rejects ERR_NO_ELIGIBLE_MODEL',
      'fallback to another model',
      'fallback to the original',
      'fallback throws ERR_NO_ELIGIBLE_MODEL',
      'fallback throws ERR_NO_MODELS',
      'addRule new',
      'addRule replacing in place',
      'addRule inactive',
      'addRule default again',
      'removeRule removed',
      'removeRule absent',
      'rule conditions evaluated',
      'optimize changed weights',
      'optimize changed nothing',
      'stats compared',
      'timer fired',
      'emergency fallback',
      'listener error escaped',
      'empty Map',
      'recordPerformance',
      'updateModelAvailability',
      'updateBatchAvailability',
      'event routing_decision',
      'event performance_metrics',
      'event fallback_triggered',
      'event model_performance_updated',
      'event model_availability_changed',
      'event batch_availability_update',
    ]
    expect(expected.filter((name) => !(tally[name] > 0))).toEqual([])
  })

  test(`cache expiry: ${Math.ceil(STEPS / 4)} lockstep operations where every cached entry has expired by its next lookup`, async () => {
    const tally = await runStream({ seed: 7_654_321, steps: Math.ceil(STEPS / 4), epochs: 1, expiring: true })
    console.log(`differential-rest (expiring): ${JSON.stringify(tally)}`)
    expect(tally['decision from cache'] || 0).toBe(0)
    expect(tally['decision scored']).toBeGreaterThan(100)
    expect(tally['stats compared']).toBeGreaterThan(0)
    expect(tally['timer fired']).toBeGreaterThan(0)
  })
})

// ---------------------------------------------------------------- targeted scenarios

const modelConfig = (name, tier, capabilities, latencyTarget = 1000, costPerToken = 1e-6) => ({
  name,
  tier,
  capabilities,
  latencyTarget,
  costPerToken,
  maxTokens: 8192,
})
const bothPolicies = () => [
  makePair('tierPolicy "legacy"', { tierPolicy: 'legacy' }, { strict: false }),
  makePair('tierPolicy "strict"', { tierPolicy: 'strict' }, { strict: true }),
]
/** The model a lockstep call returned, or what it threw. */
const chosen = ({ result }) => (result.error ? `throws ${result.error.code}: ${result.error.message}` : result.value.modelName)

describe('targeted lockstep scenarios', () => {
  test('selectFallbackModel: strategies 1 to 4, the original itself, and "No models available for fallback"', async () => {
    const pairs = bothPolicies()
    const models = new Map([
      ['gemini-2.5-pro', modelConfig('gemini-2.5-pro', 'pro', ['code', 'reasoning'])],
      ['custom-small', modelConfig('custom-small', 'pro', ['code', 'reasoning', 'vision'])],
      ['gemini-2.0-flash', modelConfig('gemini-2.0-flash', 'free', ['code'])],
      ['gemini-2.5-deep-think', modelConfig('gemini-2.5-deep-think', 'enterprise', ['advanced-reasoning', 'long-context'])],
      ['gemini-2.5-flash', modelConfig('gemini-2.5-flash', 'pro', ['reasoning'])],
      ['custom-large', modelConfig('custom-large', 'enterprise', ['vision'])],
    ])
    const context = (userTier) => ({ task: 'Summarize the notes', userTier, priority: 'medium', latencyRequirement: 2000 })
    // a routing call marks the Map available; selectFallbackModel never does
    await lockstep(pairs, 'routing once', async (side) =>
      decisionFields(await side.router.selectOptimalModel(context('enterprise'), models)),
    )
    const fallback = async (original, userTier, fallbackModels = models) => {
      const results = await lockstep(pairs, `selectFallbackModel(${original}, ${userTier})`, async (side) =>
        decisionFields(await side.router.selectFallbackModel(original, context(userTier), fallbackModels, 'timeout')),
      )
      for (const { result, events } of results) {
        if (result.error) {
          expect(events).toEqual([]) // a throw emits nothing
        } else {
          expect(result.value).toEqual({
            modelName: result.value.modelName,
            confidence: 0.6,
            reason: `Fallback from ${original}: timeout`,
            fromCache: false,
          })
          expect(events.map((e) => JSON.parse(e))).toEqual([
            ['fallback_triggered', { originalModel: original, fallbackModel: result.value.modelName, reason: 'timeout' }],
          ])
        }
      }
      return results.map(chosen)
    }
    const noFallback = 'throws ERR_NO_ELIGIBLE_MODEL: No models available for fallback'

    // 1: same tier string and ≥ 70% of the capabilities; the user's tier is not checked (legacy),
    // so strict goes on to 2: a lower tier the user may use, with "code" or "reasoning"
    expect(await fallback('gemini-2.5-pro', 'free')).toEqual(['custom-small', 'gemini-2.0-flash'])
    // 2: no other enterprise model shares 70% of deep-think's capabilities
    expect(await fallback('gemini-2.5-deep-think', 'pro')).toEqual(['gemini-2.5-pro', 'gemini-2.5-pro'])
    // 2 again: gemini-2.5-pro shares 2 of custom-small's 3 capabilities, under 0.7 × 3
    expect(await fallback('custom-small', 'pro')).toEqual(['gemini-2.0-flash', 'gemini-2.0-flash'])
    // 3: an original outside the Map skips 1 and 2; the pro list's first available model
    expect(await fallback('not-in-the-map', 'pro')).toEqual(['gemini-2.5-flash', 'gemini-2.5-flash'])
    await lockstep(pairs, 'gemini-2.5-flash down', (side) => side.router.updateModelAvailability('gemini-2.5-flash', false))
    expect(await fallback('not-in-the-map', 'pro')).toEqual(['gemini-2.0-flash', 'gemini-2.0-flash'])
    // 3 may return the original itself
    expect(await fallback('gemini-2.0-flash', 'free')).toEqual(['gemini-2.0-flash', 'gemini-2.0-flash'])
    // 4: none of the enterprise list is in this Map: any available model
    const others = new Map([...models].filter(([name]) => name.startsWith('custom-')))
    expect(await fallback('elsewhere', 'enterprise', others)).toEqual(['custom-small', 'custom-small'])
    // 4 for a free user: legacy names a pro model, strict has nothing to offer
    expect(await fallback('elsewhere', 'free', others)).toEqual(['custom-small', noFallback])
    // models never routed are not known to be available (no refresh from the Map)
    const unseen = new Map([['fresh-model', modelConfig('fresh-model', 'free', ['code'])]])
    expect(await fallback('fresh-model', 'free', unseen)).toEqual([noFallback, noFallback])
    // every model of the Map marked unavailable
    await lockstep(pairs, 'custom models down', (side) =>
      side.router.updateBatchAvailability(
        new Map([
          ['custom-small', false],
          ['custom-large', false],
        ]),
      ),
    )
    expect(await fallback('elsewhere', 'enterprise', others)).toEqual([noFallback, noFallback])
    expect(await fallback('elsewhere', 'enterprise', new Map())).toEqual(
      Array(2).fill('throws ERR_NO_MODELS: No models available for fallback'),
    )
  })

  test('optimizeBasedOnPerformance shifts the weights, which changes later decisions but not cached ones', async () => {
    const pairs = bothPolicies()
    // fast but costly and failing, against slower, cheap and untried
    const models = new Map([
      ['custom-small', modelConfig('custom-small', 'free', [], 500, 5e-6)],
      ['custom-large', modelConfig('custom-large', 'free', [], 1100, 1e-7)],
    ])
    let asked = 0
    const decide = async (task = `hello ${asked++}`) => {
      const results = await lockstep(pairs, `selectOptimalModel(${task})`, async (side) =>
        decisionFields(await side.router.selectOptimalModel({ task, userTier: 'free', priority: 'low', latencyRequirement: 1000 }, models)),
      )
      return results.map(({ result }) => result.value)
    }
    for (let i = 0; i < 5; i++) {
      await lockstep(pairs, 'a failure of custom-small', (side) => side.router.recordPerformance('custom-small', 500, false, 0.01))
    }
    const optimize = (data) =>
      lockstep(pairs, `optimizeBasedOnPerformance(${JSON.stringify(data)})`, (side) => side.router.optimizeBasedOnPerformance(data))
    const expectBoth = (decisions, modelName, confidence) => {
      for (const d of decisions) {
        expect(d.modelName).toBe(modelName)
        expect(d.confidence).toBeCloseTo(confidence, 12)
      }
    }

    // weights 0.35/0.15/0.25 (latency/cost/reliability): 0.52 against 0.595
    expectBoth(await decide(), 'custom-large', 0.595)
    // what the codebase passes (the monitor's getMetrics()) has neither field: no change
    await optimize({ routing_overhead: { mean: 3000, median: 3000, p95: 3000, p99: 3000, min: 1, max: 3000, count: 3, stddev: 0 } })
    expectBoth(await decide(), 'custom-large', 0.595)
    // latency 0.45, cost 0.1: the fast model wins, 0.605 against 0.595
    await optimize({ avgLatency: 2500 })
    const afterLatency = await decide()
    expectBoth(afterLatency, 'custom-small', 0.605)
    expect(afterLatency[0].reason).toBe('Best match: latency=1.00, complexity=1.00')
    // a cached decision is not re-scored
    expectBoth(await decide('hello 0'), 'custom-large', 0.95)
    // reliability 0.35: the reliable one again, 0.675 against 0.615
    await optimize({ recentFailures: 6 })
    expectBoth(await decide(), 'custom-large', 0.675)
    // capped at reliability 0.5, latency 0.6, cost 0.1: 0.87 against 0.78
    for (let i = 0; i < 3; i++) await optimize({ recentFailures: '12', avgLatency: 9000 })
    expectBoth(await decide(), 'custom-large', 0.87)
  })

  test('usage counters clear once a count passes 1000, and the routing cache keeps its 1000 most recent entries', async () => {
    const pairs = bothPolicies()
    const models = new Map([['gemini-2.0-flash', modelConfig('gemini-2.0-flash', 'free', [], 600, 2e-7)]])
    const context = (i) => ({ task: `request ${i}`, userTier: 'free', priority: 'low', latencyRequirement: 3000 })
    const decide = async (i) =>
      (await lockstep(pairs, `request ${i}`, async (side) => decisionFields(await side.router.selectOptimalModel(context(i), models)))).map(
        ({ result }) => result.value,
      )
    const usage = async () =>
      (await lockstep(pairs, 'getModelUsageStats', (side) => side.router.getModelUsageStats())).map(({ result }) => result.value)
    const cacheSize = async () =>
      (await lockstep(pairs, 'getRouterStats', (side) => routerStats(side.router.getRouterStats()))).map(
        ({ result }) => result.value.cache.size,
      )

    for (let i = 0; i < 1001; i++) await decide(i)
    expect(await usage()).toEqual(Array(2).fill({ 'gemini-2.0-flash': 1001 }))
    expect(await cacheSize()).toEqual([1000, 1000])
    // the 1002nd decision finds 1001 (> 1000): every counter is cleared, its own included
    await decide(1001)
    expect(await usage()).toEqual([{}, {}])
    await decide(1002)
    expect(await usage()).toEqual(Array(2).fill({ 'gemini-2.0-flash': 1 }))
    // the oldest entries were evicted, the newest are served from the cache
    expect((await decide(0)).map((d) => d.fromCache)).toEqual([false, false])
    expect((await decide(1002)).map((d) => d.fromCache)).toEqual([true, true])
  })

  test('rules: added, replaced in place, inactive and removed; the legacy strategy never consults them', async () => {
    const pairs = bothPolicies()
    const control = bothPolicies() // never touched: decisions must not depend on the rules
    const work = makeWorkload(99)
    const models = work.models()
    const rulesNow = async () =>
      (await lockstep(pairs, 'getRules', (side, pair) => rulesView(side, pair))).map(({ result }) => result.value)
    const add = (spec) => {
      for (const pair of pairs) pair.unnamedDefaults.delete(spec.id)
      return lockstep(pairs, `addRule(${spec.id})`, (side) => side.router.addRule(ruleFor(spec, side)))
    }
    const spec = {
      id: 'vision-first',
      name: 'Vision first',
      conditionKind: 'always',
      modelPreference: ['custom-large'],
      weight: 4,
      active: false,
    }

    expect((await rulesNow())[0].map((rule) => rule.id)).toEqual(DEFAULT_RULE_IDS)
    await add(spec)
    await add({ ...spec, weight: 12, active: true }) // same id: replaced where it was
    await add({ ...spec, id: 'low-latency', name: 'Low latency, rewritten', conditionKind: 'throws' })
    expect(await lockstep(pairs, 'removeRule(code-tasks)', (side) => side.router.removeRule('code-tasks'))).toEqual(
      Array(2).fill(expect.objectContaining({ result: { value: true } })),
    )
    expect(await lockstep(pairs, 'removeRule(code-tasks) again', (side) => side.router.removeRule('code-tasks'))).toEqual(
      Array(2).fill(expect.objectContaining({ result: { value: false } })),
    )
    const [rules] = await rulesNow()
    expect(rules.map((rule) => [rule.id, rule.weight, rule.active])).toEqual([
      ['critical-tasks', 10, true],
      ['enterprise-tier', 8, true],
      ['low-latency', 4, false],
      ['large-context', 5, true],
      ['free-tier', 3, true],
      ['deep-reasoning', 9, true],
      ['vision-first', 12, true],
    ])
    for (let i = 0; i < 300; i++) {
      const context = work.context()
      const ruled = await lockstep(pairs, `ruled ${i}`, async (side) =>
        decisionFields(await side.router.selectOptimalModel(context, models)),
      )
      const plain = await lockstep(control, `control ${i}`, async (side) =>
        decisionFields(await side.router.selectOptimalModel(context, models)),
      )
      expect(ruled.map((x) => x.result)).toEqual(plain.map((x) => x.result))
    }
    for (const pair of pairs) expect([pair.native.conditionCalls, pair.port.conditionCalls]).toEqual([0, 0])
  })

  test('the 30 s timer emits performance_metrics with no samples on both; shutdown leaves no timer', async () => {
    const pairs = bothPolicies()
    const payloads = { native: [], port: [] }
    for (const pair of pairs)
      for (const name of ['native', 'port']) pair[name].router.on('performance_metrics', (p) => payloads[name].push(p))
    for (let tick = 0; tick < 10; tick++) {
      fireTimers(true)
      await lockstep(pairs, `tick ${tick}`, () => undefined)
    }
    // no samples: every field is a constant, timing ones included
    const idle = { averageRoutingTime: 0, maxRoutingTime: 0, p95RoutingTime: 0, targetMet: true, cacheHitRate: 0 }
    expect(payloads.native).toEqual(Array(20).fill(idle))
    expect(payloads.port).toEqual(Array(20).fill(idle))
    for (const pair of pairs) {
      release(pair.native.router)
      release(pair.port.router)
    }
    expect(jest.getTimerCount()).toBe(0)
  })
})
