/**
 * The models last sent to Rust: a snapshot of the routing fields of the caller's
 * `availableModels` Map, and the checks that tell whether the Map changed since.
 */
import { typeError } from './errors'
import type { ModelConfig, Tier } from './router-types'
import { checkNumber, checkQuota, checkStrings, TIERS_TEXT, tierCode } from './router-validate'
import { wellFormed } from './strings'

/** What crosses into Rust: never `apiKey`, `endpoint`, `projectId` or `location`. */
export const SNAPSHOT_FIELDS = ['name', 'tier', 'capabilities', 'latencyTarget', 'costPerToken', 'maxTokens', 'rpm', 'tpm']

/** The routing fields of one model, as last sent to Rust. */
export interface ModelSnapshot {
  name: string
  tier: Tier
  /** Our copy, sent to Rust. */
  capabilities: string[]
  /** The caller's array and its contents when sent: a replaced or edited array is seen. */
  capabilitiesRef: string[]
  latencyTarget: number
  costPerToken: number
  maxTokens: number
  rpm: number | undefined
  tpm: number | undefined
  /** A quota is set: the memo's fast path never serves this model (Rust counts the quota). */
  limited: boolean
  /** The caller's config object, to notice it being edited in place. */
  ref: ModelConfig
}

/**
 * True when `models` holds the snapshot's names, in order, with the same config objects: no
 * entry was added, removed, replaced or reordered, by any means (no config field is read).
 *
 * A walk on every call, rather than wrapping `set`/`delete`/`clear` on the caller's Map to
 * keep a version counter: measured with `node bench/dist/map-watch.js` (six models), the
 * version read costs 6 ns and this walk 38 ns (a walk that also compares every field:
 * 81 ns); a whole routing-cache hit, ~195 ns (legacy strategy) to ~250 ns (adaptive) with
 * the walk, cost ~45 ns (~20%) less in CPU time with the wrappers (both builds side by side
 * in one process). The wrappers missed every edit made through `Map.prototype` directly
 * (`Map.prototype.delete.call(m, k)`: the router went on choosing the removed model) or
 * after the caller replaced `set` itself, and added own properties to the caller's object.
 * A hit stays ~15× cheaper than the legacy's (3.7 µs): 45 ns does not pay for a stale model.
 */
export function sameEntries(snap: ModelSnapshot[], models: Map<unknown, unknown>): boolean {
  if (models.size !== snap.length) return false
  // two plain iterators: `for (const [k, v] of map)` allocates an array per entry
  let i = 0
  for (const name of models.keys()) if (snap[i++].name !== name) return false
  i = 0
  for (const cfg of models.values()) if (snap[i++].ref !== cfg) return false
  return true
}

export function sameModel(s: ModelSnapshot, c: ModelConfig): boolean {
  if (s.tier !== c.tier || s.latencyTarget !== c.latencyTarget) return false
  if (s.costPerToken !== c.costPerToken || s.maxTokens !== c.maxTokens) return false
  if (s.rpm !== c.rpm || s.tpm !== c.tpm) return false
  const caps = c.capabilities
  if (caps !== s.capabilitiesRef || caps.length !== s.capabilities.length) return false
  for (let i = 0; i < caps.length; i++) if (caps[i] !== s.capabilities[i]) return false
  return true
}

/** True when `models` holds exactly the snapshot (names, order and routing fields). */
export function sameModels(snap: ModelSnapshot[], models: Map<unknown, ModelConfig>): boolean {
  // two plain iterators: `for (const [k, v] of map)` allocates an array per entry
  let i = 0
  for (const name of models.keys()) if (snap[i++].name !== name) return false
  i = 0
  for (const cfg of models.values()) {
    if (typeof cfg !== 'object' || cfg === null || !sameModel(snap[i++], cfg)) return false
  }
  return true
}

/** Copies only the routing fields: `apiKey`, `endpoint` and the like are never kept. */
export function snapshotModel(name: unknown, c: unknown): ModelSnapshot {
  if (typeof name !== 'string' || !wellFormed(name)) throw typeError('availableModels key', 'a well-formed string', name)
  const field = `availableModels.get(${JSON.stringify(name)})`
  if (typeof c !== 'object' || c === null) throw typeError(field, 'a ModelConfig object', c)
  const cfg = c as Record<string, unknown>
  const tier = cfg.tier
  if (typeof tier !== 'string' || tierCode(tier) === undefined) throw typeError(`${field}.tier`, TIERS_TEXT, tier)
  const capabilitiesRef = checkStrings(`${field}.capabilities`, cfg.capabilities)
  return {
    name,
    tier: tier as Tier,
    capabilities: capabilitiesRef.slice(),
    capabilitiesRef,
    latencyTarget: checkNumber(`${field}.latencyTarget`, cfg.latencyTarget, false),
    costPerToken: checkNumber(`${field}.costPerToken`, cfg.costPerToken, false),
    maxTokens: checkNumber(`${field}.maxTokens`, cfg.maxTokens, false),
    rpm: checkQuota(`${field}.rpm`, cfg.rpm),
    tpm: checkQuota(`${field}.tpm`, cfg.tpm),
    limited: cfg.rpm !== undefined || cfg.tpm !== undefined,
    ref: c as ModelConfig,
  }
}
