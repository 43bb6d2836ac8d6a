/**
 * `npm run benchmark:fleet`: the shared cache level on one local Redis.
 *
 * 1. Hit rate: the same seeded Zipf workload (get; on a miss, set) split over 4 processes
 *    with isolated caches, over 4 processes sharing one Redis, and served by one process.
 * 2. Cross-process get: one process stores N 1 KB JSON values; another, with empty local
 *    levels, reads each once with 64 in flight (every read goes to Redis): p50, p99 and
 *    ops/s, beside the same work done the way a TypeScript team would (`ioredis`, JSON).
 * 3. The `redis` option absent: local get hit/miss cost with no fleet level.
 * 4. `ModelRouter`'s fleet state (`bench/fleet-router.ts`): health propagation p99, quota
 *    overshoot fleet-wide, routing p50 with the fleet state on vs off, each beside its goal.
 *    `--router-only` runs these rows alone.
 *
 * Starts its own `redis-server` on a free port (no persistence) unless FLEET_REDIS_URL is
 * set. Options: --requests N (per process, default 20000), --keys N (default 20000),
 * --reads N (default 20000), --rounds N (cross-process get rounds, default 2), --get-only
 * (part 2's get rows alone).
 *
 * `run()` is the fleet section of `benchmark:compare`: parts 1 and 2 (gets only) at a
 * reduced size, or a line saying why it was skipped.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'

import { CacheManager } from 'model-router-native'

import { routerRows } from './fleet-router'
import { rng, zipf } from './workload'

const PROCESSES = 4
const IN_FLIGHT = 64
/**
 * Untimed reads each cross-process reader makes first, of keys stored for this (both sides
 * alike): its connection and its JIT are warm when the timed reads start.
 */
const WARM_READS = 1000

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}

const value = (k: number) => ({ id: k, text: `response for prompt ${k} `.repeat(30), tokens: k % 997 })

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

// ---- worker side ----------------------------------------------------------------------

interface Job {
  kind: 'zipf' | 'fill' | 'read-native' | 'read-ioredis' | 'read-ioredis-auto' | 'write-native' | 'write-ioredis'
  url: string | null
  prefix: string
  seed: number
  requests: number
  keys: number
  start?: number
  /** First of the WARM_READS keys a reader reads untimed before its timed reads. */
  warmStart?: number
}

async function runWorker(job: Job): Promise<unknown> {
  if (job.kind === 'read-ioredis') return readIoredis(job, false)
  if (job.kind === 'read-ioredis-auto') return readIoredis(job, true)
  if (job.kind === 'write-ioredis') return writeIoredis(job)
  const cache = new CacheManager({ persistToDisk: false, ...(job.url ? { redis: { url: job.url, prefix: job.prefix } } : {}) })
  try {
    if (job.kind === 'zipf') {
      // a few reads to let the connection come up before counting
      await cache.get('warm-up')
      const next = zipf(job.keys, 1.0, rng(job.seed))
      let hits = 0
      for (let i = 0; i < job.requests; i++) {
        const k = next()
        const key = `z:${k}`
        if ((await cache.get(key)) !== null) hits++
        else await cache.set(key, value(k), 3600)
      }
      return { hits, requests: job.requests }
    }
    if (job.kind === 'fill') {
      const batch: Promise<void>[] = []
      for (let k = 0; k < job.keys; k++) {
        batch.push(cache.set(`r:${k}`, value(k), 3600))
        if (batch.length === IN_FLIGHT) await Promise.all(batch.splice(0))
      }
      await Promise.all(batch)
      return {}
    }
    if (job.kind === 'write-native') {
      // memory only locally: the set resolves once Redis holds it
      await cache.get('warm-up')
      return await closedLoop(job.requests, (i) => cache.set(`w:${(job.start ?? 0) + i}`, value(i), 3600))
    }
    // read-native: each key once, 64 in flight, every read a local miss served by Redis
    await cache.get('warm-up')
    await closedLoop(WARM_READS, async (i) => {
      await cache.get(`r:${(job.warmStart ?? 0) + i}`)
    })
    let missed = 0
    const r = await closedLoop(job.requests, async (i) => {
      if ((await cache.get(`r:${(job.start ?? 0) + i}`)) === null) missed++
    })
    return { ...r, missed, degradations: cache.getFleetStats()?.degradations ?? 0 }
  } finally {
    cache.shutdown()
  }
}

