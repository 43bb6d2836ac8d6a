/**
 * What the rollout wrappers cost per call: the bare legacy port and the bare native class
 * beside `create*` in mode "native" (circuit breaker) and mode "shadow" (both sides run),
 * on the hottest calls of the orchestrator loop.
 */
import {
  CacheManager as NativeCache,
  createCacheManager,
  createModelRouter,
  createPerformanceMonitor,
  ModelRouter as NativeRouter,
  PerformanceMonitor as NativeMonitor,
} from 'model-router-native'

import { CacheManager as LegacyCache } from './legacy/cache-manager'
import { ModelRouter as LegacyRouter } from './legacy/model-router'
import { PerformanceMonitor as LegacyMonitor } from './legacy/performance-monitor'
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
  return rows
}
