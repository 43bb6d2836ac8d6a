/**
 * A hand-written SVG chart (no dependency): the cumulative distribution of routing times,
 * one line per side, on a logarithmic time axis — so a 30 µs side and a 3 ms side both
 * show their shape, and the p95/p99 targets appear as vertical lines where they fit.
 */

export interface Series {
  label: string
  color: string
  /** Sorted ascending, in ms. */
  valuesMs: number[]
}

const W = 760
const H = 420
const M = { left: 64, right: 24, top: 40, bottom: 56 }

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function fmtMs(ms: number): string {
  if (ms >= 1000) return `${+(ms / 1000).toPrecision(3)} s`
  if (ms >= 1) return `${+ms.toPrecision(3)} ms`
  return `${+(ms * 1000).toPrecision(3)} µs`
}

export function cdfChart(title: string, series: Series[], markersMs: Array<[string, number]> = []): string {
  const all = series.flatMap((s) => s.valuesMs).filter((v) => v > 0)
  all.push(...markersMs.map(([, v]) => v))
  let min = Infinity
  let max = 1e-3
  for (const v of all) {
    if (v < min) min = v
    if (v > max) max = v
  }
  const lo = 10 ** Math.floor(Math.log10(Math.min(min, 1e-3)))
  const hi = 10 ** Math.ceil(Math.log10(max * 1.01))
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const x = (ms: number) => M.left + ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * pw
  const y = (q: number) => M.top + (1 - q) * ph
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  )
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`)
  // grid: decades on x, quartiles on y
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    out.push(`<line x1="${x(d).toFixed(1)}" y1="${M.top}" x2="${x(d).toFixed(1)}" y2="${M.top + ph}" stroke="#ddd"/>`)
    out.push(`<text x="${x(d).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle">${fmtMs(d)}</text>`)
  }
  for (const q of [0, 0.25, 0.5, 0.75, 0.95, 0.99, 1]) {
    out.push(
      `<line x1="${M.left}" y1="${y(q).toFixed(1)}" x2="${M.left + pw}" y2="${y(q).toFixed(1)}" stroke="${q === 0.95 || q === 0.99 ? '#eee' : '#ddd'}"/>`,
    )
    out.push(
      `<text x="${M.left - 6}" y="${(y(q) + 4).toFixed(1)}" text-anchor="end">${q === 0.95 || q === 0.99 ? `p${q * 100}` : `${q * 100}%`}</text>`,
    )
  }
  markersMs.forEach(([label, ms], k) => {
    out.push(
      `<line x1="${x(ms).toFixed(1)}" y1="${M.top}" x2="${x(ms).toFixed(1)}" y2="${M.top + ph}" stroke="#c00" stroke-dasharray="4 3"/>`,
    )
    out.push(`<text x="${(x(ms) - 4).toFixed(1)}" y="${M.top + 14 + k * 14}" text-anchor="end" fill="#c00">${esc(label)}</text>`)
  })
  series.forEach((s, k) => {
    const n = s.valuesMs.length
    if (n === 0) return
    // at most ~1000 points: the curve is drawn at this resolution anyway
    const step = Math.max(1, Math.floor(n / 1000))
    const pts: string[] = []
    for (let i = 0; i < n; i += step) pts.push(`${x(s.valuesMs[i]).toFixed(1)},${y((i + 1) / n).toFixed(1)}`)
    pts.push(`${x(s.valuesMs[n - 1]).toFixed(1)},${y(1).toFixed(1)}`)
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"/>`)
    const ly = M.top + ph - 14 - k * 18
    out.push(`<line x1="${M.left + pw - 170}" y1="${ly}" x2="${M.left + pw - 146}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`)
    out.push(`<text x="${M.left + pw - 140}" y="${ly + 4}">${esc(s.label)}</text>`)
  })
  out.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">routing time per request (log scale)</text>`)
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">share of requests ≤ x</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
