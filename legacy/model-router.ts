/**
 * Reference port of the legacy `ModelRouter` (legacy `src/core/model-router.ts`),
 * written only from docs/legacy-contract.md ("Types", "ModelRouter",
 * "Deviations"). It is the "legacy behaviour" that differential tests and
 * benchmarks compare the native router against. It is never shipped.
 *
 * Every legacy defect listed in the contract's "Deviations" table is REPRODUCED
 * on purpose (truncated base64 cache key, availability reset on every call,
 * cached decisions served for unavailable models, moving averages starting at
 * 0, complexity cache keyed by the first 100 chars + priority, indexOf/splice
 * LRU, hit rate from access counts, in-place sorted routing-time window, tier
 * lookups in plain objects, fallbacks that ignore the user's tier). Do not fix
 * them here.
 *
 * The only additions of the port to the legacy interface:
 *   - both intervals are `.unref()`-ed, and `dispose()` clears them;
 *   - the optional constructor argument `{ random }` used by `loadBalance`
 *     (default Math.random) so tests can seed it;
 *   - the legacy private pieces (rules, five-factor score, load balancing,
 *     complexity analysis) are public methods marked `@internal`.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { ModelConfig, ModelPerformance, RoutingContext, RoutingDecision, RoutingRule } from './types'

/** @internal */
export interface ComplexityAnalysis {
  tokenCount: number
  keywordComplexity: number
  structuralComplexity: number
  domainSpecific: boolean
  score: number
}

interface RoutingCacheEntry {
  decision: RoutingDecision
  /** Date.now() of the write */
  timestamp: number
  accessCount: number
}

/** @internal */
export interface RoutingMetrics {
  averageRoutingTime: number
  maxRoutingTime: number
  p95RoutingTime: number
  targetMet: boolean
  cacheHitRate: number
}

export interface ModelRouterPortOptions {
  /** Port-only: random source of loadBalance (default Math.random). */
  random?: () => number
}

// Plain objects on purpose (legacy defect): a tier named "toString" or
// "constructor" finds an inherited function here and misbehaves.
const TIER_LEVELS: Record<string, number> = { free: 0, pro: 1, enterprise: 2 }
const FALLBACK_MODELS: Record<string, string[]> = {
  enterprise: ['gemini-2.5-pro', 'gemini-pro-vertex', 'gemini-2.0-flash-thinking', 'gemini-2.0-flash'],
  pro: ['gemini-2.5-flash', 'gemini-2.0-flash-thinking', 'gemini-2.0-flash'],
  free: ['gemini-2.0-flash', 'gemini-2.5-flash'],
}
/** five-factor score: cost limit per user tier ("pro 3e-6, others 1e-6") */
const COST_LIMITS: Record<string, number> = { free: 1e-6, pro: 3e-6 }

const ROUTING_TARGET_MS = 75
const ROUTING_CACHE_LIMIT = 1000
const ROUTING_CACHE_TTL_MS = 5 * 60 * 1000
const ROUTING_WINDOW = 100
const USAGE_RESET_ABOVE = 1000
const MOVING_AVERAGE_ALPHA = 0.1

const COMPLEXITY_KEYWORDS = ['analyze', 'implement', 'optimize', 'algorithm', 'architecture', 'debug']
const STRUCTURAL_PATTERNS = ['{', '}', '(', ')', '[', ']', '=>', 'function', 'class', 'if', 'for']
const DOMAIN_KEYWORDS = ['code', 'api', 'database', 'security', 'machine learning', 'data science']

/**
 * The contract says six phrases are pre-analysed at construction, without
 * capabilities, but does not name them nor the priority used in their cache
 * key. Port's choice: these six, each cached under priority "medium"
 * (key `${phrase.substring(0,100)}:medium`).
 */
export const PREANALYZED_PHRASES = [
  'Write a function',
  'Analyze this data',
  'Debug this code',
  'Explain this concept',
  'Optimize this algorithm',
  'Summarize this text',
] as const
export const PREANALYZED_PRIORITY = 'medium'

