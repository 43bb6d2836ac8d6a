/** The router's public types: what callers pass to and get from `ModelRouter`. */
import type { AdaptiveOptions } from './router-adaptive'
import type { RedisOptions } from './fleet-cache'

/** A user's tier: what models the user may be routed to (`free` < `pro` < `enterprise`). */
export type Tier = 'free' | 'pro' | 'enterprise'
/** A request's priority, as the legacy reads it (`critical` matches the critical-tasks rule). */
export type Priority = 'low' | 'medium' | 'high' | 'critical'

/** A model the router may choose: the values of the `availableModels` Map. Only `name`, `tier`, `capabilities`, `latencyTarget`, `costPerToken` and `maxTokens` (and the capacity fields) cross into native code; `apiKey`, `endpoint`, `projectId` and `location` are never stored, logged or exported. */
export interface ModelConfig {
  /** The model's name, as the Map's key. */
  name: string
  /** The provider's endpoint. Never read, stored or sent by the router. */
  endpoint?: string
  /** A secret: never read, stored, logged, exported or sent to Redis. */
  apiKey?: string
  /** Never read, stored or sent by the router. */
  projectId?: string
  /** Never read, stored or sent by the router. */
  location?: string
  /** The lowest user tier that may use the model (strict tier policy: no decision names it for a lower tier). */
  tier: Tier
  /** What the model can do (`"code"`, `"reasoning"`, `"advanced-reasoning"`, …): the candidate filter and scores read them. */
  capabilities: string[]
  /** The model's typical latency in ms: the latency score's input until outcomes are recorded, and the adaptive strategy's starting estimate. */
  latencyTarget: number
  /** Price per token (the cost score; budgets). */
  costPerToken: number
  /** The model's context window in tokens. */
  maxTokens: number
  /**
   * New (`strategy: "adaptive"`): requests per any 60-second window (a finite number > 0;
   * absent: unlimited). A model whose next request would exceed it is skipped like a
   * cooling model.
   */
  rpm?: number
  /**
   * New (`strategy: "adaptive"`): tokens per any 60-second window (a finite number > 0;
   * absent: unlimited). A decision reserves its estimated input plus `tokenBudget` (or
   * `defaultOutputTokens`); `reportOutcome` with `inputTokens` and `outputTokens` settles it.
   */
  tpm?: number
}

/** What `selectOptimalModel` routes: the task and the request's constraints. */
export interface RoutingContext {
  /** The task's text (any length; the whole text is analysed). */
  task: string
  /** The user's tier: no decision names a model above it (strict tier policy). */
  userTier: Tier
  /** The request's priority. */
  priority: Priority
  /** The latency the request needs, in ms (a finite number ≥ 0); the adaptive strategy treats it as a deadline. */
  latencyRequirement: number
  /** Tokens the request may use for its answer (a finite number ≥ 0). */
  tokenBudget?: number
  /** Capabilities the request needs. */
  capabilities?: string[]
  /** The model a retried request failed on: the adaptive strategy never routes the retry back to it while another model fits. */
  previousModel?: string
  /** How many times the request was retried (0 or absent: a first attempt). */
  retryCount?: number
  /**
   * New (`strategy: "adaptive"`): the conversation this request belongs to. Its later
   * requests go to the model that served it while that model is a healthy candidate
   * (provider-side prompt caches make follow-ups cheaper and faster), and move at once when
   * it is not. See `sessionAffinity`, `sessionIdleMs`, `maxSessions`.
   */
  sessionId?: string
  /**
   * New (`strategy: "adaptive"`): the caller key (a team, a user, an API key) whose
   * `setBudget({ scope: 'key', name })` budget this request spends.
   */
  budgetKey?: string
}

/** A spending budget (`setBudget`). */
export interface BudgetConfig {
  /** `"global"`: every request; `"model"`: requests to model `name`; `"key"`: requests with `context.budgetKey === name`. */
  scope: 'global' | 'model' | 'key'
  /** The model or key (required for `"model"` and `"key"`). */
  name?: string
  /** Cost allowed per window (a finite number ≥ 0, in the unit of `costPerToken` × tokens). */
  limit: number
  /** The window (ms, finite, > 0): spend starts again every `windowMs` from when the budget was first set. */
  windowMs: number
}

