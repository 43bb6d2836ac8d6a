/**
 * Cache benchmark: the legacy port (legacy/cache-manager.ts), the native
 * `CacheManager`, and the peers users would pick (`lru-cache` in memory, `better-sqlite3`
 * on disk), side by side in one process, call by call. Peak RSS runs each side in its own
 * child process (RSS is per process).
 */
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import Database from 'better-sqlite3'
import { LRUCache } from 'lru-cache'
import { CacheManager } from 'model-router-native'
import { CacheManager as LegacyCacheManager } from 'model-router-legacy-ports'
import { interleaved, measure, measureInFlight, type Measured, type Row } from './measure'

const GROUP = 'cache' as const

/** A 1 KB JSON object, like a cached model response. */
export function response(i: number): Record<string, unknown> {
  return {
    id: `resp-${i}`,
    model: 'gemini-2.5-flash',
    usage: { input: 120, output: 380, total: 500 },
    text: 'The quick brown fox jumps over the lazy dog. '.repeat(20).slice(0, 880),
  }
}

function small(i: number): Record<string, unknown> {
  return { i, model: 'gemini-2.0-flash', ok: true }
}

/**
 * Uniform random indexes (seeded xorshift, the same sequence for every side): a fixed
 * stride would walk keys in a cycle, which flatters the legacy LRU array (the key it
 * searches for is then always near its front).
 */
function randomPicks(count: number, size: number, seed = 0x9e3779b9): Uint32Array {
  const out = new Uint32Array(count)
  let x = seed >>> 0
  for (let i = 0; i < count; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x % size
  }
  return out
}

export function tmpDb(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-bench-cache-')), `${name}.db`)
}

function row(op: string, side: string, r: { p50Us: number; p99Us: number; opsPerSec: number }, note?: string): Row {
  return { group: GROUP, op, side, ...r, ...(note ? { note } : {}) }
}

function sqlitePeer(dbPath: string) {
  const db = new Database(dbPath)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT, ttl INTEGER)')
  return {
    db,
    put: db.prepare('INSERT OR REPLACE INTO kv (key, value, ttl) VALUES (?, ?, ?)'),
    get: db.prepare('SELECT value, ttl FROM kv WHERE key = ?'),
  }
}

/** Rounds per operation (see `interleaved`); each row is its side's median over them. */
let ROUNDS = 5
let ROUNDS_NOTE = `median of ${ROUNDS} interleaved rounds`

/** Rows for one operation measured on several sides in interleaved rounds. */
async function compare(op: string, sides: Array<[side: string, run: () => Promise<Measured>, note?: string]>): Promise<Row[]> {
  const results = await interleaved(
    sides.map(([, run]) => run),
    ROUNDS,
  )
  return sides.map(([side, , note], k) => row(op, side, results[k], note ? `${note}; ${ROUNDS_NOTE}` : ROUNDS_NOTE))
}

async function sets(quick: boolean): Promise<Row[]> {
  const n = Math.ceil((quick ? 2_000 : 10_000) / ROUNDS)
  const values = Array.from({ length: 64 }, (_, i) => response(i))
  const legacy = new LegacyCacheManager({ dbPath: tmpDb('legacy-set') })
  const native = new CacheManager({ dbPath: tmpDb('native-set') })
  const nativeAsync = new CacheManager({ dbPath: tmpDb('native-set-async'), durability: 'async' })
  const peer = sqlitePeer(tmpDb('sqlite-set'))
  // every call writes a new key; each side counts its own keys
  const next = { legacy: 0, native: 0, nativeAsync: 0, peer: 0 }
  const rows = await compare('set 1 KB JSON, file db, sequential (awaited commit)', [
    ['legacy', () => measure(() => legacy.set(`k${next.legacy}`, values[next.legacy++ & 63], 3600), { iterations: n })],
    ['native', () => measure(() => native.set(`k${next.native}`, values[next.native++ & 63], 3600), { iterations: n })],
    [
      'better-sqlite3',
      () =>
        measure(() => peer.put.run(`k${next.peer}`, JSON.stringify(values[next.peer++ & 63]), Date.now() + 3_600_000), { iterations: n }),
      'one autocommit INSERT per set',
    ],
  ])
  const total = Math.ceil((quick ? 5_000 : 30_000) / ROUNDS)
  rows.push(
    ...(await compare('set 1 KB JSON, file db, 64 in flight', [
      ['legacy', () => measureInFlight(() => legacy.set(`f${next.legacy}`, values[next.legacy++ & 63], 3600), 64, total)],
      ['native', () => measureInFlight(() => native.set(`f${next.native}`, values[next.native++ & 63], 3600), 64, total)],
      [
        'native (durability async)',
        () => measureInFlight(() => nativeAsync.set(`f${next.nativeAsync}`, values[next.nativeAsync++ & 63], 3600), 64, total),
        'resolves before the commit',
      ],
      [
        'better-sqlite3',
        () =>
          measureInFlight(
            async () => peer.put.run(`f${next.peer}`, JSON.stringify(values[next.peer++ & 63]), Date.now() + 3_600_000),
            64,
            total,
          ),
        'synchronous: one autocommit INSERT per set',
      ],
    ])),
  )
  legacy.shutdown()
  native.shutdown()
  nativeAsync.shutdown()
  peer.db.close()
  return rows
}

