/**
 * The sides the fault simulator compares, each behind the same small interface: route one
 * attempt of a request, then hear its outcome. Each side keeps the reporting habit it stands
 * for: the legacy port and native `strategy: "legacy"` hear successes only (the codebase's
 * `recordPerformance(model, latency, true, …)`), the adaptive router hears every outcome
 * (`reportOutcome`), the LiteLLM-rules policy counts failures per minute, and the oracle
 * reads the fault script.
 */
import { ModelRouter as NativeRouter } from 'model-router-native'

import { ModelRouter as LegacyRouter } from 'model-router-legacy-ports'
import { LiteLLMRules } from './litellm-rules'
import { rng } from '../workload'
import { MAX_OUTPUT_TOKENS, TIER_LEVEL, type BudgetSpec, type CallResult, type ModelConfig, type Providers, type SimRequest } from './world'

export type SideName = 'legacy-port' | 'native-legacy' | 'adaptive' | 'litellm-rules' | 'oracle'
export const SIDE_NAMES: SideName[] = ['legacy-port', 'native-legacy', 'adaptive', 'litellm-rules', 'oracle']

export type RetryContext = SimRequest['context'] & { retryCount?: number; previousModel?: string }

export interface Route {
  /** The model to call; null: the side sends nothing (no deployment left, or nothing the oracle would call). */
  model: string | null
  /** The oracle's choice to hold the attempt until a fault it knows of clears. */
  waitUntilMs?: number
  /** What the router resolved with (handed back to `reportOutcome`). */
  decision?: unknown
  /** The router refused the request (`ERR_BUDGET_EXCEEDED`, `ERR_NO_ELIGIBLE_MODEL`): its code; the request fails at once. */
  refused?: string
}

export interface HealthEvent {
  atMs: number
  modelName: string
  from: string
  to: string
  reason: string
  untilMs?: number
}

export interface Side {
  readonly name: SideName
  route(req: SimRequest, ctx: RetryContext, nowMs: number): Promise<Route>
  report(route: Route, model: string, result: CallResult): void
  /** `model_health_changed` events (adaptive only). */
  readonly healthEvents: HealthEvent[]
  close(): void
}

export interface SideEnv {
  models: Map<string, ModelConfig>
  providers: Providers
  clock: () => number
  seed: number
  /** The application's tokenizer: a task's input tokens (the adaptive side's `estimateTokens`). */
  tokensOf: (task: string) => number
  /** A global budget to set on the routers that take one (adaptive). */
  budget?: BudgetSpec
}

/** Why a side cannot run in this build, or null. */
export function unavailable(name: SideName): string | null {
  if (name !== 'adaptive') return null
  try {
    const r = new NativeRouter({ strategy: 'adaptive', clock: () => 0, seed: 1 } as any)
    r.shutdown()
    return null
  } catch (e) {
    return `this build of model-router-native refuses \`strategy: "adaptive"\` (${(e as Error).name}: ${(e as Error).message})`
  }
}

/** The codebase's success-only report: `recordPerformance(model, latency, true, cost, tokens)`. */
function successOnly(
  router: { recordPerformance(m: string, l: number, s: boolean, c: number, t?: unknown): void },
  model: string,
  r: CallResult,
) {
  if (r.ok)
    router.recordPerformance(model, r.latencyMs, true, r.cost, {
      input: r.inputTokens,
      output: r.outputTokens,
      total: r.inputTokens + r.outputTokens,
    })
}

