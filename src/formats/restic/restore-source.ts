// What the engine's restorer reads from a restic snapshot: its trees as restore nodes (depth
// first, with --include filtering and path checks) and its blobs, fetched pack range by pack
// range and decoded straight into the target files. With the native core, each directory's
// plain regular files are a group the core writes itself (native/src/restore).
import path from 'node:path';
import type { Core, DecodeResult, FinishRequest, ResticRestore } from '../../native/types.ts';
import type { BlobPlace, BlobRead, GroupStep, NewFilesBlobRead, NewFilesRead, RestoreNode, RestoreSource, RestoreTotals, SourceFileGroup } from '../../engine/restorer.ts';
import { mapLimit } from '../../engine/concurrency.ts';
import type { FileProblem } from '../../backup/types.ts';
import { globToRegexSource } from '../../engine/exclude.ts';
import { releasedBytes } from '../../util/release-memory.ts';
import { joinRawPath } from '../../util/raw-path.ts';
import { chmodBits } from './file-mode.ts';
import { decodeTree, type ResticNode } from './tree.ts';
import { objectKey, type ResticRepository } from './repository.ts';
import type { MasterIndex } from './master-index.ts';

/** Blobs closer than this are fetched in one range request. */
const MERGE_GAP = 256 * 1024;
const MAX_SPAN = 32 * 1024 * 1024;

export class IncludeFilter {
  private readonly regexes: RegExp[];

  constructor(patterns: readonly string[]) {
    this.regexes = patterns.map((p) => {
      const anchored = p.startsWith('/') ? p : `**/${p}`;
      return new RegExp(`^${globToRegexSource(anchored.replace(/\/+$/, ''))}$`, 's');
    });
  }

  get all(): boolean {
    return this.regexes.length === 0;
  }

  matches(p: string): boolean {
    return this.all || this.regexes.some((r) => r.test(p));
  }
}

