/**
 * model-router-native: drop-in native replacements for the legacy `ModelRouter`,
 * `CacheManager` and `PerformanceMonitor`, and the rollout toolkit.
 */
export * from './errors'
export * from './model-router'
export * from './cache-manager'
export * from './performance-monitor'
export * from './rollout'
// Both modules define `createPerformanceMonitor`; the rollout one also takes the plain
// `(options?)` form of the monitor's, so it is the one exported.
export { createPerformanceMonitor } from './rollout'
