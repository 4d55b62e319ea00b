// `restic forget` as restic 0.14 decides it (formats/restic.md §13), checked against every run of
// fixtures/restic/forget-vectors.json and against the real binary. Walking a group newest to
// oldest, each bucket keeps a snapshot whenever its value differs from that of the last snapshot
// the bucket kept, until its count is used up; values come from the wall clock in the offset the
// snapshot recorded.

import { compareInstants, GO_ZERO_TIME, goTimeNow, isoWeek, wallClock, type GoTime } from '../../util/go-time.ts';
import { formatKeepDuration, isZeroDuration, keepWithinCutoff, type KeepDuration } from './duration.ts';
import { isEmptyPolicy, parsePolicy, type CountOption, type RetentionPolicy, type WithinBucketOption } from './policy.ts';
import {
  DEFAULT_GROUP_BY,
  groupSnapshots,
  hasAllTags,
  matchesFilter,
  type GroupBy,
  type GroupKey,
  type SnapshotFilter,
} from './restic-grouping.ts';
import { sortNewestFirst, type RetentionSnapshot } from './retention-snapshot.ts';

/** Counter names as restic prints them in `forget --json`. */
export type CounterName = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

export interface KeepReason<S extends RetentionSnapshot> {
  snapshot: S;
  /** Why it is kept, in restic's words and order ("has tags [a, b]", "within 2d", "daily snapshot", ...). */
  matches: string[];
  /** Counts left after this snapshot; zero counts omitted. */
  counters: Partial<Record<CounterName, number>>;
}

export interface PolicyResult<S extends RetentionSnapshot> {
  /** Newest first. */
  keep: S[];
  /** Newest first. */
  remove: S[];
  reasons: KeepReason<S>[];
}

export interface ResticForgetGroup<S extends RetentionSnapshot> extends PolicyResult<S> {
  key: GroupKey;
}

type Bucketer = (t: GoTime, position: number) => number;

const hourly: Bucketer = (t) => {
  const w = wallClock(t);
  return w.year * 1_000_000 + w.month * 10_000 + w.day * 100 + w.hour;
};
const daily: Bucketer = (t) => {
  const w = wallClock(t);
  return w.year * 10_000 + w.month * 100 + w.day;
};
const weekly: Bucketer = (t) => {
  const [year, week] = isoWeek(t);
  return year * 100 + week;
};
const monthly: Bucketer = (t) => {
  const w = wallClock(t);
  return w.year * 100 + w.month;
};
const yearly: Bucketer = (t) => wallClock(t).year;

const BUCKETS: ReadonlyArray<{ option: CountOption; counter: CounterName; value: Bucketer; reason: string }> = [
  { option: 'keep_last', counter: 'last', value: (_t, position) => position, reason: 'last snapshot' },
  { option: 'keep_hourly', counter: 'hourly', value: hourly, reason: 'hourly snapshot' },
  { option: 'keep_daily', counter: 'daily', value: daily, reason: 'daily snapshot' },
  { option: 'keep_weekly', counter: 'weekly', value: weekly, reason: 'weekly snapshot' },
  { option: 'keep_monthly', counter: 'monthly', value: monthly, reason: 'monthly snapshot' },
  { option: 'keep_yearly', counter: 'yearly', value: yearly, reason: 'yearly snapshot' },
];

const WITHIN_BUCKETS: ReadonlyArray<{ option: WithinBucketOption; value: Bucketer; reason: string }> = [
  { option: 'keep_within_hourly', value: hourly, reason: 'hourly within' },
  { option: 'keep_within_daily', value: daily, reason: 'daily within' },
  { option: 'keep_within_weekly', value: weekly, reason: 'weekly within' },
  { option: 'keep_within_monthly', value: monthly, reason: 'monthly within' },
  { option: 'keep_within_yearly', value: yearly, reason: 'yearly within' },
];

