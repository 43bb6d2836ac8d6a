/**
 * The router's key memo: context key → the routing-cache entry Rust answered it with, its
 * model and how long it stays fresh, so a repeated context is answered without crossing into
 * Rust. An entry counts only while its generation is the current one: `forget()` outdates
 * the whole memo in O(1) whenever models, availability or the cache's contents change.
 *
 * The replay log of memo hits stays in `ModelRouter`: it is drained into Rust together with
 * the outcome buffer, in a fixed order, on every path that crosses (it belongs to the handle).
 */

/** Tasks longer than this skip the key memo (its keys would hold the text twice). */
export const MEMO_MAX_TASK_LENGTH = 4096
/** Distinct latency requirements remembered per task by the key memo. */
const MEMO_LATENCIES_PER_TASK = 4
/**
 * The key memo's bounds, whatever `cacheSize` is: it only speeds up repeated requests (a
 * request it does not hold goes to Rust's routing cache), so it holds at most this many
 * keys and this many characters of key text (~8 MiB), plus ~1.6 KB of slots per task.
 */
const MEMO_MAX_KEYS = 4096
const MEMO_MAX_CHARS = 4 * 1024 * 1024

/**
 * A memoized routing-cache entry's ranked candidates and what admitting one more of its
 * decisions checks in the capacity rows (see `ModelRouter`'s fast path). The check's budget
 * part is built for a count of budgets set (`planned`) and rebuilt when more are set.
 */
export interface RankedCandidates {
  /** [name id, model index] per candidate, best first. */
  pairs: number[]
  /** The tokens a decision reserves (NaN: not known, so Rust decides). */
  tokens: number
  /** Capacity offsets of the quota rows of the candidates with a quota. */
  quotaRows: number[]
  /** The budget count the three fields below were built for (-1: not built). */
  planned: number
  /** The costliest candidate's cost of `tokens` (NaN when any cost is; -Infinity: no candidate). */
  maxCost: number
  /** Global budgets (every candidate falls under them: room for `maxCost` is room for all). */
  everyBudget: number[]
  /** [budget index, cost] for each model budget naming a candidate. */
  modelBudgets: number[]
}

export class KeyMemo {
  /**
   * task → latency → for each (tier, priority) slot: [entry id, model index, fresh until
   * (performance.now() ms), memo generation].
   */
  readonly byTask = new Map<string, Map<number, number[]>>()
  /** The same for contexts with a budget, capabilities or custom rules: flat key → [id, model index, fresh until, generation]. */
  readonly byKey = new Map<string, number[]>()
  /** Adaptive: the ranked candidates of memoized routing-cache entries, by entry id. */
  readonly #ranked = new Map<number, RankedCandidates>()
  /** The entry `rankedOf` answered last (-1: none): a repeated context skips the lookup. */
  #lastRankedId = -1
  #lastRanked: RankedCandidates | undefined
  /** The current generation: entries of an older one are outdated. */
  generation = 0
  readonly #limit: number
  /** Characters of key text the memo holds (bounded by MEMO_MAX_CHARS). */
  #chars = 0

  constructor(cacheSize: number) {
    this.#limit = Math.min(cacheSize, MEMO_MAX_KEYS)
  }

  /** Outdates every entry (a generation bump: their slots are reused as keys repeat). */
  forget(): void {
    this.generation++
    this.forgetRanked()
  }

  /** Forgets every entry's ranked candidates (they hold name ids: also when those are reset). */
  forgetRanked(): void {
    this.#ranked.clear()
    this.#lastRankedId = -1
    this.#lastRanked = undefined
  }

  /** The ranked candidates kept for entry `id`, if any. */
  rankedOf(id: number): RankedCandidates | undefined {
    if (id === this.#lastRankedId) return this.#lastRanked
    const r = this.#ranked.get(id)
    if (r !== undefined) {
      this.#lastRankedId = id
      this.#lastRanked = r
    }
    return r
  }

  /** Frees the memo (its key text reached MEMO_MAX_CHARS, or the router shut down). */
  clear(): void {
    this.forget()
    this.byTask.clear()
    this.byKey.clear()
    this.#chars = 0
  }

  /** Keeps the ranked candidates of entry `id` (bounded like the memo's keys). */
  setRanked(id: number, r: RankedCandidates): void {
    if (this.#ranked.size >= MEMO_MAX_KEYS) this.forgetRanked()
    this.#ranked.set(id, r)
  }

  /**
   * Makes room for a new `key` in one of the memo's maps (the oldest key goes at the key
   * bound, everything at the character bound) and counts its characters.
   */
  #room(map: Map<string, unknown>, key: string): void {
    if (map.size >= this.#limit) {
      const oldest = map.keys().next().value as string
      map.delete(oldest)
      this.#chars -= oldest.length
    }
    if (this.#chars + key.length > MEMO_MAX_CHARS) this.clear()
    this.#chars += key.length
  }

  /** Remembers a routing-cache entry for `task` (`longKey` undefined) or for `longKey`. */
  remember(
    task: string,
    latency: number,
    slot: number,
    longKey: string | undefined,
    id: number,
    modelIndex: number,
    freshUntil: number,
  ): void {
    let m: number[] | undefined
    let at = 0
    if (longKey !== undefined) {
      m = this.byKey.get(longKey)
      if (m === undefined) {
        this.#room(this.byKey, longKey)
        m = [0, 0, 0, -1]
        this.byKey.set(longKey, m)
      }
    } else {
      let byLatency = this.byTask.get(task)
      if (byLatency === undefined) {
        this.#room(this.byTask, task)
        byLatency = new Map()
        this.byTask.set(task, byLatency)
      }
      m = byLatency.get(latency)
      if (m === undefined) {
        if (byLatency.size >= MEMO_LATENCIES_PER_TASK) byLatency.clear()
        m = new Array<number>(48).fill(-1)
        byLatency.set(latency, m)
      }
      at = slot * 4
    }
    m[at] = id
    m[at + 1] = modelIndex
    m[at + 2] = freshUntil
    m[at + 3] = this.generation
  }
}
