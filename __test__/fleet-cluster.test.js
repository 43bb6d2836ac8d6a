// The shared cache on a three-master Redis Cluster on loopback (the distribution's
// redis-server with --cluster-enabled, joined by `redis-cli --cluster create`): entries
// spread over the masters by their hash tags; visibility, invalidation, clears and the
// fleet-wide single flight hold as on one server.
const { fork, execFileSync } = require('node:child_process')
const path = require('node:path')
const { startRedis, freePort, until, sleep } = require('./fixtures/fleet-redis')

jest.setTimeout(90_000)

const WORKER = path.join(__dirname, 'fixtures', 'fleet-worker.js')
const nodes = []
const children = new Set()

async function worker(url) {
  const child = fork(WORKER, [JSON.stringify({ persistToDisk: false, redis: { url, cluster: true } })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.add(child)
  const pending = new Map()
  const events = []
  let next = 0
  await new Promise((resolve) => {
    child.on('message', (m) => {
      if (m.ready) resolve()
      else if (m.event) events.push(m)
      else {
        const p = pending.get(m.id)
        pending.delete(m.id)
        m.ok ? p.resolve(m.value?.value) : p.reject(new Error(m.error))
      }
    })
  })
  return {
    of: (name) => events.filter((e) => e.event === name).map((e) => e.payload),
    call(op, ...args) {
      const id = next++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.send({ id, op, args })
      })
    },
    kill: () => child.kill('SIGKILL'),
  }
}

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const busPort = await freePort()
    nodes.push(
      await startRedis({
        extra: ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', `nodes-${i}.conf`],
      }),
    )
  }
  execFileSync(
    'redis-cli',
    ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
    { stdio: 'ignore' },
  )
  const ok = await until(() => nodes.every((n) => /cluster_state:ok/.test(n.cli('CLUSTER', 'INFO'))), 500, 20)
  if (!ok) throw new Error('the cluster did not form')
})

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  for (const n of nodes) await n.stop()
})

test('shared cache on a three-master cluster: spread, visibility, invalidation, clears, single flight', async () => {
  const url = `redis://127.0.0.1:${nodes[0].port}`
  const [a, b] = await Promise.all([worker(url), worker(url)])
  // the cluster connection comes up in the background: wait until a write lands
  expect(
    await until(async () => (await a.call('set', 'probe', { value: 1 }, 60), Number((await a.call('stats')).writes) > 0), 300, 20),
  ).toBe(true)
  for (let i = 0; i < 60; i++) await a.call('set', `k:${i}`, { value: { i } }, 60, i % 2 ? 'odd' : 'even')
  const perNode = nodes.map((n) => Number(n.cli('DBSIZE')))
  console.log(`keys per master: ${perNode.join(', ')}`)
  for (const n of perNode) expect(n).toBeGreaterThan(0)
  expect(await until(async () => (await b.call('get', 'k:0')) !== null, 300, 20)).toBe(true)
  for (let i = 0; i < 60; i++) expect(await b.call('get', `k:${i}`)).toEqual({ i })

  // delete reaches b's memory level
  let before = b.of('fleet_invalidate').length
  await a.call('delete', 'k:0')
  expect(await until(() => b.of('fleet_invalidate').length > before, 500, 5)).toBe(true)
  expect(await b.call('get', 'k:0')).toBeNull()

  // clear(namespace) over all masters
  before = b.of('fleet_invalidate').length
  await a.call('clear', 'odd')
  expect(await until(() => b.of('fleet_invalidate').length > before, 500, 5)).toBe(true)
  expect(await b.call('get', 'k:1')).toBeNull()
  expect(await b.call('get', 'k:2')).toEqual({ i: 2 })
  const c = await worker(url)
  expect(await until(async () => (await c.call('get', 'k:2')) !== null, 300, 20)).toBe(true)
  expect(await c.call('get', 'k:3')).toBeNull()
  expect(await c.call('get', 'k:4')).toEqual({ i: 4 })

  // single flight
  const ps = [a.call('getOrSet', 'gos', 'from-a', true), b.call('getOrSet', 'gos', 'from-b', true)]
  const loaders = () => [a, b].flatMap((w) => w.of('loader'))
  expect(await until(() => loaders().length >= 1, 500, 5)).toBe(true)
  await sleep(100)
  expect(loaders()).toHaveLength(1)
  await Promise.all([a.call('open', 'gos'), b.call('open', 'gos')])
  const got = await Promise.all(ps)
  expect(new Set(got).size).toBe(1)

  // clear() everything: SCAN on every master
  before = b.of('fleet_invalidate').length
  await a.call('clear')
  expect(await until(() => b.of('fleet_invalidate').length > before, 500, 5)).toBe(true)
  const left = nodes.map((n) => n.cli('--scan', '--pattern', 'mrn:c:*')).join('')
  expect(left).toBe('')
  expect(await b.call('get', 'k:2')).toBeNull()
  for (const w of [a, b, c]) w.kill()
})

