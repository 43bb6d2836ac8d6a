'use strict'
// Concurrency: 4 processes doing mixed get/set/delete on one database file (no error
// surfaces; each process reads back exactly its own acknowledged state; the final file
// holds exactly each process's last acknowledged state of its keys, and for shared keys
// a value one of the writers wrote); the addon in 4 worker_threads at once, each routing,
// caching (':memory:' and one shared file) and recording; workers terminated in the middle
// of tight loops of calls. Sizes: CI 4 × 1500 operations, 3 termination rounds;
// RELIABILITY_LONG=1: 4 × 20000 and 30 rounds.
const { CacheManager } = require('model-router-native')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const LONG = !!process.env.RELIABILITY_LONG
const PROCS = 4
const OPS = LONG ? 20000 : 1500
const THREADS = 4
const ITER = LONG ? 5000 : 400
const TERMINATE_ROUNDS = LONG ? 30 : 3

function runNode(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '))
      resolve({ code, signal, err, result: line ? JSON.parse(line.slice(7)) : null })
    })
  })
}

test(
  `${PROCS} processes × ${OPS} mixed get/set/delete on one database file`,
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-procs-'))
    const dbPath = path.join(dir, 'shared.db')
    // created first, so this test measures sharing, not creation (creating one new file from
    // several threads at once has its own test at the end of this file)
    new CacheManager({ dbPath }).shutdown()
    const script = path.join(__dirname, 'fixtures', 'concurrent-cache.js')
    const runs = await Promise.all(
      Array.from({ length: PROCS }, (_, me) => runNode([script, dbPath, String(me), String(PROCS), String(OPS), String(me * 31 + 7)])),
    )
    for (const r of runs) {
      expect({ code: r.code, signal: r.signal, err: r.err }).toEqual({ code: 0, signal: null, err: '' })
      expect(r.result.errors).toBe(0)
      expect(r.result.problems).toEqual([])
    }
    // final state: each own key exactly as its owner last left it
    const c = new CacheManager({ dbPath })
    const mismatches = []
    for (const { result } of runs) {
      for (const [key, seq] of Object.entries(result.model)) {
        const v = await c.get(key)
        const got = v === null ? null : v.seq
        if (got !== seq || (v !== null && v.by !== result.me)) mismatches.push({ key, want: seq, got: v })
      }
    }
    // shared keys: absent (deleted) or a value some process wrote to that key
    const written = new Set(runs.flatMap(({ result }) => result.sharedWritten.map(([k, seq]) => `${k}/${result.me}/${seq}`)))
    for (let j = 0; j < 8; j++) {
      const key = `shared:${j}`
      const v = await c.get(key)
      if (v !== null && !written.has(`${key}/${v.by}/${v.seq}`)) mismatches.push({ key, got: v })
    }
    c.shutdown()
    expect(mismatches).toEqual([])
    const reads = runs.reduce((n, r) => n + r.result.reads, 0)
    console.log(`RELIABILITY processes: processes=${PROCS} operations=${PROCS * OPS} reads=${reads} errors=0 mismatches=0`)
    fs.rmSync(dir, { recursive: true, force: true })
  },
  LONG ? 600000 : 120000,
)

test(
  `the addon in ${THREADS} worker_threads at once; workers terminated mid-call (${TERMINATE_ROUNDS} rounds)`,
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-threads-'))
    const r = await runNode([
      path.join(__dirname, 'fixtures', 'worker-threads.js'),
      dir,
      String(THREADS),
      String(ITER),
      String(TERMINATE_ROUNDS),
    ])
    expect({ code: r.code, signal: r.signal, err: r.err }).toEqual({ code: 0, signal: null, err: '' })
    const { results, seen, expected, terminated, afterModel, back } = r.result
    expect(results).toHaveLength(THREADS)
    for (const w of results) expect(w.problems).toEqual([])
    // per-thread instances: every worker routed and counted on its own router
    for (const w of results) expect(w.usage).toBeGreaterThan(0)
    expect(seen).toBe(expected)
    expect(terminated).toBe(THREADS * TERMINATE_ROUNDS)
    expect(afterModel).toBe('gemini-2.0-flash')
    expect(back).toBe(1)
    console.log(
      `RELIABILITY threads: threads=${THREADS} iterations=${ITER} sharedFileWrites=${seen}/${expected} terminated=${terminated} crashes=0`,
    )
  },
  LONG ? 600000 : 120000,
)

// DEFECT (crates/cache-core/src/disk.rs, not editable here): the first opening of a new
// database file is not atomic. Threads (or processes) opening the same new file at once
// fail with ERR_CACHE_DISK: "File exists (os error 17)" (the file is created by a
// check-then-create), "duplicate column name: kind" (the schema check and the ALTER TABLE
// that adds `kind` run outside a transaction), now and then "database is locked". Measured:
// 26 of 400 opens failed (4 threads × 100 rounds); 17 of 240 in the CI size. Expected:
// every open succeeds.
test('threads opening the same new database file at once all succeed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-race-'))
  const r = await runNode([path.join(__dirname, 'fixtures', 'open-race.js'), dir, '4', LONG ? '400' : '60'])
  fs.rmSync(dir, { recursive: true, force: true })
  expect(r.code).toBe(0)
  console.log(`RELIABILITY open-race: ${JSON.stringify(r.result)}`)
  expect(r.result.failures).toBe(0)
}, 120000)
