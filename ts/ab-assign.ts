/**
 * Sticky assignment of an A/B rollout: an input goes to the native arm when the hash of its
 * assignment key, read as a fraction of 2^32, is below the share. The same key always lands
 * on the same side for a given share, and raising the share only moves keys from legacy to
 * native (a key below a share is below every larger share).
 */

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193
/** Characters hashed from each end of a long string (a 30 KB task costs no more than 1 KB). */
const HASHED_END = 512

/** FNV-1a over the string's UTF-16 units, continued from `h`; a long string by its two ends and its length. */
function fnv(s: string, h: number): number {
  const n = s.length
  if (n <= 2 * HASHED_END) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME)
    return h
  }
  for (let i = 0; i < HASHED_END; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME)
  for (let i = n - HASHED_END; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME)
  return Math.imul(h ^ n, FNV_PRIME)
}

/** Murmur3's finalizer: FNV's low bits are poor, and the share compares the whole word. */
function mix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The position of a key, a whole number in [0, 2^32). */
export function keyPosition(key: string): number {
  return mix(fnv(key, FNV_OFFSET))
}

/** Whether a position is served by native at this share (0..1). */
export function onNative(position: number, share: number): boolean {
  return position < share * 4294967296
}

/** The default assignment of a routing context: its `userTier` and a hash of its `task`. */
export function contextPosition(context: unknown): number {
  if (context === null || typeof context !== 'object') return keyPosition('')
  const { userTier, task } = context as { userTier?: unknown; task?: unknown }
  let h = fnv(typeof userTier === 'string' ? userTier : '', FNV_OFFSET)
  h = Math.imul(h ^ 0, FNV_PRIME) // a separator: ("ab", "c") and ("a", "bc") differ
  return mix(fnv(typeof task === 'string' ? task : '', h))
}

/** The default assignment of a cache key or a metric name: the string itself. */
export function stringPosition(input: unknown): number {
  return keyPosition(typeof input === 'string' ? input : '')
}