test("ModelRouter's fleet state on the cluster: the health mirror and quota leases, keys spread by hash tag", async () => {
  const { ModelRouter } = require('model-router-native')
  const url = `redis://127.0.0.1:${nodes[0].port}`
  const prefix = 'rc:'
  const routers = [0, 1].map(() => {
    const clock = { t: 1000 }
    const r = new ModelRouter({
      strategy: 'adaptive',
      seed: 3,
      jitter: 0,
      whenNoneHealthy: 'reject',
      clock: () => clock.t,
      redis: { url, cluster: true, prefix },
    })
    r.clock = clock
    return r
  })
  const [a, b] = routers
  const cli = (...args) => execFileSync('redis-cli', ['-c', '-p', String(nodes[0].port), ...args], { encoding: 'utf8' }).trim()
  try {
    // both connections up: their heartbeats landed
    expect(await until(() => Number(cli('ZCARD', `${prefix}hb`)) === 2, 500, 20)).toBe(true)
    const names = Array.from({ length: 12 }, (_, i) => `m${i}`)
    const models = new Map(
      names.map((n, i) => [
        n,
        { name: n, tier: 'pro', capabilities: ['code'], latencyTarget: 300 + i, costPerToken: 1e-6, maxTokens: 100000, rpm: 5 },
      ]),
    )
    const ctx = { task: 'Write a function to sort a list', userTier: 'pro', priority: 'high', latencyRequirement: 2000 }
    // the health mirror: a's ejection of m11 reaches b
    for (let i = 0; i < 3; i++) a.reportOutcome('m11', { ok: false, latencyMs: 100, status: 500 })
    expect(await until(() => b.getModelHealth().find((h) => h.modelName === 'm11')?.state === 'ejected', 500, 10)).toBe(true)
    // fleet-wide quotas: rpm 5 per model, two routers, each model's window on its own slot
    const named = new Map()
    for (let round = 0; round < 80; round++) {
      for (const r of routers) {
        r.clock.t += 1
        const d = await r.selectOptimalModel(ctx, models).catch((e) => e)
        if (d.modelName) named.set(d.modelName, (named.get(d.modelName) ?? 0) + 1)
      }
      await sleep(2)
    }
    console.log(`cluster, rpm 5 per model: ${JSON.stringify(Object.fromEntries(named))}`)
    for (const n of named.values()) expect(n).toBeLessThanOrEqual(5)
    expect([...named.values()].reduce((s, n) => s + n, 0)).toBeGreaterThanOrEqual(20)
    expect(named.has('m11')).toBe(false)
    const quotaKeysPerNode = nodes.map((n) => n.cli('--scan', '--pattern', `${prefix}q:*`).split('\n').filter(Boolean).length)
    console.log(`quota windows per master: ${quotaKeysPerNode.join(', ')}`)
    expect(quotaKeysPerNode.filter((k) => k > 0).length).toBeGreaterThanOrEqual(2)
  } finally {
    for (const r of routers) r.shutdown()
  }
})
