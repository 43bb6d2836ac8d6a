/**
 * The fault simulator's output: the per-scenario tables, the adaptive router's goal checks
 * and the charts of success and p99 over virtual time.
 */
import type { SideName } from './sides'
import type { SideRun } from './sim'
import type { Scenario } from './world'

export interface GoalCheck {
  goal: string
  /** true pass, false FAIL, null not applicable. */
  pass: boolean | null
  detail: string
}

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(x >= 0.9995 && x < 1 ? 3 : 2)}%` : '—')
const sec = (ms: number) => (Number.isFinite(ms) ? (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`) : '—')
const usd = (x: number) => (Number.isFinite(x) ? `$${(x * 1000).toFixed(3)}` : '—')
const dollars = (x: number) => `$${x.toFixed(4)}`
const int = (x: number) => Math.round(x).toLocaleString('en-US')

/**
 * The quota overshoot of a run: the most requests and tokens its busiest 60 s window sent to
 * a model beyond that model's `rpm` and `tpm` (≤ 0: never over), over the models with a
 * quota; null for a kind of quota no model has.
 */
export function quotaOvershoot(r: SideRun): { requests: number | null; tokens: number | null } {
  let requests: number | null = null
  let tokens: number | null = null
  for (const p of r.quotaPeaks ?? []) {
    if (p.rpm !== undefined) requests = Math.max(requests ?? -Infinity, p.requests - p.rpm)
    if (p.tpm !== undefined) tokens = Math.max(tokens ?? -Infinity, p.tokens - p.tpm)
  }
  return { requests, tokens }
}

/** Does the scenario send prompts too long for some model's window? */
const hasLongPrompts = (s: Scenario) => (s.oversizedShare ?? 0) > 0 || s.callerErrorShare > 0

/** A capacity scenario: quotas, a budget, long prompts or conversations. */
export const isCapacityScenario = (s: Scenario) =>
  (s.quotas ?? []).length > 0 || s.budget !== undefined || (s.oversizedShare ?? 0) > 0 || s.conversations !== undefined

/** The goal names, in table order, with their short column titles. */
export const RESILIENCE_GOALS: Array<[string, string]> = [
  ['success ≥ 99.9% where the oracle reaches it', 'success ≥ 99.9%'],
  ['p99 ≤ 1.25× the oracle’s', 'p99 ≤ 1.25× oracle'],
  ['≤ 1 attempt per probe interval inside an outage or a Retry-After', '≤ 1 per probe interval'],
  ['no ejection of a healthy model (caller errors included)', '0 healthy ejections'],
  ['steady state: cost and p50 within 5% of `strategy: "legacy"`', 'steady ±5% cost, p50'],
  ['not behind litellm-rules on success and p99', '≥ litellm-rules'],
  ['not behind legacy-port on success and p99', '≥ legacy-port'],
  ['not behind native-legacy on success and p99', '≥ native-legacy'],
]
export const CAPACITY_GOALS: Array<[string, string]> = [
  ['no quota overshoot (requests and tokens in any 60 s window)', '0 quota overshoot'],
  ['no overspend beyond the reservations’ shortfall', '0 overspend'],
  ['no attempt to a too-small context window', '0 too-small windows'],
  ['affinity kept ≥ 95% while the model is healthy', 'affinity ≥ 95%'],
  ['conversations: cost per success below `strategy: "legacy"`', 'cost < native-legacy'],
]

