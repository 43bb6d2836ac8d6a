'use strict'
// CacheManager: behaviour of the drop-in, each fixed legacy defect, the additions.
const { CacheManager } = require('model-router-native')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ENTRY = path.join(__dirname, '..', 'index.cjs')
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-cache-'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const VALUES = [
  ['object', { a: 1, nested: { b: [1, 'x', null] } }],
  ['array', [1, 'two', { three: 3 }]],
  ['string', 'hello'],
  ['string that looks like a number', '123'],
  ['string that looks like JSON', '{"a":1}'],
  ['empty string', ''],
  ['number', 42.5],
  ['zero', 0],
  ['true', true],
  ['false', false],
  ['null', null],
]

function sameValue(got, want) {
  expect(typeof got).toBe(typeof want)
  expect(got).toEqual(want)
}

describe('values round-trip with their type and shape', () => {
  test.each(VALUES)('%s from the memory level', async (_, value) => {
    const c = new CacheManager()
    const hits = []
    c.on('cache_hit', (e) => hits.push(e.source))
    await c.set('k', value)
    sameValue(await c.get('k'), value)
    expect(hits).toEqual(['memory'])
    c.shutdown()
  })

  // Legacy: with compression on (the default) an object came back from disk as its JSON
  // text; with it off, "123" came back as the number 123.
  test.each(VALUES)('%s from the disk level, compression on and off', async (_, value) => {
    for (const compression of [true, false]) {
      const dbPath = path.join(tmp(), 'c.db')
      const a = new CacheManager({ dbPath, compression })
      await a.set('k', value)
      const b = new CacheManager({ dbPath, compression })
      const hits = []
      b.on('cache_hit', (e) => hits.push(e.source))
      sameValue(await b.get('k'), value)
      expect(hits).toEqual(['disk'])
      a.shutdown()
      b.shutdown()
    }
  })

  test('Buffer and Uint8Array are stored raw and come back as such, from both levels', async () => {
    const dbPath = path.join(tmp(), 'c.db')
    const a = new CacheManager({ dbPath })
    const buf = Buffer.from([0, 1, 2, 255])
    const u8 = new Uint8Array([9, 8, 7])
    await a.set('buf', buf)
    await a.set('u8', u8)
    for (const c of [a, new CacheManager({ dbPath })]) {
      const gb = await c.get('buf')
      const gu = await c.get('u8')
      expect(Buffer.isBuffer(gb)).toBe(true)
      expect([...gb]).toEqual([...buf])
      expect(Buffer.isBuffer(gu)).toBe(false)
      expect(gu).toBeInstanceOf(Uint8Array)
      expect([...gu]).toEqual([...u8])
      c.shutdown()
    }
  })

  // Legacy: a memory hit returned the very object that was set.
  test('get returns a copy the caller may mutate', async () => {
    const c = new CacheManager()
    const v = { list: [1, 2] }
    await c.set('k', v)
    v.list.push(3)
    const got = await c.get('k')
    expect(got).toEqual({ list: [1, 2] })
    got.list.push(99)
    expect(await c.get('k')).toEqual({ list: [1, 2] })
    c.shutdown()
  })

  test('a toJSON that stores another value does not change the kind of the outer one', async () => {
    const c = new CacheManager({ persistToDisk: false })
    const outer = { toJSON: () => (c.set('inner', Buffer.from('raw')), { a: 1 }) }
    await c.set('outer', outer)
    await c.setMany([['outer2', outer]])
    expect(await c.get('outer')).toEqual({ a: 1 })
    expect(await c.get('outer2')).toEqual({ a: 1 })
    expect(Buffer.isBuffer(await c.get('inner'))).toBe(true)
    c.shutdown()
  })

  // Legacy: a set not admitted to memory left the old value there, so get was stale.
  test('a set always replaces what get returns, even when too large for memory', async () => {
    const c = new CacheManager({ maxMemorySize: 2000 })
    await c.set('k', 'small')
    const big = 'x'.repeat(5000)
    const where = []
    c.on('cache_set', (e) => where.push(e.location))
    await c.set('k', big)
    expect(where).toEqual(['disk'])
    expect(await c.get('k')).toBe(big)
    c.shutdown()
  })

  test('a delete or clear is seen by a get in the same tick, before it is committed (file database)', async () => {
    const c = new CacheManager({ dbPath: path.join(tmp(), 'c.db'), maxMemorySize: 1000 })
    const big = 'x'.repeat(2000) // disk only: larger than the memory level
    await Promise.all([c.set('a', big), c.set('b', big, 0, 'ns'), c.set('c', big, 0, 'ns')])
    const deleted = c.delete('a')
    expect(await c.get('a')).toBeNull()
    expect(await deleted).toBe(true)
    const cleared = c.clear('ns')
    expect(await Promise.all([c.get('b'), c.get('c')])).toEqual([null, null])
    await cleared
    expect(await c.getMany(['a', 'b', 'c'])).toEqual([null, null, null])
    c.shutdown()
  })

  test.each([
    ['a function', () => 1, TypeError],
    ['a symbol', Symbol('s'), TypeError],
    ['a BigInt', 10n, TypeError],
    ['a nested BigInt', { n: 10n }, TypeError],
    ['undefined', undefined, TypeError],
    ['NaN', NaN, RangeError],
  ])('%s is rejected and nothing is stored', async (_, value, Err) => {
    const c = new CacheManager()
    await c.set('k', 'before')
    await expect(c.set('k', value)).rejects.toThrow(Err)
    expect(await c.get('k')).toBe('before')
    c.shutdown()
  })

  test('a cycle is rejected with a TypeError naming it', async () => {
    const c = new CacheManager()
    const v = {}
    v.self = v
    await expect(c.set('k', v)).rejects.toThrow(/cannot be stored: .*circular/i)
    expect(await c.get('k')).toBeNull()
    c.shutdown()
  })

  test('oversized keys and values get a RangeError stating the limit', async () => {
    const c = new CacheManager({ maxKeyLength: 100, maxValueSize: 1000 })
    await expect(c.set('k'.repeat(101), 1)).rejects.toThrow(RangeError)
    await expect(c.set('k'.repeat(101), 1)).rejects.toThrow(/at most 100 bytes/)
    await expect(c.set('k', 'v'.repeat(1001))).rejects.toThrow(/at most 1000 bytes/)
    await expect(
      c.setMany([
        ['a', 1],
        ['b', 'v'.repeat(1001)],
      ]),
    ).rejects.toThrow(RangeError)
    expect(await c.get('a')).toBeNull() // nothing of the batch was stored
    const mem = new CacheManager({ persistToDisk: false, maxMemorySize: 1000 })
    await expect(mem.set('k', 'v'.repeat(2000))).rejects.toThrow(/at most \d+ bytes/)
    c.shutdown()
    mem.shutdown()
  })
})

