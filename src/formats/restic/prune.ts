// Removing data no snapshot needs (formats/restic.md §14.1), under the exclusive lock: packs no
// index names and fully unused packs are deleted; partly used packs are repacked (their used
// blobs copied, verified, into new packs) while unused space is above the limit; new index files
// are written before old index files and packs are deleted (§1.3).
import type { Core } from '../../native/types.ts';
import type { ProgressSink } from '../../observe/progress.ts';
import { CorruptDataError } from '../../backup/errors.ts';
import { mapLimit } from '../../engine/concurrency.ts';
import { decodeTree } from './tree.ts';
import { decodePackHeader, headerLocation } from './pack.ts';
import { encodeIndex, type BlobType, type IndexBlob, type IndexPack } from './index-json.ts';
import { loadSnapshots } from './snapshots.ts';
import { objectKey, type ResticRepository } from './repository.ts';
import { Packer } from './packer.ts';
import { MasterIndex } from './master-index.ts';
import { idToHex } from './ids.ts';

export interface PruneSettings {
  packSize: number;
  uploads: number;
  /** Repack partly used packs while unused bytes exceed this share of all pack bytes (restic: 5%). */
  maxUnusedRatio?: number;
  progress?: ProgressSink;
}

export interface PruneResult {
  packs_deleted: number;
  packs_rewritten: number;
  bytes_freed: number;
}

const INDEX_FILE_BLOBS = 50_000;

/** Every blob the snapshots reference: tree ids and data ids. Fails if a tree cannot be read. */
async function usedBlobs(repo: ResticRepository, index: MasterIndex): Promise<Record<BlobType, Set<string>>> {
  const used: Record<BlobType, Set<string>> = { data: new Set(), tree: new Set() };
  const { snapshots } = await loadSnapshots(repo);
  const walk = async (treeId: string): Promise<void> => {
    if (used.tree.has(treeId)) return;
    used.tree.add(treeId);
    let nodes;
    try {
      nodes = decodeTree(await repo.loadBlob('tree', treeId, index));
    } catch (err) {
      throw new CorruptDataError(`prune stopped: tree ${treeId} cannot be read (${(err as Error).message}); run \`backup check\` and repair first — nothing was deleted`);
    }
    const subtrees: string[] = [];
    for (const n of nodes) {
      if (n.type === 'file') for (const id of n.content ?? []) used.data.add(id);
      else if (n.type === 'dir' && n.subtree) subtrees.push(n.subtree);
    }
    for (const s of subtrees) await walk(s);
  };
  for (const s of snapshots) await walk(s.snapshot.tree);
  for (const type of ['data', 'tree'] as const) {
    for (const id of used[type]) {
      if (!index.has(type, id)) throw new CorruptDataError(`prune stopped: ${type} blob ${id} is used but not indexed; run \`backup check\` — nothing was deleted`);
    }
  }
  return used;
}

