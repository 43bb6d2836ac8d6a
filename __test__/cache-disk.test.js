'use strict'
// CacheManager's disk level: file permissions, the legacy file format, size limit,
// compression, two processes on one file, and durability of acknowledged sets.
const { CacheManager } = require('model-router-native')
const Database = require('better-sqlite3')
const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ENTRY = path.join(__dirname, '..', 'index.cjs')
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-cache-disk-'))

function runChild(script, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`))))
  })
}

/** Runs one SQL statement on `dbPath` with better-sqlite3 in a child process. */
function sqlInChild(dbPath, statement) {
  const script = `const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))})
    const db = new Database(process.argv[1]); db.exec(process.argv[2]); db.close()`
  return runChild(script, [dbPath, statement])
}

test('the database file and its WAL are created with mode 0600', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const c = new CacheManager({ dbPath })
  await c.set('k', 'v')
  for (const f of [dbPath, `${dbPath}-wal`]) {
    expect(fs.existsSync(f)).toBe(true)
    expect((fs.statSync(f).mode & 0o777).toString(8)).toBe('600')
  }
  c.shutdown()
})

test('a database written by the legacy code opens and its live entries are readable', async () => {
  const dbPath = path.join(tmp(), 'legacy.db')
  const db = new Database(dbPath)
  db.pragma('journal_mode = WAL')
  db.exec(`CREATE TABLE cache_entries (key TEXT PRIMARY KEY, value BLOB, size INTEGER, ttl INTEGER,
    created_at INTEGER, last_accessed INTEGER, hit_count INTEGER DEFAULT 0, namespace TEXT,
    compressed INTEGER DEFAULT 0);
    CREATE INDEX idx_ttl ON cache_entries(ttl); CREATE INDEX idx_last_accessed ON cache_entries(last_accessed);
    CREATE INDEX idx_namespace ON cache_entries(namespace);`)
  const now = Date.now()
  const ins = db.prepare('INSERT INTO cache_entries VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0)')
  const rows = [
    ['obj', JSON.stringify({ model: 'gemini', tokens: [1, 2] })],
    ['str', 'plain text answer'],
    ['num', JSON.stringify(7)],
  ]
  for (const [k, v] of rows) ins.run(k, v, Buffer.byteLength(JSON.stringify(v)), now + 3_600_000, now, now, 'default')
  ins.run('old', JSON.stringify({ stale: true }), 10, now - 1000, now - 5000, now - 5000, null)
  db.close()

  const c = new CacheManager({ dbPath })
  expect(await c.get('obj')).toEqual({ model: 'gemini', tokens: [1, 2] })
  expect(await c.get('str')).toBe('plain text answer')
  expect(await c.get('num')).toBe(7)
  expect(await c.get('old')).toBeNull() // expired
  await c.set('new', { fresh: 1 })
  expect(await c.get('new')).toEqual({ fresh: 1 })
  c.shutdown()
  const check = new Database(dbPath, { readonly: true })
  expect(check.pragma('integrity_check', { simple: true })).toBe('ok')
  // No duplicate indexes were added next to the legacy ones.
  expect(check.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").get().n).toBe(3)
  check.close()
})

// Legacy: maxDiskSize was never enforced and diskUsage was always 0.
test('maxDiskSize is enforced, oldest-accessed entries first; diskUsage is real', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const limit = 256 * 1024
  const c = new CacheManager({ dbPath, maxDiskSize: limit, compression: false, maxMemorySize: 1000 })
  const noise = (i) => Array.from({ length: 100 }, (_, j) => ((i * 7919 + j * 104729) % 1000003).toString(36)).join('')
  await c.set('first', noise(-1))
  for (let i = 0; i < 1000; i++) {
    await c.get('first') // keep it recently accessed
    await c.set(`k${i}`, noise(i))
  }
  const s = c.getStats()
  expect(s.diskUsage).toBeGreaterThan(0)
  expect(s.diskUsage).toBeLessThanOrEqual(limit)
  expect(s.evictionCount).toBeGreaterThan(0)
  expect(await c.get('k999')).toBe(noise(999))
  expect(await c.get('k0')).toBeNull()
  expect(await c.get('first')).toBe(noise(-1))
  c.shutdown()
})

// Legacy: `compression: true` stored the JSON of the JSON text, uncompressed.
test('compression is real lz4, flagged per row', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const c = new CacheManager({ dbPath })
  const big = { text: 'the same sentence again. '.repeat(400) }
  await c.set('big', big)
  await c.set('small', { a: 1 })
  c.shutdown()
  const db = new Database(dbPath, { readonly: true })
  const rows = db.prepare('SELECT key, size, compressed, length(value) AS len FROM cache_entries ORDER BY key').all()
  db.close()
  expect(rows[0]).toMatchObject({ key: 'big', compressed: 1 })
  expect(rows[0].len).toBeLessThan(JSON.stringify(big).length / 5)
  expect(rows[1]).toMatchObject({ key: 'small', compressed: 0 })
  const again = new CacheManager({ dbPath })
  expect(await again.get('big')).toEqual(big)
  again.shutdown()
})

const WRITER = `
  const { CacheManager } = require(${JSON.stringify(ENTRY)})
  const [dbPath, me, other, n] = process.argv.slice(1)
  ;(async () => {
    const c = new CacheManager({ dbPath })
    const all = []
    for (let i = 0; i < +n; i++) all.push(c.set(me + i, { from: me, i }))
    for (let i = 0; i < +n; i += 10) await c.set(me + 'seq' + i, i)
    await Promise.all(all)
    // wait until the other process has written everything, then read it all
    const other0 = other + (+n - 1)
    for (let t = 0; (await c.get(other0)) === null; t++) {
      if (t > 2000) throw new Error('never saw the other process')
      await new Promise((r) => setTimeout(r, 5))
    }
    let seen = 0
    for (let i = 0; i < +n; i++) if ((await c.get(other + i))?.from === other) seen++
    console.log(seen)
    c.shutdown()
  })().catch((e) => { console.error(e.code, e.message); process.exit(1) })`

test('two processes on one database file see each other’s writes, never SQLITE_BUSY', async () => {
  const dbPath = path.join(tmp(), 'shared.db')
  const [a, b] = await Promise.all([runChild(WRITER, [dbPath, 'a', 'b', '2000']), runChild(WRITER, [dbPath, 'b', 'a', '2000'])])
  expect(a.trim()).toBe('2000')
  expect(b.trim()).toBe('2000')
})

test('disk reads of one turn share a snapshot that ends with the turn: another process’s write shows next turn', async () => {
  const dbPath = path.join(tmp(), 'snapshot.db')
  const c = new CacheManager({ dbPath })
  await c.set('seed', 1)
  // two misses in one turn: the second reads in the turn's snapshot
  const misses = [c.get('x1'), c.get('x2')]
  expect(await Promise.all(misses)).toEqual([null, null])
  await runChild(
    `const { CacheManager } = require(${JSON.stringify(ENTRY)})
     const c = new CacheManager({ dbPath: process.argv[1] })
     c.set('x2', 'from the child').then(() => c.shutdown())`,
    [dbPath],
  )
  expect(await c.get('x2')).toBe('from the child')
  // and within one turn, a write of ours is seen by the shared reads after it
  const first = c.get('y1')
  await c.set('y2', 'ours')
  expect(await first).toBeNull()
  expect(await Promise.all([c.get('nothing'), c.get('y2')])).toEqual([null, 'ours'])
  // once the turn is over no snapshot is held: another process can checkpoint and reset the WAL
  await new Promise((r) => setImmediate(r))
  const checkpoint = await runChild(
    `const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))})
     const db = new Database(process.argv[1], { timeout: 0 })
     console.log(JSON.stringify(db.pragma('wal_checkpoint(TRUNCATE)')[0])); db.close()`,
    [dbPath],
  )
  expect(JSON.parse(checkpoint)).toMatchObject({ busy: 0, log: 0 })
  c.shutdown()
})

test('a read snapshot never outlives its callback: one opened in a setImmediate callback is gone by the next I/O callback', async () => {
  const dbPath = path.join(tmp(), 'macrotask.db')
  const c = new CacheManager({ dbPath, maxMemorySize: 1000 })
  const big = (s) => s + 'x'.repeat(300) // disk only: over a tenth of the memory budget
  await c.set('k', big('v1'))
  await c.set('a', big('a'))
  const seen = await new Promise((resolve, reject) => {
    setImmediate(async () => {
      try {
        await c.get('a') // the first disk read of this callback
        expect((await c.get('k')).slice(0, 2)).toBe('v1') // shared: opens the snapshot
        // another process commits v2; this callback's reads may still share the snapshot,
        // a later callback's may not
        execFileSync(process.execPath, [
          '-e',
          `const { CacheManager } = require(${JSON.stringify(ENTRY)})
          const c = new CacheManager({ dbPath: process.argv[1] }); c.set('k', ${JSON.stringify(big('v2'))}).then(() => c.shutdown())`,
          dbPath,
        ])
        fs.stat(__filename, async () => resolve((await c.get('k')).slice(0, 2)))
      } catch (e) {
        reject(e)
      }
    })
  })
  expect(seen).toBe('v2')
  c.shutdown()
})

test('a CacheManager or PerformanceMonitor dropped without shutdown() is collected: its threads and files go with it', async () => {
  const dir = tmp()
  const out = await new Promise((resolve, reject) => {
    const script = `
      const fs = require('fs'), path = require('path')
      const { CacheManager, PerformanceMonitor } = require(${JSON.stringify(ENTRY)})
      const threads = () => fs.readdirSync('/proc/self/task').length
      const fds = () => fs.readdirSync('/proc/self/fd').length
      let collected = 0
      const reg = new FinalizationRegistry(() => collected++)
      ;(async () => {
        const before = { threads: threads(), fds: fds() }
        for (let i = 0; i < 20; i++) {
          const c = new CacheManager({ dbPath: path.join(process.argv[1], 'c' + i + '.db'), poolSize: 2 })
          await c.set('k', 'v')
          reg.register(c, i)
          const m = new PerformanceMonitor()
          m.recordMetric('x', 1)
          reg.register(m, i)
        }
        const during = { threads: threads(), fds: fds() }
        for (let i = 0; i < 10 && collected < 40; i++) { global.gc(); await new Promise((r) => setTimeout(r, 50)) }
        console.log(JSON.stringify({ before, during, after: { threads: threads(), fds: fds() }, collected }))
      })()`
    const child = spawn(process.execPath, ['--expose-gc', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.on('data', (d) => (text += d))
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`exit ${code}`))))
  })
  expect(out.during.threads).toBeGreaterThan(out.before.threads + 20) // a writer thread per cache
  expect(out.collected).toBeGreaterThanOrEqual(38)
  expect(out.after.threads).toBeLessThanOrEqual(out.before.threads + 4)
  expect(out.after.fds).toBeLessThanOrEqual(out.before.fds + 12)
})

test('the read snapshot also ends under Jest fake timers (they fake queueMicrotask and drop its jobs)', async () => {
  const dbPath = path.join(tmp(), 'fake-timers.db')
  const a = new CacheManager({ dbPath })
  const b = new CacheManager({ dbPath })
  await a.set('seed', 1)
  jest.useFakeTimers()
  try {
    expect(await a.get('n1')).toBeNull()
    expect(await a.get('n2')).toBeNull() // shared: opens the snapshot
  } finally {
    jest.useRealTimers()
  }
  await b.set('k', 'fresh')
  await new Promise((r) => setImmediate(r))
  expect(await a.get('k')).toBe('fresh')
  a.shutdown()
  b.shutdown()
})

test('a set settles under Jest fake timers (the group commit is a promise job, not queueMicrotask)', async () => {
  const c = new CacheManager({ dbPath: path.join(tmp(), 'fake-set.db') })
  jest.useFakeTimers()
  try {
    await c.set('k', 'v') // hangs if the commit waits for a faked queueMicrotask
    expect(await c.get('k')).toBe('v')
  } finally {
    jest.useRealTimers()
    c.shutdown()
  }
}, 10_000)

test('setMany reads each entry once: what it checked is what it stores', async () => {
  const dbPath = path.join(tmp(), 'entries.db')
  const c = new CacheManager({ dbPath })
  let reads = 0
  const tricky = [undefined, 'value']
  Object.defineProperty(tricky, 0, { get: () => (reads++ < 3 ? 'c' : 42) })
  await c.setMany([['a', 1], tricky])
  expect(await c.getMany(['a', 'c'])).toEqual([1, 'value'])
  const other = new CacheManager({ dbPath })
  await other.set('z', 1) // the write lock is free
  other.shutdown()
  c.shutdown()
})

const KILLED = `
  const { CacheManager } = require(${JSON.stringify(ENTRY)})
  const c = new CacheManager({ dbPath: process.argv[1] })
  ;(async () => {
    for (let i = 0; ; i++) {
      await Promise.all([c.set('k' + i, { i, pad: 'x'.repeat(i % 300) }), c.set('j' + i, i)])
      process.stdout.write(i + '\\n')
    }
  })()`

test('a child killed with SIGKILL loses no acknowledged set; integrity_check is ok', async () => {
  for (let round = 0; round < 4; round++) {
    const dbPath = path.join(tmp(), 'killed.db')
    const child = spawn(process.execPath, ['-e', KILLED, dbPath], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    const started = new Promise((r) => child.stdout.once('data', r))
    child.stdout.on('data', (d) => (out += d))
    await started // the addon is loaded and writing
    await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 500)))
    child.kill('SIGKILL')
    await new Promise((r) => child.on('exit', r))
    const acked = out
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number)
    expect(acked.length).toBeGreaterThan(0)
    const last = acked[acked.length - 1]
    const db = new Database(dbPath)
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    db.close()
    const c = new CacheManager({ dbPath })
    const keys = []
    for (let i = 0; i <= last; i++) keys.push('k' + i, 'j' + i)
    const got = await c.getMany(keys)
    const lost = keys.filter((_, n) => got[n] === null)
    expect(lost).toEqual([])
    c.shutdown()
  }
})

// Legacy: every set was its own transaction (each commit appends its own WAL frames for
// the table and its four B-trees: 200 commits would write several MB of WAL).
test('sets issued in one tick share one transaction', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const c = new CacheManager({ dbPath })
  await c.set('warm', 0)
  const walBefore = fs.statSync(`${dbPath}-wal`).size
  await Promise.all(Array.from({ length: 200 }, (_, i) => c.set(`k${i}`, i)))
  const grown = fs.statSync(`${dbPath}-wal`).size - walBefore
  expect(grown).toBeLessThan(200 * 4096)
  expect(await new CacheManager({ dbPath }).get('k199')).toBe(199)
  c.shutdown()
})

// With many sets awaiting commits (a server's concurrent requests), one commit per tick
// leaves the writer thread idle while the caller issues the tick's writes, and the caller
// idle while the writer commits them. The first half of such a tick commits on its own.
test('with many sets in flight, a tick commits in two groups; each set resolves only once its own group is durable', async () => {
  const binding = require('../binding.cjs')
  const dbPath = path.join(tmp(), 'split.db')
  const c = new CacheManager({ dbPath })
  const reader = new Database(dbPath, { readonly: true })
  const visible = reader.prepare('SELECT COUNT(*) AS n FROM cache_entries WHERE key = ?')
  // the write log: 'w' per set reaching native, 'c' per commit
  const log = []
  const realSet = binding.cacheSetText
  const realCommit = binding.cacheCommit
  binding.cacheSetText = (...args) => (log.push('w'), realSet(...args))
  binding.cacheCommit = (...args) => (log.push('c'), realCommit(...args))
  try {
    let next = 0
    let notDurable = 0
    const lane = async () => {
      while (next < 64 * 30) {
        const key = `k${next++}`
        await c.set(key, { key })
        if (visible.get(key).n !== 1) notDurable++
      }
    }
    await Promise.all(Array.from({ length: 64 }, lane))
    expect(notDurable).toBe(0)
    const groups = log
      .join('')
      .split('c')
      .filter((g) => g.length > 0)
      .map((g) => g.length)
    expect(groups.reduce((a, b) => a + b, 0)).toBe(64 * 30)
    // the first ticks learn how many writes await commits; after them, groups of half
    expect(groups.slice(4).every((n) => n <= 32)).toBe(true)
    expect(groups.length).toBeGreaterThanOrEqual(50)
    // a tick of thousands of writes still commits at most twice
    log.length = 0
    await Promise.all(Array.from({ length: 5000 }, (_, i) => c.set(`bulk${i}`, i)))
    expect(log.filter((x) => x === 'c').length).toBeLessThanOrEqual(2)
    expect(visible.get('bulk4999').n).toBe(1)
    // one set at a time never splits: each commit holds its one write
    log.length = 0
    for (let i = 0; i < 20; i++) await c.set(`seq${i}`, i)
    expect(log.join('')).toBe('wc'.repeat(20))
    expect(c.unsettledWrites).toBe(0)
  } finally {
    binding.cacheSetText = realSet
    binding.cacheCommit = realCommit
    reader.close()
    c.shutdown()
  }
})

test('durability "async" resolves before the commit and still commits', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const c = new CacheManager({ dbPath, durability: 'async' })
  for (let i = 0; i < 100; i++) await c.set(`k${i}`, i)
  // The next turn ships the writes to the writer thread, which commits them on its own
  // time: wait (bounded) until another connection sees the last one.
  const other = new CacheManager({ dbPath })
  let seen = null
  for (const deadline = Date.now() + 10_000; seen === null && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 5))
    seen = await other.get('k99')
  }
  expect(seen).toBe(99)
  c.shutdown()
  other.shutdown()
})

test('reads do not write synchronously: access counts land with the next commit', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const c = new CacheManager({ dbPath, maxMemorySize: 1000 }) // values go to disk only
  await c.set('k', 'x'.repeat(500))
  for (let i = 0; i < 5; i++) await c.get('k')
  const db = new Database(dbPath, { readonly: true })
  const before = db.prepare("SELECT hit_count FROM cache_entries WHERE key = 'k'").get().hit_count
  await c.set('other', 1)
  const after = db.prepare("SELECT hit_count FROM cache_entries WHERE key = 'k'").get().hit_count
  db.close()
  expect(before).toBe(0)
  expect(after).toBe(5)
  c.shutdown()
})

test('a database that cannot be opened fails the constructor with a coded error', () => {
  expect(() => new CacheManager({ dbPath: path.join(tmp(), 'no', 'such', 'dir', 'c.db') })).toThrow(
    expect.objectContaining({ code: 'ERR_CACHE_DISK', message: expect.stringMatching(/cannot open cache database/) }),
  )
})

// A group written on the writer thread without its commit (8 queued sets) fails; the
// tick then commits on the JS thread (a second bad write applied there by a delete). The
// writer's failure once outlived that tick and rejected the next tick's good writes.
test('a tick whose writes failed on both threads does not fail the next tick', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const c = new CacheManager({ dbPath })
  await c.set('warm', 1)
  await sqlInChild(
    dbPath,
    "CREATE TRIGGER refuse BEFORE INSERT ON cache_entries WHEN NEW.key LIKE 'bad%' BEGIN SELECT RAISE(ABORT, 'refused'); END",
  )
  const tick1 = [c.set('bad1', 1)]
  for (let i = 0; i < 7; i++) tick1.push(c.set(`g${i}`, i))
  tick1.push(c.set('bad2', 2), c.delete('nothing'))
  const first = await Promise.allSettled(tick1)
  expect(first.map((r) => r.status)).toEqual(Array(10).fill('rejected'))
  await expect(Promise.all([c.set('a', 1), c.set('b', 2)])).resolves.toEqual([undefined, undefined])
  c.shutdown()
  const again = new CacheManager({ dbPath })
  expect(await again.getMany(['a', 'b', 'g0', 'bad1'])).toEqual([1, 2, null, null])
  again.shutdown()
})

// Groups of sets are committed on a native writer thread; its outcome must reach every
// promise of the group, and it must neither keep the process alive nor let it exit early.
test('a failed commit on the writer thread rejects every set of the tick, and stores none of them; later sets succeed', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const c = new CacheManager({ dbPath }) // the memory level holds every value set
  await c.set('warm', 0)
  // The trigger is made and dropped by another process: a second copy of SQLite in this
  // process (better-sqlite3's) cannot see this cache's POSIX locks, and closing its
  // connection could take it for the last one and remove the WAL under the cache.
  await sqlInChild(dbPath, "CREATE TRIGGER refuse BEFORE INSERT ON cache_entries BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END")
  const results = await Promise.allSettled(Array.from({ length: 64 }, (_, i) => c.set(`k${i}`, 'x'.repeat(200))))
  expect(results.map((r) => r.status)).toEqual(Array(64).fill('rejected'))
  for (const r of results) {
    expect(r.reason).toBeInstanceOf(Error)
    expect(r.reason).toMatchObject({ code: 'ERR_CACHE_DISK', message: expect.stringMatching(/refused by trigger/) })
  }
  // the memory level took the values at `set`, and gives them up with the failed commit
  expect(await c.get('k0')).toBeNull()
  expect(await c.getMany(Array.from({ length: 64 }, (_, i) => `k${i}`))).toEqual(Array(64).fill(null))
  await sqlInChild(dbPath, 'DROP TRIGGER refuse')
  await Promise.all(Array.from({ length: 64 }, (_, i) => c.set(`k${i}`, i)))
  c.shutdown()
  const again = new CacheManager({ dbPath })
  expect(await again.getMany(['k0', 'k63'])).toEqual([0, 63])
  again.shutdown()
})

const IN_FLIGHT = `
  const { CacheManager } = require(${JSON.stringify(ENTRY)})
  const c = new CacheManager({ dbPath: process.argv[1] })
  // Not awaited, no shutdown: the process must stay until they are committed, then exit.
  for (let i = 0; i < 500; i++) c.set('f' + i, { i }).catch((e) => { console.error(e); process.exit(1) })
  Promise.all(Array.from({ length: 64 }, (_, i) => c.set('a' + i, i))).then(() => console.log('acked'))`

test('sets in flight on the writer thread settle, then the process exits by itself', async () => {
  const dbPath = path.join(tmp(), 'c.db')
  const out = await runChild(IN_FLIGHT, [dbPath])
  expect(out.trim()).toBe('acked')
  const c = new CacheManager({ dbPath })
  expect(await c.getMany(['f0', 'f499', 'a63'])).toEqual([{ i: 0 }, { i: 499 }, 63])
  c.shutdown()
})
