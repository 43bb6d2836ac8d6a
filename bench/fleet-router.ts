/**
 * The router rows of `npm run benchmark:fleet`: `ModelRouter`'s fleet state on one local
 * Redis, 4 processes. Each row prints its goal beside it.
 *
 * 1. Health propagation: process A ejects a model (three failures reported); processes B–D
 *    note when their router's mirror applied it (the `fleet_health` event, emitted right
 *    after). The lag is from just before A's third report to B's router excluding the model
 *    (both read the same host clock, `performance.timeOrigin + performance.now()`). Goal:
 *    p99 ≤ 5 ms on loopback.
 * 2. Quota overshoot: 4 processes route as fast as they can for a few seconds to a model
 *    with `rpm` (and an unlimited second model); the requests named to the limited model,
 *    summed over the fleet, against the limit (the run is shorter than the 60 s window, so
 *    the whole run is one window). Goal: ≤ 1% over the limit. The same with 8 processes
 *    (4 more started for it), on another model's window.
 * 3. Budget overspend: 4 processes route one context as fast as they can (memo hits) under
 *    one global budget worth `BUDGET_DECISIONS` decisions; the cost of the decisions
 *    admitted, summed over the fleet, against the limit (a day's window aligned on Redis's
 *    clock: a run that crosses midnight UTC would start a new period). Goal: ≤ 1% over.
 * 4. Routing p50 with the fleet state on (`redis` option, a peer's ejection held) vs off,
 *    in one process, alternated. Goal: ≤ 1.2×.
 * 5. Cold starts: fresh routers (each its own connection, as a new process would have),
 *    a budget set and `rpm` on every model, `whenNoneHealthy: "reject"`; the first decision
 *    right after construction. Counted: refused first decisions (goal: none) and how long
 *    the first decision took (it waits for the first leases).
 *
 * Run alone: `node bench/dist/fleet-router.js [--url redis://…]` (starts no Redis itself
 * without --url: use `npm run benchmark:fleet`).
 */
import { fork, type ChildProcess } from 'node:child_process'

import { ModelRouter } from 'model-router-native'

const PROCESSES = 4
const EJECTIONS = 60
const QUOTA_RPM = 2000
const QUOTA_RUN_MS = 3000
const ROUTING_DECISIONS = 20_000
const BUDGET_DECISIONS = 20_000
const BUDGET_RUN_MS = 2000
const WIDE_PROCESSES = 8
const COLD_STARTS = 20

const now = () => performance.timeOrigin + performance.now()

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

const config = (name: string, latencyTarget: number, extra: Record<string, unknown> = {}) => ({
  name,
  tier: 'pro' as const,
  capabilities: ['code'],
  latencyTarget,
  costPerToken: 1e-6,
  maxTokens: 100_000,
  ...extra,
})
const ctx = (task = 'Write a function to sort a list') => ({
  task,
  userTier: 'pro' as const,
  priority: 'high' as const,
  latencyRequirement: 2000,
})

// ---- worker side ------------------------------------------------------------------------

type Msg =
  | { op: 'start'; url: string; prefix: string }
  | { op: 'watch'; model: string }
  | { op: 'eject'; model: string }
  | { op: 'quota'; untilWall: number; model: string }
  | { op: 'budget'; untilWall: number }
  | { op: 'stop' }