async function memoryHits(quick: boolean): Promise<Row[]> {
  const rows: Row[] = []
  const sizes = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000]
  for (const size of sizes) {
    const op = `get, memory hit, ${size.toLocaleString('en-US')} entries`
    const keys = Array.from({ length: size }, (_, i) => `key-${i}`)
    const iterations = Math.ceil((quick ? 5_000 : 20_000) / ROUNDS)
    const picks = randomPicks(iterations * 2, size)
    const pick = (i: number) => keys[picks[i % picks.length]]
    const sides: Array<[string, () => Promise<Measured>, string]> = []
    const done: Array<() => void> = []
    // Legacy: populating is O(n) per set (indexOf on the LRU array): 10k and 100k only.
    if (size <= 100_000) {
      const legacy = new LegacyCacheManager({ persistToDisk: false, maxMemorySize: 1024 * 1024 * 1024 })
      for (let i = 0; i < size; i++) await legacy.set(keys[i], small(i))
      const it = size >= 100_000 ? Math.min(iterations, 200) : iterations
      sides.push(['legacy', () => measure((i) => legacy.get(pick(i)), { iterations: it, warmup: 20 }), 'returns the stored object'])
      done.push(() => legacy.shutdown())
    }
    const native = new CacheManager({ persistToDisk: false, maxMemorySize: 1024 * 1024 * 1024 })
    for (let i = 0; i < size; i++) void native.set(keys[i], small(i))
    sides.push(['native', () => measure((i) => native.get(pick(i)), { iterations }), 'returns a fresh copy'])
    done.push(() => native.shutdown())
    const lru = new LRUCache<string, object>({ max: size })
    for (let i = 0; i < size; i++) lru.set(keys[i], small(i))
    sides.push(['lru-cache', () => measure((i) => lru.get(pick(i)), { iterations }), 'sync; returns the stored object'])
    rows.push(...(await compare(op, sides)))
    for (const d of done) d()
  }
  return rows
}

/**
 * The WAL shim (`walCoalescing`), off (the default) and on, in alternating rounds: sets of
 * 1 KB JSON to a file database, 64 in flight and sequential.
 */
async function walShim(quick: boolean): Promise<Row[]> {
  const values = Array.from({ length: 64 }, (_, i) => response(i))
  const off = new CacheManager({ dbPath: tmpDb('wal-off'), walCoalescing: false })
  const on = new CacheManager({ dbPath: tmpDb('wal-on'), walCoalescing: true })
  const next = { off: 0, on: 0 }
  // per round, whatever the number of rounds: the spread between rounds is wide here
  const total = quick ? 1_000 : 6_000
  const rows = await compare('set 1 KB JSON, file db, 64 in flight, WAL shim off/on', [
    [
      'native, walCoalescing off',
      () => measureInFlight(() => off.set(`f${next.off}`, values[next.off++ & 63], 3600), 64, total),
      'the default',
    ],
    ['native, walCoalescing on', () => measureInFlight(() => on.set(`f${next.on}`, values[next.on++ & 63], 3600), 64, total), 'Linux only'],
  ])
  const n = quick ? 400 : 2_000
  rows.push(
    ...(await compare('set 1 KB JSON, file db, sequential, WAL shim off/on', [
      [
        'native, walCoalescing off',
        () => measure(() => off.set(`k${next.off}`, values[next.off++ & 63], 3600), { iterations: n }),
        'the default',
      ],
      [
        'native, walCoalescing on',
        () => measure(() => on.set(`k${next.on}`, values[next.on++ & 63], 3600), { iterations: n }),
        'Linux only',
      ],
    ])),
  )
  off.shutdown()
  on.shutdown()
  return rows
}

