/**
 * `ModelRouter`: the drop-in replacement for the legacy router. The decision logic lives in
 * Rust (`crates/router-core`); this class owns the events and the boundary tricks:
 *
 * - the caller's `availableModels` Map is compared field by field with the last snapshot
 *   sent to Rust (cheap) and re-sent only when it changed, so the same Map costs nothing
 *   to cross while a mutated or new Map is still seen;
 * - a key memo (task, latency, tier, priority, … → routing-cache entry, its model and how
 *   long it stays fresh) answers a repeated context without crossing the boundary; the hit
 *   is logged and replayed into Rust in batches (LRU order, access counts, hit rate, the
 *   routing-time window) before anything reads or changes the cache. The memo is dropped
 *   whenever models, availability or the cache's contents change under it;
 * - decisions come back as numbers in a `Float64Array`, and payloads of events are built
 *   only when someone listens;
 * - outcomes (`recordPerformance`, `reportOutcome`) are buffered in a second `Float64Array`
 *   and applied by the next routing call; a failure, or an outcome of a model that is not
 *   healthy, is applied at once so `model_health_changed` fires promptly.
 *
 * Under `strategy: "adaptive"` the memo holds the routing-cache entry (the legacy's ranked
 * candidates), never a model: a memo hit asks Rust for the live pick with the entry's id.
 */
import { EventEmitter } from 'node:events'
// the module's `performance`, not the global one: the global is a lazy getter (~30 ns a read)
import { performance } from 'node:perf_hooks'

import { codedError, fromNative, rangeError, typeError } from './errors'
import { native } from './native'
import {
  AdaptiveDecision,
  adaptiveReason,
  checkAdaptiveOptions,
  encodeOutcome,
  SERVER_FAILURE_CODE,
  toHealthChange,
  toModelHealth,
  type AdaptiveOptions,
  type EncodedOutcome,
  type ModelHealth,
  type Outcome,
} from './router-adaptive'
import { wellFormed } from './strings'

export type Tier = 'free' | 'pro' | 'enterprise'
export type Priority = 'low' | 'medium' | 'high' | 'critical'

export interface ModelConfig {
  name: string
  endpoint?: string
  apiKey?: string
  projectId?: string
  location?: string
  tier: Tier
  capabilities: string[]
  latencyTarget: number
  costPerToken: number
  maxTokens: number
}

export interface RoutingContext {
  task: string
  userTier: Tier
  priority: Priority
  latencyRequirement: number
  tokenBudget?: number
  capabilities?: string[]
  previousModel?: string
  retryCount?: number
}

export interface RoutingDecision {
  modelName: string
  confidence: number
  reason: string
  /** Milliseconds spent deciding (float). */
  routingTime: number
  fromCache: boolean
}

export interface RoutingRule {
  id: string
  name: string
  condition: (context: RoutingContext) => boolean
  modelPreference: string[]
  weight: number
  active: boolean
}

export interface ModelPerformance {
  modelName: string
  avgLatency: number
  successRate: number
  avgCost: number
  lastUsed: Date
  usageCount: number
  errorCount: number
  complexityScore: number
  tokenEfficiency: number
}

export interface RoutingPerformance {
  averageTime: number
  p95Time: number
  cacheHitRate: number
  targetMet: boolean
}

export interface RouterStats {
  performance: RoutingPerformance
  cache: { size: number; hitRate: number; limit: number }
  availability: { total: number; available: number; unavailable: number }
  models: Array<{ name: string; performance: ModelPerformance }>
}

export interface ModelRouterOptions extends AdaptiveOptions {
  /**
   * `"legacy"` (default): the legacy algorithm. `"rules"`: rules → five-factor score →
   * load-balanced pick. `"adaptive"`: the legacy's candidates, then a live pick on reported
   * outcomes (health, Peak-EWMA latency, calls in flight); see docs/router.md.
   */
  strategy?: 'legacy' | 'rules' | 'adaptive'
  /** `"strict"` (default): no decision names a model above the user's tier. `"legacy"`: the legacy fallbacks. */
  tierPolicy?: 'strict' | 'legacy'
  /** Makes every random choice (load balancing) reproducible. */
  seed?: number
  /** Routing-cache entries (default 1000). */
  cacheSize?: number
  /** Routing-cache time to live in ms, from the write (default 300000). */
  cacheTtlMs?: number
}

/** Status codes and the `out` layout of the binding (see `src/router.rs`). */
const NO_MODELS = -1
const NO_ELIGIBLE_MODEL = -2
const KIND_CACHE_HIT = 0
const KIND_SCORED = 1
const KIND_BALANCED = 2
const KIND_NO_CANDIDATES = 3
const KIND_ADAPTIVE = 4
const NO_HEALTHY_MODEL = -3
const ENTRY_GONE = -4
const FLAG_METRICS_DUE = 1
const FLAG_SLOW = 2
const FLAG_EVICTED = 4
const FLAG_FROM_CACHE = 8
/** `out` slots beyond the decision (see `src/router.rs`). */
const OUT_LEN = 17
const OUT_DECISION_ID = 9
const OUT_PICK = 10
const OUT_UNTIL = 11
const OUT_EVENTS = 12
const OUT_NOW = 13
const OUT_PREVIOUS = 14
const OUT_RETRY = 15
const OUT_OUTCOMES = 16
/** Numbers per buffered outcome (see `OUTCOME_LEN` in `src/router.rs`). */
const OUTCOME_LEN = 11
/** Numbers per replayed memo hit (see `REPLAY_LEN` in `src/router.rs`). */
const REPLAY_LEN = 5
/** `live` layout (see `sync_live` in `src/router.rs`): next decision id, earliest change, then 2 per name id. */
const LIVE_NEXT_ID = 0
const LIVE_NEXT_CHANGE = 1
const LIVE_HEAD = 2
const STATE_HEALTHY = 0
const PREFERRED_REASON = 'Adaptive: best-ranked healthy model'
const DEFAULT_SLOW_FACTOR = 2
/** Memo hits logged before a replay into Rust. */
const REPLAY_LOG_SIZE = 256
/** Outcomes (`recordPerformance`, `reportOutcome`) buffered before they are sent to Rust. */
const PERF_LOG_SIZE = 256
/** Distinct model names the outcome buffer keeps ids for. */
const PERF_NAMES_LIMIT = 4096
const ROUTING_TARGET_MS = 75

/** Tasks longer than this skip the key memo (its keys would hold the text twice). */
const MEMO_MAX_TASK_LENGTH = 4096
const TIMER_MS = 30_000
/** The legacy purged expired routing-cache entries every 5 minutes: every 10th tick. */
const PURGE_EVERY_TICKS = 10
/** Distinct latency requirements remembered per task by the key memo. */
const MEMO_LATENCIES_PER_TASK = 4
/**
 * The key memo's bounds, whatever `cacheSize` is: it only speeds up repeated requests (a
 * request it does not hold goes to Rust's routing cache), so it holds at most this many
 * keys and this many characters of key text (~8 MiB), plus ~1.6 KB of slots per task.
 */
const MEMO_MAX_KEYS = 4096
const MEMO_MAX_CHARS = 4 * 1024 * 1024