describe('memory level', () => {
  // Legacy: once full, the memory level stopped admitting new keys.
  test.each(['lru', 'lfu', 'adaptive'])('%s: inserting evicts, the budget holds exactly', async (evictionPolicy) => {
    const c = new CacheManager({ persistToDisk: false, maxMemorySize: 20_000, evictionPolicy })
    const evicted = []
    c.on('cache_evict', (e) => evicted.push(e))
    for (let i = 0; i < 1000; i++) {
      await c.set(`key-${String(i).padStart(4, '0')}`, { i: String(i).padStart(4, '0'), pad: 'p'.repeat(50) })
      expect(c.getStats().memoryUsage).toBeLessThanOrEqual(20_000)
    }
    const s = c.getStats()
    expect(s.evictionCount).toBeGreaterThan(0)
    expect(evicted.length).toBe(s.evictionCount)
    expect(evicted[0].reason).toBe(evictionPolicy)
    expect(await c.get('key-0999')).toEqual({ i: '0999', pad: 'p'.repeat(50) })
    // Exact count: every entry costs the same here, so usage is a multiple of one entry.
    expect(s.memoryUsage % s.totalKeys).toBe(0)
    expect(s.memoryUsage / s.totalKeys).toBeGreaterThan(JSON.stringify({ i: '0999', pad: 'p'.repeat(50) }).length + 'key-0999'.length)
    c.shutdown()
  })

  test('lru evicts the least recently read; lfu the least often read', async () => {
    for (const [policy, survivor, victim] of [
      ['lru', 'a', 'b'],
      ['lfu', 'a', 'c'],
    ]) {
      const c = new CacheManager({ persistToDisk: false, maxMemorySize: 100_000, evictionPolicy: policy })
      await c.set('probe', 'x'.repeat(10))
      const one = c.getStats().memoryUsage
      c.shutdown()
      const d = new CacheManager({ persistToDisk: false, maxMemorySize: one * 3, evictionPolicy: policy })
      await d.set('a', 'x'.repeat(10))
      await d.set('b', 'x'.repeat(10))
      await d.set('c', 'x'.repeat(10))
      await d.get('a')
      await d.get('a')
      await d.get('b')
      await d.get('b')
      await d.get('c')
      await d.get('a') // lru order now: a (newest), c, b
      await d.set('n', 'x'.repeat(10))
      expect(await d.get(survivor)).not.toBeNull()
      expect(await d.get(victim)).toBeNull()
      d.shutdown()
    }
  })

  test('expired entries never come back, from either level', async () => {
    const c = new CacheManager({ maxMemorySize: 100_000 })
    await c.set('mem', 'v', 0.02)
    await c.set('disk', 'x'.repeat(20_000), 0.02) // too large for memory: disk only
    expect(await c.get('mem')).toBe('v')
    await sleep(40)
    expect(await c.get('mem')).toBeNull()
    expect(await c.get('disk')).toBeNull()
    c.shutdown()
  })

  test('the cleanup sweep removes expired entries and reports them', async () => {
    const c = new CacheManager({ cleanupInterval: 30 })
    const cleaned = new Promise((resolve) => c.on('cache_cleanup', resolve))
    await c.set('a', 1, 0.01)
    await c.set('b', 2, 0.01)
    const e = await cleaned
    expect(e.cleanedCount).toBeGreaterThanOrEqual(2) // counted in memory and on disk
    expect(c.getStats().totalKeys).toBe(0)
    c.shutdown()
  })

  test('entries live outside the V8 heap', () => {
    const script = `
      const { CacheManager } = require(${JSON.stringify(ENTRY)})
      const c = new CacheManager({ persistToDisk: false, maxMemorySize: 512 * 1024 * 1024 })
      global.gc(); const before = process.memoryUsage().heapUsed
      const v = { text: 'y'.repeat(200) }
      for (let i = 0; i < 200000; i++) c.set('key-' + i, v)
      global.gc(); const after = process.memoryUsage().heapUsed
      console.log(JSON.stringify({ heap: after - before, held: c.getStats().memoryUsage, keys: c.getStats().totalKeys }))`
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script]).toString())
    expect(out.keys).toBe(200000)
    expect(out.held).toBeGreaterThan(40 * 1024 * 1024)
    expect(out.heap).toBeLessThan(out.held / 10)
  })
})