async function readIoredis(job: Job, autoPipelining: boolean): Promise<unknown> {
  // the way a TypeScript team would do it: ioredis, JSON values, one GET per read (its
  // defaults; `autoPipelining`: the option that sends the commands of a tick together)
  const { default: Redis } = await import('ioredis')
  const r = new Redis(job.url as string, { enableAutoPipelining: autoPipelining })
  try {
    await r.ping()
    await closedLoop(WARM_READS, async (i) => {
      JSON.parse((await r.get(`${job.prefix}peer:${(job.warmStart ?? 0) + i}`)) as string)
    })
    return await closedLoop(job.requests, async (i) => {
      const s = await r.get(`${job.prefix}peer:${(job.start ?? 0) + i}`)
      if (s === null) throw new Error('peer read missed')
      JSON.parse(s)
    })
  } finally {
    r.disconnect()
  }
}

async function writeIoredis(job: Job): Promise<unknown> {
  const { default: Redis } = await import('ioredis')
  const r = new Redis(job.url as string)
  try {
    await r.ping()
    return await closedLoop(job.requests, async (i) => {
      await r.set(`${job.prefix}peerw:${(job.start ?? 0) + i}`, JSON.stringify(value(i)), 'EX', 3600)
    })
  } finally {
    r.disconnect()
  }
}

/**
 * `n` operations, IN_FLIGHT at a time; per-op latency (µs), ops/s, and the process's CPU
 * time per op (all its threads: less sensitive than ops/s to what else runs on the machine).
 */
async function closedLoop(
  n: number,
  op: (i: number) => Promise<void>,
): Promise<{ p50: number; p99: number; opsPerSec: number; cpuUs: number }> {
  const lat: number[] = new Array(n)
  let next = 0
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < n) {
        const i = next++
        const s = performance.now()
        await op(i)
        lat[i] = (performance.now() - s) * 1000
      }
    }),
  )
  const elapsed = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(c0)
  return { p50: pct(lat, 50), p99: pct(lat, 99), opsPerSec: n / elapsed, cpuUs: (cpu.user + cpu.system) / n }
}

// ---- orchestrator -----------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

async function startRedis(): Promise<{ url: string; stop: () => void; cli: (...a: string[]) => Promise<string> }> {
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fleet-bench-'))
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  })
  const stop = () => {
    process.off('exit', stop)
    proc.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', stop)
  const cli = (...a: string[]) =>
    new Promise<string>((resolve) => {
      const c = spawn('redis-cli', ['-p', String(port), ...a])
      let out = ''
      c.stdout.on('data', (d) => (out += d))
      c.on('exit', () => resolve(out.trim()))
      c.on('error', () => resolve(''))
    })
  for (let i = 0; i < 200 && (await cli('PING')) !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 10))
  return { url: `redis://127.0.0.1:${port}`, stop, cli }
}

function inChild<T>(job: Job): Promise<T> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(__filename, ['worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('message', (m: { ok: boolean; value: T; error: string }) => (m.ok ? resolve(m.value) : reject(new Error(m.error))))
    child.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)))
    child.send(job)
  })
}

/** Part 1: the seeded Zipf workload over isolated caches, a shared Redis level, and one process. */
async function hitRate(url: string, prefix: string, requests: number, keys: number, h: string): Promise<string> {
  type Hits = { hits: number; requests: number }
  const rate = (rs: Hits[]) => rs.reduce((a, r) => a + r.hits, 0) / rs.reduce((a, r) => a + r.requests, 0)
  const jobs = (u: string | null, p: string) =>
    Array.from({ length: PROCESSES }, (_, i) => inChild<Hits>({ kind: 'zipf', url: u, prefix: p, seed: 1000 + i, requests, keys }))
  const isolated = rate(await Promise.all(jobs(null, prefix)))
  const shared = rate(await Promise.all(jobs(url, `${prefix}zipf:`)))
  // one process serving all the traffic: the same four streams, one after another
  let oneHits = 0
  {
    const cache = new CacheManager({ persistToDisk: false })
    for (let p = 0; p < PROCESSES; p++) {
      const next = zipf(keys, 1.0, rng(1000 + p))
      for (let i = 0; i < requests; i++) {
        const k = next()
        if ((await cache.get(`z:${k}`)) !== null) oneHits++
        else await cache.set(`z:${k}`, value(k), 3600)
      }
    }
    cache.shutdown()
  }
  const one = oneHits / (requests * PROCESSES)
  return [
    `${h} Hit rate, Zipf (s = 1.0) over ${keys.toLocaleString('en-US')} keys, ${requests.toLocaleString('en-US')} requests per process\n`,
    '| setup | hit rate | vs one process |',
    '|---|---:|---:|',
    `| one process serving all | ${(one * 100).toFixed(2)}% | — |`,
    `| ${PROCESSES} processes, shared Redis level | ${(shared * 100).toFixed(2)}% | ${((shared - one) * 100).toFixed(2)} points |`,
    `| ${PROCESSES} processes, isolated caches | ${(isolated * 100).toFixed(2)}% | ${((isolated - one) * 100).toFixed(2)} points |`,
    `\nGoal: shared within 2 points of one process: ${Math.abs(shared - one) <= 0.02 ? 'met' : 'not met'}.\n`,
  ].join('\n')
}

