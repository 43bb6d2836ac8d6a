/** Errors of `CacheManager`'s arguments and of the native cache core. */
import { fromNative, typeError } from './errors'

/** The error for a key (or namespace) that is not a string, or not one UTF-8 can hold exactly. */
export function keyError(field: string, key: unknown): TypeError {
  return typeof key !== 'string'
    ? typeError(field, 'a string', key)
    : new TypeError(`${field} must be a well-formed string: it holds a lone surrogate, which would change in storage`)
}

/**
 * `fromNative` for errors thrown by the addon. They are made in Node's main realm, so under
 * a `vm` context (Jest) they fail `instanceof Error`: rebuild them in this realm first.
 */
export function nativeError(err: unknown): unknown {
  if (err !== null && typeof err === 'object' && !(err instanceof Error)) {
    const message = (err as { message?: unknown }).message
    if (typeof message === 'string') return fromNative(new Error(message))
  }
  return fromNative(err)
}
