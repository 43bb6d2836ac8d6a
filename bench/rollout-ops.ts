/**
 * What the rollout wrappers cost per call: the bare legacy port and the bare native class
 * beside `create*` in mode "native" (circuit breaker) and mode "shadow" (both sides run),
 * on the hottest calls of the orchestrator loop; then the overhead of mode "native" over the
 * bare native class, measured in interleaved blocks (see `wrapperOverhead`).
 */
import {
  CacheManager as NativeCache,
  createCacheManager,
  createModelRouter,
  createPerformanceMonitor,
  ModelRouter as NativeRouter,
  PerformanceMonitor as NativeMonitor,
} from 'model-router-native'

import { CacheManager as LegacyCache } from 'model-router-legacy-ports'
import { ModelRouter as LegacyRouter } from 'model-router-legacy-ports'
import { PerformanceMonitor as LegacyMonitor } from 'model-router-legacy-ports'
import { measure, type Row } from './measure'
import { defaultModels } from './router-ops'

type Maker = [side: string, make: () => any]

export async function run(opts: { quick: boolean }): Promise<Row[]> {
  const rows: Row[] = []
  const scale = opts.quick ? 0.1 : 1
  const closeAll = (x: any) => {
    x.shutdown?.()
    x.dispose?.()
  }

  const routers: Maker[] = [
    ['legacy', () => new LegacyRouter()],
    ['native', () => new NativeRouter()],
    ['rollout native', () => createModelRouter(LegacyRouter, { mode: 'native' })],
    ['rollout shadow', () => createModelRouter(LegacyRouter, { mode: 'shadow' })],
  ]
  const models = defaultModels()
  const ctx = { task: 'Write a function to sort a list', userTier: 'pro', priority: 'high', latencyRequirement: 2000 }
  for (const [side, make] of routers) {
    const r = make()
    await r.selectOptimalModel(ctx, models)
    const m = await measure(() => r.selectOptimalModel(ctx, models), { iterations: Math.ceil(100_000 * scale), batch: 16 })
    rows.push({ group: 'router', op: 'selectOptimalModel, cache hit (rollout wrappers)', side, ...m })
    await r.rolloutSettled?.()
    closeAll(r)
  }

  const caches: Maker[] = [
    ['legacy', () => new LegacyCache({})],
    ['native', () => new NativeCache({})],
    ['rollout native', () => createCacheManager(LegacyCache, { mode: 'native', config: {} })],
    ['rollout shadow', () => createCacheManager(LegacyCache, { mode: 'shadow', config: {} })],
  ]
  const value = { text: 'an answer of about a hundred bytes, as a model would give it back to the caller', tokens: 42 }
  for (const [side, make] of caches) {
    const c = make()
    for (let i = 0; i < 100; i++) await c.set(`k${i}`, value)
    await c.rolloutSettled?.()
    const m = await measure((i) => c.get(`k${i % 100}`), { iterations: Math.ceil(50_000 * scale), batch: 8 })
    rows.push({ group: 'cache', op: 'get, memory hit, 100 entries (rollout wrappers)', side, ...m })
    await c.rolloutSettled?.()
    closeAll(c)
  }

  const monitors: Maker[] = [
    ['legacy', () => new LegacyMonitor()],
    ['native', () => new NativeMonitor()],
    ['rollout native', () => createPerformanceMonitor(LegacyMonitor, { mode: 'native' })],
    ['rollout shadow', () => createPerformanceMonitor(LegacyMonitor, { mode: 'shadow' })],
  ]
  for (const [side, make] of monitors) {
    const mon = make()
    const m = await measure((i) => mon.recordMetric('routing_overhead', i % 200), { iterations: Math.ceil(200_000 * scale), batch: 32 })
    rows.push({ group: 'monitor', op: 'recordMetric (rollout wrappers)', side, ...m })
    closeAll(mon)
  }
  rows.push(...(await wrapperOverhead(opts)))
  return rows
}

