/**
 * Soak: the orchestrator's loop (route → cache get, on a miss set → two recordMetric →
 * recordPerformance; from time to time optimizeBasedOnPerformance(getMetrics()), stats and
 * exports) for SOAK_SECONDS (default 300), on a database file. Samples RSS, the V8 heap and
 * the open file descriptors (`/proc/self/fd`) every second and prints start, peak and end.
 *
 *   npm run build && SOAK_SECONDS=300 node bench/dist/soak.js
 *
 * Bounded means: after the first minute's warm-up, RSS and fds stop growing (the end is not
 * above the peak reached early). The working set is bounded by construction: 200,000
 * distinct tasks whose responses (random text, ~1 KB) overflow maxDiskSize 8 MiB, so disk
 * eviction runs; a 1000-byte memory budget as the codebase passes.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { CacheManager, ModelRouter, PerformanceMonitor } from 'model-router-native'

interface Sample {
  t: number
  rssMiB: number
  heapMiB: number
  fds: number
}

function fds(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length
  } catch {
    return -1 // not Linux
  }
}

function sample(t0: number): Sample {
  const m = process.memoryUsage()
  return { t: (performance.now() - t0) / 1000, rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20, fds: fds() }
}

function models(): Map<string, any> {
  const m = (name: string, tier: string, capabilities: string[], latencyTarget: number, costPerToken: number) =>
    [name, { name, tier, capabilities, latencyTarget, costPerToken, maxTokens: 8192, apiKey: 'sk-soak' }] as const
  return new Map([
    m('gemini-2.0-flash', 'free', ['code'], 800, 5e-7),
    m('gemini-2.5-flash', 'free', ['reasoning', 'code'], 900, 7e-7),
    m('gemini-2.0-flash-thinking', 'pro', ['reasoning'], 1100, 2e-6),
    m('gemini-2.5-pro', 'pro', ['reasoning', 'code', 'advanced-reasoning'], 1500, 2.5e-6),
    m('gemini-pro-vertex', 'enterprise', ['reasoning', 'code'], 1800, 5e-6),
    m('gemini-2.5-deep-think', 'enterprise', ['advanced-reasoning', 'code'], 4000, 1e-5),
  ])
}

const TIERS = ['free', 'pro', 'enterprise'] as const
const PRIORITIES = ['low', 'medium', 'high', 'critical'] as const
const DISTINCT_TASKS = 200_000
/** Small enough that the distinct responses overflow it, so disk eviction runs. */
const DISK_LIMIT = 8 * 2 ** 20
/** Responses are slices of random text: lz4 cannot shrink them, the disk fills. */
const POOL = Array.from({ length: 8192 }, () => String.fromCharCode(33 + Math.floor(Math.random() * 94))).join('')

