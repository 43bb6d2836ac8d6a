/**
 * Router operations, legacy port vs native, on the same inputs in one process. Every call
 * goes through the public drop-in API with `await`, passing the same Map each time, as the
 * orchestrator does.
 */
import { ModelRouter as NativeRouter } from 'model-router-native'

import { ModelRouter as LegacyRouter } from 'model-router-legacy-ports'
import { interleaved, measure, type Row } from './measure'

type AnyRouter = {
  selectOptimalModel(c: unknown, m: Map<string, unknown>): Promise<unknown>
  recordPerformance(n: string, l: number, s: boolean, c: number): void
  getRoutingPerformance(): unknown
}

export function defaultModels(): Map<string, any> {
  const m = (name: string, tier: string, capabilities: string[], latencyTarget: number, costPerToken: number) =>
    // windows that hold the 100 KB tasks: the adaptive strategy enforces them (the legacy never reads maxTokens)
    [name, { name, tier, capabilities, latencyTarget, costPerToken, maxTokens: 1_048_576, apiKey: 'sk-bench' }] as const
  return new Map([
    m('gemini-2.5-deep-think', 'enterprise', ['advanced-reasoning', 'reasoning', 'code'], 8000, 1e-5),
    m('gemini-2.5-pro', 'pro', ['reasoning', 'code'], 2500, 3.5e-6),
    m('gemini-pro-vertex', 'enterprise', ['reasoning'], 2000, 5e-6),
    m('gemini-2.0-flash-thinking', 'pro', ['reasoning'], 1500, 1e-6),
    m('gemini-2.5-flash', 'pro', ['code'], 800, 5e-7),
    m('gemini-2.0-flash', 'free', [], 600, 2e-7),
  ])
}

/** The text kinds of the miss rows: what a task holds changes what a search over it costs. */
export const TEXTS = {
  // the benchmark's original paragraph: complexity keywords in its first 200 bytes
  'keyword-dense':
    'Please analyze this function and optimize the algorithm: function f(x) { if (x) { for (const y of x) g(y) } } ' +
    'The database layer and the API need a security review before release. ',
  // English prose without any of the patterns the analysis searches for
  'keyword-free':
    'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore ' +
    'magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. ',
  // the keyword-free text, then three keywords at its very end (see `task`)
  'keyword-late': '',
  // German and Chinese: a UTF-16 string in V8, which the binding reads as UTF-16
  'non-ASCII': 'Bitte prüfe die Übersetzung für die Größenänderung der Straße. 请检查这个翻译并给出简短的总结。 ',
} as const
export type TextKind = keyof typeof TEXTS
const LATE_TAIL = ' then analyze and optimize the algorithm, debug it'

const bodies = new Map<string, string>()

/** `unit` repeated to at most `bytes` UTF-8 bytes (cut between characters). */
function fill(unit: string, bytes: number): string {
  const reps = Math.ceil(bytes / Math.max(1, Buffer.byteLength(unit)))
  const chars = [...unit.repeat(reps + 1)]
  let out = ''
  let n = 0
  for (const c of chars) {
    const b = Buffer.byteLength(c)
    if (n + b > bytes) break
    out += c
    n += b
  }
  return out
}

/**
 * A task of about `bytes` UTF-8 bytes of `kind` whose first characters are unique per `i`,
 * so every call misses both the routing cache and the legacy's analysis cache. The body is
 * built once per kind and size (outside the timing); each call only prepends its number.
 */
export function task(i: number, bytes: number, kind: TextKind = 'keyword-dense'): string {
  const id = `${kind}:${bytes}`
  let body = bodies.get(id)
  if (body === undefined) {
    const room = Math.max(0, bytes - 8)
    body = kind === 'keyword-late' ? fill(TEXTS['keyword-free'], Math.max(0, room - LATE_TAIL.length)) + LATE_TAIL : fill(TEXTS[kind], room)
    bodies.set(id, body)
  }
  return `#${i} `.padEnd(8) + body
}

function ctx(t: string, userTier = 'pro') {
  return { task: t, userTier, priority: 'high', latencyRequirement: 2000 }
}

const SIZES = [
  ['100 B', 100, 30_000, 10],
  ['10 KB', 10_000, 3_000, 20],
  ['100 KB', 100_000, 400, 30],
] as const

