'use strict'
// Crash safety of the cache's disk level: a child performs acknowledged writes of every
// kind (fixtures/crash-writer.js) and is killed with SIGKILL at a random moment; the
// database is reopened: `PRAGMA integrity_check` is ok and every acknowledged key is
// present with its value (for an overwritten key: the acknowledged version or a later one).
// 20 rounds (RELIABILITY_LONG=1: 200). Extends the 4 rounds of cache-disk.test.js with
// overwrites, setMany, namespaces, compressed values, value checks and kills right after
// the database opens.
const { CacheManager } = require('model-router-native')
const Database = require('better-sqlite3')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const LONG = !!process.env.RELIABILITY_LONG
const ROUNDS = LONG ? 200 : 20
const WRITER = path.join(__dirname, 'fixtures', 'crash-writer.js')

async function round(n, dir) {
  const dbPath = path.join(dir, `killed-${n}.db`)
  const child = spawn(process.execPath, [WRITER, dbPath, String(n * 7919 + 1)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const ready = new Promise((r) => {
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('ready\n')) r()
    })
  })
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })))
  await Promise.race([ready, exited])
  // a random moment: right after the database opened, or up to 600 ms into the writes
  const delay = n % 5 === 0 ? 0 : Math.floor(Math.random() * 600)
  await new Promise((r) => setTimeout(r, delay))
  child.kill('SIGKILL')
  const { code, signal } = await exited
  if (signal !== 'SIGKILL') throw new Error(`writer ended before the kill (code ${code}): ${err}`)

  // only complete lines are acknowledged writes
  const lines = out
    .slice(0, out.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l.includes('\t'))
  const acked = new Map()
  for (const l of lines) {
    const [key, v] = l.split('\t')
    acked.set(key, Math.max(acked.get(key) ?? -1, Number(v)))
  }
  const db = new Database(dbPath)
  const integrity = db.pragma('integrity_check', { simple: true })
  db.close()
  const c = new CacheManager({ dbPath })
  const keys = [...acked.keys()]
  const got = await c.getMany(keys)
  c.shutdown()
  const lost = []
  keys.forEach((key, i) => {
    const v = got[i]
    const want = acked.get(key)
    if (v === null || v.key !== key || !(v.version >= want) || typeof v.pad !== 'string') lost.push({ key, want, got: v })
  })
  return { integrity, acked: keys.length, lost, delay }
}

test(
  `SIGKILL at a random moment, ${ROUNDS} rounds: integrity ok, no acknowledged write lost`,
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-crash-'))
    let ackedTotal = 0
    let lostTotal = 0
    const integrities = new Set()
    for (let n = 0; n < ROUNDS; n++) {
      const r = await round(n, dir)
      integrities.add(r.integrity)
      ackedTotal += r.acked
      lostTotal += r.lost.length
      expect(r.integrity).toBe('ok')
      expect(r.lost).toEqual([])
    }
    // the rounds did write: most of them acknowledged something before the kill
    expect(ackedTotal).toBeGreaterThan(ROUNDS * 5)
    console.log(`RELIABILITY crash: rounds=${ROUNDS} acknowledged=${ackedTotal} lost=${lostTotal} integrity=${[...integrities].join(',')}`)
    fs.rmSync(dir, { recursive: true, force: true })
  },
  LONG ? 600000 : 120000,
)
