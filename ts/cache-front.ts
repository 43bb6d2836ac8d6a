/**
 * The front of the memory level: decoded values of entries a `get` found in memory, served
 * without a call into the addon. A small cache's memory hit then costs a `Map` lookup and a
 * copy of the value instead of a native call with its string conversions and `JSON.parse`.
 *
 * It stays exact because the native core still makes every decision:
 * - An entry is taken only from a native memory hit, with the slot the core holds it in and
 *   its expiry. It is served only while the core has removed no entry since (replaced,
 *   evicted, expired, deleted, cleared: the core counts them in `shared`, written by every
 *   call), so the slot still holds that entry and the value is the core's; any removal
 *   empties the front.
 * - An expired entry is not served: the native `get` then finds it and frees it.
 * - Each hit served is logged (its slot) and replayed into the core, in order, before the
 *   core is asked anything else (`flush`): the policy's order (LRU, LFU counts, the
 *   adaptive policy's sketch and segments) and the hit count come out as if every hit had
 *   gone through the core.
 * The cache decides when the front may serve (no write awaiting its commit, nobody
 * listening for evictions): see `CacheManager.get`.
 */
import { native } from './native'

/** Entries the front keeps; it takes new ones only while the memory level holds at most this many. */
export const MAX_FRONT_ENTRIES = 1024
/** Longest value text (UTF-16 units) the front keeps decoded. */
const MAX_FRONT_TEXT = 16 * 1024
/** Hits logged before they are replayed into the core regardless. */
const LOG_SIZE = 1024

/** Slots of `shared` (see `src/cache.rs`). */
const SHARED_REMOVALS = 0
const SHARED_LEN = 1
const SHARED_HIT_SLOT = 2
const SHARED_HIT_EXPIRES = 3
/** Length of `shared`, the slots the addon writes on every call. */
export const SHARED_LENGTH = 4

/**
 * The wall clock the native core reads for expiry, read from the core itself (~50 ns): a
 * faked `Date` (test frameworks) cannot make the front and the core disagree.
 */
const wallNow: () => number = native.cacheNowMs

/** What `serve` returns for a key the front cannot serve. */
export const NOT_HELD: unique symbol = Symbol('not held')

interface FrontEntry {
  /** A string, or the value `JSON.parse` gave, never handed out (callers get copies). */
  value: unknown
  slot: number
  expiresAt: number
}

/**
 * A deep copy of a value `JSON.parse` made (plain objects, arrays, primitives): what
 * parsing its text again gives, several times faster for small values. An own
 * `__proto__` key (JSON can hold one) stays an own property.
 */
export function copyParsed(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v
  if (Array.isArray(v)) {
    const n = v.length
    const a = new Array(n)
    for (let i = 0; i < n; i++) a[i] = copyParsed(v[i])
    return a
  }
  const src = v as Record<string, unknown>
  const o: Record<string, unknown> = {}
  // for-in, not Object.keys: twice as fast here; a parsed object has no prototype of its
  // own, so it lists the own keys (unless someone made Object.prototype enumerable keys)
  for (const k in src) {
    if (k === '__proto__') {
      Object.defineProperty(o, k, { value: copyParsed(src[k]), writable: true, enumerable: true, configurable: true })
    } else {
      o[k] = copyParsed(src[k])
    }
  }
  return o
}

/** The memory front of one `CacheManager` (see the file comment). Internal: not exported by the package. */
export class MemoryFront {
  /** Written by the addon on every call (see the file comment). */
  readonly shared = new Float64Array(SHARED_LENGTH)
  readonly #entries = new Map<string, FrontEntry>()
  /** The core's removal count when `entries` were taken. */
  #removals = 0
  readonly #log = new Uint32Array(LOG_SIZE)
  #logged = 0

  /** `replay(log, n)`: reports the first `n` slots of `log` to the core as hits, in order. */
  readonly #replay: (log: Uint32Array, n: number) => void

  constructor(replay: (log: Uint32Array, n: number) => void) {
    this.#replay = replay
  }

  /** The value of `key` (a fresh copy) when the front holds it live, else `NOT_HELD`. */
  serve(key: string): unknown {
    if (this.#entries.size === 0) return NOT_HELD
    if (this.shared[SHARED_REMOVALS] !== this.#removals) {
      this.#entries.clear()
      return NOT_HELD
    }
    const e = this.#entries.get(key)
    if (e === undefined || wallNow() > e.expiresAt) return NOT_HELD
    if (this.#logged === LOG_SIZE) this.flush()
    this.#log[this.#logged++] = e.slot
    return typeof e.value === 'string' ? e.value : copyParsed(e.value)
  }

  /**
   * After a native `get` found `key` in memory (text `body`, JSON when `json`): the value to
   * hand out, the entry kept when the memory level is small enough.
   */
  take(key: string, body: string, json: boolean): unknown {
    const value = json ? JSON.parse(body) : body
    const slot = this.shared[SHARED_HIT_SLOT]
    if (slot < 0 || body.length > MAX_FRONT_TEXT || this.shared[SHARED_LEN] > MAX_FRONT_ENTRIES) return value
    const removals = this.shared[SHARED_REMOVALS]
    if (removals !== this.#removals) {
      this.#entries.clear()
      this.#removals = removals
    }
    if (this.#entries.size >= MAX_FRONT_ENTRIES && !this.#entries.has(key)) {
      this.#entries.delete(this.#entries.keys().next().value as string)
    }
    this.#entries.set(key, { value, slot, expiresAt: this.shared[SHARED_HIT_EXPIRES] })
    return json ? copyParsed(value) : value
  }

  /** Reports the logged hits to the core: before any other call into it. */
  flush(): void {
    const n = this.#logged
    if (n === 0) return
    this.#logged = 0
    this.#replay(this.#log, n)
  }

  /** Forgets every entry (the logged hits stay, to be replayed). */
  clear(): void {
    this.#entries.clear()
  }
}