/**
 * A memory hit on a small cache (100 entries), the size a cache of the codebase's holds:
 * the legacy's `Map` lookup against the native cache's front (see `ts/cache-front.ts`).
 * Both with a disk level (":memory:") and a budget that keeps all 100 entries in memory.
 */
async function smallHits(quick: boolean): Promise<Row[]> {
  const size = 100
  const keys = Array.from({ length: size }, (_, i) => `key-${i}`)
  // sub-microsecond calls: many per round, so that a round outlasts a scheduler time slice
  const iterations = quick ? 5_000 : 20_000
  const picks = randomPicks(iterations * ROUNDS * 2, size)
  const at = { legacy: 0, native: 0, lru: 0 }
  const pick = (side: keyof typeof at) => keys[picks[at[side]++ % picks.length]]
  const legacy = new LegacyCacheManager({ maxMemorySize: 1024 * 1024 })
  const native = new CacheManager({ maxMemorySize: 1024 * 1024 })
  const lru = new LRUCache<string, object>({ max: size })
  for (let i = 0; i < size; i++) {
    await legacy.set(keys[i], small(i))
    await native.set(keys[i], small(i))
    lru.set(keys[i], small(i))
  }
  const rows = await compare('get, memory hit, 100 entries', [
    ['legacy', () => measure(() => legacy.get(pick('legacy')), { iterations }), 'returns the stored object'],
    ['native', () => measure(() => native.get(pick('native')), { iterations }), 'returns a fresh copy'],
    ['lru-cache', () => measure(() => lru.get(pick('lru')), { iterations }), 'sync; returns the stored object'],
  ])
  legacy.shutdown()
  native.shutdown()
  return rows
}

async function diskAndMiss(quick: boolean): Promise<Row[]> {
  const size = quick ? 2_000 : 10_000
  const iterations = Math.ceil((quick ? 5_000 : 20_000) / ROUNDS)
  const keys = Array.from({ length: size }, (_, i) => `key-${i}`)
  const picks = randomPicks(iterations * ROUNDS * 2, size)
  // each side walks the same sequence of keys, round after round
  const at = { legacy: 0, native: 0, peer: 0 }
  const pick = (side: keyof typeof at) => keys[picks[at[side]++ % picks.length]]
  // A 1000-byte memory budget (what the codebase passes): 1 KB values live on disk only.
  const legacy = new LegacyCacheManager({ dbPath: tmpDb('legacy-disk'), maxMemorySize: 1000 })
  const native = new CacheManager({ dbPath: tmpDb('native-disk'), maxMemorySize: 1000 })
  const peer = sqlitePeer(tmpDb('sqlite-disk'))
  for (let i = 0; i < size; i++) {
    await legacy.set(keys[i], response(i))
    void native.set(keys[i], response(i))
    peer.put.run(keys[i], JSON.stringify(response(i)), Date.now() + 3_600_000)
  }
  await native.set('sync', 1)
  const rows = await compare('get, disk-only hit (1 KB JSON, file db)', [
    ['legacy', () => measure(() => legacy.get(pick('legacy')), { iterations })],
    ['native', () => measure(() => native.get(pick('native')), { iterations })],
    [
      'better-sqlite3',
      () =>
        measure(
          () => {
            const r = peer.get.get(pick('peer')) as { value: string; ttl: number } | undefined
            return r && r.ttl >= Date.now() ? JSON.parse(r.value) : null
          },
          { iterations },
        ),
      'point read + JSON.parse, sync',
    ],
  ])
  // the same, one get per event-loop turn (what a server handling requests does): the
  // native side's first disk read of a turn reads alone, and the turn ends between gets
  const nextTurn = () => new Promise<void>((r) => setImmediate(r))
  const turns = Math.ceil(iterations / 4)
  rows.push(
    ...(await compare('get, disk-only hit, one per event-loop turn (1 KB JSON, file db)', [
      ['legacy', () => measure(async () => (await legacy.get(pick('legacy')), await nextTurn()), { iterations: turns })],
      ['native', () => measure(async () => (await native.get(pick('native')), await nextTurn()), { iterations: turns })],
      [
        'better-sqlite3',
        () =>
          measure(
            async () => {
              const r = peer.get.get(pick('peer')) as { value: string; ttl: number } | undefined
              await nextTurn()
              return r && r.ttl >= Date.now() ? JSON.parse(r.value) : null
            },
            { iterations: turns },
          ),
        'point read + JSON.parse, sync',
      ],
    ])),
  )
  const absent = { legacy: 0, native: 0, peer: 0 }
  rows.push(
    ...(await compare('get, miss (file db)', [
      ['legacy', () => measure(() => legacy.get(`absent-${absent.legacy++}`), { iterations })],
      ['native', () => measure(() => native.get(`absent-${absent.native++}`), { iterations })],
      ['better-sqlite3', () => measure(() => peer.get.get(`absent-${absent.peer++}`), { iterations }), 'sync'],
    ])),
  )
  legacy.shutdown()
  native.shutdown()
  peer.db.close()
  return rows
}

