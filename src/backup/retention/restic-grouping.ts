// Snapshot selection and grouping of `restic forget` (formats/restic.md §13.1).

import { InvalidConfigError } from '../errors.ts';
import type { RetentionSnapshot } from './retention-snapshot.ts';

export interface GroupBy {
  host: boolean;
  paths: boolean;
  tags: boolean;
}

/** restic's default `--group-by host,paths`. */
export const DEFAULT_GROUP_BY: GroupBy = Object.freeze({ host: true, paths: true, tags: false });

/** Parses `--group-by` text: comma-separated `host`, `paths`, `tags`; "" means one group. */
export function parseGroupBy(text: string): GroupBy {
  const groupBy: GroupBy = { host: false, paths: false, tags: false };
  for (const word of text.split(',')) {
    if (word === '') continue;
    if (word !== 'host' && word !== 'paths' && word !== 'tags') {
      throw new InvalidConfigError(`unknown group-by criterion ${JSON.stringify(word)}`, { hint: 'use host, paths and/or tags' });
    }
    groupBy[word] = true;
  }
  return groupBy;
}

/** restic's snapshot filters (`--host`, `--tag`, `--path`); empty or absent means "all". */
export interface SnapshotFilter {
  /** Any of these hosts. */
  hosts?: readonly string[];
  /** All tags of at least one of these lists. */
  tags?: ReadonlyArray<readonly string[]>;
  /** All of these paths. */
  paths?: readonly string[];
}

/** restic's HasTags: every tag of the list present; an empty tag matches a snapshot without tags. */
export function hasAllTags(snapshot: RetentionSnapshot, list: readonly string[]): boolean {
  const tags = snapshot.tags ?? [];
  for (const tag of list) {
    if (tag === '' && tags.length === 0) return true;
    if (!tags.includes(tag)) return false;
  }
  return true;
}

export function matchesFilter(snapshot: RetentionSnapshot, filter: SnapshotFilter): boolean {
  if (filter.hosts?.length && !filter.hosts.includes(snapshot.hostname ?? '')) return false;
  if (filter.tags?.length && !filter.tags.some((list) => hasAllTags(snapshot, list))) return false;
  if (filter.paths?.length && !filter.paths.every((p) => snapshot.paths.includes(p))) return false;
  return true;
}

/** A group's key as restic prints it: fields not grouped by are "" / null. */
export interface GroupKey {
  hostname: string;
  /** Sorted. */
  paths: string[] | null;
  /** Sorted; null for "no tags recorded", [] for an explicit empty list. */
  tags: string[] | null;
}

export interface SnapshotGroup<S extends RetentionSnapshot> {
  key: GroupKey;
  snapshots: S[];
}

// Go compares strings bytewise (UTF-8); JS `<` compares UTF-16 code units.
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Groups snapshots (in input order within a group); groups come sorted by key. */
export function groupSnapshots<S extends RetentionSnapshot>(snapshots: readonly S[], groupBy: GroupBy): SnapshotGroup<S>[] {
  const groups = new Map<string, SnapshotGroup<S>>();
  for (const snapshot of snapshots) {
    const key: GroupKey = {
      hostname: groupBy.host ? (snapshot.hostname ?? '') : '',
      paths: groupBy.paths ? [...snapshot.paths].sort(byUtf8) : null,
      tags: groupBy.tags && snapshot.tags !== undefined ? [...snapshot.tags].sort(byUtf8) : null,
    };
    const text = JSON.stringify(key);
    const group = groups.get(text);
    if (group) group.snapshots.push(snapshot);
    else groups.set(text, { key, snapshots: [snapshot] });
  }
  return [...groups.entries()].sort(([a], [b]) => byUtf8(a, b)).map(([, g]) => g);
}
