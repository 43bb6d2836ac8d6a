/**
 * The realistic, seeded workload: the orchestrator loop of the legacy contract, run with a
 * number of requests in flight, on one side (legacy ports or native) at a time.
 *
 * Each request: route → cache get → on a miss, a simulated model call → cache set →
 * `recordMetric` ×2 → `recordPerformance`. Prompts are drawn Zipf-distributed from a fixed
 * pool (so the cache hit rate is a result, not a setting), each with its own tier, priority,
 * capabilities, latency requirement and length. The model call does not sleep: its latency
 * is drawn from a lognormal around the model's latency target and recorded as a number, and
 * the call yields with `setImmediate` (one event-loop turn), so the run stays fast while
 * the event loop turns as it would. Each request also starts on a new turn, as one brought
 * by network I/O does. A share of model calls fail; a failed call is retried
 * once on `selectFallbackModel`'s choice, and a request fails when the retry fails too.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'

import {
  CacheManager as NativeCache,
  createCacheManager,
  createModelRouter,
  createPerformanceMonitor,
  ModelRouter as NativeRouter,
  PerformanceMonitor as NativeMonitor,
} from 'model-router-native'

import { CacheManager as LegacyCache, rng } from 'model-router-legacy-ports'
import { ModelRouter as LegacyRouter } from 'model-router-legacy-ports'
import { PerformanceMonitor as LegacyMonitor } from 'model-router-legacy-ports'
import { defaultModels } from './router-ops'

/** "shadow": the rollout wrappers in mode "shadow" (both sides run, legacy served). */
export type WorkloadSide = 'legacy' | 'native' | 'shadow'

export interface WorkloadOptions {
  /** Requests timed (default 40,000). */
  requests?: number
  /** Requests run first on separate instances, so the JIT settles (default requests / 10). */
  warmup?: number
  /** Requests in flight at once (default 32). */
  concurrency?: number
  /** Distinct prompts (default 4000). */
  prompts?: number
  /** Zipf exponent of the prompt popularity (default 1.1). */
  zipf?: number
  /** Share of model calls that fail (default 0.02). */
  modelErrorRate?: number
  seed?: number
  /** Called now and then with the requests done so far. */
  progress?: (done: number, total: number) => void
}

export interface WorkloadResult {
  side: WorkloadSide
  requests: number
  concurrency: number
  seconds: number
  requestsPerSec: number
  routing: { avgMs: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number }
  cacheHitRate: number
  /** Requests that ended in an error (model call and its fallback retry failed, or the pipeline threw). */
  errorRate: number
  failedRequests: number
  modelErrors: number
  pipelineErrors: number
  eventLoopDelayP99Ms: number
  /** Highest RSS sampled during the run, and its growth over the RSS at the start. */
  peakRssMiB: number
  rssGrowthMiB: number
  /** Routing times in ms, for the chart (a sorted sample of at most 5000). */
  routingSample: number[]
  /** Side "shadow": what the rollout wrappers recorded. */
  shadow?: Record<'router' | 'cache', ShadowSummary>
}

export interface ShadowSummary {
  compared: number
  agreed: number
  rate: number
  shadowErrors: number
  /** The most common disagreements among the last 1000, e.g. "gemini-2.0-flash → gemini-2.5-flash" (legacy → native), with counts. */
  top: Array<[string, number]>
}

function summarizeShadow(stats: any, describe: (d: any) => string): ShadowSummary {
  const counts = new Map<string, number>()
  for (const d of stats.disagreements) counts.set(describe(d), (counts.get(describe(d)) ?? 0) + 1)
  return {
    compared: stats.agreement.compared,
    agreed: stats.agreement.agreed,
    rate: stats.agreement.rate,
    shadowErrors: stats.shadowErrors,
    top: [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3),
  }
}

export { rng }