/** Peak RSS of a fresh process doing 1,000,000 small sets (memory level only). */
function peakRss(quick: boolean): Row[] {
  const n = quick ? 200_000 : 1_000_000
  const benchDir = __dirname
  const scripts: Record<string, string> = {
    native: `const { CacheManager } = require(${JSON.stringify(path.join(benchDir, '..', '..', 'index.cjs'))})
      const c = new CacheManager({ persistToDisk: false, maxMemorySize: 4 * 1024 ** 3 })
      for (let i = 0; i < N; i++) c.set('key-' + i, { i, model: 'gemini-2.0-flash', ok: true })`,
    'lru-cache': `const { LRUCache } = require('lru-cache')
      const c = new LRUCache({ max: N })
      for (let i = 0; i < N; i++) c.set('key-' + i, { i, model: 'gemini-2.0-flash', ok: true })`,
    legacy: `const { CacheManager } = require(${JSON.stringify(require.resolve('model-router-legacy-ports'))})
      const c = new CacheManager({ persistToDisk: false, maxMemorySize: 4 * 1024 ** 3 })
      ;(async () => { for (let i = 0; i < N; i++) await c.set('key-' + i, { i, model: 'gemini-2.0-flash', ok: true }) })()`,
  }
  const rows: Row[] = []
  for (const [side, body] of Object.entries(scripts)) {
    const script = `const N = ${n}; const t0 = process.hrtime.bigint();
      ${body}
      setImmediate(() => { const s = Number(process.hrtime.bigint() - t0) / 1e9
        console.log(JSON.stringify({ rss: process.resourceUsage().maxRSS * 1024, s })) })`
    try {
      const out = execFileSync(process.execPath, ['-e', script], {
        cwd: path.join(benchDir, '..', '..'),
        timeout: quick ? 60_000 : 600_000,
      }).toString()
      const { rss, s } = JSON.parse(out.trim().split('\n').pop()!)
      rows.push(
        row(
          `peak RSS after ${n.toLocaleString('en-US')} small sets (memory only)`,
          side,
          { p50Us: 0, p99Us: 0, opsPerSec: n / s },
          `peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
        ),
      )
    } catch (err) {
      rows.push(
        row(
          `peak RSS after ${n.toLocaleString('en-US')} small sets (memory only)`,
          side,
          { p50Us: NaN, p99Us: NaN, opsPerSec: NaN },
          `not run: ${(err as Error).message.split('\n')[0]}`,
        ),
      )
    }
  }
  return rows
}

const SECTIONS: Record<string, (quick: boolean) => Promise<Row[]> | Row[]> = {
  sets,
  wal: walShim,
  small: smallHits,
  memory: memoryHits,
  disk: diskAndMiss,
  rss: peakRss,
}

/** Runs every section, or only those named in `only` (`sets`, `wal`, `small`, `memory`, `disk`, `rss`). */
export async function run(opts: { quick: boolean; only?: string[]; rounds?: number }): Promise<Row[]> {
  if (opts.rounds !== undefined && opts.rounds >= 1) {
    ROUNDS = Math.floor(opts.rounds)
    ROUNDS_NOTE = `median of ${ROUNDS} interleaved rounds`
  }
  const rows: Row[] = []
  for (const [name, section] of Object.entries(SECTIONS)) {
    if (opts.only && opts.only.length > 0 && !opts.only.includes(name)) continue
    rows.push(...(await section(opts.quick)))
  }
  return rows
}
