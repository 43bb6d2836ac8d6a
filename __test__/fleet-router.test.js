// ModelRouter's fleet state on a real redis-server (started on a free port per file): the
// `redis` option, the health mirror (another router's ejection honoured without a Redis call
// per decision, one prober per ejected model, a late joiner reading the stored state),
// fleet-wide quotas on leases, and faults. Routers with their own connections stand for
// processes (each has its own origin id on the bus); the routers' clocks are virtual, and
// waits poll a bounded number of times for messages to arrive, never for time to pass.
const { execFileSync, spawn } = require('node:child_process')
const path = require('node:path')
const { ModelRouter } = require('model-router-native')
const { startRedis, until, sleep } = require('./fixtures/fleet-redis')
const { EVENTUALLY_MS, ctx, models, fleetRouter } = require('./fixtures/fleet-router')

jest.setTimeout(60_000)

let redis
let routers = []
let prefixes = 0
beforeAll(async () => {
  redis = await startRedis({ extra: ['--enable-debug-command', 'yes'] })
})
afterEach(() => {
  for (const r of routers) r.shutdown()
  routers = []
})
afterAll(async () => {
  await redis?.stop()
})

/** A router on its own connection and a virtual clock (`r.clock.t`). */
const router = (prefix, opts = {}, server = redis) =>
  fleetRouter(server, prefix, opts, ['fleet_degraded', 'fleet_restored', 'fleet_health', 'model_health_changed'], routers)
const newPrefix = () => `t${++prefixes}:`
const health = (r, name) => r.getModelHealth().find((h) => h.modelName === name) ?? { state: 'unknown' }
const commands = () => Number(/total_commands_processed:(\d+)/.exec(redis.cli('INFO', 'stats'))[1])
/** Subscribers of the bus: a router is ready to hear others once it has subscribed. */
const subscribed = (prefix, n) =>
  until(() => Number(redis.cli('PUBSUB', 'NUMSUB', `${prefix}bus`).split('\n')[1]) >= n, EVENTUALLY_MS / 10, 10)

async function eject(r, m, name = 'top') {
  for (let i = 0; i < 3; i++) {
    const d = await r.selectOptimalModel(ctx(), m)
    expect(d.modelName).toBe(name)
    r.reportOutcome(d, { ok: false, latencyMs: 100, status: 500 })
  }
  expect(health(r, name).state).toBe('ejected')
}

