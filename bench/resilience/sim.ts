/**
 * The discrete-event engine of the fault simulator: one scenario on one side, in virtual
 * time. Events (arrivals, attempt starts, call completions) are taken from a priority queue
 * in time order; the simulator owns `now` and hands the routers `clock: () => now`, so
 * nothing sleeps and the same seed gives the same figures.
 *
 * The app loop is the codebase's: route → call → report; on a failure, up to two retries
 * with `retryCount` and `previousModel` set, at once; a per-request deadline, after which
 * the call in flight is cut (a `timeout` outcome) and the request fails.
 */
import { MinHeap } from './heap'
import { makeSide, type HealthEvent, type Route, type SideName } from './sides'
import {
  attemptDraws,
  MAX_OUTPUT_TOKENS,
  outputTokensOf,
  Providers,
  scenarioRequests,
  simModels,
  type CallResult,
  type QuotaPeak,
  type Scenario,
  type SimRequest,
} from './world'

export interface SimOptions {
  seed: number
  /** Poisson arrival rate (requests per virtual second). */
  ratePerSec: number
  /** Per-request deadline, from arrival (ms). */
  deadlineMs: number
  /** Retries after the first attempt. */
  maxRetries: number
  /** Width of the probe intervals in which attempts to a model inside its outage are counted (ms). */
  probeIntervalMs: number
  /** Width of the time buckets of the chart (ms). */
  bucketMs: number
}

export const DEFAULT_SIM: SimOptions = {
  seed: 42,
  ratePerSec: 20,
  deadlineMs: 30_000,
  maxRetries: 2,
  probeIntervalMs: 5000,
  bucketMs: 10_000,
}

export interface Attempt {
  model: string
  atMs: number
  faulted: boolean
  status?: number
  ok: boolean
  /** What the call cost (0 when it failed). */
  cost: number
  /** The most it could cost: input + MAX_OUTPUT_TOKENS at the model's price (the adaptive router's reservation). */
  maxCost: number
  /** The prompt is longer than the model's context window. */
  tooSmallWindow: boolean
}

/** Spend against the scenario's global budget, per budget window (counted by when each call was sent). */
export interface BudgetFigures {
  limit: number
  windowMs: number
  /** The most spent in one window. */
  peakSpend: number
  /** The most spent beyond the limit in one window (0 when never over). */
  overspend: number
  /**
   * The most one window's spend passed its limit by more than its calls cost above their
   * reservation (input + MAX_OUTPUT_TOKENS): the overspend a router that reserves before
   * sending cannot explain. Here no call costs more than its reservation, so any overspend is.
   */
  beyondReservations: number
}

/** Session affinity: follow-ups whose previous turn's model was healthy at their first attempt, and how many went to it. */
export interface AffinityFigures {
  followUps: number
  kept: number
  share: number
}

export interface SideRun {
  side: SideName
  scenario: string
  requests: number
  /** Requests some model of the user's tier can serve (the caller's 400 and content-policy errors are not). */
  servable: number
  successes: number
  successRate: number
  p50Ms: number
  p99Ms: number
  p999Ms: number
  costPerSuccess: number
  attempts: number
  /** Attempts sent to a model while the script had it failing, rate limited or slow. */
  faultedAttempts: number
  /** The most attempts to a model inside one probe interval of its outage (after the first) or inside one Retry-After; null when the scenario has neither. */
  maxPerProbeInterval: number | null
  rateLimited: number
  /** `model_health_changed` events that took a model out of "healthy" while the script had no fault on it (adaptive only; null for the others). */
  healthyEjections: number | null
  /** Per chart bucket (by arrival): [bucket start ms, success rate, p99 ms] over servable requests. */
  series: Array<[number, number, number]>
  /** Models called, by count. */
  modelShare: Record<string, number>
  /** Calls sent to a model whose context window is smaller than the prompt. */
  tooSmallWindow: number
  /** Routing calls the router refused (`ERR_BUDGET_EXCEEDED`, `ERR_NO_ELIGIBLE_MODEL`). */
  refused: number
  /** Per model with a quota: the most requests and tokens sent to it in any 60 s window (empty without quotas). */
  quotaPeaks: QuotaPeak[]
  budget: BudgetFigures | null
  affinity: AffinityFigures | null
  /** Share of the input tokens of successful calls served from a provider's prompt cache (conversations). */
  cachedInputShare: number
  wallMs: number
}