type Lat = { p50: number; p99: number; opsPerSec: number; cpuUs: number; missed?: number; degradations?: number }
const best = (xs: Lat[]) => xs.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a))

/**
 * Part 2: `rounds` rounds, alternating, of `reads` reads by a fresh process of keys it never
 * read (every read goes to Redis): native under `${prefix}x:` vs ioredis under `${prefix}peer:`
 * (both filled beforehand with `rounds × reads` values).
 */
async function crossGet(url: string, prefix: string, reads: number, rounds: number, h: string): Promise<string> {
  const nat: Lat[] = []
  const peer: Lat[] = []
  const auto: Lat[] = []
  const warmStart = rounds * reads
  for (let round = 0; round < rounds; round++) {
    const start = round * reads
    const job = { url, seed: 0, requests: reads, keys: 0, start, warmStart }
    nat.push(await inChild<Lat>({ ...job, kind: 'read-native', prefix: `${prefix}x:` }))
    peer.push(await inChild<Lat>({ ...job, kind: 'read-ioredis', prefix }))
    auto.push(await inChild<Lat>({ ...job, kind: 'read-ioredis-auto', prefix }))
  }
  const n = best(nat)
  const q = best(peer)
  const a = best(auto)
  const missed = nat.reduce((acc, x) => acc + (x.missed ?? 0), 0)
  const degr = nat.reduce((acc, x) => acc + (x.degradations ?? 0), 0)
  const row = (name: string, x: Lat) =>
    `| ${name} | ${x.p50.toFixed(0)} | ${x.p99.toFixed(0)} | ${x.opsPerSec.toFixed(0)} | ${x.cpuUs.toFixed(1)} |`
  const ratio = (name: string, x: Lat, y: Lat) =>
    `| ${name} | ${(x.p50 / y.p50).toFixed(2)}× | ${(x.p99 / y.p99).toFixed(2)}× | ${(x.opsPerSec / y.opsPerSec).toFixed(2)}× | ${(x.cpuUs / y.cpuUs).toFixed(2)}× |`
  return [
    `${h} Cross-process get, 1 KB JSON, ${IN_FLIGHT} in flight, ${reads.toLocaleString('en-US')} reads after ${WARM_READS} untimed ones (best of ${rounds} round${rounds === 1 ? '' : 's'}, alternating)\n`,
    '| side | p50 µs | p99 µs | ops/s | CPU µs per read |',
    '|---|---:|---:|---:|---:|',
    row('native fleet level (CacheManager.get, local miss → Redis → local fill)', n),
    row('ioredis + JSON.parse', q),
    row('ioredis with `enableAutoPipelining` + JSON.parse', a),
    ratio('ratio native / ioredis', n, q),
    ratio('ratio native / ioredis auto-pipelined', n, a),
    `\nNative reads that missed (a timeout made the level degraded): ${missed} of ${nat.length * reads}; degradations: ${degr}.`,
    await floor(),
    `Goal: ≥ 1.5× the peer's throughput (ioredis, its defaults) at equal or lower p99: ${n.opsPerSec >= 1.5 * q.opsPerSec && n.p99 <= q.p99 ? 'met' : 'not met'}.\n`,
  ].join('\n')
}

/**
 * CPU both sides pay per read whatever the transport (`JSON.parse` of the value), and what
 * the native side pays before it asks Redis (a local miss of `CacheManager.get`), in this
 * process: the floor beside the CPU column.
 */
