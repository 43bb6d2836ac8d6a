/** A lone UTF-16 surrogate (Node < 20 has no String.prototype.isWellFormed). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Whether `s` holds no lone surrogate: UTF-8 (and so Rust and JSON round trips) keep it exactly. */
export function wellFormed(s: string): boolean {
  const f = (s as { isWellFormed?: () => boolean }).isWellFormed
  return typeof f === 'function' ? f.call(s) : !LONE_SURROGATE.test(s)
}
