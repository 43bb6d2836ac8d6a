// strategy "adaptive": outcomes → health, latency and in-flight state, through the public API,
// in virtual time (every router gets an injected clock; nothing sleeps).
const { ModelRouter } = require('model-router-native')

function config(name, latencyTarget, maxTokens = 8192, tier = 'pro') {
  return { name, tier, capabilities: ['code'], latencyTarget, costPerToken: 1e-6, maxTokens, apiKey: 'sk-SECRET' }
}
/** Three pro models; the legacy ranks them a, b, c for the context below (a is the fastest). */
function models() {
  return new Map([
    ['a', config('a', 400, 8192)],
    ['b', config('b', 600, 32768)],
    ['c', config('c', 900, 128000)],
  ])
}
const ctx = (over = {}) => ({
  task: 'Write a function to sort a list',
  userTier: 'pro',
  priority: 'high',
  latencyRequirement: 2000,
  ...over,
})

let routers = []
/** An adaptive router on a virtual clock: `r.t` is now (ms). */
function make(opts = {}) {
  const clock = { t: 1000 }
  const r = new ModelRouter({ strategy: 'adaptive', seed: 3, jitter: 0, clock: () => clock.t, ...opts })
  r.clock = clock
  r.events = []
  r.on('model_health_changed', (e) => r.events.push(e))
  routers.push(r)
  return r
}
afterEach(() => {
  for (const r of routers) r.shutdown()
  routers = []
})
const health = (r, name) => r.getModelHealth().find((h) => h.modelName === name)
async function route(r, m, over) {
  return r.selectOptimalModel(ctx(over), m)
}
/** Fails `n` decisions that name `name` with a 503 (routing until they do). */
async function failOn(r, m, name, n, outcome = { ok: false, latencyMs: 50, status: 503 }) {
  for (let i = 0; i < n; i++) {
    const d = await route(r, m)
    expect(d.modelName).toBe(name)
    r.reportOutcome(d, outcome)
  }
}

describe('decisions', () => {
  test('a healthy router picks the legacy’s best model, with the legacy’s decision shape', async () => {
    const r = make()
    const m = models()
    const d = await route(r, m)
    expect(Object.keys(d)).toEqual(['modelName', 'confidence', 'reason', 'routingTime', 'fromCache'])
    expect(d.modelName).toBe('a')
    expect(d.fromCache).toBe(false)
    const again = await route(r, m)
    expect(again.modelName).toBe('a')
    expect(again.fromCache).toBe(true)
    expect(JSON.parse(JSON.stringify(again))).toEqual({ ...again })
  })
})

describe('rate limits', () => {
  test('a 429 with Retry-After cools the model until then; no decision names it before', async () => {
    const r = make()
    const m = models()
    const d = await route(r, m)
    r.reportOutcome(d, { ok: false, latencyMs: 30, status: 429, retryAfterMs: 4000 })
    expect(r.events).toEqual([{ modelName: 'a', from: 'healthy', to: 'rate_limited', reason: 'rate_limited', untilMs: 5000 }])
    expect(health(r, 'a')).toMatchObject({ state: 'rate_limited', untilMs: 5000, reason: 'rate_limited' })
    for (let t = 1000; t < 5000; t += 500) {
      r.clock.t = t
      expect((await route(r, m)).modelName).not.toBe('a')
    }
    r.clock.t = 5000
    expect((await route(r, m)).modelName).toBe('a')
    expect(r.events[1]).toMatchObject({ modelName: 'a', from: 'rate_limited', to: 'healthy', reason: 'cooldown_over' })
  })

  test('errorType wins over status; a 429 without Retry-After uses the default cooldown', async () => {
    const r = make({ rateLimitCooldownMs: 2500 })
    const m = models()
    r.reportOutcome(await route(r, m), { ok: false, latencyMs: 30, status: 500, errorType: 'rate_limit' })
    expect(health(r, 'a')).toMatchObject({ state: 'rate_limited', untilMs: 3500 })
  })

  test('Retry-After is capped by maxRateLimitCooldownMs', async () => {
    const r = make({ maxRateLimitCooldownMs: 10_000 })
    r.reportOutcome(await route(r, models()), { ok: false, latencyMs: 30, status: 429, retryAfterMs: 3_600_000 })
    expect(health(r, 'a').untilMs).toBe(11_000)
  })
})

