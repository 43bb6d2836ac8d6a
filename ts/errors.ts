/**
 * Errors thrown by the drop-in layer. One place builds them so every message names the
 * field at fault and every domain error carries a stable `code`.
 */

/** Stable codes of domain errors (an `Error` with this `code`). */
export type ErrorCode =
  | 'ERR_NO_MODELS'
  | 'ERR_NO_ELIGIBLE_MODEL'
  /** `strategy: "adaptive"` with `whenNoneHealthy: "reject"`: every eligible model is cooling or ejected (the error has `retryAfterMs`). */
  | 'ERR_NO_HEALTHY_MODEL'
  | 'ERR_SHUT_DOWN'
  /** `strategy: "adaptive"`: every eligible model would exceed a budget (the error has `budget`, `resetsAtMs`, `retryAfterMs`). */
  | 'ERR_BUDGET_EXCEEDED'
  /** `explain()` on a router whose strategy is not `"adaptive"`. */
  | 'ERR_UNSUPPORTED_STRATEGY'
  /** The cache's SQLite database could not be opened, read or written (the message says why). */
  | 'ERR_CACHE_DISK'
  /** An internal misuse the native side refused (e.g. a cache re-entered from its own callback). */
  | 'ERR_NATIVE'

/** A domain error of the package: an `Error` with a stable `code` (see `ErrorCode`). */
export interface CodedError extends Error {
  /** Stable: match on it, not on the message. */
  code: ErrorCode
}

/** Builds a `CodedError` with `code` and `message` (what the package throws for domain errors). */
export function codedError(code: ErrorCode, message: string): CodedError {
  const err = new Error(message) as CodedError
  err.code = code
  return err
}

/** Describes a value for an error message without calling user code (no toString, no getters). */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value)
    case 'number':
      return Number.isNaN(value) ? 'NaN' : String(value)
    case 'bigint':
      return 'a bigint'
    case 'symbol':
      return 'a symbol'
    case 'function':
      return 'a function'
    case 'undefined':
      return 'undefined'
    case 'boolean':
      return String(value)
    default:
      return Array.isArray(value) ? 'an array' : 'an object'
  }
}

/** `TypeError` naming the field, what was expected and what came. */
export function typeError(field: string, expected: string, got: unknown): TypeError {
  return new TypeError(`${field} must be ${expected}, got ${describe(got)}`)
}

/** `RangeError` naming the field and the allowed range. */
export function rangeError(field: string, allowed: string, got: unknown): RangeError {
  return new RangeError(`${field} must be ${allowed}, got ${describe(got)}`)
}

const NATIVE_CODE = /^\[([A-Z_]+)\] ([\s\S]*)$/

/**
 * Maps an error thrown by the addon (`[CODE] message`, see `src/errors.rs`) to the error a
 * user expects: `TypeError` for bad arguments, `RangeError` for out-of-range values, else
 * an `Error` with the code. Anything else passes through unchanged.
 */
export function fromNative(err: unknown): unknown {
  // not `instanceof Error`: an error from the addon may come from another realm (vm contexts, Jest)
  if (typeof err !== 'object' || err === null || typeof (err as Error).message !== 'string') return err
  const m = NATIVE_CODE.exec((err as Error).message)
  if (m === null) return err
  const [, code, message] = m
  if (code === 'ERR_INVALID_ARG_TYPE') return new TypeError(message)
  if (code === 'ERR_OUT_OF_RANGE') return new RangeError(message)
  const coded = new Error(message) as Error & { code: string }
  coded.code = code
  return coded
}
