/**
 * `npm run benchmark:compare` (both sides, ratios), `benchmark:baseline` (legacy ports only),
 * `benchmark:optimized` (native only). `--quick` runs a short version.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import type { Row } from './measure'

type Suite = { name: string; run: (o: { quick: boolean }) => Promise<Row[]> }

function loadSuites(): Suite[] {
  const suites: Suite[] = []
  for (const name of ['router-ops', 'cache-ops', 'monitor-ops']) {
    const file = path.join(__dirname, `${name}.js`)
    if (fs.existsSync(file)) suites.push({ name, run: require(file).run })
  }
  return suites
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3))

export function table(rows: Row[]): string {
  const lines = ['| group | operation | side | p50 µs | p99 µs | ops/s | p50 ratio (legacy/this) |', '|---|---|---|---:|---:|---:|---:|']
  for (const r of rows) {
    const legacy = rows.find((x) => x.group === r.group && x.op === r.op && x.side === 'legacy')
    const ratio = legacy && r.side !== 'legacy' ? `${(legacy.p50Us / r.p50Us).toFixed(1)}×` : ''
    lines.push(`| ${r.group} | ${r.op} | ${r.side} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${ratio} |`)
  }
  return lines.join('\n')
}

async function main() {
  const args = process.argv.slice(2)
  const side = args[args.indexOf('--side') + 1] ?? 'compare'
  const quick = args.includes('--quick')
  const started = Date.now()
  let rows: Row[] = []
  for (const suite of loadSuites()) {
    process.stderr.write(`… ${suite.name}${quick ? ' (quick)' : ''}\n`)
    rows.push(...(await suite.run({ quick })))
  }
  if (side === 'baseline') rows = rows.filter((r) => r.side !== 'native')
  if (side === 'optimized') rows = rows.filter((r) => r.side !== 'legacy')
  const machine = `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`
  const md = `# Benchmark (${side}${quick ? ', quick' : ''})\n\n${machine}; ${new Date().toISOString()}; ${((Date.now() - started) / 1000).toFixed(0)} s\n\n${table(rows)}\n`
  console.log(md)
  const dir = path.join(__dirname, '..', 'results')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, `${side}.md`), md)
  fs.writeFileSync(path.join(dir, `${side}.json`), JSON.stringify({ machine, side, quick, rows }, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
