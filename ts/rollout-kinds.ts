/**
 * What the rollout wrapper knows of each kind: the methods of the drop-in interface, what
 * "agreement" means in shadow mode, how mode "ab" assigns a call to an arm, and which native
 * promises cannot reject.
 */
import { isDeepStrictEqual } from 'node:util'

import { contextPosition, stringPosition } from './ab-assign'
import type { ArmStats } from './ab-arms'
import type { RolloutKind } from './rollout-flags'
import { wellFormed } from './strings'

/** What the rollout wrapper needs to know of one kind (see the file comment). */
export interface KindSpec {
  methods: string[]
  /** Methods whose results are compared in shadow mode, and how. */
  compare: Record<string, (legacy: unknown, native: unknown) => boolean>
  /** Rewrites the native call's arguments in shadow mode (e.g. not calling a loader twice). */
  shadowArgs?: Record<string, (args: unknown[], legacyResult: unknown) => unknown[]>
  /**
   * Mode "ab": the methods served by one arm, each with the argument that assigns it (the
   * routing context, the cache key, the metric name); the other methods run on both sides
   * and the legacy's answer is served.
   */
  assign: Record<string, number>
  /** Mode "ab": the default position of an assignment input (see `ab-assign`). */
  position: (input: unknown) => number
  /** Mode "ab": what a served result adds to its arm's figures (the model, a cache hit). */
  observe?: Record<string, (arm: ArmStats, value: unknown) => void>
  /**
   * Promise-returning native methods that cannot reject for these arguments (their contract):
   * mode "native" returns such a promise as it is, without waiting on it, when the call is
   * not timed. Waiting costs a promise and a microtask (~0.2 µs), most of the wrapper's cost.
   */
  neverRejects?: Record<string, (args: unknown[]) => boolean>
}

const sameModel = (a: unknown, b: unknown) =>
  (a as { modelName?: unknown } | null)?.modelName === (b as { modelName?: unknown } | null)?.modelName

/** The spec of each kind. */
export const SPECS: Record<RolloutKind, KindSpec> = {
  router: {
    methods: [
      'selectOptimalModel',
      'selectFallbackModel',
      'recordPerformance',
      'addRule',
      'removeRule',
      'getRules',
      'updateModelAvailability',
      'updateBatchAvailability',
      'getRoutingPerformance',
      'getRouterStats',
      'optimizeBasedOnPerformance',
      'getModelUsageStats',
      'getPerformanceData',
      'shutdown',
    ],
    // The routing-time fields differ by construction: agreement is the same model.
    compare: { selectOptimalModel: sameModel, selectFallbackModel: sameModel },
    assign: { selectOptimalModel: 0, selectFallbackModel: 1 },
    position: contextPosition,
    observe: {
      selectOptimalModel: (arm, d) => arm.model((d as { modelName?: unknown } | null)?.modelName),
      selectFallbackModel: (arm, d) => arm.model((d as { modelName?: unknown } | null)?.modelName),
    },
  },
  cache: {
    methods: ['get', 'set', 'delete', 'clear', 'getStats', 'predictiveWarmCache', 'shutdown'],
    compare: { get: isDeepStrictEqual, getMany: isDeepStrictEqual },
    shadowArgs: {
      // The native side reuses the legacy's loaded value instead of calling the loader again.
      getOrSet: (args, legacyResult) => [args[0], () => legacyResult, ...args.slice(2)],
    },
    // a key's reads and writes go to the same arm, so each arm's cache is consistent
    assign: { get: 0, set: 0, delete: 0, getOrSet: 0 },
    position: stringPosition,
    observe: { get: (arm, v) => arm.get(v !== null && v !== undefined) },
    // The native get rejects a malformed key and after shutdown only; an internal error
    // (a throwing listener included) resolves null, as the legacy's does.
    neverRejects: { get: (args) => typeof args[0] === 'string' && wellFormed(args[0]) },
  },
  monitor: {
    methods: [
      'recordMetric',
      'getStats',
      'analyzeBottlenecks',
      'getHealthScore',
      'getMetrics',
      'clearOldMetrics',
      'exportData',
      'shutdown',
    ],
    compare: {},
    // a metric's values all go to one arm, so its statistics are read from where they are
    assign: { recordMetric: 0, getStats: 0, getAllTimeStats: 0 },
    position: stringPosition,
  },
}