export class ModelRouter extends EventEmitter {
  private rules = new Map<string, RoutingRule>()
  private modelPerformance = new Map<string, ModelPerformance>()
  private modelAvailability = new Map<string, boolean>()
  private routingCache = new Map<string, RoutingCacheEntry>()
  /** LRU order, least recently used first (indexOf/splice, as the legacy). */
  private lruOrder: string[] = []
  private complexityCache = new Map<string, ComplexityAnalysis>()
  /** window of the last 100 routing times; sorted IN PLACE by p95 (legacy defect) */
  private routingTimes: number[] = []
  private usageCounter = new Map<string, number>()
  private weights = { latency: 0.35, cost: 0.15, reliability: 0.25, userTier: 0.15, complexity: 0.1 }
  private readonly random: () => number
  private metricsTimer: NodeJS.Timeout
  private cacheCleanupTimer: NodeJS.Timeout

  constructor(options: ModelRouterPortOptions = {}) {
    super()
    this.random = options.random ?? Math.random
    this.initializeDefaultRules()
    this.preAnalyzeCommonPhrases()

    // Legacy: every 30 s, emitted even with no samples.
    this.metricsTimer = setInterval(() => {
      this.emit('performance_metrics', this.computeRoutingMetrics())
    }, 30_000)
    // Legacy: every 5 minutes, purge expired routing-cache entries.
    this.cacheCleanupTimer = setInterval(() => {
      this.purgeExpiredRoutingCache()
    }, ROUTING_CACHE_TTL_MS)
    // Port-only: the legacy timers keep the process alive.
    this.metricsTimer.unref()
    this.cacheCleanupTimer.unref()
  }

  /** Port-only (not in the legacy contract): clears both intervals. */
  dispose(): void {
    clearInterval(this.metricsTimer)
    clearInterval(this.cacheCleanupTimer)
  }

  // ------------------------------------------------------------------ setup

  private initializeDefaultRules(): void {
    const premium = ['gemini-2.5-deep-think', 'gemini-2.5-pro', 'gemini-pro-vertex', 'gemini-2.0-flash-thinking']
    const defaults: RoutingRule[] = [
      {
        id: 'critical-tasks',
        name: 'Critical tasks',
        condition: (c) => c.priority === 'critical',
        modelPreference: [...premium],
        weight: 10,
        active: true,
      },
      {
        id: 'enterprise-tier',
        name: 'Enterprise tier',
        condition: (c) => c.userTier === 'enterprise',
        modelPreference: [...premium],
        weight: 8,
        active: true,
      },
      {
        id: 'low-latency',
        name: 'Low latency',
        condition: (c) => c.latencyRequirement < 1000,
        modelPreference: ['gemini-2.5-flash', 'gemini-2.0-flash', 'gemini-2.0-flash-thinking'],
        weight: 7,
        active: true,
      },
      {
        id: 'code-tasks',
        name: 'Code tasks',
        condition: (c) => c.task.toLowerCase().includes('code') || (c.capabilities?.includes('code') ?? false),
        modelPreference: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.0-flash-thinking', 'gemini-2.0-flash'],
        weight: 6,
        active: true,
      },
      {
        id: 'large-context',
        name: 'Large context',
        condition: (c) => (c.tokenBudget || 0) > 100000,
        modelPreference: ['gemini-2.5-deep-think', 'gemini-2.5-pro', 'gemini-pro-vertex'],
        weight: 5,
        active: true,
      },
      {
        id: 'free-tier',
        name: 'Free tier',
        condition: (c) => c.userTier === 'free',
        modelPreference: ['gemini-2.0-flash', 'gemini-2.5-flash'],
        weight: 3,
        active: true,
      },
      {
        id: 'deep-reasoning',
        name: 'Deep reasoning',
        condition: (c) => {
          const t = c.task.toLowerCase()
          return t.includes('complex') || t.includes('analyze') || (c.capabilities?.includes('deep-reasoning') ?? false)
        },
        modelPreference: ['gemini-2.5-deep-think', 'gemini-2.5-pro'],
        weight: 9,
        active: true,
      },
    ]
    for (const rule of defaults) this.rules.set(rule.id, rule)
  }

  private preAnalyzeCommonPhrases(): void {
    for (const phrase of PREANALYZED_PHRASES) {
      // analysed without capabilities (legacy defect: domainSpecific is false)
      this.complexityCache.set(`${phrase.substring(0, 100)}:${PREANALYZED_PRIORITY}`, this.analyzeTaskComplexity(phrase, undefined))
    }
  }

