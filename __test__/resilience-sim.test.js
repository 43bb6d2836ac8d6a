// The fault simulator (bench/resilience): deterministic for a seed, its LiteLLM-rules policy,
// its providers' fault script, the oracle, and the success-only reports of the legacy sides.
// Tiny simulations in virtual time (a minute or two of it, a few hundred requests).
const { ModelRouter: NativeRouter } = require('model-router-native')
const { ModelRouter: LegacyRouter } = require('model-router-legacy-ports')
const { simulate, DEFAULT_SIM } = require('../bench/dist/resilience/sim.js')
const { LiteLLMRules } = require('../bench/dist/resilience/litellm-rules.js')
const { Providers, simModels, scenarios, makeRequests } = require('../bench/dist/resilience/world.js')

const S = 1000
const OPTS = { ...DEFAULT_SIM, ratePerSec: 5 }

function tiny(overrides) {
  return {
    name: 'tiny',
    description: 'tiny',
    durationMs: 60 * S,
    outages: [],
    brownouts: [],
    storms: [],
    callerErrorShare: 0,
    ...overrides,
  }
}

const TOP = 'gemini-2.5-flash'
const outage = tiny({ outages: [{ model: TOP, fromMs: 20 * S, toMs: 40 * S }] })
const storm = tiny({ storms: [{ model: TOP, fromMs: 10 * S, toMs: 50 * S, quotaPerSec: 1, retryAfterMs: 5 * S }] })
const brownout = tiny({ brownouts: [{ model: TOP, fromMs: 20 * S, toMs: 40 * S, factor: 10 }] })

const figures = ({ wallMs, ...rest }) => rest
// tests of the adaptive side run only in a build that has the strategy
const withAdaptive = require('../bench/dist/resilience/sides.js').unavailable('adaptive') === null ? test : test.skip

describe('determinism', () => {
  test('the same seed gives the same figures, another seed other figures', async () => {
    const a = await simulate(outage, 'native-legacy', OPTS)
    const b = await simulate(outage, 'native-legacy', OPTS)
    const c = await simulate(outage, 'native-legacy', { ...OPTS, seed: OPTS.seed + 1 })
    expect(figures(b)).toEqual(figures(a))
    expect(a.requests).toBeGreaterThan(200)
    expect(figures(c)).not.toEqual(figures(a))
  })

  withAdaptive('the adaptive side too: its clock and seed come from the simulation', async () => {
    const a = await simulate(storm, 'adaptive', OPTS)
    const b = await simulate(storm, 'adaptive', OPTS)
    expect(figures(b)).toEqual(figures(a))
    expect(a.rateLimited).toBeGreaterThan(0)
  })

  test('the legacy port runs on the virtual clock and leaves Date.now as it was', async () => {
    const before = Date.now
    const a = await simulate(outage, 'legacy-port', OPTS)
    const b = await simulate(outage, 'legacy-port', OPTS)
    expect(Date.now).toBe(before)
    expect(figures(b)).toEqual(figures(a))
  })

  test('the request stream does not depend on the scenario, only on the seed and the caller-error share', () => {
    const a = makeRequests(7, 10, 30 * S, 0)
    const b = makeRequests(7, 10, 30 * S, 0)
    expect(b).toEqual(a)
    const withErrors = makeRequests(7, 10, 30 * S, 0.5)
    expect(withErrors.map((r) => r.arrivalMs)).toEqual(a.map((r) => r.arrivalMs))
    expect(withErrors.filter((r) => r.callerError !== undefined).length).toBeGreaterThan(a.length / 4)
  })
})

