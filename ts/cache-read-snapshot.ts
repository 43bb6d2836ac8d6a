/**
 * The read snapshot of `CacheManager`: disk reads of one macrotask (a callback and the
 * promise continuations it runs) share one SQLite read snapshot. The first reads on its
 * own; the later ones join the snapshot (the native side then skips each read's file locks,
 * a sixth of a disk hit). A watcher on the microtask queue ends it once `QUIET_HOPS`
 * microtasks pass without a disk read, so it never outlives the macrotask: a read in any
 * later callback sees every commit made before it began. The watcher is a promise job, not
 * `queueMicrotask` (Jest's fake timers fake that one and drop its jobs, which would pin the
 * snapshot).
 */
import { native } from './native'
import { tagOf } from './cache-codec'

type Handle = ReturnType<typeof native.cacheCreate>

const RESOLVED: Promise<void> = Promise.resolve()

/**
 * Microtasks without a disk read after which the shared read snapshot ends: an `await` of
 * a resolved promise takes one, an `await` of an async function that awaits the cache two
 * or three.
 */
const QUIET_HOPS = 4

/** Point reads of the disk level, and the watcher that ends their shared snapshot. */
export class ReadSnapshot {
  /** The watcher is queued: a read now joins the snapshot. */
  #reading = false
  /** The native side may hold a snapshot open (a read joined it). */
  #snapshotOpen = false
  #readSinceWatch = false
  #quietHops = 0

  /**
   * `handle`: the native handle, or null once the cache is shut down; `persist`: there is a
   * disk level (without one no read opens a snapshot).
   */
  readonly #handle: () => Handle | null
  readonly #persist: boolean

  constructor(handle: () => Handle | null, persist: boolean) {
    this.#handle = handle
    this.#persist = persist
  }

  /** `cacheGet`, joining the macrotask's read snapshot when one is being watched. */
  get(h: Handle, key: string): string | Buffer | null {
    const shared = this.#reading
    // marked before the call: a read that fails after opening the snapshot must still end it
    if (shared) this.#snapshotOpen = true
    const r = native.cacheGet(h, key, shared)
    if (this.#persist && (r === null || (tagOf(r) & 1) === 1)) {
      // a disk read: the first of a macrotask starts the watcher, later ones keep it going
      this.#readSinceWatch = true
      if (!shared) {
        this.#reading = true
        this.#quietHops = 0
        void RESOLVED.then(this.#watchReads)
      }
    }
    return r
  }

  readonly #watchReads = (): void => {
    if (this.#readSinceWatch) {
      this.#readSinceWatch = false
      this.#quietHops = 0
      void RESOLVED.then(this.#watchReads)
    } else if (++this.#quietHops < QUIET_HOPS) {
      void RESOLVED.then(this.#watchReads)
    } else {
      this.#reading = false
      const h = this.#snapshotOpen ? this.#handle() : null
      if (h !== null) native.cacheEndRead(h)
      this.#snapshotOpen = false
    }
  }
}