  // ------------------------------------------------------------ main route

  async selectOptimalModel(context: RoutingContext, availableModels: Map<string, ModelConfig>): Promise<RoutingDecision> {
    const start = performance.now()
    try {
      // 1. availability map replaced (legacy defect: explicit unavailability is lost)
      this.modelAvailability.clear()
      for (const name of availableModels.keys()) this.modelAvailability.set(name, true)

      // 2. routing cache
      const cacheKey = this.generateCacheKey(context)
      const cached = this.routingCache.get(cacheKey)
      if (cached) {
        this.touchLru(cacheKey)
        cached.accessCount++
        if (Date.now() - cached.timestamp < ROUTING_CACHE_TTL_MS) {
          const routingTime = performance.now() - start
          this.recordRoutingTime(routingTime)
          return {
            modelName: cached.decision.modelName,
            confidence: 0.95,
            reason: 'LRU cache hit',
            routingTime,
            fromCache: true,
          }
        }
      }

      // 3. complexity (cached by first 100 chars + priority: legacy defect)
      const complexity = this.getComplexityAnalysis(context)

      // 4. candidates
      const userLevel = this.getTierLevel(context.userTier)
      const candidates: Array<{ name: string; config: ModelConfig }> = []
      for (const [name, config] of availableModels) {
        if (this.getTierLevel(config.tier) > userLevel) continue
        if (!this.modelAvailability.get(name)) continue
        let keep: boolean
        if (complexity.score > 0.8) {
          keep = config.capabilities.includes('advanced-reasoning') || config.capabilities.includes('code')
        } else if (context.latencyRequirement < 1000) {
          keep = config.latencyTarget < 1200
        } else {
          keep = true
        }
        if (keep) candidates.push({ name, config })
      }

      // 5. no candidate: tier fallback, nothing cached/counted/recorded/emitted
      if (candidates.length === 0) {
        const modelName = this.getFallbackByTier(context.userTier, availableModels)
        return {
          modelName,
          confidence: 0.3,
          reason: 'No candidates available - fallback',
          routingTime: performance.now() - start,
          fromCache: false,
        }
      }

      // 6. scoring
      let best: { name: string; total: number; latency: number; complexity: number } | null = null
      let bestScore = -1
      for (const { name, config } of candidates) {
        const s = this.scoreCandidate(name, config, context, complexity)
        if (s.total > bestScore) {
          bestScore = s.total
          best = { name, total: s.total, latency: s.latency, complexity: s.complexity }
        }
      }
      // best is non-null: every total is >= 0 > -1 (unless NaN from a misbehaving config)
      const winner = best!
      const decision: RoutingDecision = {
        modelName: winner.name,
        confidence: Math.min(0.95, winner.total),
        reason: `Best match: latency=${winner.latency.toFixed(2)}, complexity=${winner.complexity.toFixed(2)}`,
        routingTime: 0,
        fromCache: false,
      }

      // 7. cache + usage counter
      this.cacheDecision(cacheKey, decision)
      this.incrementUsage(decision.modelName)

      // 8. routing time, events
      const routingTime = performance.now() - start
      decision.routingTime = routingTime
      this.recordRoutingTime(routingTime)
      if (routingTime > ROUTING_TARGET_MS) {
        this.emit('routing_slow', { routingTime, target: ROUTING_TARGET_MS })
      }
      this.emit('routing_decision', decision)
      return decision
    } catch (error) {
      // 9. emergency fallback (throws "No models available" on an empty Map)
      const modelName = this.getFallbackByTier(context.userTier, availableModels)
      return {
        modelName,
        confidence: 0.1,
        reason: `Emergency fallback: ${(error as Error).message}`,
        routingTime: performance.now() - start,
        fromCache: false,
      }
    }
  }

  // ------------------------------------------------------------------ rules

  addRule(rule: RoutingRule): void {
    // Map.set on an existing id keeps its position: replaced in place
    this.rules.set(rule.id, rule)
  }

  removeRule(id: string): boolean {
    return this.rules.delete(id)
  }

  getRules(): RoutingRule[] {
    return Array.from(this.rules.values())
  }