describe('keys and namespaces', () => {
  const KEYS = ["it's", 'say "hi"', '100%_done', 'nul\u0000inside', "'; DROP TABLE cache_entries; --", 'a%', '_', 'ключ ✓ 🔑', '']
  test('keys with quotes, %, NUL and SQL fragments are stored and read back verbatim', async () => {
    const dbPath = path.join(tmp(), 'c.db')
    const a = new CacheManager({ dbPath })
    for (const k of KEYS) await a.set(k, { k })
    const b = new CacheManager({ dbPath }) // reads from disk
    for (const c of [a, b]) {
      for (const k of KEYS) expect(await c.get(k)).toEqual({ k })
      expect(await c.get('nul')).toBeNull()
      expect(await c.get('a')).toBeNull()
    }
    expect(await b.delete(KEYS[3])).toBe(true)
    expect(await b.get(KEYS[3])).toBeNull()
    expect(await b.get('nul')).toBeNull()
    a.shutdown()
    b.shutdown()
  })

  test('clear(namespace) touches only that namespace, in both levels', async () => {
    const dbPath = path.join(tmp(), 'c.db')
    const a = new CacheManager({ dbPath })
    await a.set('a1', 1, 0, 'A')
    await a.set('a2', 2, 0, 'A')
    await a.set('b1', 3, 0, 'B')
    await a.set('none', 4)
    await a.clear('A')
    const b = new CacheManager({ dbPath })
    for (const c of [a, b]) {
      expect(await c.get('a1')).toBeNull()
      expect(await c.get('a2')).toBeNull()
      expect(await c.get('b1')).toBe(3)
      expect(await c.get('none')).toBe(4)
    }
    await a.clear()
    expect(await a.get('b1')).toBeNull()
    a.shutdown()
    b.shutdown()
  })

  // The legacy callers built keys from base64 cut to 32 characters, which collides.
  test('keyFor is collision-free for structured parts', () => {
    const c = new CacheManager()
    const long = 'Summarize the following document about '
    expect(c.keyFor(long + 'cats', 'free')).not.toBe(c.keyFor(long + 'dogs', 'free'))
    expect(c.keyFor('a|b')).not.toBe(c.keyFor('a', 'b'))
    expect(c.keyFor('1')).not.toBe(c.keyFor(1))
    expect(c.keyFor(null)).not.toBe(c.keyFor('null'))
    expect(c.keyFor('x', 1, true)).toBe(c.keyFor('x', 1, true))
    expect(() => c.keyFor({})).toThrow(TypeError)
    c.shutdown()
  })
})

