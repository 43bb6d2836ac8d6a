// Session affinity's table (`ts/router-sessions.ts`): its bound, which session drops when it
// is full (second chance, see `SessionTable.record`), and idle expiry, on its own clock.
const { SessionTable } = require('../dist/router-sessions.js')

const IDLE_MS = 1_000_000
const MODELS = ['a', 'b']
/** A table of at most `max` sessions, and `route(session, t)`: one routed request at time t. */
function table(max) {
  const t = new SessionTable(max, IDLE_MS)
  const route = (session, now, model = 'a') => {
    const e = t.entryOf(session, now)
    // as the router calls it: the model's index in the model set, the known home's index
    t.record(session, model, MODELS.indexOf(model), MODELS, now, e === undefined ? -1 : e.homeIndex, e)
  }
  const held = (sessions, now) => sessions.filter((s) => t.peek(s, now) !== undefined)
  return { t, route, held }
}

describe('SessionTable', () => {
  test('full, the earliest placed session not routed since drops; one routed again is kept', () => {
    const { t, route, held } = table(3)
    route('s1', 1)
    route('s2', 2)
    route('s3', 3)
    route('s1', 4) // s1 routed again: its second chance
    route('s4', 5)
    expect(held(['s1', 's2', 's3', 's4'], 5)).toEqual(['s1', 's3', 's4'])
    expect(t.size).toBe(3)
  })

  test('full, every session routed again: the walk moves each once and the least recently routed drops', () => {
    const { t, route, held } = table(3)
    route('s1', 1)
    route('s2', 2)
    route('s3', 3)
    route('s3', 4)
    route('s1', 5)
    route('s2', 6) // routed last: s3 (4), s1 (5), s2 (6)
    route('s4', 7)
    expect(held(['s1', 's2', 's3', 's4'], 7)).toEqual(['s1', 's2', 's4'])
    // the walk placed s1, s2 (and s3) anew in their order, before s4 came: s1 is the earliest
    // placed, not routed since, and the least recently routed
    route('s5', 8)
    expect(held(['s1', 's2', 's4', 's5'], 8)).toEqual(['s2', 's4', 's5'])
    expect(t.size).toBe(3)
  })

  test('the documented difference: a session moved by an earlier walk and not routed since outlives one routed after it', () => {
    const { route, held } = table(3)
    route('x', 1)
    route('v', 2)
    route('x', 3) // x routed again
    route('u', 4)
    route('w', 5) // the walk moves x behind u and drops v (least recently routed: 2)
    expect(held(['x', 'v', 'u', 'w'], 5)).toEqual(['x', 'u', 'w'])
    // the walk stops at u, the earliest placed and not routed since: u drops, though x was
    // routed less recently (3 < 4)
    route('y', 6)
    expect(held(['x', 'u', 'w', 'y'], 6)).toEqual(['x', 'w', 'y'])
  })

  test('a routed session keeps its home and takes the new model in place', () => {
    const { t, route } = table(2)
    route('s', 1, 'a')
    route('s', 2, 'b')
    const e = t.peek('s', 2)
    expect([e.model, e.index, e.home, e.homeIndex, e.at]).toEqual(['b', 1, 'a', 0, 2])
    route('s', 3, 'b') // the same model and home: only the time moves
    route('s', 4, 'a')
    expect([e.model, e.index, e.home, e.homeIndex, e.at]).toEqual(['a', 0, 'a', 0, 4])
  })

  test('a session not routed for idleMs is forgotten; the bound holds through many sessions', () => {
    const { t, route, held } = table(4)
    route('old', 0)
    expect(held(['old'], IDLE_MS - 1)).toEqual(['old'])
    expect(t.entryOf('old', IDLE_MS)).toBeUndefined()
    expect(t.size).toBe(0)
    for (let i = 0; i < 1000; i++) {
      route(`s${i % 7}`, 10 + i)
      if (i % 3 === 0) route(`s${(i + 1) % 7}`, 10 + i)
      expect(t.size).toBeLessThanOrEqual(4)
    }
  })

  test('max 0: affinity off, nothing held', () => {
    const { t, route } = table(0)
    route('s', 1)
    expect(t.enabled).toBe(false)
    expect(t.size).toBe(0)
  })
})
