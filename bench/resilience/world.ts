/**
 * The simulated world of the fault simulator: the six models, the seeded request stream, the
 * fault scripts of the scenarios and the providers that answer each call according to them.
 * Everything here is a pure function of the seed and the virtual time: no clock is read.
 */
import { rng } from '../workload'

export type Tier = 'free' | 'pro' | 'enterprise'

export interface ModelConfig {
  name: string
  tier: Tier
  capabilities: string[]
  latencyTarget: number
  costPerToken: number
  maxTokens: number
  /** Requests per 60 s window the provider admits (a scenario's quota; read by the adaptive strategy only). */
  rpm?: number
  /** Tokens per 60 s window the provider admits. */
  tpm?: number
}

/**
 * The contract's six models (names, tiers, capabilities, latency targets and costs as in
 * `bench/router-ops.ts`). `maxTokens` differs per model so that a context-length error has
 * somewhere to go: the three 32k-window models cannot take a long request, the three 1M ones can.
 */
export function simModels(quotas: Quota[] = []): Map<string, ModelConfig> {
  const m = (name: string, tier: Tier, capabilities: string[], latencyTarget: number, costPerToken: number, maxTokens: number) => {
    const cfg: ModelConfig = { name, tier, capabilities, latencyTarget, costPerToken, maxTokens }
    for (const q of quotas) {
      if (q.model !== name) continue
      if (q.rpm !== undefined) cfg.rpm = q.rpm
      if (q.tpm !== undefined) cfg.tpm = q.tpm
    }
    return [name, cfg] as const
  }
  return new Map([
    m('gemini-2.5-deep-think', 'enterprise', ['advanced-reasoning', 'reasoning', 'code'], 8000, 1e-5, 1_048_576),
    m('gemini-2.5-pro', 'pro', ['reasoning', 'code'], 2500, 3.5e-6, 1_048_576),
    m('gemini-pro-vertex', 'enterprise', ['reasoning'], 2000, 5e-6, 32_768),
    m('gemini-2.0-flash-thinking', 'pro', ['reasoning'], 1500, 1e-6, 32_768),
    m('gemini-2.5-flash', 'pro', ['code'], 800, 5e-7, 1_048_576),
    m('gemini-2.0-flash', 'free', [], 600, 2e-7, 32_768),
  ])
}

export const TIER_LEVEL: Record<Tier, number> = { free: 0, pro: 1, enterprise: 2 }

/** Median latency of a healthy call: 0.6 × latencyTarget (as in `bench/workload.ts`), lognormal σ 0.5. */
export const LATENCY_MEDIAN_SHARE = 0.6
export const LATENCY_SIGMA = 0.5
/** Median latency of an error answer (503, 429, 400): the provider answers at once. */
export const ERROR_LATENCY_MS = 80
/** A successful call answers 50–549 output tokens; the app's `max_tokens` is this bound. */
export const MAX_OUTPUT_TOKENS = 550
/** The window of a provider's quota (and of the router's `rpm`/`tpm`). */
export const QUOTA_WINDOW_MS = 60_000
/** A prompt-cache hit bills the cached prefix at this share of the input price (a 75% discount, as Gemini's and Anthropic's caches). */
export const CACHED_INPUT_PRICE_SHARE = 0.25
/** The largest of the small models' context windows: a longer prompt fails there with `context_length`. */
export const SMALL_WINDOW = 32_768

export type CallerError = 'bad_request' | 'context_length' | 'content_policy'

export interface SimRequest {
  id: number
  arrivalMs: number
  context: {
    task: string
    userTier: Tier
    priority: 'low' | 'medium' | 'high' | 'critical'
    latencyRequirement: number
    capabilities?: string[]
    /** A conversation's turns carry their session (affinity under the adaptive strategy; the others ignore it). */
    sessionId?: string
  }
  inputTokens: number
  /** Set on requests that carry a caller's error (scenario "caller-errors"). */
  callerError?: CallerError
  /** A turn of a conversation (scenario "conversations"). */
  session?: SessionTurn
}

export interface SessionTurn {
  id: string
  /** 1 for the opening turn. */
  turn: number
  /** The earlier turns' tokens at the head of this turn's prompt: what a provider's prompt cache holds. */
  prefixTokens: number
}