/** Tier and priority codes; comparisons, not a table (a tier named "toString" is unknown). */
function tierCode(t: string): number | undefined {
  return t === 'pro' ? 1 : t === 'free' ? 0 : t === 'enterprise' ? 2 : undefined
}
function priorityCode(p: string): number | undefined {
  return p === 'medium' ? 1 : p === 'high' ? 2 : p === 'low' ? 0 : p === 'critical' ? 3 : undefined
}
const TIERS_TEXT = '"free", "pro" or "enterprise"'
const PRIORITIES_TEXT = '"low", "medium", "high" or "critical"'

const DEFAULT_RULE_IDS = new Set([
  'critical-tasks',
  'enterprise-tier',
  'low-latency',
  'code-tasks',
  'large-context',
  'free-tier',
  'deep-reasoning',
])
const DEFAULT_RULES: Array<Omit<RoutingRule, 'condition'>> = [
  { id: 'critical-tasks', name: 'Critical Tasks', modelPreference: ['gemini-2.5-deep-think', 'gemini-2.5-pro', 'gemini-pro-vertex', 'gemini-2.0-flash-thinking'], weight: 10, active: true },
  { id: 'enterprise-tier', name: 'Enterprise Tier', modelPreference: ['gemini-2.5-deep-think', 'gemini-2.5-pro', 'gemini-pro-vertex', 'gemini-2.0-flash-thinking'], weight: 8, active: true },
  { id: 'low-latency', name: 'Low Latency', modelPreference: ['gemini-2.5-flash', 'gemini-2.0-flash', 'gemini-2.0-flash-thinking'], weight: 7, active: true },
  { id: 'code-tasks', name: 'Code Tasks', modelPreference: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.0-flash-thinking', 'gemini-2.0-flash'], weight: 6, active: true },
  { id: 'large-context', name: 'Large Context', modelPreference: ['gemini-2.5-deep-think', 'gemini-2.5-pro', 'gemini-pro-vertex'], weight: 5, active: true },
  { id: 'free-tier', name: 'Free Tier', modelPreference: ['gemini-2.0-flash', 'gemini-2.5-flash'], weight: 3, active: true },
  { id: 'deep-reasoning', name: 'Deep Reasoning', modelPreference: ['gemini-2.5-deep-think', 'gemini-2.5-pro'], weight: 9, active: true },
]

/** A context checked and encoded for the binding. */
interface Checked {
  task: string
  tier: number
  priority: number
  latency: number
  budget: number // NaN when absent
  capabilitiesJson: string | null
}

function checkNumber(field: string, v: unknown, optional: boolean): number {
  if (typeof v === 'number' && v >= 0 && v < Infinity) return v // the common case, first
  if (v === undefined && optional) return NaN
  if (typeof v !== 'number') throw typeError(field, 'a number', v)
  if (!Number.isFinite(v) || v < 0) throw rangeError(field, 'a finite number ≥ 0', v)
  return v
}

function checkStrings(field: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw typeError(field, 'an array of strings', v)
  // the field's name is built only for an error (this runs per routed context)
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string' || !wellFormed(v[i])) throw typeError(`${field}[${i}]`, 'a well-formed string', v[i])
  }
  return v as string[]
}

/** A string Rust can hold exactly (no lone surrogate), or a `TypeError` naming `field`. */
function checkString(field: string, v: unknown): string {
  if (typeof v !== 'string' || !wellFormed(v)) throw typeError(field, 'a well-formed string', v)
  return v
}

function checkContext(c: unknown): Checked {
  if (typeof c !== 'object' || c === null) throw typeError('context', 'an object', c)
  const ctx = c as Record<string, unknown>
  const task = ctx.task
  if (typeof task !== 'string') throw typeError('context.task', 'a string', task)
  const userTier = ctx.userTier
  const tier = typeof userTier === 'string' ? tierCode(userTier) : undefined
  if (tier === undefined) throw typeError('context.userTier', TIERS_TEXT, userTier)
  const prio = ctx.priority
  const priority = typeof prio === 'string' ? priorityCode(prio) : undefined
  if (priority === undefined) throw typeError('context.priority', PRIORITIES_TEXT, prio)
  const latency = checkNumber('context.latencyRequirement', ctx.latencyRequirement, false)
  const budget = checkNumber('context.tokenBudget', ctx.tokenBudget, true)
  const caps = ctx.capabilities
  const capabilitiesJson = caps === undefined ? null : JSON.stringify(checkStrings('context.capabilities', caps))
  return { task, tier, priority, latency, budget, capabilitiesJson }
}

/** What crosses into Rust: never `apiKey`, `endpoint`, `projectId` or `location`. */
const SNAPSHOT_FIELDS = ['name', 'tier', 'capabilities', 'latencyTarget', 'costPerToken', 'maxTokens']

