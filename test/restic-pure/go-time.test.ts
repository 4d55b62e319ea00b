import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { Utf8Sink } from '../../src/util/utf8-sink.ts';
import {
  addDate,
  civilFromDays,
  compareInstants,
  daysFromCivil,
  formatRfc3339Nano,
  GO_ZERO_TIME,
  goTimeFromUnix,
  isoWeek,
  localOffsetMinutes,
  parseRfc3339,
  TimeParseError,
  wallClock,
  writeRfc3339Nano,
} from '../../src/util/go-time.ts';

const t = (s: string) => parseRfc3339(s);

describe('formatRfc3339Nano', () => {
  test('fraction trimmed, Z for zero offset, ±hh:mm otherwise', () => {
    expect(formatRfc3339Nano({ sec: 1700000000, nsec: 123456789, offsetMinutes: 0 })).toBe('2023-11-14T22:13:20.123456789Z');
    expect(formatRfc3339Nano({ sec: 1700000000, nsec: 500000000, offsetMinutes: 0 })).toBe('2023-11-14T22:13:20.5Z');
    expect(formatRfc3339Nano({ sec: 1700000000, nsec: 0, offsetMinutes: 0 })).toBe('2023-11-14T22:13:20Z');
    expect(formatRfc3339Nano({ sec: 1700000000, nsec: 1000, offsetMinutes: 330 })).toBe('2023-11-15T03:43:20.000001+05:30');
    expect(formatRfc3339Nano({ sec: 1700000000, nsec: 10, offsetMinutes: -480 })).toBe('2023-11-14T14:13:20.00000001-08:00');
    expect(formatRfc3339Nano({ sec: 0, nsec: 0, offsetMinutes: -30 })).toBe('1969-12-31T23:30:00-00:30');
    expect(formatRfc3339Nano(GO_ZERO_TIME)).toBe('0001-01-01T00:00:00Z');
    expect(formatRfc3339Nano({ sec: -1, nsec: 999999999, offsetMinutes: 0 })).toBe('1969-12-31T23:59:59.999999999Z');
    expect(() => formatRfc3339Nano({ sec: 253402300800, nsec: 0, offsetMinutes: 0 })).toThrow(/year 10000/);
  });

  test('agrees with Date when times on a few days alternate (the formatter keeps recent dates)', () => {
    const days = [19000, 19001, -5, 19000, 2932000];
    for (let i = 0; i < 600; i++) {
      const day = days[i % days.length]! + (i % 7 === 0 ? i : 0); // now and then a new day
      const ms = day * 86_400_000 + Math.floor(Math.random() * 86_400_000);
      const sec = Math.floor(ms / 1000);
      const expected = new Date(ms).toISOString().replace(/\.?0*Z$/, 'Z');
      expect(formatRfc3339Nano({ sec, nsec: (ms - sec * 1000) * 1_000_000, offsetMinutes: 0 })).toBe(expected);
    }
    expect(() => formatRfc3339Nano({ sec: 253402300800, nsec: 0, offsetMinutes: 0 })).toThrow(/year 10000/);
  });

  test('agrees with Date for millisecond times over 4000 years', () => {
    for (let i = 0; i < 2000; i++) {
      const ms = Math.floor((Math.random() - 0.5) * 2 * 62135596800000 * 0.98);
      const sec = Math.floor(ms / 1000);
      const nsec = (ms - sec * 1000) * 1_000_000;
      const expected = new Date(ms).toISOString().replace(/\.?0*Z$/, 'Z');
      expect(formatRfc3339Nano({ sec, nsec, offsetMinutes: 0 })).toBe(expected);
    }
  });
});

