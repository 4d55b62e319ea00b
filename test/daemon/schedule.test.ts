// Schedule triggers on a controlled clock: occurrences, jitter, anacron-style catch-up from the
// state file, retries after failures, suspend, month-long waits, and the run queue's coalescing.
import { describe, expect, it } from 'vitest';
import { parseSchedule, type Schedule } from '../../src/config/schedule.ts';
import { missedOccurrence, retryDelayMs, ScheduleTrigger } from '../../src/scheduler/schedule-trigger.ts';
import { emptyState, recordRun, type RunRecord, type TriggerState } from '../../src/scheduler/state.ts';
import { RunQueue } from '../../src/scheduler/run-queue.ts';
import type { RunRequest, ScheduleTriggerName } from '../../src/scheduler/triggers.ts';
import { ManualClock } from './helpers/manual-clock.ts';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

function schedule(kind: ScheduleTriggerName, text: string): Schedule {
  const s = parseSchedule(kind, text);
  if ('error' in s) throw new Error(s.error);
  return s;
}

function harness(kind: ScheduleTriggerName, text: string, start: Date, options: { jitterMs?: number; random?: () => number } = {}) {
  const clock = new ManualClock(start);
  const fired: { at: Date; request: RunRequest }[] = [];
  const trigger = new ScheduleTrigger({
    name: kind,
    schedule: schedule(kind, text),
    jitterMs: options.jitterMs ?? 0,
    clock,
    random: options.random ?? Math.random,
    fire: (request) => fired.push({ at: new Date(clock.now()), request }),
  });
  return { clock, fired, trigger };
}

function run(triggers: RunRecord['triggers'], result: RunRecord['result'], at: Date): RunRecord {
  return { id: 'r', triggers, reason: 'test', started_at: at.toISOString(), ended_at: at.toISOString(), duration_ms: 1000, result, paths: ['/x'], backup_id: result === 'failed' ? null : 'abc', stages: {}, ...(result === 'failed' || result === 'interrupted' ? { error: { stage: 'create' as const, kind: result === 'failed' ? 'StorageError' : 'Interrupted', message: result } } : {}) };
}

