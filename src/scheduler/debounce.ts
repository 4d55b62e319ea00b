// Change triggers fire after a quiet time (debounce), never sooner than min_interval after their
// previous firing, and — so a file that changes every second still gets backed up — at the
// latest max_wait after the first change that is not backed up yet.
import type { Clock, Timer } from './clock.ts';

export interface DebounceTimes {
  debounceMs: number;
  minIntervalMs: number;
  maxWaitMs: number;
}

export class Debouncer<T> {
  private items: T[] = [];
  private firstAt: number | undefined;
  private lastAt = 0;
  private lastFire: number | undefined;
  private timer: Timer | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly times: DebounceTimes,
    private readonly flush: (items: T[]) => void,
  ) {}

  add(item: T): void {
    const now = this.clock.now();
    this.items.push(item);
    this.firstAt ??= now;
    this.lastAt = now;
    this.plan();
  }

  /** When the pending changes will fire (undefined when nothing is pending). */
  get dueAt(): number | undefined {
    if (this.firstAt === undefined) return undefined;
    const quiet = Math.min(this.lastAt + this.times.debounceMs, this.firstAt + Math.max(this.times.maxWaitMs, this.times.debounceMs));
    return Math.max(quiet, this.lastFire === undefined ? 0 : this.lastFire + this.times.minIntervalMs);
  }

  private plan(): void {
    this.timer?.cancel();
    const due = this.dueAt;
    if (due === undefined) return;
    this.timer = this.clock.setTimer(due - this.clock.now(), () => this.fire());
  }

  private fire(): void {
    const due = this.dueAt;
    if (due === undefined) return;
    if (this.clock.now() < due) {
      this.plan();
      return;
    }
    const items = this.items;
    this.items = [];
    this.firstAt = undefined;
    this.lastFire = this.clock.now();
    this.timer = undefined;
    this.flush(items);
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.items = [];
    this.firstAt = undefined;
  }
}
