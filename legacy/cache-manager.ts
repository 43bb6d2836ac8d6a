/**
 * Reference port of the legacy `CacheManager` (src/core/cache-manager.ts of the
 * codebase the native package replaces), written only from
 * docs/legacy-contract.md ("CacheManager" and "Deviations").
 *
 * It deliberately REPRODUCES the legacy defects, because it is the baseline
 * that differential tests and benchmarks compare the native cache against:
 *  - the LRU order is an array searched with indexOf/splice on every access;
 *  - the memory level stops admitting once full (eviction on insert only for
 *    keys used more than 5 times);
 *  - the fake "compression" (a BLOB holding JSON.stringify of the serialized
 *    text), one JSON.parse on read: values from disk do not keep their type;
 *  - a memory hit returns the very object that was `set`; a `set` that is not
 *    admitted to memory leaves the old memory value in place (stale reads);
 *  - every disk hit is a synchronous UPDATE; every set is its own statement
 *    (implicit transaction); `maxDiskSize` is never enforced; `diskUsage` is 0.
 *
 * The only addition to the legacy behaviour: the 60 s cleanup interval is
 * `.unref()`'d (so it cannot keep a process alive) and `shutdown()` clears it.
 * `predictiveWarmCache` / `recordPattern` come from the roadmap paragraph,
 * not from the legacy file (recordPattern is not part of the contract).
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type BetterSqlite3 from 'better-sqlite3'

import type { CacheConfig, CacheStats } from './types'

export type { CacheConfig, CacheStats }

/** The part of the router's RoutingContext that predictive warming reads. */
export interface WarmContext {
  userTier: string
  priority: string
  capabilities?: string[]
}

interface MemoryEntry {
  value: any
  size: number
  expiry: number // epoch ms
  createdAt: number
  lastAccessed: number
  namespace: string
}

interface DiskRow {
  value: Buffer | string
  size: number
  ttl: number
  compressed: number
  namespace: string | null
}

type Policy = 'lru' | 'lfu' | 'adaptive'

// The legacy tries to load the SQLite driver and falls back to a memory-only
// cache when it is not installed.
let sqliteModule: typeof BetterSqlite3 | null | undefined
function loadSqlite(): typeof BetterSqlite3 | null {
  if (sqliteModule === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      sqliteModule = require('better-sqlite3') as typeof BetterSqlite3
    } catch {
      sqliteModule = null
    }
  }
  return sqliteModule
}

const MAX_PATTERNS = 1000
const MAX_KEYS_PER_PATTERN = 100

export class CacheManager extends EventEmitter {
  private readonly config: {
    maxMemorySize: number
    maxDiskSize: number
    defaultTTL: number
    evictionPolicy: Policy
    persistToDisk: boolean
    compression: boolean
    dbPath: string
  }

  private readonly memoryCache = new Map<string, MemoryEntry>()
  /** LRU order, oldest first: searched with indexOf/splice (legacy defect). */
  private accessOrder: string[] = []
  /** Per-key use count (hits); read by the placement rule, lfu and adaptive. */
  private readonly accessFrequency = new Map<string, number>()
  private memoryUsed = 0

  private hits = 0
  private misses = 0
  private evictionCount = 0

  private db: BetterSqlite3.Database | null = null
  private stmtInsert: BetterSqlite3.Statement | null = null
  private stmtSelect: BetterSqlite3.Statement | null = null
  private stmtTouch: BetterSqlite3.Statement | null = null
  private stmtDelete: BetterSqlite3.Statement | null = null
  private stmtClear: BetterSqlite3.Statement | null = null
  private stmtCleanup: BetterSqlite3.Statement | null = null

  private cleanupTimer: NodeJS.Timeout | null = null

  /** Roadmap: pattern → keys loaded ahead of use (bounded; not in the legacy). */
  private readonly patternKeys = new Map<string, string[]>()

