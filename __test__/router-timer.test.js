// The router's 30 s timer (metrics, purge, cooldown ends) holds the router only weakly: a
// router dropped without shutdown() is collected, and no timer keeps the process alive.
const { execFileSync } = require('node:child_process')

test('a ModelRouter dropped without shutdown() is collected despite its timer', () => {
  const script = `
    const { ModelRouter } = require(${JSON.stringify(require.resolve('model-router-native'))})
    const models = new Map([['m', { name: 'm', tier: 'free', capabilities: [], latencyTarget: 100, costPerToken: 0, maxTokens: 10 }]])
    let collected = 0
    const reg = new FinalizationRegistry(() => collected++)
    ;(async () => {
      for (const strategy of ['legacy', 'adaptive']) {
        for (let i = 0; i < 10; i++) {
          const r = new ModelRouter({ strategy })
          await r.selectOptimalModel({ task: 't', userTier: 'free', priority: 'low', latencyRequirement: 1000 }, models)
          reg.register(r, i)
        }
      }
      // finalizers run on later turns: a few collections, each followed by a turn
      for (let i = 0; i < 10 && collected < 20; i++) { global.gc(); await new Promise((r) => setImmediate(r)) }
      console.log(collected)
    })()`
  // the child exits by itself: its routers' timers are unref'd
  const collected = Number(execFileSync(process.execPath, ['--expose-gc', '-e', script], { timeout: 30_000 }).toString().trim())
  expect(collected).toBeGreaterThanOrEqual(18)
})