  /**
   * @internal Legacy private, not used by selectOptimalModel. Active rules whose
   * condition holds, highest weight first (stable: ties keep insertion order);
   * the union of their preferences present in the Map, in that order; when that
   * union is empty, all the Map's keys.
   */
  applyRules(context: RoutingContext, models: Map<string, ModelConfig>): string[] {
    const matching = Array.from(this.rules.values())
      .filter((r) => r.active && r.condition(context))
      .sort((a, b) => b.weight - a.weight)
    const preferred: string[] = []
    for (const rule of matching) {
      for (const name of rule.modelPreference) {
        if (models.has(name) && !preferred.includes(name)) preferred.push(name)
      }
    }
    return preferred.length > 0 ? preferred : Array.from(models.keys())
  }

  /**
   * @internal Legacy private five-factor score, not used by selectOptimalModel.
   * latency (model = config.latencyTarget), cost, reliability, tier,
   * capability; weighted with the current weights latency/cost/reliability/
   * userTier/complexity (0.35/0.15/0.25/0.15/0.1 initially), summed in that order.
   */
  calculateModelScore(modelName: string, config: ModelConfig, context: RoutingContext): number {
    const required = context.latencyRequirement
    const modelLatency = config.latencyTarget
    const latencyScore = modelLatency <= required ? 1.0 : Math.max(0, 1 - (modelLatency - required) / required)

    let costScore: number
    if (context.userTier === 'enterprise') {
      costScore = 0.8
    } else {
      const limit = COST_LIMITS[context.userTier] || 1e-6 // plain object: "toString" misbehaves
      costScore = config.costPerToken <= limit ? 1.0 : Math.max(0, 1 - (config.costPerToken - limit) / limit)
    }

    const perf = this.modelPerformance.get(modelName)
    const reliabilityScore = !perf || perf.usageCount < 10 ? 0.7 : perf.successRate

    const tierScore = this.getTierLevel(config.tier) <= this.getTierLevel(context.userTier) ? 1.0 : 0.1

    const requiredCaps = context.capabilities || []
    const capabilityScore =
      requiredCaps.length === 0 ? 1.0 : requiredCaps.filter((c) => config.capabilities.includes(c)).length / requiredCaps.length

    let total = 0
    total += latencyScore * this.weights.latency
    total += costScore * this.weights.cost
    total += reliabilityScore * this.weights.reliability
    total += tierScore * this.weights.userTier
    total += capabilityScore * this.weights.complexity
    return total
  }

  /**
   * @internal Legacy private load balancing, not used by selectOptimalModel.
   * Top three by score (stable sort, highest first); each score times
   * 1 + 0.2·max(0, 1 − usage/100); random pick in proportion. Throws on an
   * empty list.
   */
  loadBalance(scored: Array<{ modelName: string; score: number }>): string {
    if (scored.length === 0) throw new Error('No models to balance')
    const top = [...scored].sort((a, b) => b.score - a.score).slice(0, 3)
    const adjusted = top.map((m) => {
      const usage = this.usageCounter.get(m.modelName) || 0
      return { modelName: m.modelName, score: m.score * (1 + 0.2 * Math.max(0, 1 - usage / 100)) }
    })
    const total = adjusted.reduce((sum, m) => sum + m.score, 0)
    let r = this.random() * total
    for (const m of adjusted) {
      r -= m.score
      if (r <= 0) return m.modelName
    }
    return adjusted[adjusted.length - 1].modelName
  }

  // ------------------------------------------------------------ performance

  recordPerformance(
    modelName: string,
    latency: number,
    success: boolean,
    cost: number,
    tokenUsage?: { input: number; output: number; total: number },
  ): void {
    let perf = this.modelPerformance.get(modelName)
    if (!perf) {
      perf = {
        modelName,
        avgLatency: 0, // legacy defect: moving average starts at 0
        successRate: 1.0,
        avgCost: 0,
        lastUsed: new Date(),
        usageCount: 0,
        errorCount: 0,
        complexityScore: 0.5,
        tokenEfficiency: 1.0,
      }
      this.modelPerformance.set(modelName, perf)
    }
    const a = MOVING_AVERAGE_ALPHA
    perf.avgLatency = a * latency + (1 - a) * perf.avgLatency
    perf.avgCost = a * cost + (1 - a) * perf.avgCost
    perf.usageCount++
    if (!success) perf.errorCount++
    perf.successRate = (perf.usageCount - perf.errorCount) / perf.usageCount
    if (tokenUsage && tokenUsage.total > 0) {
      perf.tokenEfficiency = 0.9 * perf.tokenEfficiency + 0.1 * (tokenUsage.output / tokenUsage.total)
    }
    perf.lastUsed = new Date()
    this.emit('model_performance_updated', { modelName, latency, success, cost, performance: perf })
  }

