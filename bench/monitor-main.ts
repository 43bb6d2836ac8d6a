/**
 * Runs the monitor benchmark and prints its rows:
 * `node bench/dist/monitor-main.js [--quick] [--record-only]`.
 */
import { run } from './monitor-ops'

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick')
  const rows = await run({ quick, recordOnly: process.argv.includes('--record-only') })
  const legacy = new Map(rows.filter((r) => r.side === 'legacy').map((r) => [r.op, r]))
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3))
  console.log('| operation | side | p50 µs | p99 µs | ops/s | native/legacy ops/s | legacy/native p50 | note |')
  console.log('|---|---|---:|---:|---:|---:|---:|---|')
  for (const r of rows) {
    const l = legacy.get(r.op)
    const vs = r.side !== 'legacy' && l !== undefined
    console.log(
      `| ${r.op} | ${r.side} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ` +
        `${vs ? (r.opsPerSec / l.opsPerSec).toFixed(1) + '×' : ''} | ${vs ? (l.p50Us / r.p50Us).toFixed(1) + '×' : ''} | ${r.note ?? ''} |`,
    )
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
