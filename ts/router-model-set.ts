/**
 * The models last sent to Rust: a snapshot of the routing fields of the caller's
 * `availableModels` Map, and the watch on that Map that tells whether it changed since.
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
 * A version counter on the caller's Map, bumped by its `set`, `delete` and `clear`: the router
 * wraps those three methods on that Map instance (non-enumerable own properties that call the
 * originals), so "same Map, same version" proves that no entry was added, removed, replaced
 * or reordered without walking the Map (a walk costs more than the rest of a cache hit).
 * A Map that cannot take them (frozen, sealed) is walked on every call instead.
 */
export const MAP_VERSION = Symbol('model-router-native: Map version')

export type WatchedMap = Map<unknown, unknown> & { [MAP_VERSION]?: number }

export function watchMap(m: WatchedMap): boolean {
  if (Object.hasOwn(m, MAP_VERSION)) return true
  if (!Object.isExtensible(m)) return false
  const { set, delete: del, clear } = m
  const bump = (map: WatchedMap) => {
    if (map[MAP_VERSION] !== undefined) map[MAP_VERSION]++
  }
  const hidden = (value: unknown) => ({ value, writable: true, configurable: true, enumerable: false })
  Object.defineProperties(m, {
    [MAP_VERSION]: hidden(0),
    set: hidden(function (this: WatchedMap, k: unknown, v: unknown) {
      bump(this)
      return set.call(this, k, v)
    }),
    delete: hidden(function (this: WatchedMap, k: unknown) {
      bump(this)
      return del.call(this, k)
    }),
    clear: hidden(function (this: WatchedMap) {
      bump(this)
      return clear.call(this)
    }),
  })
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
