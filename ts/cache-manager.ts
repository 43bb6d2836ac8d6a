/**
 * `CacheManager`: drop-in for the legacy two-level response cache, over the native core
 * (`src/cache.rs`, `crates/cache-core`). This layer owns the options, the checks and the
 * events, and composes the parts that live apart: the value codec (`cache-codec.ts`), the
 * group commit (`cache-group-commit.ts`), the read snapshot of a callback
 * (`cache-read-snapshot.ts`), the warming patterns (`cache-warm-patterns.ts`), the front of
 * decoded hits (`cache-front.ts`) and the Redis level (`fleet-cache.ts`).
 */
import { EventEmitter } from 'node:events'
import { native } from './native'
import { wellFormed } from './strings'
import { weakInterval } from './weak-interval'
import { codedError, rangeError, typeError } from './errors'
import { MemoryFront, NOT_HELD } from './cache-front'
import { decode, encode, KIND_JSON, KIND_STRING, kindOf, sourceOf } from './cache-codec'
import { keyError, nativeError } from './cache-errors'
import { GroupCommit } from './cache-group-commit'
import { ReadSnapshot } from './cache-read-snapshot'
import { WarmPatterns, warmPattern } from './cache-warm-patterns'
import { FleetCacheLevel, type FleetStats, fleetOptions, type RedisOptions } from './fleet-cache'

export type { FleetStats, RedisOptions } from './fleet-cache'

/**
 * How the memory level picks what to evict: `"lru"` (least recently used), `"lfu"` (least
 * frequently used, exact) or `"adaptive"` (W-TinyLFU: a small LRU window, then admission by
 * a frequency sketch, so scans and one-off keys do not push out popular entries).
 */
export type CacheEvictionPolicy = 'lru' | 'lfu' | 'adaptive'

/**
 * Options of `new CacheManager(config)`, all optional. The legacy's own options take their
 * default for any falsy value; the others only for `undefined`/`null`, and a bad value is a
 * `TypeError`/`RangeError` naming the option. See docs/cache.md for what each costs.
 */
export interface CacheConfig {
  /** Bytes the memory level may hold (keys, values and per-entry bookkeeping). Default 100 MiB. */
  maxMemorySize?: number
  /** Bytes the database may use; least recently accessed rows go first. Default 1 GiB. */
  maxDiskSize?: number
  /** Seconds an entry lives when `set` gets no TTL. Default 3600. */
  defaultTTL?: number
  /** Memory-level eviction. Default "adaptive" (W-TinyLFU). */
  evictionPolicy?: CacheEvictionPolicy
  /** Keep a disk level (SQLite). Default true. */
  persistToDisk?: boolean
  /** lz4-compress stored values of 256 bytes or more. Default true. */
  compression?: boolean
  /** SQLite file; ":memory:" (the default) keeps the "disk" level in memory. */
  dbPath?: string
  /** Reader connections of the disk level. Default 5. */
  poolSize?: number
  /**
   * "sync" (default): a `set` resolves once its transaction is committed. "async": it
   * resolves at once and is committed on the next event-loop turn (a crash may lose the
   * writes of that turn).
   */
  durability?: 'sync' | 'async'
  /** Longest key, in UTF-8 bytes. Default 4096. */
  maxKeyLength?: number
  /** Largest serialized value, in bytes. Default 64 MiB. */
  maxValueSize?: number
  /** Milliseconds between sweeps of expired entries. Default 60000; 0: no periodic sweep. */
  cleanupInterval?: number
  /** Keys remembered per context pattern for `predictiveWarmCache`. Default 64. */
  maxWarmKeys?: number
  /** Context patterns remembered. Default 256. */
  maxWarmPatterns?: number
  /**
   * Write each commit's WAL frames in one system call (a VFS shim over SQLite's unix VFS),
   * for file databases on Linux; accepted and ignored elsewhere. Default false, or true when
   * the environment has `MODEL_ROUTER_NATIVE_WAL_COALESCE=1`; the option, when given, wins
   * over the environment. The shim relies on SQLite internals: see `docs/cache.md`.
   */
  walCoalescing?: boolean
  /** A Redis shared by every process: the level after memory and disk (see docs/fleet.md). */
  redis?: RedisOptions
}