describe('beyond the legacy', () => {
  test('getOrSet: concurrent misses call the loader once and all get its result', async () => {
    const c = new CacheManager()
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(10)
      return { answer: 42 }
    }
    const results = await Promise.all(Array.from({ length: 20 }, () => c.getOrSet('k', loader)))
    expect(calls).toBe(1)
    for (const r of results) expect(r).toEqual({ answer: 42 })
    expect(await c.get('k')).toEqual({ answer: 42 })
    expect(await c.getOrSet('k', loader)).toEqual({ answer: 42 })
    expect(calls).toBe(1)
    c.shutdown()
  })

  test('getOrSet: a write, delete or clear while the loader runs is not overwritten by its result', async () => {
    const c = new CacheManager()
    for (const [name, change, expected] of [
      ['set', (k) => c.set(k, 'fresh'), 'fresh'],
      ['delete', (k) => c.delete(k), null],
      ['clear', () => c.clear(), null],
    ]) {
      const key = `k-${name}`
      let release
      const gate = new Promise((r) => (release = r))
      const p = c.getOrSet(key, async () => {
        await gate
        return 'loaded before the change'
      })
      await change(key)
      release()
      expect(await p).toBe('loaded before the change') // the callers get the loader's result
      expect(await c.get(key)).toBe(expected) // the cache keeps the newer state
    }
    // a later miss loads and stores again
    expect(await c.getOrSet('k-delete', () => 'second load')).toBe('second load')
    expect(await c.get('k-delete')).toBe('second load')
    c.shutdown()
  })

  test('getOrSet: a loader error reaches every waiter and caches nothing', async () => {
    const c = new CacheManager()
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(5)
      throw new Error('upstream down')
    }
    const settled = await Promise.allSettled(Array.from({ length: 5 }, () => c.getOrSet('k', loader)))
    expect(calls).toBe(1)
    for (const s of settled) {
      expect(s.status).toBe('rejected')
      expect(s.reason.message).toBe('upstream down')
    }
    expect(await c.get('k')).toBeNull()
    expect(await c.getOrSet('k', () => 'ok')).toBe('ok')
    c.shutdown()
  })

  test('getMany and setMany', async () => {
    const dbPath = path.join(tmp(), 'c.db')
    const a = new CacheManager({ dbPath })
    const entries = Array.from({ length: 700 }, (_, i) => [`k${i}`, { i }])
    await a.setMany(entries)
    await a.setMany(new Map([['m', 'map value']]))
    const b = new CacheManager({ dbPath }) // disk lookups, split over the reader pool
    const keys = [...entries.map((e) => e[0]), 'missing', 'm']
    const got = await b.getMany(keys)
    expect(got.length).toBe(702)
    expect(got[0]).toEqual({ i: 0 })
    expect(got[699]).toEqual({ i: 699 })
    expect(got[700]).toBeNull()
    expect(got[701]).toBe('map value')
    a.shutdown()
    b.shutdown()
  })

  test('predictive warming loads the keys read under a pattern the next time it appears', async () => {
    const dbPath = path.join(tmp(), 'c.db')
    const seed = new CacheManager({ dbPath })
    for (let i = 0; i < 200; i++) await seed.set(`k${i}`, `value ${i}`)
    seed.shutdown()
    const c = new CacheManager({ dbPath, maxMemorySize: 10_000, evictionPolicy: 'lru' })
    const sources = new Map()
    c.on('cache_hit', (e) => sources.set(e.key, e.source))
    const ctx = { userTier: 'pro', priority: 'high', capabilities: ['code'] }
    await c.predictiveWarmCache(ctx)
    await c.get('k1')
    await c.get('k2')
    await c.predictiveWarmCache({ userTier: 'free', priority: 'low' })
    for (let i = 10; i < 200; i++) await c.get(`k${i}`) // pushes k1, k2 out of memory
    await c.get('k3')
    expect(sources.get('k3')).toBe('disk') // control: not learned, not in memory
    await c.predictiveWarmCache(ctx)
    await c.get('k1')
    await c.get('k2')
    expect(sources.get('k1')).toBe('memory')
    expect(sources.get('k2')).toBe('memory')
    c.shutdown()
  })
})

