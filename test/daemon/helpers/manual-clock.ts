// A clock the test moves: timers fire in due order as time is advanced, each seeing now() at its
// due time, so a schedule test covers days or months in milliseconds.
import type { Clock, Timer } from '../../../src/scheduler/clock.ts';

interface Pending {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: Pending[] = [];

  constructor(start: Date) {
    this.current = start.getTime();
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer: Pending = { due: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Moves time forward, firing every timer that falls due on the way (including ones they set). */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const next = this.timers.filter((t) => t.due <= end).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.current = Math.max(this.current, next.due);
      next.fn();
    }
    this.current = end;
  }

  /** Jumps without firing anything on the way (a suspended host), then fires what is due now. */
  jump(ms: number): void {
    this.current += ms;
    this.advance(0);
  }

  advanceTo(date: Date): void {
    this.advance(date.getTime() - this.current);
  }

  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