/**
 * CPU ns per call of `n` sequential calls (each awaited when `awaited`): the process's CPU
 * time (`process.cpuUsage`, µs resolution here), so that time spent waiting for a core on a
 * shared machine is left out; blocks last ~0.1–1 ms.
 */
async function block(fn: (i: number) => unknown, n: number, awaited: boolean): Promise<number> {
  const c0 = process.cpuUsage()
  if (awaited) for (let i = 0; i < n; i++) await fn(i)
  else for (let i = 0; i < n; i++) fn(i)
  const c = process.cpuUsage(c0)
  return ((c.user + c.system) * 1000) / n
}

const median = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1]
const p99 = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.ceil(a.length * 0.99) - 1]

/**
 * The cost mode "native" adds to a call of the bare native class. Blocks of calls on the bare
 * class and on the wrapper alternate (the order flipping each round), so both see the same
 * machine load; the difference is the median of the per-round differences. Two rows per
 * class: the bare class and the wrapper, CPU µs per call (p50 and p99 over the blocks), the
 * difference in the note.
 */
export async function wrapperOverhead(opts: { quick: boolean }): Promise<Row[]> {
  const rounds = opts.quick ? 40 : 120
  const rows: Row[] = []
  const pair = async (
    group: Row['group'],
    op: string,
    bare: any,
    wrapped: any,
    call: (x: any) => (i: number) => unknown,
    n: number,
    awaited: boolean,
  ) => {
    const fb = call(bare)
    const fw = call(wrapped)
    for (let i = 0; i < 3; i++) {
      await block(fb, n, awaited)
      await block(fw, n, awaited)
    }
    const b: number[] = []
    const w: number[] = []
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        b.push(await block(fb, n, awaited))
        w.push(await block(fw, n, awaited))
      } else {
        w.push(await block(fw, n, awaited))
        b.push(await block(fb, n, awaited))
      }
    }
    const diff = median(w.map((x, i) => x - b[i])) / 1000
    const row = (side: string, s: number[], note?: string): Row => ({
      group,
      op,
      side,
      p50Us: median(s) / 1000,
      p99Us: p99(s) / 1000,
      opsPerSec: 1e9 / median(s),
      note,
    })
    rows.push(row('native', b), row('rollout native', w, `wrapper adds ${diff.toFixed(3)} µs per call`))
  }

  const models = defaultModels()
  const ctx = { task: 'Write a function to sort a list', userTier: 'pro', priority: 'high', latencyRequirement: 2000 }
  const r1 = new NativeRouter()
  const r2: any = createModelRouter(LegacyRouter, { mode: 'native' })
  await pair(
    'router',
    'selectOptimalModel, cache hit: mode "native" overhead (CPU time)',
    r1,
    r2,
    (r) => () => r.selectOptimalModel(ctx, models),
    1000,
    true,
  )
  r1.shutdown()
  r2.shutdown()

  const value = { text: 'an answer of about a hundred bytes, as a model would give it back to the caller', tokens: 42 }
  const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
  const c1 = new NativeCache({})
  const c2: any = createCacheManager(LegacyCache, { mode: 'native', config: {} })
  for (const k of keys) {
    await c1.set(k, value)
    await c2.set(k, value)
  }
  await pair('cache', 'get, memory hit: mode "native" overhead (CPU time)', c1, c2, (c) => (i) => c.get(keys[i % 100]), 1000, true)
  c1.shutdown()
  c2.shutdown()

  const m1 = new NativeMonitor()
  const m2: any = createPerformanceMonitor(LegacyMonitor, { mode: 'native' })
  await pair(
    'monitor',
    'recordMetric: mode "native" overhead (CPU time)',
    m1,
    m2,
    (m) => (i) => m.recordMetric('routing_overhead', i % 200),
    4000,
    false,
  )
  m1.shutdown()
  m2.shutdown()
  return rows
}
