/**
 * Reference port of the legacy `PerformanceMonitor` (src/core/performance-monitor.ts
 * of the codebase the native package replaces), written only from
 * docs/legacy-contract.md ("PerformanceMonitor" and "Deviations").
 *
 * It deliberately REPRODUCES the legacy defects, because it is the baseline
 * that differential tests and benchmarks compare the native monitor against:
 *  - `getStats` copies and sorts the whole history on every call;
 *  - `getHealthScore` judges higher-is-better metrics (cache_hit_rate,
 *    model_availability) as if lower were better;
 *  - `shutdown()` removes listeners and clears data but leaves the 60 s
 *    `health_check` timer running.
 *
 * Additions: the timer is `.unref()`'d so that it cannot keep a process alive,
 * and the non-contract `dispose()` really clears it.
 */
import { EventEmitter } from 'node:events'

import type { Bottleneck, PerformanceMetric, PerformanceStats } from './types'

export type { Bottleneck, PerformanceMetric, PerformanceStats }

const MAX_HISTORY = 1000
const EXPORT_HISTORY = 100

const IMPACT_WEIGHTS = new Map<string, number>([
  ['orchestration_latency', 1.0],
  ['routing_overhead', 0.8],
  ['model_latency', 0.9],
  ['cache_hit_rate', 0.7],
  ['error_rate', 1.0],
])

const RECOMMENDATIONS = new Map<string, string>([
  ['orchestration_latency', 'Consider enabling caching, optimizing model selection, or implementing request batching'],
  ['routing_overhead', 'Optimize routing algorithm, reduce rule complexity, or implement routing cache'],
  ['model_latency', 'Switch to faster models, implement request optimization, or add model warm-up'],
  ['cache_hit_rate', 'Increase cache size, optimize cache key generation, or extend TTL values'],
  ['error_rate', 'Implement better error handling, add retries, or investigate root cause'],
])

export class PerformanceMonitor extends EventEmitter {
  private readonly metrics = new Map<string, PerformanceMetric[]>()

  private readonly targets = new Map<string, number>([
    ['orchestration_latency', 2000],
    ['routing_overhead', 100],
    ['cache_hit_rate', 0.7],
    ['model_availability', 0.99],
    ['error_rate', 0.01],
  ])

  private readonly thresholds = new Map<string, number>([
    ['orchestration_latency', 3000],
    ['routing_overhead', 150],
    ['model_latency', 5000],
    ['cache_miss_rate', 0.4],
    ['error_rate', 0.05],
  ])

  private healthTimer: NodeJS.Timeout | null = null

  constructor() {
    super()
    this.healthTimer = setInterval(() => this.performHealthCheck(), 60_000)
    this.healthTimer.unref() // addition: cannot keep the process alive
  }

  recordMetric(name: string, value: number, metadata?: any): void {
    const metric: PerformanceMetric = { name, value, timestamp: new Date(), metadata }
    let history = this.metrics.get(name)
    if (!history) {
      history = []
      this.metrics.set(name, history)
    }
    history.push(metric)
    if (history.length > MAX_HISTORY) history.shift()

    const threshold = this.thresholds.get(name)
    if (threshold !== undefined && value > threshold) {
      const ratio = value / threshold
      const severity = ratio >= 3 ? 'critical' : ratio >= 2 ? 'high' : ratio >= 1.5 ? 'medium' : 'low'
      this.emit('threshold_exceeded', {
        metric: name,
        value,
        threshold,
        severity,
        timestamp: new Date(),
      })
    }

    this.emit('metric_recorded', metric)
  }

  getStats(name: string, timeWindowMs?: number): PerformanceStats | null {
    const history = this.metrics.get(name)
    if (!history || history.length === 0) return null

    let values: number[]
    if (timeWindowMs) {
      const cutoff = Date.now() - timeWindowMs
      values = history.filter((m) => m.timestamp.getTime() >= cutoff).map((m) => m.value)
    } else {
      values = history.map((m) => m.value)
    }
    const n = values.length
    if (n === 0) return null

    // legacy: sorts the whole history on every call
    const sorted = [...values].sort((a, b) => a - b)
    const percentile = (p: number): number => sorted[Math.max(0, Math.ceil(n * p) - 1)]

    let sum = 0
    for (const v of values) sum += v
    const mean = sum / n
    let sq = 0
    for (const v of values) sq += (v - mean) * (v - mean)
    const stddev = Math.sqrt(sq / n)

    return {
      mean,
      median: percentile(0.5),
      p95: percentile(0.95),
      p99: percentile(0.99),
      min: sorted[0],
      max: sorted[n - 1],
      count: n,
      stddev,
    }
  }