describe('events, statistics, lifecycle', () => {
  test('events carry the legacy payloads', async () => {
    const c = new CacheManager()
    const seen = []
    for (const ev of ['cache_hit', 'cache_miss', 'cache_set', 'cache_delete', 'cache_clear']) {
      c.on(ev, (p) => seen.push([ev, p]))
    }
    await c.set('k', { a: 1 })
    await c.get('k')
    await c.get('nope')
    await c.delete('k')
    await c.delete('k')
    await c.clear()
    expect(seen.map((s) => s[0])).toEqual(['cache_set', 'cache_hit', 'cache_miss', 'cache_delete', 'cache_clear'])
    expect(seen[0][1]).toEqual({ key: 'k', size: 7, latency: expect.any(Number), location: 'memory' })
    expect(seen[1][1]).toEqual({ key: 'k', source: 'memory', latency: expect.any(Number) })
    expect(seen[2][1]).toEqual({ key: 'nope', latency: expect.any(Number) })
    expect(seen[3][1]).toEqual({ key: 'k' })
    expect(seen[4][1]).toBeUndefined()
    c.shutdown()
  })

  test('getStats is synchronous; hit rate is hits / gets; diskUsage is measured', async () => {
    const c = new CacheManager({ dbPath: path.join(tmp(), 'c.db') })
    await c.set('a', 'x'.repeat(5000))
    await c.get('a')
    await c.get('b')
    const s = c.getStats()
    expect(s).toEqual({
      totalKeys: 1,
      totalSize: s.memoryUsage,
      hitRate: 0.5,
      missRate: 0.5,
      evictionCount: 0,
      memoryUsage: expect.any(Number),
      diskUsage: expect.any(Number),
    })
    expect(s.memoryUsage).toBeGreaterThan(5000)
    expect(s.diskUsage).toBeGreaterThan(0)
    c.shutdown()
  })

  test('legacy defaults: falsy numbers take the default, persistToDisk false holds', async () => {
    const c = new CacheManager({ maxMemorySize: 0, persistToDisk: false })
    await c.set('k', 1)
    expect(c.getStats().diskUsage).toBe(0)
    expect(() => new CacheManager({ evictionPolicy: 'fifo' })).toThrow(TypeError)
    expect(() => new CacheManager({ maxMemorySize: -1 })).toThrow(RangeError)
    c.shutdown()
  })

  test('after shutdown, calls reject with ERR_SHUT_DOWN', async () => {
    const c = new CacheManager()
    c.shutdown()
    await expect(c.get('k')).rejects.toMatchObject({ code: 'ERR_SHUT_DOWN' })
    await expect(c.set('k', 1)).rejects.toMatchObject({ code: 'ERR_SHUT_DOWN' })
    c.shutdown() // idempotent
  })

  // Legacy: the cleanup interval kept the process alive.
  test('no timer keeps the process alive (a child exits without shutdown)', () => {
    const script = `
      const { CacheManager } = require(${JSON.stringify(ENTRY)})
      const c = new CacheManager({ dbPath: ${JSON.stringify(path.join(tmp(), 'c.db'))} })
      c.set('k', 1).then(() => c.get('k')).then((v) => console.log('got', v))`
    const out = execFileSync(process.execPath, ['-e', script], { timeout: 20_000 }).toString()
    expect(out.trim()).toBe('got 1')
  })
})

