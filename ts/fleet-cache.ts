/**
 * The shared (fleet) level of `CacheManager`: Redis after memory and the local SQLite file.
 * A local miss asks Redis (the gets of one tick share one burst); a hit is copied into the
 * local levels with its remaining TTL. `set` writes through, `delete` and `clear` delete in
 * Redis and publish an invalidation that every other process applies to its local levels.
 * `getOrSet` is single-flight across the fleet (a lock with a lease in Redis).
 *
 * Redis never fails a caller: a call that errs or outlasts `timeoutMs` continues on local
 * state, `fleet_degraded` fires once, and `fleet_restored` follows once a background probe
 * (with backoff) gets an answer. The logic lives in `crates/fleet-core`; this module
 * checks the option, batches, decodes and keeps the local copies consistent.
 */
import { native } from './native'
import { rangeError, typeError } from './errors'
import { KIND_BUFFER, KIND_BYTES, KIND_JSON, KIND_STRING } from './cache-codec'

/**
 * The `redis` option of `CacheManager`: a Redis shared by every process, the level after
 * memory and disk (see docs/fleet.md). Without it no runtime or connection is started.
 */
export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). Never logged. */
  url: string
  /** Every key and channel starts with it. Default `"mrn:"`. */
  prefix?: string
  /** Longest wait for Redis before a call continues on local state. Default 50 ms. */
  timeoutMs?: number
  /** `url` is a seed node of a Redis Cluster (several seeds: comma-separated URLs). */
  cluster?: boolean
  /** Lease of the fleet-wide `getOrSet` lock, and the longest a waiter waits. Default 30000 ms. */
  lockMs?: number
}

interface FleetOptions {
  urls: string[]
  cluster: boolean
  prefix: string
  timeoutMs: number
  lockMs: number
}

type FleetHandle = ReturnType<typeof native.fleetConnect>
type CacheHandle = ReturnType<typeof native.cacheCreate>
type NativeBatch = Awaited<ReturnType<typeof native.fleetGetBatch>>
type NativeEvent = Parameters<Parameters<typeof native.fleetConnect>[1]>[0]

/** Counters of the shared level (`CacheManager.getFleetStats()`). */
export interface FleetStats {
  /** Reads Redis answered with an entry. */
  hits: number
  /** Reads Redis answered without one. */
  misses: number
  /** Values under the prefix that are not our records: misses. */
  garbage: number
  /** Entries Redis stored. */
  writes: number
  /** Calls that erred or outlasted `timeoutMs`. */
  failures: number
  /** Calls that skipped Redis because the level was degraded. */
  skipped: number
  /** Invalidation messages this process published. */
  published: number
  /** Invalidation messages this process received. */
  received: number
  /** Times the level became degraded (Redis down, slow or refusing). */
  degradations: number
  /** The level is degraded now: calls continue on local state until Redis answers again. */
  degraded: boolean
}

/** What the level needs of the `CacheManager` that owns it. */
export interface FleetHost {
  /** The local cache's native handle (throws once shut down). */
  live(): unknown
  /** The promise of the commit of the local writes made so far. */
  commit(): Promise<void>
  /** Emits when someone listens. */
  emit(event: string, payload?: unknown): void
  /** A tagged native result (see `src/cache.rs`) to a fresh value. */
  decode(r: string | Buffer): unknown
}

const RESOLVED: Promise<void> = Promise.resolve()
const RESOLVED_NULL: Promise<null> = Promise.resolve(null)
/**
 * Numbers per key in a batch's `meta`. Its twin is `META_STRIDE` in `src/fleet.rs` (no fleet
 * layout is exported by the addon): change both.
 */
const META_STRIDE = 4
/** A batch's answer for a read an invalidation overtook: read it again. */
const REREAD = Symbol('reread')
/** Keys copied from Redis into the local levels, remembered for a resubscription. */
const MAX_FILLED = 65_536
/** Recently invalidated keys, remembered to refuse a read that raced its invalidation. */
const MAX_RECENT = 4096
/** Checks of the lock a waiter makes at most (the lease bounds the wait too). */
const MAX_LOCK_CHECKS = 10_000
/** Reads of a \`getOrSet\` waiter an invalidation may overtake before it computes itself. */
const MAX_STALE_READS = 4

