/**
 * The numbers the router's layer shares with its binding (status codes, the slots of the
 * `out` array, decision kinds, picks and flags, the outcome, replay and `live` record layouts),
 * read once from the addon when the package loads. They are defined in `src/router_layout.rs`
 * only: reading them from the loaded addon (rather than from a file generated at build time)
 * means the layer always uses the numbers of the binary it talks to.
 */
import { native } from './native'

/** `layout[name]`, or an error naming it: an addon without it is not this package's. */
export function layoutNumber(layout: Record<string, number>, name: string): number {
  const v = layout[name]
  if (typeof v !== 'number') throw new Error(`model-router-native: the addon has no router layout constant ${name} (rebuild it)`)
  return v
}

const layout = native.routerLayout()
const n = (name: string) => layoutNumber(layout, name)

// Status codes of a routing call.
export const NO_MODELS = n('NO_MODELS')
export const NO_ELIGIBLE_MODEL = n('NO_ELIGIBLE_MODEL')
export const NO_HEALTHY_MODEL = n('NO_HEALTHY_MODEL')
export const ENTRY_GONE = n('ENTRY_GONE')
export const NO_MODEL_FITS_WINDOW = n('NO_MODEL_FITS_WINDOW')
export const BUDGET_EXCEEDED = n('BUDGET_EXCEEDED')

// `out`: the decision, then what the layer writes before a routing call.
export const OUT_LEN = n('OUT_LEN')
export const OUT_MODEL = n('OUT_MODEL')
export const OUT_CONFIDENCE = n('OUT_CONFIDENCE')
export const OUT_KIND = n('OUT_KIND')
export const OUT_A = n('OUT_A')
export const OUT_B = n('OUT_B')
export const OUT_ROUTING_MS = n('OUT_ROUTING_MS')
export const OUT_CACHE_ID = n('OUT_CACHE_ID')
export const OUT_FLAGS = n('OUT_FLAGS')
export const OUT_FRESH_MS = n('OUT_FRESH_MS')
export const OUT_DECISION_ID = n('OUT_DECISION_ID')
export const OUT_PICK = n('OUT_PICK')
export const OUT_UNTIL = n('OUT_UNTIL')
export const OUT_EVENTS = n('OUT_EVENTS')
export const OUT_NOW = n('OUT_NOW')
export const OUT_PREVIOUS = n('OUT_PREVIOUS')
export const OUT_RETRY = n('OUT_RETRY')
export const OUT_OUTCOMES = n('OUT_OUTCOMES')
export const OUT_INPUT_TOKENS = n('OUT_INPUT_TOKENS')
export const OUT_SESSION_MODEL = n('OUT_SESSION_MODEL')
export const OUT_SESSION_HOME = n('OUT_SESSION_HOME')
/** `routerSelectPlain`'s inputs, over the decision slots. */
export const IN_SLOT = n('IN_SLOT')
export const IN_LATENCY = n('IN_LATENCY')
/** `routerRoutingPerformance`'s output, over the decision slots. */
export const PERF_AVERAGE = n('PERF_AVERAGE')
export const PERF_MAX = n('PERF_MAX')
export const PERF_P95 = n('PERF_P95')
export const PERF_HIT_RATE = n('PERF_HIT_RATE')

// `out[OUT_KIND]` and `out[OUT_FLAGS]`.
export const KIND_CACHE_HIT = n('KIND_CACHE_HIT')
export const KIND_SCORED = n('KIND_SCORED')
export const KIND_BALANCED = n('KIND_BALANCED')
export const KIND_NO_CANDIDATES = n('KIND_NO_CANDIDATES')
export const KIND_ADAPTIVE = n('KIND_ADAPTIVE')
// `out[OUT_PICK]`: how an adaptive pick was made.
export const PICK_PREFERRED = n('PICK_PREFERRED')
export const PICK_BALANCED = n('PICK_BALANCED')
export const PICK_PROBE = n('PICK_PROBE')
export const PICK_CLOSEST = n('PICK_CLOSEST')
export const PICK_AFFINITY = n('PICK_AFFINITY')
export const FLAG_METRICS_DUE = n('FLAG_METRICS_DUE')
export const FLAG_SLOW = n('FLAG_SLOW')
export const FLAG_EVICTED = n('FLAG_EVICTED')
export const FLAG_FROM_CACHE = n('FLAG_FROM_CACHE')

// A buffered outcome: `OUTCOME_LEN` numbers.
export const OUTCOME_LEN = n('OUTCOME_LEN')
export const OUTCOME_NAME_ID = n('OUTCOME_NAME_ID')
export const OUTCOME_LATENCY = n('OUTCOME_LATENCY')
export const OUTCOME_SUCCESS = n('OUTCOME_SUCCESS')
export const OUTCOME_COST = n('OUTCOME_COST')
export const OUTCOME_OUTPUT_TOKENS = n('OUTCOME_OUTPUT_TOKENS')
export const OUTCOME_TOTAL_TOKENS = n('OUTCOME_TOTAL_TOKENS')
export const OUTCOME_EPOCH_MS = n('OUTCOME_EPOCH_MS')
export const OUTCOME_DECISION_ID = n('OUTCOME_DECISION_ID')
export const OUTCOME_CLASS = n('OUTCOME_CLASS')
export const OUTCOME_RETRY_AFTER = n('OUTCOME_RETRY_AFTER')
export const OUTCOME_NOW = n('OUTCOME_NOW')
export const OUTCOME_REPORTED_COST = n('OUTCOME_REPORTED_COST')

// A replayed memo hit: `REPLAY_LEN` numbers.
export const REPLAY_LEN = n('REPLAY_LEN')
export const REPLAY_ENTRY = n('REPLAY_ENTRY')
export const REPLAY_ROUTING_MS = n('REPLAY_ROUTING_MS')
export const REPLAY_MODEL = n('REPLAY_MODEL')
export const REPLAY_DECISION_ID = n('REPLAY_DECISION_ID')
export const REPLAY_NOW = n('REPLAY_NOW')
export const REPLAY_KEY_BUDGET = n('REPLAY_KEY_BUDGET')
export const REPLAY_TOKENS = n('REPLAY_TOKENS')

// `capacity`: per budget index [spent, limit], then from CAP_NAMES per name id [requests its
// quota still admits, tokens its window holds, tpm].
export const CAP_NAMES = n('CAP_NAMES')
export const CAP_STRIDE = n('CAP_STRIDE')
export const CAP_SPENT = n('CAP_SPENT')
export const CAP_LIMIT = n('CAP_LIMIT')
export const CAP_REQUESTS = n('CAP_REQUESTS')
export const CAP_HELD = n('CAP_HELD')
export const CAP_TPM = n('CAP_TPM')

// `live`: the next decision id, the earliest change, then a row per name id.
export const LIVE_NEXT_ID = n('LIVE_NEXT_ID')
export const LIVE_NEXT_CHANGE = n('LIVE_NEXT_CHANGE')
export const LIVE_HEAD = n('LIVE_HEAD')
export const LIVE_STRIDE = n('LIVE_STRIDE')
export const LIVE_STATE = n('LIVE_STATE')
export const LIVE_ESTIMATE = n('LIVE_ESTIMATE')
export const LIVE_LATE = n('LIVE_LATE')
export const LIVE_IN_FLIGHT = n('LIVE_IN_FLIGHT')
export const LIVE_EVIDENCE = n('LIVE_EVIDENCE')
export const LIVE_QUICK = n('LIVE_QUICK')
export const SLOW_EVIDENCE = n('SLOW_EVIDENCE')
export const STATE_HEALTHY = n('STATE_HEALTHY')
