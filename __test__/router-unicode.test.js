// Non-ASCII tasks: the binding reads a task as UTF-16 when it is not ASCII (V8 holds such a
// string so), and as UTF-8 otherwise. Decisions must not depend on the form: every task
// here is routed by a fresh native router and a fresh legacy port (each call a miss on both
// sides), and the decisions must be identical; the token estimate must equal the one of the
// same characters read as UTF-8.
const { ModelRouter } = require('model-router-native')
const { ModelRouter: LegacyRouter } = require('model-router-legacy-ports')

const models = () =>
  new Map(
    [
      ['deep', 'enterprise', ['advanced-reasoning', 'reasoning', 'code'], 8000, 1e-5],
      ['pro', 'pro', ['reasoning', 'code'], 2500, 3.5e-6],
      ['vertex', 'enterprise', ['reasoning'], 2000, 5e-6],
      ['thinking', 'pro', ['reasoning'], 1500, 1e-6],
      ['flash', 'pro', ['code'], 800, 5e-7],
      ['small', 'free', [], 600, 2e-7],
    ].map(([name, tier, capabilities, latencyTarget, costPerToken]) => [
      name,
      { name, tier, capabilities, latencyTarget, costPerToken, maxTokens: 1_048_576 },
    ]),
  )

const PIECES = [
  'Bitte prüfe die Übersetzung für die Größenänderung der Straße.',
  '请检查这个翻译并给出简短的总结。',
  'analyze',
  'ANALYZE',
  'Äнализ',
  'implement',
  'optimize the algorithm',
  'debug',
  'code',
  'API',
  'apİ',
  'İmplement',
  'database',
  'machine learning',
  'machine\u3000learning',
  'data\u00a0science',
  'function',
  'class',
  'if',
  'for',
  '{ x => y }',
  '[a](b)',
  '😀',
  '🎉🎉',
  '\ud800',
  '\udc00',
  '\u3000',
  '\u2028',
  '\ufeff',
  '\u0085',
  'K\u212a',
  ' ',
  '\n',
  'x',
]

// mulberry32: a seeded stream, so a failure names a reproducible task
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function tasks(seed, n) {
  const r = rng(seed)
  const pick = (xs) => xs[Math.floor(r() * xs.length)]
  const out = []
  for (let i = 0; i < n; i++) {
    const words = Array.from({ length: 1 + Math.floor(r() * 30) }, () => pick(PIECES))
    let t = words.join(r() < 0.7 ? ' ' : '')
    const shape = r()
    // past the binding's first read of 256 units: non-ASCII at the start, or only late
    if (shape < 0.15) t = t + ' ' + 'lorem ipsum '.repeat(40)
    else if (shape < 0.3) t = 'lorem ipsum '.repeat(40) + t
    else if (shape < 0.35) t = 'x'.repeat(5000) + t + '请'.repeat(3000)
    out.push(t)
  }
  return out
}

const fields = (d) => ({ modelName: d.modelName, confidence: d.confidence, reason: d.reason })

describe('non-ASCII tasks', () => {
  test('route as the legacy port does, for every tier, with and without capabilities', async () => {
    const list = tasks(20261207, 400)
    expect(list.filter((t) => [...t].some((c) => c.charCodeAt(0) > 0x7f)).length).toBeGreaterThan(300)
    let n = 0
    for (const [i, task] of list.entries()) {
      const context = {
        task,
        userTier: ['free', 'pro', 'enterprise'][i % 3],
        priority: ['low', 'medium', 'high', 'critical'][i % 4],
        latencyRequirement: [500, 1000, 2000, 10000][(i >> 2) % 4],
      }
      if (i % 2 === 0) context.capabilities = i % 4 === 0 ? [] : ['code']
      const native = new ModelRouter({ tierPolicy: 'legacy' })
      const legacy = new LegacyRouter()
      try {
        const got = fields(await native.selectOptimalModel(context, models()))
        const want = fields(await legacy.selectOptimalModel(context, models()))
        expect({ task, ...got }).toEqual({ task, ...want })
        n++
      } finally {
        native.shutdown()
        legacy.dispose()
      }
    }
    expect(n).toBe(list.length)
  })

  test('a repeated non-ASCII task is a routing-cache hit; an ASCII task with the same bytes is not', async () => {
    const native = new ModelRouter()
    try {
      const m = models()
      const ctx = (task) => ({ task, userTier: 'enterprise', priority: 'high', latencyRequirement: 2000 })
      for (const task of ['请检查这个翻译', 'Größe '.repeat(100), 'x'.repeat(300) + 'é']) {
        expect((await native.selectOptimalModel(ctx(task), m)).fromCache).toBe(false)
        // the same characters, as a new string (not the same V8 object)
        expect((await native.selectOptimalModel(ctx([...task].join('')), m)).fromCache).toBe(true)
      }
      // "\u0100" is the bytes 00 01 in UTF-16 (little-endian), as is the ASCII "\u0000\u0001" in UTF-8
      expect((await native.selectOptimalModel(ctx('\u0100'), m)).fromCache).toBe(false)
      expect((await native.selectOptimalModel(ctx('\u0000\u0001'), m)).fromCache).toBe(false)
    } finally {
      native.shutdown()
    }
  })

  test('the input-token estimate does not depend on where the non-ASCII characters are', async () => {
    // 'x'.repeat(300) first: the binding reads the task as UTF-8; the same characters with
    // the non-ASCII ones first: read as UTF-16
    const native = new ModelRouter({ strategy: 'adaptive', seed: 1 })
    try {
      const m = models()
      const ctx = (task) => ({ task, userTier: 'enterprise', priority: 'high', latencyRequirement: 2000 })
      for (const s of ['é', '请检查', '😀', '\ud800', 'a\udc00b😀\ud83d', 'Größe 请 🎉 '.repeat(50)]) {
        const pad = 'x'.repeat(300)
        const utf8 = await native.explain(ctx(pad + s), m)
        const utf16 = await native.explain(ctx(s + pad), m)
        const nonAscii = [...s].reduce((k, c) => k + (c.charCodeAt(0) < 0x80 ? 0 : c.length), 0)
        const ascii = s.length - nonAscii + pad.length
        expect(utf16.requiredTokens).toBe(utf8.requiredTokens)
        // a third of a token per ASCII character, one per non-ASCII UTF-16 unit
        expect(utf16.requiredTokens).toBe(Math.ceil(ascii / 3) + nonAscii)
      }
    } finally {
      native.shutdown()
    }
  })
})
