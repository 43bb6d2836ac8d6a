/**
 * `npm run benchmark:resilience`: the seeded fault simulator. Runs every scenario on every
 * side (legacy port, native `strategy: "legacy"`, native `"adaptive"`, the LiteLLM-rules
 * policy, the oracle) in virtual time and prints a table per scenario and the adaptive
 * strategy's goal checks; writes `bench/results/resilience.{md,json}` and the charts.
 *
 * Flags: `--quick` (half the arrival rate), `--scenario NAME` (repeatable or comma-separated;
 * the results files are written only for a run of every scenario), `--seed N`,
 * `--side NAME` (repeatable; the oracle always runs, the goals need it), `--rate N`
 * (requests per virtual second), `--probe-interval-ms N`.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import { CAPACITY_GOALS, goalCount, goals, goalTable, isCapacityScenario, RESILIENCE_GOALS, scenarioTable, timeChart } from './report'
import { SIDE_NAMES, unavailable, type SideName } from './sides'
import { DEFAULT_SIM, simulate, type SideRun, type SimOptions } from './sim'
import { scenarios, type Scenario } from './world'

export interface ResilienceOptions {
  quick?: boolean
  seed?: number
  scenarios?: string[]
  sides?: SideName[]
  ratePerSec?: number
  probeIntervalMs?: number
  /** Called after each side of each scenario. */
  progress?: (scenario: string, side: SideName, run: SideRun) => void
}

export interface ResilienceResult {
  options: SimOptions
  scenarios: Scenario[]
  runs: Map<string, SideRun[]>
  skipped: Map<SideName, string>
  wallMs: number
}

export async function simulateAll(o: ResilienceOptions = {}): Promise<ResilienceResult> {
  const wall0 = performance.now()
  const options: SimOptions = {
    ...DEFAULT_SIM,
    seed: o.seed ?? DEFAULT_SIM.seed,
    ratePerSec: o.ratePerSec ?? (o.quick ? DEFAULT_SIM.ratePerSec / 2 : DEFAULT_SIM.ratePerSec),
    probeIntervalMs: o.probeIntervalMs ?? DEFAULT_SIM.probeIntervalMs,
  }
  const all = scenarios(options.ratePerSec)
  for (const name of o.scenarios ?? []) {
    if (!all.some((s) => s.name === name))
      throw new RangeError(`--scenario must be one of ${all.map((s) => s.name).join(', ')}, got ${name}`)
  }
  const chosen = o.scenarios === undefined || o.scenarios.length === 0 ? all : all.filter((s) => o.scenarios!.includes(s.name))
  const wanted =
    o.sides === undefined || o.sides.length === 0 ? SIDE_NAMES : SIDE_NAMES.filter((s) => s === 'oracle' || o.sides!.includes(s))
  const skipped = new Map<SideName, string>()
  for (const s of wanted) {
    const why = unavailable(s)
    if (why !== null) skipped.set(s, why)
  }
  const runs = new Map<string, SideRun[]>()
  for (const scenario of chosen) {
    const list: SideRun[] = []
    for (const side of wanted) {
      if (skipped.has(side)) continue
      const r = await simulate(scenario, side, options)
      list.push(r)
      o.progress?.(scenario.name, side, r)
    }
    runs.set(scenario.name, list)
  }
  return { options, scenarios: chosen, runs, skipped, wallMs: performance.now() - wall0 }
}

