/**
 * The commit split (`GroupCommit.join` in ts/cache-group-commit.ts) on and off, side by side in one
 * process: two native caches, one with the split disabled, and the legacy port; sets of a
 * 1 KB JSON object to file databases with N in flight. Run: `node bench/dist/commit-split.js [N]`.
 */
import { CacheManager } from 'model-router-native'
import { response, tmpDb } from './cache-ops'
import { CacheManager as LegacyCacheManager } from 'model-router-legacy-ports'
import { interleaved, measureInFlight } from './measure'

// the cache benchmark's 1 KB values and database files
const values = Array.from({ length: 64 }, (_, i) => response(i))

async function main(): Promise<void> {
  const inFlight = Number(process.argv[2] ?? 64)
  const legacy = new LegacyCacheManager({ dbPath: tmpDb('legacy') })
  const split = new CacheManager({ dbPath: tmpDb('split') })
  const oneCommit = new CacheManager({ dbPath: tmpDb('one-commit') })
  // disables the split: the split point stays infinite (a private field, benchmark only)
  Object.defineProperty((oneCommit as unknown as { commits: object }).commits, 'splitAt', { get: () => Infinity, set: () => undefined })
  const next = [0, 0, 0]
  const sides = [legacy, split, oneCommit]
  const [l, s, o] = await interleaved(
    sides.map((c, k) => () => measureInFlight(() => c.set(`f${next[k]}`, values[next[k]++ & 63], 3600), inFlight, 6000)),
    7,
  )
  console.log(`${inFlight} sets in flight, sets/s (median of 7 interleaved rounds):`)
  console.log(`  split ${s.opsPerSec.toFixed(0)}  one commit per tick ${o.opsPerSec.toFixed(0)}  legacy ${l.opsPerSec.toFixed(0)}`)
  console.log(`  split / legacy ${(s.opsPerSec / l.opsPerSec).toFixed(2)}x  one commit / legacy ${(o.opsPerSec / l.opsPerSec).toFixed(2)}x`)
  for (const c of sides) c.shutdown()
}

void main()