describe('writeRfc3339Nano', () => {
  test('writes Go\'s RFC3339Nano for any instant, fraction and offset (checked against Date)', () => {
    const random = (n: number) => Math.floor(Math.random() * n);
    const sink = new Utf8Sink(64);
    const expected: string[] = [];
    const fractions = [0, 1, 10, 100_000_000, 120_000_000, 123_456_789, 999_999_999, 500];
    for (let i = 0; i < 5000; i++) {
      // From year 0 to 9999, around the epoch and the day boundaries, in whole and odd offsets.
      const sec = [random(2 ** 31), -random(2 ** 31), -62167219200 + random(1e6), 253402300799 - random(1e6), 86400 * random(30000) - random(2)][i % 5]!;
      const t = { sec, nsec: i % 3 === 0 ? fractions[random(fractions.length)]! : random(1e9), offsetMinutes: [0, 60, -300, 330, 345, -720, 840][random(7)]! };
      const local = t.sec + t.offsetMinutes * 60;
      if (local < -62167219200 || local > 253402300799) continue; // outside years 0..9999
      // The wall clock in the offset, the nine fraction digits without trailing zeros, the offset.
      const clock = new Date(local * 1000).toISOString().slice(0, 19);
      const fraction = t.nsec === 0 ? '' : '.' + String(t.nsec).padStart(9, '0').replace(/0+$/, '');
      const abs = Math.abs(t.offsetMinutes);
      const zone = t.offsetMinutes === 0 ? 'Z' : `${t.offsetMinutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
      expected.push(clock + fraction + zone);
      writeRfc3339Nano(sink, t);
      sink.byte(0x0a);
    }
    expect(sink.bytes().toString('latin1')).toBe(expected.map((e) => e + '\n').join(''));
  });
});

describe('parseRfc3339', () => {
  test('exact nanoseconds and the written offset (no Date rounding)', () => {
    expect(t('2023-11-14T22:13:20.123456789Z')).toEqual({ sec: 1700000000, nsec: 123456789, offsetMinutes: 0 });
    expect(t('2024-01-10T00:30:00+05:30')).toEqual({ sec: 1704826800, nsec: 0, offsetMinutes: 330 });
    expect(t('2024-01-09T16:30:00-08:00')).toEqual({ sec: 1704846600, nsec: 0, offsetMinutes: -480 });
    expect(t('1969-12-31T23:59:59.5Z')).toEqual({ sec: -1, nsec: 500000000, offsetMinutes: 0 });
    expect(t('2024-01-01t00:00:00.1234567891234z')).toEqual({ sec: 1704067200, nsec: 123456789, offsetMinutes: 0 });
    expect(t('2024-02-29T12:00:00+00:00').offsetMinutes).toBe(0);
    expect(t('0001-01-01T00:00:00Z')).toEqual(GO_ZERO_TIME);
  });

  test('round trip of what Go writes', () => {
    for (const s of ['2026-11-25T03:17:04.9789802Z', '2024-01-15T10:00:00Z', '2023-07-01T14:34:56.123456789+02:00', '1960-03-04T06:06:07.25+01:00', '9999-12-31T23:59:59.999999999-23:59']) {
      expect(formatRfc3339Nano(t(s))).toBe(s);
    }
  });

  test('random instants, fractions and offsets survive format and parse', () => {
    let seed = 42;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const nsec = [0, next(1e9), next(1000) * 1e6, next(10)][i % 4] as number;
      const offsetMinutes = i % 5 === 0 ? 0 : next(24 * 60 * 2 - 1) - (24 * 60 - 1);
      // Wall clocks within years 0001..9999 (what Go formats), a day away from either end.
      const sec = -62135596800 + 86400 + next(253402300799 + 62135596800 - 2 * 86400);
      const time = { sec, nsec, offsetMinutes };
      const text = formatRfc3339Nano(time);
      expect(t(text), text).toEqual(time);
      expect(t(text.toLowerCase()), text).toEqual(time);
    }
  });

  test('rejects what is not RFC 3339', () => {
    const bad = ['2024-01-01', '2024-01-01T00:00:00', '2024-01-01T00:00:00Zx', '2024-01-01T00:00:00+05:30x', '2024-01-01T00:00:00.5', '2024-01-01T00:00:00.12a4Z', '2024-01-01T00:00:00+05-30', '+024-01-01T00:00:00Z', '2024-01-01 00:00:00Z', '2024-1-01T00:00:00Z', '2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T00:60:00Z', '2024-12-31T23:59:60Z', '2024-01-01T00:00:00.Z', '2024-01-01T00:00:00+0530', '2024-01-01T00:00:00+24:00', ' 2024-01-01T00:00:00Z'];
    for (const s of bad) expect(() => t(s), s).toThrow(TimeParseError);
  });
});

describe('calendar arithmetic', () => {
  test('civil ↔ days agrees with Date.UTC', () => {
    for (let days = -800_000; days <= 800_000; days += 997) {
      const d = new Date(days * 86_400_000);
      expect(civilFromDays(days)).toEqual({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() });
      expect(daysFromCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate())).toBe(days);
    }
  });

  test('wall clock in the recorded offset', () => {
    expect(wallClock(t('2024-01-10T00:30:00+05:30'))).toEqual({ year: 2024, month: 1, day: 10, hour: 0, minute: 30, second: 0 });
    expect(wallClock(t('1969-12-31T23:59:59.9Z'))).toEqual({ year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59 });
  });

  test('ISO weeks across new year (formats/restic.md §13.2)', () => {
    for (const d of ['2020-12-28', '2020-12-31', '2021-01-03']) expect(isoWeek(t(`${d}T12:00:00Z`))).toEqual([2020, 53]);
    expect(isoWeek(t('2021-01-04T00:00:00Z'))).toEqual([2021, 1]);
    expect(isoWeek(t('2024-12-29T12:00:00Z'))).toEqual([2024, 52]);
    expect(isoWeek(t('2024-12-30T12:00:00Z'))).toEqual([2025, 1]);
    expect(isoWeek(t('2025-01-02T12:00:00Z'))).toEqual([2025, 1]);
    expect(isoWeek(t('2024-01-01T00:00:00Z'))).toEqual([2024, 1]);
    // the week of the wall clock: Monday 00:30 in +05:30 is Sunday in UTC
    expect(isoWeek(t('2024-01-08T00:30:00+05:30'))).toEqual([2024, 2]);
  });

  test('ISO weeks agree with date(1) %G-%V', () => {
    const days = Array.from({ length: 60 }, (_, i) => daysFromCivil(1995 + i, 12, 24) + (i % 12));
    const stamps = days.map((d) => `@${d * 86400 + 43200}`);
    const out = execFileSync('sh', ['-c', `for s in ${stamps.join(' ')}; do date -u -d "$s" +%G-%V; done`], { env: { PATH: process.env.PATH } })
      .toString()
      .trim()
      .split('\n');
    days.forEach((d, i) => {
      const [y, w] = isoWeek({ sec: d * 86400 + 43200, nsec: 0, offsetMinutes: 0 });
      expect(`${y}-${String(w).padStart(2, '0')}`).toBe(out[i]);
    });
  });

  test('AddDate normalises like Go', () => {
    const f = (s: string, y: number, m: number, d: number) => formatRfc3339Nano(addDate(t(s), y, m, d));
    expect(f('2024-03-31T00:00:00Z', 0, -1, 0)).toBe('2024-03-02T00:00:00Z');
    expect(f('2023-03-31T00:00:00Z', 0, -1, 0)).toBe('2023-03-03T00:00:00Z');
    expect(f('2024-01-31T10:00:00.5+05:30', 0, 1, 0)).toBe('2024-03-02T10:00:00.5+05:30');
    expect(f('2024-02-29T00:00:00Z', -1, 0, 0)).toBe('2023-03-01T00:00:00Z');
    expect(f('2024-01-15T00:00:00Z', 0, -13, 0)).toBe('2022-12-15T00:00:00Z');
    expect(f('2024-01-01T00:00:00Z', 0, 0, -1)).toBe('2023-12-31T00:00:00Z');
    expect(f('2024-03-01T00:00:00-08:00', 0, 0, -1)).toBe('2024-02-29T00:00:00-08:00');
  });

  test('instants compare across offsets', () => {
    expect(compareInstants(t('2024-01-10T00:30:00+05:30'), t('2024-01-09T19:00:00Z'))).toBe(0);
    expect(compareInstants(t('2024-01-01T00:00:00.000000001Z'), t('2024-01-01T00:00:00Z'))).toBeGreaterThan(0);
  });
});

describe('the host zone (restic writes local times)', () => {
  test('localOffsetMinutes agrees with date(1) in zones with and without DST', () => {
    const saved = process.env.TZ;
    try {
      for (const zone of ['UTC', 'Asia/Kolkata', 'America/Los_Angeles', 'Europe/Berlin', 'Australia/Lord_Howe']) {
        process.env.TZ = zone;
        for (const sec of [0, 1_700_000_000, 1_688_212_800, 1_711_846_800, -1_000_000_000]) {
          const z = execFileSync('date', ['-d', `@${sec}`, '+%z'], { env: { TZ: zone, PATH: process.env.PATH } }).toString().trim();
          const expected = (z[0] === '-' ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
          expect(localOffsetMinutes(sec), `${zone} @${sec}`).toBe(expected);
          expect(goTimeFromUnix(sec, 0).offsetMinutes).toBe(expected);
        }
      }
    } finally {
      process.env.TZ = saved;
    }
  });

  test('goTimeFromUnix validates its input', () => {
    expect(() => goTimeFromUnix(0, 1e9, 0)).toThrow(RangeError);
    expect(() => goTimeFromUnix(0.5, 0, 0)).toThrow(RangeError);
    expect(() => goTimeFromUnix(0, 0, 24 * 60)).toThrow(RangeError);
    expect(goTimeFromUnix(5, 6, -90)).toEqual({ sec: 5, nsec: 6, offsetMinutes: -90 });
  });
});
