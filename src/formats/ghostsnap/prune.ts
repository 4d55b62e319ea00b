// Removing data no snapshot needs, under the lock. Unlike ghostsnap's prune, which only deletes
// packs whose every chunk is unused, this repacks partly used packs (their used chunks' zlib
// streams copied, verified, into new packs) while unused space is above 5%, deletes trees no
// snapshot references, and deletes packs no index names (left by interrupted backups). Objects
// that nothing references but that could belong to a writer still running without the lock
// (ghostsnap takes none on remote storage) are kept until they are an hour old.
// Order: everything is read and checked, partly used packs are repacked into new packs, the
// forgotten snapshots are removed, the new index is written (conditionally: if anyone changed the
// index meanwhile, prune stops before deleting data), then unused objects are deleted.
import type { Core } from '../../native/types.ts';
import type { ProgressSink } from '../../observe/progress.ts';
import { CorruptDataError } from '../../backup/errors.ts';
import { PreconditionFailedError } from '../../storage/errors.ts';
import { ChunkIndex, INDEX_KEY } from './chunk-index.ts';
import { decodeTree } from './tree.ts';
import { loadSnapshots } from './snapshots.ts';
import { verifyPack } from './pack-reader.ts';
import { packKey } from './pack.ts';
import { GhostsnapPacker } from './packer.ts';
import { treeKey, type GhostsnapRepository } from './repository.ts';

export const SAFETY_AGE_MS = 60 * 60 * 1000;

export interface PruneSettings {
  packSize: number;
  uploads: number;
  spoolDir: string;
  /** Repack partly used packs while unused bytes exceed this share of all pack data (restic's 5%). */
  maxUnusedRatio?: number;
  /** Snapshots to remove first (forget): only once everything prune needs has been read. */
  removeSnapshots?: ReadonlySet<string>;
  progress?: ProgressSink;
  now?: number;
}

export interface PruneResult {
  packs_deleted: number;
  packs_rewritten: number;
  bytes_freed: number;
}

function stop(message: string, cause?: unknown, snapshotsRemoved = false): CorruptDataError {
  const what = snapshotsRemoved ? 'the forgotten backups were removed, no data was deleted' : 'nothing was deleted';
  return new CorruptDataError(`prune stopped: ${message}; run \`backup check\` — ${what}`, cause === undefined ? {} : { cause });
}