function validName(name: Buffer): boolean {
  return name.length > 0 && !name.includes(0x2f) && !name.includes(0) && !(name.length === 1 && name[0] === 0x2e) && !(name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
}

/** Subtrees of a directory read ahead of the walk (per level of the walk). */
const SUBTREES_AHEAD = 8;

type WalkItem = RestoreNode | SourceFileGroup;

/** A directory's tree as the walk reads it: its nodes, and its plain files when the core keeps them. */
interface DirRead {
  nodes: ResticNode[];
  groups?: SourceFileGroup[];
  /** The groups' file names in order, for an include filter to choose from. */
  names?: Buffer[];
}

/** Stands in for a subtree read handed to the walk (the reads array keeps no tree alive). */
const DONE: Promise<DirRead> = Promise.resolve({ nodes: [] });

export class ResticRestoreSource implements RestoreSource {
  constructor(
    private readonly repo: ResticRepository,
    private readonly core: Core,
    private readonly index: MasterIndex,
    private readonly rootTree: string,
    /** Destination root: '/' restores to the original paths. */
    private readonly target: string,
    private readonly include: IncludeFilter,
    private readonly problems: FileProblem[],
    /**
     * The core's restore of regular files (coreRestoreFor): then each directory's plain files
     * are read and written by the core as one group, and the walk hands out only the rest.
     */
    private readonly native?: ResticRestore,
  ) {}

  /**
   * Built property by property and sharing the tree node's times, and each chunk located once
   * here (its length and place): this runs for every entry of a restore.
   */
  private toRestoreNode(node: ResticNode, dest: Buffer, original: string): RestoreNode {
    const out: RestoreNode = {
      path: dest,
      displayPath: original,
      kind: node.type === 'irregular' ? 'file' : node.type,
      mode: chmodBits(node.mode ?? 0),
      uid: node.uid,
      gid: node.gid,
      atime: node.atime,
      mtime: node.mtime,
      xattrs: node.extendedAttributes ?? [],
      size: node.size ?? 0,
    };
    if (node.linkTarget) out.linkTarget = node.linkTarget;
    if (node.device !== undefined) out.rdev = Number(node.device);
    if (node.type === 'file') {
      const ids = node.content ?? [];
      const chunks: NonNullable<RestoreNode['chunks']> = new Array(ids.length);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as string;
        const place = this.locate(id);
        chunks[i] = { id: Buffer.from(id, 'hex'), length: place ? place.rawLength : 0, place };
      }
      out.chunks = chunks;
      if ((node.links ?? 1) > 1 && node.inode !== undefined) out.hardlinkKey = `${node.deviceId ?? 0n}:${node.inode}`;
    }
    return out;
  }

  async totals(): Promise<RestoreTotals> {
    const totals: RestoreTotals = { files: 0, bytes: 0 };
    const linked = new Set<string>();
    const visit = async (treeId: string, originalDir: string, included: boolean): Promise<void> => {
      let nodes: ResticNode[];
      try {
        nodes = await this.loadTree(treeId);
      } catch {
        return; // the restore itself reports it
      }
      for (const node of nodes) {
        if (!validName(node.name)) continue;
        const original = `${originalDir}/${node.name.toString('utf8')}`;
        const isIncluded = included || this.include.matches(original);
        if (node.type === 'dir') {
          if (node.subtree) await visit(node.subtree, original, isIncluded);
          continue;
        }
        if (node.type !== 'file' || !isIncluded) continue;
        if ((node.links ?? 1) > 1 && node.inode !== undefined) {
          const key = `${node.deviceId ?? 0n}:${node.inode}`;
          if (linked.has(key)) continue;
          linked.add(key);
        }
        totals.files += 1;
        totals.bytes += node.size ?? 0;
      }
    };
    await visit(this.rootTree, '', false);
    return totals;
  }

  /** The walk started before the restore asked for it: the nodes read so far, and the rest of it. */
  private primed: { nodes: WalkItem[]; walk: AsyncIterator<WalkItem>; stop: boolean; ended: Promise<boolean> } | undefined;

  /**
   * Starts the walk ahead of the restore (during the lock's re-check pause, ~0.1 s of trees read
   * and decoded that the first window of files otherwise waited for), keeping up to `limit`
   * nodes. It only reads trees; nodes() hands out what it kept, then goes on with the same walk.
   */
  prime(limit: number): void {
    const walk = this.walkRoot()[Symbol.asyncIterator]();
    const primed = { nodes: [] as WalkItem[], walk, stop: false, ended: Promise.resolve(false) };
    primed.ended = (async () => {
      while (!primed.stop && primed.nodes.length < limit) {
        const next = await walk.next();
        if (next.done) return true;
        primed.nodes.push(next.value);
      }
      return false;
    })();
    primed.ended.catch(() => {}); // surfaces in nodes()
    this.primed = primed;
  }

  async *nodes(): AsyncIterable<WalkItem> {
    const primed = this.primed;
    this.primed = undefined;
    if (!primed) {
      yield* this.walkRoot();
      return;
    }
    primed.stop = true;
    const ended = await primed.ended;
    const kept = primed.nodes;
    primed.nodes = [];
    yield* kept;
    if (ended) return;
    for (let next = await primed.walk.next(); !next.done; next = await primed.walk.next()) yield next.value;
  }

  private walkRoot(): AsyncGenerator<WalkItem> {
    return this.walk(this.rootTree, Buffer.from(this.target === '/' ? '' : this.target.replace(/\/+$/, '')), '', [], false);
  }

  /**
   * Depth-first walk. `pending` are ancestor directories not yet emitted: with an include
   * filter a directory is emitted only once something below it (or itself) is included.
   */
  private async *walk(treeId: string, destDir: Buffer, originalDir: string, pending: RestoreNode[], included: boolean, loading?: Promise<DirRead>): AsyncGenerator<WalkItem> {
    let dir: DirRead;
    try {
      dir = await (loading ?? this.readDir(treeId, destDir, originalDir));
    } catch (err) {
      this.problems.push({ path: originalDir || '/', error: `cannot read tree ${treeId.slice(0, 12)}…: ${(err as Error).message}` });
      return;
    }
    let named = 0;
    for (const group of dir.groups ?? []) {
      const names = dir.names?.slice(named, (named += group.files)) ?? [];
      const chosen = included || this.include.all ? group : this.chooseFiles(group, names, originalDir);
      if (chosen) {
        // Its directory (and the ones above it) are restored once something in them is.
        if (pending.length > 0) yield* pending.splice(0);
        yield chosen;
      }
    }
    const nodes = this.acceptedNodes(dir.nodes, originalDir);
    // The next few subtrees are read while this directory's entries are handed out: one at a
    // time, each read waited for its round trip to the core (~4.3k trees in a restore of /usr).
    const subtrees: ResticNode[] = [];
    for (const node of nodes) if (node.type === 'dir' && node.subtree) subtrees.push(node);
    const reads: Promise<DirRead>[] = [];
    const readAhead = (upTo: number): void => {
      for (let i = reads.length; i < Math.min(upTo, subtrees.length); i++) {
        const sub = subtrees[i] as ResticNode;
        const read = this.readDir(sub.subtree as string, joinRawPath(destDir, sub.name), `${originalDir}/${sub.name.toString('utf8')}`);
        read.catch(() => {}); // surfaces where the subtree is walked
        reads.push(read);
      }
    };
    readAhead(SUBTREES_AHEAD);
    let subtreeAt = 0;
    for (const node of nodes) {
      const original = `${originalDir}/${node.name.toString('utf8')}`;
      let loadingSubtree: Promise<DirRead> | undefined;
      if (node.type === 'dir' && node.subtree) {
        loadingSubtree = reads[subtreeAt];
        reads[subtreeAt++] = DONE;
        readAhead(subtreeAt + SUBTREES_AHEAD);
      }
      const dest = joinRawPath(destDir, node.name);
      const restoreNode = this.toRestoreNode(node, dest, original);
      const isIncluded = included || this.include.matches(original);
      if (node.type === 'dir') {
        if (!node.subtree) {
          this.problems.push({ path: original, error: 'directory without subtree' });
          continue;
        }
        if (isIncluded) {
          if (pending.length > 0) yield* pending.splice(0);
          yield restoreNode;
          yield* this.walk(node.subtree, dest, original, [], true, loadingSubtree);
        } else {
          // Shared with the subtree's walk: once it restores something, it hands out (and so
          // empties) every pending ancestor, ours too; otherwise this directory is taken back.
          pending.push(restoreNode);
          yield* this.walk(node.subtree, dest, original, pending, false, loadingSubtree);
          if (pending[pending.length - 1] === restoreNode) pending.pop();
        }
        continue;
      }
      if (!isIncluded) continue;
      if (pending.length > 0) yield* pending.splice(0);
      yield restoreNode;
    }
  }

  /**
   * The nodes of a directory the walk may restore: names that would escape the target, and a
   * name given a second time (restic never writes one twice; a directory and a symlink of one
   * name would let the symlink redirect what is written below it), are refused and reported.
   */
  private acceptedNodes(nodes: readonly ResticNode[], originalDir: string): ResticNode[] {
    const accepted: ResticNode[] = [];
    const seen = new Set<string>();
    for (const node of nodes) {
      const nameText = node.name.toString('utf8');
      const key = node.name.toString('latin1');
      if (!validName(node.name)) {
        this.problems.push({ path: `${originalDir}/${nameText}`, error: `refused: the backup names an entry ${JSON.stringify(nameText)} that would escape the target` });
      } else if (seen.has(key)) {
        this.problems.push({ path: `${originalDir}/${nameText}`, error: `refused: the backup names ${JSON.stringify(nameText)} twice in one directory; the first is restored` });
      } else {
        seen.add(key);
        accepted.push(node);
      }
    }
    return accepted;
  }

  /** The files of a group the include filter picks by their paths; undefined when none. */
  private chooseFiles(group: SourceFileGroup, names: readonly Buffer[], originalDir: string): SourceFileGroup | undefined {
    const keep = names.map((name) => this.include.matches(`${originalDir}/${name.toString('utf8')}`));
    const kept = (this.native as ResticRestore).keepFiles(group.id, keep);
    return kept.files > 0 ? { ...group, ...kept } : undefined;
  }

  private async loadTree(id: string): Promise<ResticNode[]> {
    return decodeTree(await this.repo.loadBlob('tree', id, this.index));
  }

  /** A directory's tree: through the core when it restores the files, else decoded here. */
  private async readDir(id: string, dest: Buffer, original: string): Promise<DirRead> {
    if (this.native) {
      // Remote storage: the tree is read here (with its pack cache and its other locations)
      // and the core only splits it. Local: a tree the core cannot read (a damaged copy, say)
      // is read the ordinary way, which tries its other locations and names what is wrong.
      const plaintext = this.repo.storage.localFile ? undefined : await this.repo.loadBlob('tree', id, this.index);
      const options = { withNames: !this.include.all, ...(plaintext ? { plaintext } : {}) };
      const dir = await this.native.readDirectory(Buffer.from(id, 'hex'), dest, original, options).catch(() => undefined);
      if (dir) {
        const nodes = dir.rest ? decodeTree(dir.rest) : [];
        if (dir.groups.length === 0) return { nodes };
        return { nodes, groups: dir.groups.map((g) => ({ kind: 'group', ...g })), ...(dir.names ? { names: dir.names } : {}) };
      }
      if (plaintext) return { nodes: decodeTree(plaintext) };
    }
    return { nodes: await this.loadTree(id) };
  }

  /**
   * One window of the core's groups: planned, then its batches run on the core's threads (each
   * batch's range fetched here first when the packs are not local files).
   */
  async writeGroups(groups: readonly SourceFileGroup[], step: (done: GroupStep) => void, options: { concurrency: number; checkAbort: () => void }): Promise<void> {
    const native = this.native;
    if (!native) throw new Error('this restore has no file groups');
    const planned = await native.planWindow(groups.map((g) => g.id));
    step(planned);
    const packIds = this.index.packList();
    const batches = Array.from({ length: planned.batches }, (_, i) => i);
    let done = 0;
    await mapLimit(batches, options.concurrency, async (batch) => {
      options.checkAbort();
      const range = planned.ranges?.[batch];
      let fetched: { data: Uint8Array } | { error: string } | undefined;
      if (range) {
        try {
          fetched = { data: await this.repo.storage.get(objectKey('data', packIds[range.pack] as string), { offset: range.offset, length: range.length }) };
        } catch (err) {
          fetched = { error: (err as Error).message };
        }
      }
      const result = await native.runBatch(planned.window, batch, fetched);
      if (fetched && 'data' in fetched) releasedBytes(fetched.data.length);
      step({ ...result, current: `batch ${++done}/${planned.batches}` });
    });
  }

  locate(id: Buffer | string): BlobPlace | undefined {
    const loc = this.index.first('data', id);
    if (!loc) return undefined;
    return {
      pack: loc.packId,
      offset: loc.offset,
      length: loc.length,
      rawLength: loc.uncompressedLength > 0 ? loc.uncompressedLength : loc.length - 32,
      compressed: loc.uncompressedLength > 0,
    };
  }

  async readBlobs(pack: string, blobs: BlobRead[]): Promise<(string | null)[]> {
    const errors: (string | null)[] = new Array(blobs.length).fill(null);
    for (const [start, end] of spans(blobs)) {
      try {
        const result = await this.decodeSpan(pack, blobs.slice(start, end));
        result.errors.forEach((e, i) => {
          if (e) errors[start + i] = e.message;
        });
      } catch (err) {
        for (let i = start; i < end; i++) errors[i] = (err as Error).message;
      }
    }
    return errors;
  }

  /** One range request when the blobs lie close enough together; else undefined (nothing done). */
  async readBlobsIntoNewFiles(pack: string, blobs: NewFilesBlobRead[], files: FinishRequest[], root: Buffer): Promise<NewFilesRead | undefined> {
    if (spans(blobs).length !== 1) return undefined;
    // A rejection (a malformed request, an unreachable pack) comes before anything is created.
    const result = await this.decodeSpan(pack, blobs, { files, root });
    return { errors: result.errors.map((e) => e?.message ?? null), files: result.files ?? [] };
  }

  /** Blobs of one range of `pack`, decoded into their targets. */
  private async decodeSpan(pack: string, span: NewFilesBlobRead[], newFiles?: { files: FinishRequest[]; root: Buffer }): Promise<DecodeResult> {
    const first = span[0] as NewFilesBlobRead;
    let spanEnd = 0;
    for (const b of span) spanEnd = Math.max(spanEnd, b.place.offset + b.place.length);
    const key = objectKey('data', pack);
    const range = { offset: first.place.offset, length: spanEnd - first.place.offset };
    // A local pack is read by the core itself: no buffer of it passes through JavaScript.
    const localFile = this.repo.storage.localFile?.(key);
    const data = localFile === undefined ? await this.repo.storage.get(key, range) : undefined;
    const result = await this.core.decodeBlobs({
      ...(localFile === undefined ? { data } : { file: { path: localFile, ...range } }),
      blobs: span.map((b) => ({
        offset: b.place.offset - first.place.offset,
        length: b.place.length,
        rawLength: b.place.rawLength,
        compressed: b.place.compressed,
        id: b.id,
        targets: b.targets,
      })),
      seal: this.repo.seal,
      codec: 'zstd',
      hash: 'sha256',
      ...(newFiles ?? {}),
    });
    if (data) releasedBytes(data.length);
    return result;
  }
}

