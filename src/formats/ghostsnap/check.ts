// `backup check` for ghostsnap repositories: the index loads (else chunks are located from the
// packs' own maps and the check goes on), every indexed pack exists with the size its header
// implies, every snapshot and its tree load (tree name = BLAKE3 of its bytes) and every chunk they
// name is indexed; with --read-data every pack in data/ is streamed and its tag, checksum and
// every chunk (zlib, length, BLAKE3 = id) verified, and compared with the index. Damage is
// reported with the snapshots and files it affects.
import type { Core } from '../../native/types.ts';
import type { CheckOptions } from '../../backup/backend.ts';
import type { CheckProblem, CheckReport } from '../../backup/types.ts';
import { CorruptDataError } from '../../backup/errors.ts';
import { mapLimit } from '../../engine/concurrency.ts';
import { INDEX_KEY, type ChunkIndex } from './chunk-index.ts';
import { indexFromPacks } from './rebuild-index.ts';
import { PackReader, verifyPack } from './pack-reader.ts';
import { NONCE_LENGTH, TAG_LENGTH } from './pack.ts';
import { decodeTree, type TreeNode } from './tree.ts';
import { loadSnapshots } from './snapshots.ts';
import { snapshotRoot, type LoadedSnapshot } from './snapshot.ts';
import type { GhostsnapRepository } from './repository.ts';

interface Damage {
  /** Packs none of whose chunks can be trusted (missing, truncated, unreadable header…). */
  wholePacks: Set<string>;
  /** Chunks that are missing from the index or do not verify: id → object to blame. */
  chunks: Map<string, string>;
}

function displayPath(s: LoadedSnapshot, n: TreeNode): string {
  const root = snapshotRoot(s.snapshot);
  const rel = n.path.toString('utf8');
  if (root === undefined) return rel;
  if (!rel) return root;
  return root === '/' ? `/${rel}` : `${root}/${rel}`;
}

