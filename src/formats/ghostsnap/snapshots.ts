// Loading and finding snapshots.
import { BackupError } from '../../backup/errors.ts';
import { mapLimit } from '../../engine/concurrency.ts';
import { compareInstants, parseRfc3339, type GoTime } from '../../util/go-time.ts';
import { decodeSnapshot, snapshotName, type LoadedSnapshot } from './snapshot.ts';
import type { GhostsnapRepository } from './repository.ts';

export interface SnapshotLoadProblem {
  name: string;
  message: string;
}

/** Every snapshot, oldest first. With `tolerant`, unreadable ones are reported, not fatal. */
export async function loadSnapshots(repo: GhostsnapRepository, options: { tolerant?: boolean } = {}): Promise<{ snapshots: LoadedSnapshot[]; problems: SnapshotLoadProblem[] }> {
  const names = await repo.listSnapshotNames();
  const problems: SnapshotLoadProblem[] = [];
  const loaded = await mapLimit(names, 16, async (name): Promise<LoadedSnapshot | undefined> => {
    try {
      return { name, snapshot: decodeSnapshot(await repo.readSnapshotPlain(name), name) };
    } catch (err) {
      if (!options.tolerant) throw err;
      problems.push({ name, message: (err as Error).message });
      return undefined;
    }
  });
  const snapshots = loaded.filter((s): s is LoadedSnapshot => s !== undefined);
  const times = new Map(snapshots.map((s) => [s, parseRfc3339(s.snapshot.time)]));
  snapshots.sort((a, b) => compareInstants(times.get(a) as GoTime, times.get(b) as GoTime) || a.name.localeCompare(b.name));
  return { snapshots, problems };
}

/** "latest", a full id, a unique id prefix, or a name (the newest backup with that name). */
export function findSnapshot(snapshots: readonly LoadedSnapshot[], reference: string): LoadedSnapshot {
  if (snapshots.length === 0) throw new BackupError('NotFound', 'the repository has no backups yet');
  if (reference === 'latest') return snapshots[snapshots.length - 1] as LoadedSnapshot;
  const exact = snapshots.find((s) => s.name === reference);
  if (exact) return exact;
  if (/^[0-9a-f-]{1,36}$/.test(reference)) {
    const matches = snapshots.filter((s) => s.name.startsWith(reference));
    if (matches.length === 1) return matches[0] as LoadedSnapshot;
    if (matches.length > 1) {
      throw new BackupError('Usage', `backup id prefix "${reference}" is ambiguous: ${matches.map((m) => m.name.slice(0, 13)).join(', ')}`, { hint: 'give more characters of the id' });
    }
  }
  const named = snapshots.filter((s) => snapshotName(s.snapshot) === reference);
  if (named.length) return named[named.length - 1] as LoadedSnapshot;
  throw new BackupError('NotFound', `no backup with id, id prefix or name "${reference}"`, { hint: 'see `bolt-agent backup list`' });
}