/** The goals of the adaptive strategy, checked on one scenario's runs. Empty when the adaptive side did not run. */
export function goals(scenario: Scenario, runs: SideRun[]): GoalCheck[] {
  const by = (s: SideName) => runs.find((r) => r.side === s)
  const a = by('adaptive')
  const oracle = by('oracle')
  if (a === undefined) return []
  const out: GoalCheck[] = []
  // under a budget the router refuses what the limit does not cover, by design; the other
  // sides (and the oracle) spend past it: success and latency are not comparable
  const capped = scenario.budget !== undefined
  const cappedDetail = (d: string) => `${d}; a budget refuses requests by design`
  if (oracle !== undefined) {
    const reaches = oracle.successRate >= 0.999
    const detail = `${pct(a.successRate)} (oracle ${pct(oracle.successRate)})`
    out.push({
      goal: 'success ≥ 99.9% where the oracle reaches it',
      pass: capped ? null : reaches ? a.successRate >= 0.999 : null,
      detail: capped ? cappedDetail(detail) : detail,
    })
    const p99 = `${sec(a.p99Ms)} = ${(a.p99Ms / oracle.p99Ms).toFixed(2)}× (oracle ${sec(oracle.p99Ms)})`
    out.push({
      goal: 'p99 ≤ 1.25× the oracle’s',
      pass: capped ? null : a.p99Ms <= 1.25 * oracle.p99Ms,
      detail: capped ? cappedDetail(p99) : p99,
    })
  }
  out.push({
    goal: '≤ 1 attempt per probe interval inside an outage or a Retry-After',
    pass: a.maxPerProbeInterval === null ? null : a.maxPerProbeInterval <= 1,
    detail: a.maxPerProbeInterval === null ? 'no outage or Retry-After' : `max ${a.maxPerProbeInterval}`,
  })
  out.push({
    goal: 'no ejection of a healthy model (caller errors included)',
    pass: a.healthyEjections === 0,
    detail: `${a.healthyEjections}`,
  })
  const legacy = by('native-legacy')
  if (scenario.name === 'steady' && legacy !== undefined) {
    const c = a.costPerSuccess / legacy.costPerSuccess
    const p = a.p50Ms / legacy.p50Ms
    out.push({
      goal: 'steady state: cost and p50 within 5% of `strategy: "legacy"`',
      pass: Math.abs(c - 1) <= 0.05 && Math.abs(p - 1) <= 0.05,
      detail: `cost ${c.toFixed(3)}×, p50 ${p.toFixed(3)}×`,
    })
  }
  for (const other of ['litellm-rules', 'legacy-port', 'native-legacy'] as SideName[]) {
    const r = by(other)
    if (r === undefined) continue
    const detail = `success ${pct(a.successRate)} vs ${pct(r.successRate)}, p99 ${sec(a.p99Ms)} vs ${sec(r.p99Ms)}`
    out.push({
      goal: `not behind ${other} on success and p99`,
      pass: capped ? null : a.successRate >= r.successRate && a.p99Ms <= r.p99Ms,
      detail: capped ? cappedDetail(detail) : detail,
    })
  }
  out.push(...capacityGoals(scenario, a, legacy))
  return out
}

/** The capacity goals that apply to the scenario (none for a scenario without quotas, budget, long prompts or sessions). */
function capacityGoals(scenario: Scenario, a: SideRun, legacy: SideRun | undefined): GoalCheck[] {
  const out: GoalCheck[] = []
  if ((a.quotaPeaks ?? []).length > 0) {
    const o = quotaOvershoot(a)
    const peaks = a.quotaPeaks
      .map(
        (p) =>
          `${p.model}: ${[
            p.rpm !== undefined ? `${int(p.requests)} of rpm ${int(p.rpm)}` : '',
            p.tpm !== undefined ? `${int(p.tokens)} of tpm ${int(p.tpm)}` : '',
          ]
            .filter(Boolean)
            .join(', ')}`,
      )
      .join('; ')
    out.push({
      goal: CAPACITY_GOALS[0][0],
      pass: (o.requests ?? 0) <= 0 && (o.tokens ?? 0) <= 0,
      detail: `busiest 60 s: ${peaks}`,
    })
  }
  if (a.budget !== null && a.budget !== undefined) {
    const b = a.budget
    out.push({
      goal: CAPACITY_GOALS[1][0],
      // a float sum of costs: a cent's millionth is rounding, not spend
      pass: b.beyondReservations <= 1e-9,
      detail: `peak ${dollars(b.peakSpend)} of ${dollars(b.limit)} per ${b.windowMs / 1000} s, overspend ${dollars(b.overspend)}`,
    })
  }
  if (hasLongPrompts(scenario)) {
    out.push({ goal: CAPACITY_GOALS[2][0], pass: a.tooSmallWindow === 0, detail: `${int(a.tooSmallWindow)}` })
  }
  if (a.affinity !== null && a.affinity !== undefined) {
    out.push({
      goal: CAPACITY_GOALS[3][0],
      pass: a.affinity.share >= 0.95,
      detail: `${pct(a.affinity.share)} of ${int(a.affinity.followUps)} follow-ups`,
    })
  }
  if (scenario.conversations !== undefined && legacy !== undefined) {
    out.push({
      goal: CAPACITY_GOALS[4][0],
      pass: a.costPerSuccess < legacy.costPerSuccess,
      detail: `${usd(a.costPerSuccess)} vs ${usd(legacy.costPerSuccess)} per 1k = ${(a.costPerSuccess / legacy.costPerSuccess).toFixed(3)}×`,
    })
  }
  return out
}