  async selectFallbackModel(
    originalModel: string,
    context: RoutingContext,
    availableModels: Map<string, ModelConfig>,
    reason: string,
  ): Promise<RoutingDecision> {
    const start = performance.now()
    const isAvailable = (name: string) => this.modelAvailability.get(name) === true
    let fallback: string | undefined
    const original = availableModels.get(originalModel)

    if (availableModels.has(originalModel) && original) {
      // 1. same tier string, >= 70% of the original's capabilities (user tier not checked)
      for (const [name, config] of availableModels) {
        if (name === originalModel || !isAvailable(name)) continue
        const shared = original.capabilities.filter((c) => config.capabilities.includes(c)).length
        if (config.tier === original.tier && shared >= 0.7 * original.capabilities.length) {
          fallback = name
          break
        }
      }
      // 2. lower tier than the original, within the user's, with "code" or "reasoning"
      if (fallback === undefined) {
        const userLevel = this.getTierLevel(context.userTier)
        const originalLevel = this.getTierLevel(original.tier)
        for (const [name, config] of availableModels) {
          if (name === originalModel || !isAvailable(name)) continue
          const level = this.getTierLevel(config.tier)
          if (
            level <= userLevel &&
            level < originalLevel &&
            (config.capabilities.includes('code') || config.capabilities.includes('reasoning'))
          ) {
            fallback = name
            break
          }
        }
      }
    }
    // 3. the tier list (list order), present in the Map and available; may be originalModel
    if (fallback === undefined) {
      const list = FALLBACK_MODELS[context.userTier] || FALLBACK_MODELS.free
      for (const name of list) {
        if (availableModels.has(name) && isAvailable(name)) {
          fallback = name
          break
        }
      }
    }
    // 4. any available model; may be originalModel
    if (fallback === undefined) {
      for (const name of availableModels.keys()) {
        if (isAvailable(name)) {
          fallback = name
          break
        }
      }
    }
    if (fallback === undefined) throw new Error('No models available for fallback')

    const routingTime = performance.now() - start
    this.emit('fallback_triggered', { originalModel, fallbackModel: fallback, reason, routingTime })
    return {
      modelName: fallback,
      confidence: 0.6,
      reason: `Fallback from ${originalModel}: ${reason}`,
      routingTime,
      fromCache: false,
    }
  }

  updateModelAvailability(modelName: string, available: boolean): void {
    const previous = this.modelAvailability.get(modelName)
    this.modelAvailability.set(modelName, available)
    if (previous !== available) {
      this.emit('model_availability_changed', { modelName, available, timestamp: Date.now() })
    }
  }

  updateBatchAvailability(updates: Map<string, boolean>): void {
    const changes: Array<{ model: string; available: boolean }> = []
    for (const [model, available] of updates) {
      const previous = this.modelAvailability.get(model)
      this.modelAvailability.set(model, available)
      if (previous !== available) changes.push({ model, available })
    }
    if (changes.length > 0) {
      this.emit('batch_availability_update', { changes, timestamp: Date.now() })
    }
  }

  getRoutingPerformance(): { averageTime: number; p95Time: number; cacheHitRate: number; targetMet: boolean } {
    const m = this.computeRoutingMetrics()
    return {
      averageTime: m.averageRoutingTime,
      p95Time: m.p95RoutingTime,
      cacheHitRate: m.cacheHitRate,
      targetMet: m.targetMet,
    }
  }

  getRouterStats(): {
    performance: { averageTime: number; p95Time: number; cacheHitRate: number; targetMet: boolean }
    cache: { size: number; hitRate: number; limit: number }
    availability: { total: number; available: number; unavailable: number }
    models: Array<{ name: string; performance: ModelPerformance }>
  } {
    const perf = this.getRoutingPerformance()
    let available = 0
    for (const v of this.modelAvailability.values()) if (v) available++
    const total = this.modelAvailability.size
    return {
      performance: perf,
      cache: { size: this.routingCache.size, hitRate: perf.cacheHitRate, limit: ROUTING_CACHE_LIMIT },
      availability: { total, available, unavailable: total - available },
      models: Array.from(this.modelPerformance.entries()).map(([name, performance]) => ({ name, performance })),
    }
  }

