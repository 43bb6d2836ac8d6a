/**
 * Router operations, legacy port vs native, on the same inputs in one process. Every call
 * goes through the public drop-in API with `await`, passing the same Map each time, as the
 * orchestrator does.
 */
import { ModelRouter as NativeRouter } from 'model-router-native'

import { ModelRouter as LegacyRouter } from './legacy/model-router'
import { interleaved, measure, type Row } from './measure'

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

/** Rounds per operation: the sides alternate (which goes first alternates too), so a drift
 * in the shared machine's load reaches both; each row is the median over its side's rounds. */
const ROUNDS = 5

type Side = { name: string; make: () => AnyRouter; dispose: (r: AnyRouter) => void }

/** One operation: `prepare` builds its state on a router and returns the call to time. */
type Op = { op: string; n: number; batch?: number; warmupShare?: number; prepare: (r: AnyRouter) => Promise<(i: number) => unknown> }

export async function run(opts: { quick: boolean }): Promise<Row[]> {
  const scale = opts.quick ? 0.1 : 1
  const sides: Side[] = [
    { name: 'legacy', make: () => new LegacyRouter() as unknown as AnyRouter, dispose: (r) => (r as unknown as LegacyRouter).dispose() },
    { name: 'native', make: () => new NativeRouter() as unknown as AnyRouter, dispose: (r) => (r as unknown as NativeRouter).shutdown() },
  ]
  const models = defaultModels()
  const names = [...models.keys()]
  const ops: Op[] = [
    {
      op: 'selectOptimalModel, cache hit, 1 entry',
      n: 200_000,
      batch: 32,
      prepare: async (r) => {
        const c = ctx('Write a function to sort a list')
        await r.selectOptimalModel(c, models)
        return () => r.selectOptimalModel(c, models)
      },
    },
    {
      // cycling through all 1000 entries
      op: 'selectOptimalModel, cache hit, 1000 entries',
      n: 100_000,
      batch: 16,
      prepare: async (r) => {
        const cs = Array.from({ length: 1000 }, (_, i) => ctx(task(i, 60)))
        for (const c of cs) await r.selectOptimalModel(c, models)
        return (i) => r.selectOptimalModel(cs[i % 1000], models)
      },
    },
    // misses: every task is new (unique first characters); both sides see the same tasks
    ...([['100 B', 100, 50_000], ['10 KB', 10_000, 5_000], ['100 KB', 100_000, 600]] as const).map(
      ([label, bytes, n]): Op => ({
        op: `selectOptimalModel, miss, task ${label}`,
        n,
        warmupShare: 0.2,
        prepare: async (r) => {
          let k = 0
          // fill the routing cache first, so that every timed miss also evicts (steady state)
          for (; k < 1000; k++) await r.selectOptimalModel(ctx(task(k, Math.min(bytes, 1000))), models)
          return () => r.selectOptimalModel(ctx(task(k++, bytes)), models)
        },
      }),
    ),
    {
      op: 'recordPerformance',
      n: 200_000,
      batch: 32,
      prepare: async (r) => (i) => r.recordPerformance(names[i % 6], 500 + (i % 100), i % 10 !== 0, 0.001),
    },
    {
      op: 'getRoutingPerformance',
      n: 100_000,
      batch: 16,
      prepare: async (r) => {
        for (let i = 0; i < 200; i++) await r.selectOptimalModel(ctx(task(i, 80)), models)
        return () => r.getRoutingPerformance()
      },
    },
  ]
  const bySide = new Map<string, Row[]>(sides.map((s) => [s.name, []]))
  for (const o of ops) {
    const routers = sides.map((s) => s.make())
    const calls = await Promise.all(routers.map((r) => o.prepare(r)))
    const iterations = Math.ceil((o.n * scale) / ROUNDS)
    const warmup = o.warmupShare === undefined ? undefined : Math.ceil(iterations * o.warmupShare)
    const results = await interleaved(calls.map((call) => () => measure(call, { iterations, batch: o.batch, warmup })), ROUNDS)
    sides.forEach((s, k) => {
      s.dispose(routers[k])
      bySide.get(s.name)!.push({ group: 'router', op: o.op, side: s.name, ...results[k], note: `median of ${ROUNDS} interleaved rounds` })
    })
  }
  return sides.flatMap((s) => bySide.get(s.name)!)
}
