// `backup check` for restic repositories (formats/restic.md §11): index files load, every
// indexed pack exists with the right size, every snapshot's trees load and reference indexed
// blobs; with --read-data every pack is downloaded, hashed, its header compared with the index
// and every blob decrypted, decompressed and hashed. Damage is reported with the snapshots and
// files it affects.
import type { Core } from '../../native/types.ts';
import type { CheckProblem, CheckReport } from '../../backup/types.ts';
import type { ProgressSink } from '../../observe/progress.ts';
import { mapLimit } from '../../engine/concurrency.ts';
import { decodeTree, type ResticNode } from './tree.ts';
import { decodePackHeader, headerLocation, type PackedBlob } from './pack.ts';
import { loadSnapshots, type LoadedSnapshot } from './snapshots.ts';
import { objectKey, type ResticRepository } from './repository.ts';
import type { MasterIndex } from './master-index.ts';
import { idToHex } from './ids.ts';

export interface CheckSettings {
  readData: boolean;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

const VALID_TYPES = new Set(['file', 'dir', 'symlink', 'dev', 'chardev', 'fifo', 'socket']);

interface Damage {
  /** Damaged packs (all their blobs are suspect). */
  packs: Map<string, string>;
  /** Blobs that are missing or unreadable, with the object to blame. */
  blobs: Map<string, string>;
  trees: Set<string>;
}

export async function checkResticRepository(repo: ResticRepository, core: Core, settings: CheckSettings): Promise<CheckReport> {
  const errors: CheckProblem[] = [];
  const hints: string[] = [];
  const damage: Damage = { packs: new Map(), blobs: new Map(), trees: new Set() };

  const { index, problems: indexProblems } = await repo.loadIndex({ tolerant: true });
  for (const p of indexProblems) errors.push({ object: `index ${p.indexId}`, message: p.message });

  const stored = await repo.listPacks();
  for (const [packId, info] of index.packs) {
    const size = stored.get(packId);
    if (size === undefined) {
      errors.push({ object: `pack ${packId}`, message: 'listed in the index but missing from the repository' });
      damage.packs.set(packId, 'missing');
    } else if (size !== info.size) {
      errors.push({ object: `pack ${packId}`, message: `has ${size} bytes, the index says ${info.size}` });
      damage.packs.set(packId, `wrong size ${size}`);
    }
    if (info.indexIds.length > 1) hints.push(`pack ${packId} is listed in ${info.indexIds.length} index files`);
    if (info.type === 'mixed' && repo.version === 2) hints.push(`pack ${packId} mixes data and tree blobs`);
  }
  const unreferenced = [...stored.keys()].filter((id) => !index.packs.has(id));
  if (unreferenced.length) hints.push(`${unreferenced.length} pack(s) not in any index (left by an interrupted backup; \`forget --apply\` removes them)`);

  const { snapshots, problems: snapshotProblems } = await loadSnapshots(repo, { tolerant: true });
  for (const p of snapshotProblems) errors.push({ object: `snapshot ${p.id}`, message: p.message });

  // Structure: walk every tree once.
  const seenTrees = new Set<string>();
  const walk = async (treeId: string, where: string): Promise<void> => {
    if (seenTrees.has(treeId)) return;
    seenTrees.add(treeId);
    let nodes: ResticNode[];
    try {
      nodes = decodeTree(await repo.loadBlob('tree', treeId, index));
    } catch (err) {
      errors.push({ object: `tree ${treeId}`, message: `${where}: ${(err as Error).message}` });
      damage.trees.add(treeId);
      return;
    }
    const subtrees: [string, string][] = [];
    for (const node of nodes) {
      const path = `${where}/${node.name.toString('utf8')}`;
      if (node.name.length === 0) errors.push({ object: `tree ${treeId}`, message: `${where}: node with an empty name` });
      if (!VALID_TYPES.has(node.type)) errors.push({ object: `tree ${treeId}`, message: `${path}: invalid node type "${node.type}"` });
      if (node.type === 'file') {
        if (!node.content) errors.push({ object: `tree ${treeId}`, message: `${path}: file without content list` });
        for (const id of node.content ?? []) {
          if (!index.has('data', id)) {
            errors.push({ object: `blob ${id}`, message: `${path}: data blob not in the index` });
            damage.blobs.set(id, 'not indexed');
          }
        }
      } else if (node.type === 'dir') {
        if (!node.subtree) errors.push({ object: `tree ${treeId}`, message: `${path}: directory without subtree` });
        else if (!index.has('tree', node.subtree)) {
          errors.push({ object: `tree ${node.subtree}`, message: `${path}: tree blob not in the index` });
          damage.trees.add(node.subtree);
        } else subtrees.push([node.subtree, path]);
      }
    }
    for (const [id, path] of subtrees) await walk(id, path);
  };
  let done = 0;
  for (const s of snapshots) {
    await walk(s.snapshot.tree, '');
    settings.progress?.update({ operation: 'check', phase: 'trees', files_done: ++done, files_total: snapshots.length, bytes_done: 0 });
  }

  let packsChecked = 0;
  let blobsChecked = 0;
  if (settings.readData) {
    const packIds = [...new Set([...index.packs.keys(), ...stored.keys()])].filter((id) => stored.has(id));
    let bytesDone = 0;
    await mapLimit(packIds, 2, async (packId) => {
      if (settings.signal?.aborted) throw settings.signal.reason instanceof Error ? settings.signal.reason : new Error('interrupted');
      const result = await readPack(repo, core, index, packId);
      packsChecked += 1;
      blobsChecked += result.blobs;
      bytesDone += result.size;
      for (const message of result.errors) {
        errors.push({ object: `pack ${packId}`, message });
        damage.packs.set(packId, message);
      }
      for (const [blobId, message] of result.badBlobs) {
        errors.push({ object: `pack ${packId}`, message: `blob ${blobId}: ${message}` });
        damage.blobs.set(blobId, `in pack ${packId}: ${message}`);
      }
      settings.progress?.update({ operation: 'check', phase: 'read data', files_done: packsChecked, files_total: packIds.length, bytes_done: bytesDone });
    });
  }

  if (damage.packs.size || damage.blobs.size || damage.trees.size) await attributeDamage(repo, index, snapshots, damage, errors);
  settings.progress?.done();
  return {
    ok: errors.length === 0,
    read_data: settings.readData,
    snapshots_checked: snapshots.length,
    packs_checked: packsChecked || index.packs.size,
    blobs_checked: blobsChecked,
    errors,
    hints,
  };
}

interface PackReadResult {
  size: number;
  blobs: number;
  errors: string[];
  badBlobs: Map<string, string>;
}

async function readPack(repo: ResticRepository, core: Core, index: MasterIndex, packId: string): Promise<PackReadResult> {
  const result: PackReadResult = { size: 0, blobs: 0, errors: [], badBlobs: new Map() };
  let data: Buffer;
  try {
    data = await repo.storage.get(objectKey('data', packId));
  } catch (err) {
    result.errors.push(`cannot be read: ${(err as Error).message}`);
    return result;
  }
  result.size = data.length;
  const actual = idToHex(await core.hashAsync('sha256', data));
  if (actual !== packId) result.errors.push(`content does not match its name (SHA-256 ${actual.slice(0, 16)}…)`);
  let header: PackedBlob[];
  try {
    const loc = headerLocation(data.length, data.subarray(data.length - 4), packId);
    header = decodePackHeader(await core.openAsync(repo.seal, data.subarray(loc.offset, loc.offset + loc.length)), packId);
    if (header.length && loc.offset !== (header[header.length - 1]?.offset ?? 0) + (header[header.length - 1]?.length ?? 0)) {
      result.errors.push('header does not account for every byte before it');
    }
  } catch (err) {
    result.errors.push(`header unreadable: ${(err as Error).message}`);
    return result;
  }
  const info = index.packs.get(packId);
  if (info) {
    if (info.blobCount !== header.length) result.errors.push(`header lists ${header.length} blobs, the index ${info.blobCount}`);
    for (const b of header) {
      const id = idToHex(b.id);
      const match = index.lookup(b.type, id).some((l) => l.packId === packId && l.offset === b.offset && l.length === b.length && l.uncompressedLength === b.uncompressedLength);
      if (!match) result.errors.push(`${b.type} blob ${id} at ${b.offset}: header and index disagree`);
    }
  }
  const decoded = await core.decodeBlobs({
    data,
    blobs: header.map((b) => ({
      offset: b.offset,
      length: b.length,
      rawLength: b.uncompressedLength,
      compressed: b.uncompressedLength > 0,
      id: b.id,
      targets: [],
    })),
    seal: repo.seal,
    codec: 'zstd',
    hash: 'sha256',
  });
  result.blobs = header.length;
  decoded.errors.forEach((e, i) => {
    const b = header[i];
    if (e && b) result.badBlobs.set(idToHex(b.id), e.message);
  });
  return result;
}

/** Names the snapshots and files that depend on damaged packs, blobs or trees. */
async function attributeDamage(repo: ResticRepository, index: MasterIndex, snapshots: LoadedSnapshot[], damage: Damage, errors: CheckProblem[]): Promise<void> {
  const badBlob = (type: 'data' | 'tree', id: string): string | undefined => {
    if (type === 'data' && damage.blobs.has(id)) return damage.blobs.get(id);
    if (type === 'tree' && damage.trees.has(id)) return 'tree damaged';
    const locations = index.lookup(type, id);
    if (locations.length && locations.every((l) => damage.packs.has(l.packId))) return `in damaged pack ${locations[0]?.packId}`;
    return undefined;
  };
  const perObject = new Map<string, { snapshots: Set<string>; files: string[] }>();
  const note = (objects: string[], snapshotId: string, file: string): void => {
    for (const object of objects) {
      let entry = perObject.get(object);
      if (!entry) perObject.set(object, (entry = { snapshots: new Set(), files: [] }));
      entry.snapshots.add(snapshotId);
      if (entry.files.length < 100) entry.files.push(`${snapshotId.slice(0, 8)}:${file}`);
    }
  };
  /** Every damaged object a blob's loss can be blamed on: its damaged packs, the blob, the tree. */
  const objectsOf = (type: 'data' | 'tree', id: string): string[] => {
    const objects = index
      .lookup(type, id)
      .filter((l) => damage.packs.has(l.packId))
      .map((l) => `pack ${l.packId}`);
    if (type === 'tree' && damage.trees.has(id)) objects.push(`tree ${id}`);
    if (type === 'data' && damage.blobs.has(id)) objects.push(`blob ${id}`);
    return objects.length ? objects : [`${type === 'tree' ? 'tree' : 'blob'} ${id}`];
  };
  for (const s of snapshots) {
    const walk = async (treeId: string, where: string): Promise<void> => {
      if (badBlob('tree', treeId)) {
        note(objectsOf('tree', treeId), s.id, `${where || '/'} (and everything below)`);
        return;
      }
      let nodes: ResticNode[];
      try {
        nodes = decodeTree(await repo.loadBlob('tree', treeId, index));
      } catch {
        note([`tree ${treeId}`], s.id, `${where || '/'} (and everything below)`);
        return;
      }
      for (const node of nodes) {
        const path = `${where}/${node.name.toString('utf8')}`;
        if (node.type === 'file') {
          for (const id of node.content ?? []) {
            if (badBlob('data', id)) {
              note(objectsOf('data', id), s.id, path);
              break;
            }
          }
        } else if (node.type === 'dir' && node.subtree) await walk(node.subtree, path);
      }
    };
    await walk(s.snapshot.tree, '');
  }
  for (const error of errors) {
    const hit = perObject.get(error.object);
    if (hit) {
      error.affected_snapshots = [...hit.snapshots];
      error.affected_files = hit.files;
    }
  }
  for (const [object, hit] of perObject) {
    if (!errors.some((e) => e.object === object)) {
      errors.push({ object, message: 'damaged', affected_snapshots: [...hit.snapshots], affected_files: hit.files });
    }
  }
}
