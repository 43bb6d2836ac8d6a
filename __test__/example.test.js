// The runnable example (examples/orchestrator.ts, `npm run example`) runs through the public
// package entry and tells the story it promises: the preferred model's outage is seen within a
// few calls, probed once per interval, and the model is restored after the outage ends.
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const script = path.join(__dirname, '..', 'examples', 'dist', 'orchestrator.js')

test('the orchestrator example routes around an outage and reports what happened', () => {
  const out = execFileSync(process.execPath, [script], { timeout: 60_000 }).toString()
  expect(out).toMatch(/^requests: 480, served: 480, failed: 0, cache hits: \d+$/m)
  const calls = out.match(/^model calls: (\d+), of them to gemini-2\.5-flash during its outage: (\d+)$/m)
  expect(calls).not.toBeNull()
  // the outage lasts 60 s: a few calls eject the model, then one probe per ejection interval
  expect(Number(calls[2])).toBeGreaterThan(0)
  expect(Number(calls[2])).toBeLessThanOrEqual(10)
  const changes = [...out.matchAll(/^ {2}t=([\d.]+)s gemini-2\.5-flash: (\w+) → (\w+) \((\w+)\)$/gm)].map((m) => ({
    t: Number(m[1]),
    from: m[2],
    to: m[3],
    reason: m[4],
  }))
  const ejected = changes.find((c) => c.to === 'ejected')
  expect(ejected.t).toBeGreaterThanOrEqual(20)
  expect(ejected.t).toBeLessThan(22)
  const restored = changes.find((c) => c.from === 'probing' && c.to === 'healthy')
  expect(restored.t).toBeGreaterThanOrEqual(80)
  // every probe before the end of the outage failed, and no probe came while another was pending
  for (const c of changes.filter((c) => c.from === 'probing' && c.t < 80)) expect(c.to).toBe('ejected')
  expect(out).toMatch(/^orchestration latency: p50 \d+ ms, p95 \d+ ms over 480 requests$/m)
  expect(out).not.toContain('never-leaves-the-process') // the configs' apiKey
})