describe('schedule triggers on a controlled clock', () => {
  it('fires daily at the scheduled time, not before, and again the next day', () => {
    const { clock, fired, trigger } = harness('daily', '02:00', new Date(2026, 10, 24, 15, 0));
    trigger.arm({ armed_at: new Date(2026, 10, 24, 15, 0).toISOString() });
    expect(trigger.next?.at).toEqual(new Date(2026, 10, 25, 2, 0));
    clock.advanceTo(new Date(2026, 10, 25, 1, 59, 59));
    expect(fired).toHaveLength(0);
    clock.advanceTo(new Date(2026, 10, 25, 2, 0));
    expect(fired.map((f) => f.at)).toEqual([new Date(2026, 10, 25, 2, 0)]);
    expect(fired[0]?.request).toMatchObject({ trigger: 'daily', scope: { kind: 'configured' }, occurrence: new Date(2026, 10, 25, 2, 0).toISOString() });
    clock.advance(2 * DAY);
    expect(fired.map((f) => f.at)).toEqual([new Date(2026, 10, 25, 2, 0), new Date(2026, 10, 26, 2, 0), new Date(2026, 10, 27, 2, 0)]);
  });

  it('adds jitter within [0, jitter) to every occurrence', () => {
    const randoms = [0.5, 0.999, 0];
    const { clock, fired, trigger } = harness('daily', '02:00', new Date(2026, 10, 24, 15, 0), { jitterMs: 20 * 60_000, random: () => randoms.shift() ?? 0 });
    trigger.arm({ armed_at: new Date(2026, 10, 24, 15, 0).toISOString() });
    clock.advance(3 * DAY);
    expect(fired.map((f) => f.at.getTime() - new Date(f.request.occurrence ?? 0).getTime())).toEqual([10 * 60_000, Math.floor(0.999 * 20 * 60_000), 0]);
    expect(fired.map((f) => new Date(f.request.occurrence ?? 0))).toEqual([new Date(2026, 10, 25, 2, 0), new Date(2026, 10, 26, 2, 0), new Date(2026, 10, 27, 2, 0)]);
  });

  it('does not catch up what happened before the trigger was first armed', () => {
    const now = new Date(2026, 10, 24, 15, 0);
    const { clock, fired, trigger } = harness('daily', '02:00', now);
    trigger.arm({ armed_at: now.toISOString() });
    clock.advance(HOUR);
    expect(fired).toHaveLength(0);
    expect(missedOccurrence(schedule('daily', '02:00'), undefined, now)).toBeUndefined();
  });

  it('catches up once after downtime, however many occurrences were missed, then keeps the schedule', () => {
    const now = new Date(2026, 10, 24, 15, 0);
    const state: TriggerState = { armed_at: new Date(2026, 9, 1).toISOString(), last_occurrence: new Date(2026, 10, 20, 2, 0).toISOString() };
    const { clock, fired, trigger } = harness('daily', '02:00', now);
    trigger.arm(state);
    expect(trigger.next?.catchUp).toBe(true);
    clock.advance(0);
    expect(fired).toHaveLength(1);
    expect(fired[0]?.request.occurrence).toBe(new Date(2026, 10, 24, 2, 0).toISOString());
    expect(fired[0]?.request.reason).toContain('catch-up');
    clock.advance(12 * HOUR);
    expect(fired.map((f) => f.at)).toEqual([now, new Date(2026, 10, 25, 2, 0)]);
  });

  it('catches up a missed occurrence after the time the trigger was armed, even if it never ran', () => {
    const state: TriggerState = { armed_at: new Date(2026, 10, 23, 18, 0).toISOString() };
    expect(missedOccurrence(schedule('daily', '02:00'), state, new Date(2026, 10, 24, 9, 0))).toEqual(new Date(2026, 10, 24, 2, 0));
    expect(missedOccurrence(schedule('daily', '02:00'), state, new Date(2026, 10, 24, 1, 0))).toBeUndefined();
  });

  it('catch-up follows the state file: a finished run serves its occurrence, an interrupted one does not', () => {
    const sched = schedule('daily', '02:00');
    const occurrence = new Date(2026, 10, 24, 2, 0).toISOString();
    const later = new Date(2026, 10, 24, 9, 0);
    const state = emptyState();
    state.triggers.daily = { armed_at: new Date(2026, 10, 1).toISOString(), last_occurrence: new Date(2026, 10, 23, 2, 0).toISOString() };
    recordRun(state, run(['daily'], 'interrupted', new Date(2026, 10, 24, 2, 5)), { daily: occurrence });
    expect(missedOccurrence(sched, state.triggers.daily, later)).toEqual(new Date(occurrence));
    recordRun(state, run(['daily'], 'failed', new Date(2026, 10, 24, 2, 6)), { daily: occurrence });
    expect(missedOccurrence(sched, state.triggers.daily, later)).toBeUndefined();
    expect(state.triggers.daily?.failures_in_row).toBe(1);
    recordRun(state, run(['daily'], 'success', new Date(2026, 10, 24, 2, 7)), { daily: occurrence });
    expect(state.triggers.daily?.failures_in_row).toBe(0);
    expect(state.triggers.daily?.runs).toEqual({ interrupted: 1, failed: 1, success: 1 });
    expect(state.last_error?.result).toBe('failed');
  });

  it('retries a failed run with a growing delay, but never past the next occurrence', () => {
    const { clock, fired, trigger } = harness('daily', '02:00', new Date(2026, 10, 24, 15, 0));
    trigger.arm({ armed_at: new Date(2026, 10, 24, 15, 0).toISOString() });
    clock.advanceTo(new Date(2026, 10, 25, 2, 0));
    const occurrence = fired[0]?.request.occurrence ?? '';
    trigger.finished(occurrence, 'failed', 1);
    clock.advance(5 * 60_000);
    expect(fired).toHaveLength(2);
    expect(fired[1]?.request).toMatchObject({ occurrence, reason: expect.stringContaining('retry 1') });
    trigger.finished(occurrence, 'failed', 2);
    clock.advance(10 * 60_000);
    expect(fired).toHaveLength(3);
    expect(retryDelayMs(3)).toBe(20 * 60_000);
    expect(retryDelayMs(10)).toBe(HOUR);
    // A success stops retrying; the next day's run comes at 02:00.
    trigger.finished(occurrence, 'success', 0);
    clock.advanceTo(new Date(2026, 10, 26, 1, 59));
    expect(fired).toHaveLength(3);
    clock.advanceTo(new Date(2026, 10, 26, 2, 0));
    expect(fired).toHaveLength(4);
    // Late in the period no retry is squeezed in before the next occurrence.
    clock.advanceTo(new Date(2026, 10, 27, 1, 30));
    trigger.finished(fired[3]?.request.occurrence ?? '', 'failed', 9);
    expect(trigger.next?.at).toEqual(new Date(2026, 10, 27, 2, 0));
  });

  it('fires once after a suspend that slept through several occurrences', () => {
    const { clock, fired, trigger } = harness('daily', '02:00', new Date(2026, 10, 24, 15, 0));
    trigger.arm({ armed_at: new Date(2026, 10, 24, 15, 0).toISOString() });
    clock.jump(3 * DAY);
    expect(fired).toHaveLength(1);
    expect(fired[0]?.at).toEqual(new Date(2026, 10, 27, 15, 0));
    expect(trigger.next?.at).toEqual(new Date(2026, 10, 28, 2, 0));
  });

  it('waits a month and more (beyond setTimeout range) for monthly runs, waking at most a minute apart', () => {
    const { clock, fired, trigger } = harness('monthly', '31@04:00', new Date(2026, 0, 31, 5, 0));
    trigger.arm({ armed_at: new Date(2026, 0, 31, 5, 0).toISOString() });
    expect(trigger.next?.at).toEqual(new Date(2026, 1, 28, 4, 0));
    clock.advanceTo(new Date(2026, 3, 1));
    expect(fired.map((f) => f.at)).toEqual([new Date(2026, 1, 28, 4, 0), new Date(2026, 2, 31, 4, 0)]);
    expect(clock.pendingTimers).toBe(1);
  });

  it('handles weekly and cron schedules', () => {
    const weekly = harness('weekly', 'sunday@03:00', new Date(2026, 10, 24, 12, 0));
    weekly.trigger.arm({ armed_at: new Date(2026, 10, 24).toISOString() });
    weekly.clock.advance(15 * DAY);
    expect(weekly.fired.map((f) => f.at)).toEqual([new Date(2026, 10, 29, 3, 0), new Date(2026, 11, 6, 3, 0)]);
    const cron = harness('daily', '30 */6 * * *', new Date(2026, 10, 24, 0, 0));
    cron.trigger.arm({ armed_at: new Date(2026, 10, 24).toISOString() });
    cron.clock.advance(DAY);
    expect(cron.fired.map((f) => f.at.getHours() * 60 + f.at.getMinutes())).toEqual([30, 390, 750, 1110]);
  });
});