/** A budget's state now (`getBudgets()`). */
export interface BudgetStatus {
  /** `global`: every decision; `model`: decisions naming the model `name`; `key`: decisions whose `context.budgetKey` is `name`. */
  scope: 'global' | 'model' | 'key'
  /** The model (scope `model`) or budget key (scope `key`); absent for `global`. */
  name?: string
  /** Spending allowed per window (the unit of `costPerToken` and of outcomes' `cost`). */
  limit: number
  /** Length of a budget window in ms. */
  windowMs: number
  /** Spent in the current window: settled costs plus reservations awaiting their outcome. */
  spent: number
  /** `limit − spent`, at least 0. */
  remaining: number
  /** When the current window ends, on the router's clock (ms). */
  resetsAtMs: number
}

/** What `selectOptimalModel` and `selectFallbackModel` resolve with (the legacy's shape). Pass it to `reportOutcome` once the model call has ended. */
export interface RoutingDecision {
  /** The chosen model (a key of the Map). */
  modelName: string
  /** 0–0.95: 0.95 for a routing-cache hit, 0.3 for the no-candidates fallback, 0.1 for the emergency fallback. */
  confidence: number
  /** Why this model, in words (the legacy's texts for the legacy strategy). */
  reason: string
  /** Milliseconds spent deciding (float). */
  routingTime: number
  /** Served from the routing cache. */
  fromCache: boolean
}

/** A routing rule of the rules pipeline (`strategy: "rules"`): when `condition` holds, `modelPreference` names the preferred models. */
export interface RoutingRule {
  /** Unique id; adding a rule with an existing id replaces it. */
  id: string
  /** A readable name. */
  name: string
  /** Whether the rule applies to a context (the seven default rules are evaluated natively). */
  condition: (context: RoutingContext) => boolean
  /** Preferred models, best first. */
  modelPreference: string[]
  /** Rules that hold are applied highest weight first. */
  weight: number
  /** An inactive rule is ignored. */
  active: boolean
}

/** A model's record built from `recordPerformance` calls (the legacy's fields and formulas). */
export interface ModelPerformance {
  /** The model. */
  modelName: string
  /** Moving average of the recorded latencies in ms (α = 0.1; the first sample sets it). */
  avgLatency: number
  /** (usageCount − errorCount) / usageCount. */
  successRate: number
  /** Moving average of the recorded costs (α = 0.1; the first sample sets it). */
  avgCost: number
  /** When the last outcome was recorded. */
  lastUsed: Date
  /** Outcomes recorded. */
  usageCount: number
  /** Failed outcomes recorded. */
  errorCount: number
  /** 0.5, as in the legacy (never updated there either). */
  complexityScore: number
  /** Starts at 1; 0.9 · old + 0.1 · output / total for each outcome with token usage. */
  tokenEfficiency: number
}

/** Routing-time statistics over the last 100 decisions (`getRoutingPerformance()`). */
export interface RoutingPerformance {
  /** Mean routing time in ms. */
  averageTime: number
  /** 95th percentile routing time in ms. */
  p95Time: number
  /** Routing-cache hits / (hits + misses). */
  cacheHitRate: number
  /** p95 under the 75 ms target. */
  targetMet: boolean
}

/** What `getRouterStats()` returns: routing performance, the routing cache, availability and the per-model records. */
export interface RouterStats {
  /** As `getRoutingPerformance()`. */
  performance: RoutingPerformance
  /** The routing cache: entries, hit rate, capacity. */
  cache: { size: number; hitRate: number; limit: number }
  /** Models with an availability entry, available and unavailable ones. */
  availability: { total: number; available: number; unavailable: number }
  /** The per-model records (`getPerformanceData()`). */
  models: Array<{ name: string; performance: ModelPerformance }>
}

/** Options of `new ModelRouter(options?)`, all optional; a bad value is a `TypeError`/`RangeError` naming it. Defaults keep the legacy's behaviour (`strategy: "legacy"`); the adaptive tuning is documented in docs/router.md. */
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
  /** Fleet mode: model health and quotas shared by every process through one Redis (same shape as `CacheManager`'s; see docs/fleet.md). Absent: nothing is started. */
  redis?: RedisOptions
}
