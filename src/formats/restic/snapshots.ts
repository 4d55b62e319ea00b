// Loading, finding and describing snapshots; restic's parent choice (formats/restic.md §12).
import { BackupError, CorruptDataError } from '../../backup/errors.ts';
import type { Backup } from '../../backup/types.ts';
import { mapLimit } from '../../engine/concurrency.ts';
import { compareInstants, formatRfc3339Nano } from '../../util/go-time.ts';
import { decodeSnapshot, type ResticSnapshot } from './snapshot.ts';
import type { ResticRepository } from './repository.ts';

export const NAME_TAG_PREFIX = 'bolt.name=';

export interface LoadedSnapshot {
  id: string;
  snapshot: ResticSnapshot;
}

export interface SnapshotLoadProblem {
  id: string;
  message: string;
}

/** Every snapshot, oldest first. With `tolerant`, unreadable ones are reported, not fatal. */
export async function loadSnapshots(repo: ResticRepository, options: { tolerant?: boolean } = {}): Promise<{ snapshots: LoadedSnapshot[]; problems: SnapshotLoadProblem[] }> {
  const ids = await repo.list('snapshots');
  const problems: SnapshotLoadProblem[] = [];
  const loaded = await mapLimit(ids, 16, async (id): Promise<LoadedSnapshot | undefined> => {
    try {
      return { id, snapshot: decodeSnapshot(await repo.readUnpacked('snapshots', id)) };
    } catch (err) {
      if (!options.tolerant) throw err;
      problems.push({ id, message: (err as Error).message });
      return undefined;
    }
  });
  const snapshots = loaded.filter((s): s is LoadedSnapshot => s !== undefined);
  snapshots.sort((a, b) => compareInstants(a.snapshot.time, b.snapshot.time) || a.id.localeCompare(b.id));
  return { snapshots, problems };
}

export function snapshotName(s: ResticSnapshot): string | null {
  const tag = s.tags?.find((t) => t.startsWith(NAME_TAG_PREFIX));
  return tag ? tag.slice(NAME_TAG_PREFIX.length) : null;
}

export function toBackup(loaded: LoadedSnapshot): Backup {
  const s = loaded.snapshot;
  return {
    id: loaded.id,
    name: snapshotName(s),
    timestamp: formatRfc3339Nano(s.time),
    size_bytes: s.summary ? s.summary.totalBytesProcessed : null,
    paths: s.paths,
    tags: s.tags ?? [],
    tool: 'restic',
    short_id: loaded.id.slice(0, 8),
    hostname: s.hostname ?? '',
    ...(s.username ? { username: s.username } : {}),
    parent: s.parent ?? null,
    tree: s.tree,
    ...(s.summary
      ? {
          summary: {
            backup_start: formatRfc3339Nano(s.summary.backupStart),
            backup_end: formatRfc3339Nano(s.summary.backupEnd),
            files_new: s.summary.filesNew,
            files_changed: s.summary.filesChanged,
            files_unmodified: s.summary.filesUnmodified,
            dirs_new: s.summary.dirsNew,
            dirs_changed: s.summary.dirsChanged,
            dirs_unmodified: s.summary.dirsUnmodified,
            data_blobs: s.summary.dataBlobs,
            tree_blobs: s.summary.treeBlobs,
            data_added: s.summary.dataAdded,
            data_added_packed: s.summary.dataAddedPacked,
            total_files_processed: s.summary.totalFilesProcessed,
            total_bytes_processed: s.summary.totalBytesProcessed,
          },
        }
      : {}),
  };
}

/**
 * Resolves "latest", a full id, a unique id prefix, or a name (the newest backup with that
 * name). Ambiguity and absence are errors that say what matched.
 */
export function findSnapshot(snapshots: readonly LoadedSnapshot[], reference: string): LoadedSnapshot {
  if (snapshots.length === 0) throw new BackupError('NotFound', 'the repository has no backups yet');
  if (reference === 'latest') return snapshots[snapshots.length - 1] as LoadedSnapshot;
  if (/^[0-9a-f]{1,64}$/.test(reference)) {
    const matches = snapshots.filter((s) => s.id.startsWith(reference));
    if (matches.length === 1) return matches[0] as LoadedSnapshot;
    if (matches.length > 1) {
      throw new BackupError('Usage', `backup id prefix "${reference}" is ambiguous: ${matches.map((m) => m.id.slice(0, 12)).join(', ')}`, { hint: 'give more characters of the id' });
    }
  }
  const named = snapshots.filter((s) => snapshotName(s.snapshot) === reference);
  if (named.length) return named[named.length - 1] as LoadedSnapshot;
  throw new BackupError('NotFound', `no backup with id, id prefix or name "${reference}"`, { hint: 'see `bolt-agent backup list`' });
}

/** restic's automatic parent: newest snapshot of this host, not after `time`, whose paths include all of ours. */
export function chooseParent(snapshots: readonly LoadedSnapshot[], hostname: string, paths: readonly string[], time: ResticSnapshot['time']): LoadedSnapshot | undefined {
  let best: LoadedSnapshot | undefined;
  for (const s of snapshots) {
    if ((s.snapshot.hostname ?? '') !== hostname) continue;
    if (compareInstants(s.snapshot.time, time) > 0) continue;
    if (!paths.every((p) => s.snapshot.paths.includes(p))) continue;
    if (!best || compareInstants(s.snapshot.time, best.snapshot.time) >= 0) best = s;
  }
  return best;
}

export function requireTree(loaded: LoadedSnapshot): string {
  if (!/^[0-9a-f]{64}$/.test(loaded.snapshot.tree)) throw new CorruptDataError(`snapshot ${loaded.id} has no valid tree`);
  return loaded.snapshot.tree;
}
