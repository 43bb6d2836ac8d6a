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

/** The goals of the adaptive strategy, checked on one scenario's runs. Empty when the adaptive side did not run. */
export function goals(scenario: Scenario, runs: SideRun[]): GoalCheck[] {
  const by = (s: SideName) => runs.find((r) => r.side === s)
  const a = by('adaptive')
  const oracle = by('oracle')
  if (a === undefined) return []
  const out: GoalCheck[] = []
  if (oracle !== undefined) {
    const reaches = oracle.successRate >= 0.999
    out.push({
      goal: 'success ≥ 99.9% where the oracle reaches it',
      pass: reaches ? a.successRate >= 0.999 : null,
      detail: `${pct(a.successRate)} (oracle ${pct(oracle.successRate)})`,
    })
    out.push({
      goal: 'p99 ≤ 1.25× the oracle’s',
      pass: a.p99Ms <= 1.25 * oracle.p99Ms,
      detail: `${sec(a.p99Ms)} = ${(a.p99Ms / oracle.p99Ms).toFixed(2)}× (oracle ${sec(oracle.p99Ms)})`,
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
    out.push({
      goal: `not behind ${other} on success and p99`,
      pass: a.successRate >= r.successRate && a.p99Ms <= r.p99Ms,
      detail: `success ${pct(a.successRate)} vs ${pct(r.successRate)}, p99 ${sec(a.p99Ms)} vs ${sec(r.p99Ms)}`,
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
  return lines.join('\n')
}

/** One row per scenario, one column per goal: pass / FAIL / n/a. */
export function goalTable(scenarios: Scenario[], runsByScenario: Map<string, SideRun[]>): string {
  const cols = [
    'success ≥ 99.9% where the oracle reaches it',
    'p99 ≤ 1.25× the oracle’s',
    '≤ 1 attempt per probe interval inside an outage or a Retry-After',
    'no ejection of a healthy model (caller errors included)',
    'steady state: cost and p50 within 5% of `strategy: "legacy"`',
    'not behind litellm-rules on success and p99',
    'not behind legacy-port on success and p99',
    'not behind native-legacy on success and p99',
  ]
  const short = [
    'success ≥ 99.9%',
    'p99 ≤ 1.25× oracle',
    '≤ 1 per probe interval',
    '0 healthy ejections',
    'steady ±5% cost, p50',
    '≥ litellm-rules',
    '≥ legacy-port',
    '≥ native-legacy',
  ]
  const lines = [`| scenario | ${short.join(' | ')} |`, `|---|${short.map(() => ':---:').join('|')}|`]
  for (const s of scenarios) {
    const g = goals(s, runsByScenario.get(s.name) ?? [])
    const cells = cols.map((c) => {
      const x = g.find((y) => y.goal === c)
      return x === undefined ? 'n/a' : `${mark(x.pass)}<br>${x.detail}`
    })
    lines.push(`| ${s.name} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
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
