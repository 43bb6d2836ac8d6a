/**
 * The value codec of `CacheManager`: how a value becomes what the native core stores (text
 * for strings and JSON, the bytes themselves for `Uint8Array`s, with a kind that keeps its
 * type) and how a tagged native result (see `src/cache.rs`) becomes a fresh value again.
 */
import { wellFormed } from './strings'
import { rangeError, typeError } from './errors'

/** JSON text: an object, array, number, boolean or null (or a string UTF-8 cannot hold). */
export const KIND_JSON = 0
/** A string stored as itself. */
export const KIND_STRING = 1
/** A `Buffer`. */
export const KIND_BUFFER = 2
/** A `Uint8Array` that is not a `Buffer`. */
export const KIND_BYTES = 3
/** A row the legacy code wrote uncompressed: JSON text, or a raw string. */
export const KIND_LEGACY_JSON = 4
/** A row the legacy code wrote compressed: the JSON of the stored text. */
export const KIND_LEGACY_QUOTED = 5

/**
 * Serializes a value for storage (text for strings and JSON, the bytes themselves for
 * `Uint8Array`s; `kindOf` tells which), or throws the `TypeError`/`RangeError` that says
 * why not.
 */
export function encode(value: unknown): string | Uint8Array {
  switch (typeof value) {
    case 'string':
      // a lone surrogate cannot cross into UTF-8 unchanged: store such a string as JSON
      // text (JSON escapes it), which parses back to the very same string
      if (!wellFormed(value)) return JSON.stringify(value)
      return value
    case 'number':
      if (!Number.isFinite(value)) throw rangeError('value', 'a finite number (JSON cannot hold it)', value)
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      throw typeError('value', 'JSON data, a string or bytes', value)
    default:
      break
  }
  if (value === null) return 'null'
  if (value instanceof Uint8Array) return value
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (err) {
    // A cycle or a BigInt inside: JSON.stringify says which.
    throw new TypeError(`value cannot be stored: ${(err as Error).message.split('\n')[0]}`)
  }
  if (text === undefined) throw typeError('value', 'JSON data, a string or bytes', value)
  return text
}

/**
 * The stored kind of `value` as `encode` serialized it: derived from the result (a string
 * kept as is, bytes, or JSON text), so no state outlives the call — a `toJSON` that calls
 * `set` again cannot mix up two values' kinds.
 */
export function kindOf(value: unknown, encoded: string | Uint8Array): number {
  if (typeof encoded === 'string') return encoded === value ? KIND_STRING : KIND_JSON
  return Buffer.isBuffer(encoded) ? KIND_BUFFER : KIND_BYTES
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Turns a tagged native result (see `src/cache.rs`) into a fresh value. */
export function decode(r: string | Buffer): unknown {
  if (typeof r === 'string') {
    const kind = r.charCodeAt(0) >> 1
    const body = r.slice(1)
    switch (kind) {
      case KIND_JSON:
        return JSON.parse(body)
      case KIND_STRING:
        return body
      case KIND_LEGACY_JSON:
        return parseOr(body)
      case KIND_LEGACY_QUOTED: {
        // The legacy stored JSON.stringify(text) where text was the string itself or the
        // JSON of the value: undo both (a string that looks like JSON cannot be told apart).
        const inner = parseOr(body)
        return typeof inner === 'string' ? parseOr(inner) : inner
      }
      default:
        return body
    }
  }
  const body = r.subarray(1)
  return r[0] >> 1 === KIND_BYTES ? new Uint8Array(body.buffer, body.byteOffset, body.length) : body
}

/** A native result's tag: its kind times two, plus one when the hit came from disk. */
export function tagOf(r: string | Buffer): number {
  return typeof r === 'string' ? r.charCodeAt(0) : r[0]
}

/** The level a tagged native result was read from. */
export function sourceOf(r: string | Buffer): 'memory' | 'disk' {
  return (tagOf(r) & 1) === 1 ? 'disk' : 'memory'
}