/** Draws ranks 0..n-1 with P(k) ∝ 1/(k+1)^s, by binary search over the cumulative weights. */
export function zipf(n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** s
  return () => {
    const u = rand() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

function pick<T>(rand: () => number, table: Array<[T, number]>): T {
  let u = rand()
  for (const [v, w] of table) if ((u -= w) < 0) return v
  return table[table.length - 1][0]
}

/** Standard normal by Box–Muller. */
function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
}

const WORDS = (
  'please the a of and to in for with this that data user service request response review write explain ' +
  'summarize translate list compare table report draft email plan test deploy config error log metric ' +
  'code analyze implement optimize algorithm architecture debug complex api database security function class ' +
  'machine learning data science query index cache latency throughput model prompt token budget context'
).split(' ')
const SNIPPETS = ['function f(x) { return x }', 'if (a) { b() }', 'for (const x of xs) [x]', 'class A {}', '() => {}']

interface Prompt {
  task: string
  hash: string
  userTier: 'free' | 'pro' | 'enterprise'
  priority: 'low' | 'medium' | 'high' | 'critical'
  latencyRequirement: number
  capabilities?: string[]
  tokenBudget?: number
}

function makePrompts(n: number, rand: () => number): Prompt[] {
  const out: Prompt[] = []
  for (let i = 0; i < n; i++) {
    const chars = pick<[number, number]>(rand, [
      [[40, 300], 0.7],
      [[1000, 4000], 0.25],
      [[10_000, 30_000], 0.05],
    ])
    const target = chars[0] + Math.floor(rand() * (chars[1] - chars[0]))
    let task = `#${i} `
    while (task.length < target)
      task += rand() < 0.05 ? `${SNIPPETS[Math.floor(rand() * SNIPPETS.length)]} ` : `${WORDS[Math.floor(rand() * WORDS.length)]} `
    let h = 0x811c9dc5
    for (let k = 0; k < task.length; k++) h = Math.imul(h ^ task.charCodeAt(k), 0x01000193)
    const caps = pick<string[] | undefined>(rand, [
      [undefined, 0.4],
      [['code'], 0.25],
      [['reasoning'], 0.15],
      [['deep-reasoning'], 0.1],
      [['code', 'reasoning'], 0.1],
    ])
    out.push({
      task,
      hash: `${(h >>> 0).toString(36)}${i.toString(36)}`,
      userTier: pick(rand, [
        ['free', 0.5],
        ['pro', 0.35],
        ['enterprise', 0.15],
      ]),
      priority: pick(rand, [
        ['low', 0.3],
        ['medium', 0.45],
        ['high', 0.2],
        ['critical', 0.05],
      ]),
      latencyRequirement: pick(rand, [
        [500, 0.15],
        [1000, 0.2],
        [2000, 0.4],
        [5000, 0.25],
      ]),
      capabilities: caps,
      tokenBudget: rand() < 0.05 ? 200_000 : undefined,
    })
  }
  return out
}

interface Sides {
  router: any
  cache: any
  monitor: any
  close(): void
}

function makeSide(side: WorkloadSide): Sides {
  // The codebase's construction (the contract): a 1000-byte memory budget for the cache.
  if (side === 'legacy') {
    const router = new LegacyRouter()
    const cache = new LegacyCache({ maxMemorySize: 1000 })
    const monitor = new LegacyMonitor()
    return { router, cache, monitor, close: () => (router.dispose(), cache.shutdown(), monitor.dispose()) }
  }
  if (side === 'shadow') {
    const router: any = createModelRouter(LegacyRouter, { mode: 'shadow', maxDisagreements: 1000 })
    const cache: any = createCacheManager(LegacyCache, { mode: 'shadow', maxDisagreements: 1000, config: { maxMemorySize: 1000 } })
    const monitor: any = createPerformanceMonitor(LegacyMonitor, { mode: 'shadow' })
    return { router, cache, monitor, close: () => (router.shutdown(), cache.shutdown(), monitor.shutdown()) }
  }
  const router = new NativeRouter()
  const cache = new NativeCache({ maxMemorySize: 1000 })
  const monitor = new NativeMonitor()
  return { router, cache, monitor, close: () => (router.shutdown(), cache.shutdown(), monitor.shutdown()) }
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

async function loop(
  side: WorkloadSide,
  o: Required<Omit<WorkloadOptions, 'progress'>> & { progress?: WorkloadOptions['progress'] },
  requests: number,
  measure: boolean,
) {
  const rand = rng(o.seed)
  const prompts = makePrompts(o.prompts, rand)
  // The request sequence is drawn up front and each request has its own random stream, so
  // both sides see the same prompts and the same model outcomes whatever the interleaving.
  const nextPrompt = zipf(o.prompts, o.zipf, rand)
  const sequence = Uint32Array.from({ length: requests }, nextPrompt)
  const models = defaultModels()
  const median = new Map([...models.values()].map((m: any) => [m.name, m.latencyTarget * 0.6]))
  const { router, cache, monitor, close } = makeSide(side)
  const routing = new Float64Array(requests)
  let gets = 0
  let hits = 0
  let modelErrors = 0
  let failed = 0
  let pipelineErrors = 0
  let next = 0
  let done = 0

  /** The simulated model call: a latency drawn as a number, one event-loop turn, maybe an error. */
  async function callModel(modelName: string, p: Prompt, rand: () => number) {
    const latency = (median.get(modelName) ?? 1000) * Math.exp(0.5 * normal(rand))
    await yieldTurn()
    const input = Math.ceil(p.task.length / 4)
    const output = 50 + Math.floor(rand() * 500)
    const cost = (input + output) * ((models.get(modelName) as any)?.costPerToken ?? 1e-6)
    const ok = rand() >= o.modelErrorRate
    if (!ok) modelErrors++
    return { ok, latency, cost, tokens: { input, output, total: input + output }, text: ok ? `answer of ${modelName} to ${p.hash}` : null }
  }

  async function request(i: number) {
    const p = prompts[sequence[i]]
    const rand = rng(o.seed * 1_000_003 + i)
    const ctx = {
      task: p.task,
      userTier: p.userTier,
      priority: p.priority,
      latencyRequirement: p.latencyRequirement,
      capabilities: p.capabilities,
      tokenBudget: p.tokenBudget,
    }
    const t0 = performance.now()
    const decision = await router.selectOptimalModel(ctx, models)
    const t1 = performance.now()
    routing[i] = t1 - t0
    const key = `resp:${decision.modelName}:${p.hash}`
    gets++
    const hit = await cache.get(key)
    let modelMs = 0
    const outcomes: Array<{ model: string; ok: boolean; latency: number; cost: number; tokens: unknown }> = []
    if (hit !== null && hit !== undefined) {
      hits++
    } else {
      let model = decision.modelName
      let r = await callModel(model, p, rand)
      modelMs += r.latency
      outcomes.push({ model, ...r })
      if (!r.ok) {
        const fb = await router.selectFallbackModel(model, ctx, models, 'model error')
        model = fb.modelName
        r = await callModel(model, p, rand)
        modelMs += r.latency
        outcomes.push({ model, ...r })
      }
      if (r.ok) await cache.set(key, { text: r.text, model, tokens: r.tokens }, 3600)
      else failed++
    }
    monitor.recordMetric('orchestration_latency', performance.now() - t0 + modelMs)
    monitor.recordMetric('routing_overhead', t1 - t0)
    for (const o of outcomes) router.recordPerformance(o.model, o.latency, o.ok, o.cost, o.tokens)
  }

  const rssStart = process.memoryUsage.rss()
  let rssPeak = rssStart
  const eld = monitorEventLoopDelay({ resolution: 1 })
  eld.enable()
  const start = performance.now()
  let lastProgress = 0
  async function lane() {
    while (next < requests) {
      const i = next++
      // A request arrives as I/O would bring it: on a new event-loop turn (without this, a
      // lane would chain cache hits in microtasks and starve the loop, which no server does).
      await yieldTurn()
      try {
        await request(i)
      } catch {
        pipelineErrors++
      }
      done++
      if ((done & 255) === 0) {
        const rss = process.memoryUsage.rss()
        if (rss > rssPeak) rssPeak = rss
        if (done % 2000 === 0) router.optimizeBasedOnPerformance(monitor.getMetrics())
        const now = performance.now()
        if (o.progress && now - lastProgress > 200) {
          lastProgress = now
          o.progress(done, requests)
        }
      }
    }
  }
  await Promise.all(Array.from({ length: o.concurrency }, lane))
  const seconds = (performance.now() - start) / 1000
  eld.disable()
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss())
  let shadow: WorkloadResult['shadow']
  if (side === 'shadow') {
    await router.rolloutSettled()
    await cache.rolloutSettled()
    const kind = (v: any) => (v === null ? 'null' : typeof v === 'string' ? 'a string' : typeof v)
    shadow = {
      router: summarizeShadow(
        router.getRolloutStats(),
        (d) => `${d.legacy?.modelName ?? d.legacy?.error} → ${d.native?.modelName ?? d.native?.error}`,
      ),
      cache: summarizeShadow(cache.getRolloutStats(), (d) => `${kind(d.legacy)} → ${kind(d.native)}`),
    }
  }
  close()
  if (!measure) return null
  o.progress?.(requests, requests)

  const sorted = routing.slice().sort()
  const at = (p: number) => sorted[Math.min(requests - 1, Math.max(0, Math.ceil(requests * p) - 1))]
  let sum = 0
  for (const x of routing) sum += x
  const step = Math.max(1, Math.floor(requests / 5000))
  const sample: number[] = []
  for (let k = 0; k < requests; k += step) sample.push(sorted[k])
  const result: WorkloadResult = {
    side,
    requests,
    concurrency: o.concurrency,
    seconds,
    requestsPerSec: requests / seconds,
    routing: { avgMs: sum / requests, p50Ms: at(0.5), p95Ms: at(0.95), p99Ms: at(0.99), maxMs: sorted[requests - 1] },
    cacheHitRate: gets === 0 ? 0 : hits / gets,
    errorRate: (failed + pipelineErrors) / requests,
    failedRequests: failed + pipelineErrors,
    modelErrors,
    pipelineErrors,
    eventLoopDelayP99Ms: eld.percentile(99) / 1e6,
    peakRssMiB: rssPeak / 1048576,
    rssGrowthMiB: (rssPeak - rssStart) / 1048576,
    routingSample: sample,
    shadow,
  }
  return result
}

/** Runs the workload on one side: a warm-up on throw-away instances, then the timed run from a cold cache. */
export async function runWorkload(side: WorkloadSide, opts: WorkloadOptions = {}): Promise<WorkloadResult> {
  const requests = opts.requests ?? 40_000
  const o = {
    requests,
    warmup: opts.warmup ?? Math.ceil(requests / 10),
    concurrency: opts.concurrency ?? 32,
    prompts: opts.prompts ?? 4000,
    zipf: opts.zipf ?? 1.1,
    modelErrorRate: opts.modelErrorRate ?? 0.02,
    seed: opts.seed ?? 42,
    progress: opts.progress,
  }
  await loop(side, { ...o, seed: o.seed + 1, progress: undefined }, o.warmup, false)
  return (await loop(side, o, requests, true))!
}
