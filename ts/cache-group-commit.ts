/**
 * The group commit of `CacheManager`: every write issued in the same tick joins one SQLite
 * transaction (two when many writes are in flight: see `join`), committed in a promise job;
 * each write promise of that tick resolves after the commit, so an awaited `set` survives a
 * process kill. The commit runs inline (one write, nothing in flight) or on the native
 * writer thread, which reports each settled group through `settled`. With `durability:
 * "async"` the writes resolve at once and are committed on the next event-loop turn.
 */
import { native } from './native'
import { codedError } from './errors'
import { nativeError } from './cache-errors'

type Handle = ReturnType<typeof native.cacheCreate>

const RESOLVED: Promise<void> = Promise.resolve()

/**
 * Fewest writes a tick's first commit group may hold when the tick is split (see `join`):
 * below this, the extra commit costs the writer more than the overlap saves.
 */
const MIN_SPLIT = 8

/** How to settle the promise of a group shipped to the writer thread. */
interface Waiter {
  resolve: (() => void) | null
  reject: ((err: unknown) => void) | null
  /** Writes (operations) the group's promise stands for. */
  writes: number
}

/** What the group commit needs of the cache that owns it. */
export interface GroupCommitHost {
  /** The native handle, or null once the cache is shut down. */
  handle(): Handle | null
  /** A commit failed: the core forgets what it held, at its next read (so must any copy of it). */
  forget(): void
  /** A failed commit nobody awaits (`durability: "async"`). */
  error(err: unknown): void
}

/** The open batch of the tick and the groups out on the writer thread, until each settles. */
export class GroupCommit {
  #batch: Promise<void> | null = null
  #batchResolve: (() => void) | null = null
  #batchReject: ((err: unknown) => void) | null = null
  /** Writes that joined `batch`. */
  #batchWrites = 0
  /**
   * The tick's batch is committed early once it holds this many writes (once per tick):
   * half of the writes that were awaiting a commit when the last tick ended, so callers
   * with many writes in flight form two alternating groups (see `join`).
   */
  #splitAt = Infinity
  #splitThisTick = false
  /** The last commit went to the writer thread (an inline one leaves nothing to overlap). */
  #lastCommitShipped = false
  #asyncFlushScheduled = false
  /** Groups shipped to the writer thread, by number (ascending), until reported. */
  readonly #waiters = new Map<number, Waiter>()
  /** Keeps the process alive while groups are out: their promises must settle. */
  #keepAlive: NodeJS.Timeout | null = null

  /**
   * `persist`: there is a disk level (without one a write is done when stored);
   * `asyncDurability`: writes resolve before their commit.
   */
  readonly #host: GroupCommitHost
  readonly #persist: boolean
  readonly #asyncDurability: boolean

  constructor(host: GroupCommitHost, persist: boolean, asyncDurability: boolean) {
    this.#host = host
    this.#persist = persist
    this.#asyncDurability = asyncDurability
  }

  /** Nothing awaits a commit: no batch open, no group shipped, no async commit scheduled. */
  idle(): boolean {
    return this.#batch === null && this.#waiters.size === 0 && !this.#asyncFlushScheduled
  }

  /** A batch is open in this tick. */
  open(): boolean {
    return this.#batch !== null
  }

  /** Joins the tick's group with one write; returns the promise of its commit. */
  join(): Promise<void> {
    if (!this.#persist) return RESOLVED
    if (this.#asyncDurability) {
      if (!this.#asyncFlushScheduled) {
        this.#asyncFlushScheduled = true
        setImmediate(() => this.flush())
      }
      return RESOLVED
    }
    if (this.#batch === null) {
      this.#batch = new Promise<void>((resolve, reject) => {
        this.#batchResolve = resolve
        this.#batchReject = reject
      })
      // the tick's commit: a promise job, not queueMicrotask (Jest's fake timers fake that
      // one and drop its jobs, which would leave the batch uncommitted and the lock held)
      void RESOLVED.then(this.#endTick)
    }
    const batch = this.#batch
    // Two-stage pipeline: with many writes awaiting commits, the writer thread commits the
    // tick's first half while the caller issues the second; otherwise the caller waits for
    // one commit per tick with the writer idle meanwhile (measured at 64 sets in flight:
    // 55-61k vs 39-45k sets/s). Once per tick: a tick of thousands of writes commits twice.
    if (++this.#batchWrites === this.#splitAt && !this.#splitThisTick) {
      this.#splitThisTick = true
      this.flush()
    }
    return batch
  }

  /** Writes whose commit promise has not settled: the batch's and the shipped groups'. */
  get unsettledWrites(): number {
    let n = this.#batchWrites
    for (const w of this.#waiters.values()) n += w.writes
    return n
  }

  /** The end of a tick's writes: commits them, and sizes the next tick's split. */
  readonly #endTick = (): void => {
    const half = this.unsettledWrites >> 1
    this.#splitAt = this.#lastCommitShipped && half >= MIN_SPLIT ? half : Infinity
    this.#splitThisTick = false
    // nothing left when the split fell on the tick's last write; and a split tick queued
    // a second job for its second batch, which the first job's commit already covered
    if (this.#batch !== null) this.flush()
  }

  /** Commits the open batch now (inline, or shipped to the writer thread). */
  flush(): void {
    const resolve = this.#batchResolve
    const reject = this.#batchReject
    const writes = this.#batchWrites
    this.#batch = this.#batchResolve = this.#batchReject = null
    this.#batchWrites = 0
    this.#asyncFlushScheduled = false
    const handle = this.#host.handle()
    if (handle === null) {
      reject?.(codedError('ERR_SHUT_DOWN', 'the cache was shut down before the write was committed'))
      return
    }
    try {
      const seq = native.cacheCommit(handle)
      this.#lastCommitShipped = seq !== 0
      if (seq === 0) {
        resolve?.()
      } else {
        this.#waiters.set(seq, { resolve, reject, writes })
        if (this.#keepAlive === null) this.#keepAlive = setInterval(() => void this, 0x7fff_ffff)
      }
    } catch (err) {
      this.#host.forget()
      if (reject !== null) reject(nativeError(err))
      // durability "async": nobody awaits this commit
      else this.#host.error(nativeError(err))
    }
  }

  /** The writer thread settled every group up to `last` (`error`: they failed). */
  settled(last: number, error: string | null): void {
    for (const [seq, w] of this.#waiters) {
      if (seq > last) break
      this.#settle(seq, w, error)
    }
  }

  /**
   * Settles every group still out, once the writer thread is joined: `errorOf` says how
   * each ended (null: committed).
   */
  settleAll(errorOf: (seq: number) => string | null): void {
    for (const [seq, w] of [...this.#waiters]) this.#settle(seq, w, errorOf(seq))
  }

  #settle(seq: number, w: Waiter, error: string | null): void {
    this.#waiters.delete(seq)
    if (this.#waiters.size === 0 && this.#keepAlive !== null) {
      clearInterval(this.#keepAlive)
      this.#keepAlive = null
    }
    if (error === null) {
      w.resolve?.()
      return
    }
    this.#host.forget()
    const err = nativeError(new Error(error.startsWith('[') ? error : `[ERR_CACHE_DISK] ${error}`))
    if (w.reject !== null) w.reject(err)
    // durability "async": nobody awaits this commit
    else this.#host.error(err)
  }
}
