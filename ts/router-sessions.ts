/**
 * Session affinity's table: the model that served each session's last request and its home
 * model (the one it was first routed to), so its follow-ups go to the model that holds their
 * prompt cache, and a session diverted for a moment (an outage, a passing slowness) returns
 * home rather than staying where it was diverted. Held here, not in Rust, so a
 * routing-cache hit with a `sessionId` is served without crossing: Rust gets the session's
 * models as numbers. Bounded and forgetful (a session not routed for `idleMs` is gone), as
 * `router-core`'s `SessionTable`; which session drops when full: see `record`.
 */
/**
 * A session's models and when it was last routed: `model` served its last request, `home` is
 * the model it was first routed to (re-homed when that one leaves the model set); `index`
 * and `homeIndex` are their indices in the model set `of`.
 */
export interface SessionEntry {
  model: string
  home: string
  at: number
  index: number
  homeIndex: number
  of: unknown
  /** Routed again since it was placed in the table's order (see `record`). */
  routed: boolean
}

export class SessionTable {
  /**
   * Session id → its entry, in the order the sessions were placed: when first routed, or
   * moved to the back by the eviction walk (see `record`). A routed session is updated in
   * place, not moved: a `Map` delete + set on every routed request cost more than the rest
   * of the session's share of a routing-cache hit.
   */
  readonly #sessions = new Map<string, SessionEntry>()
  readonly #max: number
  readonly #idleMs: number

  /** `max` 0 turns affinity off. */
  constructor(max: number, idleMs: number) {
    this.#max = max
    this.#idleMs = idleMs
  }

  get enabled(): boolean {
    return this.#max > 0
  }

  get size(): number {
    return this.#sessions.size
  }

  /** The entry of `session` at `now`, unless unknown or idle too long (then forgotten). Does not refresh it. */
  entryOf(session: string, now: number): SessionEntry | undefined {
    const e = this.#sessions.get(session)
    if (e === undefined) return undefined
    if (now - e.at >= this.#idleMs) {
      this.#sessions.delete(session)
      return undefined
    }
    return e
  }

  /** As `entryOf`, forgetting nothing (for `explain`). */
  peek(session: string, now: number): SessionEntry | undefined {
    const e = this.#sessions.get(session)
    return e !== undefined && now - e.at < this.#idleMs ? e : undefined
  }

  /**
   * `session` was routed to `model` (index `index` of model set `of`) at `now`. A new
   * session's home is `model`; a known one keeps its home, at index `homeIndex` of `of`
   * (-1: it left the model set, so `model` becomes the home). `known`: its entry, as
   * `entryOf` just returned it (saves a lookup).
   *
   * When a new session finds the table full, one session drops (second chance): a walk from
   * the earliest placed session moves each one routed since it was placed to the back
   * (placed anew, at most once per walk) and stops at the first one not routed since; of the
   * sessions it walked, the least recently routed drops (the earliest walked on a tie).
   * While no walk has moved a session, that is the least recently routed of the table; it
   * can be another only when a session an earlier walk moved, and not routed since, sits
   * behind the one the walk stopped at and was routed less recently. Each move is paid for
   * by an earlier routed request: amortized O(1), at most `max` moves in one walk.
   */
  record(session: string, model: string, index: number, of: unknown, now: number, homeIndex: number, known?: SessionEntry): void {
    if (this.#max === 0) return
    const sessions = this.#sessions
    const e = known ?? sessions.get(session)
    if (e !== undefined) {
      e.at = now
      e.routed = true
      // the same model and home (the usual follow-up): only the time moves
      if (index === e.index && of === e.of && homeIndex === e.homeIndex) return
      e.model = model
      e.index = index
      if (homeIndex < 0) {
        e.home = model
        e.homeIndex = index
      } else {
        e.homeIndex = homeIndex
      }
      e.of = of
      return
    }
    if (sessions.size >= this.#max) this.#dropOne()
    sessions.set(session, { model, home: model, at: now, index, homeIndex: index, of, routed: false })
  }

  /** Drops one session to make room (the second-chance walk described at `record`). */
  #dropOne(): void {
    const sessions = this.#sessions
    let victim: string | undefined
    let oldest = Infinity
    for (const s of sessions.keys()) {
      const e = sessions.get(s) as SessionEntry
      if (victim === undefined || e.at < oldest) {
        victim = s
        oldest = e.at
      }
      if (!e.routed) break
      // routed since placed: placed anew at the back (the iterator meets it again only
      // after every other session, by then not routed since)
      e.routed = false
      sessions.delete(s)
      sessions.set(s, e)
    }
    sessions.delete(victim as string)
  }

  /** Forgets the sessions idle at `now`. */
  purgeIdle(now: number): void {
    for (const [s, e] of this.#sessions) if (now - e.at >= this.#idleMs) this.#sessions.delete(s)
  }

  clear(): void {
    this.#sessions.clear()
  }
}