describe('ejection and the half-open probe', () => {
  test('consecutive failures eject; after the ejection time exactly one request probes; its success restores', async () => {
    const r = make({ baseEjectionMs: 5000 })
    const m = models()
    await failOn(r, m, 'a', 3)
    expect(health(r, 'a')).toMatchObject({ state: 'ejected', untilMs: 6000, ejections: 1, reason: 'consecutive_failures' })
    for (let i = 0; i < 5; i++) {
      const d = await route(r, m)
      expect(d.modelName).toBe('b')
      r.reportOutcome(d, { ok: true, latencyMs: 300 })
    }
    r.clock.t = 6000
    const probe = await route(r, m)
    expect(probe.modelName).toBe('a')
    expect(probe.reason).toMatch(/probe/)
    expect(health(r, 'a').state).toBe('probing')
    // while the probe is out, nothing else goes to a
    for (let i = 0; i < 5; i++) {
      const d = await route(r, m)
      expect(d.modelName).toBe('b')
      r.reportOutcome(d, { ok: true, latencyMs: 300 })
    }
    r.reportOutcome(probe, { ok: true, latencyMs: 300 })
    expect(health(r, 'a').state).toBe('healthy')
    expect((await route(r, m)).modelName).toBe('a')
    expect(r.events.map((e) => `${e.from}>${e.to}:${e.reason}`)).toEqual([
      'healthy>ejected:consecutive_failures',
      'ejected>probing:probe_started',
      'probing>healthy:probe_succeeded',
    ])
  })

  test('a failed probe ejects again for longer, up to the cap', async () => {
    const r = make({ baseEjectionMs: 5000, maxEjectionMs: 12_000 })
    const m = models()
    await failOn(r, m, 'a', 3)
    const lengths = [health(r, 'a').untilMs - r.clock.t]
    for (let k = 0; k < 3; k++) {
      r.clock.t = health(r, 'a').untilMs
      const probe = await route(r, m)
      expect(probe.modelName).toBe('a')
      r.reportOutcome(probe, { ok: false, latencyMs: 20, errorType: 'connection' })
      expect(health(r, 'a').reason).toBe('probe_failed')
      lengths.push(health(r, 'a').untilMs - r.clock.t)
    }
    expect(lengths).toEqual([5000, 10_000, 12_000, 12_000])
    expect(health(r, 'a').ejections).toBe(4)
  })

  test('a failure ratio over the window ejects, with a minimum volume', async () => {
    const r = make({ consecutiveFailures: 100, failureRateMinRequests: 6, failureRateThreshold: 0.5 })
    const m = models()
    for (let i = 0; i < 5; i++) {
      const d = await route(r, m)
      r.reportOutcome(d, i % 2 === 0 ? { ok: false, latencyMs: 10, status: 502 } : { ok: true, latencyMs: 300 })
      expect(health(r, 'a').state).toBe('healthy')
    }
    r.reportOutcome(await route(r, m), { ok: false, latencyMs: 10, status: 500 }) // 4 of 6
    expect(health(r, 'a')).toMatchObject({ state: 'ejected', reason: 'failure_rate' })
  })

  test('recordPerformance(…, false) counts as a server failure', async () => {
    const r = make()
    const m = models()
    await route(r, m)
    for (let i = 0; i < 3; i++) r.recordPerformance('a', 100, false, 0)
    expect(health(r, 'a').state).toBe('ejected')
    expect((await route(r, m)).modelName).toBe('b')
  })

  test('auth failures eject until availability is restored', async () => {
    const r = make()
    const m = models()
    r.reportOutcome(await route(r, m), { ok: false, latencyMs: 10, status: 401 })
    expect(health(r, 'a')).toMatchObject({ state: 'auth_failed' })
    expect(health(r, 'a').untilMs).toBeUndefined()
    r.clock.t += 10 * 3600_000
    expect((await route(r, m)).modelName).toBe('b')
    r.updateModelAvailability('a', true)
    expect(health(r, 'a').state).toBe('healthy')
    expect(r.events.at(-1)).toMatchObject({ from: 'auth_failed', to: 'healthy', reason: 'availability_restored' })
    expect((await route(r, m)).modelName).toBe('a')
  })
})