async function main(): Promise<void> {
  const seconds = Number(process.env.SOAK_SECONDS ?? 300)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-soak-'))
  const before = sample(performance.now()) // before the three classes exist
  const router = new ModelRouter()
  const cache = new CacheManager({ maxMemorySize: 1000, maxDiskSize: DISK_LIMIT, dbPath: path.join(dir, 'soak.db') })
  const monitor = new PerformanceMonitor()
  const available = models()
  const names = [...available.keys()]
  let seed = 42
  const rand = (n: number) => {
    seed = (seed * 1664525 + 1013904223) >>> 0
    return seed % n
  }
  // Skewed: most requests repeat a few hundred tasks (cache hits), the rest spread wide.
  const taskId = () => (rand(4) === 0 ? rand(DISTINCT_TASKS) : rand(300))

  const t0 = performance.now()
  const samples: Sample[] = [sample(t0)]
  const timer = setInterval(() => samples.push(sample(t0)), 1000)
  let requests = 0
  let hits = 0
  const end = t0 + seconds * 1000
  while (performance.now() < end) {
    for (let b = 0; b < 200; b++) {
      const start = performance.now()
      const id = taskId()
      const context = {
        task: `request ${id}: ${id % 7 === 0 ? 'analyze and optimize this algorithm' : 'summarize the document'} ${'x'.repeat(id % 200)}`,
        userTier: TIERS[id % 3],
        priority: PRIORITIES[id % 4],
        latencyRequirement: id % 5 === 0 ? 800 : 2000,
      }
      const decision = await router.selectOptimalModel(context, available)
      const routingMs = performance.now() - start
      const key = `resp:${id}:${context.userTier}`
      const hit = await cache.get(key)
      if (hit !== null) hits++
      else await cache.set(key, { model: decision.modelName, text: POOL.slice(id % 4096, (id % 4096) + 100 + (id % 2000)) }, 3600)
      const latency = 200 + rand(3000)
      monitor.recordMetric('orchestration_latency', performance.now() - start + latency)
      monitor.recordMetric('routing_overhead', routingMs)
      router.recordPerformance(decision.modelName, latency, rand(50) !== 0, 1e-6 * (1 + rand(10)), {
        input: 100,
        output: 50 + rand(100),
        total: 250,
      })
      requests++
    }
    if (requests % 10_000 === 0) {
      router.optimizeBasedOnPerformance(monitor.getMetrics())
      router.getRouterStats()
      cache.getStats()
      monitor.analyzeBottlenecks()
      monitor.exportData('json')
      if (rand(3) === 0) router.updateModelAvailability(names[rand(names.length)], rand(2) === 0)
    }
    // let timers (sampling, cleanup, health check) run
    await new Promise((r) => setImmediate(r))
  }
  clearInterval(timer)
  samples.push(sample(t0))
  const cacheStats = cache.getStats()
  const routerStats = router.getRouterStats()
  router.shutdown()
  cache.shutdown()
  monitor.shutdown()
  fs.rmSync(dir, { recursive: true, force: true })

  const first = samples[0]
  const last = samples[samples.length - 1]
  const peakRss = samples.reduce((a, s) => (s.rssMiB > a.rssMiB ? s : a))
  const peakFds = samples.reduce((a, s) => (s.fds > a.fds ? s : a))
  const warm = samples.filter((s) => s.t >= Math.min(60, seconds / 5))
  const warmPeak = warm.length > 0 ? Math.max(...warm.slice(0, Math.ceil(warm.length / 4)).map((s) => s.rssMiB)) : NaN
  const f = (x: number) => x.toFixed(1)
  console.log(
    `soak: ${seconds} s, ${requests.toLocaleString('en-US')} requests (${Math.round(requests / seconds).toLocaleString('en-US')}/s), cache hit rate ${(hits / requests).toFixed(2)}, ${os.cpus().length} cores`,
  )
  console.log('| | start | peak | end |')
  console.log('|---|---:|---:|---:|')
  console.log(`| RSS MiB | ${f(first.rssMiB)} | ${f(peakRss.rssMiB)} (at ${Math.round(peakRss.t)} s) | ${f(last.rssMiB)} |`)
  console.log(`| V8 heap used MiB | ${f(first.heapMiB)} | ${f(Math.max(...samples.map((s) => s.heapMiB)))} | ${f(last.heapMiB)} |`)
  console.log(`| open fds | ${first.fds} | ${peakFds.fds} (at ${Math.round(peakFds.t)} s) | ${last.fds} |`)
  console.log(`before construction: RSS ${f(before.rssMiB)} MiB, ${before.fds} fds`)
  // RSS at the end of each tenth of the run: growth that flattens is caches filling, steady growth a leak
  const tenths = Array.from({ length: 10 }, (_, i) => samples.filter((s) => s.t <= ((i + 1) * seconds) / 10).pop()!)
  console.log(`RSS MiB by tenth of the run: ${tenths.map((s) => f(s.rssMiB)).join(', ')}`)
  console.log(
    `at the end: cache diskUsage ${f(cacheStats.diskUsage / 2 ** 20)} MiB, memoryUsage ${cacheStats.memoryUsage} B, ` +
      `${cacheStats.evictionCount} evictions; routing cache ${routerStats.cache.size} entries`,
  )
  console.log(`RSS over the first quarter after warm-up: peak ${f(warmPeak)} MiB; end ${f(last.rssMiB)} MiB`)
  console.log(
    `SOAK ${JSON.stringify({ seconds, requests, before, cacheStats, hitRate: hits / requests, start: first, peakRss, peakFds, end: last, warmPeak })}`,
  )
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
