'use strict'
// No timer of PerformanceMonitor keeps the process alive: a child process that uses the
// class (without and with shutdown) must exit by itself.
const { spawn } = require('node:child_process')
const path = require('node:path')

const entry = path.join(__dirname, '..', 'index.cjs')

function runChild(body) {
  const script = `
    const { PerformanceMonitor } = require(${JSON.stringify(entry)})
    ${body}
    console.log('done')
  `
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    // a hang is the failure: kill it well after a normal exit and report it
    const killer = setTimeout(() => child.kill('SIGKILL'), 30000)
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, out, err })
    })
  })
}

test('a process using the monitor exits by itself (no shutdown)', async () => {
  const r = await runChild(`
    const m = new PerformanceMonitor()
    m.on('health_check', () => {})
    for (let i = 0; i < 5000; i++) m.recordMetric('orchestration_latency', i)
    m.getHealthScore(); m.analyzeBottlenecks(); m.exportData('prometheus')
  `)
  expect(r).toEqual({ code: 0, signal: null, out: 'done\n', err: '' })
})

test('a process exits by itself after shutdown, with a short health-check period', async () => {
  const r = await runChild(`
    const m = new PerformanceMonitor({ healthCheckIntervalMs: 5 })
    m.recordMetric('x', 1)
    setTimeout(() => m.shutdown(), 30)
  `)
  expect(r).toEqual({ code: 0, signal: null, out: 'done\n', err: '' })
})