function pick<T>(rand: () => number, table: Array<[T, number]>): T {
  let u = rand()
  for (const [v, w] of table) if ((u -= w) < 0) return v
  return table[table.length - 1][0]
}

/** Standard normal by Box–Muller from two uniforms. */
export function normal(u1: number, u2: number): number {
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2)
}

const WORDS = (
  'please the a of and to in for with this that data user service request response review write explain ' +
  'summarize translate list compare table report draft email plan test deploy config error log metric ' +
  'code analyze implement optimize algorithm architecture debug complex api database security function'
).split(' ')

interface Prompt {
  task: string
  userTier: Tier
  priority: SimRequest['context']['priority']
  latencyRequirement: number
  capabilities?: string[]
  inputTokens: number
}

function makePrompts(n: number, rand: () => number): Prompt[] {
  const out: Prompt[] = []
  for (let i = 0; i < n; i++) {
    const words = 6 + Math.floor(rand() * 40)
    let task = `#${i}`
    for (let k = 0; k < words; k++) task += ` ${WORDS[Math.floor(rand() * WORDS.length)]}`
    out.push({
      task,
      userTier: pick<Tier>(rand, [
        ['free', 0.3],
        ['pro', 0.5],
        ['enterprise', 0.2],
      ]),
      priority: pick(rand, [
        ['low', 0.3],
        ['medium', 0.45],
        ['high', 0.2],
        ['critical', 0.05],
      ]),
      latencyRequirement: pick(rand, [
        [500, 0.15],
        [1000, 0.2],
        [2000, 0.4],
        [5000, 0.25],
      ]),
      capabilities: pick<string[] | undefined>(rand, [
        [undefined, 0.5],
        [['code'], 0.25],
        [['reasoning'], 0.2],
        [['code', 'reasoning'], 0.05],
      ]),
      inputTokens: Math.round(200 * Math.exp(1.0 * normal(rand(), rand()))) + 20,
    })
  }
  return out
}

/**
 * A prompt of 40k–60k tokens (a long document attached): too long for the 32k windows. Its
 * task text says so, so that the token count is a function of the text, as a tokenizer's is.
 */
function longPrompt(task: string, u: number): { task: string; inputTokens: number } {
  const inputTokens = 40_000 + Math.floor(u * 20_000)
  return { task: `${task} [attached document: ${inputTokens} tokens]`, inputTokens }
}

/**
 * The request stream: Poisson arrivals at `ratePerSec` over `durationMs`, prompts drawn
 * Zipf-like from a pool of 400 (so routing caches see repeats), and, when `callerErrorShare`
 * is set, that share of requests carrying a caller's error (4 : 3 : 3 bad_request :
 * context_length : content_policy); when `oversizedShare` is set, that share of the others carry
 * a 40k–60k-token document (no caller's error: the 1M-window models serve them). Each
 * property has its own random stream, so the arrivals and prompts are the same in every
 * scenario of a seed.
 */
export function makeRequests(
  seed: number,
  ratePerSec: number,
  durationMs: number,
  callerErrorShare: number,
  oversizedShare = 0,
): SimRequest[] {
  const arrivals = rng(seed)
  const prompts = makePrompts(400, rng(seed + 1))
  const choose = rng(seed + 2)
  const errors = rng(seed + 3)
  const longs = rng(seed + 4)
  // P(k) ∝ 1/(k+1)^1.1 over the pool, by inversion of the cumulative weights
  const cdf: number[] = []
  let sum = 0
  for (let k = 0; k < prompts.length; k++) cdf.push((sum += 1 / (k + 1) ** 1.1))
  const out: SimRequest[] = []
  let t = 0
  for (let id = 0; ; id++) {
    t += (-Math.log(1 - arrivals()) / ratePerSec) * 1000
    if (t >= durationMs) break
    const u = choose() * sum
    let lo = 0
    let hi = prompts.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] < u) lo = mid + 1
      else hi = mid
    }
    const p = prompts[lo]
    const e = errors()
    const kind = errors()
    let callerError: CallerError | undefined
    if (e < callerErrorShare) callerError = kind < 0.4 ? 'bad_request' : kind < 0.7 ? 'context_length' : 'content_policy'
    let prompt = { task: p.task, inputTokens: p.inputTokens }
    // a context-length error: a request of 40k–60k tokens, too long for a 32k window
    if (callerError === 'context_length') prompt = longPrompt(p.task, errors())
    const l = longs()
    const lu = longs()
    if (callerError === undefined && l < oversizedShare) prompt = longPrompt(p.task, lu)
    out.push({
      id,
      arrivalMs: t,
      context: {
        task: prompt.task,
        userTier: p.userTier,
        priority: p.priority,
        latencyRequirement: p.latencyRequirement,
        capabilities: p.capabilities,
      },
      inputTokens: prompt.inputTokens,
      callerError,
    })
  }
  return out
}

