/**
 * `npm run benchmark:compare` (both sides in one process, with ratios), `benchmark:baseline`
 * (legacy ports only), `benchmark:optimized` (native only); `-- --quick` runs a short version.
 *
 * Runs the realistic workload (`./workload`) on each side and checks the roadmap's success
 * metrics, then the per-operation suites (`*-ops`). Writes `bench/results/<side>.md`, `.json`
 * and `<side>-routing.svg` (the routing-time distributions).
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'

import { cdfChart } from './chart'
import type { Row } from './measure'
import { runWorkload, type WorkloadResult, type WorkloadSide } from './workload'

type Suite = { name: string; run: (o: { quick: boolean }) => Promise<Row[]> }
type RunSide = 'compare' | 'baseline' | 'optimized'

function loadSuites(): Suite[] {
  const suites: Suite[] = []
  for (const name of ['router-ops', 'cache-ops', 'monitor-ops', 'rollout-ops']) {
    const file = path.join(__dirname, `${name}.js`)
    if (fs.existsSync(file)) suites.push({ name, run: require(file).run })
  }
  return suites
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3))

const ok = (x: number) => Number.isFinite(x) && x > 0

export function table(rows: Row[]): string {
  const lines = [
    '| group | operation | side | p50 µs | p99 µs | ops/s | p50 ratio (legacy/this) | note |',
    '|---|---|---|---:|---:|---:|---:|---|',
  ]
  for (const r of rows) {
    const legacy = rows.find((x) => x.group === r.group && x.op === r.op && x.side === 'legacy')
    const ratio = legacy && r.side !== 'legacy' && ok(legacy.p50Us) && ok(r.p50Us) ? `${(legacy.p50Us / r.p50Us).toFixed(1)}×` : ''
    const t = (x: number) => (ok(x) ? fmt(x) : '—')
    const ops = Number.isFinite(r.opsPerSec) ? Math.round(r.opsPerSec).toLocaleString('en-US') : '—'
    lines.push(`| ${r.group} | ${r.op} | ${r.side} | ${t(r.p50Us)} | ${t(r.p99Us)} | ${ops} | ${ratio} | ${r.note ?? ''} |`)
  }
  return lines.join('\n')
}

/** The roadmap's success metrics: [name, target text, value of a result, shown value, passes]. */
const TARGETS: Array<{
  name: string
  target: string
  get: (w: WorkloadResult) => number
  show: (v: number) => string
  pass: (v: number) => boolean
}> = [
  { name: 'average routing time', target: '< 75 ms', get: (w) => w.routing.avgMs, show: ms, pass: (v) => v < 75 },
  { name: 'p95 routing time', target: '< 100 ms', get: (w) => w.routing.p95Ms, show: ms, pass: (v) => v < 100 },
  { name: 'p99 routing time', target: '< 150 ms', get: (w) => w.routing.p99Ms, show: ms, pass: (v) => v < 150 },
  { name: 'cache hit rate', target: '> 70%', get: (w) => w.cacheHitRate, show: pct, pass: (v) => v > 0.7 },
  { name: 'error rate', target: '< 1%', get: (w) => w.errorRate, show: (v) => `${(v * 100).toFixed(3)}%`, pass: (v) => v < 0.01 },
]

