/**
 * Why the router walks the caller's `availableModels` Map on every call instead of wrapping
 * its `set`/`delete`/`clear` to keep a version counter (see `sameEntries` in
 * ts/router-model-set.ts). Both checks in one run, on the six default models: the version
 * read (what the wrappers allowed), the walk the router does (names and config identities),
 * and a walk that also compares every routing field; then a whole routing-cache hit through
 * the public API, which includes the walk, for scale.
 *
 * Run: `node bench/dist/map-watch.js` (after `npm run build`).
 */
import { ModelRouter } from 'model-router-native'

import { measure } from './measure'
import { defaultModels } from './router-ops'

type Config = { tier: string; latencyTarget: number; costPerToken: number; maxTokens: number; capabilities: string[] }
type Snap = Config & { name: string; ref: Config }

const VERSION = Symbol('version')

function fieldWalk(snap: Snap[], models: Map<string, Config>): boolean {
  if (models.size !== snap.length) return false
  let i = 0
  for (const name of models.keys()) if (snap[i++].name !== name) return false
  i = 0
  for (const c of models.values()) {
    const s = snap[i++]
    if (s.tier !== c.tier || s.latencyTarget !== c.latencyTarget || s.costPerToken !== c.costPerToken) return false
    if (s.maxTokens !== c.maxTokens || c.capabilities.length !== s.capabilities.length) return false
    for (let k = 0; k < c.capabilities.length; k++) if (c.capabilities[k] !== s.capabilities[k]) return false
  }
  return true
}

function identityWalk(snap: Snap[], models: Map<string, Config>): boolean {
  if (models.size !== snap.length) return false
  let i = 0
  for (const name of models.keys()) if (snap[i++].name !== name) return false
  i = 0
  for (const c of models.values()) if (snap[i++].ref !== c) return false
  return true
}

async function main(): Promise<void> {
  const models = defaultModels() as Map<string, Config> & { [VERSION]?: number }
  const snap: Snap[] = [...models].map(([name, c]) => ({ ...c, capabilities: [...c.capabilities], name, ref: c }))
  models[VERSION] = 0
  let sink = 0
  const n = 2_000_000
  const opts = { iterations: n, batch: 1000 }
  const rows: Array<[string, number]> = []
  for (let round = 0; round < 2; round++) {
    rows.push(['check: version read', (await measure(() => (sink += models[VERSION] === 0 ? 1 : 0), opts)).p50Us * 1000])
    rows.push(['check: walk, names + fields', (await measure(() => (sink += fieldWalk(snap, models) ? 1 : 0), opts)).p50Us * 1000])
    rows.push(['check: walk, names + identities', (await measure(() => (sink += identityWalk(snap, models) ? 1 : 0), opts)).p50Us * 1000])
  }
  const ctx = { task: 'Write a function that sorts a list', userTier: 'pro', priority: 'medium', latencyRequirement: 3000 }
  for (let round = 0; round < 2; round++) {
    for (const strategy of ['legacy', 'adaptive'] as const) {
      const map = defaultModels()
      const router = new ModelRouter({ strategy, seed: 1 })
      const r = await measure(() => router.selectOptimalModel(ctx as never, map), { iterations: 200_000, batch: 100 })
      rows.push([`${strategy}: a whole cache hit`, r.p50Us * 1000])
      router.shutdown()
    }
  }
  // the second round of each (the first warms the JIT up)
  const last = new Map(rows)
  for (const [op, ns] of last) console.log(`${op.padEnd(36)} ${ns.toFixed(1).padStart(8)} ns/call`)
  const walk = last.get('check: walk, names + identities')! - last.get('check: version read')!
  for (const s of ['legacy', 'adaptive']) {
    const hit = last.get(`${s}: a whole cache hit`)!
    console.log(
      `${s}: the walk instead of the version read adds ${walk.toFixed(0)} ns to a ${hit.toFixed(0)} ns hit (${((walk / (hit - walk)) * 100).toFixed(0)} %)`,
    )
  }
  if (sink < 0) console.log(sink)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