interface State {
  req: SimRequest
  deadline: number
  attempt: number
  lastModel?: string
  route?: Route
  model?: string
  result?: CallResult
  done: boolean
  ok: boolean
  endMs: number
  cost: number
}

type Ev = { t: number; seq: number; kind: 'start' | 'complete'; s: State }

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]
}

/** A fixed epoch for the legacy port's `Date.now()` during a run (its routing-cache TTL). */
const EPOCH_MS = Date.UTC(2026, 0, 1)

export async function simulate(scenario: Scenario, sideName: SideName, o: SimOptions): Promise<SideRun> {
  const wall0 = performance.now()
  const models = simModels(scenario.quotas)
  const providers = new Providers(scenario, models)
  const requests = scenarioRequests(scenario, o.seed, o.ratePerSec)
  const tokens = new Map<string, number>()
  for (const r of requests) {
    const t = tokens.get(r.context.task)
    if (t !== undefined && t !== r.inputTokens)
      throw new Error(`task ${JSON.stringify(r.context.task)} has ${t} and ${r.inputTokens} tokens`)
    tokens.set(r.context.task, r.inputTokens)
  }
  const tokensOf = (task: string) => {
    const t = tokens.get(task)
    if (t === undefined) throw new RangeError(`no token count for task ${JSON.stringify(task)}`)
    return t
  }
  let now = 0
  const clock = () => now
  // The legacy port reads `Date.now()` for its routing-cache TTL; during the run it reads the
  // virtual clock (restored after). Its timers (30 s metrics, 5 min purge) are real-time and
  // unref'd: they never fire within a run, and the TTL check on every read does not need them.
  const realDateNow = Date.now
  Date.now = () => EPOCH_MS + now
  const side = makeSide(sideName, { models, providers, clock, seed: o.seed, tokensOf, budget: scenario.budget })
  const heap = new MinHeap<Ev>((a, b) => a.t - b.t || a.seq - b.seq)
  let seq = 0
  const push = (t: number, kind: Ev['kind'], s: State) => heap.push({ t, seq: seq++, kind, s })
  const states: State[] = requests.map((req) => ({
    req,
    deadline: req.arrivalMs + o.deadlineMs,
    attempt: 0,
    done: false,
    ok: false,
    endMs: NaN,
    cost: 0,
  }))
  for (const s of states) push(s.req.arrivalMs, 'start', s)
  const attempts: Attempt[] = []
  let rateLimited = 0
  let refused = 0
  const affinity: AffinityFigures = { followUps: 0, kept: 0, share: NaN }
  let inputTokens = 0
  let cachedTokens = 0

  const finish = (s: State, ok: boolean, t: number) => {
    s.done = true
    s.ok = ok
    s.endMs = t
  }
  const retryOrFail = (s: State, t: number) => {
    if (s.attempt < o.maxRetries && t < s.deadline) {
      s.attempt++
      push(t, 'start', s)
    } else finish(s, false, t)
  }

  try {
    try {
      await loop()
    } catch (e) {
      // a router that throws stops the run: say where, so the failure can be replayed
      const err = e as Error
      err.message = `${sideName} side, scenario ${scenario.name}, seed ${o.seed}, at ${now.toFixed(1)} ms of virtual time: ${err.message}`
      throw err
    }
  } finally {
    Date.now = realDateNow
    side.close()
  }
  return summarize(scenario, sideName, o, states, attempts, providers, side.healthEvents, performance.now() - wall0, {
    rateLimited,
    refused,
    cachedInputShare: inputTokens === 0 ? 0 : cachedTokens / inputTokens,
    affinity: requests.some((r) => r.session !== undefined) ? { ...affinity, share: affinity.kept / affinity.followUps } : null,
  })

  async function loop() {
    while (heap.size > 0) {
      const ev = heap.pop()!
      now = ev.t
      const s = ev.s
      if (ev.kind === 'start') {
        if (now >= s.deadline) {
          finish(s, false, s.deadline)
          continue
        }
        const ctx = s.attempt === 0 ? s.req.context : { ...s.req.context, retryCount: s.attempt, previousModel: s.lastModel }
        const route = await side.route(s.req, ctx, now)
        const draws = attemptDraws(o.seed, s.req.id, s.attempt)
        const session = s.req.session
        if (session !== undefined && s.attempt === 0) {
          // a follow-up whose previous turn's model is healthy now: did it stay there?
          const previous = providers.sessionModel(session.id)
          if (previous !== undefined && !providers.faulted(previous, now, s.req.inputTokens + outputTokensOf(draws))) {
            affinity.followUps++
            if (route.model === previous) affinity.kept++
          }
        }
        if (route.refused !== undefined) refused++
        if (route.model === null) {
          // a refusal (budget spent, no window holds the prompt) is the answer: a retry at once
          // would get the same, and the caller is told now
          if (route.refused !== undefined) finish(s, false, now)
          else if (route.waitUntilMs !== undefined && route.waitUntilMs < s.deadline) push(route.waitUntilMs, 'start', s)
          else if (route.waitUntilMs !== undefined) finish(s, false, s.deadline)
          else retryOrFail(s, now) // nothing to send: this attempt fails at once
          continue
        }
        const model = route.model
        const cfg = models.get(model)!
        const faulted = providers.faulted(model, now, s.req.inputTokens + outputTokensOf(draws))
        let result = providers.call(model, now, s.req, draws)
        if (now + result.latencyMs > s.deadline) {
          // the deadline cuts the call: the caller sees a timeout when it expires
          result = {
            ok: false,
            latencyMs: s.deadline - now,
            errorType: 'timeout',
            inputTokens: s.req.inputTokens,
            outputTokens: 0,
            cost: 0,
          }
        }
        if (result.status === 429) rateLimited++
        if (result.ok) {
          inputTokens += result.inputTokens
          cachedTokens += result.cachedTokens ?? 0
        }
        attempts.push({
          model,
          atMs: now,
          faulted,
          status: result.status,
          ok: result.ok,
          cost: result.cost,
          maxCost: (s.req.inputTokens + MAX_OUTPUT_TOKENS) * cfg.costPerToken,
          tooSmallWindow: s.req.inputTokens > cfg.maxTokens,
        })
        s.route = route
        s.model = model
        s.result = result
        s.lastModel = model
        push(now + result.latencyMs, 'complete', s)
      } else {
        const r = s.result!
        side.report(s.route!, s.model!, r)
        if (r.ok) {
          s.cost += r.cost
          finish(s, true, now)
        } else retryOrFail(s, now)
      }
    }
  }
}

