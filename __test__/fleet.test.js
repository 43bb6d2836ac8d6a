// The shared cache level on a real redis-server (started on a free port per file):
// cross-process visibility, invalidation, fleet-wide single flight, faults. No timed
// assertions: waits poll with a bounded count; lags are printed.
const { fork, execFileSync } = require('node:child_process')
const path = require('node:path')
const { CacheManager } = require('model-router-native')
const { startRedis, until, sleep } = require('./fixtures/fleet-redis')

jest.setTimeout(60_000)

const WORKER = path.join(__dirname, 'fixtures', 'fleet-worker.js')
const children = new Set()
afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
})

/** A fleet process: `call(op, ...args)` over IPC; `events` collects its fleet events. */
async function worker(redis, extra = {}) {
  const child = fork(WORKER, [JSON.stringify({ persistToDisk: false, redis: { url: redis.url, ...extra } })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
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
        if (m.ok) p.resolve(unwire(m.value))
        else p.reject(new Error(m.error))
      }
    })
  })
  return {
    child,
    events,
    call(op, ...args) {
      const id = next++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.send({ id, op, args })
      })
    },
    of: (name) => events.filter((e) => e.event === name).map((e) => e.payload),
    kill: () => child.kill('SIGKILL'),
  }
}
function unwire(w) {
  if (w?.bytes) return w.buffer ? Buffer.from(w.bytes) : new Uint8Array(w.bytes)
  return w?.value
}
const wire = (v) => (v instanceof Uint8Array ? { bytes: Array.from(v), buffer: Buffer.isBuffer(v) } : { value: v })

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

/**
 * Resolves once `cache` receives the bus: `via` deletes `probe` until `cache` reports its
 * invalidation (a message published before the subscription is up is never delivered).
 */
async function busUp(cache, via, probe) {
  let seen = false
  const on = (e) => {
    if (e.key === probe) seen = true
  }
  cache.on('fleet_invalidate', on)
  try {
    const up = await until(
      async () => {
        if (!seen) await via.delete(probe)
        return seen
      },
      500,
      10,
    )
    expect(up).toBe(true)
  } finally {
    cache.off('fleet_invalidate', on)
  }
}

let redis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

