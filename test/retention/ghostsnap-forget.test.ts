// ghostsnap's forget model (formats/ghostsnap.md §15), case by case from the specification's
// text: windows measured back from now, the union of the options, no grouping, UTC keys, and
// the calendar-year/ISO-week key.

import { describe, expect, test } from 'vitest';
import { InvalidConfigError } from '../../src/backup/errors.ts';
import { ghostsnapForget } from '../../src/backup/retention/ghostsnap-forget.ts';
import { applyResticPolicy } from '../../src/backup/retention/restic-forget.ts';
import type { RetentionSnapshot } from '../../src/backup/retention/retention-snapshot.ts';
import { parseRfc3339 } from '../../src/util/go-time.ts';

const NOW = parseRfc3339('2025-06-15T12:00:00Z');

const snap = (id: string, time: string, extra: Partial<RetentionSnapshot> = {}): RetentionSnapshot => ({
  id,
  time: parseRfc3339(time),
  hostname: 'h1',
  paths: ['/data'],
  ...extra,
});
const ids = (list: readonly RetentionSnapshot[]): string[] => list.map((s) => s.id);

describe('ghostsnap forget', () => {
  const week = [
    snap('mon', '2025-06-09T08:00:00Z'),
    snap('tue-early', '2025-06-10T06:00:00Z'),
    snap('tue-late', '2025-06-10T20:00:00Z'),
    snap('fri', '2025-06-13T09:00:00Z'),
    snap('sun', '2025-06-15T11:00:00Z'),
  ];

  test('keep_last N keeps the N newest; keep_last 0 alone removes everything considered', () => {
    const r = ghostsnapForget(week, { keep_last: 2 }, { now: NOW });
    expect(ids(r.keep)).toEqual(['sun', 'fri']);
    expect(ids(r.remove)).toEqual(['tue-late', 'tue-early', 'mon']);
    expect(r.reasons[0]!.matches).toEqual(['last snapshot']);
    expect(ids(ghostsnapForget(week, { keep_last: 0 }, { now: NOW }).keep)).toEqual([]);
    // restic treats 0 as "not set" and keeps everything
    expect(applyResticPolicy(week, { keep_last: 0 }).remove).toEqual([]);
  });

  test('no options: everything is kept', () => {
    expect(ghostsnapForget(week, {}, { now: NOW })).toEqual({ keep: ids(week).reverse().map((id) => week.find((s) => s.id === id)), remove: [], reasons: [] });
  });

  test('keep_daily N: newest per UTC day among snapshots not older than now − N days', () => {
    const r = ghostsnapForget(week, { keep_daily: 5 }, { now: NOW });
    // now − 5 days = 2025-06-10T12:00Z: tue-early and mon are outside the window
    expect(ids(r.keep)).toEqual(['sun', 'fri', 'tue-late']);
    // the window edge is inclusive
    const edge = [snap('edge', '2025-06-10T12:00:00Z'), snap('before', '2025-06-10T11:59:59Z')];
    expect(ids(ghostsnapForget(edge, { keep_daily: 5 }, { now: NOW }).keep)).toEqual(['edge']);
  });

  test('windows count from now, not periods that have snapshots (unlike restic)', () => {
    const old = [snap('a', '2025-05-01T10:00:00Z'), snap('b', '2025-05-02T10:00:00Z'), snap('c', '2025-05-03T10:00:00Z')];
    expect(ids(ghostsnapForget(old, { keep_daily: 7 }, { now: NOW }).keep)).toEqual([]);
    expect(ids(applyResticPolicy(old, { keep_daily: 7 }, NOW).keep)).toEqual(['c', 'b', 'a']);
  });

  test('days are UTC days, whatever offset the snapshot was written in', () => {
    const zoned = [
      snap('late-utc', '2025-06-14T23:30:00Z'),
      snap('kolkata', '2025-06-15T04:00:00+05:30'), // 2025-06-14T22:30Z: same UTC day as late-utc
    ];
    expect(ids(ghostsnapForget(zoned, { keep_daily: 3 }, { now: NOW }).keep)).toEqual(['late-utc']);
    // restic uses the recorded wall clock: two different days
    expect(ids(applyResticPolicy(zoned, { keep_daily: 3 }, NOW).keep)).toEqual(['late-utc', 'kolkata']);
  });

  test('keep_weekly: key is calendar year + ISO week, so year-end weeks split or collide', () => {
    const now = parseRfc3339('2025-01-10T00:00:00Z');
    const list = [
      snap('2025-01-05', '2025-01-05T10:00:00Z'), // ISO 2025-W01 → "2025-W1"
      snap('2024-12-30', '2024-12-30T10:00:00Z'), // ISO 2025-W01 but calendar 2024 → "2024-W1"
      snap('2024-12-29', '2024-12-29T10:00:00Z'), // 2024-W52
      snap('2024-01-03', '2024-01-03T10:00:00Z'), // ISO 2024-W01 → "2024-W1" again
    ];
    const r = ghostsnapForget(list, { keep_weekly: 60 }, { now });
    // 2025-01-05 and 2024-12-30 share an ISO week but get separate keys; 2024-01-03 collides
    // with 2024-12-30 and loses
    expect(ids(r.keep)).toEqual(['2025-01-05', '2024-12-30', '2024-12-29']);
    expect(ids(r.remove)).toEqual(['2024-01-03']);
    // the window: 1 week back from now reaches 2025-01-03
    expect(ids(ghostsnapForget(list, { keep_weekly: 1 }, { now }).keep)).toEqual(['2025-01-05']);
  });

  test('keep_monthly uses 31·N days, keep_yearly 365·N days', () => {
    const list = [
      snap('jun', '2025-06-01T00:00:00Z'),
      snap('may-15', '2025-05-15T12:00:00Z'), // exactly 31 days before now
      snap('may-14', '2025-05-14T12:00:00Z'),
      snap('2024', '2024-06-15T12:00:00Z'), // exactly 365 days before now
      snap('2023', '2023-12-31T00:00:00Z'),
    ];
    expect(ids(ghostsnapForget(list, { keep_monthly: 1 }, { now: NOW }).keep)).toEqual(['jun', 'may-15']);
    expect(ids(ghostsnapForget(list, { keep_yearly: 1 }, { now: NOW }).keep)).toEqual(['jun', '2024']);
    expect(ids(ghostsnapForget(list, { keep_yearly: 2 }, { now: NOW }).keep)).toEqual(['jun', '2024', '2023']);
  });

  test('the kept set is the union of the options, with every reason listed', () => {
    const r = ghostsnapForget(week, { keep_last: 1, keep_daily: 3, keep_monthly: 1 }, { now: NOW });
    expect(r.reasons.map((x) => [x.snapshot.id, x.matches])).toEqual([
      ['sun', ['last snapshot', 'daily snapshot', 'monthly snapshot']],
      ['fri', ['daily snapshot']],
    ]);
    expect(ids(r.remove)).toEqual(['tue-late', 'tue-early', 'mon']);
  });

  test('no grouping by host or paths; filters by exact host and any one tag', () => {
    const list = [
      snap('h1-new', '2025-06-15T10:00:00Z', { tags: ['x'] }),
      snap('h2-new', '2025-06-15T09:00:00Z', { hostname: 'h2', paths: ['/other'], tags: ['y', 'z'] }),
      snap('h1-old', '2025-06-14T10:00:00Z'),
      snap('h2-old', '2025-06-14T09:00:00Z', { hostname: 'h2', tags: ['z'] }),
    ];
    expect(ids(ghostsnapForget(list, { keep_last: 1 }, { now: NOW }).keep)).toEqual(['h1-new']);
    const h2 = ghostsnapForget(list, { keep_last: 1 }, { now: NOW, hostname: 'h2' });
    expect([ids(h2.keep), ids(h2.remove)]).toEqual([['h2-new'], ['h2-old']]);
    expect(ghostsnapForget(list, { keep_last: 1 }, { now: NOW, hostname: 'h' }).keep).toEqual([]);
    const tagged = ghostsnapForget(list, { keep_last: 1 }, { now: NOW, tags: ['x', 'z'] });
    expect([ids(tagged.keep), ids(tagged.remove)]).toEqual([['h1-new'], ['h2-new', 'h2-old']]);
  });

  test('options ghostsnap does not have are refused, not ignored', () => {
    for (const policy of [{ keep_hourly: 1 }, { keep_within: '1d' }, { keep_within_daily: '7d' }, { keep_tags: ['a'] }]) {
      expect(() => ghostsnapForget(week, policy, { now: NOW }), JSON.stringify(policy)).toThrow(InvalidConfigError);
    }
    expect(() => ghostsnapForget(week, { keep_last: -1 })).toThrow(/keep_last must be a whole number/);
    expect(ghostsnapForget(week, { keep_tags: [], keep_last: 1 }, { now: NOW }).keep.length).toBe(1);
  });
});