/** A miss of a new task of `bytes` of `kind` for a user of `tier`, in steady state. */
function missOp(label: string, bytes: number, n: number, goal: number, kind: TextKind, tier: string, models: Map<string, unknown>): Op {
  return {
    op: `selectOptimalModel, miss, ${tier}, ${kind}, ${label}`,
    n,
    warmupShare: 0.2,
    goal,
    prepare: async (r, calls) => {
      // fill the routing cache first, so that every timed miss also evicts (steady state)
      for (let k = 0; k < 1000; k++) await r.selectOptimalModel(ctx(task(k, Math.min(bytes, 1000), kind), tier), models)
      const tasks = flatTasks(kind, bytes, calls)
      let k = 0
      return () => r.selectOptimalModel(ctx(tasks[k++ % tasks.length], tier), models)
    },
    floorOf: { kind, bytes },
  }
}

const flatTaskLists = new Map<string, string[]>()

/**
 * `calls` tasks of `kind` and `bytes` (numbered from 1000, after the routing-cache fill), made
 * once and shared by the sides (each side sees each task once). Each is a flat string, as a
 * task read from a request is: a concatenated one would be flattened (copied) by whichever
 * side reads it first, inside the timing.
 */
function flatTasks(kind: TextKind, bytes: number, calls: number): string[] {
  const id = `${kind}:${bytes}`
  let list = flatTaskLists.get(id)
  if (list === undefined || list.length < calls) {
    list = Array.from({ length: calls }, (_, i) => Buffer.from(task(1000 + i, bytes, kind), 'utf8').toString('utf8'))
    flatTaskLists.clear() // one list held at a time: 100 KB tasks take tens of MB
    flatTaskLists.set(id, list)
  }
  return list
}

/**
 * The floor of reading a task: V8 writing the string into a reused buffer, in the form the
 * binding reads it. The binding reads a task whose first 256 UTF-16 units are not all ASCII
 * as UTF-16 (V8 holds such a string as UTF-16: a copy), any other as UTF-8 (for a one-byte
 * string, a copy too); a non-ASCII task read as UTF-8 would be a transcoding, its row shown
 * beside for comparison. Timed as `TextEncoder.encodeInto` (UTF-8) and
 * `Buffer.prototype.write(…, 'utf16le')` (UTF-16), the same V8 writes the binding's N-API
 * reads do, on the same tasks as the row they stand beside.
 */
async function readFloors(kind: TextKind, bytes: number, n: number): Promise<{ rows: Row[]; read: Row }> {
  const tasks = flatTasks(kind, bytes, n)
  const size = bytes >= 1000 ? `${bytes / 1000} KB` : `${bytes} B`
  const opts = { iterations: n, warmup: Math.ceil(n / 5) }
  const encoder = new TextEncoder()
  const out = new Uint8Array(bytes * 3 + 64)
  const utf8 = await measure((i) => encoder.encodeInto(tasks[i % tasks.length], out), opts)
  const units = Buffer.alloc(bytes * 2 + 64)
  const utf16 = await measure((i) => units.write(tasks[i % tasks.length], 0, 'utf16le'), opts)
  const row = (form: string, m: typeof utf8, note: string): Row => ({
    group: 'router',
    op: `floor: task ${form} by V8, ${kind}, ${size}`,
    side: 'floor',
    ...m,
    note,
  })
  const rows = [
    row('written as UTF-8', utf8, 'TextEncoder.encodeInto into a reused buffer'),
    row('read as UTF-16', utf16, "Buffer.write(…, 'utf16le') into a reused buffer"),
  ]
  const readsUtf16 = kind === 'non-ASCII' || bytes <= 256
  return { rows, read: rows[readsUtf16 ? 1 : 0] }
}

/** Rounds per operation: the sides alternate (which goes first alternates too), so a drift
 * in the shared machine's load reaches both; each row is the median over its side's rounds. */
const ROUNDS = 5

/** `applies`: the operations the side runs (all when absent). */
type Side = { name: string; make: () => AnyRouter; dispose: (r: AnyRouter) => void; applies?: (o: Op) => boolean }

/** One operation: `prepare` builds its state on a router and returns the call to time. */
type Op = {
  op: string
  n: number
  batch?: number
  warmupShare?: number
  /** The goal for legacy p50 / native p50, shown beside the row. */
  goal?: number
  /** The task whose read floor is shown beside the row. */
  floorOf?: { kind: TextKind; bytes: number }
  /** `calls`: how many calls the side will make (warm-up included). */
  prepare: (r: AnyRouter, calls: number) => Promise<(i: number) => unknown>
}