describe("the caller's errors", () => {
  test('bad_request, context_length and content_policy never eject', async () => {
    const r = make()
    const m = models()
    for (const outcome of [
      { ok: false, latencyMs: 5, status: 400 },
      { ok: false, latencyMs: 5, status: 422 },
      { ok: false, latencyMs: 5, errorType: 'context_length' },
      { ok: false, latencyMs: 5, status: 413 },
      { ok: false, latencyMs: 5, errorType: 'content_policy', status: 500 },
    ]) {
      for (let i = 0; i < 10; i++) {
        const d = await route(r, m)
        expect(d.modelName).toBe('a')
        r.reportOutcome(d, outcome)
      }
    }
    expect(health(r, 'a')).toMatchObject({ state: 'healthy', ejections: 0, consecutiveFailures: 0 })
    expect(r.events).toEqual([])
  })

  test('a retry after context_length goes to a model with a larger maxTokens', async () => {
    const r = make()
    const m = models()
    const first = await route(r, m)
    expect(first.modelName).toBe('a')
    r.reportOutcome(first, { ok: false, latencyMs: 5, errorType: 'context_length' })
    const retry = await route(r, m, { retryCount: 1, previousModel: 'a' })
    expect(m.get(retry.modelName).maxTokens).toBeGreaterThan(8192)
    r.reportOutcome(retry, { ok: false, latencyMs: 5, status: 413 })
    const again = await route(r, m, { retryCount: 2, previousModel: retry.modelName })
    expect(m.get(again.modelName).maxTokens).toBeGreaterThan(m.get(retry.modelName).maxTokens)
  })

  test('after any failure a retry never gets previousModel back while another model fits', async () => {
    const r = make()
    const m = models()
    const d = await route(r, m)
    r.reportOutcome(d, { ok: false, latencyMs: 5, status: 500 })
    for (let i = 0; i < 10; i++) {
      expect((await route(r, m, { retryCount: 1, previousModel: 'a' })).modelName).not.toBe('a')
    }
    // with only that model in the Map it is named again
    const only = new Map([['a', config('a', 400)]])
    expect((await route(r, only, { retryCount: 1, previousModel: 'a' })).modelName).toBe('a')
  })
})

describe('never eject everything', () => {
  async function coolAll(r, _m) {
    let k = 0
    for (const [name, ms] of [
      ['a', 9000],
      ['b', 3000],
      ['c', 6000],
    ]) {
      r.reportOutcome(name, { ok: false, latencyMs: 5, status: 429, retryAfterMs: ms + k++ })
    }
    expect(r.getModelHealth().every((h) => h.state === 'rate_limited')).toBe(true)
  }

  test('names the model that clears soonest and says so', async () => {
    const r = make()
    const m = models()
    await route(r, m)
    await coolAll(r, m)
    const d = await route(r, m)
    expect(d.modelName).toBe('b')
    expect(d.reason).toMatch(/no healthy model.*b clears soonest/i)
  })

  test('whenNoneHealthy "reject" rejects with ERR_NO_HEALTHY_MODEL and retryAfterMs', async () => {
    const r = make({ whenNoneHealthy: 'reject' })
    const m = models()
    await route(r, m)
    await coolAll(r, m)
    r.clock.t += 1000
    await expect(route(r, m)).rejects.toMatchObject({ code: 'ERR_NO_HEALTHY_MODEL', retryAfterMs: 3001 - 1000 })
  })
})

