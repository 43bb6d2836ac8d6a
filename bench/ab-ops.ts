/**
 * The A/B section of `benchmark:compare`: the orchestrator workload (`./workload`) with the
 * router, the cache and the monitor in mode "ab" at share 0.5 (per-arm rows and the
 * difference with its interval), then the rollback check: the same workload on a virtual
 * clock, with nothing, a latency, or errors injected into the native router, so the windows
 * and the verdicts are deterministic.
 *
 * `./workload` builds its "shadow" side with the package's factories. This suite runs that
 * side with the factories set to mode "ab": they are swapped, for the run only, on the
 * module the package's entry point reads them from at each call (`dist/rollout.js`).
 */
import * as path from 'node:path'

import { ModelRouter as NativeRouter, type AbReport, type ArmDifference, type ArmReport, type RollbackEvent } from 'model-router-native'

import { runWorkload, type WorkloadOptions, type WorkloadResult } from './workload'

const FACTORIES = ['createModelRouter', 'createCacheManager', 'createPerformanceMonitor'] as const
type Kind = 'router' | 'cache' | 'monitor'
const KIND: Record<(typeof FACTORIES)[number], Kind> = {
  createModelRouter: 'router',
  createCacheManager: 'cache',
  createPerformanceMonitor: 'monitor',
}

/** The module the package's entry point re-exports the factories from (its getters read it at each access). */
function rolloutModule(): Record<string, any> {
  return require(path.join(path.dirname(require.resolve('model-router-native')), 'dist', 'rollout.js'))
}

interface AbRun {
  workload: WorkloadResult
  /** The wrappers of the timed run (the warm-up builds its own first), by kind. */
  wrappers: Record<Kind, any>
  /** Rollbacks of the timed run's router, with its calls (all, and on native) made by then. */
  rollbacks: Array<{ event: RollbackEvent; callsBefore: number; nativeBefore: number }>
}

/** Runs the workload's factory-built side with the factories in mode "ab" and `options`. */
async function runAb(workload: WorkloadOptions, options: Record<string, unknown>): Promise<AbRun> {
  const mod = rolloutModule()
  const saved = Object.fromEntries(FACTORIES.map((f) => [f, mod[f]]))
  const wrappers = {} as Record<Kind, any>
  let rollbacks: AbRun['rollbacks'] = []
  for (const f of FACTORIES) {
    mod[f] = (legacy: unknown, o: Record<string, unknown> = {}) => {
      const { mode: _shadow, maxDisagreements: _kept, ...rest } = o
      const w = saved[f](legacy, { ...rest, ...options, mode: 'ab' })
      wrappers[KIND[f]] = w
      if (f === 'createModelRouter') {
        const mine: AbRun['rollbacks'] = []
        rollbacks = mine
        w.on('rollout_rollback', (event: RollbackEvent) => {
          // emitted before the call that saw it is counted
          const c = w.getRolloutStats().calls
          mine.push({ event, callsBefore: c.legacy + c.native, nativeBefore: c.native })
        })
      }
      return w
    }
  }
  try {
    // the package's entry point must read the swapped factories (else the run would be mode "shadow")
    if (require('model-router-native').createModelRouter !== mod.createModelRouter)
      throw new Error('ab-ops: the factories could not be swapped')
    return { workload: await runWorkload('shadow', workload), wrappers, rollbacks }
  } finally {
    for (const f of FACTORIES) mod[f] = saved[f]
  }
}

const us = (ms: number) => (ms * 1000 >= 100 ? (ms * 1000).toFixed(0) : (ms * 1000).toFixed(1))
const pct = (x: number) => `${(x * 100).toFixed(2)}%`
const int = (x: number) => x.toLocaleString('en-US')

function interval(d: ArmDifference | null | undefined, show: (x: number) => string): string {
  if (d === null || d === undefined) return '—'
  return `${show(d.estimate)} [${show(d.low)}, ${show(d.high)}]${d.significant ? ' (significant)' : ''}`
}

function topModels(models: Record<string, number> | undefined): string {
  if (models === undefined) return ''
  const total = Object.values(models).reduce((a, b) => a + b, 0)
  return Object.entries(models)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([m, n]) => `${m} ${((n / total) * 100).toFixed(0)}%`)
    .join(', ')
}

function armRows(kind: Kind, op: string, arms: AbReport): string[] {
  const row = (arm: 'legacy' | 'native', a: ArmReport) => {
    const extra = kind === 'router' ? topModels(a.models) : kind === 'cache' ? `hit rate ${pct(a.hitRate ?? 0)}` : ''
    const l = a.latency
    return `| ${kind} | ${op} | ${arm} | ${int(a.calls)} | ${a.errors} | ${us(l.p50Ms)} | ${us(l.p95Ms)} | ${us(l.p99Ms)} | ${us(l.meanMs)} ± ${us(l.sdMs)} | ${extra} |`
  }
  return [row('legacy', arms.legacy), row('native', arms.native)]
}

function differenceRow(kind: Kind, arms: AbReport): string {
  const d = arms.difference
  const hit = kind === 'cache' ? interval(d.hitRate, (x) => `${(x * 100).toFixed(2)} pt`) : ''
  return `| ${kind} | ${interval(d.latencyMeanMs, (x) => `${us(x)} µs`)} | ${interval(d.errorRate, (x) => `${(x * 100).toFixed(2)} pt`)} | ${hit} |`
}