  optimizeBasedOnPerformance(data: any): void {
    const recentFailures = data.recentFailures || 0
    const avgLatency = data.avgLatency || 0
    if (recentFailures > 5) {
      this.weights.reliability = Math.min(0.5, this.weights.reliability + 0.1)
      this.weights.cost = Math.max(0.1, this.weights.cost - 0.05)
    }
    if (avgLatency > 2000) {
      this.weights.latency = Math.min(0.6, this.weights.latency + 0.1)
      this.weights.cost = Math.max(0.1, this.weights.cost - 0.05)
    }
  }

  getModelUsageStats(): Record<string, number> {
    return Object.fromEntries(this.usageCounter)
  }

  getPerformanceData(): ModelPerformance[] {
    return Array.from(this.modelPerformance.values())
  }

  // ---------------------------------------------------------------- helpers

  /** @internal Legacy key: base64 of the UTF-8 bytes, cut to 32 chars (~24 bytes count). */
  generateCacheKey(context: RoutingContext): string {
    const s = `${context.task.substring(0, 50)}|${context.userTier}|${context.priority}|${context.latencyRequirement}`
    return Buffer.from(s, 'utf8').toString('base64').substring(0, 32)
  }

  /** @internal plain-object lookup; any other name is 0, but "toString" yields a function */
  getTierLevel(tier: string): number {
    return TIER_LEVELS[tier] || 0
  }

  /** step 5 / step 9 list; ignores the user's tier beyond choosing the list (legacy defect) */
  private getFallbackByTier(userTier: string, availableModels: Map<string, ModelConfig>): string {
    const list = FALLBACK_MODELS[userTier] || FALLBACK_MODELS.free // "toString": not iterable, throws
    for (const name of list) {
      if (availableModels.has(name)) return name
    }
    const first = availableModels.keys().next()
    if (!first.done) return first.value
    throw new Error('No models available')
  }

  /** @internal cached by `${task.substring(0,100)}:${priority}` (legacy defect) */
  getComplexityAnalysis(context: RoutingContext): ComplexityAnalysis {
    const key = `${context.task.substring(0, 100)}:${context.priority}`
    const cached = this.complexityCache.get(key)
    if (cached) return cached
    const analysis = this.analyzeTaskComplexity(context.task, context.capabilities)
    this.complexityCache.set(key, analysis)
    return analysis
  }

  /** @internal */
  analyzeTaskComplexity(task: string, capabilities: string[] | undefined): ComplexityAnalysis {
    const tokenCount = Math.ceil(task.length / 4)
    const lower = task.toLowerCase()
    const words = lower.split(/\s+/)
    const k = words.filter((w) => COMPLEXITY_KEYWORDS.some((kw) => w.includes(kw))).length
    const keywordComplexity = Math.min(1, k / 10)
    const s = STRUCTURAL_PATTERNS.filter((p) => task.includes(p)).length
    const structuralComplexity = Math.min(1, s / 15)
    const domainSpecific = !!capabilities && DOMAIN_KEYWORDS.some((d) => lower.includes(d))
    const score = Math.min(
      1,
      Math.min(1, tokenCount / 1000) * 0.3 + keywordComplexity * 0.3 + structuralComplexity * 0.3 + (domainSpecific ? 0.1 : 0),
    )
    return { tokenCount, keywordComplexity, structuralComplexity, domainSpecific, score }
  }