describe('latency and load', () => {
  test('calls out for longer than expected mark a model slow before any answer comes back', async () => {
    const r = make({ lateCalls: 2 }) // lateFactor 1.5 × a's target 400: two calls out > 600 ms
    const m = models()
    await route(r, m)
    await route(r, m)
    r.clock.t += 600
    expect((await route(r, m)).modelName).toBe('a')
    r.clock.t += 1
    expect((await route(r, m)).modelName).not.toBe('a')
  })

  test('one slow answer moves nothing: the next decisions stay on the model', async () => {
    const r = make()
    const m = models()
    r.reportOutcome(await route(r, m), { ok: true, latencyMs: 300 })
    r.clock.t += 100
    r.reportOutcome(await route(r, m), { ok: true, latencyMs: 9000 }) // a's latency tail
    expect(health(r, 'a').latencyEstimateMs).toBeLessThan(310) // 300, decaying towards the 400 ms target
    for (let i = 0; i < 5; i++) {
      const next = await route(r, m)
      expect(next.modelName).toBe('a')
      r.reportOutcome(next, { ok: true, latencyMs: 300 })
    }
  })

  test('a slow answer confirmed by the next counts at once: the next decisions avoid the slow model', async () => {
    const r = make()
    const m = models()
    r.reportOutcome(await route(r, m), { ok: true, latencyMs: 9000 })
    expect(health(r, 'a').latencyEstimateMs).toBe(400) // held: a's target until confirmed
    r.clock.t += 100
    r.reportOutcome(await route(r, m), { ok: true, latencyMs: 9500 })
    expect(health(r, 'a').latencyEstimateMs).toBe(9000) // the lower of the two
    for (let i = 0; i < 5; i++) {
      const next = await route(r, m)
      expect(next.modelName).not.toBe('a')
      r.reportOutcome(next, { ok: true, latencyMs: 500 })
    }
    // recovery decays with time: long after, a is preferred again
    r.clock.t += 120_000
    expect((await route(r, m)).modelName).toBe('a')
  })

  test('a fast failure is penalised, not read as fast', async () => {
    const r = make({ consecutiveFailures: 100, failureRateMinRequests: 1000 })
    const m = models()
    r.reportOutcome(await route(r, m), { ok: true, latencyMs: 400 })
    r.reportOutcome(await route(r, m), { ok: false, latencyMs: 1, errorType: 'connection' })
    expect(health(r, 'a').latencyEstimateMs).toBeGreaterThanOrEqual(800)
  })
})

describe('in-flight accounting', () => {
  test('counted from decision to outcome, by decision or by model name', async () => {
    const r = make()
    const m = models()
    const ds = []
    for (let i = 0; i < 4; i++) ds.push(await route(r, m))
    expect(health(r, 'a').inFlight).toBe(4)
    r.reportOutcome(ds[2], { ok: true, latencyMs: 300 })
    r.reportOutcome(ds[0], { ok: true, latencyMs: 300 })
    expect(health(r, 'a').inFlight).toBe(2)
    r.reportOutcome('a', { ok: true, latencyMs: 300 })
    expect(health(r, 'a').inFlight).toBe(1)
  })

  test('an outcome never reported expires, and the count is capped', async () => {
    const r = make({ inFlightTimeoutMs: 60_000, maxInFlight: 5 })
    const m = models()
    for (let i = 0; i < 20; i++) await route(r, m)
    expect(health(r, 'a').inFlight).toBe(5)
    r.clock.t += 60_000
    expect(health(r, 'a').inFlight).toBe(0)
  })
})