/** A virtual clock: each read moves it 10 µs, so a call takes 10 µs plus what is injected. */
function virtualClock() {
  const c = { t: 0, now: () => (c.t += 0.01) }
  return c
}

type Injection = { label: string; install: (clock: { t: number }) => () => void }

const INJECTIONS: Injection[] = [
  { label: 'nothing', install: () => () => {} },
  {
    label: '+40 ms per native routing call',
    install: (clock) =>
      patchNativeRouter((call) => {
        clock.t += 40
        return call()
      }),
  },
  {
    label: '4% of native routing calls fail',
    install: () => {
      let n = 0
      return patchNativeRouter((call) => (++n % 25 === 0 ? Promise.reject(new Error('injected native failure')) : call()))
    },
  },
]

/** Wraps the native router's `selectOptimalModel` (every instance); returns the undo. */
function patchNativeRouter(wrap: (call: () => Promise<unknown>) => Promise<unknown>): () => void {
  const proto = NativeRouter.prototype as any
  const real = proto.selectOptimalModel
  proto.selectOptimalModel = function (this: unknown, ...args: unknown[]) {
    return wrap(() => real.apply(this, args))
  }
  return () => {
    proto.selectOptimalModel = real
  }
}

/**
 * The markdown section: per-arm rows at share 0.5, then the rollback check. `workload`
 * overrides the workload's options in every run (a test runs a small one).
 */
export async function run(o: { quick: boolean; workload?: WorkloadOptions }): Promise<string> {
  const ab = await runAb({ requests: o.quick ? 3000 : 20_000, ...o.workload }, { share: 0.5 })
  const stats = (k: Kind) => ab.wrappers[k].getRolloutStats().arms as AbReport
  const w = ab.workload
  const lines = [
    `${int(w.requests)} requests of the orchestrator workload (${w.concurrency} in flight) through \`createModelRouter\`, ` +
      '`createCacheManager` and `createPerformanceMonitor` in mode "ab", share 0.5: each routing context (`userTier` + task), ' +
      'cache key and metric name is served by one arm, always the same. Latency is the call as the caller sees it, in µs; ' +
      'percentiles over the last 1,024 calls of each arm, mean ± sd over all.',
    '',
    '| kind | methods | arm | calls | errors | p50 µs | p95 µs | p99 µs | mean ± sd µs | models / hit rate |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---|',
    ...armRows('router', 'selectOptimalModel, selectFallbackModel', stats('router')),
    ...armRows('cache', 'get, set, delete', stats('cache')),
    ...armRows('monitor', 'recordMetric, getStats', stats('monitor')),
    '',
    'native − legacy, with the 95% interval (normal approximation on the means):',
    '',
    '| kind | mean latency | error rate | hit rate |',
    '|---|---|---|---|',
    differenceRow('router', stats('router')),
    differenceRow('cache', stats('cache')),
    differenceRow('monitor', stats('monitor')),
    '',
    'Each metric name is one input: all its values go to one arm, so its statistics are whole on that arm. The workload ' +
      'records two names (`orchestration_latency`, `routing_overhead`): an arm may hold none of them at this share.',
    '',
    `Workload: ${int(Math.round(w.requestsPerSec))} requests/s, routing p99 ${us(w.routing.p99Ms)} µs, cache hit rate ${pct(w.cacheHitRate)}, ` +
      `error rate ${pct(w.errorRate)}; rollbacks on this run: ${ab.rollbacks.length}.`,
  ]

  // The rollback check: a virtual clock (each read 10 µs, so a run of 10,000 requests lasts
  // about 1 s of it, plus the injected latency: the judgement every 50 ms), the default
  // window, sample and margins.
  const check: WorkloadOptions = { requests: o.quick ? 3000 : 10_000, ...o.workload }
  const rollback = { windowMs: 60_000, minCalls: 200, errorRateMargin: 0.01, p99MarginMs: 25, checkEveryMs: 50 }
  lines.push(
    '',
    `Rollback check: ${int(check.requests!)} requests of the same workload per row, share 0.5, on a virtual clock (each read moves it 10 µs, ` +
      `so the windows and the verdict do not depend on the machine); rollback \`${JSON.stringify(rollback)}\`. The regression is injected ` +
      'into the native router class.',
    '',
    '| injected into native | rollback | after router calls | reason | native arm in the window | legacy arm in the window | native routing calls after it |',
    '|---|---|---:|---|---|---|---:|',
  )
  for (const inj of INJECTIONS) {
    const clock = virtualClock()
    const undo = inj.install(clock)
    let r: AbRun
    try {
      r = await runAb(check, { share: 0.5, now: clock.now, rollback })
    } finally {
      undo()
    }
    const router = r.wrappers.router.getRolloutStats()
    const first = r.rollbacks[0]
    if (first === undefined) {
      lines.push(`| ${inj.label} | no | | | | | ${int(router.calls.native)} (share still ${router.arms.share}) |`)
      continue
    }
    const e = first.event
    const arm = (a: RollbackEvent['native']) => `${int(a.calls)} calls, error rate ${pct(a.errorRate)}, p99 ${a.p99Ms.toFixed(2)} ms`
    lines.push(
      `| ${inj.label} | **yes** (share ${e.share} → ${router.arms.share}) | ${int(first.callsBefore)} | ${e.reason} | ${arm(e.native)} | ${arm(e.legacy)} | ${int(router.calls.native - first.nativeBefore)} |`,
    )
  }
  return lines.join('\n')
}