  analyzeBottlenecks(timeWindowMs = 300000): Bottleneck[] {
    const bottlenecks: Bottleneck[] = []
    const cutoff = Date.now() - timeWindowMs

    for (const [name, history] of this.metrics) {
      let inWindow = 0
      for (const m of history) if (m.timestamp.getTime() >= cutoff) inWindow++
      if (inWindow < 5) continue
      const stats = this.getStats(name, timeWindowMs)
      if (!stats) continue
      const target = this.targets.get(name)
      if (target === undefined) continue

      const component = componentOf(name)

      if (stats.p95 > target * 1.5) {
        const ratio = stats.p95 / target
        const severity: Bottleneck['severity'] = ratio >= 4 ? 'critical' : ratio >= 3 ? 'high' : ratio >= 2 ? 'medium' : 'low'
        const weight = IMPACT_WEIGHTS.get(name) ?? 0.5
        bottlenecks.push({
          component,
          metric: name,
          severity,
          impact: Math.min(1, (ratio - 1) / 3) * weight,
          description: `${name} P95 (${stats.p95.toFixed(2)}) exceeds target (${target})`,
          recommendation: RECOMMENDATIONS.get(name) ?? 'Investigate performance degradation',
        })
      }

      const cv = stats.stddev / stats.mean
      if (cv > 0.5) {
        bottlenecks.push({
          component,
          metric: name,
          severity: 'medium',
          impact: 0.3,
          description: `${name} shows high variance (CV: ${cv.toFixed(2)})`,
          recommendation: 'Investigate cause of performance inconsistency',
        })
      }
    }

    // Array.prototype.sort is stable (ES2019+)
    return bottlenecks.sort((a, b) => b.impact - a.impact)
  }

  getHealthScore(): number {
    const scores: number[] = []
    for (const [name, target] of this.targets) {
      const stats = this.getStats(name, 300000)
      if (!stats) continue
      let score = 100
      // legacy defect: every metric is judged as lower-is-better
      if (stats.mean > target) {
        score = Math.max(0, score - ((stats.mean - target) / target) * 50)
      }
      const cv = stats.stddev / stats.mean
      if (cv > 0.3) score *= 1 - cv * 0.5
      scores.push(Math.max(0, score))
    }
    if (scores.length === 0) return 100
    let sum = 0
    for (const s of scores) sum += s
    return sum / scores.length
  }

  getMetrics(): Record<string, PerformanceStats> {
    const out: Record<string, PerformanceStats> = {}
    for (const [name, history] of this.metrics) {
      if (history.length === 0) continue
      const stats = this.getStats(name)
      if (stats) out[name] = stats
    }
    return out
  }

  clearOldMetrics(olderThanMs = 86400000): void {
    const cutoff = Date.now() - olderThanMs
    for (const [name, history] of this.metrics) {
      this.metrics.set(
        name,
        history.filter((m) => m.timestamp.getTime() >= cutoff),
      )
    }
  }

  exportData(format: 'json' | 'csv' = 'json'): string {
    if (format === 'json') {
      const data: Record<string, { stats: PerformanceStats | null; history: any[] }> = {}
      for (const [name, history] of this.metrics) {
        data[name] = {
          stats: this.getStats(name),
          history: history.slice(-EXPORT_HISTORY).map((m) => ({
            ...m,
            timestamp: m.timestamp.toISOString(),
          })),
        }
      }
      return JSON.stringify(data, null, 2)
    }

    let csv = 'metric,timestamp,value\n'
    for (const [name, history] of this.metrics) {
      for (const m of history.slice(-EXPORT_HISTORY)) {
        csv += `${name},${m.timestamp.toISOString()},${m.value}\n`
      }
    }
    return csv
  }

  /** Legacy: removes listeners and clears data; the health timer keeps running. */
  shutdown(): void {
    this.removeAllListeners()
    this.metrics.clear()
  }

  /** Not in the contract: shutdown() plus really clearing the health timer. */
  dispose(): void {
    if (this.healthTimer) {
      clearInterval(this.healthTimer)
      this.healthTimer = null
    }
    this.shutdown()
  }

  private performHealthCheck(): void {
    try {
      const score = this.getHealthScore()
      this.emit('health_check', {
        score,
        status: healthStatus(score),
        bottlenecks: this.analyzeBottlenecks().length,
        timestamp: new Date(),
      })
    } catch {
      /* a throwing listener must not crash the timer */
    }
  }
}

function componentOf(metric: string): string {
  if (metric.includes('orchestration')) return 'orchestrator'
  if (metric.includes('routing')) return 'router'
  if (metric.includes('model')) return 'model_client'
  if (metric.includes('cache')) return 'cache'
  if (metric.includes('auth')) return 'authentication'
  return 'unknown'
}

function healthStatus(score: number): string {
  if (score >= 90) return 'excellent'
  if (score >= 80) return 'good'
  if (score >= 70) return 'fair'
  if (score >= 50) return 'poor'
  return 'critical'
}
