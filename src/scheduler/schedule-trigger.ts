// daily / weekly / monthly triggers. Each occurrence fires once, after an optional random delay
// (jitter) that spreads the load of many hosts. Catch-up, anacron-style: when the daemon starts
// and the latest occurrence is newer than the one the last finished run served (or, for a
// trigger that never ran, newer than when it was first armed), that missed occurrence runs once,
// however many were missed. A failed run is retried with a growing delay until the next
// occurrence. The timer wakes at least every minute and compares against the wall clock, so
// suspend, clock changes and month-long waits (beyond setTimeout's 24.8 days) are handled.
import { nextOccurrence, previousOccurrence, type Schedule } from '../config/schedule.ts';
import type { Clock, Timer } from './clock.ts';
import type { RunResult, TriggerState } from './state.ts';
import type { RunRequest, ScheduleTriggerName } from './triggers.ts';

export const RECHECK_MS = 60_000;
const RETRY_BASE_MS = 5 * 60_000;
const RETRY_MAX_MS = 60 * 60_000;

export interface ScheduleTriggerOptions {
  name: ScheduleTriggerName;
  schedule: Schedule;
  jitterMs: number;
  clock: Clock;
  random: () => number;
  fire: (request: RunRequest) => void;
  /** Called whenever the next run time changes (persisted for `backup auto status`). */
  onPlanned?: (nextAt: Date, occurrence: Date) => void;
}

interface Plan {
  occurrence: Date;
  due: number;
  catchUp: boolean;
  retry: number;
}

/** The retry delay after `failures` failed runs in a row: 5 min, 10, 20, 40, then hourly. */
export function retryDelayMs(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, failures - 1));
}

/**
 * The occurrence missed while the daemon was not running, if any: the latest occurrence at or
 * before `now` that is newer than what the trigger last served (or than when it was armed).
 */
export function missedOccurrence(schedule: Schedule, state: TriggerState | undefined, now: Date): Date | undefined {
  const baseline = state?.last_occurrence ?? state?.armed_at;
  if (!baseline) return undefined;
  const previous = previousOccurrence(schedule, now);
  return previous && previous.getTime() > Date.parse(baseline) ? previous : undefined;
}

export class ScheduleTrigger {
  private plan: Plan | undefined;
  private timer: Timer | undefined;

  constructor(private readonly options: ScheduleTriggerOptions) {}

  get name(): ScheduleTriggerName {
    return this.options.name;
  }

  /** When it fires next (with jitter) and which occurrence that serves. */
  get next(): { at: Date; occurrence: Date; catchUp: boolean } | undefined {
    return this.plan ? { at: new Date(this.plan.due), occurrence: this.plan.occurrence, catchUp: this.plan.catchUp } : undefined;
  }

  arm(state: TriggerState | undefined): void {
    const now = new Date(this.options.clock.now());
    const missed = missedOccurrence(this.options.schedule, state, now);
    if (missed) this.setPlan({ occurrence: missed, due: now.getTime() + this.jitter(), catchUp: true, retry: 0 });
    else this.planAfter(now);
  }

  disarm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.plan = undefined;
  }

  /** A run that served `occurrence` ended: a failure is retried before the next occurrence comes. */
  finished(occurrence: string, result: RunResult, failuresInRow: number): void {
    if (result !== 'failed' || !this.plan) return;
    const retryAt = this.options.clock.now() + retryDelayMs(failuresInRow);
    if (retryAt >= this.plan.due) return;
    this.setPlan({ occurrence: new Date(occurrence), due: retryAt, catchUp: false, retry: failuresInRow });
  }

  private jitter(): number {
    return this.options.jitterMs > 0 ? Math.floor(this.options.random() * this.options.jitterMs) : 0;
  }

  private planAfter(after: Date): void {
    const occurrence = nextOccurrence(this.options.schedule, after);
    this.setPlan({ occurrence, due: occurrence.getTime() + this.jitter(), catchUp: false, retry: 0 });
  }

  private setPlan(plan: Plan): void {
    this.plan = plan;
    this.options.onPlanned?.(new Date(plan.due), plan.occurrence);
    this.wake();
  }

  private wake(): void {
    this.timer?.cancel();
    if (!this.plan) return;
    const wait = this.plan.due - this.options.clock.now();
    this.timer = this.options.clock.setTimer(Math.max(0, Math.min(wait, RECHECK_MS)), () => this.tick());
  }

  private tick(): void {
    const plan = this.plan;
    if (!plan) return;
    const now = this.options.clock.now();
    if (now < plan.due) {
      this.wake();
      return;
    }
    const { name, schedule } = this.options;
    const when = plan.occurrence.toISOString();
    const reason = plan.catchUp
      ? `catch-up of the missed ${name} run of ${when}`
      : plan.retry > 0
        ? `retry ${plan.retry} of the ${name} run of ${when}`
        : `${name} schedule "${schedule.text}"`;
    // Planned from now: after a long suspend the occurrences slept through are not run one by one.
    this.planAfter(new Date(now));
    this.options.fire({ trigger: name, scope: { kind: 'configured' }, reason, occurrence: when });
  }
}
