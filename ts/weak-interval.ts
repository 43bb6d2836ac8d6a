/**
 * `setInterval(() => tick(target), ms)`, unref'd, that keeps neither the process nor
 * `target` alive: once `target` is collected the timer clears itself. `tick` should be a
 * function made outside the caller's constructor (a static method): closures made in a
 * constructor share its context, which holds `this` as soon as any of them uses it.
 */
export function weakInterval<T extends object>(target: T, ms: number, tick: (target: T) => void): NodeJS.Timeout {
  const ref = new WeakRef(target)
  const timer: NodeJS.Timeout = setInterval(() => {
    const t = ref.deref()
    if (t === undefined) clearInterval(timer)
    else tick(t)
  }, ms)
  timer.unref()
  return timer
}