/** Conversations: sessions of `minTurns`–`maxTurns` turns, `gapMs` apart (uniform). */
export interface Conversations {
  minTurns: number
  maxTurns: number
  gapMs: [number, number]
}

/**
 * The request stream of conversations: sessions start as a Poisson process (from one
 * session length before 0, so the run opens on conversations already going; their earlier
 * turns are not sent), at the rate that gives `ratePerSec` requests. A session keeps its
 * user's tier, priority, latency requirement and capabilities; each turn adds a new message
 * (20 + a lognormal of median 200 tokens) to the history, and its prompt is the whole
 * history: the earlier messages and the replies (50–549 tokens, drawn with the session so
 * that every side sends the same prompts). Turns are `gapMs` apart whatever the answers'
 * latency (the arrivals are the same on every side). Request ids follow arrival order.
 */
export function makeConversations(seed: number, ratePerSec: number, durationMs: number, c: Conversations): SimRequest[] {
  const starts = rng(seed + 5)
  const sessions = rng(seed + 6)
  const meanTurns = (c.minTurns + c.maxTurns) / 2
  const lead = c.maxTurns * c.gapMs[1]
  const turns: Array<Omit<SimRequest, 'id'>> = []
  let t = -lead
  for (let sid = 0; ; sid++) {
    t += (-Math.log(1 - starts()) / (ratePerSec / meanTurns)) * 1000
    if (t >= durationMs) break
    const [p] = makePrompts(1, sessions)
    const n = c.minTurns + Math.floor(sessions() * (c.maxTurns - c.minTurns + 1))
    let at = t
    let history = 0
    for (let k = 1; k <= n; k++) {
      const message = Math.round(200 * Math.exp(normal(sessions(), sessions()))) + 20
      const reply = 50 + Math.floor(sessions() * (MAX_OUTPUT_TOKENS - 50))
      let task = `s${sid}.${k}`
      const words = 6 + Math.floor(sessions() * 40)
      for (let w = 0; w < words; w++) task += ` ${WORDS[Math.floor(sessions() * WORDS.length)]}`
      if (at >= 0 && at < durationMs) {
        turns.push({
          arrivalMs: at,
          context: {
            task,
            userTier: p.userTier,
            priority: p.priority,
            latencyRequirement: p.latencyRequirement,
            capabilities: p.capabilities,
            sessionId: `s${sid}`,
          },
          inputTokens: history + message,
          session: { id: `s${sid}`, turn: k, prefixTokens: history },
        })
      }
      history += message + reply
      at += c.gapMs[0] + sessions() * (c.gapMs[1] - c.gapMs[0])
    }
  }
  turns.sort((a, b) => a.arrivalMs - b.arrivalMs)
  return turns.map((r, id) => ({ id, ...r }))
}

/** A model answers 503 from `fromMs` to `toMs`. */
export interface Outage {
  model: string
  fromMs: number
  toMs: number
}
/** A model is `factor`× slower from `fromMs` to `toMs`. */
export interface Brownout {
  model: string
  fromMs: number
  toMs: number
  factor: number
}
/**
 * From `fromMs` to `toMs` a model admits `quotaPerSec` calls per wall-clock second; the call
 * over it gets a 429 with Retry-After `retryAfterMs`, and every call inside that Retry-After
 * gets a 429 too (with the time left, rounded up to whole seconds as the header is).
 */
export interface RateLimitStorm {
  model: string
  fromMs: number
  toMs: number
  quotaPerSec: number
  retryAfterMs: number
}