function ms(v: number): string {
  return v >= 1 ? `${v.toFixed(2)} ms` : `${(v * 1000).toFixed(1)} µs`
}
function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`
}

export function successTable(results: WorkloadResult[]): string {
  const head = ['| success metric | target |', '|---|---|']
  for (const r of results) {
    head[0] += ` ${r.side} | |`
    head[1] += '---:|:---:|'
  }
  if (results.length === 2) {
    head[0] += ' legacy/native |'
    head[1] += '---:|'
  }
  const lines = [...head]
  for (const t of TARGETS) {
    let line = `| ${t.name} | ${t.target} |`
    for (const r of results) line += ` ${t.show(t.get(r))} | ${t.pass(t.get(r)) ? 'pass' : '**FAIL**'} |`
    if (results.length === 2) {
      const [a, b] = results.map(t.get)
      line += t.name.includes('routing') && b > 0 ? ` ${(a / b).toFixed(1)}× |` : ' |'
    }
    lines.push(line)
  }
  const extra: Array<[string, (w: WorkloadResult) => string]> = [
    ['throughput (requests/s)', (w) => Math.round(w.requestsPerSec).toLocaleString('en-US')],
    ['p50 routing time', (w) => ms(w.routing.p50Ms)],
    ['max routing time', (w) => ms(w.routing.maxMs)],
    ['event-loop delay p99 under load', (w) => ms(w.eventLoopDelayP99Ms)],
    ['peak RSS (growth during the run)', (w) => `${w.peakRssMiB.toFixed(0)} MiB (+${w.rssGrowthMiB.toFixed(0)})`],
    ['model-call errors (each retried once on the fallback model)', (w) => w.modelErrors.toLocaleString('en-US')],
    ['failed requests (model call and retry failed, or the pipeline threw)', (w) => w.failedRequests.toLocaleString('en-US')],
  ]
  for (const [name, f] of extra) {
    let line = `| ${name} | |`
    for (const r of results) line += ` ${f(r)} | |`
    if (results.length === 2) line += ' |'
    lines.push(line)
  }
  return lines.join('\n')
}

export function shadowTable(w: WorkloadResult): string {
  const s = w.shadow!
  const top = (t: Array<[string, number]>) => (t.length === 0 ? '—' : t.map(([k, n]) => `${k} (${n})`).join('; '))
  return [
    `${w.requests.toLocaleString('en-US')} requests through \`createModelRouter\`, \`createCacheManager\`, \`createPerformanceMonitor\` in mode "shadow" ` +
      `(every call runs on the legacy port and on native; the legacy answer is served).`,
    '',
    '| | router (same model) | cache (deep-equal value) |',
    '|---|---:|---:|',
    `| compared calls | ${s.router.compared.toLocaleString('en-US')} | ${s.cache.compared.toLocaleString('en-US')} |`,
    `| agreement | ${pct(s.router.rate)} | ${pct(s.cache.rate)} |`,
    `| native errors (never seen by the caller) | ${s.router.shadowErrors} | ${s.cache.shadowErrors} |`,
    `| most common disagreements, legacy → native (count among the last 1,000 logged) | ${top(s.router.top)} | ${top(s.cache.top)} |`,
    '',
    `Cost of shadowing, for the served caller: routing time avg ${ms(w.routing.avgMs)}, p99 ${ms(w.routing.p99Ms)}; ` +
      `${Math.round(w.requestsPerSec).toLocaleString('en-US')} requests/s.`,
  ].join('\n')
}

/** One status line on stderr, rewritten in place on a terminal, else printed now and then. */
function progress(label: string) {
  const tty = process.stderr.isTTY === true
  let lastShown = -1
  return (done: number, total: number) => {
    const share = Math.floor((done / total) * 100)
    if (tty) {
      process.stderr.write(`\r\x1b[K… ${label}: ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} requests (${share}%)`)
      if (done === total) process.stderr.write('\n')
    } else if (share >= lastShown + 25 || done === total) {
      lastShown = share
      process.stderr.write(`… ${label}: ${done}/${total} requests (${share}%)\n`)
    }
  }
}

