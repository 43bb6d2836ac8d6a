// strategy "adaptive": the capacity properties through the public API, on random traffic in
// virtual time — decisions (repeats served from the memo, new tasks, sessions, budget keys,
// fallbacks) and outcomes (successes, 429s, failures, settlements at most the estimate):
//   - no 60 s window holds more decisions naming a model than its rpm, nor more tokens
//     (each decision's settled tokens, else its estimate) than its tpm;
//   - no budget's spend passes its limit (settlements stay within their estimates);
//   - no decision names a model whose context window is below the request's need.
// `whenNoneHealthy: "reject"`: under "closest" a request every model refuses is still
// named to the one that clears soonest, and says so (see docs/router.md).
const { adaptiveRouters } = require('./fixtures/adaptive-router')

const make = adaptiveRouters()
const WINDOW_MS = 60000
const DEFAULT_OUTPUT_TOKENS = 1024

function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const MODELS = [
  { name: 'gemini-2.5-flash', latencyTarget: 300, costPerToken: 2e-6, maxTokens: 2000, rpm: 5, tpm: 6000 },
  { name: 'gemini-2.0-flash-thinking', latencyTarget: 600, costPerToken: 1e-6, maxTokens: 8000, rpm: 8 },
  { name: 'gemini-2.5-pro', latencyTarget: 900, costPerToken: 4e-6, maxTokens: 32000, tpm: 20000 },
  { name: 'wide', latencyTarget: 1500, costPerToken: 5e-7, maxTokens: 100000, rpm: 10 },
]
const TASKS = [
  'Write a function to sort a list',
  'Summarise this paragraph',
  `Review this module ${'x'.repeat(3000)}`,
  'Translate a sentence',
]
const BUDGETS = [
  { scope: 'global', limit: 0.2, windowMs: 30000 },
  { scope: 'model', name: 'gemini-2.5-pro', limit: 0.02, windowMs: 20000 },
  { scope: 'key', name: 'team-a', limit: 0.01, windowMs: 45000 },
]
const EXPECTED_ERRORS = new Set(['ERR_NO_HEALTHY_MODEL', 'ERR_BUDGET_EXCEEDED', 'ERR_NO_ELIGIBLE_MODEL'])

function appliesTo(b, model, key) {
  return b.scope === 'global' || (b.scope === 'model' && b.name === model) || (b.scope === 'key' && b.name === key)
}

async function randomTraffic(seed, steps) {
  const rand = rng(seed)
  const r = make({ whenNoneHealthy: 'reject', maxSessions: 8 })
  const byName = new Map(MODELS.map((m) => [m.name, m]))
  const models = new Map(MODELS.map((m) => [m.name, { tier: 'pro', capabilities: ['code'], ...m }]))
  for (const b of BUDGETS) r.setBudget(b)
  for (const name of models.keys()) r.updateModelAvailability(name, true)
  /** Every decision: model, when, its estimated and settled tokens. */
  const sent = []
  const open = []
  let decisions = 0
  for (let step = 0; step < steps; step++) {
    r.clock.t += Math.floor(rand() * 1500)
    const task = TASKS[Math.floor(rand() * TASKS.length)]
    const tokenBudget = rand() < 0.3 ? undefined : Math.floor(rand() * 4000)
    const context = { task, userTier: 'pro', priority: 'high', latencyRequirement: 2000 }
    if (tokenBudget !== undefined) context.tokenBudget = tokenBudget
    if (rand() < 0.5) context.sessionId = `s${Math.floor(rand() * 12)}`
    if (rand() < 0.5) context.budgetKey = rand() < 0.7 ? 'team-a' : 'team-b'
    const fallback = rand() < 0.1
    const d = await (fallback
      ? r.selectFallbackModel(MODELS[Math.floor(rand() * MODELS.length)].name, context, models, 'timeout')
      : r.selectOptimalModel(context, models)
    ).catch((e) => e)
    if (d instanceof Error) {
      expect(EXPECTED_ERRORS.has(d.code)).toBe(true)
      continue
    }
    decisions++
    const input = Math.ceil(task.length / 3)
    const m = byName.get(d.modelName)
    // the window holds the request: input estimate + tokenBudget
    expect(m.maxTokens).toBeGreaterThanOrEqual(input + (tokenBudget ?? 0))
    const estimate = input + (tokenBudget ?? DEFAULT_OUTPUT_TOKENS)
    const rec = { model: d.modelName, at: r.clock.t, tokens: estimate, key: context.budgetKey }
    sent.push(rec)
    if (!fallback) open.push({ d, rec })
    // outcomes of some calls in flight, in random order, settling at most the estimate
    while (open.length > 0 && rand() < 0.6) {
      const [{ d: done, rec: settled }] = open.splice(Math.floor(rand() * open.length), 1)
      const roll = rand()
      if (roll < 0.75) {
        const used = Math.floor(rand() * settled.tokens)
        const inputTokens = Math.min(used, input)
        r.reportOutcome(done, { ok: true, latencyMs: 100 + rand() * 500, inputTokens, outputTokens: used - inputTokens })
        settled.tokens = used
      } else if (roll < 0.85) {
        r.reportOutcome(done, { ok: false, errorType: 'rate_limit', statusCode: 429, latencyMs: 50, retryAfterMs: 2000 })
      } else {
        r.reportOutcome(done, { ok: false, errorType: 'server', statusCode: 500, latencyMs: 80 })
      }
    }
    // budgets: spend (settlements and reservations) within the limit
    for (const b of r.getBudgets()) expect(b.spent).toBeLessThanOrEqual(b.limit * (1 + 1e-12))
  }
  // quotas: every 60 s window ending at a decision
  for (const rec of sent) {
    const m = byName.get(rec.model)
    const inWindow = sent.filter((s) => s.model === rec.model && s.at > rec.at - WINDOW_MS && s.at <= rec.at)
    if (m.rpm !== undefined) expect(inWindow.length).toBeLessThanOrEqual(m.rpm)
    if (m.tpm !== undefined) expect(inWindow.reduce((n, s) => n + s.tokens, 0)).toBeLessThanOrEqual(m.tpm)
  }
  // budgets over the whole run, from the decisions themselves: each budget's windows
  for (const b of BUDGETS) {
    const start = 1000 // when the budgets were set (the router's clock)
    const spend = new Map()
    for (const s of sent) {
      if (!appliesTo(b, s.model, s.key)) continue
      const period = Math.floor((s.at - start) / b.windowMs)
      spend.set(period, (spend.get(period) ?? 0) + s.tokens * byName.get(s.model).costPerToken)
    }
    for (const v of spend.values()) expect(v).toBeLessThanOrEqual(b.limit * (1 + 1e-12))
  }
  return decisions
}

describe('capacity properties on random traffic', () => {
  test.each([1, 2, 3, 4, 5, 6])('seed %i: never over a quota, a budget or a window', async (seed) => {
    const decisions = await randomTraffic(seed, 600)
    // the traffic routes most of the time (the properties are not met by refusing everything)
    expect(decisions).toBeGreaterThan(250)
  })
})