/** Call with the lock held. */
export async function pruneGhostsnap(repo: GhostsnapRepository, core: Core, settings: PruneSettings): Promise<PruneResult> {
  const now = settings.now ?? Date.now();
  let loaded;
  try {
    loaded = await repo.loadIndex();
  } catch (err) {
    throw stop(`${INDEX_KEY} cannot be read (${(err as Error).message})`, err);
  }
  const index = loaded.index;
  let all;
  try {
    ({ snapshots: all } = await loadSnapshots(repo));
  } catch (err) {
    throw stop((err as Error).message, err);
  }
  const remove = settings.removeSnapshots ?? new Set<string>();
  const snapshots = all.filter((s) => !remove.has(s.name));
  const forgottenTrees = new Set(all.filter((s) => remove.has(s.name)).map((s) => s.snapshot.tree));
  const used = new Set<string>();
  const usedTrees = new Set<string>();
  for (const s of snapshots) {
    if (usedTrees.has(s.snapshot.tree)) continue;
    usedTrees.add(s.snapshot.tree);
    let nodes;
    try {
      nodes = decodeTree(await repo.readTreePlain(s.snapshot.tree), `tree ${s.snapshot.tree}`);
    } catch (err) {
      throw stop(`the tree of snapshot ${s.name} cannot be read (${(err as Error).message})`, err);
    }
    for (const n of nodes) for (const c of n.chunks) used.add(c.id);
  }
  const data = await repo.listData();
  for (const id of used) {
    const loc = index.get(id);
    if (!loc) throw stop(`chunk ${id} is used but not in the index`);
    if (!data.packs.has(loc.pack)) throw stop(`chunk ${id} is used, and its pack ${loc.pack} is missing`);
  }

  const byPack = index.byPack();
  const unusedPacks: string[] = [];
  const partly: { packId: string; unused: number }[] = [];
  let total = 0;
  let unusedBytes = 0;
  for (const [packId, info] of index.packs) {
    if (!data.packs.has(packId)) continue; // drops out of the new index
    total += info.size;
    const chunks = [...(byPack.get(packId) ?? new Map()).entries()];
    const usedHere = chunks.filter(([id]) => used.has(id));
    if (usedHere.length === 0) {
      unusedPacks.push(packId);
      continue;
    }
    const live = usedHere.reduce((n, [, loc]) => n + loc.length, 0);
    const unused = info.size - live;
    if (unused > 0) {
      partly.push({ packId, unused });
      unusedBytes += unused;
    }
  }
  const maxUnused = (settings.maxUnusedRatio ?? 0.05) * total;
  partly.sort((a, b) => b.unused - a.unused);
  const repack: string[] = [];
  for (const p of partly) {
    if (unusedBytes <= maxUnused) break;
    repack.push(p.packId);
    unusedBytes -= p.unused;
  }

  const packer = new GhostsnapPacker(repo, settings.packSize, settings.uploads, settings.spoolDir);
  let done = 0;
  try {
    for (const packId of repack) {
      const keep = new Set([...(byPack.get(packId) ?? new Map()).keys()].filter((id) => used.has(id)));
      const v = await verifyPack(repo, core, packId, keep);
      const missing = [...keep].filter((id) => !v.kept.has(id));
      if (missing.length) throw stop(`pack ${packId} cannot be repacked: chunk ${missing[0]} ${v.badChunks.get(missing[0] as string) ?? v.errors[0] ?? 'is not in it'}`);
      for (const [id, chunk] of v.kept) await packer.addCompressed(id, chunk.zlib, chunk.rawLength);
      settings.progress?.update({ operation: 'prune', phase: 'repacking', files_done: ++done, files_total: repack.length, bytes_done: 0 });
    }
    await packer.flush();
  } catch (err) {
    await packer.discard();
    throw err;
  }

  // The forgotten snapshots go before the index that no longer lists their chunks.
  for (const name of remove) await repo.removeSnapshot(name);
  const removed = new Set([...unusedPacks, ...repack]);
  const next = new ChunkIndex();
  for (const [packId, info] of index.packs) {
    if (removed.has(packId) || !data.packs.has(packId)) continue;
    const chunks = [...(byPack.get(packId) ?? new Map()).entries()].filter(([id]) => used.has(id));
    next.addPack(packId, info, chunks);
  }
  for (const p of packer.stored) next.addPack(p.id, p.info, p.chunks.map((c) => [c.id, c]));
  try {
    await repo.saveIndex(next, loaded.etag);
  } catch (err) {
    if (err instanceof PreconditionFailedError) throw stop('another writer changed the index meanwhile (ghostsnap takes no lock on remote storage)', err, remove.size > 0);
    throw err;
  }

  let freed = 0;
  let deleted = 0;
  const oldEnough = (modified: Date | undefined) => modified !== undefined && now - modified.getTime() > SAFETY_AGE_MS;
  for (const packId of removed) {
    freed += data.packs.get(packId)?.size ?? 0;
    await repo.storage.delete(packKey(packId));
    deleted += 1;
  }
  const written = new Set(packer.stored.map((p) => p.id));
  for (const [packId, stored] of data.packs) {
    if (index.packs.has(packId) || written.has(packId) || !oldEnough(stored.modified)) continue;
    freed += stored.size;
    await repo.storage.delete(packKey(packId));
    deleted += 1;
  }
  for (const [treeId, stored] of data.trees) {
    if (usedTrees.has(treeId)) continue;
    if (!forgottenTrees.has(treeId) && !oldEnough(stored.modified)) continue;
    freed += stored.size;
    await repo.storage.delete(treeKey(treeId));
  }
  freed -= packer.stats.packedBytes;
  settings.progress?.done();
  return { packs_deleted: deleted, packs_rewritten: repack.length, bytes_freed: Math.max(0, freed) };
}