/** Call with the exclusive lock held. */
export async function pruneRepository(repo: ResticRepository, core: Core, settings: PruneSettings): Promise<PruneResult> {
  let index: MasterIndex;
  try {
    ({ index } = await repo.loadIndex({ refresh: true }));
  } catch (err) {
    // Deleting with part of the index unknown could delete data some snapshot still needs.
    throw new CorruptDataError(`prune stopped: ${(err as Error).message}; run \`backup check\` — nothing was deleted`, { cause: err });
  }
  const used = await usedBlobs(repo, index);
  const stored = await repo.listPacks();

  // Which location of each used blob we keep: the first in a pack that exists.
  const keep = new Map<string, Set<string>>(); // packId → "type:id" kept there
  for (const type of ['data', 'tree'] as const) {
    for (const id of used[type]) {
      const loc = index.lookup(type, id).find((l) => stored.get(l.packId) === index.packs.get(l.packId)?.size);
      if (!loc) throw new CorruptDataError(`prune stopped: every pack holding ${type} blob ${id} is missing or damaged — nothing was deleted`);
      let set = keep.get(loc.packId);
      if (!set) keep.set(loc.packId, (set = new Set()));
      set.add(`${type}:${id}`);
    }
  }

  const packBlobs = new Map<string, IndexBlob[]>();
  for (const type of ['data', 'tree'] as const) {
    for (const [id, locations] of index.entries(type)) {
      for (const l of locations) {
        let list = packBlobs.get(l.packId);
        if (!list) packBlobs.set(l.packId, (list = []));
        list.push({ type, id, offset: l.offset, length: l.length, ...(l.uncompressedLength > 0 ? { uncompressedLength: l.uncompressedLength } : {}) });
      }
    }
  }

  const unindexed = [...stored.keys()].filter((id) => !index.packs.has(id));
  const unusedPacks: string[] = [];
  const partly: { packId: string; unused: number }[] = [];
  let totalBytes = 0;
  let unusedBytes = 0;
  for (const [packId, info] of index.packs) {
    if (!stored.has(packId)) continue; // missing packs simply drop out of the new index
    totalBytes += info.size;
    const kept = keep.get(packId);
    if (!kept || kept.size === 0) {
      unusedPacks.push(packId);
      continue;
    }
    const blobs = packBlobs.get(packId) ?? [];
    const unused = blobs.filter((b) => !kept.has(`${b.type}:${b.id}`)).reduce((n, b) => n + b.length, 0);
    if (unused > 0) {
      partly.push({ packId, unused });
      unusedBytes += unused;
    }
  }

  // Repack the emptiest packs first until unused space is within the limit.
  const maxUnused = (settings.maxUnusedRatio ?? 0.05) * totalBytes;
  partly.sort((a, b) => b.unused - a.unused);
  const repack: string[] = [];
  for (const p of partly) {
    if (unusedBytes <= maxUnused) break;
    repack.push(p.packId);
    unusedBytes -= p.unused;
  }

  const packer = await Packer.open(repo, new MasterIndex(), settings.packSize, settings.uploads, { writeIndex: false });
  let done = 0;
  await mapLimit(repack, 2, async (packId) => {
    const data = await repo.storage.get(objectKey('data', packId));
    const loc = headerLocation(data.length, data.subarray(data.length - 4), packId);
    const header = decodePackHeader(await core.openAsync(repo.seal, data.subarray(loc.offset, loc.offset + loc.length)), packId);
    const kept = keep.get(packId) ?? new Set();
    const wanted = header.filter((b) => kept.has(`${b.type}:${idToHex(b.id)}`));
    const check = await core.decodeBlobs({
      data,
      blobs: wanted.map((b) => ({ offset: b.offset, length: b.length, rawLength: b.uncompressedLength, compressed: b.uncompressedLength > 0, id: b.id, targets: [] })),
      seal: repo.seal,
      codec: 'zstd',
      hash: 'sha256',
    });
    const bad = check.errors.findIndex((e) => e !== null);
    if (bad >= 0) throw new CorruptDataError(`prune stopped: blob ${idToHex(wanted[bad]?.id ?? Buffer.alloc(0))} in pack ${packId} is damaged (${check.errors[bad]?.message}); run \`backup check --read-data\` — nothing was deleted`);
    for (const b of wanted) await packer.addSealed(b.type, b.id, data.subarray(b.offset, b.offset + b.length), b.uncompressedLength);
    settings.progress?.update({ operation: 'prune', phase: 'repacking', files_done: ++done, files_total: repack.length, bytes_done: 0 });
  });
  await packer.flushPacks();

  // New index: every surviving old pack with all its blobs, plus the repacked ones.
  const removed = new Set([...unusedPacks, ...repack]);
  const survivors: IndexPack[] = [];
  for (const [packId] of index.packs) {
    if (removed.has(packId) || !stored.has(packId)) continue;
    survivors.push({ id: packId, blobs: (packBlobs.get(packId) ?? []).sort((a, b) => a.offset - b.offset) });
  }
  survivors.push(...packer.uploadedPacks);
  const supersedes = [...index.indexIds].sort();
  const newIds: string[] = [];
  let batch: IndexPack[] = [];
  let batchBlobs = 0;
  const writeBatch = async (): Promise<void> => {
    if (!batch.length) return;
    newIds.push(await repo.writeUnpacked('index', encodeIndex({ packs: batch, ...(newIds.length === 0 ? { supersedes } : {}) })));
    batch = [];
    batchBlobs = 0;
  };
  for (const p of survivors) {
    batch.push(p);
    batchBlobs += p.blobs.length;
    if (batchBlobs >= INDEX_FILE_BLOBS) await writeBatch();
  }
  await writeBatch();
  for (const id of supersedes) if (!newIds.includes(id)) await repo.removeFile('index', id);
  repo.invalidateIndex();

  let freed = 0;
  for (const packId of [...removed, ...unindexed]) {
    freed += stored.get(packId) ?? 0;
    await repo.removeFile('data', packId);
  }
  freed -= packer.stats.dataAddedPacked;
  settings.progress?.done();
  return { packs_deleted: unusedPacks.length + unindexed.length, packs_rewritten: repack.length, bytes_freed: Math.max(0, freed) };
}