/** What `getStats()` returns: the legacy's fields, measured. */
export interface CacheStats {
  /** Entries in the memory level (expired ones the sweep has not freed yet included). */
  totalKeys: number
  /** Bytes the memory level is charged for (the same as `memoryUsage`, as in the legacy). */
  totalSize: number
  /** hits / (hits + misses) over every `get` (0 before the first). */
  hitRate: number
  /** misses / (hits + misses) over every `get` (0 before the first). */
  missRate: number
  /** Entries evicted from the memory level by the policy or the byte budget. */
  evictionCount: number
  /** Bytes the memory level is charged for: keys, values, headers and a fixed per-entry charge. */
  memoryUsage: number
  /** Bytes the database uses: (page count − free pages) × page size; 0 without a disk level. */
  diskUsage: number
}

/** The part of a routing context that names a warming pattern. */
/** The request pattern `predictiveWarmCache(context)` learns from and warms for. */
export interface CacheWarmContext {
  /** The user's tier, e.g. `"pro"`: part of the pattern. */
  userTier: string
  /** The request's priority, e.g. `"high"`: part of the pattern. */
  priority: string
  /** The request's capabilities, when it has any: part of the pattern (order does not matter). */
  capabilities?: string[]
}

/** One entry of `setMany`: `[key, value, ttl?, namespace?]`. */
export type CacheEntry = [key: string, value: unknown, ttl?: number, namespace?: string]

type Handle = ReturnType<typeof native.cacheCreate>

const MiB = 1024 * 1024
const RESOLVED: Promise<void> = Promise.resolve()
const RESOLVED_NULL: Promise<null> = Promise.resolve(null)
const MISS = Symbol('miss')

/** The longest period Node's timers take (a longer one fires every millisecond). */
const MAX_TIMER_MS = 2 ** 31 - 1

/** What `write` reports for the `cache_set` event. */
interface SetEvent {
  key: string
  size: number
  latency: number
  location: 'memory' | 'disk'
}

/** `walCoalescing`: the option when given, else the environment switch. */
function walCoalescing(config: CacheConfig): boolean {
  const v = config.walCoalescing
  if (v === undefined || v === null) return process.env.MODEL_ROUTER_NATIVE_WAL_COALESCE === '1'
  if (typeof v !== 'boolean') throw typeError('walCoalescing', 'a boolean', v)
  return v
}

/** A legacy option (`maxMemorySize`, `maxDiskSize`, `defaultTTL`): a falsy value takes the default, as in the legacy. */
function positive(config: CacheConfig, field: keyof CacheConfig, fallback: number): number {
  const v = config[field]
  if (!v) return fallback // legacy: a falsy value takes the default
  if (typeof v !== 'number') throw typeError(field, 'a number', v)
  if (!(v > 0) || !Number.isFinite(v)) throw rangeError(field, 'a finite number > 0', v)
  return v
}

/**
 * An option the legacy did not have: `undefined` or `null` take the default; any other value
 * must be a whole number ≥ 1 (`0` too when `zero` says what it means).
 */
function count(config: CacheConfig, field: keyof CacheConfig, fallback: number, zero = false): number {
  const v = config[field]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'number') throw typeError(field, 'a number', v)
  if (!Number.isInteger(v) || v < (zero ? 0 : 1)) throw rangeError(field, zero ? 'a whole number ≥ 0' : 'a whole number ≥ 1', v)
  return v
}

/**
 * The response cache: a drop-in for the legacy `CacheManager` (same constructor, methods,
 * promises and events), with a memory level outside the V8 heap, an SQLite level with group
 * commit and lz4, and optionally a Redis level shared by a fleet (`redis`). Events:
 * `cache_hit {key, source, latency}`, `cache_miss {key, latency}`, `cache_set {key, size,
 * latency, location}`, `cache_delete {key}`, `cache_clear {namespace?}`, `cache_evict {key, reason}`,
 * `cache_cleanup {cleanedCount}`, `error` (a failed `durability: "async"` commit), and with
 * `redis`: `fleet_degraded {reason}`, `fleet_restored {downMs}`, `fleet_invalidate {key |
 * namespace, lagMs}`. Bad
 * arguments reject with a `TypeError`/`RangeError` naming them; `ERR_SHUT_DOWN` after
 * `shutdown()`, `ERR_CACHE_DISK` when SQLite cannot open, read or write the file.
 */