export async function checkGhostsnapRepository(repo: GhostsnapRepository, core: Core, options: CheckOptions): Promise<CheckReport> {
  const errors: CheckProblem[] = [];
  const hints: string[] = [];
  const damage: Damage = { wholePacks: new Set(), chunks: new Map() };
  const progress = options.progress;

  let index: ChunkIndex;
  let indexBroken = false;
  try {
    index = (await repo.loadIndex()).index;
  } catch (err) {
    if (!(err instanceof CorruptDataError)) throw err;
    indexBroken = true;
    const rebuilt = await indexFromPacks(repo, core);
    index = rebuilt.index;
    errors.push({
      object: `index ${INDEX_KEY}`,
      message: `${err.message}; ghostsnap cannot read any backup without it. bolt-agent located ${index.chunks.size} chunks from the packs' own chunk maps and checked against those`,
    });
    for (const [pack, message] of rebuilt.unreadable) {
      errors.push({ object: `pack ${pack}`, message });
      damage.wholePacks.add(pack);
    }
  }

  const data = await repo.listData();
  const reader = new PackReader(repo, core);
  await mapLimit([...index.packs.entries()], 8, async ([packId, info]) => {
    const stored = data.packs.get(packId);
    if (!stored) {
      errors.push({ object: `pack ${packId}`, message: 'listed in the index but missing from the repository' });
      damage.wholePacks.add(packId);
      return;
    }
    try {
      const { layout, header } = await reader.start(packId);
      const expected = layout.dataStart + NONCE_LENGTH + header.compressedSize + TAG_LENGTH;
      if (stored.size !== expected) {
        errors.push({ object: `pack ${packId}`, message: `has ${stored.size} bytes, its header says ${expected}` });
        damage.wholePacks.add(packId);
      } else if (header.compressedSize !== info.size) {
        errors.push({ object: `pack ${packId}`, message: `its data section has ${header.compressedSize} bytes, the index says ${info.size}` });
      }
      if (header.chunkCount !== info.chunkCount) hints.push(`pack ${packId}: the header counts ${header.chunkCount} chunks, the index ${info.chunkCount}`);
    } catch (err) {
      errors.push({ object: `pack ${packId}`, message: `header unreadable: ${(err as Error).message}` });
      damage.wholePacks.add(packId);
    }
  });
  const unindexed = [...data.packs.keys()].filter((id) => !index.packs.has(id));
  if (unindexed.length && !indexBroken) hints.push(`${unindexed.length} pack(s) not in the index (left by an interrupted backup; \`forget --apply\` removes them): ${unindexed.slice(0, 5).join(', ')}${unindexed.length > 5 ? ', …' : ''}`);

  const { snapshots, problems } = await loadSnapshots(repo, { tolerant: true });
  for (const p of problems) errors.push({ object: `snapshot ${p.name}`, message: p.message, affected_snapshots: [p.name] });
  const treesUsed = new Map<string, string[]>();
  for (const s of snapshots) {
    const users = treesUsed.get(s.snapshot.tree) ?? [];
    users.push(s.name);
    treesUsed.set(s.snapshot.tree, users);
  }
  const trees = new Map<string, TreeNode[]>();
  let done = 0;
  for (const [treeId, users] of treesUsed) {
    try {
      const nodes = decodeTree(await repo.readTreePlain(treeId), `tree ${treeId}`);
      trees.set(treeId, nodes);
      const byName = new Set(nodes.map((n) => n.path.toString('latin1')));
      for (const n of nodes) {
        for (const c of n.chunks) if (!index.has(c.id)) damage.chunks.set(c.id, `chunk ${c.id}`);
        if (n.hardlinkTarget && n.chunks.length === 0 && n.size > 0 && !byName.has(n.hardlinkTarget.toString('latin1'))) {
          errors.push({ object: `tree ${treeId}`, message: `${n.name}: hard link to ${n.hardlinkTarget.toString('utf8')}, which is not in the tree`, affected_snapshots: users });
        }
      }
    } catch (err) {
      errors.push({ object: `tree ${treeId}`, message: (err as Error).message, affected_snapshots: users });
    }
    progress?.update({ operation: 'check', phase: 'trees', files_done: ++done, files_total: treesUsed.size, bytes_done: 0 });
  }
  for (const [id, object] of damage.chunks) errors.push({ object, message: `referenced by a backup but not in the index (chunk ${id})` });
  const unreferencedTrees = [...data.trees.keys()].filter((id) => !treesUsed.has(id));
  if (unreferencedTrees.length) hints.push(`${unreferencedTrees.length} tree(s) no backup references (\`forget --apply\` removes them)`);

  let packsChecked = 0;
  let chunksChecked = 0;
  if (options.readData) {
    const packIds = [...data.packs.keys()].sort();
    const byPack = index.byPack();
    let bytesDone = 0;
    await mapLimit(packIds, 2, async (packId) => {
      if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new Error('interrupted');
      const v = await verifyPack(repo, core, packId);
      packsChecked += 1;
      chunksChecked += v.chunks.length;
      bytesDone += v.size;
      for (const message of v.errors) errors.push({ object: `pack ${packId}`, message });
      for (const [chunkId, message] of v.badChunks) {
        errors.push({ object: `pack ${packId}`, message: `chunk ${chunkId}: ${message}` });
        if (index.get(chunkId)?.pack === packId) damage.chunks.set(chunkId, `pack ${packId}`);
      }
      if (v.errors.length && v.badChunks.size === 0) damage.wholePacks.add(packId);
      const map = new Map(v.chunks.map((c) => [c.id, c]));
      for (const [chunkId, loc] of byPack.get(packId) ?? []) {
        const c = map.get(chunkId);
        if (!c && v.header) {
          errors.push({ object: `pack ${packId}`, message: `the index places chunk ${chunkId} here, but the pack does not hold it` });
          damage.chunks.set(chunkId, `pack ${packId}`);
        } else if (c && (c.offset !== loc.offset || c.length !== loc.length)) {
          errors.push({ object: `pack ${packId}`, message: `chunk ${chunkId}: the index says ${loc.offset}+${loc.length}, the pack ${c.offset}+${c.length}` });
        }
      }
      progress?.update({ operation: 'check', phase: 'read data', files_done: packsChecked, files_total: packIds.length, bytes_done: bytesDone });
    });
  }

  if (indexBroken) {
    const all = snapshots.map((s) => s.name);
    for (const e of errors) if (e.object === `index ${INDEX_KEY}`) e.affected_snapshots = all;
  }
  if (damage.wholePacks.size || damage.chunks.size) attribute(snapshots, trees, index, damage, errors);
  progress?.done();
  return {
    ok: errors.length === 0,
    read_data: options.readData,
    snapshots_checked: snapshots.length,
    packs_checked: packsChecked || index.packs.size,
    blobs_checked: chunksChecked,
    errors,
    hints,
  };
}

/** Names, on each error, the snapshots and files whose content the damaged object holds. */
function attribute(snapshots: readonly LoadedSnapshot[], trees: Map<string, TreeNode[]>, index: ChunkIndex, damage: Damage, errors: CheckProblem[]): void {
  const perObject = new Map<string, { snapshots: Set<string>; files: string[] }>();
  for (const s of snapshots) {
    const nodes = trees.get(s.snapshot.tree);
    if (!nodes) continue;
    for (const n of nodes) {
      const blamed = new Set<string>();
      for (const c of n.chunks) {
        const object = damage.chunks.get(c.id);
        if (object) blamed.add(object);
        const pack = index.get(c.id)?.pack;
        if (pack && damage.wholePacks.has(pack)) blamed.add(`pack ${pack}`);
      }
      for (const object of blamed) {
        let entry = perObject.get(object);
        if (!entry) perObject.set(object, (entry = { snapshots: new Set(), files: [] }));
        entry.snapshots.add(s.name);
        if (entry.files.length < 100) entry.files.push(`${s.name.slice(0, 8)}:${displayPath(s, n)}`);
      }
    }
  }
  for (const e of errors) {
    const hit = perObject.get(e.object);
    if (hit) {
      e.affected_snapshots = [...hit.snapshots];
      e.affected_files = hit.files;
    }
  }
}
