// The router's boundary is defined once, in Rust (src/router_layout.rs, the default rules in
// crates/router-core/src/rules.rs); the TypeScript layer reads it from the addon. These tests
// fail when the two sides could disagree: a layout whose slots collide or overflow, a layer
// name the addon lacks, a number written by hand in ts/, or default rules that differ.
const fs = require('node:fs')
const path = require('node:path')
const { ModelRouter } = require('model-router-native')
const { ModelRouter: LegacyRouter } = require('model-router-legacy-ports')

const root = path.join(__dirname, '..')
const binding = require('../binding.cjs')
const layerLayout = require('../dist/router-layout.js')

const layout = binding.routerLayout()
const named = (prefix) => Object.keys(layout).filter((k) => k.startsWith(prefix))
const values = (names) => names.map((k) => layout[k])
const unique = (xs) => new Set(xs).size === xs.length

describe('the router layout exported by the addon', () => {
  test('every decision slot of out is named once and lies within OUT_LEN', () => {
    const slots = named('OUT_').filter((k) => k !== 'OUT_LEN')
    expect(slots.length).toBe(layout.OUT_LEN) // every slot has a name
    expect(unique(values(slots))).toBe(true)
    for (const k of slots) expect([k, Number.isInteger(layout[k]) && layout[k] >= 0 && layout[k] < layout.OUT_LEN]).toEqual([k, true])
    // the inputs of the plain call and the routing-performance output reuse decision slots
    for (const group of ['IN_', 'PERF_']) {
      const g = named(group)
      expect(g.length).toBeGreaterThan(0)
      expect(unique(values(g))).toBe(true)
      for (const k of g) expect([k, layout[k] < layout.OUT_LEN]).toEqual([k, true])
    }
  })

  test('kinds, picks and states are distinct codes; flags are distinct bits', () => {
    for (const group of ['KIND_', 'PICK_', 'STATE_']) {
      expect(named(group).length).toBeGreaterThan(1)
      expect([group, unique(values(named(group)))]).toEqual([group, true])
    }
    const flags = values(named('FLAG_'))
    expect(flags.length).toBe(4)
    for (const f of flags) expect(Number.isInteger(Math.log2(f))).toBe(true)
    expect(unique(flags)).toBe(true)
  })

  test('status codes: OK is 0, every error a distinct negative number', () => {
    const errors = ['NO_MODELS', 'NO_ELIGIBLE_MODEL', 'NO_HEALTHY_MODEL', 'ENTRY_GONE', 'NO_MODEL_FITS_WINDOW', 'BUDGET_EXCEEDED']
    expect(layout.OK).toBe(0)
    for (const k of errors) expect([k, layout[k] < 0]).toEqual([k, true])
    expect(unique(values(errors))).toBe(true)
  })

  test('a live row holds its offsets; the head holds its two numbers', () => {
    const row = ['LIVE_STATE', 'LIVE_ESTIMATE', 'LIVE_LATE', 'LIVE_IN_FLIGHT', 'LIVE_EVIDENCE', 'LIVE_QUICK']
    expect(unique(values(row))).toBe(true)
    for (const k of row) expect([k, layout[k] < layout.LIVE_STRIDE]).toEqual([k, true])
    expect(row.length).toBe(layout.LIVE_STRIDE)
    expect(unique([layout.LIVE_NEXT_ID, layout.LIVE_NEXT_CHANGE])).toBe(true)
    expect(Math.max(layout.LIVE_NEXT_ID, layout.LIVE_NEXT_CHANGE)).toBeLessThan(layout.LIVE_HEAD)
  })

  test('every number of an outcome record and of a replay record is named once, within its length', () => {
    for (const [prefix, len] of [
      ['OUTCOME_', 'OUTCOME_LEN'],
      ['REPLAY_', 'REPLAY_LEN'],
    ]) {
      const fields = named(prefix).filter((k) => k !== len)
      expect([prefix, fields.length]).toEqual([prefix, layout[len]])
      expect(unique(values(fields))).toBe(true)
      for (const k of fields) expect([k, layout[k] >= 0 && layout[k] < layout[len]]).toEqual([k, true])
    }
  })

  test('the addon enforces OUT_LEN: a shorter out array is refused at creation', () => {
    const make = (len) => binding.routerCreate('{}', new Float64Array(len), new Float64Array(12), new Float64Array(8))
    expect(() => make(layout.OUT_LEN - 1)).toThrow(/OUT_LEN|length/)
    expect(() => make(layout.OUT_LEN)).not.toThrow()
  })
})

describe('the layer reads the layout instead of copying it', () => {
  test('every number the layer exports is the addon constant of the same name', () => {
    const exported = Object.entries(layerLayout).filter(([, v]) => typeof v === 'number')
    expect(exported.length).toBeGreaterThan(40)
    for (const [k, v] of exported) expect([k, layout[k]]).toEqual([k, v])
  })

  test('a name the addon lacks fails at load, naming it', () => {
    expect(() => layerLayout.layoutNumber({ OUT_LEN: 18 }, 'OUT_NOW')).toThrow(/OUT_NOW/)
    expect(layerLayout.layoutNumber({ OUT_LEN: 18 }, 'OUT_LEN')).toBe(18)
  })

  test('no file of ts/ writes a layout number by hand', () => {
    const names = Object.keys(layout).join('|')
    const byHand = new RegExp(`\\b(?:const|let|var)\\s+(${names})\\s*(?::[^=]+)?=\\s*-?[0-9]`)
    const found = []
    for (const f of fs.readdirSync(path.join(root, 'ts'))) {
      if (!f.endsWith('.ts')) continue
      const text = fs.readFileSync(path.join(root, 'ts', f), 'utf8')
      const m = byHand.exec(text)
      if (m) found.push(`${f}: ${m[0]}`)
    }
    expect(found).toEqual([])
    // the check itself finds a hand-written copy
    expect(byHand.test('const OUT_LEN = 18')).toBe(true)
  })
})

describe('the default rules', () => {
  const view = (rules) => rules.map(({ id, modelPreference, weight, active }) => ({ id, modelPreference, weight, active }))

  test("a new router's rules are the native core's list, in its order", () => {
    const router = new ModelRouter()
    try {
      const rules = router.getRules()
      expect(rules.map(({ condition, ...r }) => r)).toEqual(binding.routerDefaultRules())
      expect(rules.length).toBe(7)
      for (const r of rules) expect(typeof r.condition).toBe('function')
    } finally {
      router.shutdown()
    }
  })

  test("equal the legacy's default rules (ids, preferences, weights, order; names are not in the contract)", () => {
    const legacy = new LegacyRouter()
    try {
      expect(view(binding.routerDefaultRules())).toEqual(view(legacy.getRules()))
    } finally {
      legacy.shutdown?.()
    }
  })
})
