// `ghostsnap forget` as ghostsnap decides it (formats/ghostsnap.md §15): no grouping, time
// windows measured back from now, and the union of what each option keeps. It is not restic's
// rule: "keep_daily 7" keeps the newest snapshot of each UTC day of the last 7×24 hours, not of
// the 7 most recent days that have snapshots.

import { compareInstants, goTimeNow, isoWeek, wallClock, type GoTime, type WallClock } from '../../util/go-time.ts';
import { InvalidConfigError } from '../errors.ts';
import { parsePolicy, type RetentionPolicy } from './policy.ts';
import { sortNewestFirst, type RetentionSnapshot } from './retention-snapshot.ts';

export interface GhostsnapForgetOptions {
  now?: GoTime;
  /** `--host`: only snapshots of exactly this host are considered. */
  hostname?: string;
  /** `--tag`: only snapshots carrying at least one of these tags are considered. */
  tags?: readonly string[];
}

export interface GhostsnapForgetResult<S extends RetentionSnapshot> {
  /** Newest first; snapshots outside the filter appear in neither list. */
  keep: S[];
  remove: S[];
  /** Per kept snapshot, which options keep it ("last snapshot", "daily snapshot", ...). */
  reasons: Array<{ snapshot: S; matches: string[] }>;
}

const DAY = 86_400;
const UNSUPPORTED = [
  'keep_hourly',
  'keep_within',
  'keep_within_hourly',
  'keep_within_daily',
  'keep_within_weekly',
  'keep_within_monthly',
  'keep_within_yearly',
  'keep_tags',
] as const;

const pad = (n: number): string => String(n).padStart(2, '0');

// ghostsnap formats snapshot times in UTC (chrono) to build its period keys.
function utcClock(t: GoTime): WallClock {
  return wallClock({ ...t, offsetMinutes: 0 });
}

function dayKey(t: GoTime): string {
  const w = utcClock(t);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

// The calendar year next to the ISO week, as ghostsnap does (so late-December weeks collide).
function weekKey(t: GoTime): string {
  return `${utcClock(t).year}-W${isoWeek({ ...t, offsetMinutes: 0 })[1]}`;
}

function monthKey(t: GoTime): string {
  const w = utcClock(t);
  return `${w.year}-${pad(w.month)}`;
}

function yearKey(t: GoTime): string {
  return String(utcClock(t).year);
}

const WINDOWS = [
  { option: 'keep_daily', days: 1, reason: 'daily snapshot', key: dayKey },
  { option: 'keep_weekly', days: 7, reason: 'weekly snapshot', key: weekKey },
  { option: 'keep_monthly', days: 31, reason: 'monthly snapshot', key: monthKey },
  { option: 'keep_yearly', days: 365, reason: 'yearly snapshot', key: yearKey },
] as const;

/**
 * Decides what `ghostsnap forget` keeps. Only keep_last, keep_daily, keep_weekly, keep_monthly
 * and keep_yearly exist in ghostsnap; other options are refused rather than ignored. Unlike
 * restic, an option set to 0 counts: keep_last 0 keeps nothing, so every considered snapshot
 * not kept by another option is removed. A policy without options keeps everything.
 */
export function ghostsnapForget<S extends RetentionSnapshot>(
  snapshots: readonly S[],
  policy: RetentionPolicy,
  options: GhostsnapForgetOptions = {},
): GhostsnapForgetResult<S> {
  const parsed = parsePolicy(policy);
  for (const option of UNSUPPORTED) {
    const value = policy[option];
    if (value !== undefined && !(Array.isArray(value) && value.length === 0)) {
      throw new InvalidConfigError(`${option} is not supported for ghostsnap repositories`, {
        hint: 'ghostsnap forget knows keep_last, keep_daily, keep_weekly, keep_monthly and keep_yearly',
      });
    }
  }
  const considered = sortNewestFirst(
    snapshots.filter(
      (s) =>
        (options.hostname === undefined || s.hostname === options.hostname) &&
        (!options.tags?.length || options.tags.some((tag) => s.tags?.includes(tag))),
    ),
  );
  const active = WINDOWS.filter((w) => parsed.counts[w.option] !== undefined);
  const keepLast = parsed.counts.keep_last;
  if (keepLast === undefined && active.length === 0) {
    return { keep: considered, remove: [], reasons: [] };
  }

  const now = options.now ?? goTimeNow();
  const reasons = new Map<S, string[]>();
  const keepFor = (snapshot: S, reason: string): void => {
    const list = reasons.get(snapshot);
    if (list) list.push(reason);
    else reasons.set(snapshot, [reason]);
  };
  if (keepLast !== undefined) considered.slice(0, keepLast).forEach((s) => keepFor(s, 'last snapshot'));
  for (const window of active) {
    const from: GoTime = { sec: now.sec - parsed.counts[window.option]! * window.days * DAY, nsec: now.nsec, offsetMinutes: 0 };
    const seen = new Set<string>();
    for (const snapshot of considered) {
      if (compareInstants(snapshot.time, from) < 0) continue;
      const key = window.key(snapshot.time);
      if (seen.has(key)) continue;
      seen.add(key);
      keepFor(snapshot, window.reason);
    }
  }
  const result: GhostsnapForgetResult<S> = { keep: [], remove: [], reasons: [] };
  for (const snapshot of considered) {
    const matches = reasons.get(snapshot);
    if (matches) {
      result.keep.push(snapshot);
      result.reasons.push({ snapshot, matches });
    } else {
      result.remove.push(snapshot);
    }
  }
  return result;
}