/**
 * A model's quota at its provider: a sliding 60 s window admits `rpm` calls and `tpm` tokens;
 * a call over either gets a 429 with Retry-After until the window has room. The model's
 * config carries the same `rpm`/`tpm` (the adaptive strategy reads them, the others do not).
 */
export interface Quota {
  model: string
  rpm?: number
  tpm?: number
}

/** The busiest 60 s window of a model with a quota, as its provider counted it. */
export interface QuotaPeak {
  model: string
  rpm?: number
  tpm?: number
  requests: number
  tokens: number
}

/** A global spending budget (`router.setBudget({ scope: 'global', … })` on the adaptive side, from time 0). */
export interface BudgetSpec {
  limit: number
  windowMs: number
}

export interface Scenario {
  name: string
  description: string
  durationMs: number
  outages: Outage[]
  brownouts: Brownout[]
  storms: RateLimitStorm[]
  callerErrorShare: number
  quotas?: Quota[]
  budget?: BudgetSpec
  /** Share of requests with a 40k–60k-token prompt (no caller's error: the 1M-window models take them). */
  oversizedShare?: number
  /** Conversations instead of independent requests. */
  conversations?: Conversations
  /** The window shaded on the chart (the first fault), if any. */
  chartWindow?: [number, number]
}

/**
 * The faulted model: the one the legacy router sends the most paid-tier traffic to in steady
 * state (44% of all calls). The free tier's only model, gemini-2.0-flash, gets more, but a
 * fault on it leaves free users nowhere to go (see docs/resilience.md).
 */
export const TOP_MODEL = 'gemini-2.5-flash'

/**
 * What `strategy: "legacy"` sends to TOP_MODEL in steady state, per request of the stream
 * (measured with seed 42: 0.44 calls, 0.44 × 650 tokens): the quota of the "rate-limited"
 * scenario is half of it, so demand is twice the quota.
 */
export const TOP_MODEL_CALLS_PER_REQUEST = 0.44
export const TOP_MODEL_TOKENS_PER_CALL = 650
/** What `strategy: "legacy"` spends per request in steady state (measured with seed 42: $0.203 per 1k). */
export const LEGACY_COST_PER_REQUEST = 2.03e-4

/** The scenarios; the capacity ones scale their quota and budget with the arrival rate. */
export function scenarios(ratePerSec = 20): Scenario[] {
  const S = 1000
  const perMinute = ratePerSec * 60
  const rpm = Math.round((perMinute * TOP_MODEL_CALLS_PER_REQUEST) / 2)
  const tpm = Math.round((perMinute * TOP_MODEL_CALLS_PER_REQUEST * TOP_MODEL_TOKENS_PER_CALL) / 2)
  const budget = Number(((perMinute * LEGACY_COST_PER_REQUEST) / 2).toPrecision(3))
  const flaps: Outage[] = []
  // down 10 s, up 20 s, from 30 s to 270 s
  for (let t = 30 * S; t < 270 * S; t += 30 * S) flaps.push({ model: TOP_MODEL, fromMs: t, toMs: t + 10 * S })
  const base = { durationMs: 300 * S, outages: [], brownouts: [], storms: [], callerErrorShare: 0 }
  return [
    { ...base, name: 'steady', description: 'no fault' },
    {
      ...base,
      name: 'outage',
      description: `${TOP_MODEL} answers 503 from 120 s to 180 s`,
      outages: [{ model: TOP_MODEL, fromMs: 120 * S, toMs: 180 * S }],
      chartWindow: [120 * S, 180 * S],
    },
    {
      ...base,
      name: 'rate-limit-storm',
      description: `${TOP_MODEL} admits 2 calls/s from 60 s to 180 s; over that, 429 with Retry-After 5 s`,
      storms: [{ model: TOP_MODEL, fromMs: 60 * S, toMs: 180 * S, quotaPerSec: 2, retryAfterMs: 5 * S }],
      chartWindow: [60 * S, 180 * S],
    },
    {
      ...base,
      name: 'brownout',
      description: `${TOP_MODEL} 10× slower from 120 s to 150 s`,
      brownouts: [{ model: TOP_MODEL, fromMs: 120 * S, toMs: 150 * S, factor: 10 }],
      chartWindow: [120 * S, 150 * S],
    },
    {
      ...base,
      name: 'flapping',
      description: `${TOP_MODEL} answers 503 for 10 s of every 30 s from 30 s to 270 s`,
      outages: flaps,
      chartWindow: [30 * S, 40 * S],
    },
    {
      ...base,
      name: 'caller-errors',
      description: '10% of requests carry a caller error (400 / context_length / content_policy), no provider fault',
      callerErrorShare: 0.1,
    },
    {
      ...base,
      name: 'rate-limited',
      description: `${TOP_MODEL} has rpm ${rpm} and tpm ${tpm.toLocaleString('en-US')} (half its demand); over either, its provider answers 429`,
      quotas: [{ model: TOP_MODEL, rpm, tpm }],
    },
    {
      ...base,
      name: 'budget',
      description: `a global budget of $${budget} per 60 s, half what \`strategy: "legacy"\` spends`,
      budget: { limit: budget, windowMs: 60 * S },
    },
    {
      ...base,
      name: 'oversized-prompts',
      description: '10% of requests carry a 40k–60k-token document: too long for the 32k windows',
      oversizedShare: 0.1,
    },
    {
      ...base,
      name: 'conversations',
      description: `sessions of 5–20 turns, 5–20 s apart; a follow-up on the model of the previous turn bills its history at ${CACHED_INPUT_PRICE_SHARE * 100}% (prompt cache)`,
      conversations: { minTurns: 5, maxTurns: 20, gapMs: [5 * S, 20 * S] },
    },
  ]
}

