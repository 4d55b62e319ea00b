// Backup schedules in Bolt's forms ("02:00", "sunday@03:00", "1@04:00") or 5-field cron.
// All times are in the host's local time zone, as cron and Bolt's snapshot schedules use.
import { Cron } from 'croner';

export type ScheduleKind = 'daily' | 'weekly' | 'monthly';

export type Schedule =
  | { form: 'daily'; text: string; hour: number; minute: number }
  | { form: 'weekly'; text: string; weekday: number /* 0 = Sunday */; hour: number; minute: number }
  | { form: 'monthly'; text: string; day: number /* 1..31, clamped to the month's last day */; hour: number; minute: number }
  | { form: 'cron'; text: string; cron: Cron };

const weekdays = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

function parseClock(text: string): { hour: number; minute: number } | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const hour = Number(m[1]);
  const minute = Number(m[2]);
  return hour < 24 && minute < 60 ? { hour, minute } : undefined;
}

function parseWeekday(text: string): number | undefined {
  const t = text.toLowerCase();
  if (t.length < 3) return undefined;
  const index = weekdays.findIndex((d) => d.startsWith(t));
  return index >= 0 ? index : undefined;
}

/** What a schedule of this kind looks like, for error messages. */
export function expectedScheduleForm(kind: ScheduleKind): string {
  const bolt = { daily: '"HH:MM" (e.g. "02:00")', weekly: '"<weekday>@HH:MM" (e.g. "sunday@03:00")', monthly: '"<day of month>@HH:MM" (e.g. "1@04:00")' }[kind];
  return `${bolt} or a 5-field cron expression (e.g. "30 2 * * *")`;
}

/** Parses a trigger schedule; returns an explanation instead of a schedule when invalid. */
export function parseSchedule(kind: ScheduleKind, text: string): Schedule | { error: string } {
  const trimmed = text.trim();
  const fields = trimmed.split(/\s+/);
  if (fields.length === 5) {
    try {
      return { form: 'cron', text: trimmed, cron: new Cron(trimmed, { paused: true }) };
    } catch (err) {
      return { error: `invalid cron expression "${trimmed}": ${(err as Error).message}` };
    }
  }
  if (fields.length !== 1) return { error: `"${trimmed}" is neither ${expectedScheduleForm(kind)}` };
  const at = trimmed.split('@');
  if (kind === 'daily' && at.length === 1) {
    const clock = parseClock(trimmed);
    if (clock) return { form: 'daily', text: trimmed, ...clock };
  }
  if (kind === 'weekly' && at.length === 2) {
    const weekday = parseWeekday(at[0] ?? '');
    const clock = parseClock(at[1] ?? '');
    if (weekday !== undefined && clock) return { form: 'weekly', text: trimmed, weekday, ...clock };
  }
  if (kind === 'monthly' && at.length === 2 && /^\d{1,2}$/.test(at[0] ?? '')) {
    const day = Number(at[0]);
    const clock = parseClock(at[1] ?? '');
    if (day >= 1 && day <= 31 && clock) return { form: 'monthly', text: trimmed, day, ...clock };
  }
  return { error: `"${trimmed}" is not a valid ${kind} schedule: expected ${expectedScheduleForm(kind)}` };
}

function daysInMonth(year: number, month: number): number {
  return new Date(year, month + 1, 0).getDate();
}

/** The occurrence of a Bolt-form schedule in the day/week/month containing `ref`. */
function occurrenceNear(schedule: Exclude<Schedule, { form: 'cron' }>, ref: Date, shift: number): Date {
  const d = new Date(ref.getTime());
  if (schedule.form === 'daily') {
    return new Date(d.getFullYear(), d.getMonth(), d.getDate() + shift, schedule.hour, schedule.minute);
  }
  if (schedule.form === 'weekly') {
    const delta = schedule.weekday - d.getDay() + 7 * shift;
    return new Date(d.getFullYear(), d.getMonth(), d.getDate() + delta, schedule.hour, schedule.minute);
  }
  const month = new Date(d.getFullYear(), d.getMonth() + shift, 1);
  const day = Math.min(schedule.day, daysInMonth(month.getFullYear(), month.getMonth()));
  return new Date(month.getFullYear(), month.getMonth(), day, schedule.hour, schedule.minute);
}

/** The first occurrence strictly after `after`. */
export function nextOccurrence(schedule: Schedule, after: Date): Date {
  if (schedule.form === 'cron') {
    const next = schedule.cron.nextRun(after);
    if (!next) throw new Error(`cron expression "${schedule.text}" never fires`);
    return next;
  }
  for (let shift = 0; shift < 3; shift++) {
    const candidate = occurrenceNear(schedule, after, shift);
    if (candidate.getTime() > after.getTime()) return candidate;
  }
  throw new Error(`no next occurrence for "${schedule.text}"`);
}

/** The last occurrence at or before `before` (for catching up missed runs), if any. */
export function previousOccurrence(schedule: Schedule, before: Date): Date | undefined {
  if (schedule.form === 'cron') {
    const [previous] = schedule.cron.previousRuns(1, new Date(before.getTime() + 1));
    return previous ?? undefined;
  }
  for (let shift = 0; shift > -3; shift--) {
    const candidate = occurrenceNear(schedule, before, shift);
    if (candidate.getTime() <= before.getTime()) return candidate;
  }
  return undefined;
}

/** Nominal period of a schedule in ms (health: "older than 1.5 periods"). */
export function schedulePeriodMs(schedule: Schedule, reference = new Date()): number {
  const first = nextOccurrence(schedule, reference);
  const second = nextOccurrence(schedule, first);
  return second.getTime() - first.getTime();
}