  /** @internal step 6 score of one candidate with the current weights (userTier unused) */
  scoreCandidate(
    name: string,
    config: ModelConfig,
    context: RoutingContext,
    complexity: ComplexityAnalysis,
  ): { total: number; latency: number; complexity: number; reliability: number; cost: number } {
    const target = context.latencyRequirement || 2000
    const perf = this.modelPerformance.get(name)
    const modelLatency = perf?.avgLatency || config.latencyTarget
    let latency: number
    if (modelLatency <= 0.8 * target) latency = 1.0
    else if (modelLatency <= target) latency = 0.8
    else if (modelLatency <= 1.5 * target) latency = 0.5
    else latency = 0.1

    let complexityScore: number
    if (complexity.score < 0.3) complexityScore = config.latencyTarget < 1000 ? 1.0 : 0.7
    else if (complexity.score < 0.7) complexityScore = config.capabilities.includes('reasoning') ? 0.9 : 0.6
    else complexityScore = config.capabilities.includes('advanced-reasoning') ? 1.0 : 0.4

    const reliability = !perf || perf.usageCount < 5 ? 0.8 : Math.max(0.1, perf.successRate)

    let cost: number
    if (context.userTier === 'enterprise') cost = 0.9
    else if (context.userTier === 'pro') cost = config.costPerToken < 3e-6 ? 1.0 : 0.7
    else cost = config.costPerToken < 1e-6 ? 1.0 : 0.3

    let total = 0
    total += latency * this.weights.latency
    total += complexityScore * this.weights.complexity
    total += reliability * this.weights.reliability
    total += cost * this.weights.cost
    return { total, latency, complexity: complexityScore, reliability, cost }
  }

  /** LRU touch: indexOf/splice then push (O(n), legacy defect). */
  private touchLru(key: string): void {
    const i = this.lruOrder.indexOf(key)
    if (i !== -1) this.lruOrder.splice(i, 1)
    this.lruOrder.push(key)
  }

  private cacheDecision(key: string, decision: RoutingDecision): void {
    this.routingCache.set(key, { decision, timestamp: Date.now(), accessCount: 0 })
    this.touchLru(key)
    while (this.routingCache.size > ROUTING_CACHE_LIMIT) {
      const oldest = this.lruOrder.shift()
      if (oldest === undefined) break
      this.routingCache.delete(oldest)
    }
  }

  private incrementUsage(modelName: string): void {
    const count = this.usageCounter.get(modelName) || 0
    this.usageCounter.set(modelName, count + 1)
    if (count > USAGE_RESET_ABOVE) this.usageCounter.clear() // its own counter included
  }

  private recordRoutingTime(routingTime: number): void {
    this.routingTimes.push(routingTime)
    // after an in-place sort, shift() drops the smallest sample (legacy defect)
    if (this.routingTimes.length > ROUTING_WINDOW) this.routingTimes.shift()
    if (this.routingTimes.length % 10 === 0) {
      this.emit('performance_metrics', this.computeRoutingMetrics())
    }
  }

  /** legacy hit rate: min(1, Σ access counts of current entries / window length) */
  private legacyCacheHitRate(): number {
    const n = this.routingTimes.length
    if (n === 0) return 0
    let accesses = 0
    for (const entry of this.routingCache.values()) accesses += entry.accessCount
    return Math.min(1, accesses / n)
  }

  /**
   * Average and max over the window in its current order, then p95 =
   * sorted[floor(n·0.95)] where the sort is done ON THE WINDOW ITSELF
   * (legacy defect). All zero and targetMet true with no samples.
   */
  private computeRoutingMetrics(): RoutingMetrics {
    const times = this.routingTimes
    const n = times.length
    if (n === 0) {
      return { averageRoutingTime: 0, maxRoutingTime: 0, p95RoutingTime: 0, targetMet: true, cacheHitRate: 0 }
    }
    const averageRoutingTime = times.reduce((sum, t) => sum + t, 0) / n
    const maxRoutingTime = Math.max(...times)
    const sorted = times.sort((a, b) => a - b)
    const p95RoutingTime = sorted[Math.floor(n * 0.95)]
    return {
      averageRoutingTime,
      maxRoutingTime,
      p95RoutingTime,
      targetMet: p95RoutingTime < ROUTING_TARGET_MS,
      cacheHitRate: this.legacyCacheHitRate(),
    }
  }

  private purgeExpiredRoutingCache(): void {
    const now = Date.now()
    for (const [key, entry] of this.routingCache) {
      if (now - entry.timestamp >= ROUTING_CACHE_TTL_MS) {
        this.routingCache.delete(key)
        const i = this.lruOrder.indexOf(key)
        if (i !== -1) this.lruOrder.splice(i, 1)
      }
    }
  }
}
