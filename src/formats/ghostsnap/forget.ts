// `backup forget` for ghostsnap repositories, with the same retention semantics as for restic
// repositories (restic's policy per host+paths group; see docs/CLI.md for how this differs from
// `ghostsnap forget`), then, with --apply, the snapshots are removed and what no snapshot needs
// is pruned — under the repository lock.
import type { Core } from '../../native/types.ts';
import type { ForgetOptions } from '../../backup/backend.ts';
import type { ForgetResult } from '../../backup/types.ts';
import type { RetentionPolicy } from '../../backup/retention/policy.ts';
import { resticForget } from '../../backup/retention/restic-forget.ts';
import { parseRfc3339, type GoTime } from '../../util/go-time.ts';
import { loadSnapshots } from './snapshots.ts';
import { withLock } from './lock.ts';
import { pruneGhostsnap } from './prune.ts';
import { spoolDirectory } from './packer.ts';
import type { GhostsnapRepository } from './repository.ts';

interface Candidate {
  id: string;
  time: GoTime;
  timestamp: string;
  hostname: string;
  paths: readonly string[];
  tags: readonly string[];
}

export async function forgetGhostsnapSnapshots(
  repo: GhostsnapRepository,
  core: Core,
  policy: RetentionPolicy,
  options: ForgetOptions & { packSize: number; uploads: number; cacheDir: string | null; warn: (m: string) => void },
): Promise<ForgetResult> {
  const run = async (): Promise<ForgetResult> => {
    const { snapshots } = await loadSnapshots(repo);
    const candidates: Candidate[] = snapshots.map((s) => ({
      id: s.name,
      time: parseRfc3339(s.snapshot.time),
      timestamp: s.snapshot.time,
      hostname: s.snapshot.hostname,
      paths: s.snapshot.paths,
      tags: s.snapshot.tags,
    }));
    const groupBy = options.groupBy ?? ['host', 'paths'];
    const groups = resticForget(candidates, policy, { groupBy: { host: groupBy.includes('host'), paths: groupBy.includes('paths'), tags: groupBy.includes('tags') } });
    const result: ForgetResult = {
      dry_run: options.dryRun,
      groups: groups.map((g) => ({
        key: { hostname: groupBy.includes('host') ? g.key.hostname : null, paths: g.key.paths, tags: g.key.tags },
        keep: g.reasons.map((r) => ({ id: r.snapshot.id, short_id: r.snapshot.id.slice(0, 8), timestamp: r.snapshot.timestamp, reasons: r.matches })),
        remove: g.remove.map((s) => ({ id: s.id, short_id: s.id.slice(0, 8), timestamp: s.timestamp })),
      })),
      removed: [],
    };
    if (options.dryRun) return result;
    const remove = new Set(groups.flatMap((g) => g.remove.map((s) => s.id)));
    if (remove.size) {
      result.prune = await pruneGhostsnap(repo, core, {
        packSize: options.packSize,
        uploads: options.uploads,
        spoolDir: await spoolDirectory(options.cacheDir),
        removeSnapshots: remove,
        ...(options.progress ? { progress: options.progress } : {}),
      });
      result.removed.push(...remove);
    }
    return result;
  };
  if (options.dryRun) return run();
  return withLock(repo, 'forget', run, (d) => options.warn(`removed a stale lock: ${d}`));
}