describe('edges: all-or-nothing setMany, throwing listeners, tiny TTLs, option bounds, timers', () => {
  test('setMany checks every entry (ttl, namespace, the size limits) before it stores any', async () => {
    const c = new CacheManager()
    await expect(
      c.setMany([
        ['a', 1],
        ['b', 2, -1],
      ]),
    ).rejects.toBeInstanceOf(RangeError)
    await expect(
      c.setMany([
        ['a', 1],
        ['b', 2, '60'],
      ]),
    ).rejects.toBeInstanceOf(TypeError)
    await expect(
      c.setMany([
        ['a', 1],
        ['b', 2, 0, 7],
      ]),
    ).rejects.toBeInstanceOf(TypeError)
    expect(await c.get('a')).toBeNull()
    c.shutdown()
    const small = new CacheManager({ persistToDisk: false, maxMemorySize: 1000 })
    await expect(
      small.setMany([
        ['a', 1],
        ['b', 'x'.repeat(990)],
      ]),
    ).rejects.toBeInstanceOf(RangeError)
    expect(await small.get('a')).toBeNull()
    small.shutdown()
  })

  test('a throwing listener rejects the promise after the commit; the write stands and no lock is held', async () => {
    const dbPath = path.join(tmp(), 'c.db')
    const c = new CacheManager({ dbPath })
    await c.set('k', 'v')
    for (const event of ['cache_set', 'cache_delete', 'cache_clear'])
      c.on(event, () => {
        throw new Error(`boom ${event}`)
      })
    const set = c.set('k2', 'v2')
    expect(set).toBeInstanceOf(Promise)
    await expect(set).rejects.toThrow('boom cache_set')
    await expect(c.delete('k')).rejects.toThrow('boom cache_delete')
    await expect(c.clear()).rejects.toThrow('boom cache_clear')
    // committed: another instance writes at once (the write lock is free) and sees the clear
    const other = new CacheManager({ dbPath })
    await other.set('other', 1)
    expect(await other.getMany(['k', 'k2'])).toEqual([null, null])
    other.shutdown()
    c.shutdown()
  })

  test('a TTL under a millisecond expires (it does not become the default TTL)', async () => {
    const c = new CacheManager()
    await c.set('tiny', 'v', 0.0005)
    await new Promise((r) => setTimeout(r, 20))
    expect(await c.get('tiny')).toBeNull()
    c.shutdown()
  })

  test('getMany counts its disk hits in hitRate', async () => {
    const c = new CacheManager({ maxMemorySize: 1 })
    await c.set('a', 1)
    expect(await c.getMany(['a', 'zz'])).toEqual([1, null])
    expect(c.getStats()).toMatchObject({ hitRate: 0.5, missRate: 0.5 })
    c.shutdown()
  })

  test('clear() keeps what the adaptive policy learned about keys', async () => {
    const run = async (clearFirst) => {
      const c = new CacheManager({ persistToDisk: false, maxMemorySize: 5000, evictionPolicy: 'adaptive' })
      for (let i = 0; i < 15; i++) await c.get('hot')
      if (clearFirst) await c.clear()
      for (let i = 0; i < 200; i++) await c.set(`f${i}`, i)
      await c.set('hot', 'H')
      await c.set('g', 1)
      const r = await c.get('hot')
      c.shutdown()
      return r
    }
    expect(await run(false)).toBe('H')
    expect(await run(true)).toBe('H')
  })

  test('after shutdown, predictiveWarmCache and setMany reject with ERR_SHUT_DOWN', async () => {
    for (const config of [{}, { persistToDisk: false }, { durability: 'async', dbPath: path.join(tmp(), 'a.db') }]) {
      const c = new CacheManager(config)
      c.shutdown()
      await expect(c.predictiveWarmCache({ userTier: 'pro', priority: 'high' })).rejects.toMatchObject({ code: 'ERR_SHUT_DOWN' })
      await expect(c.setMany([])).rejects.toMatchObject({ code: 'ERR_SHUT_DOWN' })
    }
  })

  test('cleanupInterval of 2^31 ms or more is a RangeError (Node would run it every millisecond)', () => {
    expect(() => new CacheManager({ cleanupInterval: 2 ** 31 })).toThrow(RangeError)
  })

  test('options the legacy did not have: NaN, fractions and negatives are a RangeError naming the option; null takes the default', () => {
    for (const field of ['poolSize', 'maxKeyLength', 'maxValueSize', 'maxWarmKeys', 'maxWarmPatterns', 'cleanupInterval']) {
      for (const bad of [NaN, 1.5, -1, Infinity]) {
        expect(() => new CacheManager({ [field]: bad })).toThrow(RangeError)
        expect(() => new CacheManager({ [field]: bad })).toThrow(new RegExp(`^${field} must be a whole number`))
      }
      expect(() => new CacheManager({ [field]: '5' })).toThrow(TypeError)
      new CacheManager({ [field]: null }).shutdown()
    }
    // zero: no periodic sweep for cleanupInterval, a RangeError for the counts
    expect(() => new CacheManager({ maxKeyLength: 0 })).toThrow(RangeError)
    // the legacy's own options keep the legacy rule: a falsy value (NaN included) takes the default
    const c = new CacheManager({ maxMemorySize: NaN, defaultTTL: 0, maxDiskSize: NaN })
    c.shutdown()
  })

  test('cleanupInterval 0: no sweep timer at all', async () => {
    jest.useFakeTimers()
    try {
      const swept = []
      const spy = jest.spyOn(CacheManager.prototype, 'cleanup').mockImplementation(function () {
        swept.push(this === on ? 'on' : 'off')
      })
      const off = new CacheManager({ cleanupInterval: 0 })
      const on = new CacheManager({ cleanupInterval: 1000 })
      expect(jest.getTimerCount()).toBe(1)
      jest.advanceTimersByTime(3000)
      expect(swept).toEqual(['on', 'on', 'on'])
      spy.mockRestore()
      off.shutdown()
      on.shutdown()
    } finally {
      jest.useRealTimers()
    }
  })
})

