// strategy "adaptive": session affinity (context.sessionId) through the public API, in virtual
// time: a session's follow-ups go to its home model (the one it was first routed to) while it
// is a healthy candidate, else stay on the model that served it last while that one is, and
// move at once when neither is.
const { ModelRouter } = require('model-router-native')
const { ctx, adaptiveRouters } = require('./fixtures/adaptive-router')

function config(name, latencyTarget, maxTokens = 8192) {
  return { name, tier: 'pro', capabilities: ['code'], latencyTarget, costPerToken: 1e-6, maxTokens }
}
/** Ranked a, b, c for the context below (a is the fastest). */
function models() {
  return new Map([
    ['a', config('a', 400, 1000)],
    ['b', config('b', 600)],
    ['c', config('c', 900)],
  ])
}

const make = adaptiveRouters()
/** One turn: route, answer at once (a conversation waits for each answer), return the model. */
async function turn(r, m, over) {
  const d = await r.selectOptimalModel(ctx(over), m)
  r.reportOutcome(d, { ok: true, latencyMs: 200 })
  return d
}

describe('session affinity', () => {
  test('follow-ups stay on the session’s model after the best-ranked one recovers; other sessions do not', async () => {
    const r = make()
    const m = models()
    r.reportOutcome('a', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 1000 })
    expect((await turn(r, m, { sessionId: 's1' })).modelName).toBe('b')
    r.clock.t += 5000 // "a" healthy again
    for (let i = 0; i < 5; i++) {
      r.clock.t += 100
      const d = await turn(r, m, { sessionId: 's1' })
      expect(d.modelName).toBe('b')
      expect(d.reason).toBe('Adaptive: the session’s model (affinity)')
    }
    expect((await turn(r, m, { sessionId: 's2' })).modelName).toBe('a')
    expect((await turn(r, m)).modelName).toBe('a')
  })

  test('moves at once when its home cools, stays on the new one through the outage, then returns home', async () => {
    const r = make()
    const m = models()
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('a')
    r.reportOutcome('a', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 60000 })
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('b')
    for (let i = 0; i < 3; i++) {
      r.clock.t += 10000
      const d = await turn(r, m, { sessionId: 's' })
      expect(d.modelName).toBe('b')
      expect(d.reason).toBe('Adaptive: the session’s model (affinity)')
    }
    r.clock.t += 40000 // "a" healthy again
    // a new session's request brings the router's live state up to date, so the next
    // requests of the same context are served from the memo without crossing into Rust
    expect((await turn(r, m, { sessionId: 'other' })).modelName).toBe('a')
    r.clock.t += 100
    const back = await turn(r, m, { sessionId: 's' })
    expect(back.modelName).toBe('a')
    expect(back.reason).toBe('Adaptive: the session’s model (affinity)')
    // and stays home (memo fast path or not)
    for (let i = 0; i < 3; i++) {
      r.clock.t += 100
      expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('a')
    }
  })

  test('the home model removed from the Map re-homes the session on the model it is on', async () => {
    const r = make()
    const m = models()
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('a')
    r.reportOutcome('a', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 1000 })
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('b')
    const withoutA = new Map([...m].filter(([k]) => k !== 'a'))
    expect((await turn(r, withoutA, { sessionId: 's' })).modelName).toBe('b')
    r.clock.t += 5000 // "a" healthy again, and back in the Map
    expect((await turn(r, m, { sessionId: 'other' })).modelName).toBe('a')
    for (let i = 0; i < 3; i++) {
      r.clock.t += 100
      expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('b')
    }
  })

  test('a session diverted by a slowdown of its home returns home once that is no longer slow (repeated contexts)', async () => {
    const r = make()
    const m = models()
    const first = await r.selectOptimalModel(ctx({ sessionId: 's' }), m)
    expect(first.modelName).toBe('a')
    const second = await r.selectOptimalModel(ctx({ sessionId: 'slow' }), m)
    expect(second.modelName).toBe('a')
    // two answers in a row at 10× a's target (one alone is its latency tail): a is slow for a while
    r.reportOutcome(first, { ok: true, latencyMs: 4000 })
    r.reportOutcome(second, { ok: true, latencyMs: 4000 })
    expect((await turn(r, m, { sessionId: 's' })).modelName).not.toBe('a')
    r.clock.t += 30000
    // a new session's request brings the router's live state up to date (so the session's
    // next ones can be served from the memo without crossing into Rust)
    expect((await turn(r, m, { sessionId: 'other' })).modelName).toBe('a')
    for (let i = 0; i < 3; i++) {
      r.clock.t += 100
      const d = await turn(r, m, { sessionId: 's' })
      expect(d.modelName).toBe('a')
      expect(d.reason).toBe('Adaptive: the session’s model (affinity)')
      expect(d.fromCache).toBe(true)
    }
  })

  test('a prompt that outgrows the session model’s window moves it', async () => {
    const r = make()
    const m = models()
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('a')
    expect((await turn(r, m, { sessionId: 's', task: 'x'.repeat(6000) })).modelName).toBe('b')
  })

  test('a session idle for sessionIdleMs is forgotten', async () => {
    const r = make({ sessionIdleMs: 10000 })
    const m = models()
    r.reportOutcome('a', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 1000 })
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('b')
    r.clock.t += 9000
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('b')
    r.clock.t += 10000
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('a')
  })

  test('sessionAffinity: false turns it off', async () => {
    const r = make({ sessionAffinity: false })
    const m = models()
    r.reportOutcome('a', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 1000 })
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('b')
    r.clock.t += 5000
    expect((await turn(r, m, { sessionId: 's' })).modelName).toBe('a')
  })

  test('maxSessions bounds the table: the least recently routed session drops', async () => {
    const r = make({ maxSessions: 1 })
    const m = models()
    r.reportOutcome('a', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 1000 })
    expect((await turn(r, m, { sessionId: 's1' })).modelName).toBe('b')
    r.clock.t += 5000
    expect((await turn(r, m, { sessionId: 's2' })).modelName).toBe('a')
    expect((await turn(r, m, { sessionId: 's1' })).modelName).toBe('a')
  })

  test('explain() marks the session’s model and names it', async () => {
    const r = make()
    const m = models()
    r.reportOutcome('a', { ok: false, latencyMs: 10, status: 429, retryAfterMs: 1000 })
    await turn(r, m, { sessionId: 's' })
    r.clock.t += 5000
    const e = await r.explain(ctx({ sessionId: 's' }), m)
    expect(e.candidates.filter((c) => c.sessionModel).map((c) => c.modelName)).toEqual(['b'])
    expect(e.decision.modelName).toBe('b')
  })

  test('bad input is a TypeError/RangeError naming the field', async () => {
    const r = make()
    await expect(r.selectOptimalModel(ctx({ sessionId: 42 }), models())).rejects.toThrow(/context\.sessionId/)
    await expect(r.selectOptimalModel(ctx({ sessionId: '\ud800' }), models())).rejects.toThrow(TypeError)
    expect(() => new ModelRouter({ strategy: 'adaptive', sessionAffinity: 'yes' })).toThrow(/options\.sessionAffinity/)
    expect(() => new ModelRouter({ strategy: 'adaptive', sessionIdleMs: -1 })).toThrow(RangeError)
    expect(() => new ModelRouter({ strategy: 'adaptive', sessionIdleMs: '1' })).toThrow(/options\.sessionIdleMs/)
    expect(() => new ModelRouter({ strategy: 'adaptive', maxSessions: 0 })).toThrow(RangeError)
    expect(() => new ModelRouter({ strategy: 'adaptive', maxSessions: 1.5 })).toThrow(/options\.maxSessions/)
  })
})
