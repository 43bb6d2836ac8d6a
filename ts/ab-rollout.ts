/**
 * The state of an A/B rollout (mode "ab"): the share served by native, the sticky
 * assignment of each call to an arm, the arms' figures, the rollback judge, and the flag the
 * share follows when it was read from the environment. The wrapper runs the calls; this
 * decides where they go and keeps the score.
 */
import { keyPosition, onNative } from './ab-assign'
import { type Arm, type ArmComparison, type ArmReport, ArmStats } from './ab-arms'
import { type RollbackEvent, RollbackJudge, type RollbackOptions } from './ab-rollback'
import { typeError } from './errors'
import { type RolloutFlag, readRolloutFlag } from './rollout-flags'

/** What an `AbRollout` is made from: the resolved share and flag, and the rollout options it uses. */
export interface AbSettings {
  share: number
  /** The flag the share was read from, followed when its value changes; null: the share is the caller's. */
  flag: string | null
  env: Record<string, string | undefined>
  assignBy: ((input: any) => string) | undefined
  rollback: RollbackOptions | undefined
}

/** `getRolloutStats(obj).arms`, mode "ab". */
export interface AbReport {
  /** The share served by native now (0 after a rollback). */
  share: number
  /** The legacy arm's figures. */
  legacy: ArmReport
  /** The native arm's figures. */
  native: ArmReport
  /** native − legacy, with 95% intervals. */
  difference: ArmComparison
  /** The latest rollback, or null. */
  rollback: RollbackEvent | null
}

/** The state of one mode "ab" wrapper (see the file comment). */
export class AbRollout {
  share: number
  readonly arms = { legacy: new ArmStats(), native: new ArmStats() }
  lastRollback: RollbackEvent | null = null
  readonly #judge: RollbackJudge
  readonly #assignBy: ((input: any) => string) | undefined
  readonly #flag: string | null
  readonly #env: Record<string, string | undefined>
  /** The flag's value when last read: a different value sets the share. */
  #flagValue: string | undefined

  readonly #position: (input: unknown) => number

  constructor(settings: AbSettings, position: (input: unknown) => number) {
    this.#position = position
    if (settings.assignBy !== undefined && typeof settings.assignBy !== 'function')
      throw typeError('options.assignBy', 'a function', settings.assignBy)
    this.share = settings.share
    this.#assignBy = settings.assignBy
    this.#flag = settings.flag
    this.#env = settings.env
    this.#flagValue = this.#flag === null ? undefined : this.#env[this.#flag]
    this.#judge = new RollbackJudge(settings.rollback)
  }

  /** The arm of a call whose assignment input is `input`. */
  armOf(input: unknown): Arm {
    if (this.share === 0) return 'legacy'
    if (this.share === 1) return 'native'
    let pos: number
    if (this.#assignBy === undefined) {
      pos = this.#position(input)
    } else {
      const key = this.#assignBy(input)
      if (typeof key !== 'string') throw typeError('the result of options.assignBy', 'a string', key)
      pos = keyPosition(key)
    }
    return onNative(pos, this.share) ? 'native' : 'legacy'
  }

  record(arm: Arm, at: number, ms: number, failed: boolean): void {
    this.arms[arm].record(ms, failed)
    this.#judge.record(arm, at, ms, failed)
  }

  /**
   * Once per `checkEveryMs`: follows a new flag value, then judges the window. Returns the
   * rollback to announce (the share is 0 by then), or null.
   */
  tick(now: number): RollbackEvent | null {
    if (!this.#judge.due(now)) return null
    this.#followFlag()
    if (this.share === 0) {
      this.#judge.judge(now, 0) // keeps the cadence; nothing to roll back
      return null
    }
    const verdict = this.#judge.judge(now, this.share)
    if (verdict === null) return null
    this.share = 0
    this.lastRollback = verdict
    this.#judge.reset()
    return verdict
  }

  /** A new share (a call, or a new flag value): the window starts afresh. */
  setShare(share: number): void {
    this.share = share
    this.#judge.reset()
  }

  #followFlag(): void {
    if (this.#flag === null) return
    const v = this.#env[this.#flag]
    if (v === this.#flagValue) return
    this.#flagValue = v
    let flag: RolloutFlag
    try {
      flag = readRolloutFlag(this.#flag, this.#env)
    } catch {
      return // a value the flag does not accept changes nothing (the factory would refuse it)
    }
    this.setShare(flag.mode === 'ab' ? flag.share : flag.mode === 'native' ? 1 : 0)
  }

  report(kind: string): AbReport {
    return {
      share: this.share,
      legacy: this.arms.legacy.report(kind),
      native: this.arms.native.report(kind),
      difference: ArmStats.compare(kind, this.arms.native, this.arms.legacy),
      rollback: this.lastRollback,
    }
  }
}
