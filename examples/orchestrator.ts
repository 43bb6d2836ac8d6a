/**
 * A small orchestrator written the way an application uses the three classes:
 * route → cache → call the model → report the outcome → record metrics.
 *
 * The "provider" is simulated (no network): seeded latencies, a few 429s with Retry-After,
 * and an outage of the preferred model for one minute. Time is virtual: the router reads the
 * example's clock, so a minute of outage takes milliseconds of wall time.
 *
 * Run it: `npm run example` (after `npm ci`). It prints what happened.
 */
import { CacheManager, ModelRouter, PerformanceMonitor, type ModelConfig, type RoutingContext } from 'model-router-native'

/** Seeded pseudo-random numbers (mulberry32), so every run prints the same story. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const models = new Map<string, ModelConfig>(
  (
    [
      ['gemini-2.5-pro', 'pro', ['reasoning', 'code'], 2500, 3.5e-6],
      ['gemini-2.0-flash-thinking', 'pro', ['reasoning'], 1500, 1e-6],
      ['gemini-2.5-flash', 'pro', ['code'], 800, 5e-7],
      ['gemini-2.0-flash', 'free', [], 600, 2e-7],
    ] as const
  ).map(([name, tier, capabilities, latencyTarget, costPerToken]) => [
    name,
    { name, tier, capabilities: [...capabilities], latencyTarget, costPerToken, maxTokens: 32768, apiKey: 'never-leaves-the-process' },
  ]),
)

/** Requests sent, one every 250 ms of virtual time (two minutes). */
const REQUESTS = 480

/** The model whose provider is down from t = 20 s to t = 80 s. */
const OUTAGE_MODEL = 'gemini-2.5-flash'

/** What a provider call can end in. */
type ProviderResult =
  | { ok: true; text: string; latencyMs: number }
  | { ok: false; status: number; retryAfterMs?: number; latencyMs: number }

/** The simulated provider: an outage of gemini-2.5-flash from t = 20 s to t = 80 s, and a 429 now and then. */
function provider(random: () => number, now: number) {
  return (model: string, task: string): ProviderResult => {
    const latencyMs = models.get(model)!.latencyTarget * (0.5 + random())
    if (model === OUTAGE_MODEL && now >= 20_000 && now < 80_000) return { ok: false, status: 503, latencyMs: 30 }
    if (random() < 0.01) return { ok: false, status: 429, retryAfterMs: 5_000, latencyMs: 20 }
    return { ok: true, text: `answer from ${model} to "${task.slice(0, 24)}"`, latencyMs }
  }
}

export async function main(print: (line: string) => void = console.log): Promise<void> {
  let now = 0
  const random = rng(7)
  const router = new ModelRouter({ strategy: 'adaptive', clock: () => now, seed: 7 })
  const cache = new CacheManager({ maxMemorySize: 1_000_000 })
  const monitor = new PerformanceMonitor()
  const healthChanges: string[] = []
  router.on('model_health_changed', (e: { modelName: string; from: string; to: string; reason: string }) => {
    healthChanges.push(`t=${(now / 1000).toFixed(1)}s ${e.modelName}: ${e.from} → ${e.to} (${e.reason})`)
  })

  const tasks = [
    'Summarise this support ticket',
    'Write a unit test for parseDate',
    'Translate the release notes',
    'Explain this stack trace',
  ]
  let served = 0
  let failed = 0
  let attempts = 0
  let attemptsToOutage = 0
  let cacheHits = 0
  const byModel = new Map<string, number>()
  for (let i = 0; i < REQUESTS; i++) {
    now += 250 // a request every 250 ms of virtual time
    const task = `${tasks[i % tasks.length]} #${Math.floor(random() * 60)}`
    const key = cache.keyFor(task, 'pro')
    const started = now
    const cached = await cache.get(key)
    if (cached !== null) {
      cacheHits++
      served++
      monitor.recordMetric('orchestration_latency', 1)
      continue
    }
    let context: RoutingContext = { task, userTier: 'pro', priority: 'medium', latencyRequirement: 2000 }
    let done = false
    for (let attempt = 0; attempt < 3 && !done; attempt++) {
      const decision = await router.selectOptimalModel(context, models)
      monitor.recordMetric('routing_overhead', decision.routingTime)
      const result = provider(random, now)(decision.modelName, task)
      attempts++
      if (decision.modelName === OUTAGE_MODEL && now >= 20_000 && now < 80_000) attemptsToOutage++
      router.reportOutcome(decision, result.ok ? { ok: true, latencyMs: result.latencyMs } : result)
      if (result.ok) {
        await cache.set(key, result.text, 3600)
        byModel.set(decision.modelName, (byModel.get(decision.modelName) ?? 0) + 1)
        monitor.recordMetric('orchestration_latency', now - started + result.latencyMs)
        served++
        done = true
      } else {
        context = { ...context, retryCount: attempt + 1, previousModel: decision.modelName }
      }
    }
    if (!done) failed++
  }

  print(`requests: ${REQUESTS}, served: ${served}, failed: ${failed}, cache hits: ${cacheHits}`)
  print(`model calls: ${attempts}, of them to ${OUTAGE_MODEL} during its outage: ${attemptsToOutage}`)
  print(`model calls that succeeded, by model: ${[...byModel].map(([m, n]) => `${m} ${n}`).join(', ')}`)
  print('health changes:')
  for (const line of healthChanges) print(`  ${line}`)
  const latency = monitor.getStats('orchestration_latency')
  if (latency)
    print(`orchestration latency: p50 ${latency.median.toFixed(0)} ms, p95 ${latency.p95.toFixed(0)} ms over ${latency.count} requests`)
  router.shutdown()
  cache.shutdown()
  monitor.shutdown()
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
}