/** The routing fields of one model, as last sent to Rust. */
interface ModelSnapshot {
  name: string
  tier: Tier
  /** Our copy, sent to Rust. */
  capabilities: string[]
  /** The caller's array and its contents when sent: a replaced or edited array is seen. */
  capabilitiesRef: string[]
  latencyTarget: number
  costPerToken: number
  maxTokens: number
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
const MAP_VERSION = Symbol('model-router-native: Map version')

type WatchedMap = Map<unknown, unknown> & { [MAP_VERSION]?: number }

function watchMap(m: WatchedMap): boolean {
  if (Object.prototype.hasOwnProperty.call(m, MAP_VERSION)) return true
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

function sameModel(s: ModelSnapshot, c: ModelConfig): boolean {
  if (s.tier !== c.tier || s.latencyTarget !== c.latencyTarget) return false
  if (s.costPerToken !== c.costPerToken || s.maxTokens !== c.maxTokens) return false
  const caps = c.capabilities
  if (caps !== s.capabilitiesRef || caps.length !== s.capabilities.length) return false
  for (let i = 0; i < caps.length; i++) if (caps[i] !== s.capabilities[i]) return false
  return true
}

/** True when `models` holds exactly the snapshot (names, order and routing fields). */
function sameModels(snap: ModelSnapshot[], models: Map<unknown, ModelConfig>): boolean {
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
function snapshotModel(name: unknown, c: unknown): ModelSnapshot {
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
    ref: c as ModelConfig,
  }
}

function checkOptions(o: unknown): ModelRouterOptions {
  if (o === undefined) return {}
  if (typeof o !== 'object' || o === null) throw typeError('options', 'an object', o)
  const opts = o as Record<string, unknown>
  const out: ModelRouterOptions = {}
  if (opts.strategy !== undefined) {
    if (opts.strategy !== 'legacy' && opts.strategy !== 'rules' && opts.strategy !== 'adaptive') {
      throw typeError('options.strategy', '"legacy", "rules" or "adaptive"', opts.strategy)
    }
    out.strategy = opts.strategy
  }
  if (opts.tierPolicy !== undefined) {
    if (opts.tierPolicy !== 'strict' && opts.tierPolicy !== 'legacy') throw typeError('options.tierPolicy', '"strict" or "legacy"', opts.tierPolicy)
    out.tierPolicy = opts.tierPolicy
  }
  if (opts.seed !== undefined) {
    if (typeof opts.seed !== 'number') throw typeError('options.seed', 'a number', opts.seed)
    if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) throw rangeError('options.seed', 'a safe integer ≥ 0', opts.seed)
    out.seed = opts.seed
  }
  if (opts.cacheSize !== undefined) {
    if (typeof opts.cacheSize !== 'number') throw typeError('options.cacheSize', 'a number', opts.cacheSize)
    if (!Number.isInteger(opts.cacheSize) || opts.cacheSize < 1 || opts.cacheSize > 1_000_000) {
      throw rangeError('options.cacheSize', 'an integer from 1 to 1000000', opts.cacheSize)
    }
    out.cacheSize = opts.cacheSize
  }
  if (opts.cacheTtlMs !== undefined) out.cacheTtlMs = checkNumber('options.cacheTtlMs', opts.cacheTtlMs, false)
  // the clock stays here; the rest goes to Rust with the JSON
  const clock = checkAdaptiveOptions(opts, out as Record<string, unknown>)
  if (clock !== undefined) out.clock = clock
  return out
}

/** The clock's reading, checked: a bad clock would corrupt every cooldown and TTL. */
function readClock(clock: () => number): number {
  const t = clock()
  if (typeof t !== 'number' || !Number.isFinite(t)) throw typeError('options.clock()', 'a finite number of milliseconds', t)
  return t
}

/** A performance record with the legacy's keys in the legacy's order (JSON output matches). */
function toPerformance(p: Record<string, unknown>): ModelPerformance {
  const r = p as unknown as ModelPerformance
  return {
    modelName: r.modelName,
    avgLatency: r.avgLatency,
    successRate: r.successRate,
    avgCost: r.avgCost,
    lastUsed: new Date(p.lastUsed as number),
    usageCount: r.usageCount,
    errorCount: r.errorCount,
    complexityScore: r.complexityScore,
    tokenEfficiency: r.tokenEfficiency,
  }
}

type Handle = ReturnType<typeof native.routerCreate>

export class ModelRouter extends EventEmitter {
  readonly #h: Handle
  /** Timer ticks so far (the purge runs every PURGE_EVERY_TICKS). */
  #ticks = 0
  readonly #strategy: 'legacy' | 'rules' | 'adaptive'
  readonly #adaptive: boolean
  readonly #clock: (() => number) | undefined
  readonly #out = new Float64Array(OUT_LEN)
  /**
   * task → latency → for each (tier, priority) slot: [entry id, model index, fresh until
   * (performance.now() ms), memo generation]. An entry counts only while its generation is
   * the current one: bumping `#memoGeneration` forgets the whole memo in O(1).
   */
  readonly #memo = new Map<string, Map<number, number[]>>()
  /** The same for contexts with a budget, capabilities or custom rules: flat key → [id, model index, fresh until, generation]. */
  readonly #memoLong = new Map<string, number[]>()
  #memoGeneration = 0
  readonly #memoLimit: number
  /** Characters of key text the memo holds (bounded by MEMO_MAX_CHARS). */
  #memoChars = 0
  /** Memo hits not yet replayed into Rust (REPLAY_LEN numbers each). */
  readonly #log = new Float64Array(REPLAY_LEN * REPLAY_LOG_SIZE)
  #logLen = 0
  /** Routing times recorded so far (memo hits included): the legacy's window-length cue. */
  #samples = 0
  /** Outcomes not yet sent to Rust (see PERF_LOG_SIZE and OUTCOME_LEN). */
  readonly #perfLog = new Float64Array(OUTCOME_LEN * PERF_LOG_SIZE)
  #perfLen = 0
  readonly #perfNames = new Map<string, number>()
  /** Resets of the name table so far: decisions tagged before one report by model name. */
  #namesGeneration = 0
  /** Models whose last announced health is not "healthy" (a mirror of Rust's state). */
  readonly #unhealthy = new Set<string>()
  /** Model name → index in `#models` (previousModel of a retry context). */
  #modelIndex = new Map<string, number>()
  /**
   * Adaptive: Rust's live state as the memo needs it (health and latency estimate by name id,
   * the next decision id, the earliest time-driven change), and the ranked candidates of
   * memoized routing-cache entries as [name id, model index] pairs.
   */
  readonly #live = new Float64Array(LIVE_HEAD + 2 * PERF_NAMES_LIMIT)
  readonly #ranked = new Map<number, number[]>()
  readonly #slowFactor: number
  readonly #encoded: EncodedOutcome = { latency: 0, classCode: 0, success: 0, cost: 0, output: NaN, total: NaN, retryAfter: NaN, ok: true }
  #models: ModelSnapshot[] = []
  /** The Map the snapshot came from (watched: see MAP_VERSION) and its version then. */
  #lastMap: WatchedMap | undefined
  #lastMapVersion: number | undefined
  readonly #rules = new Map<string, RoutingRule>()
  #customRules = 0
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(options?: ModelRouterOptions) {
    super()
    const opts = checkOptions(options)
    this.#strategy = opts.strategy ?? 'legacy'
    this.#adaptive = this.#strategy === 'adaptive'
    this.#clock = opts.clock
    this.#slowFactor = opts.slowFactor ?? DEFAULT_SLOW_FACTOR
    this.#memoLimit = Math.min(opts.cacheSize ?? 1000, MEMO_MAX_KEYS)
    try {
      this.#h = native.routerCreate(JSON.stringify(opts), this.#out, this.#perfLog, this.#live)
    } catch (e) {
      throw fromNative(e)
    }
    for (const rule of DEFAULT_RULES) {
      const id = rule.id
      this.#rules.set(id, { ...rule, modelPreference: [...rule.modelPreference], condition: BUILTIN_CONDITIONS.get(id)! })
    }
    // The legacy's 30 s metrics and 5 min purge timers, as one unref'd timer that holds the
    // router only weakly: it never keeps the process, or a dropped router, alive.
    const self = new WeakRef(this)
    const timer: NodeJS.Timeout = setInterval(() => {
      const router = self.deref()
      if (router === undefined) clearInterval(timer)
      else router.#tick()
    }, TIMER_MS)
    timer.unref()
    this.#timer = timer
  }