describe('LiteLLM rules', () => {
  const models = simModels()
  let now = 0
  const clock = () => now
  beforeEach(() => {
    now = 0
  })

  test('a model is cooled after allowed_fails (3) failures in the minute, at the fourth, for 5 s', () => {
    // the free tier's group has one deployment: neither the 429 nor the ratio rule applies
    const rules = new LiteLLMRules(models, clock, () => 0)
    const m = 'gemini-2.0-flash'
    for (let i = 0; i < 3; i++) {
      rules.failure(m, 'free', 503)
      expect(rules.isCooling(m)).toBe(false)
    }
    now = 1000
    rules.failure(m, 'free', 503)
    expect(rules.isCooling(m)).toBe(true)
    expect(rules.pick('free')).toBeNull()
    now = 1000 + 4999
    expect(rules.isCooling(m)).toBe(true)
    now = 1000 + 5000
    expect(rules.isCooling(m)).toBe(false)
    expect(rules.pick('free')).toBe(m)
    expect(rules.cooldowns).toEqual([[m, 1000, 6000]])
  })

  test('the failure count restarts with each calendar minute', () => {
    const rules = new LiteLLMRules(models, clock, () => 0)
    const m = 'gemini-2.0-flash'
    now = 59_000
    for (let i = 0; i < 3; i++) rules.failure(m, 'free', 500)
    now = 60_000
    rules.failure(m, 'free', 500)
    expect(rules.isCooling(m)).toBe(false)
  })

  test('a 429 cools a deployment of a larger group at once; the caller’s 4xx never do', () => {
    const rules = new LiteLLMRules(models, clock, () => 0)
    for (let i = 0; i < 10; i++) rules.failure('gemini-2.5-pro', 'pro', 400)
    expect(rules.isCooling('gemini-2.5-pro')).toBe(false)
    rules.failure('gemini-2.5-flash', 'pro', 429)
    expect(rules.isCooling('gemini-2.5-flash')).toBe(true)
  })

  test('more than 50% failures in the minute cool a deployment once it has 5 calls', () => {
    const rules = new LiteLLMRules(models, clock, () => 0)
    const m = 'gemini-2.5-pro'
    rules.success(m)
    rules.success(m)
    rules.failure(m, 'pro', 503) // 1 of 3
    rules.failure(m, 'pro', 503) // 2 of 4
    expect(rules.isCooling(m)).toBe(false)
    rules.failure(m, 'pro', 503) // 3 of 5 = 60%
    expect(rules.isCooling(m)).toBe(true)
  })

  test('simple-shuffle picks among the request tier’s deployments not cooling', () => {
    let u = 0
    const rules = new LiteLLMRules(models, clock, () => u)
    const seen = new Set()
    for (u = 0; u < 1; u += 0.01) seen.add(rules.pick('pro'))
    expect([...seen].sort()).toEqual(['gemini-2.0-flash-thinking', 'gemini-2.5-flash', 'gemini-2.5-pro'])
    rules.failure('gemini-2.5-flash', 'pro', 429)
    seen.clear()
    for (u = 0; u < 1; u += 0.01) seen.add(rules.pick('pro'))
    expect([...seen].sort()).toEqual(['gemini-2.0-flash-thinking', 'gemini-2.5-pro'])
  })
})

