import { describe, expect, it } from 'vitest';
import { nextOccurrence, parseSchedule, previousOccurrence, type Schedule } from '../../src/config/schedule.ts';

function ok(kind: 'daily' | 'weekly' | 'monthly', text: string): Schedule {
  const s = parseSchedule(kind, text);
  if ('error' in s) throw new Error(s.error);
  return s;
}

describe('schedules', () => {
  it("accepts Bolt's forms and cron", () => {
    expect(ok('daily', '02:00')).toMatchObject({ form: 'daily', hour: 2, minute: 0 });
    expect(ok('weekly', 'sunday@03:00')).toMatchObject({ form: 'weekly', weekday: 0, hour: 3 });
    expect(ok('weekly', 'Sat@23:59')).toMatchObject({ form: 'weekly', weekday: 6, hour: 23, minute: 59 });
    expect(ok('monthly', '1@04:00')).toMatchObject({ form: 'monthly', day: 1, hour: 4 });
    expect(ok('daily', '30 2 * * *')).toMatchObject({ form: 'cron' });
  });
  it('rejects malformed schedules with the expected form in the message', () => {
    for (const [kind, text] of [
      ['daily', '25:00'],
      ['daily', 'sunday@03:00'],
      ['weekly', 'funday@03:00'],
      ['monthly', '32@04:00'],
      ['monthly', '1@4'],
      ['daily', '61 2 * * *'],
      ['daily', '* * *'],
    ] as const) {
      const s = parseSchedule(kind, text);
      expect('error' in s, `${kind} ${text}`).toBe(true);
    }
    const s = parseSchedule('weekly', 'funday@03:00');
    expect('error' in s && s.error).toContain('"<weekday>@HH:MM"');
  });
  it('computes next and previous occurrences in local time', () => {
    const daily = ok('daily', '02:00');
    const at = new Date(2026, 10, 25, 1, 0);
    expect(nextOccurrence(daily, at)).toEqual(new Date(2026, 10, 25, 2, 0));
    expect(nextOccurrence(daily, new Date(2026, 10, 25, 2, 0))).toEqual(new Date(2026, 10, 26, 2, 0));
    expect(previousOccurrence(daily, at)).toEqual(new Date(2026, 10, 24, 2, 0));
    const weekly = ok('weekly', 'sunday@03:00'); // 2026-11-25 is a Wednesday
    expect(nextOccurrence(weekly, at)).toEqual(new Date(2026, 10, 29, 3, 0));
    expect(previousOccurrence(weekly, at)).toEqual(new Date(2026, 10, 22, 3, 0));
    const monthly = ok('monthly', '31@04:00');
    expect(nextOccurrence(monthly, new Date(2026, 1, 1))).toEqual(new Date(2026, 1, 28, 4, 0));
    const cron = ok('daily', '30 2 * * *');
    expect(nextOccurrence(cron, at)).toEqual(new Date(2026, 10, 25, 2, 30));
    expect(previousOccurrence(cron, at)).toEqual(new Date(2026, 10, 24, 2, 30));
  });
});
