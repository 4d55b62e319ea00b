import { describe, expect, test } from 'vitest';
import { InvalidConfigError } from '../../src/backup/errors.ts';
import { formatKeepDuration, keepWithinCutoff, parseKeepDuration } from '../../src/backup/retention/duration.ts';
import { isEmptyPolicy, parsePolicy, type RetentionPolicy } from '../../src/backup/retention/policy.ts';
import { applyResticPolicy, resticForget } from '../../src/backup/retention/restic-forget.ts';
import { groupSnapshots, hasAllTags, matchesFilter, parseGroupBy } from '../../src/backup/retention/restic-grouping.ts';
import type { RetentionSnapshot } from '../../src/backup/retention/retention-snapshot.ts';
import { formatRfc3339Nano, parseRfc3339 } from '../../src/util/go-time.ts';

const snap = (id: string, time: string, extra: Partial<RetentionSnapshot> = {}): RetentionSnapshot => ({
  id,
  time: parseRfc3339(time),
  hostname: 'h',
  paths: ['/p'],
  ...extra,
});

describe('policy validation', () => {
  test('negative, fractional and non-numeric counts are refused, naming the option', () => {
    for (const [policy, message] of [
      [{ keep_last: -1 }, /^keep_last must be a whole number ≥ 0, got -1$/],
      [{ keep_daily: 1.5 }, /^keep_daily must be a whole number/],
      [{ keep_yearly: '3' }, /^keep_yearly must be a whole number .* got "3"$/],
      [{ keep_within: 30 }, /^keep_within must be a duration string/],
      [{ keep_within_daily: '1w' }, /^keep_within_daily: invalid unit 'w' after number 1/],
      [{ keep_within: '7' }, /^keep_within: no unit after number 7/],
      [{ keep_tags: 'a' }, /^keep_tags must be a list/],
      [{ keep_tags: [3] }, /^keep_tags\[0\] must be/],
      [{ keep_hourlies: 3 }, /^unknown retention option "keep_hourlies"$/],
    ] as Array<[unknown, RegExp]>) {
      let error: unknown;
      try {
        parsePolicy(policy as RetentionPolicy);
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(policy)).toBeInstanceOf(InvalidConfigError);
      expect((error as Error).message).toMatch(message);
    }
    // the restic forget functions validate too
    expect(() => applyResticPolicy([], { keep_last: -1 })).toThrow(InvalidConfigError);
    expect(() => resticForget([], { keep_monthly: -2 })).toThrow(InvalidConfigError);
  });

  test('keep_tags in restic flag form: split at commas, spaces trimmed, empty tags kept', () => {
    expect(parsePolicy({ keep_tags: ['a, b', ['c d'], ' x', 'y,'] }).tags).toEqual([['a', 'b'], ['c d'], ['x'], ['y', '']]);
  });

  test('empty policies: nothing above zero', () => {
    expect(isEmptyPolicy(parsePolicy({}))).toBe(true);
    expect(isEmptyPolicy(parsePolicy({ keep_last: 0, keep_within: '0d', keep_within_daily: '', keep_tags: [] }))).toBe(true);
    expect(isEmptyPolicy(parsePolicy({ keep_within: '1h' }))).toBe(false);
    expect(isEmptyPolicy(parsePolicy({ keep_tags: [''] }))).toBe(false);
    const list = [snap('a', '2024-01-01T00:00:00Z'), snap('b', '2024-01-02T00:00:00Z')];
    // restic 0.14 removes nothing and prints no group
    expect(resticForget(list, { keep_daily: 0 })).toEqual([]);
    expect(applyResticPolicy(list, {})).toEqual({ keep: [list[1], list[0]], remove: [], reasons: [] });
  });
});

describe('keep-within durations', () => {
  test('syntax as restic 0.14 accepts it', () => {
    expect(parseKeepDuration('1y2m3d4h', 'x')).toEqual({ years: 1, months: 2, days: 3, hours: 4 });
    expect(parseKeepDuration('2d1y', 'x')).toEqual({ years: 1, months: 0, days: 2, hours: 0 });
    expect(parseKeepDuration('1d2d', 'x').days).toBe(2); // a repeated unit overwrites
    expect(parseKeepDuration('01d', 'x').days).toBe(1);
    expect(parseKeepDuration('', 'x')).toEqual({ years: 0, months: 0, days: 0, hours: 0 });
    for (const bad of ['1D', '5', 'd', '1.5d', '-1d', '1w', ' 1d']) expect(() => parseKeepDuration(bad, 'x'), bad).toThrow(InvalidConfigError);
  });

  test("printed as restic prints it: non-zero parts, y m d h", () => {
    expect(formatKeepDuration(parseKeepDuration('2d1y', 'x'))).toBe('1y2d');
    expect(formatKeepDuration(parseKeepDuration('1y0m', 'x'))).toBe('1y');
    expect(formatKeepDuration(parseKeepDuration('36h', 'x'))).toBe('36h');
  });

  test('cutoff: calendar parts on the wall clock (AddDate), then hours as absolute time', () => {
    const cut = (latest: string, d: string) => formatRfc3339Nano(keepWithinCutoff(parseRfc3339(latest), parseKeepDuration(d, 'x')));
    expect(cut('2024-03-31T00:00:00Z', '1m')).toBe('2024-03-02T00:00:00Z');
    expect(cut('2024-03-31T00:00:00Z', '1d12h')).toBe('2024-03-29T12:00:00Z');
    expect(cut('2024-03-10T12:00:00+05:30', '1y1m1d')).toBe('2023-02-09T12:00:00+05:30');
    expect(cut('2024-02-29T00:00:00Z', '1y')).toBe('2023-03-01T00:00:00Z');
  });

  test('latest is the newest snapshot before now; the cut is strictly after', () => {
    const list = [
      snap('edge', '2024-03-02T00:00:00Z'),
      snap('inside', '2024-03-02T00:00:01Z'),
      snap('latest', '2024-03-31T00:00:00Z'),
      snap('future', '2030-01-01T00:00:00Z'),
    ];
    const now = parseRfc3339('2025-01-01T00:00:00Z');
    const r = applyResticPolicy(list, { keep_within: '1m' }, now);
    // the future snapshot is after the cutoff too, but it is not the reference point
    expect(r.keep.map((s) => s.id)).toEqual(['future', 'latest', 'inside']);
    expect(r.remove.map((s) => s.id)).toEqual(['edge']);
    // with every snapshot in the future, latest is Go's zero time and everything is within
    const early = applyResticPolicy(list, { keep_within: '1d' }, parseRfc3339('2000-01-01T00:00:00Z'));
    expect(early.remove).toEqual([]);
  });
});