describe('what crosses into native code is checked and copied first', () => {
  test('predictiveWarmCache checks its context fields (TypeError naming the field) and never throws synchronously', async () => {
    const c = new CacheManager()
    for (const [ctx, field] of [
      [{ userTier: Symbol('s'), priority: 'high' }, /context\.userTier/],
      [{ userTier: 'pro', priority: 7 }, /context\.priority/],
      [{ userTier: 'pro', priority: 'high', capabilities: [1] }, /context\.capabilities/],
    ]) {
      const p = c.predictiveWarmCache(ctx)
      expect(p).toBeInstanceOf(Promise)
      await expect(p).rejects.toThrow(field)
    }
    await expect(c.predictiveWarmCache({ userTier: 'x'.repeat(5000), priority: 'high' })).rejects.toBeInstanceOf(RangeError)
    const throwing = {
      get userTier() {
        throw new Error('getter')
      },
      priority: 'high',
    }
    await expect(c.predictiveWarmCache(throwing)).rejects.toThrow('getter')
    c.shutdown()
  })

  test('getMany reads the keys it checked (a copy), and setMany takes a throwing iterator as a rejection', async () => {
    const c = new CacheManager()
    await c.set('\uFFFD', 'replacement')
    let reads = 0
    const keys = new Proxy(['k'], { get: (t, p) => (p === '0' ? (reads++ === 0 ? 'k' : '\uD800') : Reflect.get(t, p)) })
    expect(await c.getMany(keys)).toEqual([null])
    const bad = new Map([['a', 1]])
    bad[Symbol.iterator] = () => {
      throw new Error('iterator')
    }
    const p = c.setMany(bad)
    expect(p).toBeInstanceOf(Promise)
    await expect(p).rejects.toThrow('iterator')
    c.shutdown()
  })
})

