/**
 * `ModelRouter`: the drop-in replacement for the legacy router. The decision logic lives in
 * Rust (`crates/router-core`); this class owns the events and the boundary tricks:
 *
 * - the caller's `availableModels` Map is compared with the last snapshot sent to Rust
 *   (entries by identity on every call, fields before anything goes to Rust) and re-sent
 *   only when it changed, so the same Map costs nothing to cross while a mutated or new Map
 *   is still seen;
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
 *
 * Beside it: the public types (`router-types.ts`), input checks (`router-validate.ts`), the
 * model snapshot (`router-model-set.ts`), the key memo (`router-memo.ts`) and the numbers of
 * the boundary, read from the addon (`router-layout.ts`).
 */
import { EventEmitter } from 'node:events'
// the module's `performance`, not the global one: the global is a lazy getter (~30 ns a read)
import { performance } from 'node:perf_hooks'

import { codedError, fromNative, rangeError, typeError } from './errors'
import { native } from './native'
import {
  AdaptiveDecision,
  adaptiveReason,
  encodeOutcome,
  SERVER_FAILURE_CODE,
  toHealthChange,
  toModelHealth,
  type EncodedOutcome,
  type ModelHealth,
  type Outcome,
} from './router-adaptive'
import { toCandidates, type RoutingExplanation } from './router-explain'
import { fleetOptions } from './fleet-cache'
import { RouterFleet } from './router-fleet'
import {
  BUDGET_EXCEEDED,
  CAP_HELD,
  CAP_LIMIT,
  CAP_NAMES,
  CAP_REQUESTS,
  CAP_SPENT,
  CAP_STRIDE,
  CAP_TPM,
  ENTRY_GONE,
  FLAG_EVICTED,
  FLAG_FROM_CACHE,
  FLAG_METRICS_DUE,
  FLAG_SLOW,
  IN_LATENCY,
  IN_SLOT,
  KIND_ADAPTIVE,
  KIND_BALANCED,
  KIND_CACHE_HIT,
  KIND_NO_CANDIDATES,
  KIND_SCORED,
  LIVE_ESTIMATE,
  LIVE_EVIDENCE,
  LIVE_HEAD,
  LIVE_IN_FLIGHT,
  LIVE_LATE,
  LIVE_NEXT_CHANGE,
  LIVE_NEXT_ID,
  LIVE_QUICK,
  LIVE_STATE,
  LIVE_STRIDE,
  NO_ELIGIBLE_MODEL,
  NO_HEALTHY_MODEL,
  NO_MODEL_FITS_WINDOW,
  NO_MODELS,
  OUT_A,
  OUT_B,
  OUT_CACHE_ID,
  OUT_CONFIDENCE,
  OUT_DECISION_ID,
  OUT_EVENTS,
  OUT_FLAGS,
  OUT_FRESH_MS,
  OUT_INPUT_TOKENS,
  OUT_KIND,
  OUT_LEN,
  OUT_MODEL,
  OUT_NOW,
  OUT_OUTCOMES,
  OUT_PICK,
  OUT_PREVIOUS,
  OUT_RETRY,
  OUT_ROUTING_MS,
  OUT_SESSION_HOME,
  OUT_SESSION_MODEL,
  OUT_UNTIL,
  OUTCOME_CLASS,
  OUTCOME_COST,
  OUTCOME_DECISION_ID,
  OUTCOME_EPOCH_MS,
  OUTCOME_LATENCY,
  OUTCOME_LEN,
  OUTCOME_NAME_ID,
  OUTCOME_NOW,
  OUTCOME_OUTPUT_TOKENS,
  OUTCOME_REPORTED_COST,
  OUTCOME_RETRY_AFTER,
  OUTCOME_SUCCESS,
  OUTCOME_TOTAL_TOKENS,
  PERF_AVERAGE,
  PERF_HIT_RATE,
  PERF_MAX,
  PERF_P95,
  REPLAY_DECISION_ID,
  REPLAY_ENTRY,
  REPLAY_KEY_BUDGET,
  REPLAY_LEN,
  REPLAY_MODEL,
  REPLAY_NOW,
  REPLAY_ROUTING_MS,
  REPLAY_TOKENS,
  SLOW_EVIDENCE,
  STATE_HEALTHY,
} from './router-layout'
import { KeyMemo, MEMO_MAX_TASK_LENGTH, type RankedCandidates } from './router-memo'
import { type SessionEntry, SessionTable } from './router-sessions'
import { type ModelSnapshot, SNAPSHOT_FIELDS, sameEntries, sameModel, sameModels, snapshotModel } from './router-model-set'
import type {
  BudgetConfig,
  BudgetStatus,
  ModelConfig,
  ModelPerformance,
  ModelRouterOptions,
  RouterStats,
  RoutingContext,
  RoutingDecision,
  RoutingPerformance,
  RoutingRule,
} from './router-types'
import {
  type Checked,
  checkContext,
  checkNumber,
  checkOptions,
  checkString,
  checkStrings,
  readClock,
  readEstimate,
} from './router-validate'
import { weakInterval } from './weak-interval'
import type { CodedError } from './errors'

const AFFINITY_REASON = 'Adaptive: the session’s model (affinity)'
const PREFERRED_REASON = 'Adaptive: best-ranked healthy model'
const DEFAULT_SLOW_FACTOR = 4
const DEFAULT_LATE_CALLS = 3
const DEFAULT_LATE_FACTOR = 1.5
const DEFAULT_MAX_SESSIONS = 10_000
const DEFAULT_SESSION_IDLE_MS = 10 * 60 * 1000
/** Memo hits logged before a replay into Rust. */
const REPLAY_LOG_SIZE = 256
/** What `#sameMapUnedited` found: another Map (or entries changed), the same with a config edited in place, or unedited. */
const OTHER_MAP = 0
const SAME_MAP = 1
const UNEDITED = 2
/** The budgets set, by scope, for model set `of` and the first `count` budgets. */
interface BudgetScopes {
  of: ModelSnapshot[] | undefined
  count: number
  /** Global budgets' indices. */
  global: number[]
  /** By model index: the indices of that model's own budgets. */
  models: number[][]
  /** Key budgets' indices by key. */
  keys: Map<string | undefined, number>
}
/** Outcomes (`recordPerformance`, `reportOutcome`) buffered before they are sent to Rust. */
const PERF_LOG_SIZE = 256
/** Distinct model names the outcome buffer keeps ids for. */
const PERF_NAMES_LIMIT = 4096
const ROUTING_TARGET_MS = 75

const TIMER_MS = 30_000
/** The legacy purged expired routing-cache entries every 5 minutes: every 10th tick. */
const PURGE_EVERY_TICKS = 10

/** The seven default rules, as the native core defines them (in the legacy's order). */
const DEFAULT_RULES: ReadonlyArray<Omit<RoutingRule, 'condition'>> = native.routerDefaultRules()
const DEFAULT_RULE_IDS = DEFAULT_RULES.map((r) => r.id)

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

