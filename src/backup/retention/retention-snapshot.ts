// What retention needs to know about a snapshot, independent of the repository format.

import { compareInstants, type GoTime } from '../../util/go-time.ts';

export interface RetentionSnapshot {
  id: string;
  /** The snapshot time with the UTC offset it was recorded in (restic buckets use that wall clock). */
  time: GoTime;
  hostname?: string;
  paths: readonly string[];
  /** undefined (no tags recorded) and [] are different groups for restic's `--group-by tags`. */
  tags?: readonly string[];
}

/** Newest first; stable, so equal times keep their input order (restic's order is undefined). */
export function sortNewestFirst<S extends RetentionSnapshot>(snapshots: readonly S[]): S[] {
  return [...snapshots].sort((a, b) => compareInstants(b.time, a.time));
}