describe('grouping and filters', () => {
  test('group-by syntax', () => {
    expect(parseGroupBy('host,paths')).toEqual({ host: true, paths: true, tags: false });
    expect(parseGroupBy('')).toEqual({ host: false, paths: false, tags: false });
    expect(parseGroupBy('tags')).toEqual({ host: false, paths: false, tags: true });
    expect(() => parseGroupBy('hosts')).toThrow(/unknown group-by criterion "hosts"/);
  });

  test('paths compared as a sorted set; absent tags and [] are different groups', () => {
    const list = [
      snap('1', '2024-01-01T00:00:00Z', { paths: ['/b', '/a'] }),
      snap('2', '2024-01-02T00:00:00Z', { paths: ['/a', '/b'] }),
      snap('3', '2024-01-03T00:00:00Z', { tags: [] }),
      snap('4', '2024-01-04T00:00:00Z'),
      snap('5', '2024-01-05T00:00:00Z', { tags: ['y', 'x'] }),
    ];
    const byPaths = groupSnapshots(list, { host: true, paths: true, tags: false });
    expect(byPaths.map((g) => [g.key, g.snapshots.map((s) => s.id)])).toEqual([
      [{ hostname: 'h', paths: ['/a', '/b'], tags: null }, ['1', '2']],
      [{ hostname: 'h', paths: ['/p'], tags: null }, ['3', '4', '5']],
    ]);
    const byTags = groupSnapshots(list, { host: false, paths: false, tags: true });
    expect(byTags.map((g) => [g.key.tags, g.snapshots.map((s) => s.id)])).toEqual([
      [['x', 'y'], ['5']],
      [[], ['3']],
      [null, ['1', '2', '4']],
    ]);
  });

  test('filters: any host, all tags of one list (empty tag = untagged), all paths', () => {
    const tagged = snap('t', '2024-01-01T00:00:00Z', { tags: ['a', 'b'], paths: ['/x', '/y'] });
    const untagged = snap('u', '2024-01-01T00:00:00Z');
    expect(hasAllTags(tagged, ['a', 'b'])).toBe(true);
    expect(hasAllTags(tagged, ['a', 'c'])).toBe(false);
    expect(hasAllTags(untagged, [''])).toBe(true);
    expect(hasAllTags(tagged, [''])).toBe(false);
    expect(matchesFilter(tagged, { hosts: ['z', 'h'] })).toBe(true);
    expect(matchesFilter(tagged, { hosts: ['z'] })).toBe(false);
    expect(matchesFilter(tagged, { tags: [['c'], ['b']] })).toBe(true);
    expect(matchesFilter(tagged, { paths: ['/y'] })).toBe(true);
    expect(matchesFilter(tagged, { paths: ['/y', '/z'] })).toBe(false);
    expect(matchesFilter(tagged, {})).toBe(true);
  });
});

describe('bucket details of formats/restic.md §13.2', () => {
  test('only the last kept value is remembered: mixed offsets keep a day twice', () => {
    // newest first the wall-clock days are 10, 11, 10, 9, 9, 10 (case time-zones of the vectors)
    const list = [
      snap('a', '2024-01-10T21:00:00+00:00'),
      snap('b', '2024-01-11T01:00:00+05:30'), // 2024-01-10T19:30Z
      snap('c', '2024-01-10T10:00:00-08:00'), // 2024-01-10T18:00Z
      snap('d', '2024-01-09T22:00:00Z'),
      snap('e', '2024-01-09T20:00:00Z'),
      snap('f', '2024-01-10T00:30:00+05:30'), // 2024-01-09T19:00Z
    ];
    const r = applyResticPolicy(list, { keep_daily: 10 });
    expect(r.remove.map((s) => s.id)).toEqual(['e']);
    expect(r.reasons.map((x) => x.counters.daily)).toEqual([9, 8, 7, 6, 5]);
  });

  test('reasons in restic order with counters left after each snapshot', () => {
    const list = [snap('n', '2024-05-08T10:00:00Z', { tags: ['a', 'b'] }), snap('o', '2024-05-07T10:00:00Z')];
    const r = applyResticPolicy(list, { keep_tags: ['a,b', 'b'], keep_within: '1d', keep_last: 1, keep_yearly: 3, keep_within_monthly: '1y' }, parseRfc3339('2025-01-01T00:00:00Z'));
    expect(r.reasons.map((x) => [x.snapshot.id, x.matches, x.counters])).toEqual([
      ['n', ['has tags [a, b]', 'has tags [b]', 'within 1d', 'last snapshot', 'yearly snapshot', 'monthly within 1y'], { yearly: 2 }],
    ]);
    expect(r.remove.map((s) => s.id)).toEqual(['o']);
  });
});