describe('bad input', () => {
  test('bad outcomes throw a TypeError/RangeError naming the field, and nothing is applied', async () => {
    const r = make()
    const m = models()
    const d = await route(r, m)
    const before = r.getModelHealth()
    const cases = [
      [undefined, TypeError, /^outcome must be/],
      [{ latencyMs: 1 }, TypeError, /outcome\.ok/],
      [{ ok: true, latencyMs: -1 }, RangeError, /outcome\.latencyMs/],
      [{ ok: true, latencyMs: NaN }, RangeError, /outcome\.latencyMs/],
      [{ ok: true, latencyMs: '5' }, TypeError, /outcome\.latencyMs/],
      [{ ok: false, latencyMs: 1, errorType: 'teapot' }, TypeError, /outcome\.errorType/],
      [{ ok: false, latencyMs: 1, status: 99 }, RangeError, /outcome\.status/],
      [{ ok: false, latencyMs: 1, status: 429, retryAfterMs: -5 }, RangeError, /outcome\.retryAfterMs/],
      [{ ok: true, latencyMs: 1, cost: Infinity }, RangeError, /outcome\.cost/],
      [{ ok: true, latencyMs: 1, inputTokens: 'x' }, TypeError, /outcome\.inputTokens/],
    ]
    for (const [o, E, msg] of cases) {
      expect(() => r.reportOutcome(d, o)).toThrow(E)
      expect(() => r.reportOutcome(d, o)).toThrow(msg)
    }
    expect(() => r.reportOutcome({ ...d }, { ok: true, latencyMs: 1 })).toThrow(/decision must be a RoutingDecision this router made/)
    expect(() => r.reportOutcome(42, { ok: true, latencyMs: 1 })).toThrow(TypeError)
    const other = make()
    expect(() => other.reportOutcome(d, { ok: true, latencyMs: 1 })).toThrow(TypeError)
    expect(r.getModelHealth()).toEqual(before)
    expect(health(r, 'a').inFlight).toBe(1)
  })

  test('bad options throw before anything is created', () => {
    expect(() => new ModelRouter({ strategy: 'adaptiv' })).toThrow(TypeError)
    expect(() => new ModelRouter({ clock: 5 })).toThrow(/options\.clock/)
    expect(() => new ModelRouter({ whenNoneHealthy: 'random' })).toThrow(/options\.whenNoneHealthy/)
    expect(() => new ModelRouter({ consecutiveFailures: 0 })).toThrow(RangeError)
    expect(() => new ModelRouter({ consecutiveFailures: 1.5 })).toThrow(/options\.consecutiveFailures/)
    expect(() => new ModelRouter({ failureRateThreshold: 2 })).toThrow(RangeError)
    expect(() => new ModelRouter({ baseEjectionMs: -1 })).toThrow(/options\.baseEjectionMs/)
    expect(() => new ModelRouter({ baseEjectionMs: 10, maxEjectionMs: 5 })).toThrow(RangeError)
    expect(() => new ModelRouter({ slowFactor: 0.5 })).toThrow(/options\.slowFactor/)
    expect(() => new ModelRouter({ latencyDecayMs: '5' })).toThrow(TypeError)
  })

  test('a retry context with a bad retryCount or previousModel is refused', async () => {
    const r = make()
    await expect(route(r, models(), { retryCount: -1 })).rejects.toThrow(/context\.retryCount/)
    await expect(route(r, models(), { previousModel: 5 })).rejects.toThrow(/context\.previousModel/)
  })

  test('a clock that returns a non-number is reported, naming it', async () => {
    const r = new ModelRouter({ strategy: 'adaptive', clock: () => NaN })
    routers.push(r)
    await expect(r.selectOptimalModel(ctx(), models())).rejects.toThrow(/options\.clock\(\)/)
  })
})

describe('strategy "legacy" with outcomes', () => {
  test('health is kept and shown, but decisions stay the legacy’s', async () => {
    const r = make({ strategy: 'legacy' })
    const m = models()
    const first = await route(r, m)
    for (let i = 0; i < 5; i++) r.reportOutcome(await route(r, m), { ok: false, latencyMs: 10, status: 503 })
    expect(health(r, first.modelName).state).toBe('ejected')
    expect(r.events.map((e) => e.to)).toEqual(['ejected'])
    expect((await route(r, m)).modelName).toBe(first.modelName)
    expect(() => r.reportOutcome({}, { ok: true, latencyMs: 1 })).toThrow(TypeError)
  })
})

describe('the injected clock', () => {
  test.each(['legacy', 'adaptive'])('drives the routing-cache TTL (%s)', async (strategy) => {
    const r = make({ strategy, cacheTtlMs: 10_000 })
    const m = models()
    await route(r, m)
    expect((await route(r, m)).fromCache).toBe(true)
    r.clock.t += 9_999
    expect((await route(r, m)).fromCache).toBe(true)
    r.clock.t += 1
    expect((await route(r, m)).fromCache).toBe(false)
  })
})