/** The model router: a drop-in for the legacy `ModelRouter` (same methods, promises and events: `routing_decision`, `routing_slow`, `performance_metrics`, `fallback_triggered`, `model_performance_updated`, `model_availability_changed`, `batch_availability_update`), plus `strategy: "adaptive"` (`reportOutcome`, `getModelHealth`, `explain`, the `model_health_changed` event with a `ModelHealthChange`) and, with `redis`, fleet mode (`fleet_health` `{ modelName, state, untilMs }` when another process's change is applied, `fleet_degraded` `{ reason }`, `fleet_restored` `{ downMs }`; docs/fleet.md). Errors: `TypeError`/`RangeError` naming the field for bad input; `ERR_NO_MODELS`, `ERR_NO_ELIGIBLE_MODEL`, `ERR_NO_HEALTHY_MODEL`, `ERR_BUDGET_EXCEEDED`, `ERR_SHUT_DOWN` codes. See docs/router.md. */
export class ModelRouter extends EventEmitter {
  readonly #h: Handle
  /** Timer ticks so far (the purge runs every PURGE_EVERY_TICKS). */
  #ticks = 0
  readonly #strategy: 'legacy' | 'rules' | 'adaptive'
  readonly #adaptive: boolean
  readonly #clock: (() => number) | undefined
  readonly #estimateTokens: ((task: string) => number) | undefined
  /** Adaptive: the `sessionId` of the context being routed (null: none), set by `#writeRetry`. */
  #session: string | null = null
  /** Adaptive: the `budgetKey` of the context being routed (null: none), set by `#writeRetry`. */
  #budgetKey: string | null = null
  /** Budgets set, by index (`setBudget`). */
  readonly #budgets: Array<{ scope: string; name: string | undefined }> = []
  /** `#budgets` by scope, for the models and the budget count it was built for (see `#budgetScopes`). */
  #scopes: BudgetScopes = { of: undefined, count: -1, global: [], models: [], keys: new Map() }
  /** Adaptive: session affinity's table (Rust gets the session's model as an index). */
  readonly #sessions: SessionTable
  /** The table's entry of the context being routed, as `#writeSession` found it. */
  #sessionEntry: SessionEntry | undefined
  /**
   * Adaptive: the room Rust's quotas and budgets leave (see CAP_NAMES), rewritten by every
   * call into Rust after the memo's decisions are replayed; the memo's fast path admits a
   * decision only within it, and adds its reservation.
   */
  readonly #capacity = new Float64Array(0)
  readonly #out = new Float64Array(OUT_LEN)
  /** The key memo (see the header and `router-memo.ts`). */
  readonly #memo: KeyMemo
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
   * the next decision id, the earliest time-driven change).
   */
  readonly #live = new Float64Array(LIVE_HEAD + LIVE_STRIDE * PERF_NAMES_LIMIT)
  readonly #slowFactor: number
  readonly #lateCalls: number
  readonly #lateFactor: number
  readonly #encoded: EncodedOutcome = {
    latency: 0,
    classCode: 0,
    success: 0,
    cost: 0,
    output: NaN,
    total: NaN,
    retryAfter: NaN,
    reportedCost: NaN,
    ok: true,
  }
  #models: ModelSnapshot[] = []
  /** The Map the snapshot came from. */
  #lastMap: Map<unknown, unknown> | undefined
  readonly #rules = new Map<string, RoutingRule>()
  #customRules = 0
  #timer: NodeJS.Timeout | undefined
  #closed = false
  /** The `redis` option's fleet state (null: none, nothing started). */
  #fleet: RouterFleet | null = null

  constructor(options?: ModelRouterOptions) {
    super()
    const opts = checkOptions(options)
    const redis = fleetOptions(options?.redis)
    this.#strategy = opts.strategy ?? 'legacy'
    this.#adaptive = this.#strategy === 'adaptive'
    this.#clock = opts.clock
    this.#estimateTokens = opts.estimateTokens
    this.#slowFactor = opts.slowFactor ?? DEFAULT_SLOW_FACTOR
    this.#lateCalls = opts.lateCalls ?? DEFAULT_LATE_CALLS
    this.#lateFactor = opts.lateFactor ?? DEFAULT_LATE_FACTOR
    this.#memo = new KeyMemo(opts.cacheSize ?? 1000)
    this.#sessions = new SessionTable(
      opts.sessionAffinity === false ? 0 : (opts.maxSessions ?? DEFAULT_MAX_SESSIONS),
      opts.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS,
    )
    this.#out[OUT_SESSION_MODEL] = -1
    this.#out[OUT_SESSION_HOME] = -1
    try {
      this.#h = native.routerCreate(JSON.stringify(opts), this.#out, this.#perfLog, this.#live)
    } catch (e) {
      throw fromNative(e)
    }
    if (this.#adaptive) {
      this.#capacity = new Float64Array(CAP_NAMES + CAP_STRIDE * PERF_NAMES_LIMIT)
      native.routerCapacityMirror(this.#h, this.#capacity)
    }
    for (const rule of DEFAULT_RULES) {
      const id = rule.id
      this.#rules.set(id, { ...rule, modelPreference: [...rule.modelPreference], condition: BUILTIN_CONDITIONS.get(id)! })
    }
    // The legacy's 30 s metrics and 5 min purge timers, as one unref'd timer that holds the
    // router only weakly: it never keeps the process, or a dropped router, alive.
    this.#timer = weakInterval(this, TIMER_MS, ModelRouter.#timerTick)
    if (redis !== null) {
      const host = {
        handle: this.#h,
        now: () => this.#now(),
        drainHealth: () => this.#drainHealth(),
        emit: (e: string, p?: unknown) => this.emit(e, p),
      }
      this.#fleet = new RouterFleet(redis, host, opts.probeTimeoutMs ?? 30_000)
    }
  }

  /** The timer's tick (static: see `weakInterval`). */
  static #timerTick(router: ModelRouter): void {
    router.#tick()
  }

  #tick(): void {
    if (this.#closed) return
    this.#flush()
    const now = this.#now()
    // the legacy's purge timer: every 5 minutes (every PURGE_EVERY_TICKS ticks)
    if (++this.#ticks % PURGE_EVERY_TICKS === 0) {
      native.routerPurgeExpired(this.#h, now)
      this.#sessions.purgeIdle(now)
    }
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
    if (this.#fleet !== null && events.length > 0) this.#fleet.published(events)
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
        this.#memo.forgetRanked() // it holds name ids
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
    return models === this.#lastMap && models !== undefined && sameEntries(this.#models, models as Map<unknown, unknown>)
  }

  /** Same entries in the same order: only in-place edits of the configs remain to check. */
  #syncEdits(): void {
    if (this.#lastMap === undefined) return // none synced yet
    const snap = this.#models
    for (let i = 0; i < snap.length; i++) {
      if (!sameModel(snap[i], snap[i].ref)) {
        this.#resend(this.#lastMap)
        return
      }
    }
  }

  #syncMap(models: unknown): void {
    if (!(models instanceof Map)) throw typeError('availableModels', 'a Map', models)
    const snap = this.#models
    if (models.size === snap.length && sameModels(snap, models as Map<unknown, ModelConfig>)) {
      // equal, but possibly other objects (a config replaced by a copy): compare these from
      // now on, or an in-place edit of the new object would go unseen
      let i = 0
      for (const cfg of (models as Map<unknown, ModelConfig>).values()) snap[i++].ref = cfg
      this.#lastMap = models
    } else {
      this.#resend(models)
    }
  }

  #resend(models: Map<unknown, unknown>): void {
    const next: ModelSnapshot[] = []
    for (const [name, cfg] of models) next.push(snapshotModel(name, cfg))
    // the memo's decisions name models by index and reserve at their prices: replayed first
    this.#flush()
    native.routerSetModels(this.#h, JSON.stringify(next, SNAPSHOT_FIELDS))
    this.#models = next
    this.#modelIndex = new Map(next.map((m, i) => [m.name, i]))
    // new configs end auth ejections
    if (this.#unhealthy.size > 0) this.#drainHealth()
    this.#memo.forget()
    this.#lastMap = models
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
    return {
      averageRoutingTime: o[PERF_AVERAGE],
      maxRoutingTime: o[PERF_MAX],
      p95RoutingTime: o[PERF_P95],
      targetMet: o[PERF_P95] < ROUTING_TARGET_MS,
      cacheHitRate: o[PERF_HIT_RATE],
    }
  }

  /**
   * The emergency fallback's model. Adaptive: one with room for the request `c` (window,
   * quota, budgets of `budgetKey`), checked after the buffered outcomes are applied.
   */
  #fallbackName(c: Checked, context: RoutingContext, budgetKey: string | null, what: string): string {
    let i: number
    if (this.#adaptive) {
      this.#flush()
      i = native.routerTierFallback(this.#h, c.tier, c.task, c.budget, this.#fallbackEstimate(c.task), budgetKey, this.#now())
    } else {
      i = native.routerTierFallback(this.#h, c.tier)
    }
    if (i === NO_MODELS) throw codedError('ERR_NO_MODELS', 'No models available')
    if (i === NO_ELIGIBLE_MODEL) throw codedError('ERR_NO_ELIGIBLE_MODEL', `No model of the user's tier is available (${what})`)
    if (i < 0) this.#routeFailed(i, context)
    return this.#models[i].name
  }

  /** The caller's input estimate for a fallback (NaN: the router's own, also when the caller's fails). */
  #fallbackEstimate(task: string): number {
    if (this.#estimateTokens === undefined) return NaN
    try {
      return readEstimate(this.#estimateTokens, task)
    } catch {
      return NaN
    }
  }

  /** Chooses a model for `context` among `availableModels` (pass the same Map every call: it is the fast path). Rejects with a `TypeError`/`RangeError` naming a bad field, `ERR_NO_MODELS` (empty Map), `ERR_NO_ELIGIBLE_MODEL` (no model the user's tier may use, or none whose window fits), `ERR_NO_HEALTHY_MODEL` (adaptive, `whenNoneHealthy: "reject"`) or `ERR_BUDGET_EXCEEDED`. */
  async selectOptimalModel(context: RoutingContext, availableModels: Map<string, ModelConfig>): Promise<RoutingDecision> {
    const fleet = this.#fleet
    if (fleet === null) return this.#select(context, availableModels)
    return this.#fleetSelect(fleet, context, availableModels)
  }

  /**
   * Fleet mode: a decision made while a limit's first lease is out (a cold start, a new model
   * set, `setBudget`, leases resumed) waits for it; one refused for want of a lease whose
   * refill is out waits for that once. Each wait lasts at most `2 × timeoutMs` + 10 ms
   * (docs/fleet.md).
   */
  #fleetSelect(fleet: RouterFleet, context: RoutingContext, models: Map<string, ModelConfig>): RoutingDecision | Promise<RoutingDecision> {
    if (models !== this.#lastMap) {
      // the Map's quotas reach Rust before the decision, so their first leases are out
      this.#open()
      checkContext(context)
      this.#syncMap(models)
      fleet.prefetch()
    }
    const first = fleet.warming()
    if (first !== null) return first.then(() => this.#select(context, models))
    try {
      return this.#select(context, models)
    } catch (e) {
      // the router core says whether the refusal was for want of a lease (not a spent
      // limit or a cooldown)
      const code = (e as CodedError).code
      const refill = code === 'ERR_NO_HEALTHY_MODEL' || code === 'ERR_BUDGET_EXCEEDED' ? fleet.refill(this.#out[OUT_NOW]) : null
      if (refill === null) throw e
      return refill.then(() => this.#select(context, models))
    }
  }

  /**
   * New (`strategy: "adaptive"`): what `selectOptimalModel(context, availableModels)` would
   * decide now — the decision, or the error it would reject with — and every model of the
   * Map with why it was kept or excluded, its legacy score parts and its live latency
   * estimate. Nothing is reserved, counted or changed (no routing-cache access, no call in
   * flight, no random draw). Other strategies reject with `ERR_UNSUPPORTED_STRATEGY`.
   */
  async explain(context: RoutingContext, availableModels: Map<string, ModelConfig>): Promise<RoutingExplanation> {
    this.#open()
    if (!this.#adaptive) throw codedError('ERR_UNSUPPORTED_STRATEGY', 'explain() needs strategy: "adaptive"')
    const c = checkContext(context)
    if (this.#sameMap(availableModels)) this.#syncEdits()
    else this.#syncMap(availableModels)
    if (this.#models.length === 0) throw codedError('ERR_NO_MODELS', 'No models available')
    const customJson = this.#matchedCustomRules(context)
    this.#writeRetry(context)
    const now = this.#clock === undefined ? performance.now() : readClock(this.#clock)
    const out = this.#out
    out[OUT_INPUT_TOKENS] = this.#estimateTokens === undefined ? NaN : readEstimate(this.#estimateTokens, c.task)
    this.#writeSession(now, false)
    if (this.#logLen > 0) {
      native.routerReplayHits(this.#h, this.#log, this.#logLen)
      this.#logLen = 0
    }
    out[OUT_OUTCOMES] = this.#perfLen
    this.#perfLen = 0
    out[OUT_NOW] = now
    let json: string
    try {
      json = native.routerExplain(
        this.#h,
        c.task,
        c.tier,
        c.priority,
        c.latency,
        c.budget,
        c.capabilitiesJson,
        customJson,
        null, // the session's model goes in `out` (OUT_SESSION_MODEL)
        this.#budgetKey,
      )
    } catch (e) {
      throw fromNative(e)
    }
    const r = JSON.parse(json) as { status: number; requiredTokens: number; candidates: Array<Record<string, unknown>> }
    const names = this.#models.map((m) => m.name)
    // keys in the documented order: decision or error, requiredTokens, candidates
    const explanation = {} as RoutingExplanation
    let chosen = -1
    if (r.status >= 0) {
      chosen = out[OUT_MODEL]
      const modelName = names[chosen]
      explanation.decision = {
        modelName,
        confidence: out[OUT_CONFIDENCE],
        reason: adaptiveReason(out[OUT_PICK], modelName, out[OUT_A], out[OUT_B], out[OUT_UNTIL], now),
      }
    } else {
      try {
        this.#routeFailed(r.status, context)
      } catch (e) {
        explanation.error = e as CodedError
      }
    }
    explanation.requiredTokens = r.requiredTokens
    explanation.candidates = toCandidates(r.candidates, names, chosen)
    // outcomes applied on the way may have changed health: announced as by any call
    this.#drainHealth()
    return explanation
  }

  #select(context: RoutingContext, availableModels: Map<string, ModelConfig>): RoutingDecision {
    this.#open()
    const c = checkContext(context)
    // A memo hit reads no config (the legacy's cache hit does not either), so in-place edits
    // of the configs are looked for only on the way to Rust: a third of a hit's time. The
    // adaptive strategy's hits read every candidate's tier, window and quota: its walk of
    // the Map also looks for edits of those.
    let walk = this.#adaptive ? this.#sameMapUnedited(availableModels) : this.#sameMap(availableModels) ? SAME_MAP : OTHER_MAP
    const sameMap = walk !== OTHER_MAP
    if (!sameMap) {
      this.#syncMap(availableModels)
      // another Map of the same configs keeps the memo: its hits are served as on the same Map
      if (this.#adaptive) walk = this.#sameMapUnedited(availableModels)
    }
    if (this.#models.length === 0) throw codedError('ERR_NO_MODELS', 'No models available')
    let customJson: string | null = null
    // only custom rules run here (a call that is never made is never inlined: the hit's own
    // steps keep the inlining budget)
    if (this.#customRules !== 0) {
      try {
        customJson = this.#matchedCustomRules(context)
      } catch (e) {
        return this.#emergency(c, context, e, 0)
      }
    }
    const out = this.#out
    const h = this.#h
    const adaptive = this.#adaptive
    if (adaptive) this.#writeRetry(context)
    const now = this.#clock === undefined ? performance.now() : readClock(this.#clock)
    if (adaptive) this.#writeSession(now, true)
    // Key memo (see the header): the task first, by its cached hash, then latency and slot.
    // Contexts with a budget, capabilities or custom rules use one flat string key (the task
    // last, so no task text can imitate the other fields).
    const memoable = c.task.length <= MEMO_MAX_TASK_LENGTH
    const short = c.budget !== c.budget && c.capabilitiesJson === null && customJson === null && this.#budgetKey === null
    const slot = c.tier * 4 + c.priority
    const longKey = memoable && !short ? `${c.latency}\0${slot}\0${c.budget}\0${c.capabilitiesJson}\0${customJson}\0${c.task}` : ''
    // an empty memo cannot hit: skip hashing the task and reading the clock (one-off
    // requests never fill it)
    const memo = this.#memo
    if (memoable && (short ? memo.byTask.size : memo.byKey.size) !== 0) {
      const start = this.#clock === undefined ? now : performance.now()
      const m = short ? memo.byTask.get(c.task)?.get(c.latency) : memo.byKey.get(longKey)
      const at = short ? slot * 4 : 0
      if (m !== undefined && m[at + 2] > now && m[at + 3] === memo.generation) {
        if (adaptive) {
          // the live pick reads every candidate's tier: an edited one goes the full way
          if (walk === UNEDITED) {
            const d = this.#adaptiveMemoHit(c, context, m[at], now, start)
            if (d !== undefined) return d
          }
        } else {
          // a cached decision is served only while its model is eligible: the one config field
          // that decides it, the tier, is checked here (an edit goes the full way, to Rust)
          const model = this.#models[m[at + 1]]
          if (model.ref.tier === model.tier) return this.#memoHit(c, context, m[at], model.name, start)
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
    // read only when Rust ranks the request's candidates (a miss): the estimate must
    // depend on the task alone
    if (adaptive) out[OUT_INPUT_TOKENS] = this.#estimateTokens === undefined ? NaN : readEstimate(this.#estimateTokens, c.task)
    let status: number
    try {
      status = short
        ? // biome-ignore lint/suspicious/noAssignInExpressions: the plain call's two inputs go in through `out` (two fewer arguments to convert)
          ((out[IN_SLOT] = slot), (out[IN_LATENCY] = c.latency), native.routerSelectPlain(h, c.task))
        : native.routerSelect(
            h,
            c.task,
            c.tier,
            c.priority,
            c.latency,
            c.budget,
            c.capabilitiesJson,
            customJson,
            null, // the session's model goes in `out` (OUT_SESSION_MODEL)
            this.#budgetKey,
          )
    } catch (e) {
      throw fromNative(e)
    }
    if (status < 0) return this.#routeFailed(status, context)
    if (out[OUT_FLAGS] & FLAG_EVICTED) this.#memo.forget()
    const kind = out[OUT_KIND]
    const flags = out[OUT_FLAGS]
    if (kind !== KIND_NO_CANDIDATES) this.#samples++
    // memoize a key once it repeats (a cache hit in Rust): one-off requests allocate nothing.
    // The entry's expiry on the router's clock, less 1 ms so rounding can only make the memo
    // expire early.
    if (memoable && out[OUT_FRESH_MS] > 0 && (kind === KIND_CACHE_HIT || flags & FLAG_FROM_CACHE)) {
      memo.remember(c.task, c.latency, slot, short ? undefined : longKey, out[OUT_CACHE_ID], out[OUT_MODEL], now + out[OUT_FRESH_MS] - 1)
    }
    const routingTime = out[OUT_ROUTING_MS]
    const modelName = this.#models[out[OUT_MODEL]].name
    const fromCache = kind === KIND_CACHE_HIT || (flags & FLAG_FROM_CACHE) !== 0
    const reason =
      kind === KIND_CACHE_HIT
        ? 'LRU cache hit'
        : kind === KIND_SCORED
          ? bestMatchReason(out[OUT_A], out[OUT_B])
          : kind === KIND_BALANCED
            ? `Rules pipeline: score=${out[OUT_A].toFixed(2)}`
            : kind === KIND_ADAPTIVE
              ? adaptiveReason(out[OUT_PICK], modelName, out[OUT_A], out[OUT_B], out[OUT_UNTIL], now)
              : 'No candidates available - fallback'
    const decision: RoutingDecision =
      kind === KIND_ADAPTIVE
        ? this.#adaptiveDecision(
            modelName,
            out[OUT_CONFIDENCE],
            reason,
            routingTime,
            fromCache,
            out[OUT_DECISION_ID] * 4096 + this.#nameId(modelName),
          )
        : { modelName, confidence: out[OUT_CONFIDENCE], reason, routingTime, fromCache }
    if (kind === KIND_ADAPTIVE) this.#recordSession(out[OUT_MODEL], now)
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
      return this.#emergency(c, context, e, routingTime)
    }
    return decision
  }

  /** Adaptive: writes what the context says about earlier attempts to `out` for Rust. */
  #writeRetry(context: RoutingContext): void {
    const out = this.#out
    const ctx = context as unknown as Record<string, unknown>
    const session = ctx.sessionId
    if (session !== undefined) checkString('context.sessionId', session)
    this.#session = session === undefined ? null : (session as string)
    const key = ctx.budgetKey
    if (key !== undefined) checkString('context.budgetKey', key)
    this.#budgetKey = key === undefined ? null : (key as string)
    const retry = ctx.retryCount
    const previous = ctx.previousModel
    if (retry === undefined && previous === undefined) {
      out[OUT_RETRY] = 0
      out[OUT_PREVIOUS] = -1
    } else {
      this.#writeAttempt(retry, previous)
    }
  }

  /** `#writeRetry` for a context with `retryCount` or `previousModel` (apart: the first attempt's path stays small enough to inline). */
  #writeAttempt(retry: unknown, previous: unknown): void {
    const out = this.#out
    if (retry !== undefined) {
      if (typeof retry !== 'number') throw typeError('context.retryCount', 'a number', retry)
      if (!Number.isInteger(retry) || retry < 0) throw rangeError('context.retryCount', 'an integer ≥ 0', retry)
    }
    if (previous !== undefined) checkString('context.previousModel', previous)
    const p = previous === undefined ? undefined : this.#modelIndex.get(previous as string)
    out[OUT_RETRY] = (retry as number) > 0 || previous !== undefined ? 1 : 0
    out[OUT_PREVIOUS] = p === undefined ? -1 : p
  }

  /**
   * Adaptive: writes the models the session table holds for the context's session to `out`:
   * the current one and the home (-1: none, or no longer in the model set). `commit`: a
   * routing call, which forgets an idle session; else `explain`.
   */
  #writeSession(now: number, commit: boolean): void {
    const session = this.#session
    let i = -1
    let home = -1
    if (session !== null) {
      const e = commit ? this.#sessions.entryOf(session, now) : this.#sessions.peek(session, now)
      this.#sessionEntry = commit ? e : undefined
      if (e !== undefined) {
        // the indices hold while the model set they were taken from does
        const same = e.of === this.#models
        i = same ? e.index : (this.#modelIndex.get(e.model) ?? -1)
        home = same ? e.homeIndex : (this.#modelIndex.get(e.home) ?? -1)
        if (i < 0) i = home
      }
    }
    this.#out[OUT_SESSION_MODEL] = i
    this.#out[OUT_SESSION_HOME] = home
  }

  /** Adaptive: the context's session was routed to model `index` at `now` (a home gone from the model set becomes `index`). */
  #recordSession(index: number, now: number): void {
    const session = this.#session
    if (session === null) return
    const known = this.#sessionEntry
    this.#sessionEntry = undefined
    const home = known === undefined ? -1 : this.#out[OUT_SESSION_HOME]
    this.#sessions.record(session, this.#models[index].name, index, this.#models, now, home, known)
  }

  /**
   * Adaptive: `#sameMap` (OTHER_MAP when not), and in the same walk of the configs whether
   * any one's tier, context window or quota was edited in place since it was sent to Rust
   * (SAME_MAP) or none (UNEDITED): a memo hit's live pick reads every candidate's. One walk
   * rather than two: ~20 ns of a routing-cache hit.
   */
  #sameMapUnedited(models: unknown): number {
    if (models !== this.#lastMap || models === undefined) return OTHER_MAP
    const snap = this.#models
    const m = models as Map<unknown, ModelConfig>
    if (m.size !== snap.length) return OTHER_MAP
    // two plain iterators, as `sameEntries`
    let i = 0
    for (const name of m.keys()) if (snap[i++].name !== name) return OTHER_MAP
    i = 0
    let walk = UNEDITED
    for (const cfg of m.values()) {
      const s = snap[i++]
      if (s.ref !== cfg) return OTHER_MAP
      if (cfg.tier !== s.tier || cfg.maxTokens !== s.maxTokens || cfg.rpm !== s.rpm || cfg.tpm !== s.tpm) walk = SAME_MAP
    }
    return walk
  }

  /** The ranked candidates of routing-cache entry `id` and the tokens its decisions reserve (memoized). */
  #loadRanked(id: number): RankedCandidates {
    const indices = native.routerRanked(this.#h, id)
    const pairs: number[] = []
    const quotaRows: number[] = []
    for (const i of indices) {
      const nameId = this.#nameId(this.#models[i].name)
      pairs.push(nameId, i)
      if (this.#models[i].limited) quotaRows.push(CAP_NAMES + CAP_STRIDE * nameId)
    }
    const tokens = native.routerReserveTokens(this.#h, id)
    const r: RankedCandidates = { pairs, tokens, quotaRows, planned: -1, maxCost: 0, everyBudget: [], modelBudgets: [] }
    this.#memo.setRanked(id, r)
    return r
  }

  /** Builds the budget part of `r`'s admission check for the budgets set now. */
  #planBudgets(r: RankedCandidates): void {
    const scopes = this.#budgetScopes()
    const pairs = r.pairs
    let maxCost = -Infinity
    const modelBudgets: number[] = []
    for (let k = 0; k + 1 < pairs.length; k += 2) {
      const index = pairs[k + 1]
      const cost = this.#models[index].costPerToken * r.tokens
      // NaN stays: a NaN cost fails every check, as it would candidate by candidate
      if (maxCost === maxCost && (cost !== cost || cost > maxCost)) maxCost = cost
      const own = scopes.models[index]
      for (let j = 0; j < own.length; j++) modelBudgets.push(own[j], cost)
    }
    r.maxCost = maxCost
    r.everyBudget = pairs.length > 0 ? scopes.global : []
    r.modelBudgets = modelBudgets
    r.planned = this.#budgets.length
  }

  /**
   * `#budgets` by scope: the global ones, each model's own (by model index), the key budgets
   * by key. Built once per model set and budget count (`setBudget` replaces a budget of the
   * same scope and name in place), and the one place a budget's scope is read.
   */
  #budgetScopes(): BudgetScopes {
    const budgets = this.#budgets
    let scopes = this.#scopes
    if (scopes.of !== this.#models || scopes.count !== budgets.length) {
      const global: number[] = []
      const byModel = new Map<string | undefined, number[]>()
      const keys = new Map<string | undefined, number>()
      for (let i = 0; i < budgets.length; i++) {
        const b = budgets[i]
        if (b.scope === 'global') global.push(i)
        else if (b.scope === 'model') {
          const list = byModel.get(b.name)
          if (list === undefined) byModel.set(b.name, [i])
          else list.push(i)
        } else if (b.scope === 'key') keys.set(b.name, i)
      }
      const models = this.#models.map((m) => byModel.get(m.name) ?? [])
      scopes = { of: this.#models, count: budgets.length, global, models, keys }
      this.#scopes = scopes
    }
    return scopes
  }

  /** A decision made by the memo's fast path: counted in flight when the hit is replayed. */
  #fastPick(
    c: Checked,
    context: RoutingContext,
    id: number,
    modelIndex: number,
    nameId: number,
    modelName: string,
    now: number,
    start: number,
    affinity: boolean,
    keyBudget: number,
    tokens: number,
  ): RoutingDecision {
    const live = this.#live
    const decisionId = live[LIVE_NEXT_ID]
    live[LIVE_NEXT_ID] = decisionId + 1
    const routingTime = performance.now() - start
    const n = this.#logLen
    const log = this.#log
    const at = REPLAY_LEN * n
    log[at + REPLAY_ENTRY] = id
    log[at + REPLAY_ROUTING_MS] = routingTime
    log[at + REPLAY_MODEL] = modelIndex
    log[at + REPLAY_DECISION_ID] = decisionId
    log[at + REPLAY_NOW] = now
    log[at + REPLAY_KEY_BUDGET] = keyBudget
    log[at + REPLAY_TOKENS] = tokens
    this.#logLen = n + 1
    if (n + 1 === REPLAY_LOG_SIZE) this.#flush()
    this.#recordSession(modelIndex, now)
    const samples = ++this.#samples
    const reason = affinity ? AFFINITY_REASON : PREFERRED_REASON
    const decision = this.#adaptiveDecision(modelName, 0.9, reason, routingTime, true, decisionId * 4096 + nameId)
    if ((samples >= 100 || samples % 10 === 0) && hasListeners(this, 'performance_metrics')) {
      return this.#emitMetrics(c, context, decision, routingTime)
    }
    return decision
  }

  /** Emits `performance_metrics` after a memo hit: `decision`, or the emergency fallback when a listener throws. */
  #emitMetrics(c: Checked, context: RoutingContext, decision: RoutingDecision, routingTime: number): RoutingDecision {
    try {
      this.emit('performance_metrics', this.#metricsPayload())
    } catch (e) {
      return this.#emergency(c, context, e, routingTime)
    }
    return decision
  }

  /** Counts a buffered settlement of `tokens` and `cost` (NaN: not reported) on name id `nameId` in the capacity rows. */
  #chargeSettlement(nameId: number, modelName: string, tokens: number, cost: number): void {
    const cap = this.#capacity
    if (tokens === tokens) cap[CAP_NAMES + CAP_STRIDE * nameId + CAP_HELD] += tokens
    const budgets = this.#budgets.length
    if (budgets === 0) return
    if (cost !== cost) {
      const i = this.#modelIndex.get(modelName)
      cost = i === undefined ? Infinity : tokens * this.#models[i].costPerToken
    }
    for (let b = 0; b < budgets; b++) cap[2 * b + CAP_SPENT] += cost
  }

  /** The name id of the session's model `index` when it is a healthy candidate of `ranked` (-1: not). */
  #pinnedRow(ranked: number[], index: number): number {
    for (let k = 0; k + 1 < ranked.length; k += 2) {
      if (ranked[k + 1] === index) return this.#live[LIVE_HEAD + LIVE_STRIDE * ranked[k] + LIVE_STATE] === STATE_HEALTHY ? ranked[k] : -1
    }
    return -1
  }

  /**
   * Whether a decision of a memoized entry with candidates `r` fits every quota and budget:
   * each candidate's quota has room for one more request of the entry's tokens, and each
   * budget a candidate falls under has room for its cost (Rust leaves out a candidate that
   * does not, and reorders by cost when any budget is short: then Rust decides). A budget
   * every candidate falls under (global, the request's key) is checked once, for the
   * costliest candidate: the same answer, as rounding is monotonic. Returns the budget index
   * of the request's `budgetKey` (-1: none), or undefined when Rust must decide.
   */
  #roomFor(r: RankedCandidates): number | undefined {
    const tokens = r.tokens
    if (!(tokens >= 0)) return undefined
    const cap = this.#capacity
    const rows = r.quotaRows
    for (let j = 0; j < rows.length; j++) {
      const at = rows[j]
      const tpm = cap[at + CAP_TPM]
      if (!(cap[at + CAP_REQUESTS] >= 1 && tokens <= tpm && cap[at + CAP_HELD] + tokens <= tpm)) return undefined
    }
    return this.#budgets.length === 0 ? -1 : this.#budgetRoom(r)
  }

  /** `#roomFor`'s budget part (apart: the quota part stays small enough to inline). */
  #budgetRoom(r: RankedCandidates): number | undefined {
    const cap = this.#capacity
    const budgets = this.#budgets
    if (r.planned !== budgets.length) this.#planBudgets(r)
    const key = this.#budgetKey
    const keyBudget = key === null ? -1 : (this.#budgetScopes().keys.get(key) ?? -1)
    const maxCost = r.maxCost
    if (keyBudget >= 0 && r.pairs.length > 0 && !(cap[2 * keyBudget + CAP_SPENT] + maxCost <= cap[2 * keyBudget + CAP_LIMIT])) {
      return undefined
    }
    const every = r.everyBudget
    for (let j = 0; j < every.length; j++) {
      const i = every[j]
      if (!(cap[2 * i + CAP_SPENT] + maxCost <= cap[2 * i + CAP_LIMIT])) return undefined
    }
    const named = r.modelBudgets
    for (let j = 0; j + 1 < named.length; j += 2) {
      const i = named[j]
      if (!(cap[2 * i + CAP_SPENT] + named[j + 1] <= cap[2 * i + CAP_LIMIT])) return undefined
    }
    return keyBudget
  }

  /** Adds a fast-path decision's reservation on `model` (index `index`, name id `row`) to the capacity rows, as Rust adds it on replay. */
  #reserve(model: ModelSnapshot, index: number, row: number, tokens: number, keyBudget: number): void {
    const cap = this.#capacity
    if (model.limited) {
      const at = CAP_NAMES + CAP_STRIDE * row
      cap[at + CAP_REQUESTS] -= 1
      cap[at + CAP_HELD] += tokens
    }
    if (this.#budgets.length !== 0) this.#reserveBudgets(model, index, tokens, keyBudget)
  }

  /** `#reserve`'s budget part. */
  #reserveBudgets(model: ModelSnapshot, index: number, tokens: number, keyBudget: number): void {
    const cap = this.#capacity
    const cost = model.costPerToken * tokens
    const scopes = this.#budgetScopes()
    const every = scopes.global
    for (let j = 0; j < every.length; j++) cap[2 * every[j] + CAP_SPENT] += cost
    const own = scopes.models[index]
    for (let j = 0; j < own.length; j++) cap[2 * own[j] + CAP_SPENT] += cost
    if (keyBudget >= 0) cap[2 * keyBudget + CAP_SPENT] += cost
  }

  #adaptiveDecision(
    modelName: string,
    confidence: number,
    reason: string,
    routingTime: number,
    fromCache: boolean,
    tag: number,
  ): RoutingDecision {
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
    if (status === BUDGET_EXCEEDED) {
      const budget = this.#budgets[this.#out[OUT_A]]
      const resetsAtMs = this.#out[OUT_UNTIL]
      const now = this.#now()
      const named = budget.name === undefined ? budget.scope : `${budget.scope} ${JSON.stringify(budget.name)}`
      const err = codedError(
        'ERR_BUDGET_EXCEEDED',
        `Every eligible model would exceed the ${named} budget; it resets in ${Math.max(0, Math.round(resetsAtMs - now))} ms`,
      ) as ReturnType<typeof codedError> & { budget: { scope: string; name?: string }; resetsAtMs: number; retryAfterMs: number }
      err.budget = budget.name === undefined ? { scope: budget.scope } : { scope: budget.scope, name: budget.name }
      err.resetsAtMs = resetsAtMs
      err.retryAfterMs = Math.max(0, resetsAtMs - now)
      throw err
    }
    if (status === NO_MODEL_FITS_WINDOW) {
      const requiredTokens = this.#out[OUT_UNTIL]
      const err = codedError(
        'ERR_NO_ELIGIBLE_MODEL',
        `No available model's context window (maxTokens) holds the request's estimated ${requiredTokens} tokens (input estimate + tokenBudget)`,
      ) as ReturnType<typeof codedError> & { excludedBy: 'context_window'; requiredTokens: number }
      err.excludedBy = 'context_window'
      err.requiredTokens = requiredTokens
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
    // ready and no cooldown ends), every candidate within its quota and every budget (as the
    // room Rust last wrote, less what this path reserved since), and the session's model or
    // else the first healthy candidate within its limit: the pick Rust would make (see
    // `AdaptiveBook::pick` and `Router::pick_live`).
    if (out[OUT_RETRY] === 0 && now < live[LIVE_NEXT_CHANGE]) {
      let r = this.#memo.rankedOf(id)
      if (r === undefined) r = this.#loadRanked(id)
      const keyBudget = this.#roomFor(r)
      if (keyBudget !== undefined) {
        const ranked = r.pairs
        // the session's home model goes first while it is a healthy candidate, else the
        // model that served it last; else the first healthy candidate
        const home = out[OUT_SESSION_HOME]
        const current = out[OUT_SESSION_MODEL]
        let row = home >= 0 ? this.#pinnedRow(ranked, home) : -1
        let index = row >= 0 ? home : -1
        if (row < 0 && current >= 0) {
          row = this.#pinnedRow(ranked, current)
          if (row >= 0) index = current
        }
        const affinity = row >= 0
        for (let k = 0; !affinity && k + 1 < ranked.length; k += 2) {
          if (live[LIVE_HEAD + LIVE_STRIDE * ranked[k] + LIVE_STATE] === STATE_HEALTHY) {
            row = ranked[k]
            index = ranked[k + 1]
            break
          }
        }
        if (index >= 0) {
          const at = LIVE_HEAD + LIVE_STRIDE * row
          const model = this.#models[index]
          const target = model.latencyTarget
          const limit = target * this.#slowFactor
          // the decayed estimate lies between the last one and the target (≤ limit); fewer
          // than `SLOW_EVIDENCE` calls have been out for longer than the limit (one is the
          // latency tail), nor `lateCalls` calls for the late limit unless a call decided
          // after them answered quickly
          if (
            live[at + LIVE_ESTIMATE] <= limit &&
            now - live[at + LIVE_EVIDENCE] <= limit &&
            (now - live[at + LIVE_LATE] <= target * this.#lateFactor || live[at + LIVE_QUICK] >= live[at + LIVE_LATE])
          ) {
            // this call joins those in flight (outcomes buffered since leave them too old: a
            // later check only errs towards asking Rust)
            const inFlight = ++live[at + LIVE_IN_FLIGHT]
            if (inFlight === SLOW_EVIDENCE) live[at + LIVE_EVIDENCE] = now
            if (inFlight === this.#lateCalls) live[at + LIVE_LATE] = now
            const tokens = r.tokens
            this.#reserve(model, index, row, tokens, keyBudget)
            return this.#fastPick(c, context, id, index, row, model.name, now, start, affinity, keyBudget, tokens)
          }
        }
      }
    }
    return this.#pickCached(c, context, id, now, start)
  }

  /** Adaptive: Rust picks among memoized entry `id`'s candidates (the fast path could not); undefined when the entry is gone. */
  #pickCached(c: Checked, context: RoutingContext, id: number, now: number, start: number): RoutingDecision | undefined {
    const out = this.#out
    if (this.#logLen > 0) {
      native.routerReplayHits(this.#h, this.#log, this.#logLen)
      this.#logLen = 0
    }
    out[OUT_OUTCOMES] = this.#perfLen
    this.#perfLen = 0
    out[OUT_NOW] = now
    let status: number
    try {
      status = native.routerPickCached(this.#h, id, null, this.#budgetKey)
    } catch (e) {
      throw fromNative(e)
    }
    if (status === ENTRY_GONE) return undefined
    if (status < 0) return this.#routeFailed(status, context)
    const routingTime = performance.now() - start
    const n = this.#logLen
    this.#log[REPLAY_LEN * n + REPLAY_ENTRY] = id
    this.#log[REPLAY_LEN * n + REPLAY_ROUTING_MS] = routingTime
    this.#log[REPLAY_LEN * n + REPLAY_MODEL] = -1 // the pick itself was counted in Rust
    this.#logLen = n + 1
    if (n + 1 === REPLAY_LOG_SIZE) this.#flush()
    const samples = ++this.#samples
    const modelName = this.#models[out[OUT_MODEL]].name
    this.#recordSession(out[OUT_MODEL], now)
    const reason = adaptiveReason(out[OUT_PICK], modelName, out[OUT_A], out[OUT_B], out[OUT_UNTIL], now)
    const decision = this.#adaptiveDecision(
      modelName,
      out[OUT_CONFIDENCE],
      reason,
      routingTime,
      true,
      out[OUT_DECISION_ID] * 4096 + this.#nameId(modelName),
    )
    try {
      if (out[OUT_EVENTS] > 0) this.#drainHealth()
      if ((samples >= 100 || samples % 10 === 0) && hasListeners(this, 'performance_metrics')) {
        this.emit('performance_metrics', this.#metricsPayload())
      }
    } catch (e) {
      return this.#emergency(c, context, e, routingTime)
    }
    return decision
  }

  /** A decision served from the key memo: as the legacy's step 2, plus a logged replay. */
  #memoHit(c: Checked, context: RoutingContext, id: number, modelName: string, start: number): RoutingDecision {
    const routingTime = performance.now() - start
    const n = this.#logLen
    const log = this.#log
    log[REPLAY_LEN * n + REPLAY_ENTRY] = id
    log[REPLAY_LEN * n + REPLAY_ROUTING_MS] = routingTime
    log[REPLAY_LEN * n + REPLAY_MODEL] = -1
    this.#logLen = n + 1
    if (n + 1 === REPLAY_LOG_SIZE) this.#flush()
    const samples = ++this.#samples
    const decision: RoutingDecision = { modelName, confidence: 0.95, reason: 'LRU cache hit', routingTime, fromCache: true }
    // the window's length (at most 100) is a multiple of 10: the legacy emits its metrics
    if ((samples >= 100 || samples % 10 === 0) && hasListeners(this, 'performance_metrics')) {
      try {
        this.emit('performance_metrics', this.#metricsPayload())
      } catch (e) {
        return this.#emergency(c, context, e, routingTime)
      }
    }
    return decision
  }

  #emergency(c: Checked, context: RoutingContext, error: unknown, routingTime: number): RoutingDecision {
    this.#syncEdits() // the fallback reads the tiers; a memo hit may have skipped the check
    const message = error instanceof Error ? error.message : String(error)
    return {
      modelName: this.#fallbackName(c, context, this.#budgetKey, 'emergency fallback'),
      confidence: 0.1,
      reason: `Emergency fallback: ${message}`,
      routingTime,
      fromCache: false,
    }
  }

  /** A model to use instead of `originalModel` (the legacy's four strategies; under the strict tier policy never above the user's tier; adaptive: only a model whose window, quota and budgets have room for `context`, and the pick reserves it). Emits `fallback_triggered`; rejects like `selectOptimalModel`. */
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
    let i: number
    if (this.#adaptive) {
      // a model with room for the request (window, quota, budgets), reserved as a routing call's
      const key = (context as unknown as Record<string, unknown>).budgetKey
      if (key !== undefined) checkString('context.budgetKey', key)
      const estimate = this.#estimateTokens === undefined ? NaN : readEstimate(this.#estimateTokens, c.task)
      this.#flush()
      i = native.routerSelectFallback(
        this.#h,
        originalModel,
        c.tier,
        c.task,
        c.budget,
        estimate,
        (key as string | undefined) ?? null,
        this.#now(),
      )
    } else {
      i = native.routerSelectFallback(this.#h, originalModel, c.tier)
    }
    if (i === NO_MODELS || this.#models.length === 0) throw codedError('ERR_NO_MODELS', 'No models available for fallback')
    if (i === NO_ELIGIBLE_MODEL) throw codedError('ERR_NO_ELIGIBLE_MODEL', 'No models available for fallback')
    if (i < 0) this.#routeFailed(i, context)
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

  /** Adds or replaces (by `id`) a rule of the rules pipeline. Throws a `TypeError`/`RangeError` naming a bad field, or a `RangeError` beyond 1024 rules. */
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
    if (this.#strategy === 'rules') this.#memo.forget() // its decisions came from the old rules
  }

  /** Removes a rule; true when there was one. */
  removeRule(id: string): boolean {
    this.#open()
    checkString('id', id)
    this.#flush()
    const removed = native.routerRemoveRule(this.#h, id)
    this.#rules.delete(id)
    this.#countCustomRules()
    if (removed && this.#strategy === 'rules') this.#memo.forget()
    return removed
  }

  #countCustomRules(): void {
    let n = 0
    for (const r of this.#rules.values()) if (!isBuiltin(r)) n++
    this.#customRules = n
  }

  /** The rules, default ones included (copies). */
  getRules(): RoutingRule[] {
    this.#open()
    return Array.from(this.#rules.values(), (r) => ({ ...r, modelPreference: [...r.modelPreference] }))
  }

  /** Records a model call's outcome the legacy way (moving averages, success rate, token efficiency); also feeds the adaptive state (a `false` counts as a server error). Buffered: every later read sees it. Throws a `TypeError`/`RangeError` naming a bad argument. */
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
    log[at + OUTCOME_NAME_ID] = id
    log[at + OUTCOME_LATENCY] = latency
    log[at + OUTCOME_SUCCESS] = success ? 1 : 0
    log[at + OUTCOME_COST] = cost
    log[at + OUTCOME_OUTPUT_TOKENS] = output
    log[at + OUTCOME_TOTAL_TOKENS] = total
    log[at + OUTCOME_EPOCH_MS] = Date.now()
    // the adaptive state learns from it too: a failure without a class counts as a server error
    log[at + OUTCOME_DECISION_ID] = -1
    log[at + OUTCOME_CLASS] = success ? 0 : SERVER_FAILURE_CODE
    log[at + OUTCOME_RETRY_AFTER] = NaN
    log[at + OUTCOME_NOW] = this.#now()
    log[at + OUTCOME_REPORTED_COST] = NaN // a legacy record settles no budget
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
      if (tag === undefined && !this.#adaptive && typeof (decision as RoutingDecision)?.modelName === 'string') {
        // the other strategies do not track decisions (no in-flight counts): by its model
        tag = -1
      }
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
    log[at + OUTCOME_NAME_ID] = id
    log[at + OUTCOME_LATENCY] = o.latency
    log[at + OUTCOME_SUCCESS] = o.success
    log[at + OUTCOME_COST] = o.cost
    log[at + OUTCOME_OUTPUT_TOKENS] = o.output
    log[at + OUTCOME_TOTAL_TOKENS] = o.total
    log[at + OUTCOME_EPOCH_MS] = Date.now()
    log[at + OUTCOME_DECISION_ID] = decisionId
    log[at + OUTCOME_CLASS] = o.classCode
    log[at + OUTCOME_RETRY_AFTER] = o.retryAfter
    log[at + OUTCOME_NOW] = now
    log[at + OUTCOME_REPORTED_COST] = o.reportedCost
    ++this.#perfLen
    if (this.#perfLen === PERF_LOG_SIZE || !this.#mayBuffer(o.ok, id, o.latency)) this.#flush()
    // a settlement left in the buffer may exceed its estimate: the capacity rows count it in
    // full (never less room than Rust will see) until Rust rewrites them
    if (this.#perfLen > 0 && decisionId >= 0 && this.#adaptive && (o.total === o.total || o.reportedCost === o.reportedCost)) {
      this.#chargeSettlement(id, (decision as RoutingDecision).modelName, o.total, o.reportedCost)
    }
  }

  /**
   * Whether an outcome of name `id` may wait in the buffer: an ok one of a healthy model that
   * does not raise its latency estimate (a slower answer is applied at once: it is held, or
   * confirms a held one). Anything else is applied now, so health events fire and the next
   * decision sees it.
   */
  #mayBuffer(ok: boolean, id: number, latency: number): boolean {
    if (!ok) return false
    if (!this.#adaptive) return this.#unhealthy.size === 0
    const live = this.#live
    const at = LIVE_HEAD + LIVE_STRIDE * id
    if (!(live[at + LIVE_STATE] === STATE_HEALTHY && latency <= live[at + LIVE_ESTIMATE])) return false
    // its call leaves those in flight only when Rust applies it: until Rust rewrites the row,
    // the fast path does not excuse late calls (the `lateCalls`-th oldest may move past the
    // quickly answered call)
    live[at + LIVE_QUICK] = Number.NEGATIVE_INFINITY
    return true
  }

  /**
   * Live health of every model of the current Map (in its order), then of other names that
   * outcomes were reported for. Applies buffered outcomes and due cooldown ends first.
   */
  /**
   * New (`strategy: "adaptive"`): sets a spending budget (replacing the one of the same
   * scope and name, whose spend is kept). A decision reserves its estimated cost
   * (`costPerToken` × (input estimate + `tokenBudget` or `defaultOutputTokens`)) on every
   * budget it falls under; its outcome's `cost` (or tokens × price) settles it. When the
   * best candidates would exceed a budget, the ones that fit are chosen, cheapest first;
   * when none fits, routing rejects with `ERR_BUDGET_EXCEEDED`. Other strategies throw
   * `ERR_UNSUPPORTED_STRATEGY`. At most 1024 budgets.
   */
  setBudget(budget: BudgetConfig): void {
    this.#open()
    if (!this.#adaptive) throw codedError('ERR_UNSUPPORTED_STRATEGY', 'setBudget() needs strategy: "adaptive"')
    if (typeof budget !== 'object' || budget === null) throw typeError('budget', 'an object', budget)
    const b = budget as unknown as Record<string, unknown>
    const scope = b.scope
    if (scope !== 'global' && scope !== 'model' && scope !== 'key') throw typeError('budget.scope', '"global", "model" or "key"', scope)
    let name: string | undefined
    if (scope !== 'global') name = checkString('budget.name', b.name)
    else if (b.name !== undefined) throw typeError('budget.name', 'absent for scope "global"', b.name)
    if (typeof b.limit !== 'number') throw typeError('budget.limit', 'a number', b.limit)
    if (!(b.limit >= 0 && b.limit < Infinity)) throw rangeError('budget.limit', 'a finite number ≥ 0', b.limit)
    if (typeof b.windowMs !== 'number') throw typeError('budget.windowMs', 'a number', b.windowMs)
    if (!(b.windowMs > 0 && b.windowMs < Infinity)) throw rangeError('budget.windowMs', 'a finite number > 0', b.windowMs)
    this.#flush()
    const i = native.routerSetBudget(this.#h, scope, name ?? null, b.limit, b.windowMs, this.#now())
    if (i < 0) throw rangeError('budget', 'at most 1024 budgets', budget)
    this.#budgets[i] = { scope, name }
    this.#fleet?.prefetch()
  }

  /** New: every budget with its spend and what remains in its current window, in the order first set. */
  getBudgets(): BudgetStatus[] {
    this.#open()
    this.#flush()
    const list = JSON.parse(native.routerGetBudgets(this.#h, this.#now())) as Array<Record<string, unknown>>
    return list.map((r) => {
      const s = { scope: r.scope } as BudgetStatus
      if (r.name !== null) s.name = r.name as string
      s.limit = r.limit as number
      s.windowMs = r.windowMs as number
      s.spent = r.spent as number
      s.remaining = r.remaining as number
      s.resetsAtMs = r.resetsAtMs as number
      return s
    })
  }

  /** Every known model's live state: health, until when, latency estimate, calls in flight, ejections. */
  getModelHealth(): ModelHealth[] {
    this.#open()
    this.#flush()
    const records = JSON.parse(native.routerModelHealth(this.#h, this.#now())) as Array<Record<string, unknown>>
    this.#drainHealth()
    return records.map(toModelHealth)
  }

  /** Marks a model available or not (holds until changed; `true` also restores an `auth_failed` model). Emits `model_availability_changed` when it changes. */
  updateModelAvailability(modelName: string, available: boolean): void {
    this.#open()
    checkString('modelName', modelName)
    if (typeof available !== 'boolean') throw typeError('available', 'a boolean', available)
    if (native.routerSetAvailability(this.#h, modelName, available)) {
      this.#memo.forget()
      this.emit('model_availability_changed', { modelName, available, timestamp: Date.now() })
    }
    // restoring availability ends an auth ejection
    if (available && this.#unhealthy.has(modelName)) this.#drainHealth()
  }

  /** `updateModelAvailability` for several models; one `batch_availability_update` event with the changes. */
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
      this.#memo.forget()
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

  /** Routing-time statistics over the last 100 decisions and the routing cache's hit rate. */
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

  /** Routing performance, the routing cache, availability counts and every model's record (copies, in the legacy's key order). */
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

  /** Shifts the score weights as the legacy does: towards reliability when `recentFailures > 5`, towards latency when `avgLatency > 2000`. `null`/`undefined` is a `TypeError` naming `data`. */
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

  /** Decisions per model name that were routed in full (routing-cache hits are not counted, as in the legacy). */
  getModelUsageStats(): Record<string, number> {
    this.#open()
    return Object.fromEntries(this.#snapshot().usage)
  }

  /** Every model's record, in first-recorded order (copies). */
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
    this.#fleet?.close()
    this.#fleet = null
    native.routerClear(this.#h)
    this.#memo.clear()
    this.#sessions.clear()
    this.#unhealthy.clear()
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
export type { CandidateExclusion, CandidateExplanation, RoutingExplanation, ScoreParts } from './router-explain'
export type {
  BudgetConfig,
  BudgetStatus,
  ModelConfig,
  ModelPerformance,
  ModelRouterOptions,
  Priority,
  RouterStats,
  RoutingContext,
  RoutingDecision,
  RoutingPerformance,
  RoutingRule,
  Tier,
} from './router-types'