function worker(): void {
  let router: ModelRouter | null = null
  const send = (m: unknown) => process.send!(m)
  process.on('message', async (m: Msg) => {
    if (m.op === 'start') {
      router = new ModelRouter({ strategy: 'adaptive', whenNoneHealthy: 'reject', redis: { url: m.url, prefix: m.prefix } })
      router.on('fleet_degraded', (e) => console.error('fleet_degraded in a benchmark worker:', e))
      send({ ready: true })
    } else if (m.op === 'watch') {
      // the router emits `fleet_health` right after its mirror applied another process's
      // change: no polling (which would compete for the cores with the processes measured)
      const r = router!
      const seen = (e: { modelName: string; state: string }) => {
        if (e.modelName !== m.model || e.state === 'healthy') return
        r.off('fleet_health', seen)
        send({ seen: now() })
      }
      r.on('fleet_health', seen)
      send({ watching: true })
    } else if (m.op === 'eject') {
      const r = router!
      r.reportOutcome(m.model, { ok: false, latencyMs: 100, status: 500 })
      r.reportOutcome(m.model, { ok: false, latencyMs: 100, status: 500 })
      const t0 = now()
      r.reportOutcome(m.model, { ok: false, latencyMs: 100, status: 500 })
      send({ ejected: t0 })
    } else if (m.op === 'quota') {
      const r = router!
      const models = new Map([
        [m.model, config(m.model, 300, { rpm: QUOTA_RPM })],
        ['open', config('open', 500)],
      ])
      let limited = 0
      let total = 0
      while (Date.now() < m.untilWall) {
        const d = await r.selectOptimalModel(ctx(), models)
        total++
        if (d.modelName === m.model) limited++
        r.reportOutcome(d, { ok: true, latencyMs: 50 })
        // let lease answers in now and then
        if (total % 64 === 0) await new Promise((res) => setImmediate(res))
      }
      send({ limited, total })
    } else if (m.op === 'budget') {
      const r = router!
      const models = new Map([['paid', config('paid', 300, { costPerToken: 1e-4 })]])
      // what one decision reserves, from a router without the fleet
      const alone = new ModelRouter({ strategy: 'adaptive' })
      alone.setBudget({ scope: 'global', limit: 1e9, windowMs: 86_400_000 })
      await alone.selectOptimalModel(ctx(), models)
      const cost = alone.getBudgets()[0].spent
      alone.shutdown()
      r.setBudget({ scope: 'global', limit: BUDGET_DECISIONS * cost, windowMs: 86_400_000 })
      let admitted = 0
      let tries = 0
      while (Date.now() < m.untilWall) {
        tries++
        try {
          const d = await r.selectOptimalModel(ctx(), models)
          admitted++
          r.reportOutcome(d, { ok: true, latencyMs: 50 })
        } catch {
          // ERR_BUDGET_EXCEEDED: waiting for a refill, or the fleet's budget is spent
        }
        if (tries % 64 === 0) await new Promise((res) => setImmediate(res))
      }
      send({ admitted, cost, tries })
    } else if (m.op === 'stop') {
      router?.shutdown()
      setTimeout(() => process.exit(0), 200)
    }
  })
}

// ---- orchestrator ---------------------------------------------------------------------------

interface Child {
  proc: ChildProcess
  next(): Promise<Record<string, number>>
  send(m: Msg): void
}