/** The newest snapshot time that is before `now` (Go's zero time when there is none). */
function latestBefore(snapshots: readonly RetentionSnapshot[], now: GoTime): GoTime {
  let latest = GO_ZERO_TIME;
  for (const s of snapshots) {
    if (compareInstants(s.time, latest) > 0 && compareInstants(s.time, now) < 0) latest = s.time;
  }
  return latest;
}

/**
 * restic 0.14's ApplyPolicy for one group. `now` only matters for keep-within*: the newest
 * snapshot before `now` is the reference point. An empty policy keeps everything and gives no
 * reasons (restic 0.14 then removes nothing).
 */
export function applyResticPolicy<S extends RetentionSnapshot>(
  snapshots: readonly S[],
  policy: RetentionPolicy,
  now: GoTime = goTimeNow(),
): PolicyResult<S> {
  const parsed = parsePolicy(policy);
  const list = sortNewestFirst(snapshots);
  if (isEmptyPolicy(parsed)) return { keep: list, remove: [], reasons: [] };

  const latest = latestBefore(list, now);
  const cutoff = (d: KeepDuration | undefined): GoTime | undefined =>
    d === undefined || isZeroDuration(d) ? undefined : keepWithinCutoff(latest, d);
  const withinCutoff = cutoff(parsed.within);
  const buckets = BUCKETS.map((b) => ({ ...b, count: parsed.counts[b.option] ?? 0, last: -1 }));
  const withinBuckets = WITHIN_BUCKETS.flatMap((b) => {
    const duration = parsed.withinBuckets[b.option];
    const after = cutoff(duration);
    return after ? [{ ...b, after, label: `${b.reason} ${formatKeepDuration(duration!)}`, last: -1 }] : [];
  });

  const result: PolicyResult<S> = { keep: [], remove: [], reasons: [] };
  list.forEach((snapshot, position) => {
    const matches: string[] = [];
    for (const tags of parsed.tags) {
      if (hasAllTags(snapshot, tags)) matches.push(`has tags [${tags.join(', ')}]`);
    }
    if (withinCutoff && compareInstants(snapshot.time, withinCutoff) > 0) {
      matches.push(`within ${formatKeepDuration(parsed.within!)}`);
    }
    for (const bucket of buckets) {
      if (bucket.count <= 0) continue;
      const value = bucket.value(snapshot.time, position);
      if (value !== bucket.last) {
        bucket.last = value;
        bucket.count--;
        matches.push(bucket.reason);
      }
    }
    for (const bucket of withinBuckets) {
      if (compareInstants(snapshot.time, bucket.after) <= 0) continue;
      const value = bucket.value(snapshot.time, position);
      if (value !== bucket.last) {
        bucket.last = value;
        matches.push(bucket.label);
      }
    }
    if (matches.length === 0) {
      result.remove.push(snapshot);
      return;
    }
    const counters: Partial<Record<CounterName, number>> = {};
    for (const bucket of buckets) if (bucket.count > 0) counters[bucket.counter] = bucket.count;
    result.keep.push(snapshot);
    result.reasons.push({ snapshot, matches, counters });
  });
  return result;
}

export interface ResticForgetOptions {
  /** Default host,paths. */
  groupBy?: GroupBy;
  /** Snapshots outside the filter are neither kept nor removed. */
  filter?: SnapshotFilter;
  now?: GoTime;
}

/**
 * `restic forget` with a policy: filter, group, apply the policy per group. Groups come sorted
 * by key (restic prints them in random order). With an empty policy there are no groups: restic
 * 0.14 removes nothing and prints nothing.
 */
export function resticForget<S extends RetentionSnapshot>(
  snapshots: readonly S[],
  policy: RetentionPolicy,
  options: ResticForgetOptions = {},
): ResticForgetGroup<S>[] {
  if (isEmptyPolicy(parsePolicy(policy))) return [];
  const selected = options.filter ? snapshots.filter((s) => matchesFilter(s, options.filter!)) : [...snapshots];
  const now = options.now ?? goTimeNow();
  return groupSnapshots(selected, options.groupBy ?? DEFAULT_GROUP_BY).map((group) => ({
    key: group.key,
    ...applyResticPolicy(group.snapshots, policy, now),
  }));
}
