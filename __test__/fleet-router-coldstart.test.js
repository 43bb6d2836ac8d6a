// ModelRouter in fleet mode on a real redis-server: the first decisions of a fresh router
// (a cold start: a serverless function, a new pod), and a lease that runs dry under a burst,
// are admitted when every limit has room. A decision that needs a lease not yet granted
// waits for it (at most `2 × timeoutMs` + 10 ms) instead of being refused; when Redis does not answer
// in time it proceeds on the process's share of the limit. The routers' clocks are virtual
// and no test sleeps to let them pass: every decision is made right after the router is.
// Real time passes only where it is the thing tested: the lease calls to Redis, and a
// paused server, whose call gives up after `timeoutMs` of real time (the `fleet_degraded`
// event is then polled for, with a ceiling far above that).
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { startRedis, until } = require('./fixtures/fleet-redis')
const fx = require('./fixtures/fleet-router')
const { EVENTUALLY_MS, ctx } = fx

jest.setTimeout(60_000)

// costs high enough for the budgets below to bind within a few decisions
const COST = { costPerToken: 1e-4 }
const config = (name, latencyTarget, extra = {}) => fx.config(name, latencyTarget, { ...COST, ...extra })
const models = (extra = {}) => fx.models({ ...extra, all: COST })

let redis
let routers = []
let prefixes = 0
beforeAll(async () => {
  redis = await startRedis()
})
afterEach(() => {
  for (const r of routers) r.shutdown()
  routers = []
})
afterAll(async () => {
  await redis?.stop()
})

const router = (prefix, opts = {}, server = redis) =>
  fx.fleetRouter(server, prefix, { whenNoneHealthy: 'reject', ...opts }, ['fleet_degraded', 'fleet_restored'], routers)
const newPrefix = () => `c${++prefixes}:`
/** Requests the fleet's window of `model` holds (granted to every router, spent or not). */
const requestsGranted = (prefix, model = 'top') => {
  const key = redis.cli('--scan', '--pattern', `${prefix}q:*:${model}`)
  if (key === '') return 0
  const f = redis.cli('HGETALL', key).split('\n')
  let n = 0
  for (let i = 0; i + 1 < f.length; i += 2) if (f[i].startsWith('r')) n += Number(f[i + 1])
  return n
}

