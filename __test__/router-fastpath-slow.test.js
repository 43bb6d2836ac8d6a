// strategy "adaptive": a repeated context (a routing-cache hit) is decided without asking Rust
// exactly while Rust would pick the first candidate: one call out past slowFactor × target is
// the model's latency tail (served on the fast path), two are evidence of a slow model (the
// hit asks Rust, which diverts). In virtual time.
const { ctx, adaptiveRouters } = require('./fixtures/adaptive-router')

const make = adaptiveRouters()

function config(name, latencyTarget) {
  return { name, tier: 'pro', capabilities: ['code'], latencyTarget, costPerToken: 1e-6, maxTokens: 100000 }
}
// top: limit 4 × 300 = 1200 ms; the deadline (1000 ms) admits `next` (500 ms) but not a `top`
// whose oldest call is out for longer
const c = () => ctx({ latencyRequirement: 1000 })
const models = () =>
  new Map([
    ['top', config('top', 300)],
    ['next', config('next', 500)],
  ])

/** Counts the routing calls that cross into Rust (the binding the layer calls, wrapped). */
function crossings() {
  const { native } = require('../dist/native.js')
  const names = ['routerSelect', 'routerSelectPlain', 'routerPickCached']
  const saved = names.map((n) => native[n])
  const counter = { calls: 0 }
  for (const [k, n] of names.entries()) {
    native[n] = (...a) => {
      counter.calls++
      return saved[k](...a)
    }
  }
  counter.restore = () => {
    for (const [k, n] of names.entries()) native[n] = saved[k]
  }
  return counter
}

describe('the memo fast path reads slowness as Rust does', () => {
  let counter
  beforeEach(() => {
    counter = crossings()
  })
  afterEach(() => counter.restore())

  test('one call out past the limit: the hit is served without crossing; a second one: it crosses and diverts', async () => {
    const r = make()
    const m = models()
    const first = await r.selectOptimalModel(c(), m) // a miss
    expect(first.modelName).toBe('top')
    expect(counter.calls).toBeGreaterThan(0)
    r.reportOutcome(first, { ok: true, latencyMs: 300 })
    r.clock.t += 10
    const tail = await r.selectOptimalModel(c(), m) // the hit that memoizes the entry; stays out
    expect(tail.modelName).toBe('top')

    // one call out for 1300 ms > 1200 ms: the latency tail, the first candidate still
    r.clock.t += 1300
    let before = counter.calls
    const second = await r.selectOptimalModel(c(), m)
    expect(second.modelName).toBe('top')
    expect(counter.calls).toBe(before)

    // two calls out past the limit: slow; the hit asks Rust, which diverts to the model
    // within the deadline
    r.clock.t += 1300
    before = counter.calls
    const third = await r.selectOptimalModel(c(), m)
    expect(counter.calls).toBe(before + 1)
    expect(third.modelName).toBe('next')

    // the second call's answer ends the evidence: one call out again, no crossing
    r.reportOutcome(second, { ok: true, latencyMs: 300 })
    r.clock.t += 10
    await r.selectOptimalModel(c(), m) // the buffered answer is applied at this crossing
    before = counter.calls
    r.clock.t += 10
    const fourth = await r.selectOptimalModel(c(), m)
    expect(fourth.modelName).toBe('top')
    expect(counter.calls).toBe(before)
  })

  // lateCalls 3, lateFactor 1.5: three calls out past 450 ms make `top` late, unless a call
  // decided after them answered within 450 ms. Routes `before` calls that stay out, one
  // answered in 301 ms if `quick` (quick, and above the estimate: applied at once), `after`
  // more that stay out; then 600 ms pass (late, not past 1200 ms).
  async function history(r, m, before, quick, after) {
    const first = await r.selectOptimalModel(c(), m) // a miss
    r.reportOutcome(first, { ok: true, latencyMs: 300 })
    const names = []
    for (let i = 0; i < before + 1 + after; i++) {
      r.clock.t += 10
      const d = await r.selectOptimalModel(c(), m)
      names.push(d.modelName)
      if (quick && i === before) r.reportOutcome(d, { ok: true, latencyMs: 301 })
    }
    r.clock.t += 600
    return names
  }

  test('late calls decided before a quickly answered one are the tail: the hit is served without crossing', async () => {
    const r = make()
    const m = models()
    expect(await history(r, m, 3, true, 1)).toEqual(['top', 'top', 'top', 'top', 'top'])
    const before = counter.calls
    expect((await r.selectOptimalModel(c(), m)).modelName).toBe('top')
    expect(counter.calls).toBe(before)
  })

  test('late calls with no quick answer after them: the hit crosses and Rust diverts', async () => {
    const r = make()
    const m = models()
    await history(r, m, 3, false, 0)
    const before = counter.calls
    expect((await r.selectOptimalModel(c(), m)).modelName).toBe('next')
    expect(counter.calls).toBe(before + 1)
  })

  test('a buffered answer takes back the excuse: the hit crosses and Rust diverts', async () => {
    const r = make()
    const m = models()
    await history(r, m, 3, true, 1)
    // the oldest call answers within the estimate (buffered): of the three left out, the
    // third oldest was decided after the quick answer, so `top` is late
    r.reportOutcome('top', { ok: true, latencyMs: 250 })
    const before = counter.calls
    expect((await r.selectOptimalModel(c(), m)).modelName).toBe('next')
    expect(counter.calls).toBe(before + 1)
  })

  test('Rust decides alike: a router whose every hit crosses picks the same models', async () => {
    // the same history routed twice: once with the fast path, once with a new context each
    // time (a miss: Rust decides); the picks agree
    const picks = []
    for (const fresh of [false, true]) {
      const r = make()
      const m = models()
      let n = 0
      const route = () =>
        r.selectOptimalModel(fresh ? ctx({ latencyRequirement: 1000, task: `Write a function to sort a list ${n++}` }) : c(), m)
      const names = []
      const a = await route()
      r.reportOutcome(a, { ok: true, latencyMs: 300 })
      r.clock.t += 10
      names.push(a.modelName, (await route()).modelName)
      r.clock.t += 1300
      names.push((await route()).modelName)
      r.clock.t += 1300
      names.push((await route()).modelName)
      picks.push(names)
    }
    expect(picks[0]).toEqual(['top', 'top', 'top', 'next'])
    expect(picks[1]).toEqual(picks[0])
  })
})
