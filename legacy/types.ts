/**
 * Types of the legacy interface, copied from the "Types" section of
 * docs/legacy-contract.md. Reference port for tests and
 * benchmarks only: never shipped.
 */

export type Tier = 'free' | 'pro' | 'enterprise'

export interface ModelConfig {
  name: string
  endpoint?: string
  apiKey?: string
  projectId?: string
  location?: string
  tier: Tier
  capabilities: string[]
  /** ms */
  latencyTarget: number
  costPerToken: number
  maxTokens: number
}

export interface RoutingContext {
  task: string
  userTier: Tier
  priority: 'low' | 'medium' | 'high' | 'critical'
  /** ms */
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
  /** ms, float */
  routingTime: number
  fromCache: boolean
}

export interface RoutingRule {
  id: string
  name: string
  condition: (c: RoutingContext) => boolean
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

export interface CacheConfig {
  /** bytes */
  maxMemorySize?: number
  /** bytes */
  maxDiskSize?: number
  /** seconds */
  defaultTTL?: number
  evictionPolicy?: 'lru' | 'lfu' | 'adaptive'
  persistToDisk?: boolean
  compression?: boolean
  dbPath?: string
}

export interface CacheStats {
  totalKeys: number
  totalSize: number
  hitRate: number
  missRate: number
  evictionCount: number
  memoryUsage: number
  diskUsage: number
}

export interface PerformanceMetric {
  name: string
  value: number
  timestamp: Date
  metadata?: any
}

export interface PerformanceStats {
  mean: number
  median: number
  p95: number
  p99: number
  min: number
  max: number
  count: number
  stddev: number
}

export interface Bottleneck {
  component: string
  metric: string
  severity: 'low' | 'medium' | 'high' | 'critical'
  impact: number
  description: string
  recommendation: string
}
