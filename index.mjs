// ES module entry point: re-exports the CommonJS build under named exports.
import pkg from './index.cjs'

export const {
  ModelRouter,
  CacheManager,
  PerformanceMonitor,
  createModelRouter,
  createCacheManager,
  createPerformanceMonitor,
  codedError,
} = pkg
export default pkg