async function floor(): Promise<string> {
  const N = 20_000
  const text = JSON.stringify(value(7))
  const cpuPer = async (f: (i: number) => unknown) => {
    const c0 = process.cpuUsage()
    for (let i = 0; i < N; i++) await f(i)
    const c = process.cpuUsage(c0)
    return (c.user + c.system) / N
  }
  const parse = await cpuPer(() => JSON.parse(text))
  const cache = new CacheManager({ persistToDisk: false })
  await cpuPer((i) => cache.get(`m:${i}`))
  const miss = await cpuPer((i) => cache.get(`m:${i}`))
  cache.shutdown()
  return `Floor per read, this process: JSON.parse of the value ${parse.toFixed(1)} µs (both sides); a local miss of CacheManager.get ${miss.toFixed(1)} µs (native, before Redis).`
}

/** Stores `n` 1 KB JSON values for each side: native records under `${prefix}x:`, the peer's JSON text under `${prefix}peer:`. */
async function fillBoth(url: string, prefix: string, n: number): Promise<{ nativeBytes: number; peerBytes: number }> {
  const { default: Redis } = await import('ioredis')
  const usedMemory = async () => {
    const r = new Redis(url)
    const info = await r.info('memory')
    r.disconnect()
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0)
  }
  const m0 = await usedMemory()
  await inChild({ kind: 'fill', url, prefix: `${prefix}x:`, seed: 0, requests: 0, keys: n })
  const m1 = await usedMemory()
  {
    const r = new Redis(url)
    for (let k = 0; k < n; k += 500) {
      const p = r.pipeline()
      for (let j = k; j < Math.min(k + 500, n); j++) p.set(`${prefix}peer:${j}`, JSON.stringify(value(j)))
      await p.exec()
    }
    r.disconnect()
  }
  const m2 = await usedMemory()
  return { nativeBytes: m1 - m0, peerBytes: m2 - m1 }
}

/** Removes this run's keys from a Redis the run did not start. */
async function unlinkPrefix(url: string, prefix: string): Promise<void> {
  const { default: Redis } = await import('ioredis')
  const r = new Redis(url)
  let cursor = '0'
  do {
    const [c, ks] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = c
    if (ks.length) await r.unlink(...ks)
  } while (cursor !== '0')
  r.disconnect()
}

/** Whether a `redis-server` binary can be started here. */
function redisServerInstalled(): boolean {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' })
  return r.error === undefined && r.status === 0
}

/**
 * The fleet section of `benchmark:compare`: the hit rate (4 processes shared vs isolated
 * vs one) and the cross-process get beside the ioredis peer, at a reduced size, on a
 * `redis-server` started for the run (or FLEET_REDIS_URL).
 */
export async function run(o: { quick: boolean }): Promise<string> {
  const external = process.env.FLEET_REDIS_URL
  if (!external && !redisServerInstalled()) return 'skipped: redis-server not installed'
  const requests = o.quick ? 2000 : 10_000
  const keys = requests
  const reads = o.quick ? 2000 : 10_000
  const rounds = o.quick ? 1 : 2
  const own = external ? null : await startRedis()
  const url = external ?? own!.url
  const prefix = `mrnbench${process.pid}:`
  try {
    const head =
      `A reduced \`npm run benchmark:fleet\` (${PROCESSES} processes, one local Redis ${own ? 'started for this run' : 'from FLEET_REDIS_URL'}; ` +
      'the full run adds sets, Redis memory per entry and the option-absent costs; docs/fleet.md).\n'
    const hits = await hitRate(url, prefix, requests, keys, '###')
    await fillBoth(url, prefix, reads * rounds + WARM_READS)
    const gets = await crossGet(url, prefix, reads, rounds, '###')
    return [head, hits, gets].join('\n')
  } finally {
    if (own) own.stop()
    else await unlinkPrefix(url, prefix)
  }
}