describe('the redis option', () => {
  test('bad options throw a TypeError/RangeError naming the field, never the password', () => {
    const secret = 'hunter2-secret'
    expect(() => new ModelRouter({ redis: { url: 42 } })).toThrow(/redis\.url must be a string/)
    let err
    try {
      new ModelRouter({ strategy: 'adaptive', redis: { url: `http://u:${secret}@h:1` } })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(TypeError)
    expect(err.message).toMatch(/redis\.url/)
    expect(err.message).not.toContain(secret)
    expect(() => new ModelRouter({ redis: { url: redis.url, timeoutMs: 0 } })).toThrow(RangeError)
    expect(() => new ModelRouter({ redis: { url: redis.url, timeoutMs: 1.5 } })).toThrow(/redis\.timeoutMs/)
    expect(() => new ModelRouter({ redis: { url: redis.url, prefix: '' } })).toThrow(/redis\.prefix/)
    expect(() => new ModelRouter({ redis: 'redis://x' })).toThrow(TypeError)
  })

  test('without it no runtime thread starts; with it one does; the process exits by itself', () => {
    const script = (withRedis) => `
      const fs = require('fs')
      const { ModelRouter } = require('model-router-native')
      const r = new ModelRouter({ strategy: 'adaptive' ${withRedis ? `, redis: { url: ${JSON.stringify(redis.url)} }` : ''} })
      const m = new Map([['a', { name: 'a', tier: 'pro', capabilities: [], latencyTarget: 300, costPerToken: 1e-6, maxTokens: 1000 }]])
      const count = () => fs.readdirSync('/proc/self/task').filter((t) => fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() === 'mrn-fleet').length
      let tries = 0
      const look = () => {
        const n = count()
        if (n > 0 || ++tries === 50) r.selectOptimalModel({ task: 'x', userTier: 'pro', priority: 'low', latencyRequirement: 2000 }, m).then((d) => console.log(JSON.stringify({ fleet: n, model: d.modelName })))
        else setTimeout(look, 10)
      }
      look()`
    const run = (s) =>
      JSON.parse(execFileSync(process.execPath, ['-e', s], { encoding: 'utf8', cwd: path.join(__dirname, '..'), timeout: 20_000 }))
    expect(run(script(false))).toEqual({ fleet: 0, model: 'a' })
    // with the option: a thread, and still the process exits without shutdown()
    expect(run(script(true))).toEqual({ fleet: 1, model: 'a' })
  })

  test('apiKey in model configs never reaches Redis', async () => {
    const secret = 'sk-never-sent-42'
    const prefix = newPrefix()
    const monitor = spawn('redis-cli', ['-p', String(redis.port), 'MONITOR'])
    let seen = ''
    monitor.stdout.on('data', (d) => (seen += d))
    try {
      await sleep(50)
      const a = router(prefix)
      const m = models({ top: { apiKey: secret }, next: { apiKey: secret, rpm: 100 } })
      await subscribed(prefix, 1)
      await eject(a, m)
      for (let i = 0; i < 5; i++) await a.selectOptimalModel(ctx(), m)
      expect(await until(() => seen.includes(`${prefix}h:`) && seen.includes('EVAL'), EVENTUALLY_MS / 10, 10)).toBe(true)
      expect(seen).not.toContain(secret)
      const keys = redis.cli('--scan', '--pattern', `${prefix}*`).split('\n').filter(Boolean)
      expect(keys.length).toBeGreaterThan(0)
      for (const k of keys) expect(redis.cli('DUMP', k)).not.toContain(secret)
    } finally {
      monitor.kill()
    }
  })
})

describe('health mirror', () => {
  test("another router's ejection is honoured at once, with no Redis call per decision", async () => {
    const prefix = newPrefix()
    const [a, b] = [router(prefix), router(prefix)]
    const m = models()
    await subscribed(prefix, 2)
    expect((await b.selectOptimalModel(ctx(), m)).modelName).toBe('top')
    await eject(a, m)
    expect(await until(() => health(b, 'top').state === 'ejected', EVENTUALLY_MS / 5, 5)).toBe(true)
    // b's own state machine did not change: no model_health_changed on b; fleet_health says
    // what its mirror applied
    expect(b.events.filter((x) => x.e === 'model_health_changed')).toEqual([])
    // (the message, and possibly the stored state read on subscription, by then holding it)
    const applied = b.events.filter((x) => x.e === 'fleet_health').map((x) => x.p)
    expect(applied.length).toBeGreaterThanOrEqual(1)
    for (const p of applied) expect([p.modelName, p.state]).toEqual(['top', 'ejected'])
    expect(applied.at(-1).untilMs).toBe(health(b, 'top').untilMs)
    const before = commands()
    const names = []
    for (let i = 0; i < 200; i++) {
      b.clock.t += 1
      names.push((await b.selectOptimalModel(ctx(), m)).modelName)
    }
    const calls = commands() - before
    expect(new Set(names)).toEqual(new Set(['next']))
    // background heartbeats may run meanwhile; 200 decisions made no call each
    expect(calls).toBeLessThan(20)
    console.log(`200 decisions on b while a's ejection held: ${calls} Redis commands (all background)`)
  })

  test('the ejecting router probes; the others wait for its word, even past the ejection time', async () => {
    const prefix = newPrefix()
    const [a, b] = [router(prefix), router(prefix)]
    const m = models()
    await subscribed(prefix, 2)
    await eject(a, m)
    expect(await until(() => health(b, 'top').state === 'ejected', EVENTUALLY_MS / 5, 5)).toBe(true)
    const untilB = health(b, 'top').untilMs
    // b's clock far past the ejection time (not past its stored state's expiry): still out
    b.clock.t = untilB + 1000
    expect((await b.selectOptimalModel(ctx(), m)).modelName).toBe('next')
    // a's ejection ends: its next decision is the probe, published as such
    a.clock.t = health(a, 'top').untilMs
    const probe = await a.selectOptimalModel(ctx(), m)
    expect(probe.modelName).toBe('top')
    expect(health(a, 'top').state).toBe('probing')
    a.reportOutcome(probe, { ok: true, latencyMs: 100 })
    expect(health(a, 'top').state).toBe('healthy')
    expect(await until(() => health(b, 'top').state === 'healthy', EVENTUALLY_MS / 5, 5)).toBe(true)
    expect((await b.selectOptimalModel(ctx(), m)).modelName).toBe('top')
  })

  test('a router started later reads the current ejections on connect', async () => {
    const prefix = newPrefix()
    const a = router(prefix)
    const m = models()
    await subscribed(prefix, 1)
    await eject(a, m)
    expect(
      await until(() => redis.cli('EXISTS', redis.cli('--scan', '--pattern', `${prefix}h:*`) || 'none') === '1', EVENTUALLY_MS / 5, 5),
    ).toBe(true)
    const c = router(prefix)
    expect(await until(() => health(c, 'top')?.state === 'ejected', EVENTUALLY_MS / 5, 5)).toBe(true)
    expect((await c.selectOptimalModel(ctx(), m)).modelName).toBe('next')
  })

  test('when the ejecting router goes silent, exactly one other takes the probe (SET NX PX)', async () => {
    const prefix = newPrefix()
    const probeTimeoutMs = 5000
    const [a, b, c] = [router(prefix, { probeTimeoutMs }), router(prefix, { probeTimeoutMs }), router(prefix, { probeTimeoutMs })]
    const m = models()
    await subscribed(prefix, 3)
    await eject(a, m)
    expect(await until(() => health(b, 'top').state === 'ejected' && health(c, 'top').state === 'ejected', EVENTUALLY_MS / 5, 5)).toBe(true)
    const held = health(b, 'top').untilMs
    a.shutdown() // never probes, never says restored
    // past the ejection and the stored state's life on both clocks: the work timer asks for the lock
    const t = held + probeTimeoutMs + 1
    for (const r of [b, c]) r.clock.t = t
    // the lock's answer: the taker's ejection ends now (its probe is due), the other's hold
    // is extended by another probe's time
    const settled = (r) => [t, t + probeTimeoutMs].includes(health(r, 'top').untilMs)
    expect(await until(() => settled(b) && settled(c), EVENTUALLY_MS / 5, 5)).toBe(true)
    expect([health(b, 'top').untilMs, health(c, 'top').untilMs].sort((x, y) => x - y)).toEqual([t, t + probeTimeoutMs])
    const picks = []
    for (const r of [b, c]) picks.push((await r.selectOptimalModel(ctx(), m)).modelName)
    expect(picks.filter((n) => n === 'top')).toHaveLength(1)
    const prober = picks[0] === 'top' ? b : c
    expect(health(prober, 'top').state).toBe('probing')
  })
})

describe('fleet-wide quotas', () => {
  test('four routers together stay within the rpm of the window; unspent leases are given back on shutdown', async () => {
    const prefix = newPrefix()
    const fleet = [0, 1, 2, 3].map(() => router(prefix, { whenNoneHealthy: 'reject' }))
    const m = models({ top: { rpm: 100 } })
    await subscribed(prefix, 4)
    let top = 0
    for (let round = 0; round < 150; round++) {
      for (const r of fleet) {
        r.clock.t += 1
        const d = await r.selectOptimalModel(ctx(), m)
        if (d.modelName === 'top') top++
        r.reportOutcome(d, { ok: true, latencyMs: 100 })
      }
      await sleep(1) // lease answers arrive between rounds
    }
    console.log(`fleet-wide rpm 100: ${top} requests named top over 600 decisions of 4 routers`)
    expect(top).toBeLessThanOrEqual(100)
    expect(top).toBeGreaterThanOrEqual(50)
    const key = redis.cli('--scan', '--pattern', `${prefix}q:*`)
    const used = () => {
      const f = redis.cli('HGETALL', key).split('\n')
      let n = 0
      for (let i = 0; i + 1 < f.length; i += 2) if (f[i].startsWith('r')) n += Number(f[i + 1])
      return n
    }
    expect(used()).toBeGreaterThanOrEqual(top)
    for (const r of fleet) r.shutdown()
    expect(await until(() => used() === top, EVENTUALLY_MS / 5, 5)).toBe(true)
  })

  test('tpm holds fleet-wide: reserved tokens count in the shared window', async () => {
    const prefix = newPrefix()
    const pair = [0, 1].map(() => router(prefix, { whenNoneHealthy: 'reject' }))
    const m = models({ top: { tpm: 2000 } })
    await subscribed(prefix, 2)
    let tokens = 0
    for (let round = 0; round < 60; round++) {
      for (const r of pair) {
        r.clock.t += 1
        const d = await r.selectOptimalModel(ctx({ tokenBudget: 190 }), m)
        if (d.modelName === 'top') {
          // the call used what was reserved (the task's estimate + the budget)
          const e = await r.explain(ctx({ tokenBudget: 190 }), m)
          tokens += e.requiredTokens
          r.reportOutcome(d, { ok: true, latencyMs: 100, inputTokens: e.requiredTokens - 190, outputTokens: 190 })
        } else r.reportOutcome(d, { ok: true, latencyMs: 100 })
      }
      await sleep(1)
    }
    console.log(`fleet-wide tpm 2000: ${tokens} tokens sent to top by 2 routers`)
    expect(tokens).toBeLessThanOrEqual(2000)
    expect(tokens).toBeGreaterThanOrEqual(1000)
  })

  test('degraded (redis killed), each router keeps to its share; fleet_degraded once, fleet_restored after', async () => {
    const r = await startRedis()
    const prefix = newPrefix()
    const pair = [0, 1].map(() => router(prefix, { whenNoneHealthy: 'reject', redis: { timeoutMs: 1000 } }, r))
    const [a, b] = pair
    const m = models({ top: { rpm: 40 } })
    try {
      await until(() => Number(r.cli('ZCARD', `${prefix}hb`)) === 2, EVENTUALLY_MS / 10, 10)
      await sleep(1100) // a heartbeat after both joined tells each there are two
      await eject(a, models(), 'top')
      expect(await until(() => health(b, 'top').state === 'ejected', EVENTUALLY_MS / 5, 5)).toBe(true)
      await r.stop()
      // decisions never fail; the degraded state is noticed by the next background call
      expect(await until(() => b.events.some((x) => x.e === 'fleet_degraded'), EVENTUALLY_MS / 10, 10)).toBe(true)
      // b decides alone: a's ejection no longer holds it out
      expect(health(b, 'top').state).toBe('healthy')
      let top = 0
      for (let i = 0; i < 60; i++) {
        b.clock.t += 1
        if ((await b.selectOptimalModel(ctx(), m)).modelName === 'top') top++
      }
      expect(top).toBe(20) // 40 / 2 live routers
      expect(b.events.filter((x) => x.e === 'fleet_degraded')).toHaveLength(1)
      const r2 = await startRedis({ port: r.port })
      try {
        expect(await until(() => b.events.some((x) => x.e === 'fleet_restored'), EVENTUALLY_MS / 10, 10)).toBe(true)
        expect(b.events.filter((x) => x.e === 'fleet_degraded')).toHaveLength(1)
      } finally {
        await r2.stop()
      }
    } finally {
      await r.stop()
    }
  })
})

describe('fleet-wide budgets', () => {
  /** What one decision of `ctx()` reserves on a budget (a router alone, no fleet). */
  async function costOfOne(m) {
    const r = new ModelRouter({ strategy: 'adaptive', seed: 3, jitter: 0, clock: () => 1000 })
    try {
      r.setBudget({ scope: 'global', limit: 1e9, windowMs: 3_600_000 })
      await r.selectOptimalModel(ctx(), m)
      return r.getBudgets()[0].spent
    } finally {
      r.shutdown()
    }
  }

  test('two routers spending one budget through memo hits stay within the limit; spend is the fleet’s', async () => {
    const prefix = newPrefix()
    const m = models({ top: { costPerToken: 1e-4 }, next: { costPerToken: 1e-4 } })
    const cost = await costOfOne(m)
    expect(cost).toBeGreaterThan(0)
    const limit = 20 * cost // each router alone would admit 20
    const pair = [0, 1].map(() => router(prefix, { whenNoneHealthy: 'reject' }))
    for (const r of pair) r.setBudget({ scope: 'global', limit, windowMs: 3_600_000 })
    await subscribed(prefix, 2)
    let admitted = 0
    let memo = 0
    let rejected = 0
    for (let round = 0; round < 60; round++) {
      for (const r of pair) {
        r.clock.t += 1
        try {
          const d = await r.selectOptimalModel(ctx(), m) // the same context: memo hits
          admitted++
          if (d.fromCache) memo++
          r.reportOutcome(d, { ok: true, latencyMs: 100 })
        } catch (e) {
          expect(e.code).toBe('ERR_BUDGET_EXCEEDED')
          rejected++
        }
      }
      await sleep(1) // lease answers arrive between rounds
    }
    console.log(`fleet budget of 20 decisions: ${admitted} admitted by 2 routers (${memo} memo hits), ${rejected} rejected`)
    expect(memo).toBeGreaterThan(0)
    // the fleet's limit, not each router's: overspend ≤ 1% of the limit
    expect(admitted * cost).toBeLessThanOrEqual(limit * 1.01)
    expect(admitted).toBeGreaterThanOrEqual(10)
    // both report the fleet's spend, which covers what either admitted
    const [a, b] = pair
    expect(Math.max(a.getBudgets()[0].spent, b.getBudgets()[0].spent)).toBeGreaterThanOrEqual(admitted * cost * 0.99)
    // unspent leases are given back: the stored spend is what was admitted
    const key = redis.cli('--scan', '--pattern', `${prefix}b:*`)
    const stored = () => Number(redis.cli('HGET', key, 's'))
    for (const r of pair) r.shutdown()
    expect(await until(() => Math.abs(stored() - admitted * cost) <= limit * 1e-9, EVENTUALLY_MS / 5, 5)).toBe(true)
  })

  test('a lapsed lease leaves the memo no room: the decision waits for the refill; Redis silent, it goes on the share', async () => {
    const prefix = newPrefix()
    const m = models({ top: { costPerToken: 1e-4 }, next: { costPerToken: 1e-4 } })
    const cost = await costOfOne(m)
    const a = router(prefix, { whenNoneHealthy: 'reject' })
    a.setBudget({ scope: 'global', limit: 1000 * cost, windowMs: 3_600_000 })
    await subscribed(prefix, 1)
    const ok = async () => {
      try {
        await a.selectOptimalModel(ctx(), m)
        return true
      } catch (e) {
        expect(e.code).toBe('ERR_BUDGET_EXCEEDED')
        return false
      }
    }
    // the first decision waits for the first lease
    expect(await ok()).toBe(true)
    expect(await ok()).toBe(true)
    const key = redis.cli('--scan', '--pattern', `${prefix}b:*`)
    const stored = () => Number(redis.cli('HGET', key, 's'))
    // the router's clock passes the lease's life: no room in the memo; the decision crosses
    // into Rust, is short of a lease, and waits for the refill it asks for
    a.clock.t += 2500
    const before = stored()
    expect(await ok()).toBe(true)
    expect(stored()).toBeGreaterThan(before)
    // Redis stops answering and the lease lapses again: the decision waits for the refill
    // until the call gives up (timeoutMs), then proceeds on the share, the budget being far
    // from spent
    redis.cli('CLIENT', 'PAUSE', '800', 'ALL')
    a.clock.t += 2500
    expect(await ok()).toBe(true)
    expect(await ok()).toBe(true)
    expect(await until(() => a.events.some((x) => x.e === 'fleet_degraded'), EVENTUALLY_MS / 10, 10)).toBe(true)
    // Redis back: leases again, and decisions on them
    expect(await until(() => a.events.some((x) => x.e === 'fleet_restored'), EVENTUALLY_MS / 10, 10)).toBe(true)
    a.clock.t += 2500
    expect(await ok()).toBe(true)
    expect(a.events.filter((x) => x.e === 'fleet_degraded')).toHaveLength(1)
  })
})

describe('health changes made while degraded', () => {
  test('after fleet_restored a router publishes the ejections it made while degraded', async () => {
    const r = await startRedis()
    const prefix = newPrefix()
    const [a, b] = [0, 1].map(() => router(prefix, { redis: { timeoutMs: 1000 } }, r))
    try {
      await until(() => Number(r.cli('PUBSUB', 'NUMSUB', `${prefix}bus`).split('\n')[1]) >= 2, EVENTUALLY_MS / 10, 10)
      await r.stop()
      expect(await until(() => a.events.some((x) => x.e === 'fleet_degraded'), EVENTUALLY_MS / 10, 10)).toBe(true)
      await eject(a, models(), 'top')
      expect(health(b, 'top').state).not.toBe('ejected')
      const r2 = await startRedis({ port: r.port })
      try {
        expect(await until(() => a.events.some((x) => x.e === 'fleet_restored'), EVENTUALLY_MS / 10, 10)).toBe(true)
        // b learns the ejection from the bus or from the store
        expect(await until(() => health(b, 'top').state === 'ejected', EVENTUALLY_MS / 10, 10)).toBe(true)
        expect(r2.cli('--scan', '--pattern', `${prefix}h:*`)).toContain('top')
      } finally {
        await r2.stop()
      }
    } finally {
      await r.stop()
    }
  })
})

describe('faults', () => {
  test('a blocked redis (DEBUG SLEEP, CLIENT PAUSE) fails no decision; degraded, then restored', async () => {
    const prefix = newPrefix()
    const a = router(prefix, { redis: { timeoutMs: 50 } })
    const m = models({ top: { rpm: 1000 } })
    await subscribed(prefix, 1)
    // the first decision asks for a lease: the call meets the sleeping server
    const sleeper = spawn('redis-cli', ['-p', String(redis.port), 'DEBUG', 'SLEEP', '1'])
    const slept = new Promise((res) => sleeper.on('exit', res))
    try {
      await sleep(20)
      for (let i = 0; i < 20; i++) {
        a.clock.t += 10
        expect(['top', 'next']).toContain((await a.selectOptimalModel(ctx(), m)).modelName)
      }
      expect(await until(() => a.events.some((x) => x.e === 'fleet_degraded'), EVENTUALLY_MS / 10, 10)).toBe(true)
    } finally {
      await slept
    }
    expect(await until(() => a.events.some((x) => x.e === 'fleet_restored'), EVENTUALLY_MS / 10, 10)).toBe(true)
    // longer than the heartbeat interval: a background call meets the pause
    redis.cli('CLIENT', 'PAUSE', '1500', 'ALL')
    for (let i = 0; i < 5; i++) expect(['top', 'next']).toContain((await a.selectOptimalModel(ctx(), m)).modelName)
    expect(await until(() => a.events.filter((x) => x.e === 'fleet_restored').length === 2, EVENTUALLY_MS / 10, 10)).toBe(true)
    expect(a.events.filter((x) => x.e === 'fleet_degraded')).toHaveLength(2)
  })

  test('garbage under the prefix and on the bus is ignored, never a crash', async () => {
    const prefix = newPrefix()
    redis.cli('SET', `${prefix}hi`, 'not a set')
    redis.cli('HSET', `${prefix}h:{00000000}:x`, 'a', 'b')
    redis.cli('SET', `${prefix}hb`, 'not a sorted set')
    const a = router(prefix)
    const m = models({ top: { rpm: 50 } })
    await subscribed(prefix, 1)
    for (const payload of [
      'health\nzz\n1\ns\ntop\nejected\n1',
      'health\n0000000000000001\n1\ns\ntop\nhealthy\n99',
      'health\n0000000000000001\n1\ns\n\nejected\n1',
      'garbage',
      'health\n0000000000000001\n1\nq\nx',
    ]) {
      redis.cli('PUBLISH', `${prefix}bus`, payload)
    }
    // the quota window holding a string: replaced by the script
    redis.cli('SET', redis.cli('--scan', '--pattern', `${prefix}q:*`) || `${prefix}q:none`, 'garbage')
    let top = 0
    for (let i = 0; i < 30; i++) {
      a.clock.t += 1
      if ((await a.selectOptimalModel(ctx(), m)).modelName === 'top') top++
      await sleep(1)
    }
    expect(health(a, 'top').state).toBe('healthy')
    expect(top).toBeGreaterThan(0)
    // a well-formed message of another origin still applies
    redis.cli('PUBLISH', `${prefix}bus`, `health\n0000000000000001\n${Date.now() * 1000}\ns\ntop\nejected\n${Date.now() + 60_000}`)
    expect(await until(() => health(a, 'top').state === 'ejected', EVENTUALLY_MS / 5, 5)).toBe(true)
  })
})
