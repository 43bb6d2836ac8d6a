/**
 * The legacy ports, for the differential tests (`__test__/`) and the benchmarks (`bench/`),
 * and the seeded PRNG their random streams are drawn from.
 */
export * from './cache-manager'
export * from './model-router'
export * from './performance-monitor'
export { rng } from './rng'
