// ES module entry point: re-exports the CommonJS build under named exports.
import pkg from './index.cjs'

export const {
  ModelRouter,
  CacheManager,
  PerformanceMonitor,
  createModelRouter,
  createCacheManager,
  createPerformanceMonitor,
  getRolloutStats,
  flagEnabled,
  resolveMode,
  ROLLOUT_FLAGS,
  PREDICTIVE_FLAG,
  codedError,
} = pkg
export default pkg
