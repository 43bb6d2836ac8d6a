// The shared level's batched get on a real redis-server: the gets of one tick are one
// native call that answers hits, misses, garbage and expired records side by side, copies
// the served entries into the local levels (with their remaining TTL, on disk too) and
// keeps nothing it does not serve.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const Database = require('better-sqlite3')
const { CacheManager } = require('model-router-native')
const { startRedis, until } = require('./fixtures/fleet-redis')

jest.setTimeout(60_000)

let redis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

// Sharing, not time-outs, is under test: a loaded machine may exceed the 50 ms default.
const REDIS = () => ({ url: redis.url, prefix: 'fg:', timeoutMs: 2000 })

/** The Redis key of cache key `key` (it carries a hash tag). */
const redisKey = (key) => redis.cli('--scan', '--pattern', `fg:c:*:${key}`)

/** Overwrites `key`'s record in Redis with raw bytes. */
function setRaw(key, bytes) {
  execFileSync('redis-cli', ['-p', String(redis.port), '-x', 'SET', redisKey(key)], { input: bytes, stdio: ['pipe', 'ignore', 'ignore'] })
}

/** A record as the codec writes it: kind JSON, no compression, expiry `expiresAt`, no namespace. */
function record(kind, expiresAt, text) {
  const header = Buffer.alloc(14)
  header.set([0xf1, 1, kind, 0])
  header.writeBigUInt64LE(BigInt(expiresAt), 4)
  header.writeUInt16LE(0, 12)
  return Buffer.concat([header, Buffer.from(text)])
}

