// `backup forget` for restic repositories: restic's policy per host+paths group (decisions
// identical to `restic forget --dry-run --json`), then, with --apply, the snapshot files are
// removed and the data nothing references any more is pruned — all under the exclusive lock.
import type { Core } from '../../native/types.ts';
import type { ForgetOptions } from '../../backup/backend.ts';
import type { ForgetResult } from '../../backup/types.ts';
import type { RetentionPolicy } from '../../backup/retention/policy.ts';
import { resticForget } from '../../backup/retention/restic-forget.ts';
import { formatRfc3339Nano } from '../../util/go-time.ts';
import { loadSnapshots, type LoadedSnapshot } from './snapshots.ts';
import { withLock } from './lock.ts';
import { pruneRepository } from './prune.ts';
import type { ResticRepository } from './repository.ts';

interface Candidate {
  id: string;
  time: LoadedSnapshot['snapshot']['time'];
  hostname?: string;
  paths: readonly string[];
  tags?: readonly string[];
}

export async function forgetResticSnapshots(
  repo: ResticRepository,
  core: Core,
  policy: RetentionPolicy,
  options: ForgetOptions & { packSize: number; uploads: number },
): Promise<ForgetResult> {
  return withLock(repo, { exclusive: !options.dryRun }, async () => {
    const { snapshots } = await loadSnapshots(repo);
    const candidates: Candidate[] = snapshots.map((s) => ({
      id: s.id,
      time: s.snapshot.time,
      ...(s.snapshot.hostname !== undefined ? { hostname: s.snapshot.hostname } : {}),
      paths: s.snapshot.paths,
      ...(s.snapshot.tags !== undefined ? { tags: s.snapshot.tags } : {}),
    }));
    const groupBy = options.groupBy ?? ['host', 'paths'];
    const groups = resticForget(candidates, policy, { groupBy: { host: groupBy.includes('host'), paths: groupBy.includes('paths'), tags: groupBy.includes('tags') } });
    const result: ForgetResult = {
      dry_run: options.dryRun,
      groups: groups.map((g) => ({
        key: { hostname: groupBy.includes('host') ? g.key.hostname : null, paths: g.key.paths, tags: g.key.tags },
        keep: g.reasons.map((r) => ({ id: r.snapshot.id, short_id: r.snapshot.id.slice(0, 8), timestamp: formatRfc3339Nano(r.snapshot.time), reasons: r.matches })),
        remove: g.remove.map((s) => ({ id: s.id, short_id: s.id.slice(0, 8), timestamp: formatRfc3339Nano(s.time) })),
      })),
      removed: [],
    };
    if (options.dryRun) return result;
    for (const g of groups) {
      for (const s of g.remove) {
        await repo.removeFile('snapshots', s.id);
        result.removed.push(s.id);
      }
    }
    if (result.removed.length) {
      result.prune = await pruneRepository(repo, core, { packSize: options.packSize, uploads: options.uploads, ...(options.progress ? { progress: options.progress } : {}) });
    }
    return result;
  });
}