export interface CallResult {
  ok: boolean
  latencyMs: number
  status?: number
  errorType?: 'rate_limit' | 'overloaded' | 'server' | 'timeout' | CallerError
  retryAfterMs?: number
  inputTokens: number
  outputTokens: number
  cost: number
  /** Input tokens served from the provider's prompt cache (billed at CACHED_INPUT_PRICE_SHARE). */
  cachedTokens?: number
}

/** The request stream of a scenario. */
export function scenarioRequests(scenario: Scenario, seed: number, ratePerSec: number): SimRequest[] {
  if (scenario.conversations !== undefined) return makeConversations(seed, ratePerSec, scenario.durationMs, scenario.conversations)
  return makeRequests(seed, ratePerSec, scenario.durationMs, scenario.callerErrorShare, scenario.oversizedShare ?? 0)
}

/** The per-attempt random draws, the same on every side: [latency u1, latency u2, output tokens u]. */
export type Draws = [number, number, number]

/** The output tokens of a successful call with these draws: 50–549. */
export function outputTokensOf(draws: Draws): number {
  return 50 + Math.floor(draws[2] * (MAX_OUTPUT_TOKENS - 50))
}

export function attemptDraws(seed: number, requestId: number, attempt: number): Draws {
  const r = rng((Math.imul(seed, 1_000_003) + requestId * 8 + attempt) >>> 0)
  return [r(), r(), r()]
}

/**
 * One Retry-After period a provider announced: [start, end), when its 429 reached the caller,
 * and the calls made inside it from then on (calls sent while that 429 was still on its way
 * could not have known of it).
 */
export interface RetryAfterBlock {
  model: string
  fromMs: number
  toMs: number
  answeredAtMs: number
  callsInside: number
}

/**
 * The providers of one scenario on one side: answers calls as the fault script says, and
 * holds the state a rate-limit storm needs (calls in the current second, the open
 * Retry-After). A fresh instance per side keeps the sides independent.
 */
export class Providers {
  private readonly quotaSecond = new Map<string, number>()
  private readonly quotaUsed = new Map<string, number>()
  private readonly openBlock = new Map<string, RetryAfterBlock>()
  readonly blocks: RetryAfterBlock[] = []
  private readonly quotas = new Map<string, Quota>()
  /** Per model with a quota: the calls it admitted in the last 60 s, [time, tokens], oldest first. */
  private readonly admitted = new Map<string, Array<[number, number]>>()
  /** Per model with a quota: every call sent to it, [time, tokens], in time order (for the overshoot). */
  readonly sent = new Map<string, Array<[number, number]>>()
  /** Per session: the model that answered its last turn, whose prompt cache holds the history. */
  private readonly served = new Map<string, string>()