function child(): Child {
  const proc = fork(__filename, ['router-worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const queue: Record<string, number>[] = []
  const waiting: Array<(m: Record<string, number>) => void> = []
  proc.on('message', (m: Record<string, number>) => {
    const w = waiting.shift()
    if (w) w(m)
    else queue.push(m)
  })
  return {
    proc,
    next: () => new Promise((res) => (queue.length > 0 ? res(queue.shift()!) : waiting.push(res))),
    send: (m) => proc.send(m),
  }
}

async function routingP50(url: string, prefix: string): Promise<{ off: number; on: number }> {
  const models = new Map([
    ['a', config('a', 300)],
    ['b', config('b', 400)],
    ['c', config('c', 500)],
  ])
  const off = new ModelRouter({ strategy: 'adaptive' })
  const on = new ModelRouter({ strategy: 'adaptive', redis: { url, prefix } })
  // the fleet state on: another process's ejection of one model held in the mirror
  const peer = new ModelRouter({ strategy: 'adaptive', redis: { url, prefix } })
  await new Promise((r) => setTimeout(r, 300))
  for (let i = 0; i < 3; i++) peer.reportOutcome('c', { ok: false, latencyMs: 100, status: 500 })
  for (let i = 0; i < 200 && on.getModelHealth().find((h) => h.modelName === 'c')?.state !== 'ejected'; i++) {
    await new Promise((r) => setTimeout(r, 5))
  }
  const tasks = Array.from({ length: 64 }, (_, i) => `Task ${i}: write a function to sort a list of ${i} items`)
  const run = async (r: ModelRouter) => {
    const lat: number[] = []
    for (let i = 0; i < ROUTING_DECISIONS; i++) {
      const t = performance.now()
      const d = await r.selectOptimalModel(ctx(tasks[i % tasks.length]), models)
      lat.push(performance.now() - t)
      r.reportOutcome(d, { ok: true, latencyMs: 100 })
    }
    return pct(lat, 50)
  }
  await run(off)
  await run(on)
  const offs: number[] = []
  const ons: number[] = []
  for (let k = 0; k < 3; k++) {
    offs.push(await run(off))
    ons.push(await run(on))
  }
  off.shutdown()
  on.shutdown()
  peer.shutdown()
  return { off: pct(offs, 50), on: pct(ons, 50) }
}

/** Fresh routers' first decisions (a budget, `rpm` on every model): refused ones and their times (ms). */
async function coldStarts(url: string, prefix: string): Promise<{ refused: number; ms: number[] }> {
  const models = new Map([
    ['a', config('a', 300, { rpm: 100_000 })],
    ['b', config('b', 400, { rpm: 100_000 })],
  ])
  let refused = 0
  const ms: number[] = []
  for (let i = 0; i < COLD_STARTS; i++) {
    const r = new ModelRouter({ strategy: 'adaptive', whenNoneHealthy: 'reject', redis: { url, prefix } })
    r.setBudget({ scope: 'global', limit: 1e6, windowMs: 86_400_000 })
    const t = performance.now()
    try {
      await r.selectOptimalModel(ctx(), models)
    } catch {
      refused++
    }
    ms.push(performance.now() - t)
    r.shutdown()
  }
  return { refused, ms }
}

/** Prints the router rows; `url` is a Redis the run may write under `prefix`. */
export async function routerRows(url: string, prefix: string): Promise<void> {
  console.log(`## ModelRouter fleet state (${PROCESSES} processes, one local Redis)\n`)
  const kids = Array.from({ length: PROCESSES }, child)
  try {
    for (const k of kids) k.send({ op: 'start', url, prefix: `${prefix}r:` })
    await Promise.all(kids.map((k) => k.next()))
    await new Promise((r) => setTimeout(r, 500)) // subscriptions up
    // 1. health propagation
    const [a, ...watchers] = kids
    const lags: number[] = []
    for (let i = 0; i < EJECTIONS; i++) {
      const model = `model-${i}`
      for (const w of watchers) w.send({ op: 'watch', model })
      await Promise.all(watchers.map((w) => w.next()))
      a.send({ op: 'eject', model })
      const { ejected } = await a.next()
      const seen = await Promise.all(watchers.map((w) => w.next()))
      for (const s of seen) lags.push(s.seen - ejected)
    }
    // 2. quota overshoot
    const untilWall = Date.now() + QUOTA_RUN_MS
    for (const k of kids) k.send({ op: 'quota', untilWall, model: 'limited' })
    const counts = await Promise.all(kids.map((k) => k.next()))
    const limited = counts.reduce((s, c) => s + c.limited, 0)
    const total = counts.reduce((s, c) => s + c.total, 0)
    const over = Math.max(0, limited - QUOTA_RPM) / QUOTA_RPM
    // 2b. the same with 8 processes, on another model's window
    const more = Array.from({ length: WIDE_PROCESSES - PROCESSES }, child)
    kids.push(...more)
    for (const k of more) k.send({ op: 'start', url, prefix: `${prefix}r:` })
    await Promise.all(more.map((k) => k.next()))
    await new Promise((r) => setTimeout(r, 1500)) // a heartbeat counts all 8
    const wideUntil = Date.now() + QUOTA_RUN_MS
    for (const k of kids) k.send({ op: 'quota', untilWall: wideUntil, model: 'limited8' })
    const wide = await Promise.all(kids.map((k) => k.next()))
    const wideLimited = wide.reduce((s, c) => s + c.limited, 0)
    const wideTotal = wide.reduce((s, c) => s + c.total, 0)
    const wideOver = Math.max(0, wideLimited - QUOTA_RPM) / QUOTA_RPM
    for (const k of more) k.send({ op: 'stop' })
    await Promise.all(more.map((k) => new Promise((r) => k.proc.once('exit', r))))
    kids.splice(PROCESSES)
    // 3. budget overspend
    const budgetUntil = Date.now() + BUDGET_RUN_MS
    for (const k of kids) k.send({ op: 'budget', untilWall: budgetUntil })
    const spends = await Promise.all(kids.map((k) => k.next()))
    const admitted = spends.reduce((s, c) => s + c.admitted, 0)
    const tries = spends.reduce((s, c) => s + c.tries, 0)
    const spent = spends.reduce((s, c) => s + c.admitted * c.cost, 0)
    const budgetLimit = BUDGET_DECISIONS * spends[0].cost
    const overspend = Math.max(0, spent - budgetLimit) / budgetLimit
    // 4. routing p50 on vs off
    const p = await routingP50(url, `${prefix}p:`)
    // 5. cold starts
    const cold = await coldStarts(url, `${prefix}c:`)
    const p99 = pct(lags, 99)
    console.log('| row | measured | goal | met |\n|---|---:|---:|---|')
    console.log(
      `| health propagation, ${lags.length} ejections seen (A → B–D), p50 / p99 | ${pct(lags, 50).toFixed(2)} / ${p99.toFixed(2)} ms | p99 ≤ 5 ms | ${p99 <= 5 ? 'yes' : 'no'} |`,
    )
    console.log(
      `| quota overshoot, rpm ${QUOTA_RPM}, 4 processes × ${QUOTA_RUN_MS / 1000} s (${total} decisions, ${limited} named the limited model) | ${(over * 100).toFixed(2)}% | ≤ 1% | ${over <= 0.01 ? 'yes' : 'no'} |`,
    )
    console.log(
      `| quota overshoot, rpm ${QUOTA_RPM}, ${WIDE_PROCESSES} processes × ${QUOTA_RUN_MS / 1000} s (${wideTotal} decisions, ${wideLimited} named the limited model) | ${(wideOver * 100).toFixed(2)}% | ≤ 1% | ${wideOver <= 0.01 ? 'yes' : 'no'} |`,
    )
    console.log(
      `| budget overspend, one global budget of ${BUDGET_DECISIONS} decisions, 4 processes × ${BUDGET_RUN_MS / 1000} s (${tries} tries, ${admitted} admitted) | ${(overspend * 100).toFixed(2)}% | ≤ 1% | ${overspend <= 0.01 ? 'yes' : 'no'} |`,
    )
    const ratio = p.on / p.off
    console.log(
      `| routing p50, fleet state on vs off (memo hits, 3 models, one held out by a peer) | ${(p.on * 1000).toFixed(1)} vs ${(p.off * 1000).toFixed(1)} µs (${ratio.toFixed(2)}×) | ≤ 1.2× | ${ratio <= 1.2 ? 'yes' : 'no'} |`,
    )
    console.log(
      `| cold starts: ${COLD_STARTS} fresh routers (budget + rpm, "reject"), first decision right after construction: refused; time p50 / max | ${cold.refused} refused; ${pct(cold.ms, 50).toFixed(2)} / ${Math.max(...cold.ms).toFixed(2)} ms | 0 refused | ${cold.refused === 0 ? 'yes' : 'no'} |\n`,
    )
  } finally {
    for (const k of kids) k.send({ op: 'stop' })
    await Promise.all(kids.map((k) => new Promise((r) => k.proc.once('exit', r))))
  }
}

if (process.argv[2] === 'router-worker') {
  worker()
} else if (require.main === module) {
  const i = process.argv.indexOf('--url')
  if (i < 0) {
    console.error('usage: node bench/dist/fleet-router.js --url redis://host:port')
    process.exit(2)
  }
  routerRows(process.argv[i + 1], `mrnbench${process.pid}:`).then(
    () => process.exit(0),
    (err) => {
      console.error(err)
      process.exit(1)
    },
  )
}