describe('a fresh router admits its first decisions', () => {
  test('with a budget: the first decision right after setBudget is admitted, within the fleet’s limit', async () => {
    const prefix = newPrefix()
    const a = router(prefix)
    a.setBudget({ scope: 'global', limit: 1, windowMs: 3_600_000 })
    const d = await a.selectOptimalModel(ctx(), models())
    expect(d.modelName).toBe('top')
    // the spend went through a lease of the fleet's budget, not around it
    const key = redis.cli('--scan', '--pattern', `${prefix}b:*`)
    expect(Number(redis.cli('HGET', key, 's'))).toBeGreaterThan(0)
    expect(a.events).toEqual([])
  })

  test('with rpm on every model and whenNoneHealthy "reject": no ERR_NO_HEALTHY_MODEL, the preferred model serves', async () => {
    const prefix = newPrefix()
    const a = router(prefix)
    const m = models({ top: { rpm: 100 }, next: { rpm: 100 } })
    const d = await a.selectOptimalModel(ctx(), m)
    expect(d.modelName).toBe('top')
    // counted in the fleet's window
    expect(requestsGranted(prefix)).toBeGreaterThanOrEqual(1)
  })

  test('with rpm on the preferred model only: it serves the first decision (not the other candidate)', async () => {
    const a = router(newPrefix())
    const d = await a.selectOptimalModel(ctx(), models({ top: { tpm: 100_000, rpm: 100 } }))
    expect(d.modelName).toBe('top')
  })

  test('concurrent first decisions share one wait: every one admitted, none over the limit', async () => {
    const prefix = newPrefix()
    const a = router(prefix)
    const m = models({ top: { rpm: 40 }, next: { rpm: 40 } })
    a.setBudget({ scope: 'global', limit: 1000, windowMs: 3_600_000 })
    const all = await Promise.allSettled(Array.from({ length: 20 }, () => a.selectOptimalModel(ctx(), m)))
    expect(all.filter((s) => s.status === 'rejected').map((s) => s.reason.code)).toEqual([])
    // a lone process's first lease is a quarter of each rpm: 10 requests of `top`, 10 of
    // `next`. The 20 decisions wait for both and are then made one after another: `top`
    // (the lower latency target) until its lease is spent, the other 10 on `next`'s lease.
    // A decision that skipped the wait would have been refused or sent elsewhere.
    const named = (n) => all.filter((s) => s.value.modelName === n).length
    expect([named('top'), named('next')]).toEqual([10, 10])
    expect(requestsGranted(prefix)).toBeLessThanOrEqual(40)
  })

  test('after the first lease: a burst that empties it waits for the refill instead of being refused', async () => {
    const prefix = newPrefix()
    const a = router(prefix)
    // one process: a slice is a quarter of the limit (100 requests of 400); no other candidate
    const m = new Map([['top', config('top', 300, { rpm: 400 })]])
    await a.selectOptimalModel(ctx(), m)
    const burst = await Promise.allSettled(Array.from({ length: 150 }, () => a.selectOptimalModel(ctx(), m)))
    expect(burst.filter((s) => s.status === 'rejected').map((s) => s.reason.code)).toEqual([])
    // the fleet's window holds every request sent, and no more than the limit
    const sent = 1 + burst.filter((s) => s.value.modelName === 'top').length
    expect(sent).toBeGreaterThan(100)
    expect(requestsGranted(prefix)).toBeGreaterThanOrEqual(sent)
    expect(requestsGranted(prefix)).toBeLessThanOrEqual(400)
  })

  test('a limit genuinely spent is still refused', async () => {
    const prefix = newPrefix()
    const a = router(prefix)
    const m = models({ top: { rpm: 2 }, next: { rpm: 2 } })
    const codes = []
    for (let i = 0; i < 8; i++) {
      a.clock.t += 1
      try {
        await a.selectOptimalModel(ctx(), m)
      } catch (e) {
        codes.push(e.code)
      }
    }
    expect(codes).toEqual(['ERR_NO_HEALTHY_MODEL', 'ERR_NO_HEALTHY_MODEL', 'ERR_NO_HEALTHY_MODEL', 'ERR_NO_HEALTHY_MODEL'])
    expect(requestsGranted(prefix)).toBeLessThanOrEqual(4)
  })

  test('Redis not answering: the first decision waits at most 2 × timeoutMs + 10 ms, then proceeds on the share', async () => {
    const r = await startRedis()
    try {
      const prefix = newPrefix()
      const a = router(prefix, { redis: { timeoutMs: 50 } }, r)
      a.setBudget({ scope: 'global', limit: 1000, windowMs: 3_600_000 })
      r.cli('CLIENT', 'PAUSE', '2000', 'ALL')
      const m = models({ top: { rpm: 100 }, next: { rpm: 100 } })
      const d = await a.selectOptimalModel(ctx(), m)
      expect(d.modelName).toBe('top')
      expect(await until(() => a.events.some((x) => x.e === 'fleet_degraded'), EVENTUALLY_MS / 10, 10)).toBe(true)
      // on the share (one live process: the whole limit), in this process's own window
      let top = 0
      for (let i = 0; i < 120; i++) {
        a.clock.t += 1
        try {
          if ((await a.selectOptimalModel(ctx(), m)).modelName === 'top') top++
        } catch (e) {
          expect(e.code).toBe('ERR_NO_HEALTHY_MODEL')
        }
      }
      expect(top).toBe(99)
    } finally {
      await r.stop()
    }
  })

  test('a script awaiting its first decision gets it and exits by itself', () => {
    const script = `
      const { ModelRouter } = require('model-router-native')
      const r = new ModelRouter({ strategy: 'adaptive', whenNoneHealthy: 'reject', redis: { url: ${JSON.stringify(redis.url)}, prefix: 'exit:' } })
      r.setBudget({ scope: 'global', limit: 1, windowMs: 60000 })
      const m = new Map([['a', { name: 'a', tier: 'pro', capabilities: [], latencyTarget: 300, costPerToken: 1e-6, maxTokens: 1000, rpm: 10 }]])
      r.selectOptimalModel({ task: 'x', userTier: 'pro', priority: 'low', latencyRequirement: 2000 }, m).then(
        (d) => console.log(JSON.stringify({ model: d.modelName })),
        (e) => console.log(JSON.stringify({ error: e.code })),
      )`
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: path.join(__dirname, '..'), timeout: 20_000 })
    expect(JSON.parse(out)).toEqual({ model: 'a' })
  })
})