  constructor(
    readonly scenario: Scenario,
    readonly models: Map<string, ModelConfig>,
  ) {
    for (const q of scenario.quotas ?? []) {
      this.quotas.set(q.model, q)
      this.admitted.set(q.model, [])
      this.sent.set(q.model, [])
    }
  }

  /**
   * The earliest time ≥ t at which `model`'s quota admits a call of `tokens`: `t` when it
   * does now or the model has no quota. (A call larger than the whole `tpm` is let through
   * once the window is empty.)
   */
  quotaClearsAt(model: string, t: number, tokens: number): number {
    const q = this.quotas.get(model)
    if (q === undefined) return t
    const log = this.admitted.get(model)!
    let i = 0
    while (i < log.length && log[i][0] + QUOTA_WINDOW_MS <= t) i++
    let n = log.length - i
    let used = 0
    for (let k = i; k < log.length; k++) used += log[k][1]
    let at = t
    while (i < log.length && ((q.rpm !== undefined && n + 1 > q.rpm) || (q.tpm !== undefined && used + tokens > q.tpm))) {
      at = log[i][0] + QUOTA_WINDOW_MS
      used -= log[i][1]
      n--
      i++
    }
    return at
  }

  /** The model that answered session `id`'s last turn, if any. */
  sessionModel(id: string): string | undefined {
    return this.served.get(id)
  }

  /**
   * Per model with a quota: the most requests and the most tokens sent to it (admitted or
   * not) in any 60 s window, next to its `rpm` and `tpm`.
   */
  quotaPeaks(): QuotaPeak[] {
    const out: QuotaPeak[] = []
    for (const [model, q] of this.quotas) {
      const log = this.sent.get(model)!
      let requests = 0
      let tokens = 0
      let sum = 0
      let j = 0
      // windows [t, t + 60 s): the busiest one starts at a call
      for (let i = 0; i < log.length; i++) {
        while (j < log.length && log[j][0] < log[i][0] + QUOTA_WINDOW_MS) sum += log[j++][1]
        requests = Math.max(requests, j - i)
        tokens = Math.max(tokens, sum)
        sum -= log[i][1]
      }
      out.push({ model, rpm: q.rpm, tpm: q.tpm, requests, tokens })
    }
    return out
  }

  private storm(model: string, t: number): RateLimitStorm | undefined {
    return this.scenario.storms.find((s) => s.model === model && t >= s.fromMs && t < s.toMs)
  }

  isDown(model: string, t: number): boolean {
    return this.scenario.outages.some((o) => o.model === model && t >= o.fromMs && t < o.toMs)
  }

  slowFactor(model: string, t: number): number {
    let f = 1
    for (const b of this.scenario.brownouts) if (b.model === model && t >= b.fromMs && t < b.toMs) f *= b.factor
    return f
  }

  /**
   * Would a call to `model` at `t` (of `tokens`, for a quota) meet a fault (503, a 429, a
   * brownout)? The oracle's view, and the metric's.
   */
  faulted(model: string, t: number, tokens = 0): boolean {
    if (this.isDown(model, t) || this.slowFactor(model, t) > 1) return true
    if (this.quotaClearsAt(model, t, tokens) > t) return true
    const storm = this.storm(model, t)
    if (storm === undefined) return false
    const block = this.openBlock.get(model)
    if (block !== undefined && t < block.toMs) return true
    const second = Math.floor(t / 1000)
    return this.quotaSecond.get(model) === second && (this.quotaUsed.get(model) ?? 0) >= storm.quotaPerSec
  }

  /** The earliest time ≥ t at which `model` is no longer faulted by the script (a storm's quota aside). */
  clearsAt(model: string, t: number, tokens = 0): number {
    let at = t
    for (let changed = true; changed; ) {
      changed = false
      const quota = this.quotaClearsAt(model, at, tokens)
      if (quota > at) (at = quota), (changed = true)
      for (const o of this.scenario.outages) if (o.model === model && at >= o.fromMs && at < o.toMs) (at = o.toMs), (changed = true)
      for (const b of this.scenario.brownouts) if (b.model === model && at >= b.fromMs && at < b.toMs) (at = b.toMs), (changed = true)
      const block = this.openBlock.get(model)
      if (block !== undefined && at < block.toMs) (at = block.toMs), (changed = true)
      const storm = this.storm(model, at)
      if (
        storm !== undefined &&
        this.quotaSecond.get(model) === Math.floor(at / 1000) &&
        (this.quotaUsed.get(model) ?? 0) >= storm.quotaPerSec
      ) {
        at = (Math.floor(at / 1000) + 1) * 1000
        changed = true
      }
    }
    return at
  }