async function main() {
  const args = process.argv.slice(2)
  const at = args.indexOf('--side')
  const side = (at >= 0 ? args[at + 1] : 'compare') as RunSide
  if (!['compare', 'baseline', 'optimized'].includes(side)) throw new Error(`--side must be compare, baseline or optimized, got ${side}`)
  const quick = args.includes('--quick')
  const started = Date.now()
  const sides: WorkloadSide[] = side === 'baseline' ? ['legacy'] : side === 'optimized' ? ['native'] : ['legacy', 'native']
  const requests = quick ? 4000 : 40_000

  // The machine's noise floor: the event-loop delay of an idle loop (on a shared machine it
  // includes the time the process waits for a core).
  const idle = monitorEventLoopDelay({ resolution: 1 })
  idle.enable()
  await new Promise((resolve) => setTimeout(resolve, quick ? 300 : 1000))
  idle.disable()
  const idleP99 = idle.percentile(99) / 1e6
  const load = os.loadavg()[0]

  const workload: WorkloadResult[] = []
  for (const s of sides) {
    workload.push(await runWorkload(s, { requests, progress: progress(`workload, ${s}`) }))
  }

  // Shadow mode on the same workload: how often the two sides agree, and what it costs.
  let shadow: WorkloadResult | null = null
  if (side === 'compare') {
    shadow = await runWorkload('shadow', { requests: quick ? 2000 : 10_000, progress: progress('workload, shadow mode') })
  }

  // Sections that return markdown of their own: the A/B rollout on the same workload, and the
  // routing fault simulator (virtual time; seconds of wall time).
  const sections: Array<[string, string]> = []
  if (side === 'compare') {
    for (const [title, file] of [
      ['A/B rollout on the same workload', 'ab-ops'],
      ['Resilience: routing under provider faults (fault simulator, virtual time)', 'resilience/main'],
      ['Fleet: the shared cache level on a local Redis', 'fleet'],
    ]) {
      if (!fs.existsSync(path.join(__dirname, `${file}.js`))) continue
      const t0 = Date.now()
      process.stderr.write(`… ${file}${quick ? ' (quick)' : ''}`)
      const section: string = await require(`./${file}`).run({ quick })
      process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
      sections.push([title, section])
    }
  }

  let rows: Row[] = []
  // The rollout wrappers run the native classes: nothing to show in a legacy-only run.
  for (const suite of loadSuites().filter((x) => side !== 'baseline' || x.name !== 'rollout-ops')) {
    const t0 = Date.now()
    process.stderr.write(`… ${suite.name}${quick ? ' (quick)' : ''}`)
    rows.push(...(await suite.run({ quick })))
    process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  }
  // baseline: the legacy ports and the peers (lru-cache, better-sqlite3), no native row
  if (side === 'baseline') rows = rows.filter((r) => !r.side.includes('native'))
  if (side === 'optimized') rows = rows.filter((r) => r.side !== 'legacy')

  const seconds = (Date.now() - started) / 1000
  const machine = `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${os.platform()} ${os.arch()}`
  const w0 = workload[0]
  const chartFile = `${side}-routing.svg`
  const md =
    `# Benchmark (${side}${quick ? ', quick' : ''})\n\n` +
    `${machine}; ${new Date().toISOString()}; ${seconds.toFixed(0)} s in all; load average ${load.toFixed(1)} at the start; ` +
    `event-loop delay p99 of the idle loop ${ms(idleP99)}\n\n` +
    `## Success metrics under the orchestrator workload\n\n` +
    `${w0.requests.toLocaleString('en-US')} requests per side, ${w0.concurrency} in flight, Zipf-distributed prompts (seeded), ` +
    `simulated model calls (latency drawn, not slept), the codebase's construction (\`maxMemorySize: 1000\`).\n\n` +
    `${successTable(workload)}\n\n![routing-time distributions](${chartFile})\n\n` +
    (shadow !== null ? `## Shadow mode on the same workload\n\n${shadowTable(shadow)}\n\n` : '') +
    // a section that brings its own heading keeps it
    sections
      .map(([title, body]) => (body.trimStart().startsWith('#') ? `${body.trim()}\n\n` : `## ${title}\n\n${body.trim()}\n\n`))
      .join('') +
    `## Per operation\n\n${table(rows)}\n`
  console.log(md)

  const dir = path.join(__dirname, '..', 'results')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, `${side}.md`), md)
  fs.writeFileSync(
    path.join(dir, `${side}.json`),
    JSON.stringify(
      {
        machine,
        side,
        quick,
        seconds,
        loadAverage: load,
        idleEventLoopDelayP99Ms: idleP99,
        workload: workload.map(({ routingSample, ...w }) => w),
        shadow: shadow === null ? null : (({ routingSample, ...w }) => w)(shadow),
        rows,
      },
      null,
      2,
    ),
  )
  const colors: Record<WorkloadSide, string> = { legacy: '#d9822b', native: '#2b6cd9', shadow: '#888888' }
  const svg = cdfChart(
    `Routing time per request, ${w0.requests.toLocaleString('en-US')} requests per side`,
    workload.map((w) => ({ label: `${w.side} (p99 ${ms(w.routing.p99Ms)})`, color: colors[w.side], valuesMs: w.routingSample })),
    [
      ['p95 target', 100],
      ['p99 target', 150],
      ['avg target', 75],
    ],
  )
  fs.writeFileSync(path.join(dir, chartFile), svg)
  process.stderr.write(`results: ${path.relative(process.cwd(), dir)}/${side}.{md,json} and ${chartFile}\n`)
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