  #tick(): void {
    if (this.#closed) return
    this.#flush()
    const now = this.#now()
    // the legacy's purge timer: every 5 minutes (every PURGE_EVERY_TICKS ticks)
    if (++this.#ticks % PURGE_EVERY_TICKS === 0) native.routerPurgeExpired(this.#h, now)
    // cooldowns that ended without traffic are announced
    if (native.routerRefreshHealth(this.#h, now) > 0) this.#drainHealth()
    // A throwing listener throws from the timer, as in the legacy (and any Node timer):
    // the router's state is already settled above.
    if (this.listenerCount('performance_metrics') > 0) this.emit('performance_metrics', this.#metricsPayload())
  }

  #open(): void {
    if (this.#closed) throw codedError('ERR_SHUT_DOWN', 'ModelRouter has been shut down')
  }

  /** The router's clock (ms, monotonic): the injected one, else `performance.now()`. */
  #now(): number {
    return this.#clock === undefined ? performance.now() : readClock(this.#clock)
  }

  /** Takes the health events Rust holds, updates the mirror and emits them. */
  #drainHealth(): void {
    const events = JSON.parse(native.routerTakeHealthEvents(this.#h)) as Array<Record<string, unknown>>
    const listening = hasListeners(this, 'model_health_changed')
    for (const e of events) {
      const name = e.modelName as string
      if (e.to === 'healthy') this.#unhealthy.delete(name)
      else this.#unhealthy.add(name)
    }
    if (listening) for (const e of events) this.emit('model_health_changed', toHealthChange(e))
  }

  /** The id Rust knows `name` by in the outcome buffer (registered once per name). */
  #nameId(name: string): number {
    let id = this.#perfNames.get(name)
    if (id === undefined) {
      if (this.#perfNames.size >= PERF_NAMES_LIMIT) {
        this.#flush()
        native.routerResetNames(this.#h)
        this.#perfNames.clear()
        this.#ranked.clear() // it holds name ids
        this.#namesGeneration++
      }
      id = native.routerRegisterName(this.#h, name)
      this.#perfNames.set(name, id)
    }
    return id
  }

  /** Sends the Map to Rust when it differs from the last snapshot. */
  #syncModels(models: unknown): void {
    if (this.#sameMap(models)) this.#syncEdits()
    else this.#syncMap(models)
  }

  /** The Map the snapshot came from, with no entry added, removed or replaced since. */
  #sameMap(models: unknown): boolean {
    return models === this.#lastMap && models !== undefined && (models as WatchedMap)[MAP_VERSION] === this.#lastMapVersion
  }

  /** Same entries in the same order: only in-place edits of the configs remain to check. */
  #syncEdits(): void {
    if (this.#lastMap === undefined) return // an unwatchable Map was compared in full just now
    const snap = this.#models
    for (let i = 0; i < snap.length; i++) {
      if (!sameModel(snap[i], snap[i].ref)) {
        this.#resend(this.#lastMap as WatchedMap)
        return
      }
    }
  }

  #syncMap(models: unknown): void {
    if (!(models instanceof Map)) throw typeError('availableModels', 'a Map', models)
    const snap = this.#models
    if (models.size === snap.length && sameModels(snap, models as Map<unknown, ModelConfig>)) {
      // equal, but possibly other objects (a config replaced by a copy): watch these from
      // now on, or an in-place edit of the new object would go unseen
      let i = 0
      for (const cfg of (models as Map<unknown, ModelConfig>).values()) snap[i++].ref = cfg
      this.#watch(models as WatchedMap)
    } else {
      this.#resend(models as WatchedMap)
    }
  }

  #resend(models: WatchedMap): void {
    const next: ModelSnapshot[] = []
    for (const [name, cfg] of models as Map<unknown, unknown>) next.push(snapshotModel(name, cfg))
    native.routerSetModels(this.#h, JSON.stringify(next, SNAPSHOT_FIELDS))
    this.#models = next
    this.#modelIndex = new Map(next.map((m, i) => [m.name, i]))
    // new configs end auth ejections
    if (this.#unhealthy.size > 0) this.#drainHealth()
    this.#forgetMemo()
    this.#watch(models)
  }

  #watch(m: WatchedMap): void {
    if (watchMap(m)) {
      this.#lastMap = m
      this.#lastMapVersion = m[MAP_VERSION]
    } else {
      this.#lastMap = undefined
    }
  }

  /**
   * Sends what the layer buffered — memo hits to replay, `recordPerformance` outcomes — to
   * Rust; runs before anything reads router state or routes in full.
   */
  #flush(): void {
    if (this.#logLen > 0) {
      native.routerReplayHits(this.#h, this.#log, this.#logLen)
      this.#logLen = 0
    }
    if (this.#perfLen > 0) {
      const n = this.#perfLen
      this.#perfLen = 0
      if (native.routerRecordOutcomes(this.#h, n) > 0) this.#drainHealth()
    }
  }

  /** Outdates every memo entry (a generation bump: their slots are reused as keys repeat). */
  #forgetMemo(): void {
    this.#memoGeneration++
    this.#ranked.clear()
  }

  /** Frees the memo (its key text reached MEMO_MAX_CHARS). */
  #clearMemo(): void {
    this.#forgetMemo()
    this.#memo.clear()
    this.#memoLong.clear()
    this.#memoChars = 0
  }

  #matchedCustomRules(context: RoutingContext): string | null {
    if (this.#strategy !== 'rules' || this.#customRules === 0) return null
    const ids: string[] = []
    for (const rule of this.#rules.values()) {
      if (rule.active && !isBuiltin(rule) && rule.condition(context)) ids.push(rule.id)
    }
    return JSON.stringify(ids)
  }

  #metricsPayload() {
    this.#flush()
    const o = this.#out
    native.routerRoutingPerformance(this.#h)
    return { averageRoutingTime: o[0], maxRoutingTime: o[1], p95RoutingTime: o[2], targetMet: o[2] < ROUTING_TARGET_MS, cacheHitRate: o[4] }
  }

  #fallbackName(tier: number, what: string): string {
    const i = native.routerTierFallback(this.#h, tier)
    if (i === NO_MODELS) throw codedError('ERR_NO_MODELS', 'No models available')
    if (i === NO_ELIGIBLE_MODEL) throw codedError('ERR_NO_ELIGIBLE_MODEL', `No model of the user's tier is available (${what})`)
    return this.#models[i].name
  }

  async selectOptimalModel(context: RoutingContext, availableModels: Map<string, ModelConfig>): Promise<RoutingDecision> {
    return this.#select(context, availableModels)
  }

  #select(context: RoutingContext, availableModels: Map<string, ModelConfig>): RoutingDecision {
    this.#open()
    const c = checkContext(context)
    // A memo hit reads no config (the legacy's cache hit does not either), so in-place edits
    // of the configs are looked for only on the way to Rust: a third of a hit's time.
    const sameMap = this.#sameMap(availableModels)
    if (!sameMap) this.#syncMap(availableModels)
    if (this.#models.length === 0) throw codedError('ERR_NO_MODELS', 'No models available')
    let customJson: string | null
    try {
      customJson = this.#matchedCustomRules(context)
    } catch (e) {
      return this.#emergency(c, e, 0)
    }
    const out = this.#out
    const h = this.#h
    const adaptive = this.#adaptive
    if (adaptive) this.#writeRetry(context)
    const now = this.#clock === undefined ? performance.now() : readClock(this.#clock)
    // Key memo (see the header): the task first, by its cached hash, then latency and slot.
    // Contexts with a budget, capabilities or custom rules use one flat string key (the task
    // last, so no task text can imitate the other fields).
    const memoable = c.task.length <= MEMO_MAX_TASK_LENGTH
    const short = c.budget !== c.budget && c.capabilitiesJson === null && customJson === null
    const slot = c.tier * 4 + c.priority
    const longKey =
      memoable && !short ? `${c.latency}\0${slot}\0${c.budget}\0${c.capabilitiesJson}\0${customJson}\0${c.task}` : ''
    // an empty memo cannot hit: skip hashing the task and reading the clock (one-off
    // requests never fill it)
    if (memoable && (short ? this.#memo.size : this.#memoLong.size) !== 0) {
      const start = this.#clock === undefined ? now : performance.now()
      const m = short ? this.#memo.get(c.task)?.get(c.latency) : this.#memoLong.get(longKey)
      const at = short ? slot * 4 : 0
      if (m !== undefined && m[at + 2] > now && m[at + 3] === this.#memoGeneration) {
        if (adaptive) {
          // the live pick reads every candidate's tier: an edited one goes the full way
          if (this.#tiersUnchanged()) {
            const d = this.#adaptiveMemoHit(c, context, m[at], now, start)
            if (d !== undefined) return d
          }
        } else {
          // a cached decision is served only while its model is eligible: the one config field
          // that decides it, the tier, is checked here (an edit goes the full way, to Rust)
          const model = this.#models[m[at + 1]]
          if (model.ref.tier === model.tier) return this.#memoHit(c, m[at], model.name, start)
        }
      }
    }
    if (sameMap) this.#syncEdits()
    if (this.#logLen > 0) {
      native.routerReplayHits(h, this.#log, this.#logLen)
      this.#logLen = 0
    }
    // buffered outcomes are applied by the routing call itself
    out[OUT_OUTCOMES] = this.#perfLen
    this.#perfLen = 0
    out[OUT_NOW] = now
    let status: number
    try {
      status = short
        ? ((out[0] = slot), (out[1] = c.latency), native.routerSelectPlain(h, c.task))
        : native.routerSelect(h, c.task, c.tier, c.priority, c.latency, c.budget, c.capabilitiesJson, customJson)
    } catch (e) {
      throw fromNative(e)
    }
    if (status < 0) return this.#routeFailed(status, context)
    if (out[7] & FLAG_EVICTED) this.#forgetMemo()
    const kind = out[2]
    const flags = out[7]
    if (kind !== KIND_NO_CANDIDATES) this.#samples++
    // memoize a key once it repeats (a cache hit in Rust): one-off requests allocate nothing.
    // The entry's expiry on the router's clock, less 1 ms so rounding can only make the memo
    // expire early.
    if (memoable && out[8] > 0 && (kind === KIND_CACHE_HIT || flags & FLAG_FROM_CACHE)) {
      this.#remember(c, slot, short ? undefined : longKey, out[6], out[0], now + out[8] - 1)
    }
    const routingTime = out[5]
    const modelName = this.#models[out[0]].name
    const fromCache = kind === KIND_CACHE_HIT || (flags & FLAG_FROM_CACHE) !== 0
    const reason =
        kind === KIND_CACHE_HIT
          ? 'LRU cache hit'
          : kind === KIND_SCORED
            ? bestMatchReason(out[3], out[4])
            : kind === KIND_BALANCED
              ? `Rules pipeline: score=${out[3].toFixed(2)}`
              : kind === KIND_ADAPTIVE
                ? adaptiveReason(out[OUT_PICK], modelName, out[3], out[4], out[OUT_UNTIL], now)
                : 'No candidates available - fallback'
    const decision: RoutingDecision =
      kind === KIND_ADAPTIVE
        ? this.#adaptiveDecision(modelName, out[1], reason, routingTime, fromCache, out[OUT_DECISION_ID] * 4096 + this.#nameId(modelName))
        : { modelName, confidence: out[1], reason, routingTime, fromCache }
    if (kind === KIND_NO_CANDIDATES) return decision
    // Step 8 of the contract; a throwing listener turns into the emergency fallback (step 9).
    try {
      if (out[OUT_EVENTS] > 0) this.#drainHealth()
      if (flags & FLAG_METRICS_DUE && hasListeners(this, 'performance_metrics')) {
        this.emit('performance_metrics', this.#metricsPayload())
      }
      if (!fromCache) {
        if (flags & FLAG_SLOW) this.emit('routing_slow', { routingTime, target: ROUTING_TARGET_MS })
        if (hasListeners(this, 'routing_decision')) this.emit('routing_decision', decision)
      }
    } catch (e) {
      return this.#emergency(c, e, routingTime)
    }
    return decision
  }

  /** Adaptive: writes what the context says about earlier attempts to `out` for Rust. */
  #writeRetry(context: RoutingContext): void {
    const out = this.#out
    const ctx = context as unknown as Record<string, unknown>
    const retry = ctx.retryCount
    const previous = ctx.previousModel
    if (retry === undefined && previous === undefined) {
      out[OUT_RETRY] = 0
      out[OUT_PREVIOUS] = -1
      return
    }
    if (retry !== undefined) {
      if (typeof retry !== 'number') throw typeError('context.retryCount', 'a number', retry)
      if (!Number.isInteger(retry) || retry < 0) throw rangeError('context.retryCount', 'an integer ≥ 0', retry)
    }
    if (previous !== undefined) checkString('context.previousModel', previous)
    const p = previous === undefined ? undefined : this.#modelIndex.get(previous as string)
    out[OUT_RETRY] = (retry as number) > 0 || previous !== undefined ? 1 : 0
    out[OUT_PREVIOUS] = p === undefined ? -1 : p
  }

  #tiersUnchanged(): boolean {
    const snap = this.#models
    for (let i = 0; i < snap.length; i++) if (snap[i].ref.tier !== snap[i].tier) return false
    return true
  }

  /** The ranked candidates of routing-cache entry `id` as [name id, model index] pairs (memoized). */
  #loadRanked(id: number): number[] {
    const indices = native.routerRanked(this.#h, id)
    const pairs: number[] = []
    for (const i of indices) pairs.push(this.#nameId(this.#models[i].name), i)
    if (this.#ranked.size >= MEMO_MAX_KEYS) this.#ranked.clear()
    this.#ranked.set(id, pairs)
    return pairs
  }

  /** A decision made by the memo's fast path: counted in flight when the hit is replayed. */
  #fastPick(c: Checked, id: number, modelIndex: number, nameId: number, modelName: string, now: number, start: number): RoutingDecision {
    const live = this.#live
    const decisionId = live[LIVE_NEXT_ID]
    live[LIVE_NEXT_ID] = decisionId + 1
    const routingTime = performance.now() - start
    const n = this.#logLen
    const log = this.#log
    const at = REPLAY_LEN * n
    log[at] = id
    log[at + 1] = routingTime
    log[at + 2] = modelIndex
    log[at + 3] = decisionId
    log[at + 4] = now
    this.#logLen = n + 1
    if (n + 1 === REPLAY_LOG_SIZE) this.#flush()
    const samples = ++this.#samples
    const decision = this.#adaptiveDecision(modelName, 0.9, PREFERRED_REASON, routingTime, true, decisionId * 4096 + nameId)
    if ((samples >= 100 || samples % 10 === 0) && hasListeners(this, 'performance_metrics')) {
      try {
        this.emit('performance_metrics', this.#metricsPayload())
      } catch (e) {
        return this.#emergency(c, e, routingTime)
      }
    }
    return decision
  }

  #adaptiveDecision(modelName: string, confidence: number, reason: string, routingTime: number, fromCache: boolean, tag: number): RoutingDecision {
    return new AdaptiveDecision(modelName, confidence, reason, routingTime, fromCache, this, tag, this.#namesGeneration)
  }

  /** A failed routing call's error (status < 0). */
  #routeFailed(status: number, context: RoutingContext): never {
    if (this.#out[OUT_EVENTS] > 0) this.#drainHealth()
    if (status === NO_MODELS) throw codedError('ERR_NO_MODELS', 'No models available')
    if (status === NO_HEALTHY_MODEL) {
      const retryAfterMs = this.#out[OUT_UNTIL]
      const err = codedError(
        'ERR_NO_HEALTHY_MODEL',
        `Every eligible model is cooling or ejected; the soonest clears in ${Math.round(retryAfterMs)} ms`,
      ) as ReturnType<typeof codedError> & { retryAfterMs: number }
      err.retryAfterMs = retryAfterMs
      throw err
    }
    throw codedError('ERR_NO_ELIGIBLE_MODEL', `No available model is allowed for userTier ${JSON.stringify(context.userTier)}`)
  }

  /**
   * Adaptive: a memo hit names the routing-cache entry; Rust picks live from its candidates
   * (and applies the buffered outcomes first). Undefined when the entry is gone (route in full).
   */
  #adaptiveMemoHit(c: Checked, context: RoutingContext, id: number, now: number, start: number): RoutingDecision | undefined {
    const out = this.#out
    const live = this.#live
    // Fast path, no crossing: a first attempt, no time-driven change due (so no probe is
    // ready and no cooldown ends), and the first healthy candidate within its limit: the
    // pick Rust would make (see `AdaptiveBook::pick`).
    if (out[OUT_RETRY] === 0 && now < live[LIVE_NEXT_CHANGE]) {
      let ranked = this.#ranked.get(id)
      if (ranked === undefined) ranked = this.#loadRanked(id)
      for (let k = 0; k < ranked.length; k += 2) {
        const nameId = ranked[k]
        if (live[LIVE_HEAD + 2 * nameId] !== STATE_HEALTHY) continue
        const model = this.#models[ranked[k + 1]]
        const prior = model.latencyTarget
        const slow = prior * this.#slowFactor
        const limit = c.latency > 0 && c.latency > slow ? c.latency : slow
        // the decayed estimate lies between the last one and the prior
        if (live[LIVE_HEAD + 2 * nameId + 1] <= limit && prior <= limit) {
          return this.#fastPick(c, id, ranked[k + 1], nameId, model.name, now, start)
        }
        break
      }
    }
    if (this.#logLen > 0) {
      native.routerReplayHits(this.#h, this.#log, this.#logLen)
      this.#logLen = 0
    }
    out[OUT_OUTCOMES] = this.#perfLen
    this.#perfLen = 0
    out[OUT_NOW] = now
    let status: number
    try {
      status = native.routerPickCached(this.#h, id)
    } catch (e) {
      throw fromNative(e)
    }
    if (status === ENTRY_GONE) return undefined
    if (status < 0) return this.#routeFailed(status, context)
    const routingTime = performance.now() - start
    const n = this.#logLen
    this.#log[REPLAY_LEN * n] = id
    this.#log[REPLAY_LEN * n + 1] = routingTime
    this.#log[REPLAY_LEN * n + 2] = -1 // the pick itself was counted in Rust
    this.#logLen = n + 1
    if (n + 1 === REPLAY_LOG_SIZE) this.#flush()
    const samples = ++this.#samples
    const modelName = this.#models[out[0]].name
    const reason = adaptiveReason(out[OUT_PICK], modelName, out[3], out[4], out[OUT_UNTIL], now)
    const decision = this.#adaptiveDecision(modelName, out[1], reason, routingTime, true, out[OUT_DECISION_ID] * 4096 + this.#nameId(modelName))
    try {
      if (out[OUT_EVENTS] > 0) this.#drainHealth()
      if ((samples >= 100 || samples % 10 === 0) && hasListeners(this, 'performance_metrics')) {
        this.emit('performance_metrics', this.#metricsPayload())
      }
    } catch (e) {
      return this.#emergency(c, e, routingTime)
    }
    return decision
  }
  /** A decision served from the key memo: as the legacy's step 2, plus a logged replay. */
  #memoHit(c: Checked, id: number, modelName: string, start: number): RoutingDecision {
    const routingTime = performance.now() - start
    const n = this.#logLen
    const log = this.#log
    log[REPLAY_LEN * n] = id
    log[REPLAY_LEN * n + 1] = routingTime
    log[REPLAY_LEN * n + 2] = -1
    this.#logLen = n + 1
    if (n + 1 === REPLAY_LOG_SIZE) this.#flush()
    const samples = ++this.#samples
    const decision: RoutingDecision = { modelName, confidence: 0.95, reason: 'LRU cache hit', routingTime, fromCache: true }
    // the window's length (at most 100) is a multiple of 10: the legacy emits its metrics
    if ((samples >= 100 || samples % 10 === 0) && hasListeners(this, 'performance_metrics')) {
      try {
        this.emit('performance_metrics', this.#metricsPayload())
      } catch (e) {
        return this.#emergency(c, e, routingTime)
      }
    }
    return decision
  }

  /**
   * Makes room for a new `key` in one of the memo's maps (the oldest key goes at the key
   * bound, everything at the character bound) and counts its characters.
   */
  #memoRoom(map: Map<string, unknown>, key: string): void {
    if (map.size >= this.#memoLimit) {
      const oldest = map.keys().next().value as string
      map.delete(oldest)
      this.#memoChars -= oldest.length
    }
    if (this.#memoChars + key.length > MEMO_MAX_CHARS) this.#clearMemo()
    this.#memoChars += key.length
  }

  /** Remembers a routing-cache entry for the key memo (bounded like the cache itself). */
  #remember(c: Checked, slot: number, longKey: string | undefined, id: number, modelIndex: number, freshUntil: number): void {
    let m: number[] | undefined
    let at = 0
    if (longKey !== undefined) {
      m = this.#memoLong.get(longKey)
      if (m === undefined) {
        this.#memoRoom(this.#memoLong, longKey)
        m = [0, 0, 0, -1]
        this.#memoLong.set(longKey, m)
      }
    } else {
      let byLatency = this.#memo.get(c.task)
      if (byLatency === undefined) {
        this.#memoRoom(this.#memo, c.task)
        byLatency = new Map()
        this.#memo.set(c.task, byLatency)
      }
      m = byLatency.get(c.latency)
      if (m === undefined) {
        if (byLatency.size >= MEMO_LATENCIES_PER_TASK) byLatency.clear()
        m = new Array<number>(48).fill(-1)
        byLatency.set(c.latency, m)
      }
      at = slot * 4
    }
    m[at] = id
    m[at + 1] = modelIndex
    m[at + 2] = freshUntil
    m[at + 3] = this.#memoGeneration
  }

  #emergency(c: Checked, error: unknown, routingTime: number): RoutingDecision {
    this.#syncEdits() // the fallback reads the tiers; a memo hit may have skipped the check
    const message = error instanceof Error ? error.message : String(error)
    return {
      modelName: this.#fallbackName(c.tier, 'emergency fallback'),
      confidence: 0.1,
      reason: `Emergency fallback: ${message}`,
      routingTime,
      fromCache: false,
    }
  }

  async selectFallbackModel(
    originalModel: string,
    context: RoutingContext,
    availableModels: Map<string, ModelConfig>,
    reason: string,
  ): Promise<RoutingDecision> {
    this.#open()
    const start = performance.now()
    checkString('originalModel', originalModel)
    if (typeof reason !== 'string') throw typeError('reason', 'a string', reason)
    const c = checkContext(context)
    this.#syncModels(availableModels)
    const i = native.routerSelectFallback(this.#h, originalModel, c.tier)
    if (i === NO_MODELS || this.#models.length === 0) throw codedError('ERR_NO_MODELS', 'No models available for fallback')
    if (i < 0) throw codedError('ERR_NO_ELIGIBLE_MODEL', 'No models available for fallback')
    const fallbackModel = this.#models[i].name
    const routingTime = performance.now() - start
    this.emit('fallback_triggered', { originalModel, fallbackModel, reason, routingTime })
    return {
      modelName: fallbackModel,
      confidence: 0.6,
      reason: `Fallback from ${originalModel}: ${reason}`,
      routingTime,
      fromCache: false,
    }
  }

  addRule(rule: RoutingRule): void {
    this.#open()
    if (typeof rule !== 'object' || rule === null) throw typeError('rule', 'an object', rule)
    const { id, name, condition, modelPreference, weight, active } = rule
    checkString('rule.id', id)
    checkString('rule.name', name)
    if (typeof condition !== 'function') throw typeError('rule.condition', 'a function', condition)
    checkStrings('rule.modelPreference', modelPreference)
    if (typeof weight !== 'number') throw typeError('rule.weight', 'a number', weight)
    if (!Number.isFinite(weight)) throw rangeError('rule.weight', 'a finite number', weight)
    if (typeof active !== 'boolean') throw typeError('rule.active', 'a boolean', active)
    const stored: RoutingRule = { id, name, condition, modelPreference: [...modelPreference], weight, active }
    const builtin = isBuiltin(stored)
    this.#flush() // hits replayed before the rules pipeline's cache may be emptied
    if (!native.routerAddRule(this.#h, id, name, JSON.stringify(modelPreference), weight, active, builtin)) {
      throw new RangeError('rule: a router holds at most 1024 rules')
    }
    this.#rules.set(id, stored)
    this.#countCustomRules()
    if (this.#strategy === 'rules') this.#forgetMemo() // its decisions came from the old rules
  }

  removeRule(id: string): boolean {
    this.#open()
    checkString('id', id)
    this.#flush()
    const removed = native.routerRemoveRule(this.#h, id)
    this.#rules.delete(id)
    this.#countCustomRules()
    if (removed && this.#strategy === 'rules') this.#forgetMemo()
    return removed
  }

  #countCustomRules(): void {
    let n = 0
    for (const r of this.#rules.values()) if (!isBuiltin(r)) n++
    this.#customRules = n
  }

  getRules(): RoutingRule[] {
    this.#open()
    return Array.from(this.#rules.values(), (r) => ({ ...r, modelPreference: [...r.modelPreference] }))
  }

  recordPerformance(
    modelName: string,
    latency: number,
    success: boolean,
    cost: number,
    tokenUsage?: { input: number; output: number; total: number },
  ): void {
    this.#open()
    if (typeof modelName !== 'string') throw typeError('modelName', 'a string', modelName)
    checkNumber('latency', latency, false)
    if (typeof success !== 'boolean') throw typeError('success', 'a boolean', success)
    checkNumber('cost', cost, false)
    let output = NaN
    let total = NaN
    if (tokenUsage !== undefined) {
      if (typeof tokenUsage !== 'object' || tokenUsage === null) throw typeError('tokenUsage', 'an object', tokenUsage)
      // input is not read, as in the legacy: any value is accepted (a check would send a
      // legacy caller's sample to the fallback)
      output = checkNumber('tokenUsage.output', tokenUsage.output, false)
      total = checkNumber('tokenUsage.total', tokenUsage.total, false)
    }
    let id = this.#perfNames.get(modelName)
    if (id === undefined) {
      checkString('modelName', modelName) // once per name: Rust would hold U+FFFD instead
      id = this.#nameId(modelName)
    }
    const log = this.#perfLog
    const at = OUTCOME_LEN * this.#perfLen
    log[at] = id
    log[at + 1] = latency
    log[at + 2] = success ? 1 : 0
    log[at + 3] = cost
    log[at + 4] = output
    log[at + 5] = total
    log[at + 6] = Date.now()
    // the adaptive state learns from it too: a failure without a class counts as a server error
    log[at + 7] = -1
    log[at + 8] = success ? 0 : SERVER_FAILURE_CODE
    log[at + 9] = NaN
    log[at + 10] = this.#now()
    if (++this.#perfLen === PERF_LOG_SIZE || !this.#mayBuffer(success, id, latency)) this.#flush()
    if (this.listenerCount('model_performance_updated') > 0) {
      this.#flush()
      const performance = toPerformance(JSON.parse(native.routerPerformanceOf(this.#h, modelName)))
      this.emit('model_performance_updated', { modelName, latency, success, cost, performance })
    }
  }

  /**
   * Reports the outcome of a call routed by this router: `decision` is the `RoutingDecision`
   * `selectOptimalModel` resolved with (its calls in flight end here), or a model name.
   * Sync; nothing is applied unless the whole outcome is valid. An ok outcome of a healthy
   * model is buffered (applied before the next routing call or read); anything else is
   * applied at once, so `model_health_changed` fires before this returns.
   */
  reportOutcome(decision: RoutingDecision | string, outcome: Outcome): void {
    this.#open()
    let modelName: string
    let tag: number | undefined
    if (typeof decision === 'string') {
      modelName = decision
    } else {
      tag = AdaptiveDecision.tagOf(decision, this, this.#namesGeneration)
      if (tag === undefined) throw typeError('decision', 'a RoutingDecision this router made, or a model name', decision)
      if (tag < 0) {
        tag = undefined
        modelName = (decision as RoutingDecision).modelName
      } else {
        modelName = ''
      }
    }
    const o = encodeOutcome(outcome, this.#encoded)
    let id: number
    let decisionId = -1
    if (tag !== undefined) {
      id = tag % 4096
      decisionId = (tag - id) / 4096
    } else {
      let known = this.#perfNames.get(modelName)
      if (known === undefined) {
        checkString('decision', modelName)
        known = this.#nameId(modelName)
      }
      id = known
    }
    const now = this.#now()
    const log = this.#perfLog
    const at = OUTCOME_LEN * this.#perfLen
    log[at] = id
    log[at + 1] = o.latency
    log[at + 2] = o.success
    log[at + 3] = o.cost
    log[at + 4] = o.output
    log[at + 5] = o.total
    log[at + 6] = Date.now()
    log[at + 7] = decisionId
    log[at + 8] = o.classCode
    log[at + 9] = o.retryAfter
    log[at + 10] = now
    ++this.#perfLen
    if (this.#perfLen === PERF_LOG_SIZE || !this.#mayBuffer(o.ok, id, o.latency)) this.#flush()
  }

  /**
   * Whether an outcome of name `id` may wait in the buffer: an ok one of a healthy model that
   * does not raise its latency estimate (a Peak-EWMA peak counts at once). Anything else is
   * applied now, so health events fire and the next decision sees it.
   */
  #mayBuffer(ok: boolean, id: number, latency: number): boolean {
    if (!ok) return false
    if (!this.#adaptive) return this.#unhealthy.size === 0
    const live = this.#live
    return live[LIVE_HEAD + 2 * id] === STATE_HEALTHY && latency <= live[LIVE_HEAD + 2 * id + 1]
  }

  /**
   * Live health of every model of the current Map (in its order), then of other names that
   * outcomes were reported for. Applies buffered outcomes and due cooldown ends first.
   */
  getModelHealth(): ModelHealth[] {
    this.#open()
    this.#flush()
    const records = JSON.parse(native.routerModelHealth(this.#h, this.#now())) as Array<Record<string, unknown>>
    this.#drainHealth()
    return records.map(toModelHealth)
  }

  updateModelAvailability(modelName: string, available: boolean): void {
    this.#open()
    checkString('modelName', modelName)
    if (typeof available !== 'boolean') throw typeError('available', 'a boolean', available)
    if (native.routerSetAvailability(this.#h, modelName, available)) {
      this.#forgetMemo()
      this.emit('model_availability_changed', { modelName, available, timestamp: Date.now() })
    }
    // restoring availability ends an auth ejection
    if (available && this.#unhealthy.has(modelName)) this.#drainHealth()
  }

  updateBatchAvailability(updates: Map<string, boolean>): void {
    this.#open()
    if (!(updates instanceof Map)) throw typeError('updates', 'a Map', updates)
    for (const [model, available] of updates) {
      checkString('updates key', model)
      if (typeof available !== 'boolean') throw typeError(`updates.get(${JSON.stringify(model)})`, 'a boolean', available)
    }
    const changes: Array<{ model: string; available: boolean }> = []
    for (const [model, available] of updates) {
      if (native.routerSetAvailability(this.#h, model, available)) changes.push({ model, available })
    }
    if (changes.length > 0) {
      this.#forgetMemo()
      this.emit('batch_availability_update', { changes, timestamp: Date.now() })
    }
    // restoring availability ends an auth ejection
    for (const [model, available] of updates) {
      if (available && this.#unhealthy.has(model)) {
        this.#drainHealth()
        break
      }
    }
  }

  getRoutingPerformance(): RoutingPerformance {
    this.#open()
    const m = this.#metricsPayload()
    return { averageTime: m.averageRoutingTime, p95Time: m.p95RoutingTime, cacheHitRate: m.cacheHitRate, targetMet: m.targetMet }
  }

  #snapshot(): {
    availability: RouterStats['availability']
    cache: RouterStats['cache']
    usage: Array<[string, number]>
    performance: Array<Record<string, unknown>>
  } {
    this.#flush()
    return JSON.parse(native.routerSnapshot(this.#h))
  }

  getRouterStats(): RouterStats {
    this.#open()
    const s = this.#snapshot()
    // the legacy's key order, so JSON output matches
    return {
      performance: this.getRoutingPerformance(),
      cache: { size: s.cache.size, hitRate: s.cache.hitRate, limit: s.cache.limit },
      availability: { total: s.availability.total, available: s.availability.available, unavailable: s.availability.unavailable },
      models: s.performance.map((p) => ({ name: p.modelName as string, performance: toPerformance(p) })),
    }
  }

  optimizeBasedOnPerformance(data: unknown): void {
    this.#open()
    // The legacy's own steps: both fields read, then each compared with JS's `>` (any
    // value, as JS converts it) and its shift applied before the next comparison, which may
    // throw (a Symbol). Reading a field of null or undefined threw there too.
    if (data === null || data === undefined) throw typeError('data', 'an object', data)
    const d = data as Record<string, any>
    const recentFailures = d.recentFailures || 0
    const avgLatency = d.avgLatency || 0
    // the comparison is made here; Infinity only passes the core's own threshold
    if (recentFailures > 5) native.routerOptimize(this.#h, Infinity, 0)
    if (avgLatency > 2000) native.routerOptimize(this.#h, 0, Infinity)
  }

  getModelUsageStats(): Record<string, number> {
    this.#open()
    return Object.fromEntries(this.#snapshot().usage)
  }

  getPerformanceData(): ModelPerformance[] {
    this.#open()
    return this.#snapshot().performance.map(toPerformance)
  }

  /** New: stops the timer and releases the router's memory. Later calls throw `ERR_SHUT_DOWN`. */
  shutdown(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    this.#timer = undefined
    native.routerClear(this.#h)
    this.#memo.clear()
    this.#memoLong.clear()
    this.#logLen = 0
    this.#perfLen = 0
    this.#models = []
    this.#lastMap = undefined
    this.removeAllListeners()
  }
}

/**
 * Whether `emitter` has listeners for `name`, without `listenerCount`'s cost on the hot path:
 * Node's EventEmitter keeps them in `_events` (a stable, widely relied-on field); anything
 * else falls back to `listenerCount`.
 */
function hasListeners(emitter: EventEmitter, name: string): boolean {
  const events = (emitter as unknown as { _events?: Record<string, unknown> })._events
  return events !== undefined && events !== null && typeof events === 'object'
    ? events[name] !== undefined
    : emitter.listenerCount(name) > 0
}

/** The legacy's reason text; the scores take a handful of values, so the texts are kept. */
const REASONS = new Map<number, Map<number, string>>()
function bestMatchReason(latency: number, complexity: number): string {
  let byComplexity = REASONS.get(latency)
  if (byComplexity === undefined) {
    byComplexity = new Map()
    if (REASONS.size < 64) REASONS.set(latency, byComplexity)
  }
  let text = byComplexity.get(complexity)
  if (text === undefined) {
    text = `Best match: latency=${latency.toFixed(2)}, complexity=${complexity.toFixed(2)}`
    if (byComplexity.size < 64) byComplexity.set(complexity, text)
  }
  return text
}

/** One condition function per default rule, shared by every router (so identity tells a default rule). */
const BUILTIN_CONDITIONS = new Map<string, (c: RoutingContext) => boolean>()

/** The condition function of a default rule: evaluated by the same native code that routes. */
function builtinCondition(id: string, context: RoutingContext): boolean {
  const c = checkContext(context)
  return native.routerBuiltinRuleMatches(id, c.task, c.tier, c.priority, c.latency, c.budget, c.capabilitiesJson)
}

for (const id of DEFAULT_RULE_IDS) BUILTIN_CONDITIONS.set(id, (c) => builtinCondition(id, c))

/** A rule keeps its native condition when it is a default rule with its original condition. */
function isBuiltin(rule: RoutingRule): boolean {
  return BUILTIN_CONDITIONS.get(rule.id) === rule.condition
}

export type {
  AdaptiveOptions,
  ModelHealth,
  ModelHealthChange,
  ModelHealthReason,
  ModelHealthState,
  Outcome,
  OutcomeErrorType,
} from './router-adaptive'