test('one batch: hits of every kind, a miss, garbage and an expired record; the served entries are kept locally with their TTL', async () => {
  const writer = new CacheManager({ persistToDisk: false, redis: REDIS() })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fleet-get-'))
  const dbPath = path.join(dir, 'reader.db')
  const reader = new CacheManager({ dbPath, redis: REDIS() })
  try {
    const big = 'compressible text '.repeat(500)
    const hits = {
      obj: { a: 1, b: [true, null, 'x'], s: 'é 中文 😀' },
      str: 'a string',
      json_looking: '{"not":"parsed"}',
      buf: Buffer.from([0, 1, 2, 255]),
      u8: new Uint8Array([9, 8, 7]),
      big,
      emptyBuf: Buffer.alloc(0),
      emptyU8: new Uint8Array(0),
      emptyStr: '',
    }
    const setAt = Date.now()
    for (const [k, v] of Object.entries(hits)) await writer.set(`b:${k}`, v, 60, 'ns1')
    const setDone = Date.now()
    for (const k of ['garbage', 'wrongtype', 'notjson', 'expired']) await writer.set(`b:${k}`, 'placeholder', 60)
    setRaw('b:garbage', Buffer.from('not ours'))
    const wrongType = redisKey('b:wrongtype')
    redis.cli('DEL', wrongType)
    redis.cli('HSET', wrongType, 'f', 'v')
    setRaw('b:notjson', record(0, 0, 'not json {'))
    // a record whose own expiry has passed while Redis still holds it: served, not kept
    setRaw('b:expired', record(0, Date.now() - 1000, '{"late":true}'))

    const keys = [...Object.keys(hits), 'absent', 'garbage', 'wrongtype', 'notjson', 'expired'].map((k) => `b:${k}`)
    // issued in one tick: one batch
    const got = await Promise.all(keys.map((k) => reader.get(k)))
    const byKey = Object.fromEntries(keys.map((k, i) => [k.slice(2), got[i]]))

    for (const [k, v] of Object.entries(hits)) expect(byKey[k]).toEqual(v)
    expect(Buffer.isBuffer(byKey.buf)).toBe(true)
    expect(Buffer.isBuffer(byKey.u8)).toBe(false)
    expect(byKey.u8).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(byKey.emptyBuf)).toBe(true)
    expect(byKey.emptyBuf.length).toBe(0)
    expect(Buffer.isBuffer(byKey.emptyU8)).toBe(false)
    expect(byKey.emptyU8).toBeInstanceOf(Uint8Array)
    expect(byKey.emptyU8.length).toBe(0)
    // each binary value owns its memory: writing one leaves the others as they were
    byKey.buf[0] = 77
    expect(byKey.u8).toEqual(new Uint8Array([9, 8, 7]))
    expect(byKey.absent).toBeNull()
    expect(byKey.garbage).toBeNull()
    expect(byKey.wrongtype).toBeNull()
    expect(byKey.notjson).toBeNull()
    expect(byKey.expired).toEqual({ late: true })
    const stats = reader.getFleetStats()
    expect(stats).toMatchObject({ hits: 11, misses: 1, garbage: 2, degraded: false })

    // gone from Redis without an invalidation: what was kept is served locally, the rest misses
    for (const k of keys) redis.cli('DEL', redisKey(k))
    for (const k of Object.keys(hits)) expect(await reader.get(`b:${k}`)).toEqual(k === 'buf' ? Buffer.from([0, 1, 2, 255]) : hits[k])
    for (const k of ['absent', 'garbage', 'wrongtype', 'notjson', 'expired']) expect(await reader.get(`b:${k}`)).toBeNull()

    // the disk level holds the copies with the record's expiry and namespace
    const rows = await (async () => {
      let r = []
      await until(() => {
        const db = new Database(dbPath, { readonly: true, fileMustExist: true })
        try {
          r = db.prepare("SELECT key, ttl, namespace FROM cache_entries WHERE key LIKE 'b:%' ORDER BY key").all()
        } finally {
          db.close()
        }
        return r.length >= Object.keys(hits).length
      })
      return r
    })()
    expect(rows.map((r) => r.key).sort()).toEqual(
      Object.keys(hits)
        .map((k) => `b:${k}`)
        .sort(),
    )
    for (const r of rows) {
      expect(r.namespace).toBe('ns1')
      expect(r.ttl).toBeGreaterThanOrEqual(setAt + 60_000)
      expect(r.ttl).toBeLessThanOrEqual(setDone + 60_000 + 1)
    }
    // the namespace came along: clearing it locally drops the copies
    await reader.clear('ns1')
    expect(await reader.get('b:obj')).toBeNull()
  } finally {
    writer.shutdown()
    reader.shutdown()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a batch whose binary values are all empty serves them (and an empty string), and keeps them locally', async () => {
  const writer = new CacheManager({ persistToDisk: false, redis: REDIS() })
  const reader = new CacheManager({ persistToDisk: false, redis: REDIS() })
  try {
    await writer.set('e:buf', Buffer.alloc(0), 60)
    await writer.set('e:u8', new Uint8Array(0), 60)
    await writer.set('e:str', '', 60)
    const keys = ['e:buf', 'e:u8', 'e:str']
    const check = ([buf, u8, str]) => {
      expect(Buffer.isBuffer(buf)).toBe(true)
      expect(buf.length).toBe(0)
      expect(Buffer.isBuffer(u8)).toBe(false)
      expect(u8).toBeInstanceOf(Uint8Array)
      expect(u8.length).toBe(0)
      expect(str).toBe('')
    }
    // issued in one tick: one batch, with no non-empty binary value in it
    check(await Promise.all(keys.map((k) => reader.get(k))))
    expect(reader.getFleetStats()).toMatchObject({ hits: 3, misses: 0 })
    // gone from Redis without an invalidation: the local copies answer
    for (const k of keys) redis.cli('DEL', redisKey(k))
    check(await Promise.all(keys.map((k) => reader.get(k))))
    expect(reader.getFleetStats().hits).toBe(3)
  } finally {
    writer.shutdown()
    reader.shutdown()
  }
})

test('gets issued while a batch is out form the next batch; a closed level answers null', async () => {
  const writer = new CacheManager({ persistToDisk: false, redis: REDIS() })
  const reader = new CacheManager({ persistToDisk: false, redis: REDIS() })
  try {
    for (let i = 0; i < 300; i++) await writer.set(`n:${i}`, { i }, 60)
    // 64 in flight, each read issuing the next when it resolves
    let next = 0
    const seen = new Array(300).fill(null)
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < 300) {
          const i = next++
          seen[i] = await reader.get(`n:${i}`)
        }
      }),
    )
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => ({ i })))
    expect(reader.getFleetStats().hits).toBe(300)
    const pending = reader.get('n:never')
    reader.shutdown()
    expect(await pending).toBeNull()
  } finally {
    writer.shutdown()
    reader.shutdown()
  }
})