export function makeSide(name: SideName, env: SideEnv): Side {
  const healthEvents: HealthEvent[] = []
  switch (name) {
    case 'legacy-port': {
      const router = new LegacyRouter()
      return {
        name,
        healthEvents,
        async route(_req, ctx) {
          const d = await router.selectOptimalModel(ctx, env.models as Map<string, any>)
          return { model: d.modelName }
        },
        report: (_route, model, r) => successOnly(router, model, r),
        close: () => router.dispose(),
      }
    }
    case 'native-legacy':
    case 'adaptive': {
      // options and `reportOutcome` go through `any`: this file compiles against builds with and without the adaptive strategy
      const options =
        name === 'adaptive'
          ? // the app knows its prompts' token counts and its `max_tokens`: the reservations against
            // windows, quotas and budgets are what the call can use at most
            { strategy: 'adaptive', clock: env.clock, seed: env.seed, estimateTokens: env.tokensOf, defaultOutputTokens: MAX_OUTPUT_TOKENS }
          : { strategy: 'legacy', clock: env.clock, seed: env.seed }
      const router = new NativeRouter(options as any)
      if (name === 'adaptive') {
        router.on('model_health_changed', (e: any) =>
          healthEvents.push({ atMs: env.clock(), modelName: e.modelName, from: e.from, to: e.to, reason: e.reason, untilMs: e.untilMs }),
        )
        if (env.budget !== undefined) (router as any).setBudget({ scope: 'global', ...env.budget })
      }
      return {
        name,
        healthEvents,
        async route(_req, ctx) {
          try {
            const d = await router.selectOptimalModel(ctx as any, env.models as Map<string, any>)
            return { model: d.modelName, decision: d }
          } catch (e) {
            const err = e as { code?: string }
            // the budget is spent, or no window holds the prompt: the request is refused
            if (err.code === 'ERR_BUDGET_EXCEEDED' || err.code === 'ERR_NO_ELIGIBLE_MODEL') return { model: null, refused: err.code }
            throw e
          }
        },
        report(route, model, r) {
          if (name !== 'adaptive') return successOnly(router, model, r)
          ;(router as any).reportOutcome(route.decision, {
            ok: r.ok,
            latencyMs: r.latencyMs,
            status: r.status,
            errorType: r.errorType,
            retryAfterMs: r.retryAfterMs,
            inputTokens: r.inputTokens,
            outputTokens: r.outputTokens,
            cost: r.cost,
          })
        },
        close: () => router.shutdown(),
      }
    }
    case 'litellm-rules': {
      const rules = new LiteLLMRules(env.models, env.clock, rng(env.seed ^ 0x5eed))
      return {
        name,
        healthEvents,
        async route(req) {
          return { model: rules.pick(req.context.userTier) }
        },
        report(_route, model, r) {
          if (r.ok) rules.success(model)
          else rules.failure(model, (env.models.get(model) as ModelConfig).tier, r.status ?? (r.errorType === 'timeout' ? 408 : 500))
        },
        close() {},
      }
    }
    case 'oracle': {
      // The codebase's preference (native `strategy: "legacy"`, success-only reports), overridden
      // whenever the fault script says the preferred model would fail or be slow right now.
      const router = new NativeRouter({ strategy: 'legacy', clock: env.clock, seed: env.seed } as any)
      const fits = (m: ModelConfig, req: SimRequest) =>
        TIER_LEVEL[m.tier] <= TIER_LEVEL[req.context.userTier] && m.maxTokens >= req.inputTokens
      return {
        name,
        healthEvents,
        async route(req, ctx, now) {
          const d = await router.selectOptimalModel(ctx as any, env.models as Map<string, any>)
          const preferred = env.models.get(d.modelName)
          // a quota is judged for the largest call the request can make
          const tokens = req.inputTokens + MAX_OUTPUT_TOKENS
          if (preferred !== undefined && fits(preferred, req) && !env.providers.faulted(preferred.name, now, tokens))
            return { model: preferred.name }
          const need = req.context.capabilities ?? []
          let best: ModelConfig | undefined
          let bestKey = Infinity
          let clears = Infinity
          for (const m of env.models.values()) {
            if (!fits(m, req)) continue
            if (env.providers.faulted(m.name, now, tokens)) {
              clears = Math.min(clears, env.providers.clearsAt(m.name, now, tokens))
              continue
            }
            // a model with every capability asked for first, then the fastest
            const key = (need.every((c) => m.capabilities.includes(c)) ? 0 : 1e9) + m.latencyTarget
            if (key < bestKey) (bestKey = key), (best = m)
          }
          if (best !== undefined) return { model: best.name }
          return { model: null, waitUntilMs: clears }
        },
        report: (_route, model, r) => successOnly(router, model, r),
        close: () => router.shutdown(),
      }
    }
  }
}