/** [start, end) of each run of blobs (sorted by offset) fetched in one range request. */
function spans(blobs: readonly { place: BlobPlace }[]): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  while (start < blobs.length) {
    const first = blobs[start] as { place: BlobPlace };
    let end = start + 1;
    let spanEnd = first.place.offset + first.place.length;
    while (end < blobs.length) {
      const next = blobs[end] as { place: BlobPlace };
      if (next.place.offset - spanEnd > MERGE_GAP || next.place.offset + next.place.length - first.place.offset > MAX_SPAN) break;
      spanEnd = Math.max(spanEnd, next.place.offset + next.place.length);
      end += 1;
    }
    out.push([start, end]);
    start = end;
  }
  return out;
}

/**
 * The core's restore of regular files, when it can do the work: a native core and no read-back
 * afterwards (that needs every file as a node). Otherwise undefined, and the walk hands out
 * every file. On local storage the core reads the packs itself.
 */
export function coreRestoreFor(repo: ResticRepository, core: Core, index: MasterIndex, options: { recheck?: boolean; verifyOnly?: boolean; root: string }): ResticRestore | undefined {
  if (!core.newResticRestore || options.recheck) return undefined;
  const localFile = repo.storage.localFile;
  const packIds = [...index.packList()];
  return core.newResticRestore({
    ...(localFile ? { packFiles: packIds.map((id) => localFile.call(repo.storage, objectKey('data', id))) } : {}),
    packIds,
    dataBlobs: index.firstRows('data'),
    treeBlobs: index.firstRows('tree'),
    seal: repo.seal,
    owner: process.getuid?.() === 0,
    verifyOnly: options.verifyOnly === true,
    root: Buffer.from(path.resolve(options.root)),
  });
}

/** The destination root for a restore: the target directory, or "/" for the original paths. */
export function restoreRoot(target: string | null): string {
  return target === null ? '/' : path.resolve(target);
}