/** `only`: run the operations whose name contains it (all by default). */
export async function run(opts: { quick: boolean; only?: string }): Promise<Row[]> {
  const scale = opts.quick ? 0.1 : 1
  const sides: Side[] = [
    { name: 'legacy', make: () => new LegacyRouter() as unknown as AnyRouter, dispose: (r) => (r as unknown as LegacyRouter).dispose() },
    { name: 'native', make: () => new NativeRouter() as unknown as AnyRouter, dispose: (r) => (r as unknown as NativeRouter).shutdown() },
    // The adaptive strategy on the same paths: routing-cache hits and the enterprise misses of
    // the keyword-dense text (no outcome is reported, so its live pick runs on the initial state
    // and on calls in flight).
    {
      name: 'native (adaptive)',
      make: () => new NativeRouter({ strategy: 'adaptive', seed: 1 }) as unknown as AnyRouter,
      dispose: (r) => (r as unknown as NativeRouter).shutdown(),
      applies: (o) => o.op.includes('cache hit') || o.op.includes('enterprise, keyword-dense'),
    },
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
    // misses: every task is new (unique first characters); both sides see the same tasks.
    // Every text kind at every size for an enterprise user (six candidates), then each
    // other tier on keyword-free text.
    ...SIZES.flatMap(([label, bytes, n, goal]) =>
      (Object.keys(TEXTS) as TextKind[]).map((kind) => missOp(label, bytes, n, goal, kind, 'enterprise', models)),
    ),
    ...(['pro', 'free'] as const).flatMap((tier) =>
      SIZES.map(([label, bytes, n, goal]) => missOp(label, bytes, n, goal, 'keyword-free', tier, models)),
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
  const floors: Row[] = []
  for (const o of ops.filter((x) => opts.only === undefined || x.op.includes(opts.only))) {
    let floor: Row | undefined
    if (o.floorOf) {
      const f = await readFloors(o.floorOf.kind, o.floorOf.bytes, Math.ceil(o.n * scale))
      floors.push(...f.rows)
      floor = f.read
    }
    const active = sides.filter((s) => s.applies === undefined || s.applies(o))
    const routers = active.map((s) => s.make())
    const iterations = Math.ceil((o.n * scale) / ROUNDS)
    const warmup = o.warmupShare === undefined ? undefined : Math.ceil(iterations * o.warmupShare)
    const perSide = ROUNDS * (iterations + (warmup ?? Math.max(100, Math.floor(iterations / 10))))
    const calls = await Promise.all(routers.map((r) => o.prepare(r, perSide)))
    const results = await interleaved(
      calls.map((call) => () => measure(call, { iterations, batch: o.batch, warmup })),
      ROUNDS,
    )
    const nativeP50 = results[active.findIndex((s) => s.name === 'native')]?.p50Us
    active.forEach((s, k) => {
      s.dispose(routers[k])
      const adaptive =
        s.name === 'native (adaptive)' && nativeP50 !== undefined
          ? `; ${(results[k].p50Us / nativeP50).toFixed(2)}× the p50 of strategy "legacy" (goal ≤ 1.5×)`
          : ''
      const legacyP50 = results[active.findIndex((x) => x.name === 'legacy')]?.p50Us
      // the read floor as the binding reads this task, and the ratio it alone would allow
      const floorNote =
        floor === undefined
          ? ''
          : `; floor ${floor.p50Us.toFixed(2)} µs (${floor.op.slice('floor: '.length, floor.op.indexOf(' by V8'))}` +
            (legacyP50 === undefined ? ')' : `, allows ${(legacyP50 / floor.p50Us).toFixed(0)}×)`)
      const goal = o.goal !== undefined && s.name === 'native' ? `; goal ≥ ${o.goal}×${floorNote}` : adaptive
      bySide
        .get(s.name)!
        .push({ group: 'router', op: o.op, side: s.name, ...results[k], note: `median of ${ROUNDS} interleaved rounds${goal}` })
    })
  }
  return [...sides.flatMap((s) => bySide.get(s.name)!), ...floors, ...(await capacityRows(opts))]
}

/**
 * The adaptive strategy with its capacity features configured, on the routing-cache hit and
 * the 100 B miss: rpm/tpm on every model, a global budget, a `sessionId` per request (64
 * sessions in turn), and all three. Limits far above what a run sends, so every row measures
 * admission and reservation, never a rejection. Each row runs beside `strategy: "legacy"` and
 * the plain adaptive strategy on contexts without `sessionId`, in interleaved rounds.
 */
const CAPACITY_GOAL = 2
/** Routing-cache hits each side serves before the timed rounds. */
const HIT_WARMUP = 5000
const CAPACITY_CONFIGS: Array<{ label: string; quotas: boolean; budget: boolean; sessions: boolean }> = [
  { label: 'rpm/tpm set', quotas: true, budget: false, sessions: false },
  { label: 'a budget set', quotas: false, budget: true, sessions: false },
  { label: 'sessionId given', quotas: false, budget: false, sessions: true },
  { label: 'rpm/tpm + budget + sessionId', quotas: true, budget: true, sessions: true },
]

async function capacityRows(opts: { quick: boolean; only?: string }): Promise<Row[]> {
  const scale = opts.quick ? 0.1 : 1
  const rows: Row[] = []
  for (const path of ['cache hit', 'miss, 100 B'] as const) {
    for (const cfg of CAPACITY_CONFIGS) {
      const op = `selectOptimalModel, capacity, ${path}, ${cfg.label}`
      if (opts.only !== undefined && !op.includes(opts.only)) continue
      const plain = defaultModels()
      const limited = defaultModels()
      // far above what a run sends (a window's log holds 100 000 reservations per model)
      if (cfg.quotas) for (const m of limited.values()) Object.assign(m, { rpm: 1e9, tpm: 1e15 })
      const sides: Array<{ name: string; router: NativeRouter; models: Map<string, any>; capacity: boolean }> = [
        { name: 'native', router: new NativeRouter(), models: plain, capacity: false },
        { name: 'native (adaptive)', router: new NativeRouter({ strategy: 'adaptive', seed: 1 }), models: plain, capacity: false },
        {
          name: `native (adaptive, ${cfg.label})`,
          router: new NativeRouter({ strategy: 'adaptive', seed: 1 }),
          models: limited,
          capacity: true,
        },
      ]
      if (cfg.budget) sides[2].router.setBudget({ scope: 'global', limit: 1e12, windowMs: 3_600_000 })
      const n = path === 'cache hit' ? 50_000 : 20_000
      const iterations = Math.ceil((n * scale) / ROUNDS)
      const perSide = ROUNDS * (iterations + Math.max(100, Math.floor(iterations / 10)))
      const calls = await Promise.all(
        sides.map(async (s) => {
          // a literal of one shape, as ctx() is (a spread copy plus a field is slower to read in V8)
          const c = (t: string, i: number): any =>
            s.capacity && cfg.sessions
              ? { task: t, userTier: 'pro', priority: 'high', latencyRequirement: 2000, sessionId: `session-${i % 64}` }
              : ctx(t)
          if (path === 'cache hit') {
            const contexts = Array.from({ length: 64 }, (_, i) => c('Write a function to sort a list', i))
            for (const x of contexts) await s.router.selectOptimalModel(x, s.models)
            return (i: number) => s.router.selectOptimalModel(contexts[i % 64], s.models)
          }
          const tasks = flatTasks('keyword-dense', 100, perSide)
          const contexts = tasks.map((t, i) => c(t, i))
          let k = 0
          return () => s.router.selectOptimalModel(contexts[k++ % contexts.length], s.models)
        }),
      )
      // every side's hit path optimized before the first timed round (--quick's rounds are
      // short: a side timed first would otherwise run colder code than the others)
      if (path === 'cache hit') for (const call of calls) for (let i = 0; i < HIT_WARMUP; i++) await call(i)
      const batch = path === 'cache hit' ? 16 : undefined
      const results = await interleaved(
        calls.map((call) => () => measure(call, { iterations, batch })),
        ROUNDS,
      )
      const legacyP50 = results[0].p50Us
      sides.forEach((s, k) => {
        s.router.shutdown()
        const ratio = k === 0 ? '' : `; ${(results[k].p50Us / legacyP50).toFixed(2)}× the p50 of strategy "legacy"`
        const goal = s.capacity ? ` (goal ≤ ${CAPACITY_GOAL}×)` : ''
        rows.push({ group: 'router', op, side: s.name, ...results[k], note: `median of ${ROUNDS} interleaved rounds${ratio}${goal}` })
      })
    }
  }
  return rows
}

/** `node bench/dist/router-ops.js [--quick] [--only <text in the operation's name>]`: prints the rows. */
if (require.main === module) {
  const args = process.argv.slice(2)
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined
  run({ quick: args.includes('--quick'), only })
    .then((rows) => {
      const legacy = new Map(rows.filter((r) => r.side === 'legacy').map((r) => [r.op, r.p50Us]))
      console.log('| operation | side | p50 µs | p99 µs | legacy p50 / p50 | note |\n|---|---|---:|---:|---:|---|')
      for (const r of rows) {
        const l = legacy.get(r.op)
        const ratio = l !== undefined && r.side !== 'legacy' ? `${(l / r.p50Us).toFixed(1)}×` : ''
        console.log(`| ${r.op} | ${r.side} | ${r.p50Us.toFixed(2)} | ${r.p99Us.toFixed(2)} | ${ratio} | ${r.note ?? ''} |`)
      }
    })
    .catch((e) => {
      console.error(e)
      process.exit(1)
    })
}