describe('providers', () => {
  const req = { id: 0, arrivalMs: 0, context: { task: 't', userTier: 'pro', priority: 'low', latencyRequirement: 2000 }, inputTokens: 100 }
  const draws = [0.5, 0.5, 0.5]

  test('a rate-limit storm: the call over the quota opens a Retry-After in which every call gets a 429 with the time left', () => {
    const p = new Providers(storm, simModels())
    expect(p.call(TOP, 10_000, req, draws).ok).toBe(true) // quota 1 per second
    expect(p.faulted(TOP, 10_100)).toBe(true)
    const first = p.call(TOP, 10_100, req, draws)
    expect(first).toMatchObject({ ok: false, status: 429, errorType: 'rate_limit', retryAfterMs: 5000 })
    // sent before that 429 reached its caller: inside the Retry-After, but not counted against the router
    expect(p.call(TOP, 10_100 + first.latencyMs - 1, req, draws)).toMatchObject({ status: 429, retryAfterMs: 5000 })
    expect(p.call(TOP, 11_200, req, draws)).toMatchObject({ status: 429, retryAfterMs: 4000 })
    expect(p.blocks).toEqual([{ model: TOP, fromMs: 10_100, toMs: 15_100, answeredAtMs: 10_100 + first.latencyMs, callsInside: 1 }])
    expect(p.clearsAt(TOP, 12_000)).toBe(15_100)
    expect(p.call(TOP, 15_100, req, draws).ok).toBe(true)
    expect(p.call('gemini-2.5-pro', 11_000, req, draws).ok).toBe(true)
  })

  test('an outage answers 503 inside its window only; a brownout multiplies the latency', () => {
    const p = new Providers(outage, simModels())
    expect(p.call(TOP, 19_999, req, draws).ok).toBe(true)
    expect(p.call(TOP, 20_000, req, draws)).toMatchObject({ ok: false, status: 503 })
    expect(p.call(TOP, 40_000, req, draws).ok).toBe(true)
    const b = new Providers(brownout, simModels())
    expect(b.call(TOP, 25_000, req, draws).latencyMs).toBeCloseTo(10 * b.call(TOP, 5_000, req, draws).latencyMs, 6)
  })

  test('the caller’s errors fail on every model; a long request fails only where it does not fit', () => {
    const p = new Providers(tiny({}), simModels())
    for (const m of simModels().keys()) {
      expect(p.call(m, 0, { ...req, callerError: 'bad_request' }, draws)).toMatchObject({
        ok: false,
        status: 400,
        errorType: 'bad_request',
      })
    }
    const long = { ...req, inputTokens: 50_000, callerError: 'context_length' }
    expect(p.call('gemini-2.0-flash-thinking', 0, long, draws)).toMatchObject({ ok: false, errorType: 'context_length' })
    expect(p.call('gemini-2.5-pro', 0, long, draws).ok).toBe(true)
    expect(p.servable(long)).toBe(true)
    expect(p.servable({ ...long, context: { ...long.context, userTier: 'free' } })).toBe(false)
  })
})

describe('sides', () => {
  test.each([
    ['outage', outage],
    ['rate-limit storm', storm],
    ['brownout', brownout],
  ])('the oracle never sends to a faulted model (%s), where the legacy port does', async (_name, scenario) => {
    const oracle = await simulate(scenario, 'oracle', OPTS)
    const legacy = await simulate(scenario, 'legacy-port', OPTS)
    expect(oracle.faultedAttempts).toBe(0)
    expect(oracle.rateLimited).toBe(0)
    expect(legacy.faultedAttempts).toBeGreaterThan(10)
    expect(oracle.successRate).toBe(1)
  })

  test.each([
    ['legacy-port', LegacyRouter],
    ['native-legacy', NativeRouter],
  ])('the %s side reports successes only, as the codebase does', async (side, Router) => {
    const spy = jest.spyOn(Router.prototype, 'recordPerformance')
    try {
      const r = await simulate(outage, side, OPTS)
      expect(r.successes).toBeLessThan(r.servable) // failures happened
      expect(spy.mock.calls.length).toBe(r.successes)
      for (const call of spy.mock.calls) expect(call[2]).toBe(true)
    } finally {
      spy.mockRestore()
    }
  })

  const withAdaptive = require('../bench/dist/resilience/sides.js').unavailable('adaptive') === null ? test : test.skip
  withAdaptive(
    'the adaptive side reports every outcome, failures with their status and class, and nothing with recordPerformance',
    async () => {
      const report = jest.spyOn(NativeRouter.prototype, 'reportOutcome')
      const record = jest.spyOn(NativeRouter.prototype, 'recordPerformance')
      try {
        const r = await simulate(storm, 'adaptive', OPTS)
        expect(report.mock.calls.length).toBe(r.attempts)
        expect(record).not.toHaveBeenCalled()
        const failed = report.mock.calls.filter(([, o]) => !o.ok)
        expect(failed.length).toBe(r.rateLimited)
        expect(failed.length).toBeGreaterThan(0)
        for (const [decision, o] of failed) {
          expect(decision.modelName).toBe(TOP)
          expect(o).toMatchObject({ status: 429, errorType: 'rate_limit' })
          expect(o.retryAfterMs).toBeGreaterThan(0)
        }
      } finally {
        report.mockRestore()
        record.mockRestore()
      }
    },
  )

  test('a retry on the legacy side names the model that just failed: its routing cache hands it back', async () => {
    const legacy = await simulate(outage, 'legacy-port', OPTS)
    // every request routed to the model in outage spends all three attempts on it
    expect(legacy.faultedAttempts).toBeGreaterThanOrEqual(3 * (legacy.servable - legacy.successes))
  })
})