describe('the redis option', () => {
  test('bad options throw a TypeError/RangeError naming the field, never the password', () => {
    const secret = 'hunter2-secret'
    expect(() => new CacheManager({ redis: { url: 42 } })).toThrow(/redis\.url must be a string/)
    let err
    try {
      new CacheManager({ redis: { url: `http://u:${secret}@h:1` } })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(TypeError)
    expect(err.message).toMatch(/redis\.url/)
    expect(err.message).not.toContain(secret)
    expect(() => new CacheManager({ redis: { url: redis.url, timeoutMs: 0 } })).toThrow(RangeError)
    expect(() => new CacheManager({ redis: { url: redis.url, timeoutMs: 1.5 } })).toThrow(/redis\.timeoutMs/)
    expect(() => new CacheManager({ redis: { url: redis.url, prefix: '' } })).toThrow(/redis\.prefix/)
    expect(() => new CacheManager({ redis: 'redis://x' })).toThrow(TypeError)
  })

  test('without it no runtime thread starts; with it one does', () => {
    // the runtime's worker shows up shortly after it is built: look a bounded number of times
    const script = (withRedis) => `
      const fs = require('fs')
      const { CacheManager } = require('model-router-native')
      const c = new CacheManager({ persistToDisk: false })
      ${withRedis ? `const d = new CacheManager({ persistToDisk: false, redis: { url: ${JSON.stringify(redis.url)} } })` : ''}
      const count = () => fs.readdirSync('/proc/self/task').filter((t) => fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() === 'mrn-fleet').length
      let tries = 0
      const look = () => {
        const n = count()
        if (n > 0 || ++tries === 50) console.log(JSON.stringify({ fleet: n, stats: c.getFleetStats() }))
        else setTimeout(look, 10)
      }
      look()`
    const run = (s) => JSON.parse(execFileSync(process.execPath, ['-e', s], { encoding: 'utf8', cwd: path.join(__dirname, '..') }))
    expect(run(script(false))).toEqual({ fleet: 0, stats: null })
    expect(run(script(true)).fleet).toBe(1)
  })

  test('a process with a fleet connection exits by itself (nothing keeps it alive)', () => {
    const s = `const { CacheManager } = require('model-router-native')
      const c = new CacheManager({ persistToDisk: false, redis: { url: ${JSON.stringify(redis.url)} } })
      c.set('exit-key', 1).then(() => c.get('exit-key')).then((v) => console.log(v))`
    const out = execFileSync(process.execPath, ['-e', s], { encoding: 'utf8', cwd: path.join(__dirname, '..'), timeout: 20_000 })
    expect(out.trim()).toBe('1')
  })
})

describe('shared cache across processes', () => {
  // These check sharing, not time-outs: under a loaded machine (tests run two at a time) a
  // round trip can exceed the 50 ms default, and a degraded level keeps writes local.
  const SHARING = { timeoutMs: 2000 }
  let a
  let b
  beforeAll(async () => {
    ;[a, b] = await Promise.all([worker(redis, SHARING), worker(redis, SHARING)])
  })
  afterAll(() => {
    a?.kill()
    b?.kill()
  })

  test('a set is visible to get in another process, type, namespace and compression kept', async () => {
    const big = 'compressible text '.repeat(500)
    const values = {
      obj: { a: 1, b: [true, null, 'x'] },
      str: 'a string',
      json_looking: '{"not":"parsed"}',
      num: 42.5,
      nul: null,
      buf: Buffer.from([0, 1, 2, 255]),
      u8: new Uint8Array([9, 8, 7]),
      big,
    }
    for (const [k, v] of Object.entries(values)) await a.call('set', `t:${k}`, wire(v), 60, 'ns1')
    for (const [k, v] of Object.entries(values)) {
      const got = await b.call('get', `t:${k}`)
      expect(got).toEqual(v)
      if (v instanceof Uint8Array) expect(Buffer.isBuffer(got)).toBe(Buffer.isBuffer(v))
    }
    // TTL is a Redis expiry; the big value is stored compressed
    const key = redis.cli('--scan', '--pattern', 'mrn:c:*:t:big')
    expect(key).toMatch(/^mrn:c:\{[0-9a-f]{8}\}:t:big$/)
    const pttl = Number(redis.cli('PTTL', key))
    expect(pttl).toBeGreaterThan(0)
    expect(pttl).toBeLessThanOrEqual(60_000)
    expect(Number(redis.cli('STRLEN', key))).toBeLessThan(big.length / 4)
  })

  test('a deleted key is never served by another process once it received the invalidation', async () => {
    const lags = []
    for (let i = 0; i < 30; i++) {
      const key = `del:${i}`
      await a.call('set', key, wire({ i }), 60)
      expect(await b.call('get', key)).toEqual({ i }) // now in b's memory level
      // read again: a small cache's JS front now holds it too, and must forget it as well
      expect(await b.call('get', key)).toEqual({ i })
      expect(await b.call('get', key)).toEqual({ i })
      const before = b.of('fleet_invalidate').length
      await a.call('delete', key)
      const got = await until(() => b.of('fleet_invalidate').length > before, 500, 2)
      expect(got).toBe(true)
      const inv = b.of('fleet_invalidate').at(-1)
      expect(inv.key).toBe(key)
      lags.push(inv.lagMs)
      expect(await b.call('get', key)).toBeNull()
    }
    console.log(
      `invalidation lag over ${lags.length} deletes: p50 ${pct(lags, 50).toFixed(3)} ms, p99 ${pct(lags, 99).toFixed(3)} ms, max ${Math.max(...lags).toFixed(3)} ms`,
    )
  })

  test('clear(namespace) reaches the other process; other namespaces stay', async () => {
    await a.call('set', 'c:1', wire(1), 60, 'gone')
    await a.call('set', 'c:2', wire(2), 60, 'gone')
    await a.call('set', 'c:3', wire(3), 60, 'kept')
    for (const k of ['c:1', 'c:2', 'c:3']) expect(await b.call('get', k)).not.toBeNull()
    const before = b.of('fleet_invalidate').length
    await a.call('clear', 'gone')
    expect(await until(() => b.of('fleet_invalidate').length > before, 500, 2)).toBe(true)
    expect(b.of('fleet_invalidate').at(-1).namespace).toBe('gone')
    expect(await b.call('get', 'c:1')).toBeNull()
    expect(await b.call('get', 'c:2')).toBeNull()
    expect(await b.call('get', 'c:3')).toBe(3)
    expect(await a.call('get', 'c:1')).toBeNull()
  })

  test('getOrSet computes once across processes; the others get its value', async () => {
    const c = await worker(redis, SHARING)
    try {
      const ps = [
        a.call('getOrSet', 'gos:1', 'from-a', true),
        b.call('getOrSet', 'gos:1', 'from-b', true),
        c.call('getOrSet', 'gos:1', 'from-c', true),
      ]
      const all = [a, b, c]
      const loaders = () => all.flatMap((w) => w.of('loader').filter((l) => l.key === 'gos:1'))
      expect(await until(() => loaders().length >= 1, 500, 5)).toBe(true)
      // give the others a chance to (wrongly) start their own loader
      await sleep(100)
      expect(loaders()).toHaveLength(1)
      const holder = all.find((w) => w.of('loader').some((l) => l.key === 'gos:1'))
      let settled = false
      const results = Promise.all(ps).finally(() => {
        settled = true
      })
      await holder.call('open', 'gos:1')
      // A waiter that finds Redis unavailable computes itself (the documented fallback): its
      // loader is let through too, so the test reports it instead of waiting forever.
      for (let i = 0; i < 500 && !settled; i++) {
        for (const w of all) if (w !== holder) await w.call('open', 'gos:1')
        await sleep(10)
      }
      const got = await results
      const degraded = all.filter((w) => w.of('fleet_degraded').length > 0).length
      // c was forked just before its call: its first subscription may land while it waits
      const value = `from-${['a', 'b', 'c'][all.indexOf(holder)]}`
      expect({ loaders: loaders().length, degraded }).toEqual({ loaders: 1, degraded: 0 })
      expect(got).toEqual([value, value, value])
    } finally {
      c.kill()
    }
  })

  test('a lock holder killed mid-compute is replaced after its lease', async () => {
    const [x, y] = await Promise.all([worker(redis, { ...SHARING, lockMs: 300 }), worker(redis, { ...SHARING, lockMs: 300 })])
    try {
      void x.call('getOrSet', 'gos:dead', 'from-x', true).catch(() => {})
      expect(await until(() => x.of('loader').length === 1, 500, 5)).toBe(true)
      x.kill()
      const v = await y.call('getOrSet', 'gos:dead', 'from-y', false)
      expect(v).toBe('from-y')
      expect(y.of('loader')).toHaveLength(1)
    } finally {
      x.kill()
      y.kill()
    }
  })

  test('garbage under the prefix is a miss, never a crash', async () => {
    await a.call('set', 'g:1', wire('ok'), 60)
    await a.call('set', 'g:2', wire('ok'), 60)
    const k1 = redis.cli('--scan', '--pattern', 'mrn:c:*:g:1')
    const k2 = redis.cli('--scan', '--pattern', 'mrn:c:*:g:2')
    redis.cli('SET', k1, 'not ours')
    redis.cli('DEL', k2)
    redis.cli('HSET', k2, 'f', 'v')
    // a well-formed record (kind JSON, no expiry, no namespace) whose text is not JSON
    await a.call('set', 'g:3', wire('ok'), 60)
    const k3 = redis.cli('--scan', '--pattern', 'mrn:c:*:g:3')
    const record = Buffer.concat([Buffer.from([0xf1, 1, 0, 0]), Buffer.alloc(8), Buffer.alloc(2), Buffer.from('not json {')])
    execFileSync('redis-cli', ['-p', String(redis.port), '-x', 'SET', k3], { input: record, stdio: ['pipe', 'ignore', 'ignore'] })
    const fresh = await worker(redis, SHARING)
    try {
      expect(await fresh.call('get', 'g:1')).toBeNull()
      expect(await fresh.call('get', 'g:2')).toBeNull()
      expect(await fresh.call('get', 'g:3')).toBeNull()
      expect(await fresh.call('get', 'g:3')).toBeNull() // not kept locally either
      const s = await fresh.call('stats')
      expect(s.garbage).toBe(2)
      expect(s.degraded).toBe(false)
      // a set overwrites the garbage
      await fresh.call('set', 'g:2', wire('again'), 60)
      expect(await b.call('get', 'g:2')).toBe('again')
    } finally {
      fresh.kill()
    }
  })
})

describe('getOrSet waiters and invalidations', () => {
  // Two CacheManagers in this process, each with its own connection: the test controls
  // which events each has received when the holder's value lands.
  const fleetCache = () => new CacheManager({ persistToDisk: false, redis: { url: redis.url, timeoutMs: 2000 } })
  const invalidated = (cache, pred) =>
    new Promise((resolve) => {
      const on = (e) => {
        if (!pred(e)) return
        cache.off('fleet_invalidate', on)
        resolve()
      }
      cache.on('fleet_invalidate', on)
    })
  /** `holder` computes `key` behind a gate; `start()` makes the waiter's call. */
  async function race(holder, key, start) {
    let open
    const loaders = []
    const held = holder.getOrSet(key, () => {
      loaders.push('holder')
      return new Promise((resolve) => {
        open = () => resolve('from-holder')
      })
    })
    expect(await until(() => loaders.length === 1, 500, 5)).toBe(true)
    const waited = start(() => {
      loaders.push('waiter')
      return 'from-waiter'
    })
    return { loaders, held, waited, open: () => open() }
  }

  test('a waiter that started before its subscription was up takes the holder value', async () => {
    const holder = fleetCache()
    let waiter
    try {
      await holder.set('gosw:warm', 1)
      const r = await race(holder, 'gosw:1', (loader) => {
        // created and called in one tick: its first subscription lands during the wait
        waiter = fleetCache()
        return waiter.getOrSet('gosw:1', loader)
      })
      await busUp(waiter, holder, 'gosw:probe')
      r.open()
      expect(await r.held).toBe('from-holder')
      expect(await r.waited).toBe('from-holder')
      expect(r.loaders).toEqual(['holder'])
      expect(waiter.getFleetStats().degraded).toBe(false)
    } finally {
      holder.shutdown()
      waiter?.shutdown()
    }
  })

  test('a clear of another namespace during the wait does not make the waiter compute', async () => {
    const holder = fleetCache()
    const waiter = fleetCache()
    const other = fleetCache() // clears: a local clear would also drop the holder's own store
    try {
      await busUp(waiter, other, 'gosw:up')
      const r = await race(holder, 'gosw:2', (loader) => waiter.getOrSet('gosw:2', loader, 60, 'kept'))
      const cleared = invalidated(waiter, (e) => e.namespace === 'elsewhere')
      await other.clear('elsewhere')
      await cleared
      r.open()
      expect(await r.held).toBe('from-holder')
      expect(await r.waited).toBe('from-holder')
      expect(r.loaders).toEqual(['holder'])
    } finally {
      holder.shutdown()
      waiter.shutdown()
      other.shutdown()
    }
  })
  test("a waiter takes the holder's binary value (empty too) and keeps it locally with its namespace", async () => {
    const holder = fleetCache()
    const waiter = fleetCache()
    try {
      for (const [key, value] of [
        ['gosw:u8', new Uint8Array(0)],
        ['gosw:buf', Buffer.from([5, 0, 6])],
      ]) {
        let open
        const held = holder.getOrSet(
          key,
          () =>
            new Promise((resolve) => {
              open = () => resolve(value)
            }),
          60,
          'gosw-ns',
        )
        expect(await until(() => open !== undefined, 500, 5)).toBe(true)
        const waited = waiter.getOrSet(key, () => 'from-waiter', 60, 'gosw-ns')
        open()
        await held
        const got = await waited
        expect(got).toEqual(value)
        expect(Buffer.isBuffer(got)).toBe(Buffer.isBuffer(value))
        expect(got).toBeInstanceOf(Uint8Array)
        // gone from Redis without an invalidation: the waiter's local copy answers
        redis.cli('DEL', redis.cli('--scan', '--pattern', `mrn:c:*:${key}`))
        const hits = waiter.getFleetStats().hits
        expect(await waiter.get(key)).toEqual(value)
        expect(waiter.getFleetStats().hits).toBe(hits)
      }
      // the namespace came along: a local clear of it drops the copies
      await waiter.clear('gosw-ns')
      expect(await waiter.get('gosw:buf')).toBeNull()
    } finally {
      holder.shutdown()
      waiter.shutdown()
    }
  })
})

describe('getMany and setMany through the shared level', () => {
  const fleetCache = () => new CacheManager({ persistToDisk: false, redis: { url: redis.url, timeoutMs: 2000 } })

  test('setMany writes every entry to Redis; getMany in another cache reads the local misses from it', async () => {
    const a = fleetCache()
    const b = fleetCache()
    try {
      const entries = [
        ['many:obj', { x: [1, 2] }, 60, 'many-ns'],
        ['many:str', 'text'],
        ['many:buf', Buffer.from([1, 2, 3])],
        ['many:nul', null, 30],
      ]
      await a.setMany(entries)
      expect(a.getFleetStats().writes).toBe(4)
      const pttl = Number(redis.cli('PTTL', redis.cli('--scan', '--pattern', 'mrn:c:*:many:obj')))
      expect(pttl).toBeGreaterThan(0)
      expect(pttl).toBeLessThanOrEqual(60_000)
      await b.set('many:local', 'b-own')
      const before = b.getFleetStats()
      const keys = ['many:obj', 'many:local', 'many:str', 'many:absent', 'many:buf', 'many:nul']
      const got = await b.getMany(keys)
      expect(got).toEqual([{ x: [1, 2] }, 'b-own', 'text', null, Buffer.from([1, 2, 3]), null])
      expect(Buffer.isBuffer(got[4])).toBe(true)
      const after = b.getFleetStats()
      // the five local misses went to Redis (four found, one absent); the local hit did not
      expect(after.hits - before.hits).toBe(4)
      expect(after.misses - before.misses).toBe(1)
      // the hits were copied into b's local levels: read again, only the absent key asks Redis
      expect(await b.getMany(keys)).toEqual(got)
      expect(b.getFleetStats().hits).toBe(after.hits)
      expect(b.getFleetStats().misses).toBe(after.misses + 1)
      // the namespace went with the entry: a clear of it in b reaches a's copy
      await busUp(a, b, 'many:probe')
      const cleared = new Promise((resolve) => a.once('fleet_invalidate', resolve))
      await b.clear('many-ns')
      await cleared
      expect(await a.getMany(['many:obj', 'many:str'])).toEqual([null, 'text'])
    } finally {
      a.shutdown()
      b.shutdown()
    }
  })
})

describe('authentication', () => {
  test('user and password come from the URL; a wrong one degrades, and no message holds it', async () => {
    const r = await startRedis({
      extra: ['--user', 'default', 'off', '--user', 'app', 'on', '>s3cret-pass', '~*', '&*', '+@all'],
      auth: ['--user', 'app', '--pass', 's3cret-pass', '--no-auth-warning'],
    })
    const good = `redis://app:s3cret-pass@127.0.0.1:${r.port}`
    const bad = `redis://app:wrong-pass@127.0.0.1:${r.port}`
    const [a, b] = await Promise.all([worker({ url: good }), worker({ url: good })])
    const c = await worker({ url: bad })
    try {
      await a.call('set', 'auth:1', wire('ok'), 60)
      expect(await b.call('get', 'auth:1')).toBe('ok')
      expect(await c.call('get', 'auth:1')).toBeNull() // never rejects
      expect(await until(() => c.of('fleet_degraded').length === 1, 200, 10)).toBe(true)
      const said = JSON.stringify(c.events)
      expect(said).not.toContain('wrong-pass')
      expect(JSON.stringify(a.events)).not.toContain('s3cret-pass')
    } finally {
      a.kill()
      b.kill()
      c.kill()
      await r.stop()
    }
  })
})

describe('TLS', () => {
  test('a rediss:// URL to a server without TLS degrades (the handshake fails), never fails a caller', async () => {
    const c = await worker({ url: `rediss://127.0.0.1:${redis.port}` })
    try {
      await c.call('set', 'tls:1', wire('local'), 60)
      expect(await c.call('get', 'tls:1')).toBe('local')
      expect(await c.call('get', 'tls:absent')).toBeNull()
      expect(await until(() => c.of('fleet_degraded').length === 1, 200, 10)).toBe(true)
      expect((await c.call('stats')).writes).toBe(0)
    } finally {
      c.kill()
    }
  })
})

describe('faults', () => {
  test('redis killed and restarted mid-run: callers never fail, degraded once, restored after', async () => {
    const r = await startRedis()
    // a stopped server refuses connections at once; the longer time-out only keeps a loaded
    // machine's slow round trip from degrading the level before the kill
    const [a, b] = await Promise.all([worker(r, { timeoutMs: 1000 }), worker(r, { timeoutMs: 1000 })])
    try {
      await a.call('set', 'f:1', wire('before'), 60)
      expect(await b.call('get', 'f:1')).toBe('before')
      await r.stop()
      // every call resolves: local state serves
      for (let i = 0; i < 20; i++) {
        await a.call('set', `f:down:${i}`, wire(i), 60)
        expect(await a.call('get', `f:down:${i}`)).toBe(i)
        expect(await b.call('get', `f:down:${i}`)).toBeNull()
      }
      expect(await b.call('get', 'f:1')).toBe('before') // b's memory level kept it
      await a.call('delete', 'f:1') // queued for the restore
      expect(a.of('fleet_degraded')).toHaveLength(1)
      const r2 = await startRedis({ port: r.port })
      try {
        expect(await until(() => a.of('fleet_restored').length === 1, 400, 10)).toBe(true)
        expect(a.of('fleet_degraded')).toHaveLength(1)
        // b may or may not have noticed (it made calls while down); once restored it shares again
        await a.call('set', 'f:after', wire('after'), 60)
        expect(await until(async () => (await b.call('get', 'f:after')) === 'after', 400, 10)).toBe(true)
        // the queued delete reached b after the restore
        expect(await until(async () => (await b.call('get', 'f:1')) === null, 400, 10)).toBe(true)
        console.log(`down for ${a.of('fleet_restored')[0].downMs} ms (a's view)`)
      } finally {
        await r2.stop()
      }
    } finally {
      a.kill()
      b.kill()
    }
  })

  test('a blocked redis (DEBUG SLEEP, CLIENT PAUSE) delays no caller beyond the timeout and fails none', async () => {
    const r = await startRedis({ extra: ['--enable-debug-command', 'yes'] })
    const a = await worker(r)
    try {
      await a.call('set', 's:1', wire(1), 60)
      const sleeper = require('node:child_process').spawn('redis-cli', ['-p', String(r.port), 'DEBUG', 'SLEEP', '1'])
      await sleep(50)
      expect(await a.call('get', 's:missing')).toBeNull()
      await a.call('set', 's:2', wire(2), 60)
      expect(await a.call('get', 's:2')).toBe(2)
      expect(a.of('fleet_degraded')).toHaveLength(1)
      await new Promise((res) => sleeper.on('exit', res))
      expect(await until(() => a.of('fleet_restored').length === 1, 400, 10)).toBe(true)
      r.cli('CLIENT', 'PAUSE', '500', 'ALL')
      expect(await a.call('get', 's:missing2')).toBeNull()
      expect(await until(() => a.of('fleet_degraded').length === 2, 400, 10)).toBe(true)
      expect(await until(() => a.of('fleet_restored').length === 2, 400, 10)).toBe(true)
    } finally {
      a.kill()
      await r.stop()
    }
  })
})
