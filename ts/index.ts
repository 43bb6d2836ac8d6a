/**
 * model-router-native: drop-in native replacements for the legacy `ModelRouter`,
 * `CacheManager` and `PerformanceMonitor`, and the rollout toolkit.
 */
export { codedError } from './errors'
export type { CodedError, ErrorCode } from './errors'
export * from './model-router'
export * from './cache-manager'
export * from './performance-monitor'
export * from './rollout'
