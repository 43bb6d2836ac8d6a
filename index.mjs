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
  setRolloutShare,
  readRolloutFlag,
  flagEnabled,
  resolveMode,
  ROLLOUT_FLAGS,
  PREDICTIVE_FLAG,
  codedError,
  MAX_NAME_LENGTH,
} = pkg
export default pkg
