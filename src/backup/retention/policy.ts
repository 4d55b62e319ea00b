// The retention policy shared by both repository formats, with the option names used in
// configuration files. restic's forget understands all of it; ghostsnap's only a subset
// (see ghostsnap-forget.ts).

import { InvalidConfigError } from '../errors.ts';
import { isZeroDuration, parseKeepDuration, type KeepDuration } from './duration.ts';

export interface RetentionPolicy {
  keep_last?: number;
  keep_hourly?: number;
  keep_daily?: number;
  keep_weekly?: number;
  keep_monthly?: number;
  keep_yearly?: number;
  /** Keep everything within this duration of the newest snapshot, e.g. "30d" or "1y6m". */
  keep_within?: string;
  keep_within_hourly?: string;
  keep_within_daily?: string;
  keep_within_weekly?: string;
  keep_within_monthly?: string;
  keep_within_yearly?: string;
  /**
   * Keep snapshots that carry all tags of any one entry. An entry is a list of tags, or a
   * string in restic's `--keep-tag` form ("a,b": split at commas, spaces trimmed). As in restic,
   * an empty tag matches a snapshot without tags.
   */
  keep_tags?: ReadonlyArray<string | readonly string[]>;
}

export const COUNT_OPTIONS = ['keep_last', 'keep_hourly', 'keep_daily', 'keep_weekly', 'keep_monthly', 'keep_yearly'] as const;
export type CountOption = (typeof COUNT_OPTIONS)[number];

export const WITHIN_BUCKET_OPTIONS = [
  'keep_within_hourly',
  'keep_within_daily',
  'keep_within_weekly',
  'keep_within_monthly',
  'keep_within_yearly',
] as const;
export type WithinBucketOption = (typeof WITHIN_BUCKET_OPTIONS)[number];

/** A validated policy: counts as integers ≥ 0 (absent = undefined), durations parsed. */
export interface ParsedPolicy {
  counts: Record<CountOption, number | undefined>;
  within: KeepDuration | undefined;
  withinBuckets: Record<WithinBucketOption, KeepDuration | undefined>;
  tags: string[][];
}

const KNOWN_OPTIONS: ReadonlySet<string> = new Set([...COUNT_OPTIONS, 'keep_within', ...WITHIN_BUCKET_OPTIONS, 'keep_tags']);

/** restic's TagList flag syntax. */
function tagList(entry: string | readonly string[]): string[] {
  return typeof entry === 'string' ? entry.split(',').map((t) => t.trim()) : [...entry];
}

/**
 * Checks a policy and parses its durations. Throws InvalidConfigError naming the option for
 * unknown options, negative or fractional counts (restic 0.14 would silently treat a negative
 * count as "keep nothing") and malformed durations or tag lists.
 */
export function parsePolicy(policy: RetentionPolicy): ParsedPolicy {
  for (const key of Object.keys(policy)) {
    if (!KNOWN_OPTIONS.has(key)) throw new InvalidConfigError(`unknown retention option ${JSON.stringify(key)}`);
  }
  const counts = {} as Record<CountOption, number | undefined>;
  for (const option of COUNT_OPTIONS) {
    const value: unknown = policy[option];
    if (value === undefined) {
      counts[option] = undefined;
      continue;
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new InvalidConfigError(`${option} must be a whole number ≥ 0, got ${JSON.stringify(value)}`, {
        hint: 'leave the option out to not use it; negative ("unlimited") counts are not supported',
      });
    }
    counts[option] = value;
  }
  const duration = (option: 'keep_within' | WithinBucketOption): KeepDuration | undefined => {
    const value: unknown = policy[option];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new InvalidConfigError(`${option} must be a duration string like "30d", got ${JSON.stringify(value)}`);
    return parseKeepDuration(value, option);
  };
  const withinBuckets = {} as Record<WithinBucketOption, KeepDuration | undefined>;
  for (const option of WITHIN_BUCKET_OPTIONS) withinBuckets[option] = duration(option);
  const rawTags: unknown = policy.keep_tags ?? [];
  if (!Array.isArray(rawTags)) throw new InvalidConfigError('keep_tags must be a list of tag lists');
  const tags = rawTags.map((entry: unknown, i) => {
    if (typeof entry !== 'string' && !(Array.isArray(entry) && entry.every((t) => typeof t === 'string'))) {
      throw new InvalidConfigError(`keep_tags[${i}] must be a string "a,b" or a list of strings`);
    }
    return tagList(entry as string | string[]);
  });
  return { counts, within: duration('keep_within'), withinBuckets, tags };
}

/**
 * True when the policy keeps by nothing: no count above 0, no non-zero duration, no tag list
 * (restic 0.14 then removes nothing; 0.17+ refuses to run).
 */
export function isEmptyPolicy(p: ParsedPolicy): boolean {
  return (
    p.tags.length === 0 &&
    COUNT_OPTIONS.every((o) => !p.counts[o]) &&
    (p.within === undefined || isZeroDuration(p.within)) &&
    WITHIN_BUCKET_OPTIONS.every((o) => p.withinBuckets[o] === undefined || isZeroDuration(p.withinBuckets[o]!))
  );
}
