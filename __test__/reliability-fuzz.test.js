'use strict'
// Bad input, fuzzed: every exported method and constructor of the three classes is called
// with arbitrary JS values (fixtures/hostile.js) in child processes (fixtures/fuzz-runner.js);
// each call succeeds with a checked result or fails with a TypeError, a RangeError or a coded
// Error; no child dies. CI size: 12,000 calls (4,000 per class); RELIABILITY_LONG=1: 120,000.
// FUZZ_SEED=<n> replays a run (the seed is printed).
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const LONG = !!process.env.RELIABILITY_LONG
const PER_CLASS = LONG ? 40000 : 4000
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 1e9
const RUNNER = path.join(__dirname, 'fixtures', 'fuzz-runner.js')

function fuzz(cls) {
  // cwd: a scratch directory, since a fuzzed dbPath may name a file
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), `mrn-fuzz-${cls}-`))
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--no-warnings', RUNNER, cls, String(PER_CLASS), String(SEED)], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code, signal) => {
      fs.rmSync(cwd, { recursive: true, force: true })
      const line = out.split('\n').find((l) => l.startsWith('SUMMARY '))
      resolve({ code, signal, err: err.slice(0, 2000), summary: line ? JSON.parse(line.slice(8)) : null })
    })
  })
}

describe(`fuzzed bad input (seed ${SEED}, ${PER_CLASS} calls per class)`, () => {
  const totals = { calls: 0, exits: 0, crashes: 0, bad: 0, known: 0 }
  afterAll(() => {
    console.log(
      `RELIABILITY fuzz: seed=${SEED} calls=${totals.calls} childProcesses=${totals.exits} crashes=${totals.crashes} badOutcomes=${totals.bad} knownDefectHits=${totals.known}`,
    )
  })

  for (const cls of ['router', 'cache', 'monitor']) {
    test(
      `${cls}: the child exits 0, every call succeeds or fails with a TypeError/RangeError/coded Error`,
      async () => {
        const r = await fuzz(cls)
        totals.exits++
        if (r.code !== 0 || r.signal !== null) totals.crashes++
        expect({ code: r.code, signal: r.signal, stderr: r.err }).toEqual({ code: 0, signal: null, stderr: '' })
        const s = r.summary
        totals.calls += s.calls
        totals.bad += s.bad
        totals.known += Object.values(s.knownDefects).reduce((a, b) => a + b, 0) + (s.warnings.TimeoutOverflowWarning || 0)
        console.log(`RELIABILITY fuzz ${cls}: ${JSON.stringify({ ...s, badSamples: s.badSamples.length })}`)
        expect(s.badSamples).toEqual([])
        // process warnings: none expected (the timer-overflow defect is fixed, see below)
        expect(Object.keys(s.warnings).filter((w) => w !== 'TimeoutOverflowWarning')).toEqual([])
        expect(s.calls).toBe(PER_CLASS)
        expect(s.ok + s.TypeError + s.RangeError + s.hostile + Object.values(s.coded).reduce((a, b) => a + b, 0) + s.otherThrows).toBe(
          s.calls,
        )
        // the fuzzing reached past argument checks: many calls succeeded and were checked
        expect(s.checksPassed).toBeGreaterThan(PER_CLASS / 10)
      },
      LONG ? 1800000 : 180000,
    )
  }
})

// Defects the fuzzer found, each a precise reproduction (marked `test.failing` until it was
// fixed); each now guards its fix. See docs/reliability.md.
describe('options and values are refused with an error naming them, or kept exactly', () => {
  const { CacheManager, PerformanceMonitor } = require('model-router-native')

  test('CacheManager: a non-boolean persistToDisk/compression is a TypeError naming the field', () => {
    // without the check: Error { code: "BooleanExpected", message: "Failed to convert napi value into rust type `bool` on BindingCacheOptions.persistToDisk" }
    for (const config of [{ persistToDisk: 1 }, { persistToDisk: 'yes' }, { compression: [] }]) {
      let err = null
      try {
        new CacheManager(config).shutdown()
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(TypeError)
      expect(err.message).toMatch(/persistToDisk|compression/)
    }
  })

  test('CacheManager: a string value with a lone surrogate round-trips (or is refused with a TypeError)', async () => {
    // without the check: set("k", "\uD800") resolves and get("k") returns "\uFFFD" (the value changed silently)
    const c = new CacheManager()
    const r = await c.set('k', 'a\uD800b').then(
      () => 'stored',
      (e) => e,
    )
    const back = r === 'stored' ? await c.get('k') : null
    c.shutdown()
    if (r === 'stored') expect(back).toBe('a\uD800b')
    else expect(r).toBeInstanceOf(TypeError)
  })

  test('PerformanceMonitor: a target ≤ 0 is refused, and getHealthScore stays within 0..100', () => {
    // was: setTarget("x", -5) then five values of 1 → 160 (a target of -1e-300 → ~1e300)
    const m = new PerformanceMonitor()
    expect(() => m.setTarget('x', -5)).toThrow(RangeError)
    expect(() => m.setTarget('x', 0)).toThrow(RangeError)
    m.setTarget('x', 1e-300)
    for (let i = 0; i < 5; i++) m.recordMetric('x', 1)
    const score = m.getHealthScore()
    m.shutdown()
    expect(score).toBeGreaterThanOrEqual(0)
    expect(score).toBeLessThanOrEqual(100)
  })

  test('timer periods of 2^31 ms or more are refused or capped (Node would run them every 1 ms)', async () => {
    // without the check: both are accepted and passed to setInterval, which warns (TimeoutOverflowWarning)
    // and runs the timer every 1 ms: 100+ health checks in 200 ms.
    const warnings = []
    const onWarning = (w) => warnings.push(w.name)
    process.on('warning', onWarning)
    let checks = 0
    let monitor = null
    let cache = null
    try {
      monitor = new PerformanceMonitor({ healthCheckIntervalMs: 2 ** 31 })
      monitor.on('health_check', () => checks++)
    } catch (e) {
      expect(e).toBeInstanceOf(RangeError)
    }
    try {
      cache = new CacheManager({ cleanupInterval: 2 ** 31 })
    } catch (e) {
      expect(e).toBeInstanceOf(RangeError)
    }
    await new Promise((r) => setTimeout(r, 100))
    process.off('warning', onWarning)
    monitor?.shutdown()
    cache?.shutdown()
    expect({ checks, warnings }).toEqual({ checks: 0, warnings: [] })
  })
})