  /** A call to `model` sent at `t` for request `req`, with the request's draws for this attempt. */
  call(model: string, t: number, req: SimRequest, draws: Draws): CallResult {
    const r = this.answer(model, t, req, draws)
    this.sent.get(model)?.push([t, r.inputTokens + r.outputTokens])
    return r
  }

  private answer(model: string, t: number, req: SimRequest, draws: Draws): CallResult {
    const cfg = this.models.get(model)!
    const fast = ERROR_LATENCY_MS * Math.exp(0.3 * normal(draws[0], draws[1]))
    const fail = (status: number, errorType: CallResult['errorType'], retryAfterMs?: number): CallResult => ({
      ok: false,
      latencyMs: fast,
      status,
      errorType,
      retryAfterMs,
      inputTokens: req.inputTokens,
      outputTokens: 0,
      cost: 0,
    })
    // the caller's errors: every model refuses these the same way
    if (req.callerError === 'bad_request') return fail(400, 'bad_request')
    if (req.callerError === 'content_policy') return fail(400, 'content_policy')
    if (req.inputTokens > cfg.maxTokens) return fail(400, 'context_length')
    if (this.isDown(model, t)) return fail(503, 'overloaded')
    const storm = this.storm(model, t)
    if (storm !== undefined) {
      const block = this.openBlock.get(model)
      if (block !== undefined && t < block.toMs) {
        if (t >= block.answeredAtMs) block.callsInside++
        return fail(429, 'rate_limit', Math.ceil((block.toMs - t) / 1000) * 1000)
      }
      const second = Math.floor(t / 1000)
      if (this.quotaSecond.get(model) !== second) {
        this.quotaSecond.set(model, second)
        this.quotaUsed.set(model, 0)
      }
      const used = this.quotaUsed.get(model)!
      if (used >= storm.quotaPerSec) {
        const b: RetryAfterBlock = { model, fromMs: t, toMs: t + storm.retryAfterMs, answeredAtMs: t + fast, callsInside: 0 }
        this.openBlock.set(model, b)
        this.blocks.push(b)
        return fail(429, 'rate_limit', storm.retryAfterMs)
      }
      this.quotaUsed.set(model, used + 1)
    }
    const outputTokens = outputTokensOf(draws)
    if (this.quotas.has(model)) {
      const at = this.quotaClearsAt(model, t, req.inputTokens + outputTokens)
      if (at > t) return fail(429, 'rate_limit', Math.ceil((at - t) / 1000) * 1000)
      const log = this.admitted.get(model)!
      while (log.length > 0 && log[0][0] + QUOTA_WINDOW_MS <= t) log.shift()
      log.push([t, req.inputTokens + outputTokens])
    }
    const median = cfg.latencyTarget * LATENCY_MEDIAN_SHARE
    const latencyMs = median * Math.exp(LATENCY_SIGMA * normal(draws[0], draws[1])) * this.slowFactor(model, t)
    let billedInput = req.inputTokens
    let cachedTokens = 0
    if (req.session !== undefined) {
      // the provider's prompt cache holds the history when this model answered the previous turn
      if (this.served.get(req.session.id) === model) cachedTokens = req.session.prefixTokens
      billedInput -= (1 - CACHED_INPUT_PRICE_SHARE) * cachedTokens
      this.served.set(req.session.id, model)
    }
    return {
      ok: true,
      latencyMs,
      inputTokens: req.inputTokens,
      outputTokens,
      cost: (billedInput + outputTokens) * cfg.costPerToken,
      cachedTokens,
    }
  }

  /** Can some model of the request's tier serve it at all (the caller's errors aside from context length)? */
  servable(req: SimRequest): boolean {
    if (req.callerError === 'bad_request' || req.callerError === 'content_policy') return false
    const level = TIER_LEVEL[req.context.userTier]
    for (const m of this.models.values()) if (TIER_LEVEL[m.tier] <= level && m.maxTokens >= req.inputTokens) return true
    return false
  }
}
