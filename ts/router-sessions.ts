/**
 * Session affinity's table: the model that served each session's last request, so its
 * follow-ups go to the model that holds their prompt cache. Held here, not in Rust, so a
 * routing-cache hit with a `sessionId` is served without crossing: Rust gets the session's
 * model as a number. Bounded (the least recently routed session drops first) and forgetful
 * (a session not routed for `idleMs` is gone), as `router-core`'s `SessionTable`.
 */
export class SessionTable {
  /** Session id → [model name, when last routed]; insertion order is recency (oldest first). */
  readonly #sessions = new Map<string, [string, number]>()
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

  /** The model of `session` at `now`, unless unknown or idle too long (then forgotten). Does not refresh it. */
  modelOf(session: string, now: number): string | undefined {
    const e = this.#sessions.get(session)
    if (e === undefined) return undefined
    if (now - e[1] >= this.#idleMs) {
      this.#sessions.delete(session)
      return undefined
    }
    return e[0]
  }

  /** As `modelOf`, forgetting nothing (for `explain`). */
  peek(session: string, now: number): string | undefined {
    const e = this.#sessions.get(session)
    return e !== undefined && now - e[1] < this.#idleMs ? e[0] : undefined
  }

  /** `session` was routed to `model` at `now`: it becomes the most recent (the least recent drops when full). */
  record(session: string, model: string, now: number): void {
    if (this.#max === 0) return
    const sessions = this.#sessions
    const e = sessions.get(session)
    if (e !== undefined) {
      sessions.delete(session)
      e[0] = model
      e[1] = now
      sessions.set(session, e)
      return
    }
    if (sessions.size >= this.#max) sessions.delete(sessions.keys().next().value as string)
    sessions.set(session, [model, now])
  }

  /** Forgets the sessions idle at `now`. */
  purgeIdle(now: number): void {
    for (const [s, e] of this.#sessions) if (now - e[1] >= this.#idleMs) this.#sessions.delete(s)
  }

  clear(): void {
    this.#sessions.clear()
  }
}
