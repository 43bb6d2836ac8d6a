/**
 * Session affinity's table: the model that served each session's last request and its home
 * model (the one it was first routed to), so its follow-ups go to the model that holds their
 * prompt cache, and a session diverted for a moment (an outage, a passing slowness) returns
 * home rather than staying where it was diverted. Held here, not in Rust, so a
 * routing-cache hit with a `sessionId` is served without crossing: Rust gets the session's
 * models as numbers. Bounded (the least recently routed session drops first) and forgetful
 * (a session not routed for `idleMs` is gone), as `router-core`'s `SessionTable`.
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
}

export class SessionTable {
  /** Session id → its entry; insertion order is recency (oldest first). */
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
   * `session` was routed to `model` (index `index` of model set `of`) at `now`: it becomes
   * the most recent (the least recent drops when full). A new session's home is `model`; a
   * known one keeps its home, at index `homeIndex` of `of` (-1: it left the model set, so
   * `model` becomes the home). `known`: its entry, as `entryOf` just returned it (saves a lookup).
   */
  record(session: string, model: string, index: number, of: unknown, now: number, homeIndex: number, known?: SessionEntry): void {
    if (this.#max === 0) return
    const sessions = this.#sessions
    const e = known ?? sessions.get(session)
    if (e !== undefined) {
      sessions.delete(session)
      e.model = model
      e.at = now
      e.index = index
      if (homeIndex < 0) {
        e.home = model
        e.homeIndex = index
      } else {
        e.homeIndex = homeIndex
      }
      e.of = of
      sessions.set(session, e)
      return
    }
    if (sessions.size >= this.#max) sessions.delete(sessions.keys().next().value as string)
    sessions.set(session, { model, home: model, at: now, index, homeIndex: index, of })
  }

  /** Forgets the sessions idle at `now`. */
  purgeIdle(now: number): void {
    for (const [s, e] of this.#sessions) if (now - e.at >= this.#idleMs) this.#sessions.delete(s)
  }

  clear(): void {
    this.#sessions.clear()
  }
}