export function markdown(res: ResilienceResult, heading = '##', charts: string[] = []): string {
  const o = res.options
  const parts = [
    `${heading} Resilience under faults (seeded simulation, virtual time)`,
    '',
    `Seed ${o.seed}; Poisson arrivals at ${o.ratePerSec}/s over 300 s of virtual time per scenario; six models; ` +
      `the codebase's loop (route → call → report, up to ${o.maxRetries} retries with \`retryCount\` and \`previousModel\`, ` +
      `deadline ${o.deadlineMs / 1000} s per request); probe interval ${o.probeIntervalMs / 1000} s; ` +
      `${(res.wallMs / 1000).toFixed(1)} s of wall time. Latencies are end to end over servable requests, a failed one counted at the deadline; ` +
      `success is over servable requests. See docs/resilience.md for the method.`,
    '',
  ]
  if (res.skipped.size > 0) {
    for (const [s, why] of res.skipped) parts.push(`**${s} skipped**: ${why}.`, '')
  }
  if (!res.skipped.has('adaptive') && [...res.runs.values()].some((l) => l.some((r) => r.side === 'adaptive'))) {
    const n = goalCount(res.scenarios, res.runs)
    parts.push(
      `${heading}# Goals of \`strategy: "adaptive"\``,
      '',
      `${n.passed} of ${n.applicable} applicable goals pass.`,
      '',
      goalTable(res.scenarios, res.runs, RESILIENCE_GOALS),
      '',
    )
    const capacity = res.scenarios.filter((s) => isCapacityScenario(s) || s.callerErrorShare > 0)
    if (capacity.length > 0) parts.push(`${heading}## Capacity`, '', goalTable(capacity, res.runs, CAPACITY_GOALS), '')
  }
  for (const s of res.scenarios) parts.push(scenarioTable(s, res.runs.get(s.name) ?? [], res.skipped), '')
  for (const c of charts) parts.push(`![${c}](${c})`, '')
  return parts.join('\n')
}

/** The section for `benchmark:compare`. */
export async function run(o: { quick: boolean }): Promise<string> {
  return markdown(await simulateAll({ quick: o.quick }), '##')
}

function parseArgs(argv: string[]): ResilienceOptions {
  const o: ResilienceOptions = { scenarios: [], sides: [] }
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v)
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new RangeError(`${flag} needs a number ≥ 0, got ${v}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') o.quick = true
    else if (a === '--scenario') o.scenarios!.push(...(argv[++i] ?? '').split(',').filter(Boolean))
    else if (a === '--side') {
      for (const s of (argv[++i] ?? '').split(',').filter(Boolean)) {
        if (!SIDE_NAMES.includes(s as SideName)) throw new RangeError(`--side must be one of ${SIDE_NAMES.join(', ')}, got ${s}`)
        o.sides!.push(s as SideName)
      }
    } else if (a === '--seed') o.seed = Math.floor(num(a, argv[++i]))
    else if (a === '--rate') o.ratePerSec = num(a, argv[++i])
    else if (a === '--probe-interval-ms') o.probeIntervalMs = num(a, argv[++i])
    else
      throw new RangeError(
        `unknown argument ${a} (flags: --quick, --scenario NAME, --side NAME, --seed N, --rate N, --probe-interval-ms N)`,
      )
  }
  return o
}

async function main() {
  const o = parseArgs(process.argv.slice(2))
  o.progress = (scenario, side, r) =>
    process.stderr.write(`… ${scenario}, ${side}: ${r.requests} requests, ${(r.wallMs / 1000).toFixed(2)} s\n`)
  const res = await simulateAll(o)
  const full = res.scenarios.length === scenarios().length && (o.sides?.length ?? 0) === 0
  const chartNames = full ? ['outage', 'brownout'].map((s) => `resilience-${s}.svg`) : []
  const md = `# Fault simulator${o.quick ? ' (quick)' : ''}\n\n${new Date().toISOString()}\n\n${markdown(res, '##', chartNames)}`
  console.log(md)
  if (!full) {
    process.stderr.write('results not written: a run of some scenarios or sides only\n')
    return
  }
  const dir = path.join(__dirname, '..', '..', 'results')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'resilience.md'), md)
  const json = {
    options: res.options,
    wallMs: res.wallMs,
    skipped: Object.fromEntries(res.skipped),
    scenarios: res.scenarios.map((s) => ({
      ...s,
      runs: res.runs.get(s.name),
      goals: goals(s, res.runs.get(s.name) ?? []),
    })),
  }
  fs.writeFileSync(path.join(dir, 'resilience.json'), JSON.stringify(json, null, 2))
  for (const name of ['outage', 'brownout']) {
    const s = res.scenarios.find((x) => x.name === name)!
    fs.writeFileSync(path.join(dir, `resilience-${name}.svg`), timeChart(s, res.runs.get(name)!))
  }
  process.stderr.write(
    `results: ${path.relative(process.cwd(), dir)}/resilience.{md,json}, resilience-outage.svg, resilience-brownout.svg\n`,
  )
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
