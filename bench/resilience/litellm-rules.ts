/**
 * A re-implementation of LiteLLM Router's documented cooldown rules over its default
 * "simple-shuffle" routing, for the fault simulator. Not LiteLLM's code: its rules as
 * documented, on the simulator's clock (see docs/resilience.md for where it may differ).
 *
 * - A model group is the request's tier: the deployments are the models whose tier equals
 *   the user's tier.
 * - simple-shuffle: a uniform random pick among the group's deployments not in cooldown
 *   (no weights, rpm or tpm are configured).
 * - Failures and successes are counted per deployment per calendar minute.
 * - Caller's 4xx (400, 413: bad request, context length, content policy) never cool a
 *   deployment (`_is_cooldown_required`: only 429, 401, 404, 408 and 5xx do).
 * - A 429 cools the deployment at once (in a group of more than one deployment).
 * - More than `allowed_fails` (3) failures in the minute cool it: the fourth failure.
 * - A failure ratio over 50% in the minute with at least 5 calls cools it (in a group of
 *   more than one deployment); in a one-deployment group, 100% failures with at least
 *   1000 calls.
 * - A cooldown lasts `cooldown_time` (5 s); a 429's Retry-After is not read.
 * - When every deployment of the group is cooling, the call fails at once without being
 *   sent (LiteLLM's "No deployments available").
 */
import { TIER_LEVEL, type ModelConfig, type Tier } from './world'

export interface LiteLLMRulesOptions {
  allowedFails?: number
  cooldownMs?: number
  failureRatio?: number
  minRequests?: number
}

/** LiteLLM's SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD. */
const SINGLE_DEPLOYMENT_MIN_REQUESTS = 1000

interface MinuteCounts {
  minute: number
  ok: number
  fails: number
}

export class LiteLLMRules {
  readonly allowedFails: number
  readonly cooldownMs: number
  readonly failureRatio: number
  readonly minRequests: number
  private readonly counts = new Map<string, MinuteCounts>()
  private readonly coolUntil = new Map<string, number>()
  private readonly groups = new Map<Tier, string[]>()
  /** Every cooldown started: [model, from, until]. */
  readonly cooldowns: Array<[string, number, number]> = []

  constructor(
    models: Map<string, ModelConfig>,
    private readonly clock: () => number,
    private readonly random: () => number,
    o: LiteLLMRulesOptions = {},
  ) {
    this.allowedFails = o.allowedFails ?? 3
    this.cooldownMs = o.cooldownMs ?? 5000
    this.failureRatio = o.failureRatio ?? 0.5
    this.minRequests = o.minRequests ?? 5
    for (const tier of Object.keys(TIER_LEVEL) as Tier[]) {
      this.groups.set(
        tier,
        [...models.values()].filter((m) => m.tier === tier).map((m) => m.name),
      )
    }
  }

  isCooling(model: string): boolean {
    return this.clock() < (this.coolUntil.get(model) ?? -Infinity)
  }

  /** The deployment for a request of `tier`, or null when all are cooling. */
  pick(tier: Tier): string | null {
    const healthy = this.groups.get(tier)!.filter((m) => !this.isCooling(m))
    if (healthy.length === 0) return null
    return healthy[Math.floor(this.random() * healthy.length)]
  }

  private minute(model: string): MinuteCounts {
    const minute = Math.floor(this.clock() / 60_000)
    let c = this.counts.get(model)
    if (c === undefined || c.minute !== minute) {
      c = { minute, ok: 0, fails: 0 }
      this.counts.set(model, c)
    }
    return c
  }

  success(model: string): void {
    this.minute(model).ok++
  }

  failure(model: string, tier: Tier, status: number): void {
    const cooldownRequired = status >= 500 || status === 429 || status === 401 || status === 404 || status === 408
    if (!cooldownRequired) return
    const c = this.minute(model)
    c.fails++
    const single = this.groups.get(tier)!.length <= 1
    const total = c.ok + c.fails
    const cool =
      (status === 429 && !single) ||
      c.fails > this.allowedFails ||
      (!single && total >= this.minRequests && c.fails / total > this.failureRatio) ||
      (single && total >= SINGLE_DEPLOYMENT_MIN_REQUESTS && c.ok === 0)
    if (cool && !this.isCooling(model)) {
      const now = this.clock()
      this.coolUntil.set(model, now + this.cooldownMs)
      this.cooldowns.push([model, now, now + this.cooldownMs])
    }
  }
}