const mark = (p: boolean | null) => (p === null ? 'n/a' : p ? 'pass' : '**FAIL**')

export function scenarioTable(scenario: Scenario, runs: SideRun[], skipped: Map<SideName, string>): string {
  const g = goals(scenario, runs)
  const lines = [
    `### ${scenario.name}: ${scenario.description}`,
    '',
    `${runs[0]?.requests.toLocaleString('en-US') ?? 0} requests (${runs[0]?.servable.toLocaleString('en-US') ?? 0} servable), identical arrivals and fault script on every side.`,
    '',
    '| side | success | p50 | p99 | p99.9 | cost per 1k successes | attempts | to a faulted model | max per probe interval | 429s | healthy ejections | goals |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ]
  for (const r of runs) {
    const passed = g.filter((x) => x.pass === true).length
    const applicable = g.filter((x) => x.pass !== null).length
    const goalCell = r.side === 'adaptive' && applicable > 0 ? `${passed}/${applicable} pass` : ''
    lines.push(
      `| ${r.side} | ${pct(r.successRate)} | ${sec(r.p50Ms)} | ${sec(r.p99Ms)} | ${sec(r.p999Ms)} | ${usd(r.costPerSuccess)} | ` +
        `${r.attempts.toLocaleString('en-US')} | ${r.faultedAttempts.toLocaleString('en-US')} | ${r.maxPerProbeInterval ?? '—'} | ` +
        `${r.rateLimited.toLocaleString('en-US')} | ${r.healthyEjections ?? '—'} | ${goalCell} |`,
    )
  }
  for (const s of skipped.keys()) lines.push(`| ${s} | skipped (see above) | | | | | | | | | | |`)
  if (isCapacityScenario(scenario)) lines.push('', capacityTable(scenario, runs))
  return lines.join('\n')
}

/** The capacity figures of a scenario's runs: quotas, budget, context windows, affinity. */
export function capacityTable(scenario: Scenario, runs: SideRun[]): string {
  const lines = [
    '| side | success | refused | cost per 1k successes | busiest 60 s to a model with a quota | quota overshoot | peak spend per window | overspend | to a too-small window | affinity kept | input from prompt cache |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of runs) {
    const o = quotaOvershoot(r)
    const peaks =
      r.quotaPeaks.length === 0
        ? '—'
        : r.quotaPeaks
            .map((p) =>
              [p.rpm !== undefined ? `${int(p.requests)} req` : '', p.tpm !== undefined ? `${int(p.tokens)} tok` : '']
                .filter(Boolean)
                .join(', '),
            )
            .join('; ')
    const over =
      r.quotaPeaks.length === 0
        ? '—'
        : [o.requests !== null ? `${int(Math.max(0, o.requests))} req` : '', o.tokens !== null ? `${int(Math.max(0, o.tokens))} tok` : '']
            .filter(Boolean)
            .join(', ')
    const b = r.budget
    lines.push(
      `| ${r.side} | ${pct(r.successRate)} | ${int(r.refused)} | ${usd(r.costPerSuccess)} | ${peaks} | ${over} | ` +
        `${b === null ? '—' : `${dollars(b.peakSpend)} (${(b.peakSpend / b.limit).toFixed(2)}× the limit)`} | ${b === null ? '—' : dollars(b.overspend)} | ` +
        `${hasLongPrompts(scenario) ? int(r.tooSmallWindow) : '—'} | ${r.affinity === null ? '—' : pct(r.affinity.share)} | ` +
        `${scenario.conversations === undefined ? '—' : pct(r.cachedInputShare)} |`,
    )
  }
  return lines.join('\n')
}

/** One row per scenario, one column per goal of `columns`: pass / FAIL / n/a. */
export function goalTable(
  scenarios: Scenario[],
  runsByScenario: Map<string, SideRun[]>,
  columns: Array<[string, string]> = RESILIENCE_GOALS,
): string {
  const lines = [`| scenario | ${columns.map(([, t]) => t).join(' | ')} |`, `|---|${columns.map(() => ':---:').join('|')}|`]
  for (const s of scenarios) {
    const g = goals(s, runsByScenario.get(s.name) ?? [])
    const cells = columns.map(([c]) => {
      const x = g.find((y) => y.goal === c)
      return x === undefined ? 'n/a' : `${mark(x.pass)}<br>${x.detail}`
    })
    lines.push(`| ${s.name} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

/** Passed and applicable goals over every scenario. */
export function goalCount(scenarios: Scenario[], runsByScenario: Map<string, SideRun[]>): { passed: number; applicable: number } {
  let passed = 0
  let applicable = 0
  for (const s of scenarios) {
    for (const g of goals(s, runsByScenario.get(s.name) ?? [])) {
      if (g.pass !== null) applicable++
      if (g.pass === true) passed++
    }
  }
  return { passed, applicable }
}

// ---------------------------------------------------------------- chart

export const SIDE_COLORS: Record<SideName, string> = {
  'legacy-port': '#d9822b',
  'native-legacy': '#b8a200',
  adaptive: '#2b6cd9',
  'litellm-rules': '#9b3fc4',
  oracle: '#2a9d4b',
}

const W = 820
const PANEL_H = 230
const M = { left: 70, right: 170, top: 44, gap: 48, bottom: 44 }
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * Two stacked panels over virtual time, one line per side: the success rate of the requests
 * arriving in each bucket (top), and their p99 end-to-end latency (bottom, log scale). The
 * scenario's fault window is shaded.
 */
export function timeChart(scenario: Scenario, runs: SideRun[]): string {
  const H = M.top + 2 * PANEL_H + M.gap + M.bottom
  const pw = W - M.left - M.right
  const x = (ms: number) => M.left + (ms / scenario.durationMs) * pw
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  )
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  out.push(
    `<text x="${M.left + pw / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(`${scenario.name}: ${scenario.description}`)}</text>`,
  )

  const minSuccess = Math.min(1, ...runs.flatMap((r) => r.series.map(([, s]) => s)).filter(Number.isFinite))
  const sLo = [0.9, 0.8, 0.5, 0].find((c) => c <= minSuccess)!
  const p99s = runs.flatMap((r) => r.series.map(([, , p]) => p)).filter((v) => Number.isFinite(v) && v > 0)
  const pLo = 10 ** Math.floor(Math.log10(Math.min(...p99s, 1000)))
  const pHi = 10 ** Math.ceil(Math.log10(Math.max(...p99s, 1000) * 1.01))

  const panels: Array<{
    top: number
    label: string
    y: (v: number) => number
    ticks: Array<[number, string]>
    pick: (p: [number, number, number]) => number
  }> = [
    {
      top: M.top,
      label: 'success rate (servable requests arriving in the bucket)',
      y: (v) => M.top + (1 - (v - sLo) / (1 - sLo)) * PANEL_H,
      ticks: [0, 0.2, 0.4, 0.6, 0.8, 1].map((q) => sLo + q * (1 - sLo)).map((v) => [v, `${(v * 100).toFixed(0)}%`]),
      pick: (p) => p[1],
    },
    {
      top: M.top + PANEL_H + M.gap,
      label: 'p99 end-to-end latency (log scale)',
      y: (v) => M.top + PANEL_H + M.gap + (1 - (Math.log10(v) - Math.log10(pLo)) / (Math.log10(pHi) - Math.log10(pLo))) * PANEL_H,
      ticks: (() => {
        const t: Array<[number, string]> = []
        for (let d = pLo; d <= pHi * 1.0001; d *= 10) t.push([d, d >= 1000 ? `${d / 1000} s` : `${d} ms`])
        return t
      })(),
      pick: (p) => p[2],
    },
  ]
  const fault = scenario.chartWindow
  for (const p of panels) {
    if (fault !== undefined) {
      out.push(
        `<rect x="${x(fault[0]).toFixed(1)}" y="${p.top}" width="${(x(fault[1]) - x(fault[0])).toFixed(1)}" height="${PANEL_H}" fill="#fbe3e3"/>`,
      )
    }
    for (const [v, label] of p.ticks) {
      out.push(`<line x1="${M.left}" y1="${p.y(v).toFixed(1)}" x2="${M.left + pw}" y2="${p.y(v).toFixed(1)}" stroke="#ddd"/>`)
      out.push(`<text x="${M.left - 6}" y="${(p.y(v) + 4).toFixed(1)}" text-anchor="end">${label}</text>`)
    }
    for (let t = 0; t <= scenario.durationMs; t += 60_000) {
      out.push(`<line x1="${x(t).toFixed(1)}" y1="${p.top}" x2="${x(t).toFixed(1)}" y2="${p.top + PANEL_H}" stroke="#eee"/>`)
      out.push(`<text x="${x(t).toFixed(1)}" y="${p.top + PANEL_H + 16}" text-anchor="middle">${t / 1000} s</text>`)
    }
    out.push(`<text x="${M.left}" y="${p.top - 6}">${esc(p.label)}</text>`)
    // the adaptive side last, so that it is drawn over the others
    for (const r of [...runs].sort((a, b) => Number(a.side === 'adaptive') - Number(b.side === 'adaptive'))) {
      const pts: string[] = []
      for (const s of r.series) {
        const v = p.pick(s)
        if (!Number.isFinite(v) || v <= 0) continue
        pts.push(`${x(s[0] + scenario.durationMs / r.series.length / 2).toFixed(1)},${p.y(v).toFixed(1)}`)
      }
      out.push(
        `<polyline fill="none" stroke="${SIDE_COLORS[r.side]}" stroke-width="${r.side === 'adaptive' ? 2.5 : 1.5}" points="${pts.join(' ')}"/>`,
      )
    }
  }
  runs.forEach((r, k) => {
    const ly = M.top + 10 + k * 18
    out.push(
      `<line x1="${M.left + pw + 14}" y1="${ly}" x2="${M.left + pw + 38}" y2="${ly}" stroke="${SIDE_COLORS[r.side]}" stroke-width="3"/>`,
    )
    out.push(`<text x="${M.left + pw + 44}" y="${ly + 4}">${esc(r.side)}</text>`)
  })
  if (fault !== undefined) {
    out.push(`<rect x="${M.left + pw + 14}" y="${M.top + 10 + runs.length * 18 - 6}" width="24" height="12" fill="#fbe3e3"/>`)
    out.push(`<text x="${M.left + pw + 44}" y="${M.top + 10 + runs.length * 18 + 4}">fault window</text>`)
  }
  out.push(`<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">virtual time (requests bucketed by arrival)</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
