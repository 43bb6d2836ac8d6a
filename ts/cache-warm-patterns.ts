/**
 * The warming patterns of `CacheManager.predictiveWarmCache`: for each context pattern, the
 * keys read while it was the active one, so that activating it again can load them from
 * disk into memory. Both levels are bounded and kept in recency order.
 */
import { rangeError, typeError } from './errors'
import type { CacheWarmContext } from './cache-manager'

/** Longest warming pattern kept (the legacy's `${userTier}:${priority}:${capabilities}`). */
const MAX_PATTERN_LENGTH = 1024

/**
 * The warming pattern of a context, as the legacy builds it; a `TypeError` naming the field
 * for a value that is not a string (nor, for `capabilities`, an array of strings).
 */
export function warmPattern(context: CacheWarmContext): string {
  const { userTier, priority, capabilities } = context as unknown as Record<string, unknown>
  if (typeof userTier !== 'string' && userTier !== undefined) throw typeError('context.userTier', 'a string', userTier)
  if (typeof priority !== 'string' && priority !== undefined) throw typeError('context.priority', 'a string', priority)
  let caps = ''
  if (capabilities !== undefined) {
    if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string')) {
      throw typeError('context.capabilities', 'an array of strings', capabilities)
    }
    caps = capabilities.join(',')
  }
  const pattern = `${userTier}:${priority}:${caps}`
  if (pattern.length > MAX_PATTERN_LENGTH)
    throw rangeError('context', `a pattern of at most ${MAX_PATTERN_LENGTH} characters`, pattern.slice(0, 40) + '…')
  return pattern
}

/** The patterns `predictiveWarmCache` saw and the keys read under each. */
export class WarmPatterns {
  /** pattern → keys read while it was active (both in recency order, bounded). */
  readonly #keys = new Map<string, Set<string>>()
  /** The keys of the active pattern, or null before any (reads are then not remembered). */
  #active: Set<string> | null = null

  /** `maxKeys` per pattern, the most recent kept; `maxPatterns` patterns, likewise. */
  readonly #maxKeys: number
  readonly #maxPatterns: number

  constructor(maxKeys: number, maxPatterns: number) {
    this.#maxKeys = maxKeys
    this.#maxPatterns = maxPatterns
  }

  /** Whether reads are being remembered (a pattern is active). */
  learning(): boolean {
    return this.#active !== null
  }

  /**
   * Makes `pattern` the active one (the most recent); returns the keys remembered under it
   * before, which the caller warms.
   */
  activate(pattern: string): string[] {
    let keys = this.#keys.get(pattern)
    if (keys !== undefined) {
      this.#keys.delete(pattern) // most recent last
    } else {
      keys = new Set()
      if (this.#keys.size >= this.#maxPatterns) {
        this.#keys.delete(this.#keys.keys().next().value as string)
      }
    }
    this.#keys.set(pattern, keys)
    this.#active = keys
    return keys.size === 0 ? [] : [...keys]
  }

  /** Remembers a read of `key` under the active pattern (call only while `learning()`). */
  remember(key: string): void {
    const keys = this.#active!
    if (keys.has(key)) keys.delete(key)
    else if (keys.size >= this.#maxKeys) keys.delete(keys.values().next().value as string)
    keys.add(key)
  }

  /** Forgets every pattern (the cache was shut down). */
  clear(): void {
    this.#keys.clear()
    this.#active = null
  }
}
