'use strict'
// The benchmark's workload and chart: seeded and reproducible, the hit rate a result of the
// prompt distribution, a valid SVG with one curve per side. (No timing is asserted.)
const { runWorkload } = require('../bench/dist/workload.js')
const { cdfChart } = require('../bench/dist/chart.js')
const { successTable, shadowTable } = require('../bench/dist/run.js')

const small = { requests: 600, warmup: 60, concurrency: 8, prompts: 300 }

test('the workload is seeded: the same seed gives the same outcomes, another seed others', async () => {
  const a = await runWorkload('native', small)
  const b = await runWorkload('native', small)
  const c = await runWorkload('native', { ...small, seed: 7 })
  expect(b.modelErrors).toBe(a.modelErrors)
  expect(b.cacheHitRate).toBe(a.cacheHitRate)
  expect([c.modelErrors, c.cacheHitRate]).not.toEqual([a.modelErrors, a.cacheHitRate])
  expect(a.requests).toBe(600)
  expect(a.routingSample.length).toBeGreaterThan(0)
  expect(a.routing.p99Ms).toBeGreaterThanOrEqual(a.routing.p50Ms)
})

test('the cache hit rate is a result of the prompt distribution, not a setting', async () => {
  const skewed = await runWorkload('native', { ...small, zipf: 1.6 })
  const flat = await runWorkload('native', { ...small, zipf: 0.2 })
  expect(skewed.cacheHitRate).toBeGreaterThan(flat.cacheHitRate)
  expect(skewed.cacheHitRate).toBeLessThan(1)
})

test('a model-error share shows up as model errors, retried; every request is counted', async () => {
  const r = await runWorkload('legacy', { ...small, modelErrorRate: 0.5 })
  expect(r.modelErrors).toBeGreaterThan(0)
  expect(r.failedRequests).toBeGreaterThan(0)
  expect(r.failedRequests).toBeLessThan(r.modelErrors)
  expect(r.errorRate).toBeCloseTo(r.failedRequests / r.requests, 10)
  expect(successTable([r])).toMatch(/error rate \| < 1% \| [0-9.]+% \| \*\*FAIL\*\*/)
})

test('shadow mode on the workload reports agreement for the router and the cache', async () => {
  const r = await runWorkload('shadow', small)
  expect(r.shadow.router.compared).toBeGreaterThanOrEqual(600)
  expect(r.shadow.cache.compared).toBe(600)
  expect(r.shadow.router.rate).toBeGreaterThan(0.9)
  expect(shadowTable(r)).toMatch(/\| agreement \| [0-9.]+% \| [0-9.]+% \|/)
})

test('the chart is an SVG with one curve per side and the target lines', () => {
  const svg = cdfChart(
    't',
    [
      { label: 'legacy', color: '#f00', valuesMs: [0.05, 0.1, 0.2, 5] },
      { label: 'native', color: '#00f', valuesMs: [0.005, 0.01, 0.02] },
    ],
    [['p99 target', 150]],
  )
  expect(svg.startsWith('<svg')).toBe(true)
  expect(svg.trim().endsWith('</svg>')).toBe(true)
  expect(svg.match(/<polyline/g)).toHaveLength(2)
  expect(svg).toContain('p99 target')
  expect(svg).not.toMatch(/NaN|Infinity/)
})

test('the A/B section: per-arm rows at share 0.5; the rollback check rolls back on each injected regression, not without one', async () => {
  const { run } = require('../bench/dist/ab-ops.js')
  const md = await run({ quick: true, workload: { requests: 1500, warmup: 60, concurrency: 8, prompts: 300 } })
  expect(md).toMatch(/\| router \| selectOptimalModel, selectFallbackModel \| legacy \| [0-9,]+ \| 0 \|/)
  expect(md).toMatch(/\| router \| selectOptimalModel, selectFallbackModel \| native \| [0-9,]+ \| 0 \|/)
  expect(md).toMatch(/\| cache \| get, set, delete \| native \| .*hit rate [0-9.]+% \|/)
  expect(md).toMatch(/\| nothing \| no \|/)
  expect(md).toMatch(/\| \+40 ms per native routing call \| \*\*yes\*\* \(share 0.5 → 0\) \| [0-9,]+ \| p99_latency \|.*\| 0 \|$/m)
  expect(md).toMatch(/\| 4% of native routing calls fail \| \*\*yes\*\* \(share 0.5 → 0\) \| [0-9,]+ \| error_rate \|.*\| 0 \|$/m)
  expect(md).not.toMatch(/NaN/)
})