describe('goal checks', () => {
  const { goals } = require('../bench/dist/resilience/report.js')
  const run = (side, o) => ({
    side,
    successRate: 1,
    p99Ms: 1000,
    p50Ms: 400,
    costPerSuccess: 1e-4,
    maxPerProbeInterval: 0,
    healthyEjections: side === 'adaptive' ? 0 : null,
    ...o,
  })
  const steady = scenarios()[0]

  test('no goal is checked without the adaptive side', () => {
    expect(goals(steady, [run('oracle'), run('native-legacy')])).toEqual([])
  })

  test('each goal passes or fails on its own figure', () => {
    const ok = goals(steady, [run('adaptive'), run('oracle'), run('native-legacy'), run('legacy-port'), run('litellm-rules')])
    expect(ok.map((g) => g.pass)).toEqual([true, true, true, true, true, true, true, true])
    const bad = goals(steady, [
      run('adaptive', { successRate: 0.998, p99Ms: 1300, p50Ms: 430, maxPerProbeInterval: 2, healthyEjections: 1 }),
      run('oracle'),
      run('native-legacy'),
      run('legacy-port', { successRate: 0.9 }),
      run('litellm-rules', { p99Ms: 2000, successRate: 0.9 }),
    ])
    expect(Object.fromEntries(bad.map((g) => [g.goal, g.pass]))).toEqual({
      'success ≥ 99.9% where the oracle reaches it': false,
      'p99 ≤ 1.25× the oracle’s': false,
      '≤ 1 attempt per probe interval inside an outage or a Retry-After': false,
      'no ejection of a healthy model (caller errors included)': false,
      'steady state: cost and p50 within 5% of `strategy: "legacy"`': false,
      'not behind litellm-rules on success and p99': true,
      'not behind legacy-port on success and p99': false, // p99 1.3 s > 1 s
      'not behind native-legacy on success and p99': false,
    })
  })

  test('the success goal does not apply where the oracle does not reach 99.9%', () => {
    const g = goals(steady, [run('adaptive', { successRate: 0.95 }), run('oracle', { successRate: 0.97 })])
    expect(g[0].pass).toBeNull()
  })
})

describe('the report', () => {
  const { simulateAll, markdown } = require('../bench/dist/resilience/main.js')
  const { unavailable } = require('../bench/dist/resilience/sides.js')

  test('a table per scenario with a row per side; the adaptive side is skipped with the reason exactly when the build refuses it', async () => {
    const res = await simulateAll({ ratePerSec: 1, scenarios: ['steady', 'outage'] })
    const md = markdown(res)
    expect(md).toContain('### steady: no fault')
    expect(md).toContain('### outage: gemini-2.5-flash answers 503 from 120 s to 180 s')
    expect(md).not.toContain('### brownout')
    for (const side of ['legacy-port', 'native-legacy', 'litellm-rules', 'oracle']) expect(md.split(`| ${side} | `).length - 1).toBe(2)
    const why = unavailable('adaptive')
    expect(res.skipped.has('adaptive')).toBe(why !== null)
    if (why !== null) expect(md).toContain(`**adaptive skipped**: ${why}`)
    else expect(md).toContain('Goals of `strategy: "adaptive"`')
  })

  test('an unknown scenario is refused with the list of names', async () => {
    await expect(simulateAll({ scenarios: ['nope'] })).rejects.toThrow(/--scenario must be one of steady, outage/)
  })
})

describe('the default scenarios', () => {
  test('six scenarios, each with its own fault script', () => {
    const all = scenarios()
    expect(all.map((s) => s.name)).toEqual(['steady', 'outage', 'rate-limit-storm', 'brownout', 'flapping', 'caller-errors'])
    const outage = all.find((s) => s.name === 'outage')
    expect(outage.outages).toEqual([{ model: TOP, fromMs: 120 * S, toMs: 180 * S }])
    expect(all.find((s) => s.name === 'brownout').brownouts[0]).toMatchObject({ factor: 10, fromMs: 120 * S, toMs: 150 * S })
    expect(all.find((s) => s.name === 'caller-errors').callerErrorShare).toBe(0.1)
  })
})
