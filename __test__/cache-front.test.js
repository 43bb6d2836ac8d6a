'use strict'
// CacheManager: memory hits served without a native call (the front of the memory level)
// behave as hits the core served: same values, copies, expiry, order, statistics.
const { CacheManager } = require('model-router-native')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-cache-front-'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * A cache whose every get goes through the core: the front stays shut while someone
 * listens for evictions.
 */
function coreOnly(config) {
  const c = new CacheManager(config)
  c.on('cache_evict', () => {})
  return c
}

/** Seeded xorshift: the same sequence for both caches. */
function picks(n, size) {
  const out = []
  let x = 0x9e3779b9
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out.push(x % size)
  }
  return out
}

describe('hits served by the front count and order as the core counts them', () => {
  test.each(['lru', 'lfu', 'adaptive'])('%s: same statistics, same survivors after eviction', async (evictionPolicy) => {
    const config = { persistToDisk: false, maxMemorySize: 8000, evictionPolicy, cleanupInterval: 0 }
    const front = new CacheManager(config)
    const core = coreOnly(config)
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`)
    const seq = picks(600, 40)
    for (const c of [front, core]) {
      for (const [i, k] of keys.entries()) await c.set(k, { i, text: 'x'.repeat(40) })
      // every key read once (each then held by the front), then the first ten read again
      // and again, with a few misses: only counted uses keep those ten
      for (const k of keys) await c.get(k)
      for (const p of seq) await c.get(p < 4 ? `absent-${p}` : keys[p % 10])
      // new entries push out what the policy ranks lowest
      for (let i = 0; i < 40; i++) await c.set(`new-${i}`, { i, text: 'y'.repeat(40) })
    }
    expect(front.getStats()).toEqual(core.getStats())
    expect(front.getStats().evictionCount).toBeGreaterThan(0)
    const all = [...keys, ...Array.from({ length: 40 }, (_, i) => `new-${i}`)]
    expect(await front.getMany(all)).toEqual(await core.getMany(all))
    front.shutdown()
    core.shutdown()
  })

  test('getStats right after front hits counts every one of them', async () => {
    const c = new CacheManager({ persistToDisk: false })
    await c.set('k', { a: 1 })
    for (let i = 0; i < 5; i++) expect(await c.get('k')).toEqual({ a: 1 })
    expect(await c.get('absent')).toBeNull()
    const s = c.getStats()
    expect(s.hitRate).toBeCloseTo(5 / 6)
    expect(s.missRate).toBeCloseTo(1 / 6)
    c.shutdown()
  })
})

describe('a value served by the front is the stored value, a fresh copy each time', () => {
  test('mutating what get returned changes neither the cache nor later results', async () => {
    const c = new CacheManager({ persistToDisk: false })
    const value = { a: 1, nested: { b: [1, 'x', null, { d: true }] }, list: [[1], [2]] }
    await c.set('k', value)
    for (let i = 0; i < 3; i++) {
      const got = await c.get('k')
      expect(got).toEqual(value)
      got.a = 99
      got.nested.b.push('extra')
      got.list[0][0] = -1
    }
    expect(await c.get('k')).toEqual(value)
    c.shutdown()
  })

  test('an own __proto__ key stays an own property and sets no prototype', async () => {
    const c = new CacheManager({ persistToDisk: false })
    await c.set('k', JSON.parse('{"__proto__":{"polluted":true},"x":1}'))
    for (let i = 0; i < 3; i++) {
      const got = await c.get('k')
      expect(Object.getPrototypeOf(got)).toBe(Object.prototype)
      expect(Object.keys(got)).toEqual(['__proto__', 'x'])
      expect(got.polluted).toBeUndefined()
    }
    c.shutdown()
  })

  test.each([
    ['string', 'hello'],
    ['string that looks like JSON', '{"a":1}'],
    ['number', -0.5],
    ['null', null],
    ['array', [1, 'two']],
  ])('%s keeps its type on every hit', async (_, value) => {
    const c = new CacheManager({ persistToDisk: false })
    await c.set('k', value)
    for (let i = 0; i < 3; i++) {
      const got = await c.get('k')
      expect(typeof got).toBe(typeof value)
      expect(got).toEqual(value)
    }
    c.shutdown()
  })
})

describe('what changes the core is seen by the next get', () => {
  test('set, delete and clear(namespace) after front hits', async () => {
    const c = new CacheManager({ dbPath: path.join(tmp(), 'c.db') })
    await c.set('k', 'v1', 0, 'ns')
    await c.set('other', 'o')
    await c.get('k')
    expect(await c.get('k')).toBe('v1')
    await c.set('k', 'v2', 0, 'ns')
    expect(await c.get('k')).toBe('v2')
    expect(await c.get('k')).toBe('v2')
    await c.delete('k')
    expect(await c.get('k')).toBeNull()
    await c.set('k', 'v3', 0, 'ns')
    await c.get('k')
    expect(await c.get('k')).toBe('v3')
    await c.clear('ns')
    expect(await c.get('k')).toBeNull()
    expect(await c.get('other')).toBe('o')
    c.shutdown()
  })

  test('a get in the tick of a set, before its commit, sees the new value', async () => {
    const c = new CacheManager({ dbPath: path.join(tmp(), 'c.db') })
    await c.set('k', 'old')
    await c.get('k')
    const done = c.set('k', 'new')
    expect(await c.get('k')).toBe('new')
    await done
    c.shutdown()
  })

  test('an entry expires on time after hits from the front', async () => {
    const c = new CacheManager({ persistToDisk: false })
    // the core reads the wall clock (no injectable clock there): a TTL long enough for the
    // first gets on a loaded machine, then a wait past it
    await c.set('k', { a: 1 }, 0.3)
    expect(await c.get('k')).toEqual({ a: 1 })
    expect(await c.get('k')).toEqual({ a: 1 })
    await sleep(350)
    expect(await c.get('k')).toBeNull()
    expect(c.getStats().totalKeys).toBe(0) // the core freed it on that get
    c.shutdown()
  })

  test('a faked Date does not keep an expired entry alive in the front', async () => {
    // only Date is faked, frozen: the core's clock (the wall clock) goes on
    jest.useFakeTimers({
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    })
    try {
      const c = new CacheManager({ persistToDisk: false, cleanupInterval: 0 })
      await c.set('k', 'v', 0.3)
      expect(await c.get('k')).toBe('v')
      expect(await c.get('k')).toBe('v')
      await sleep(350)
      expect(await c.get('k')).toBeNull()
      c.shutdown()
    } finally {
      jest.useRealTimers()
    }
  })

  test('after shutdown a key the front held rejects with ERR_SHUT_DOWN', async () => {
    const c = new CacheManager({ persistToDisk: false })
    await c.set('k', 1)
    await c.get('k')
    await c.get('k')
    c.shutdown()
    await expect(c.get('k')).rejects.toMatchObject({ code: 'ERR_SHUT_DOWN' })
  })

  test('hit events are emitted for front hits, with source memory', async () => {
    const c = new CacheManager({ persistToDisk: false })
    const events = []
    c.on('cache_hit', (e) => events.push([e.key, e.source, typeof e.latency]))
    await c.set('k', 1)
    await c.get('k')
    await c.get('k')
    await c.getOrSet('k', () => 2)
    expect(events).toEqual([
      ['k', 'memory', 'number'],
      ['k', 'memory', 'number'],
      ['k', 'memory', 'number'],
    ])
    c.shutdown()
  })
})

describe('walCoalescing: off by default, a boolean option, the environment as fallback', () => {
  test('a non-boolean is a TypeError naming walCoalescing', () => {
    for (const v of ['yes', 1, {}]) {
      expect(() => new CacheManager({ walCoalescing: v })).toThrow(TypeError)
      expect(() => new CacheManager({ walCoalescing: v })).toThrow(/walCoalescing/)
    }
  })

  test.each([false, true])('walCoalescing %s: sets survive a reopen', async (walCoalescing) => {
    const dbPath = path.join(tmp(), 'c.db')
    const a = new CacheManager({ dbPath, walCoalescing })
    for (let i = 0; i < 50; i++) await a.set(`k${i}`, { i, text: 'z'.repeat(3000) })
    a.shutdown()
    const b = new CacheManager({ dbPath, walCoalescing })
    expect(await b.get('k49')).toEqual({ i: 49, text: 'z'.repeat(3000) })
    expect((await b.getMany(['k0', 'k25'])).map((v) => v.i)).toEqual([0, 25])
    b.shutdown()
  })
})
