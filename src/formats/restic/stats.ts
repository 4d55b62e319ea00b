// BackupStats for restic repositories (definitions in docs/CLI.md "backup stats").
import type { BackupStats } from '../../backup/types.ts';
import { decodeTree } from './tree.ts';
import { loadSnapshots } from './snapshots.ts';
import type { ResticRepository } from './repository.ts';
import { SEAL_OVERHEAD } from './pack.ts';

export async function resticStats(repo: ResticRepository): Promise<BackupStats> {
  const index = await repo.index();
  const { snapshots } = await loadSnapshots(repo);
  // Content bytes below a tree, memoised: snapshots share most of their trees.
  const treeBytes = new Map<string, Promise<number>>();
  const sizeOf = (treeId: string): Promise<number> => {
    let pending = treeBytes.get(treeId);
    if (!pending) {
      pending = (async () => {
        let total = 0;
        for (const node of decodeTree(await repo.loadBlob('tree', treeId, index))) {
          if (node.type === 'file') total += node.size ?? 0;
          else if (node.type === 'dir' && node.subtree) total += await sizeOf(node.subtree);
        }
        return total;
      })();
      treeBytes.set(treeId, pending);
    }
    return pending;
  };
  let totalSize = 0;
  for (const s of snapshots) totalSize += await sizeOf(s.snapshot.tree);
  let unique = 0;
  let stored = 0;
  for (const [, locations] of index.entries('data')) {
    const loc = locations[0];
    if (!loc) continue;
    const payload = loc.length - SEAL_OVERHEAD;
    unique += loc.uncompressedLength > 0 ? loc.uncompressedLength : payload;
    stored += payload;
  }
  return {
    total_size: totalSize,
    total_backups: snapshots.length,
    unique_data: unique,
    compression_ratio: stored > 0 ? round(unique / stored) : 1,
    deduplication_ratio: unique > 0 ? round(totalSize / unique) : 1,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