function wholeMs(redis: Record<string, unknown>, field: string, fallback: number, max: number): number {
  const v = redis[field]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'number') throw typeError(`redis.${field}`, 'a number of milliseconds', v)
  if (!Number.isInteger(v) || v < 1 || v > max) throw rangeError(`redis.${field}`, `a whole number from 1 to ${max}`, v)
  return v
}

/** Checks the `redis` option; `null` when absent. Errors never repeat the URL (it may hold a password). */
export function fleetOptions(redis: unknown): FleetOptions | null {
  if (redis === undefined || redis === null) return null
  if (typeof redis !== 'object') throw typeError('redis', 'an object { url, prefix?, timeoutMs? }', redis)
  const r = redis as Record<string, unknown>
  if (typeof r.url !== 'string') throw new TypeError(`redis.url must be a string, got ${r.url === undefined ? 'undefined' : typeof r.url}`)
  const urls = r.url.split(',').map((u) => u.trim())
  if (urls.some((u) => !/^rediss?:\/\/[^\s]+$/.test(u))) {
    throw new TypeError('redis.url must be a redis:// or rediss:// URL (comma-separated for cluster seeds)')
  }
  const prefix = r.prefix ?? 'mrn:'
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 256 || /[\s]/.test(prefix)) {
    throw typeError('redis.prefix', 'a non-empty string of at most 256 characters without spaces', prefix)
  }
  const cluster = r.cluster ?? false
  if (typeof cluster !== 'boolean') throw typeError('redis.cluster', 'a boolean', cluster)
  if (!cluster && urls.length > 1) throw new TypeError('redis.url must be one URL unless redis.cluster is true')
  return {
    urls,
    cluster,
    prefix,
    timeoutMs: wholeMs(r, 'timeoutMs', 50, 60_000),
    lockMs: wholeMs(r, 'lockMs', 30_000, 3_600_000),
  }
}

type NativeWrite = Parameters<typeof native.fleetSetMany>[1][number]

interface PendingSet {
  write: NativeWrite
  resolve: (stored: boolean) => void
}

interface PendingGet {
  key: string
  /** `#seq` when this read started. */
  seq: number
  /** Reads of this key an invalidation overtook so far. */
  stale: number
  resolve: (value: unknown) => void
}

/**
 * The last `MAX_FILLED` keys copied from Redis into the local levels, in O(1) per add: a
 * ring of keys and each live key's slot (a `Set` trimmed from its oldest entry pays a scan
 * over the holes its deletes left, microseconds per add once full).
 */
class FilledKeys {
  /** Grows to `MAX_FILLED`, then wraps: `next` is the oldest slot. */
  #ring: string[] = []
  readonly #slot = new Map<string, number>()
  #next = 0

  add(key: string): void {
    if (this.#ring.length < MAX_FILLED) {
      this.#slot.set(key, this.#ring.length)
      this.#ring.push(key)
      return
    }
    const old = this.#ring[this.#next]
    // the slot's key is gone when it was deleted, or added again (it then has a newer slot)
    if (this.#slot.get(old) === this.#next) this.#slot.delete(old)
    this.#ring[this.#next] = key
    this.#slot.set(key, this.#next)
    this.#next = (this.#next + 1) % MAX_FILLED
  }

  delete(key: string): void {
    this.#slot.delete(key)
  }

  clear(): void {
    this.#slot.clear()
    this.#ring = []
    this.#next = 0
  }

  get size(): number {
    return this.#slot.size
  }

  keys(): IterableIterator<string> {
    return this.#slot.keys()
  }
}

export class FleetCacheLevel {
  #handle: FleetHandle | null
  readonly #host: FleetHost
  readonly #lockMs: number
  #pending: PendingGet[] = []
  #writes: PendingSet[] = []
  /** Invalidations received so far; a read that saw one arrive may be stale. */
  #seq = 0
  #lastClearSeq = 0
  readonly #recent = new Map<string, number>()
  /** Highest `seq` that left `recent` (a read older than it cannot be checked: refused). */
  #forgottenSeq = 0
  readonly #filled = new FilledKeys()