describe('run queue', () => {
  const configured = (trigger: RunRequest['trigger'], reason = 'r'): RunRequest => ({ trigger, scope: { kind: 'configured' }, reason });

  it('coalesces repeated fires of one trigger into a single pending run', () => {
    const queue = new RunQueue();
    expect(queue.add(configured('on_file_changes', 'a'))).toBe('queued');
    for (let i = 0; i < 100; i++) expect(queue.add(configured('on_file_changes', 'a'))).toBe('coalesced');
    expect(queue.size).toBe(1);
    expect(queue.take()).toHaveLength(1);
    expect(queue.take()).toBeUndefined();
  });

  it('runs all pending requests of the configured set as one backup, explicit paths separately', () => {
    const queue = new RunQueue();
    queue.add({ ...configured('daily'), occurrence: '2026-11-24T02:00:00.000Z' });
    queue.add({ trigger: 'on_container_changes', scope: { kind: 'paths', paths: ['/v/db'] }, reason: 'container web changed', tags: ['bolt.volume=db'] });
    queue.add({ trigger: 'on_container_changes', scope: { kind: 'paths', paths: ['/v/cache'] }, reason: 'volume cache created', tags: ['bolt.volume=cache'] });
    queue.add({ ...configured('weekly'), occurrence: '2026-11-22T03:00:00.000Z' });
    const first = queue.take();
    expect(first?.map((r) => r.trigger)).toEqual(['daily', 'weekly']);
    const second = queue.take();
    expect(second).toEqual([
      { trigger: 'on_container_changes', scope: { kind: 'paths', paths: ['/v/cache', '/v/db'] }, reason: 'container web changed; volume cache created', tags: ['bolt.volume=db', 'bolt.volume=cache'] },
    ]);
  });

  it('lets a newer Bolt snapshot supersede a pending older one', () => {
    const queue = new RunQueue();
    queue.add({ trigger: 'after_snapshot', scope: { kind: 'paths', paths: ['/s/one'] }, reason: 'new snapshot one' });
    queue.add({ trigger: 'after_snapshot', scope: { kind: 'paths', paths: ['/s/two'] }, reason: 'new snapshot two' });
    expect(queue.take()?.[0]?.scope).toEqual({ kind: 'paths', paths: ['/s/two'] });
  });
});