describe('expired entries and bad TTLs', () => {
  test.each([
    ['memory only', { persistToDisk: false }],
    ['with a disk level', {}],
  ])('%s: deviation: a get that finds an expired entry frees it at once; one nobody read stays until the sweep', async (_, options) => {
    const c = new CacheManager({ ...options, cleanupInterval: 0 })
    await c.set('unread', 'v', 0.001)
    await c.set('read', 'v', 0.001)
    await sleep(5)
    expect(await c.get('read')).toBeNull()
    // the legacy: totalKeys 2, and delete('read') true
    expect(c.getStats().totalKeys).toBe(1)
    expect(await c.delete('unread')).toBe(true)
    expect(c.getStats().totalKeys).toBe(0)
    c.shutdown()
  })

  test('the sweep counts the expired entries nobody read', async () => {
    const c = new CacheManager({ persistToDisk: false, cleanupInterval: 100 })
    await c.set('a', 'v', 0.001)
    await c.set('b', 'v', 0.001)
    await sleep(5)
    expect(await c.get('a')).toBeNull()
    const swept = await new Promise((resolve) => c.once('cache_cleanup', resolve))
    expect(swept).toEqual({ cleanedCount: 1 })
    expect(c.getStats().totalKeys).toBe(0)
    c.shutdown()
  })

  test.each(['adaptive', 'lfu', 'lru'])('%s: expired entries still asked for never push out live ones', async (policy) => {
    // hot keys, read often, expire and keep being asked for; then new keys are set. Kept until
    // the sweep, the dead entries had won lfu's and adaptive's contests (31 of 40 new keys lost).
    const c = new CacheManager({ persistToDisk: false, evictionPolicy: policy, maxMemorySize: 20_000, cleanupInterval: 0 })
    const v = 'x'.repeat(150)
    for (let i = 0; i < 90; i++) await c.set(`hot${i}`, v, 0.05)
    for (let r = 0; r < 5; r++) for (let i = 0; i < 90; i++) await c.get(`hot${i}`)
    await sleep(80)
    for (let r = 0; r < 3; r++) for (let i = 0; i < 90; i++) expect(await c.get(`hot${i}`)).toBeNull()
    for (let i = 0; i < 40; i++) await c.set(`new${i}`, v)
    const kept = (await c.getMany(Array.from({ length: 40 }, (_, i) => `new${i}`))).filter((x) => x !== null)
    expect(kept.length).toBe(40)
    c.shutdown()
  })

  test.each([
    ['a negative', -1, RangeError],
    ['a NaN', NaN, RangeError],
    ['an infinite', Infinity, RangeError],
    ['a string', '60', TypeError],
  ])('%s TTL is refused naming ttl, and nothing is stored', async (_, ttl, Err) => {
    const c = new CacheManager()
    await c.set('k', 'before')
    const err = await c.set('k', 'after', ttl).catch((e) => e)
    expect(err).toBeInstanceOf(Err)
    expect(err.message).toMatch(/ttl/)
    expect(await c.get('k')).toBe('before')
    c.shutdown()
  })
})