  constructor(options: FleetOptions, host: FleetHost, compression: boolean, maxValueSize: number) {
    this.#host = host
    this.#lockMs = options.lockMs
    this.#handle = native.fleetConnect(
      { ...options, compression, maxValueBytes: maxValueSize },
      FleetCacheLevel.#onEvent(new WeakRef(this)),
    )
  }

  // Built outside the constructor: the native side must not keep a dropped cache alive.
  static #onEvent(ref: WeakRef<FleetCacheLevel>): (e: NativeEvent) => void {
    return (e) => {
      const level = ref.deref()
      if (level !== undefined) level.#event(e)
    }
  }

  #event(e: NativeEvent): void {
    if (this.#handle === null) return
    switch (e.kind) {
      case 'degraded':
        this.#host.emit('fleet_degraded', { reason: e.detail })
        break
      case 'restored':
        this.#host.emit('fleet_restored', { downMs: e.value })
        break
      case 'subscribed':
        // messages may have been missed while unsubscribed: drop what came from Redis
        this.#seq++
        this.#lastClearSeq = this.#seq
        this.#forgetFilled()
        break
      case 'message':
        if (e.topic === 'cache') this.#invalidate(e.op ?? '', e.detail ?? '', e.value / 1000)
        break
    }
  }

  #invalidate(op: string, target: string, lagMs: number): void {
    const seq = ++this.#seq
    try {
      const h = this.#host.live() as CacheHandle
      if (op === 'd') {
        this.#remember(target, seq)
        native.cacheDelete(h, target)
        this.#filled.delete(target)
      } else if (op === 'n' || op === 'a') {
        this.#lastClearSeq = seq
        native.cacheClear(h, op === 'n' ? target : undefined)
        if (op === 'a') this.#filled.clear()
      } else {
        return
      }
      this.#host.commit().catch(() => {})
    } catch {
      return // shut down
    }
    this.#host.emit('fleet_invalidate', op === 'd' ? { key: target, lagMs } : op === 'n' ? { namespace: target, lagMs } : { lagMs })
  }

  #remember(key: string, seq: number): void {
    this.#recent.delete(key)
    if (this.#recent.size >= MAX_RECENT) {
      const [oldKey, oldSeq] = this.#recent.entries().next().value as [string, number]
      this.#recent.delete(oldKey)
      this.#forgottenSeq = Math.max(this.#forgottenSeq, oldSeq)
    }
    this.#recent.set(key, seq)
  }

  /** True when an invalidation of `key` arrived after a read that started at `seq`. */
  #stale(key: string, seq: number): boolean {
    if (this.#seq === seq) return false
    return this.#lastClearSeq > seq || this.#forgottenSeq > seq || (this.#recent.get(key) ?? 0) > seq
  }

  #forgetFilled(): void {
    if (this.#filled.size === 0) return
    try {
      const h = this.#host.live() as CacheHandle
      for (const k of this.#filled.keys()) native.cacheDelete(h, k)
      this.#host.commit().catch(() => {})
    } catch {
      // shut down
    }
    this.#filled.clear()
  }

  #enqueue(g: PendingGet): void {
    if (this.#pending.push(g) === 1) void RESOLVED.then(this.#flushGets)
  }

  readonly #flushGets = (): void => {
    const batch = this.#pending
    this.#pending = []
    if (this.#handle === null) {
      for (const g of batch) g.resolve(null)
      return
    }
    const keys = new Array<string>(batch.length)
    for (let i = 0; i < batch.length; i++) keys[i] = batch[i].key
    let p: Promise<NativeBatch>
    try {
      p = native.fleetGetBatch(this.#handle, keys)
    } catch {
      for (const g of batch) g.resolve(null)
      return
    }
    p.then(
      (r) => this.#settle(batch, r),
      () => {
        for (const g of batch) g.resolve(null)
      },
    )
  }

  /**
   * A batch's answer: each value decoded, the ones served copied into the local levels in
   * one native call (the values stay native), then each read resolved, or read again when
   * an invalidation of its key (or a clear, or a (re)subscription) may have overtaken it:
   * the second read starts after the invalidation was applied, and Redis executed the
   * delete before publishing it.
   */
  #settle(batch: PendingGet[], r: NativeBatch): void {
    const meta = r.meta
    const out = new Array<unknown>(batch.length)
    let keep: Uint8Array | null = null
    for (let i = 0; i < batch.length; i++) {
      const g = batch[i]
      const m = i * META_STRIDE
      if (meta[m] < 0) {
        out[i] = null
      } else if (this.#stale(g.key, g.seq)) {
        out[i] = REREAD
      } else {
        try {
          out[i] = this.#valueAt(r, m)
          if (keep === null) keep = new Uint8Array(batch.length)
          keep[i] = 1
        } catch {
          out[i] = null // a well-formed record holding text that is not JSON: garbage, a miss
        }
      }
    }
    if (keep !== null) {
      this.#fill(r, keep)
      for (let i = 0; i < batch.length; i++) if (keep[i] === 1) this.#filled.add(batch[i].key)
    }
    for (let i = 0; i < batch.length; i++) {
      const g = batch[i]
      const v = out[i]
      if (v !== REREAD) g.resolve(v)
      else if (++g.stale >= MAX_STALE_READS || this.#handle === null) g.resolve(null)
      else {
        g.seq = this.#seq
        this.#enqueue(g)
      }
    }
  }

  /** The value at `meta[m]` of a batch: a fresh copy. */
  #valueAt(r: NativeBatch, m: number): unknown {
    const meta = r.meta
    const kind = meta[m]
    if (kind === KIND_JSON) return JSON.parse(r.json.slice(meta[m + 2], meta[m + 3]))
    if (kind === KIND_BUFFER || kind === KIND_BYTES) {
      // its own memory: a value must not share the batch's buffer
      const n = meta[m + 3] - meta[m + 2]
      const b = Buffer.allocUnsafeSlow(n)
      // a batch whose binary values are all empty comes without `bytes`
      if (n !== 0) (r.bytes as Buffer).copy(b, 0, meta[m + 2], meta[m + 3])
      return kind === KIND_BYTES ? new Uint8Array(b.buffer, b.byteOffset, n) : b
    }
    const text = (r.strings as string[])[meta[m + 2]]
    return kind === KIND_STRING ? text : this.#host.decode(String.fromCharCode(kind << 1) + text)
  }

  /**
   * Copies a batch's entries marked in `keep` into the local levels, with their remaining
   * TTL; `keep[i]` is left 1 only where an entry was stored (see `fleetFill`).
   */
  #fill(r: NativeBatch, keep: Uint8Array): void {
    try {
      native.fleetFill(this.#host.live() as CacheHandle, r.fetched, keep)
      this.#host.commit().catch(() => {})
    } catch {
      keep.fill(0) // shut down: served, not kept
    }
  }

  /**
   * A local miss: the value from Redis (copied into the local levels), or null. The gets
   * of one tick go out together (see `#settle`).
   */
  get(key: string): Promise<unknown> {
    if (this.#handle === null) return RESOLVED_NULL
    return new Promise((resolve) => this.#enqueue({ key, seq: this.#seq, stale: 0, resolve }))
  }

  /**
   * `getMany` after the local levels: `values[i]` for the keys they held, the others
   * (`missed[i]`) from Redis in one burst (copied into the local levels), null for the rest.
   */
  async getMany(keys: string[], missed: boolean[], values: unknown[]): Promise<unknown[]> {
    const reads: Promise<void>[] = []
    for (let i = 0; i < keys.length; i++) {
      if (missed[i])
        reads.push(
          this.get(keys[i]).then((v) => {
            values[i] = v
          }),
        )
    }
    if (reads.length !== 0) await Promise.all(reads)
    return values
  }

  /**
   * Writes through to Redis; resolves when Redis holds it or the level gave up (never
   * rejects). The writes of one tick go out together.
   */
  set(key: string, encoded: string | Uint8Array, kind: number, ttlMs: number, namespace: string | undefined): Promise<unknown> {
    if (this.#handle === null) return RESOLVED
    this.#filled.delete(key)
    const value =
      typeof encoded === 'string'
        ? encoded
        : Buffer.isBuffer(encoded)
          ? encoded
          : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)
    return new Promise((resolve) => {
      if (this.#writes.push({ write: { key, namespace, kind, value, ttlMs }, resolve }) === 1) void RESOLVED.then(this.#flushSets)
    })
  }

  readonly #flushSets = (): void => {
    const batch = this.#writes
    this.#writes = []
    const none = () => {
      for (const w of batch) w.resolve(false)
    }
    if (this.#handle === null) {
      none()
      return
    }
    let p: Promise<boolean[]>
    try {
      p = native.fleetSetMany(
        this.#handle,
        batch.map((w) => w.write),
      )
    } catch {
      none()
      return
    }
    p.then((stored) => {
      for (let i = 0; i < batch.length; i++) batch[i].resolve(stored[i] === true)
    }, none)
  }

  delete(key: string): Promise<unknown> {
    if (this.#handle === null) return RESOLVED
    this.#filled.delete(key)
    return native.fleetDelete(this.#handle, key).catch(() => false)
  }

  clear(namespace: string | undefined): Promise<unknown> {
    if (this.#handle === null) return RESOLVED
    if (namespace === undefined) this.#filled.clear()
    return native.fleetClear(this.#handle, namespace).catch(() => false)
  }

  /**
   * The fleet part of `getOrSet` after a local miss: another process's value, or this
   * process computes under the lock (`store` writes the value to every level), or, when the
   * holder is gone past its lease or Redis is unavailable, computes anyway.
   */
  async getOrSet<T>(key: string, loader: () => T | Promise<T>, store: (value: T) => Promise<void>): Promise<T> {
    if (this.#handle === null) {
      const v = await loader()
      await store(v)
      return v
    }
    let r: Awaited<ReturnType<typeof native.fleetAcquire>> = { state: 'giveup' }
    for (let read = 0; read < MAX_STALE_READS; read++) {
      const seq = this.#seq
      try {
        r = await native.fleetAcquire(this.#handle, key, this.#lockMs, MAX_LOCK_CHECKS)
      } catch {
        r = { state: 'giveup' }
      }
      const b = r.batch
      if (r.state !== 'value' || !b) break
      if (!this.#stale(key, seq)) {
        if (b.meta[0] < 0) break // not our record after all: compute
        let v: T
        try {
          v = this.#valueAt(b, 0) as T
        } catch {
          break // not JSON after all: compute
        }
        const keep = Uint8Array.of(1)
        this.#fill(b, keep)
        if (keep[0] === 1) this.#filled.add(key)
        return v
      }
      // An invalidation arrived while this process waited (a clear anywhere, its own
      // (re)subscription, a delete of the key): it may or may not postdate the value read.
      // Read again instead of computing: the key is either still there, or gone and its
      // lock free for this process to take.
      r = { state: 'giveup' }
      if (this.#handle === null) break
    }
    const token = r.state === 'acquired' ? r.token : undefined
    try {
      const v = await loader()
      await store(v)
      return v
    } finally {
      if (token !== undefined && token !== null && this.#handle !== null)
        await native.fleetRelease(this.#handle, key, token).catch(() => {})
    }
  }

  /** Publishes on the fleet's bus (other subsystems' topics). */
  publish(topic: string, op: string, payload: string): Promise<boolean> {
    if (this.#handle === null) return Promise.resolve(false)
    return native.fleetPublish(this.#handle, topic, op, payload)
  }

  stats(): FleetStats | null {
    return this.#handle === null ? null : native.fleetStats(this.#handle)
  }

  close(): void {
    if (this.#handle === null) return
    native.fleetClose(this.#handle)
    this.#handle = null
    for (const g of this.#pending) g.resolve(null)
    this.#pending = []
    for (const w of this.#writes) w.resolve(false)
    this.#writes = []
  }
}
