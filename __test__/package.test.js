// The package as a TypeScript ESM project ("type": "module", node16 resolution) consumes it:
// it type-checks against index.d.ts and runs through index.mjs.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')

test('a "type": "module" TypeScript project imports, type-checks and runs the package', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-consumer-'))
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'model-router-native'))
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }))
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'node16',
          moduleResolution: 'node16',
          target: 'ES2022',
          strict: true,
          outDir: 'out',
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules', '@types')],
        },
        files: ['app.ts'],
      }),
    )
    fs.writeFileSync(
      path.join(dir, 'app.ts'),
      `import { ModelRouter, CacheManager, PerformanceMonitor, type RoutingDecision } from 'model-router-native'
const router = new ModelRouter()
const models = new Map([['m', { name: 'm', tier: 'free' as const, capabilities: [], latencyTarget: 5, costPerToken: 0, maxTokens: 1 }]])
const d: RoutingDecision = await router.selectOptimalModel({ task: 't', userTier: 'free', priority: 'low', latencyRequirement: 100 }, models)
const cache = new CacheManager({ maxMemorySize: 1000 })
await cache.set('k', { a: 1 }, 3600)
const monitor = new PerformanceMonitor()
monitor.recordMetric('routing_overhead', d.routingTime)
console.log(d.modelName, JSON.stringify(await cache.get('k')), monitor.getStats('routing_overhead')?.count)
router.shutdown(); cache.shutdown(); monitor.shutdown()
`,
    )
    execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, timeout: 60_000 })
    const out = execFileSync(process.execPath, [path.join(dir, 'out', 'app.js')], { cwd: dir, timeout: 20_000 }).toString()
    expect(out.trim()).toBe('m {"a":1} 1')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the ES module entry names every runtime export of the CommonJS entry', () => {
  const cjs = Object.keys(require('../index.cjs'))
  const script = `import * as m from ${JSON.stringify(path.join(root, 'index.mjs'))}; console.log(JSON.stringify(Object.keys(m)))`
  const esm = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }).toString())
  expect(cjs.filter((name) => !esm.includes(name))).toEqual([])
})