/** Is a fault of the script on `model` at `t`, or did one end less than `graceMs` before? */
function faultNear(scenario: Scenario, model: string, t: number, graceMs: number): boolean {
  const windows = [...scenario.outages, ...scenario.brownouts, ...scenario.storms]
  // a quota rejects calls whenever it is full: the whole run is its fault window
  if ((scenario.quotas ?? []).some((q) => q.model === model)) return true
  return windows.some((w) => w.model === model && t >= w.fromMs && t < w.toMs + graceMs)
}

function summarize(
  scenario: Scenario,
  side: SideName,
  o: SimOptions,
  states: State[],
  attempts: Attempt[],
  providers: Providers,
  health: HealthEvent[],
  wallMs: number,
  counted: Pick<SideRun, 'rateLimited' | 'refused' | 'cachedInputShare' | 'affinity'>,
): SideRun {
  const servable = states.filter((s) => providers.servable(s.req))
  // a failed servable request counts as the deadline: the user waited for nothing
  const e2e = (s: State) => (s.ok ? s.endMs - s.req.arrivalMs : o.deadlineMs)
  const lat = Float64Array.from(servable, e2e).sort()
  const successes = servable.filter((s) => s.ok).length
  const cost = states.reduce((sum, s) => sum + s.cost, 0)

  let maxPerProbe: number | null = null
  for (const w of scenario.outages) {
    for (let from = w.fromMs + o.probeIntervalMs; from < w.toMs; from += o.probeIntervalMs) {
      const to = Math.min(w.toMs, from + o.probeIntervalMs)
      const n = attempts.filter((a) => a.model === w.model && a.atMs >= from && a.atMs < to).length
      maxPerProbe = Math.max(maxPerProbe ?? 0, n)
    }
  }
  if (scenario.storms.length > 0) {
    maxPerProbe = Math.max(maxPerProbe ?? 0, ...providers.blocks.map((b) => b.callsInside), 0)
  }

  const series: SideRun['series'] = []
  for (let from = 0; from < scenario.durationMs; from += o.bucketMs) {
    const inBucket = servable.filter((s) => s.req.arrivalMs >= from && s.req.arrivalMs < from + o.bucketMs)
    const l = Float64Array.from(inBucket, e2e).sort()
    series.push([from, inBucket.length === 0 ? NaN : inBucket.filter((s) => s.ok).length / inBucket.length, percentile(l, 0.99)])
  }
  const modelShare: Record<string, number> = {}
  for (const a of attempts) modelShare[a.model] = (modelShare[a.model] ?? 0) + 1

  let budget: BudgetFigures | null = null
  if (scenario.budget !== undefined) {
    const { limit, windowMs } = scenario.budget
    const spend: number[] = []
    const excess: number[] = []
    for (const a of attempts) {
      const w = Math.floor(a.atMs / windowMs)
      spend[w] = (spend[w] ?? 0) + a.cost
      excess[w] = (excess[w] ?? 0) + Math.max(0, a.cost - a.maxCost)
    }
    budget = { limit, windowMs, peakSpend: 0, overspend: 0, beyondReservations: 0 }
    for (let w = 0; w < spend.length; w++) {
      const over = Math.max(0, (spend[w] ?? 0) - limit)
      budget.peakSpend = Math.max(budget.peakSpend, spend[w] ?? 0)
      budget.overspend = Math.max(budget.overspend, over)
      budget.beyondReservations = Math.max(budget.beyondReservations, over - (excess[w] ?? 0))
    }
  }

  return {
    side,
    scenario: scenario.name,
    requests: states.length,
    servable: servable.length,
    successes,
    successRate: servable.length === 0 ? NaN : successes / servable.length,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
    p999Ms: percentile(lat, 0.999),
    costPerSuccess: successes === 0 ? NaN : cost / successes,
    attempts: attempts.length,
    faultedAttempts: attempts.filter((a) => a.faulted).length,
    maxPerProbeInterval: maxPerProbe,
    rateLimited: counted.rateLimited,
    healthyEjections:
      side === 'adaptive'
        ? health.filter((e) => e.from === 'healthy' && e.to !== 'healthy' && !faultNear(scenario, e.modelName, e.atMs, o.deadlineMs)).length
        : null,
    series,
    modelShare,
    tooSmallWindow: attempts.filter((a) => a.tooSmallWindow).length,
    refused: counted.refused,
    quotaPeaks: providers.quotaPeaks(),
    budget,
    affinity: counted.affinity,
    cachedInputShare: counted.cachedInputShare,
    wallMs,
  }
}
