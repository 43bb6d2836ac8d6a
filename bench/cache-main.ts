/**
 * Runs the cache benchmark and prints a table:
 * `node bench/dist/cache-main.js [--quick] [--only=small,wal,...] [--rounds=N]` (sections:
 * sets, wal, small, memory, disk, rss; N interleaved rounds per operation, default 5).
 */
import { run } from './cache-ops'

async function main() {
  const quick = process.argv.includes('--quick')
  const only = process.argv
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',')
  const rounds = process.argv.find((a) => a.startsWith('--rounds='))
  const rows = await run({ quick, only, rounds: rounds ? Number(rounds.slice('--rounds='.length)) : undefined })
  const legacyP50 = new Map(rows.filter((r) => r.side === 'legacy').map((r) => [r.op, r]))
  const fmt = (n: number) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(2)) : '-')
  console.log(`| op | side | p50 µs | p99 µs | ops/s | legacy p50 / p50 | legacy ops/s ratio | note |`)
  console.log(`|---|---|---:|---:|---:|---:|---:|---|`)
  for (const r of rows) {
    const l = legacyP50.get(r.op)
    const speedup = l && r.p50Us > 0 ? `${(l.p50Us / r.p50Us).toFixed(1)}×` : ''
    const thr = l && l.opsPerSec > 0 ? `${(r.opsPerSec / l.opsPerSec).toFixed(1)}×` : ''
    console.log(
      `| ${r.op} | ${r.side} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${speedup} | ${thr} | ${r.note ?? ''} |`,
    )
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
