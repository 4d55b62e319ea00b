// BackupStats for ghostsnap repositories (definitions in docs/CLI.md "backup stats"): plaintext
// lengths come from the trees (the index records only where each zlib stream lies).
import type { BackupStats } from '../../backup/types.ts';
import { decodeTree } from './tree.ts';
import { loadSnapshots } from './snapshots.ts';
import type { GhostsnapRepository } from './repository.ts';

export async function ghostsnapStats(repo: GhostsnapRepository): Promise<BackupStats> {
  const { index } = await repo.loadIndex();
  const { snapshots } = await loadSnapshots(repo);
  const sizes = new Map<string, number>();
  const chunkLengths = new Map<string, number>();
  let totalSize = 0;
  for (const s of snapshots) {
    let size = sizes.get(s.snapshot.tree);
    if (size === undefined) {
      size = 0;
      for (const n of decodeTree(await repo.readTreePlain(s.snapshot.tree), `tree ${s.snapshot.tree}`)) {
        if (n.type !== 'File') continue;
        size += n.size;
        for (const c of n.chunks) chunkLengths.set(c.id, c.length);
      }
      sizes.set(s.snapshot.tree, size);
    }
    totalSize += size;
  }
  let unique = 0;
  let stored = 0;
  for (const [id, length] of chunkLengths) {
    const loc = index.get(id);
    if (!loc) continue;
    unique += length;
    stored += loc.length;
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
