// Compares our restic forget decisions with the real restic 0.14 on any restic repository:
// the snapshots are read from the repository with our own decoder, restic runs
// `forget --dry-run --json`, and both results are normalised for comparison. Meant to be reused
// on repositories written by bolt-agent.

import { resticForget } from '../../../src/backup/retention/restic-forget.ts';
import type { RetentionSnapshot } from '../../../src/backup/retention/retention-snapshot.ts';
import { decodeSnapshot } from '../../../src/formats/restic/snapshot.ts';
import { restic, type ResticEnv } from '../../restic-pure/helpers/restic-cli.ts';
import type { ResticRepo } from '../../restic-pure/helpers/restic-repo.ts';
import { parseForgetArgs } from './restic-args.ts';

export interface NormalisedGroup {
  key: string;
  keep: string[];
  remove: string[];
  reasons: Record<string, { matches: string[]; counters: Record<string, number> }>;
}

export function loadRetentionSnapshots(repo: ResticRepo): RetentionSnapshot[] {
  return repo.list('snapshots').map((id) => {
    const s = decodeSnapshot(repo.readUnpacked('snapshots', id));
    return {
      id,
      time: s.time,
      paths: s.paths,
      ...(s.hostname !== undefined ? { hostname: s.hostname } : {}),
      ...(s.tags !== undefined ? { tags: s.tags } : {}),
    };
  });
}

interface ResticJsonGroup {
  tags: string[] | null;
  host: string;
  paths: string[] | null;
  keep: Array<{ id: string; time: string }>;
  remove: Array<{ id: string }> | null;
  reasons: Array<{ snapshot: { time: string }; matches: string[]; counters: Record<string, number> }>;
}

const groupKey = (host: string, paths: string[] | null, tags: string[] | null): string => JSON.stringify([host, paths, tags]);

/** restic's decision, normalised; groups sorted by key, ids sorted. */
export function resticDecision(env: ResticEnv, args: readonly string[]): NormalisedGroup[] {
  const out = restic(env, ['forget', '--dry-run', '--json', '--no-lock', ...args]).trim();
  const groups = (out === '' ? [] : JSON.parse(out)) as ResticJsonGroup[];
  return groups
    .map((g) => {
      const reasons: NormalisedGroup['reasons'] = {};
      // restic lists the reasons in the order of `keep`; its reason objects carry no id
      g.reasons.forEach((r, i) => {
        const kept = g.keep[i]!;
        if (kept.time !== r.snapshot.time) throw new Error('restic reasons are not in keep order');
        reasons[kept.id] = { matches: r.matches, counters: r.counters };
      });
      return {
        key: groupKey(g.host, g.paths, g.tags),
        keep: g.keep.map((s) => s.id).sort(),
        remove: (g.remove ?? []).map((s) => s.id).sort(),
        reasons,
      };
    })
    .sort((a, b) => a.key.localeCompare(b.key));
}

/** Our decision for the same arguments, normalised the same way. */
export function ourDecision(snapshots: readonly RetentionSnapshot[], args: readonly string[]): NormalisedGroup[] {
  const { policy, groupBy, filter } = parseForgetArgs(args);
  return resticForget(snapshots, policy, { ...(groupBy ? { groupBy } : {}), filter })
    .map((g) => ({
      key: groupKey(g.key.hostname, g.key.paths, g.key.tags),
      keep: g.keep.map((s) => s.id).sort(),
      remove: g.remove.map((s) => s.id).sort(),
      reasons: Object.fromEntries(g.reasons.map((r) => [r.snapshot.id, { matches: r.matches, counters: r.counters }])),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}