  constructor(config: CacheConfig = {}) {
    super()
    const c = config || {}
    this.config = {
      // falsy → default
      maxMemorySize: c.maxMemorySize || 100 * 1024 * 1024,
      maxDiskSize: c.maxDiskSize || 1024 * 1024 * 1024,
      defaultTTL: c.defaultTTL || 3600,
      evictionPolicy: c.evictionPolicy || 'adaptive',
      dbPath: c.dbPath || ':memory:',
      // null/undefined → default (false holds)
      persistToDisk: c.persistToDisk ?? true,
      compression: c.compression ?? true,
    }

    if (this.config.persistToDisk) {
      this.initializeDatabase()
    }

    this.cleanupTimer = setInterval(() => this.cleanup(), 60_000)
    this.cleanupTimer.unref() // the only addition to the legacy behaviour
  }

  private initializeDatabase(): void {
    const Database = loadSqlite()
    if (!Database) {
      this.db = null // memory-only fallback
      return
    }
    try {
      const db = new Database(this.config.dbPath)
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
      db.pragma('cache_size = 10000')
      db.pragma('temp_store = MEMORY')
      db.pragma('mmap_size = 268435456')
      db.pragma('page_size = 4096')
      db.exec(`
        CREATE TABLE IF NOT EXISTS cache_entries (
          key TEXT PRIMARY KEY,
          value BLOB,
          size INTEGER,
          ttl INTEGER,
          created_at INTEGER,
          last_accessed INTEGER,
          hit_count INTEGER DEFAULT 0,
          namespace TEXT,
          compressed INTEGER DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS idx_cache_ttl ON cache_entries(ttl);
        CREATE INDEX IF NOT EXISTS idx_cache_last_accessed ON cache_entries(last_accessed);
        CREATE INDEX IF NOT EXISTS idx_cache_namespace ON cache_entries(namespace);
      `)
      this.stmtInsert = db.prepare(
        `INSERT OR REPLACE INTO cache_entries
           (key, value, size, ttl, created_at, last_accessed, hit_count, namespace, compressed)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
      )
      this.stmtSelect = db.prepare(`SELECT value, size, ttl, compressed, namespace FROM cache_entries WHERE key = ? AND ttl >= ?`)
      this.stmtTouch = db.prepare(`UPDATE cache_entries SET hit_count = hit_count + 1, last_accessed = ? WHERE key = ?`)
      this.stmtDelete = db.prepare(`DELETE FROM cache_entries WHERE key = ?`)
      this.stmtClear = db.prepare(`DELETE FROM cache_entries`)
      this.stmtCleanup = db.prepare(`DELETE FROM cache_entries WHERE ttl < ?`)
      this.db = db
    } catch {
      this.db = null // memory-only fallback
    }
  }

  async get(key: string): Promise<any> {
    const start = performance.now()
    try {
      const now = Date.now()
      const entry = this.memoryCache.get(key)
      if (entry && now <= entry.expiry) {
        entry.lastAccessed = now
        this.bumpUse(key)
        this.touchLRU(key)
        this.hits++
        this.emit('cache_hit', { key, source: 'memory', latency: performance.now() - start })
        return entry.value // the very object that was set (legacy defect)
      }

      if (this.db && this.stmtSelect && this.stmtTouch) {
        const row = this.stmtSelect.get(key, now) as DiskRow | undefined
        if (row) {
          // every disk read is also a synchronous write (legacy defect)
          this.stmtTouch.run(now, key)
          const value = this.decode(row)
          this.bumpUse(key)
          this.placeInMemory(key, value, row.size, row.ttl, now, row.namespace || 'default')
          this.hits++
          this.emit('cache_hit', { key, source: 'disk', latency: performance.now() - start })
          return value
        }
      }

      this.misses++
      this.emit('cache_miss', { key, latency: performance.now() - start })
      return null
    } catch {
      return null
    }
  }

  async set(key: string, value: any, ttl?: number, namespace?: string): Promise<void> {
    const start = performance.now()
    const now = Date.now()
    const serialized: string | undefined = typeof value === 'string' ? value : JSON.stringify(value) // throws on BigInt / cycles
    if (serialized === undefined) {
      throw new TypeError(`Cannot cache a value of type ${typeof value}`)
    }
    const stored = JSON.stringify(serialized)
    const size = Buffer.byteLength(stored, 'utf8') // the JSON of its JSON text
    const expiry = now + (ttl || this.config.defaultTTL) * 1000
    const ns = namespace || 'default'

    const inMemory = this.placeInMemory(key, value, size, expiry, now, ns)

    if (this.config.persistToDisk && this.db && this.stmtInsert) {
      // its own statement, hence its own (implicit) transaction
      if (this.config.compression) {
        this.stmtInsert.run(key, Buffer.from(stored, 'utf8'), size, expiry, now, now, ns, 1)
      } else {
        this.stmtInsert.run(key, serialized, size, expiry, now, now, ns, 0)
      }
    }

    this.emit('cache_set', {
      key,
      size,
      latency: performance.now() - start,
      location: inMemory ? 'memory' : 'disk',
    })
  }

  async delete(key: string): Promise<boolean> {
    let deleted = false
    const entry = this.memoryCache.get(key)
    if (entry) {
      this.removeFromMemory(key, entry)
      deleted = true
    }
    if (this.db && this.stmtDelete) {
      const info = this.stmtDelete.run(key)
      if (info.changes > 0) deleted = true
    }
    if (deleted) this.emit('cache_delete', { key })
    return deleted
  }

  async clear(): Promise<void> {
    this.memoryCache.clear()
    this.accessOrder = []
    this.accessFrequency.clear()
    this.memoryUsed = 0
    if (this.db && this.stmtClear) this.stmtClear.run()
    this.emit('cache_clear') // statistics are not reset
  }

  getStats(): CacheStats {
    const total = this.hits + this.misses
    return {
      totalKeys: this.memoryCache.size, // expired-but-not-cleaned included
      totalSize: this.memoryUsed,
      hitRate: total > 0 ? this.hits / total : 0,
      missRate: total > 0 ? this.misses / total : 0,
      evictionCount: this.evictionCount,
      memoryUsage: this.memoryUsed,
      diskUsage: 0, // legacy: never measured
    }
  }

  shutdown(): void {
    if (this.cleanupTimer) {
      clearInterval(this.cleanupTimer)
      this.cleanupTimer = null
    }
    if (this.db) {
      try {
        this.db.close()
      } catch {
        /* already closed */
      }
      this.db = null
    }
  }

  // ---------------------------------------------------------------- roadmap

  /** Not in the contract: remember that `key` was used under `context`'s pattern. */
  recordPattern(context: WarmContext, key: string): void {
    const pattern = CacheManager.patternOf(context)
    let keys = this.patternKeys.get(pattern)
    if (!keys) {
      if (this.patternKeys.size >= MAX_PATTERNS) {
        const oldest = this.patternKeys.keys().next().value
        if (oldest !== undefined) this.patternKeys.delete(oldest)
      }
      keys = []
      this.patternKeys.set(pattern, keys)
    }
    const i = keys.indexOf(key)
    if (i !== -1) keys.splice(i, 1)
    keys.push(key)
    if (keys.length > MAX_KEYS_PER_PATTERN) keys.shift()
  }

  /**
   * Roadmap: load the keys recorded for `${userTier}:${priority}:${capabilities}`
   * from disk into memory ahead of use (placement rule applies; no hit/miss
   * statistics, no hit_count bump, no cache_hit/cache_miss events).
   */
  async predictiveWarmCache(context: WarmContext): Promise<void> {
    const keys = this.patternKeys.get(CacheManager.patternOf(context))
    if (!keys || !this.db || !this.stmtSelect) return
    const now = Date.now()
    for (const key of keys.slice()) {
      const entry = this.memoryCache.get(key)
      if (entry && now <= entry.expiry) continue
      try {
        const row = this.stmtSelect.get(key, now) as DiskRow | undefined
        if (!row) continue
        this.placeInMemory(key, this.decode(row), row.size, row.ttl, now, row.namespace || 'default')
      } catch {
        /* warming is best effort */
      }
    }
  }

  private static patternOf(context: WarmContext): string {
    return `${context.userTier}:${context.priority}:${(context.capabilities || []).join(',')}`
  }

  // ---------------------------------------------------------------- internals

  /** Reading rule: decode the bytes when compressed, then one JSON.parse, raw string on failure. */
  private decode(row: DiskRow): any {
    const text = row.compressed && typeof row.value !== 'string' ? Buffer.from(row.value).toString('utf8') : String(row.value)
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }

  /**
   * Placement rule: size ≤ 10% of maxMemorySize and (use count > 5 or room
   * left). Only the frequently used path evicts. Returns whether it was placed;
   * when it is not, an older memory value for the key stays (legacy defect).
   */
  private placeInMemory(key: string, value: any, size: number, expiry: number, now: number, namespace: string): boolean {
    const max = this.config.maxMemorySize
    if (size > max * 0.1) return false
    const frequent = (this.accessFrequency.get(key) || 0) > 5
    if (!frequent && max - this.memoryUsed < size) return false

    while (max - this.memoryUsed < size && this.memoryCache.size > 0) {
      if (!this.evictOne()) break
    }

    const old = this.memoryCache.get(key)
    if (old) this.removeFromMemory(key, old)
    this.memoryCache.set(key, { value, size, expiry, createdAt: now, lastAccessed: now, namespace })
    this.memoryUsed += size
    this.accessOrder.push(key)
    return true
  }

  private evictOne(): boolean {
    const policy = this.config.evictionPolicy
    let victim: string | undefined
    if (policy === 'lru') {
      victim = this.accessOrder[0]
    } else if (policy === 'lfu') {
      let lowest = Infinity
      for (const k of this.memoryCache.keys()) {
        const f = this.accessFrequency.get(k) || 0
        if (f < lowest) {
          lowest = f
          victim = k
        }
      }
    } else {
      const now = Date.now()
      let best = Infinity
      for (const k of this.accessOrder.slice(0, 10)) {
        const e = this.memoryCache.get(k)
        if (!e) continue
        const score = 0.3 * (this.accessFrequency.get(k) || 0) + 0.7 / (now - e.lastAccessed + 1)
        if (score < best) {
          best = score
          victim = k
        }
      }
    }
    if (victim === undefined) return false
    const entry = this.memoryCache.get(victim)
    if (!entry) return false
    this.removeFromMemory(victim, entry)
    this.evictionCount++
    this.emit('cache_evict', { key: victim, reason: policy })
    return true
  }

  private removeFromMemory(key: string, entry: MemoryEntry): void {
    this.memoryCache.delete(key)
    this.memoryUsed -= entry.size
    const i = this.accessOrder.indexOf(key)
    if (i !== -1) this.accessOrder.splice(i, 1)
  }

  /** O(n) move-to-back of the LRU array (legacy defect). */
  private touchLRU(key: string): void {
    const i = this.accessOrder.indexOf(key)
    if (i !== -1) this.accessOrder.splice(i, 1)
    this.accessOrder.push(key)
  }

  private bumpUse(key: string): void {
    this.accessFrequency.set(key, (this.accessFrequency.get(key) || 0) + 1)
  }

  /** Every 60 s: expired entries leave both levels; `cache_cleanup` when any did. */
  private cleanup(): void {
    try {
      const now = Date.now()
      let cleanedCount = 0
      for (const [key, entry] of this.memoryCache) {
        if (now > entry.expiry) {
          this.removeFromMemory(key, entry)
          cleanedCount++
        }
      }
      if (this.db && this.stmtCleanup) {
        cleanedCount += this.stmtCleanup.run(now).changes
      }
      if (cleanedCount > 0) this.emit('cache_cleanup', { cleanedCount })
    } catch {
      /* a failing cleanup must not crash the timer */
    }
  }
}