async function main(): Promise<void> {
  const requests = arg('requests', 20_000)
  const keys = arg('keys', 20_000)
  const reads = arg('reads', 20_000)
  const own = process.env.FLEET_REDIS_URL ? null : await startRedis()
  const url = process.env.FLEET_REDIS_URL ?? own!.url
  const prefix = `mrnbench${process.pid}:`
  console.log(`# Fleet benchmark: ${PROCESSES} processes, one local Redis (${own ? 'started for this run' : 'FLEET_REDIS_URL'})\n`)
  try {
    if (process.argv.includes('--router-only')) {
      await routerRows(url, prefix)
      return
    }
    const rounds = arg('rounds', 2)
    if (process.argv.includes('--get-only')) {
      await fillBoth(url, prefix, reads * rounds + WARM_READS)
      console.log(await crossGet(url, prefix, reads, rounds, '##'))
      return
    }
    // 1. hit rate; 2. cross-process get, native vs ioredis + JSON, then set and memory
    console.log(await hitRate(url, prefix, requests, keys, '##'))
    const mem = await fillBoth(url, prefix, reads * rounds + WARM_READS)
    console.log(await crossGet(url, prefix, reads, rounds, '##'))
    const wn: Lat[] = []
    const wp: Lat[] = []
    for (let round = 0; round < 2; round++) {
      const start = round * reads
      wn.push(await inChild<Lat>({ kind: 'write-native', url, prefix: `${prefix}x:`, seed: 0, requests: reads, keys: 0, start }))
      wp.push(await inChild<Lat>({ kind: 'write-ioredis', url, prefix, seed: 0, requests: reads, keys: 0, start }))
    }
    const a = best(wn)
    const b = best(wp)
    console.log(
      `## Set, 1 KB JSON, ${IN_FLIGHT} in flight, ${reads.toLocaleString('en-US')} writes (best of 2 rounds; native: memory level + Redis, resolved once Redis holds it)\n`,
    )
    console.log('| side | p50 µs | p99 µs | ops/s |')
    console.log('|---|---:|---:|---:|')
    console.log(`| native CacheManager.set with redis | ${a.p50.toFixed(0)} | ${a.p99.toFixed(0)} | ${a.opsPerSec.toFixed(0)} |`)
    console.log(`| ioredis SET JSON.stringify | ${b.p50.toFixed(0)} | ${b.p99.toFixed(0)} | ${b.opsPerSec.toFixed(0)} |`)
    console.log(
      `| ratio native / ioredis | ${(a.p50 / b.p50).toFixed(2)}× | ${(a.p99 / b.p99).toFixed(2)}× | ${(a.opsPerSec / b.opsPerSec).toFixed(2)}× |\n`,
    )
    const keysStored = reads * rounds + WARM_READS
    console.log('## Redis memory per entry (INFO used_memory delta / entries; 1 KB JSON value, compressed by the native side)\n')
    console.log(
      `| side | bytes per entry |\n|---|---:|\n| native record (key with hash tag, header, lz4) | ${(mem.nativeBytes / keysStored).toFixed(0)} |\n| ioredis + JSON (plain key, JSON text) | ${(mem.peerBytes / keysStored).toFixed(0)} |\n`,
    )

    // 3. the option absent: the local paths as they are without a fleet level
    {
      const cache = new CacheManager({ persistToDisk: false })
      await cache.set('hit', value(1))
      const time = async (f: () => Promise<unknown>) => {
        const N = 200_000
        for (let i = 0; i < 20_000; i++) await f()
        const t = performance.now()
        for (let i = 0; i < N; i++) await f()
        return ((performance.now() - t) * 1e6) / N
      }
      const hit = await time(() => cache.get('hit'))
      const miss = await time(() => cache.get('miss'))
      cache.shutdown()
      console.log('## Without the redis option (no fleet level, no runtime thread)\n')
      console.log(`| op | ns/op |\n|---|---:|\n| get, memory hit (1 KB JSON) | ${hit.toFixed(0)} |\n| get, miss | ${miss.toFixed(0)} |\n`)
    }

    // 4. the router's fleet state
    await routerRows(url, prefix)
  } finally {
    if (own) {
      own.stop()
    } else {
      await unlinkPrefix(url, prefix) // leave a shared Redis as found
    }
  }
}

// run directly (`benchmark:fleet`, or a worker it forks); imported, it only exports `run`
if (require.main === module) {
  if (process.argv[2] === 'worker') {
    process.once('message', (job: Job) => {
      runWorker(job).then(
        (value) => process.send!({ ok: true, value }, () => process.exit(0)),
        (err) => process.send!({ ok: false, error: String(err?.stack ?? err) }, () => process.exit(1)),
      )
    })
  } else {
    main().then(
      () => process.exit(0),
      (err) => {
        console.error(err)
        process.exit(1)
      },
    )
  }
}