export class CacheManager extends EventEmitter {
  #handle: Handle | null
  readonly #policy: CacheEvictionPolicy
  readonly #persist: boolean
  readonly #maxKeyLength: number
  readonly #maxValueSize: number
  readonly #cleanupTimer: NodeJS.Timeout | null
  /** Decoded memory hits served without a native call (see `cache-front.ts`). */
  readonly #front: MemoryFront
  /** The shared level on Redis (`redis` option), or null. */
  readonly #fleet: FleetCacheLevel | null = null
  readonly #defaultTtlMs: number
  /** The tick's writes and their commit (see `cache-group-commit.ts`). */
  readonly #commits: GroupCommit
  /** The disk read snapshot a callback's reads share (see `cache-read-snapshot.ts`). */
  readonly #snapshot: ReadSnapshot
  /** What `predictiveWarmCache` learned: keys read under each context pattern. */
  readonly #warm: WarmPatterns
  readonly #inflight = new Map<string, Promise<unknown>>()
  /** Keys of `inflight` written, deleted or cleared since their loader started. */
  readonly #superseded = new Set<string>()

  constructor(config: CacheConfig = {}) {
    super()
    if (config === null || typeof config !== 'object') throw typeError('config', 'an object', config)
    const policy = config.evictionPolicy || 'adaptive'
    if (policy !== 'lru' && policy !== 'lfu' && policy !== 'adaptive') {
      throw typeError('evictionPolicy', '"lru", "lfu" or "adaptive"', policy)
    }
    const dbPath = config.dbPath || ':memory:'
    if (typeof dbPath !== 'string') throw typeError('dbPath', 'a string', dbPath)
    const durability = config.durability ?? 'sync'
    if (durability !== 'sync' && durability !== 'async') {
      throw typeError('durability', '"sync" or "async"', durability)
    }
    const poolSize = count(config, 'poolSize', 5)
    if (poolSize > 64) throw rangeError('poolSize', 'an integer from 1 to 64', poolSize)
    this.#policy = policy
    const persist = config.persistToDisk ?? true
    if (typeof persist !== 'boolean') throw typeError('persistToDisk', 'a boolean', persist)
    const compression = config.compression ?? true
    if (typeof compression !== 'boolean') throw typeError('compression', 'a boolean', compression)
    this.#persist = persist
    this.#maxKeyLength = count(config, 'maxKeyLength', 4096)
    this.#maxValueSize = count(config, 'maxValueSize', 64 * MiB)
    this.#warm = new WarmPatterns(count(config, 'maxWarmKeys', 64), count(config, 'maxWarmPatterns', 256))
    const defaultTTL = positive(config, 'defaultTTL', 3600)
    this.#defaultTtlMs = defaultTTL * 1000
    const redis = fleetOptions(config.redis)
    // 0: no periodic sweep (expired entries are never returned; the sweep only frees space)
    const cleanupInterval = count(config, 'cleanupInterval', 60_000, true)
    // Node runs a longer period every millisecond (TimeoutOverflowWarning)
    if (cleanupInterval > MAX_TIMER_MS) throw rangeError('cleanupInterval', `at most ${MAX_TIMER_MS} ms`, cleanupInterval)
    const coalesce = walCoalescing(config)
    this.#front = new MemoryFront((log, n) => {
      if (this.#handle !== null) native.cacheReplayHits(this.#handle, log, n)
    })
    this.#commits = new GroupCommit(
      {
        handle: () => this.#handle,
        // the core forgets what a failed commit held, at its next read
        forget: () => this.#front.clear(),
        error: (err) => {
          // durability "async": tell an `error` listener if any
          if (this.listenerCount('error') > 0) this.emit('error', err)
        },
      },
      persist,
      durability === 'async',
    )
    this.#snapshot = new ReadSnapshot(() => this.#handle, persist)
    try {
      this.#handle = native.cacheCreate(
        {
          maxMemorySize: positive(config, 'maxMemorySize', 100 * MiB),
          maxDiskSize: positive(config, 'maxDiskSize', 1024 * MiB),
          defaultTtlMs: defaultTTL * 1000,
          evictionPolicy: policy,
          persistToDisk: this.#persist,
          compression,
          dbPath,
          poolSize,
          maxKeyBytes: Math.min(this.#maxKeyLength, 0xffff_ffff),
          maxValueBytes: this.#maxValueSize,
          walCoalescing: coalesce,
        },
        CacheManager.#onSettled(new WeakRef(this)),
        this.#front.shared,
      )
    } catch (err) {
      throw nativeError(err)
    }
    this.#cleanupTimer = cleanupInterval === 0 ? null : weakInterval(this, cleanupInterval, CacheManager.#cleanupTick)
    if (redis !== null) {
      const host = {
        live: () => this.#live(),
        commit: () => this.#commits.join(),
        emit: (e: string, p?: unknown) => this.listenerCount(e) > 0 && this.emit(e, p),
        decode,
      }
      this.#fleet = new FleetCacheLevel(redis, host, compression, this.#maxValueSize)
    }
    // The evicted-key log costs only while someone listens to `cache_evict`.
    this.on('newListener', (event) => {
      if (event === 'cache_evict' && this.#handle !== null) native.cacheRecordEvictions(this.#handle, true)
    })
    this.on('removeListener', (event) => {
      if (event === 'cache_evict' && this.#handle !== null && this.listenerCount('cache_evict') === 0) {
        native.cacheRecordEvictions(this.#handle, false)
      }
    })
  }

  // Built outside the constructor: closures made there share its context, which holds `this`.
  // The writer thread's callback must not keep a dropped cache alive.
  static #onSettled(ref: WeakRef<CacheManager>): (a: unknown, b?: unknown) => void {
    return (a, b) => {
      // napi passes the pair as one array argument.
      const [last, error] = Array.isArray(a) ? a : [a, b]
      const cache = ref.deref()
      if (cache !== undefined) cache.#commits.settled(last as number, (error as string | null | undefined) ?? null)
    }
  }

  /** The cleanup timer's tick (static: see `weakInterval`). */
  static #cleanupTick(cache: CacheManager): void {
    cache.cleanup()
  }

  /** The handle, once the front's logged hits reached the core (so it sees every use first). */
  #live(): Handle {
    if (this.#handle === null) throw codedError('ERR_SHUT_DOWN', 'the cache was shut down')
    this.#front.flush()
    return this.#handle
  }

  /** Writes whose commit promise has not settled: the group commit's count, for the tests of its split. */
  // `private`, not `#`: the tests read it from outside (`#` would hide it from them too)
  // @ts-expect-error TS6133: only the tests read it
  private get unsettledWrites(): number {
    return this.#commits.unsettledWrites
  }

  /**
   * Whether the front may serve hits now. Not while a write awaits its commit (a failed
   * commit makes the core forget values it took at `set`, on its next read), nor while
   * someone listens for evictions (a native `get` reports them).
   */
  #frontOpen(): boolean {
    return this.#commits.idle() && this.listenerCount('cache_evict') === 0
  }

  /** `decode` for a hit of `cacheGet`; a text hit from memory goes through the front. */
  #decodeHit(key: string, r: string | Buffer, front: boolean): unknown {
    if (front && typeof r === 'string') {
      const tag = r.charCodeAt(0)
      // memory (even tag), JSON or string kind
      if (tag === KIND_JSON * 2 || tag === KIND_STRING * 2) return this.#front.take(key, r.slice(1), tag === KIND_JSON * 2)
    }
    return decode(r)
  }

  /** The value under `key`, a fresh copy the caller may mutate; `null` on a miss. */
  get(key: string): Promise<any> {
    if (typeof key !== 'string' || !wellFormed(key)) return Promise.reject(keyError('key', key))
    if (this.#handle === null) return Promise.reject(codedError('ERR_SHUT_DOWN', 'the cache was shut down'))
    if (this.#warm.learning()) this.#warm.remember(key)
    const listening = this.listenerCount('cache_hit') + this.listenerCount('cache_miss') > 0
    const t0 = listening ? performance.now() : 0
    try {
      const front = this.#frontOpen()
      if (front) {
        const held = this.#front.serve(key)
        if (held !== NOT_HELD) {
          if (listening) this.emit('cache_hit', { key, source: 'memory', latency: performance.now() - t0 })
          return Promise.resolve(held)
        }
      }
      this.#front.flush()
      const r = this.#snapshot.get(this.#handle, key)
      if (r === null) {
        if (listening) this.emit('cache_miss', { key, latency: performance.now() - t0 })
        return this.#fleet === null ? RESOLVED_NULL : this.#fleet.get(key)
      }
      const value = this.#decodeHit(key, r, front)
      if (this.listenerCount('cache_evict') > 0) this.#emitEvictions()
      if (listening) this.emit('cache_hit', { key, source: sourceOf(r), latency: performance.now() - t0 })
      return Promise.resolve(value)
    } catch {
      // Legacy: an internal error (a throwing listener included) resolves null.
      return RESOLVED_NULL
    }
  }

  /**
   * Stores `value` for `ttl` seconds (0 or none: the default TTL). Resolves once the
   * write is committed (with `durability: "sync"`). Rejects with a `TypeError` or
   * `RangeError` naming the reason when the value cannot be stored; nothing is stored then.
   */
  set(key: string, value: unknown, ttl?: number, namespace?: string): Promise<void> {
    let event: SetEvent | null
    let shared: Promise<unknown> = RESOLVED
    try {
      this.#checkWrite(key, ttl, namespace)
      const enc = this.#fleet === null ? undefined : encode(value)
      event = this.#write(key, value, ttl, namespace, enc)
      if (enc !== undefined)
        shared = this.#fleet!.set(key, enc, kindOf(value, enc), ttl ? Math.max(1, ttl * 1000) : this.#defaultTtlMs, namespace ?? undefined)
    } catch (err) {
      return Promise.reject(err)
    }
    const done = this.#fleet === null ? this.#commits.join() : Promise.all([this.#commits.join(), shared]).then(() => {})
    return this.#emitAfter(done, () => {
      if (event !== null) this.emit('cache_set', event)
    })
  }

  /** Throws a `TypeError`/`RangeError` naming what of a write's arguments is wrong. */
  #checkWrite(key: unknown, ttl: unknown, namespace: unknown): void {
    if (typeof key !== 'string' || !wellFormed(key)) throw keyError('key', key)
    if (ttl !== undefined && ttl !== null && ttl !== 0) {
      if (typeof ttl !== 'number') throw typeError('ttl', 'a number of seconds', ttl)
      if (!(ttl > 0) || !Number.isFinite(ttl)) throw rangeError('ttl', 'a finite number of seconds >= 0', ttl)
    }
    if (namespace !== undefined && namespace !== null && (typeof namespace !== 'string' || !wellFormed(namespace))) {
      throw keyError('namespace', namespace)
    }
  }

  /**
   * Stores one entry whose arguments `checkWrite` passed; throws (nothing stored) on a value
   * that cannot be stored or a native refusal. Returns the
   * `cache_set` event to emit, or null when nobody listens: the caller emits it once the
   * commit is scheduled, so a throwing listener cannot leave the write uncommitted.
   * `encoded`: `encode(value)` when the caller already has it (`setMany` checks first).
   */
  #write(
    key: string,
    value: unknown,
    ttl: number | undefined,
    namespace: string | undefined,
    encoded?: string | Uint8Array,
  ): SetEvent | null {
    const h = this.#live()
    const listening = this.listenerCount('cache_set') > 0
    const t0 = listening ? performance.now() : 0
    const enc = encoded ?? encode(value)
    const kind = kindOf(value, enc)
    // a TTL under a millisecond is a millisecond (0 would mean the default TTL)
    const ttlMs = ttl ? Math.max(1, ttl * 1000) : 0
    let onDisk: number
    try {
      onDisk =
        typeof enc === 'string'
          ? native.cacheSetText(h, key, namespace, kind, enc, ttlMs)
          : native.cacheSetBytes(h, key, namespace, kind, enc, ttlMs)
    } catch (err) {
      throw nativeError(err)
    }
    this.#supersede(key)
    if (!listening) return null
    const size = typeof enc === 'string' ? Buffer.byteLength(enc) : enc.byteLength
    return { key, size, latency: performance.now() - t0, location: onDisk ? 'disk' : 'memory' }
  }

  /**
   * Emits events of an operation already done, after its commit promise `done` exists: a
   * throwing listener then rejects the returned promise (as it would the legacy's async
   * method) once the commit settles, instead of leaving the write uncommitted.
   */
  #emitAfter<T>(done: Promise<T>, emit: () => void): Promise<T> {
    try {
      if (this.listenerCount('cache_evict') > 0) this.#emitEvictions()
      emit()
    } catch (err) {
      return done.then(() => Promise.reject(err))
    }
    return done
  }

  /** Removes `key` from both levels; true when either held it. */
  delete(key: string): Promise<boolean> {
    if (typeof key !== 'string' || !wellFormed(key)) return Promise.reject(keyError('key', key))
    let existed: boolean
    try {
      existed = native.cacheDelete(this.#live(), key)
    } catch (err) {
      return Promise.reject(nativeError(err))
    }
    this.#supersede(key)
    const local = this.#commits.join()
    return this.#emitAfter(
      (this.#fleet === null ? local : Promise.all([local, this.#fleet.delete(key)])).then(() => existed),
      () => existed && this.emit('cache_delete', { key }),
    )
  }

  /** Removes every entry, or only those set with `namespace`. Statistics are kept. */
  clear(namespace?: string): Promise<void> {
    if (namespace !== undefined && (typeof namespace !== 'string' || !wellFormed(namespace))) {
      return Promise.reject(keyError('namespace', namespace))
    }
    try {
      native.cacheClear(this.#live(), namespace)
    } catch (err) {
      return Promise.reject(nativeError(err))
    }
    for (const k of this.#inflight.keys()) this.#superseded.add(k)
    const done =
      this.#fleet === null ? this.#commits.join() : Promise.all([this.#commits.join(), this.#fleet.clear(namespace)]).then(() => {})
    return this.#emitAfter(done, () => (namespace === undefined ? this.emit('cache_clear') : this.emit('cache_clear', { namespace })))
  }

  /** Values of `keys` in order (`null` for misses); disk lookups use the reader pool. */
  getMany(keys: string[]): Promise<any[]> {
    let list: string[]
    try {
      if (!Array.isArray(keys)) throw typeError('keys', 'an array of strings', keys)
      // a copy: what is checked is what native reads (an array's getters could differ)
      list = Array.from(keys)
    } catch (err) {
      return Promise.reject(err)
    }
    for (const k of list) if (typeof k !== 'string' || !wellFormed(k)) return Promise.reject(keyError('keys[]', k))
    try {
      const rs = native.cacheGetMany(this.#live(), list)
      if (this.#warm.learning()) for (const k of list) this.#warm.remember(k)
      if (this.listenerCount('cache_evict') > 0) this.#emitEvictions()
      const values = rs.map((r) => (r === null || r === undefined ? null : decode(r)))
      if (this.#fleet === null) return Promise.resolve(values)
      return this.#fleet.getMany(
        list,
        rs.map((r) => r === null || r === undefined),
        values,
      )
    } catch (err) {
      return Promise.reject(nativeError(err))
    }
  }

  /** Stores many entries in one transaction; every value is checked before any is stored. */
  setMany(entries: CacheEntry[] | Map<string, unknown>): Promise<void> {
    let list: CacheEntry[]
    try {
      // a copy, entries included (an iteration or a getter may throw, or change between the
      // checks and the writes)
      list = entries instanceof Map ? [...entries] : Array.isArray(entries) ? Array.from(entries) : (entries as never)
      if (Array.isArray(list)) list = list.map((e) => (Array.isArray(e) ? ([e[0], e[1], e[2], e[3]] as CacheEntry) : e))
    } catch (err) {
      return Promise.reject(err)
    }
    if (!Array.isArray(list)) return Promise.reject(typeError('entries', 'an array or a Map', entries))
    const events: SetEvent[] = []
    const shared: Promise<unknown>[] = []
    try {
      const h = this.#live()
      // every entry is checked, by the same rules as `set` (the native size limits
      // included), before anything is stored
      const encoded: (string | Uint8Array)[] = []
      for (const e of list) {
        if (!Array.isArray(e)) throw typeError('entries[]', 'a [key, value, ttl?, namespace?] array', e)
        this.#checkWrite(e[0], e[2], e[3])
        if (Buffer.byteLength(e[0]) > this.#maxKeyLength) {
          throw rangeError('key', `at most ${this.#maxKeyLength} bytes (UTF-8)`, e[0])
        }
        const enc = encode(e[1])
        const size = typeof enc === 'string' ? Buffer.byteLength(enc) : enc.byteLength
        if (size > this.#maxValueSize) throw rangeError('value', `at most ${this.#maxValueSize} bytes serialized`, e[1])
        // with a disk level the native limits are the two just checked; memory only, the
        // entry must also fit the memory budget, which only the native side counts
        if (!this.#persist) {
          try {
            native.cacheCheck(h, e[0], e[3] ?? undefined, size)
          } catch (err) {
            throw nativeError(err)
          }
        }
        encoded.push(enc)
      }
      let written = 0
      try {
        list.forEach((e, i) => {
          const event = this.#write(e[0], e[1], e[2], e[3], encoded[i])
          written++
          if (event !== null) events.push(event)
          if (this.#fleet !== null) {
            const ttlMs = e[2] ? Math.max(1, e[2] * 1000) : this.#defaultTtlMs
            shared.push(this.#fleet.set(e[0], encoded[i], kindOf(e[1], encoded[i]), ttlMs, e[3] ?? undefined))
          }
        })
      } catch (err) {
        // a native failure after some writes: commit what was written (releasing the write
        // lock), then reject
        if (written === 0) throw err
        return this.#commits.join().then(
          () => Promise.reject(err),
          () => Promise.reject(err),
        )
      }
    } catch (err) {
      return Promise.reject(err)
    }
    const done = shared.length === 0 ? this.#commits.join() : Promise.all([this.#commits.join(), ...shared]).then(() => {})
    return this.#emitAfter(done, () => {
      for (const event of events) this.emit('cache_set', event)
    })
  }

  /**
   * Single-flight read-through: on a miss, calls `loader` once for all concurrent callers
   * of the same key, stores its result and resolves every caller with it. A loader error
   * reaches every caller and nothing is cached.
   */
  getOrSet<T>(key: string, loader: () => T | Promise<T>, ttl?: number, namespace?: string): Promise<T> {
    if (typeof key !== 'string' || !wellFormed(key)) return Promise.reject(keyError('key', key))
    if (typeof loader !== 'function') return Promise.reject(typeError('loader', 'a function', loader))
    const pending = this.#inflight.get(key)
    if (pending !== undefined) return pending as Promise<T>
    const p = (async () => {
      const found = this.#read(key)
      if (found !== MISS) return found as T
      if (this.#fleet !== null) {
        return this.#fleet.getOrSet(key, loader, (v) => (this.#superseded.has(key) ? RESOLVED : this.set(key, v, ttl, namespace)))
      }
      const value = await loader()
      // a write of the key while the loader ran is newer than what the loader read
      if (!this.#superseded.has(key)) await this.set(key, value, ttl, namespace)
      return value
    })()
    this.#inflight.set(key, p)
    const done = () => {
      this.#inflight.delete(key)
      this.#superseded.delete(key)
    }
    p.then(done, done)
    return p
  }

  /** A `getOrSet` loading `key` must not store its (older) result. */
  #supersede(key: string): void {
    if (this.#inflight.size !== 0 && this.#inflight.has(key)) this.#superseded.add(key)
  }

  /** Like `get`, but tells a stored `null` from a miss. */
  #read(key: string): unknown {
    if (this.#warm.learning()) this.#warm.remember(key)
    const front = this.#handle !== null && this.#frontOpen()
    if (front) {
      const held = this.#front.serve(key)
      if (held !== NOT_HELD) {
        if (this.listenerCount('cache_hit') > 0) this.emit('cache_hit', { key, source: 'memory', latency: 0 })
        return held
      }
    }
    const r = this.#snapshot.get(this.#live(), key)
    if (r === null) {
      if (this.listenerCount('cache_miss') > 0) this.emit('cache_miss', { key, latency: 0 })
      return MISS
    }
    if (this.listenerCount('cache_hit') > 0) this.emit('cache_hit', { key, source: sourceOf(r), latency: 0 })
    return this.#decodeHit(key, r, front)
  }

  /**
   * A collision-free key from structured parts (strings, finite numbers, booleans, null):
   * their JSON array text, so `keyFor("a|b")` and `keyFor("a", "b")` differ.
   */
  keyFor(...parts: Array<string | number | boolean | null>): string {
    for (const p of parts) {
      const t = typeof p
      if (p !== null && t !== 'string' && t !== 'boolean' && !(t === 'number' && Number.isFinite(p))) {
        throw typeError('keyFor part', 'a string, finite number, boolean or null', p)
      }
    }
    return JSON.stringify(parts)
  }

  /**
   * Learns and warms: from now on, keys read are remembered under this context's pattern
   * (`${userTier}:${priority}:${capabilities}`, at most `maxWarmKeys` per pattern, the
   * most recent kept); the keys remembered from earlier times the pattern was active are
   * loaded from disk into memory.
   */
  predictiveWarmCache(context: CacheWarmContext): Promise<void> {
    if (context === null || typeof context !== 'object') {
      return Promise.reject(typeError('context', 'an object', context))
    }
    if (this.#handle === null) return Promise.reject(codedError('ERR_SHUT_DOWN', 'the cache was shut down'))
    let pattern: string
    try {
      pattern = warmPattern(context)
    } catch (err) {
      return Promise.reject(err)
    }
    const keys = this.#warm.activate(pattern)
    if (keys.length === 0) return RESOLVED
    try {
      native.cacheWarm(this.#live(), keys)
      if (this.listenerCount('cache_evict') > 0) this.#emitEvictions()
    } catch (err) {
      return Promise.reject(nativeError(err))
    }
    return RESOLVED
  }

  /** The cache's statistics now (synchronous, as in the legacy). Throws `ERR_SHUT_DOWN` after `shutdown()`. */
  getStats(): CacheStats {
    const s = native.cacheStats(this.#live())
    const total = s.hits + s.misses
    return {
      totalKeys: s.totalKeys,
      totalSize: s.memoryUsage,
      hitRate: total > 0 ? s.hits / total : 0,
      missRate: total > 0 ? s.misses / total : 0,
      evictionCount: s.evictions,
      memoryUsage: s.memoryUsage,
      diskUsage: s.diskUsage,
    }
  }

  /** Counters of the shared level (`redis` option), or null without it. */
  getFleetStats(): FleetStats | null {
    return this.#fleet?.stats() ?? null
  }

  /** Commits pending writes, stops the cleanup timer, closes the database. */
  shutdown(): void {
    if (this.#cleanupTimer !== null) clearInterval(this.#cleanupTimer)
    this.#fleet?.close()
    if (this.#handle === null) return
    this.#front.flush()
    this.#front.clear()
    this.#commits.flush()
    try {
      // Joins the writer thread: every group shipped is settled when this returns.
      const failures = native.cacheClose(this.#handle)
      this.#commits.settleAll((seq) => {
        const f = failures.find((x) => x.first <= seq && seq <= x.last)
        return f ? f.message : null
      })
    } catch (err) {
      this.#commits.settleAll(() => (err as Error).message ?? String(err))
      throw nativeError(err)
    } finally {
      this.#handle = null
      this.#inflight.clear()
      this.#warm.clear()
    }
  }

  /**
   * Removes expired entries from both levels (also run every `cleanupInterval` ms). `private`,
   * not `#`: the timer tests spy on it through the prototype.
   */
  private cleanup(): void {
    if (this.#handle === null) return
    try {
      const cleanedCount = native.cachePurgeExpired(this.#live())
      if (!this.#commits.open()) this.#commits.flush()
      if (cleanedCount > 0) this.emit('cache_cleanup', { cleanedCount })
    } catch {
      // A failed sweep is retried at the next interval.
    }
  }

  #emitEvictions(): void {
    for (const key of native.cacheTakeEvicted(this.#handle!)) {
      this.emit('cache_evict', { key, reason: this.#policy })
    }
  }
}
