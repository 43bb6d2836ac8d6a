/**
 * Router operations, legacy port vs native, on the same inputs in one process. Every call
 * goes through the public drop-in API with `await`, passing the same Map each time, as the
 * orchestrator does.
 */
import { ModelRouter as NativeRouter } from 'model-router-native'

import { ModelRouter as LegacyRouter } from './legacy/model-router'
import { measure, type Row } from './measure'

type AnyRouter = {
  selectOptimalModel(c: unknown, m: Map<string, unknown>): Promise<unknown>
  recordPerformance(n: string, l: number, s: boolean, c: number): void
  getRoutingPerformance(): unknown
}

export function defaultModels(): Map<string, any> {
  const m = (name: string, tier: string, capabilities: string[], latencyTarget: number, costPerToken: number) =>
    [name, { name, tier, capabilities, latencyTarget, costPerToken, maxTokens: 8192, apiKey: 'sk-bench' }] as const
  return new Map([
    m('gemini-2.5-deep-think', 'enterprise', ['advanced-reasoning', 'reasoning', 'code'], 8000, 1e-5),
    m('gemini-2.5-pro', 'pro', ['reasoning', 'code'], 2500, 3.5e-6),
    m('gemini-pro-vertex', 'enterprise', ['reasoning'], 2000, 5e-6),
    m('gemini-2.0-flash-thinking', 'pro', ['reasoning'], 1500, 1e-6),
    m('gemini-2.5-flash', 'pro', ['code'], 800, 5e-7),
    m('gemini-2.0-flash', 'free', [], 600, 2e-7),
  ])
}

const TEXT =
  'Please analyze this function and optimize the algorithm: function f(x) { if (x) { for (const y of x) g(y) } } ' +
  'The database layer and the API need a security review before release. '

const bodies = new Map<number, string>()

/**
 * A task of about `bytes` bytes whose first characters are unique per `i`, so every call
 * misses both the routing cache and the legacy's analysis cache. The body is built once per
 * size (outside the timing); each call only prepends its number.
 */
export function task(i: number, bytes: number): string {
  let body = bodies.get(bytes)
  if (body === undefined) {
    body = TEXT
    while (body.length < bytes) body += body
    body = body.slice(0, bytes - 8)
    bodies.set(bytes, body)
  }
  return `#${i} `.padEnd(8) + body
}

function ctx(t: string) {
  return { task: t, userTier: 'pro', priority: 'high', latencyRequirement: 2000 }
}

export async function run(opts: { quick: boolean }): Promise<Row[]> {
  const rows: Row[] = []
  const scale = opts.quick ? 0.1 : 1
  const sides: Array<[string, () => AnyRouter, (r: AnyRouter) => void]> = [
    ['legacy', () => new LegacyRouter() as unknown as AnyRouter, (r) => (r as unknown as LegacyRouter).dispose()],
    ['native', () => new NativeRouter() as unknown as AnyRouter, (r) => (r as unknown as NativeRouter).shutdown()],
  ]
  const add = (op: string, side: string, m: { p50Us: number; p99Us: number; opsPerSec: number }, note?: string) =>
    rows.push({ group: 'router', op, side, ...m, note })

  for (const [side, make, dispose] of sides) {
    const models = defaultModels()
    // routing-cache hit, 1 entry
    {
      const r = make()
      const c = ctx('Write a function to sort a list')
      await r.selectOptimalModel(c, models)
      add('selectOptimalModel, cache hit, 1 entry', side, await measure(() => r.selectOptimalModel(c, models), { iterations: Math.ceil(200_000 * scale), batch: 32 }))
      dispose(r)
    }
    // routing-cache hit, 1000 entries (cycling through all of them)
    {
      const r = make()
      const cs = Array.from({ length: 1000 }, (_, i) => ctx(task(i, 60)))
      for (const c of cs) await r.selectOptimalModel(c, models)
      add('selectOptimalModel, cache hit, 1000 entries', side, await measure((i) => r.selectOptimalModel(cs[i % 1000], models), { iterations: Math.ceil(100_000 * scale), batch: 16 }))
      dispose(r)
    }
    // misses: every task is new (unique first characters), the cache is in steady state
    for (const [label, bytes, n] of [['100 B', 100, 50_000], ['10 KB', 10_000, 5_000], ['100 KB', 100_000, 600]] as const) {
      const r = make()
      let k = 0
      add(`selectOptimalModel, miss, task ${label}`, side, await measure(() => r.selectOptimalModel(ctx(task(k++, bytes)), models), { iterations: Math.ceil(n * scale), warmup: Math.ceil(n * scale * 0.2) }))
      dispose(r)
    }
    {
      const r = make()
      const names = [...models.keys()]
      add('recordPerformance', side, await measure((i) => r.recordPerformance(names[i % 6], 500 + (i % 100), i % 10 !== 0, 0.001), { iterations: Math.ceil(200_000 * scale), batch: 32 }))
      for (let i = 0; i < 200; i++) await r.selectOptimalModel(ctx(task(i, 80)), models)
      add('getRoutingPerformance', side, await measure(() => r.getRoutingPerformance(), { iterations: Math.ceil(100_000 * scale), batch: 16 }))
      dispose(r)
    }
  }
  return rows
}
