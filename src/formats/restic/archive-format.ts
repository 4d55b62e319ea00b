// How the engine's scanned entries become restic tree blobs (formats/restic.md §7, §12): node
// fields exactly as restic 0.14 writes them on Linux, so unchanged directories produce the same
// tree ids as restic's own backup of them.
import { DIR_ENTRY_SAME, DIR_ENTRY_SAME_DIR, type ChangedDirSource, type Core, type DirComparer, type DirComparison, type DirEntry, type EntryStat, type FileChunk, type TreeSource } from '../../native/types.ts';
import type { ArchiveFormat, EntryKind, FinishedDir, ListedName, PreviousDir, PreviousFile, PreviousRef, ScannedEntry, UnchangedDir } from '../../engine/archiver.ts';
import { entryContent } from '../../engine/archiver.ts';
import { groupName, userName } from '../../engine/user-names.ts';
import { goModeFromStMode } from './file-mode.ts';
import { goTimeFromUnix, type GoTime } from '../../util/go-time.ts';
import { decodeTree, encodeTree, encodeTreeWithKept, type KeptNodes, type RawNode, type ResticNode } from './tree.ts';
import { idToHex } from './ids.ts';
import type { Packer } from './packer.ts';
import type { MasterIndex } from './master-index.ts';
import { objectKey, type ResticRepository } from './repository.ts';
import { keepOutOfTopTier } from '../../util/jit-hints.ts';

export interface TreeRef {
  id: string;
}

export interface DirCounters {
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
}

const nodeTypeOf: Record<EntryKind, ResticNode['type']> = {
  file: 'file',
  dir: 'dir',
  symlink: 'symlink',
  dev: 'dev',
  chardev: 'chardev',
  fifo: 'fifo',
  socket: 'socket',
};

export function nodeFromEntry(entry: ScannedEntry, subtree?: string): ResticNode {
  const s = entry.stat;
  const mtime = goTimeFromUnix(s.mtimeSec, s.mtimeNsec);
  const type = nodeTypeOf[entry.kind];
  const user = userName(s.uid);
  const group = groupName(s.gid);
  const reusedFrom = entry.reused ? (entry.previous?.record as ResticNode | undefined) : undefined;
  let content: string[] | null = null;
  let size = 0;
  if (entry.kind === 'file' && reusedFrom) {
    content = reusedFrom.content ?? [];
    size = reusedFrom.size ?? 0;
  } else if (entry.kind === 'file') {
    const chunks = entryContent(entry) ?? [];
    content = chunks.map((c) => idToHex(c.id));
    for (const c of chunks) size += c.length;
  }
  // Built field by field, not with spreads: this runs for every entry of every backup.
  const node: ResticNode = { name: entry.name, type, mtime, atime: mtime, ctime: goTimeFromUnix(s.ctimeSec, s.ctimeNsec), uid: s.uid, gid: s.gid, content };
  const mode = goModeFromStMode(s.mode);
  if (mode) node.mode = mode;
  if (user) node.user = user;
  if (group) node.group = group;
  if (s.ino) node.inode = BigInt(s.ino);
  if (s.dev) node.deviceId = BigInt(s.dev);
  if (size) node.size = size;
  if (s.nlink && (type === 'file' || type === 'symlink' || type === 'dev' || type === 'chardev')) node.links = s.nlink;
  if (entry.linkTarget) node.linkTarget = entry.linkTarget;
  if (entry.xattrs.length) node.extendedAttributes = entry.xattrs.map((x) => ({ name: x.name, value: x.value }));
  if ((type === 'dev' || type === 'chardev') && s.rdev) node.device = BigInt(s.rdev);
  if (subtree) node.subtree = subtree;
  return node;
}
keepOutOfTopTier(nodeFromEntry);

/** A previous directory's tree for the core's comparison, and how to refer to trees below it. */
async function treeSource(previous: PreviousDir | PreviousRef): Promise<{ source: TreeSource; treeId: string; subtree: (id: string) => SubtreeRef } | undefined> {
  let p: PreviousDir | PreviousRef | undefined = previous;
  if (p instanceof SubtreeRef) {
    const ref = p;
    const local = ref.localSource();
    if (local) return { source: local, treeId: ref.treeId, subtree: (id) => ref.sibling(id) };
    p = await ref.load(); // a remote repository: the plaintext goes through JavaScript
  }
  if (p instanceof ParentDir && p.plaintext) {
    const dir = p;
    return { source: { plaintext: dir.plaintext as Buffer }, treeId: dir.treeId, subtree: (id) => dir.subtree(id) };
  }
  return undefined;
}

/**
 * A directory of the parent snapshot, read lazily from its tree blob: the plaintext is loaded
 * first and decoded into nodes only when the walk asks for them (the core compares the plaintext
 * itself when it can).
 */
export class ParentDir implements PreviousDir {
  private decoded: Map<string, ResticNode> | undefined;
  private bytes: Buffer | undefined;

  constructor(
    private readonly repo: ResticRepository,
    private readonly index: MasterIndex,
    readonly treeId: string,
  ) {}

  async load(): Promise<this> {
    if (!this.decoded && !this.bytes) this.bytes = await this.repo.loadBlob('tree', this.treeId, this.index);
    return this;
  }

  /** Another tree of the same snapshot, not loaded (the reference does not hold this one). */
  subtree(treeId: string): SubtreeRef {
    return new SubtreeRef(this.repo, this.index, treeId);
  }

  /** The tree blob's plaintext, until the nodes are decoded. */
  get plaintext(): Buffer | undefined {
    return this.bytes;
  }

  private get nodes(): Map<string, ResticNode> | undefined {
    if (!this.decoded && this.bytes) {
      try {
        this.decoded = new Map(decodeTree(this.bytes).map((n) => [n.name.toString('latin1'), n]));
      } catch {
        // A tree that loads but does not decode only means: read everything below again.
        this.decoded = new Map();
      }
      this.bytes = undefined;
    }
    return this.decoded;
  }

  file(name: Buffer): PreviousFile | undefined {
    const node = this.nodes?.get(name.toString('latin1'));
    if (!node || node.type !== 'file' || !node.content) return undefined;
    const index = this.index;
    return new ParentFile(node, node.content.every((id) => index.has('data', id)), index);
  }

  /** The parent's node of this name (restic reuses unchanged directories' trees). */
  node(name: Buffer): ResticNode | undefined {
    return this.nodes?.get(name.toString('latin1'));
  }

  get size(): number {
    return this.nodes?.size ?? 0;
  }

  async dir(name: Buffer): Promise<PreviousDir | undefined> {
    const node = this.nodes?.get(name.toString('latin1'));
    if (!node || node.type !== 'dir' || !node.subtree) return undefined;
    try {
      return await new ParentDir(this.repo, this.index, node.subtree).load();
    } catch {
      return undefined; // an unreadable parent tree only means: read everything below again
    }
  }
}

/**
 * A file of the parent snapshot. A class, not an object with a getter closure: a changed
 * directory of 18k files made one closure and scope per file.
 */
class ParentFile implements PreviousFile {
  readonly size: number;
  readonly mtimeSec: number;
  readonly mtimeNsec: number;
  readonly ctimeSec: number;
  readonly ctimeNsec: number;
  readonly inode?: number;

  constructor(
    readonly record: ResticNode,
    readonly reusable: boolean,
    private readonly index: MasterIndex,
  ) {
    this.size = record.size ?? 0;
    this.mtimeSec = record.mtime.sec;
    this.mtimeNsec = record.mtime.nsec;
    this.ctimeSec = record.ctime.sec;
    this.ctimeNsec = record.ctime.nsec;
    if (record.inode !== undefined) this.inode = Number(record.inode);
  }

  /** Built when asked for (restic itself reuses the node's ids). */
  get content(): FileChunk[] | undefined {
    if (!this.reusable) return undefined;
    const chunks: FileChunk[] = [];
    for (const id of this.record.content ?? []) {
      const loc = this.index.first('data', id);
      if (!loc) return undefined;
      const length = loc.uncompressedLength > 0 ? loc.uncompressedLength : loc.length - 32;
      chunks.push({ id: Buffer.from(id, 'hex'), length });
    }
    return chunks;
  }
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const NODE_LIST_OPEN = Buffer.from('{"nodes":[');
const NODE_LIST_CLOSE = Buffer.from(']}');

/**
 * A changed directory of the parent snapshot as the core compared it (DirComparison.changed):
 * the previous tree's plaintext and where each listed entry's node lies in it, beside the
 * listing the comparison made (the walk builds the directory from that same listing). An entry
 * the comparison found the same keeps its previous node's JSON in the new tree: the node the
 * walk would build for it is that node, field by field, which is the premise unchanged
 * directories already rest on; so neither node is built. Other entries decode their own node
 * when the walk asks; the whole tree is never decoded (a directory of 18k entries with a few
 * changed files held ~700k objects that way).
 */
export class ComparedParentDir implements PreviousDir {
  readonly listing: DirEntry[];

  constructor(
    readonly treeId: string,
    c: DirComparison & { changed: ChangedDirSource },
    private readonly index: MasterIndex,
    private readonly subtree: (id: string) => SubtreeRef,
  ) {
    const { listing } = c.changed;
    if (listing.error) throw new RangeError(`comparison listing failed: ${listing.error.message}`);
    this.listing = listing.entries;
    this.status = c.status;
    this.tree = c.changed.tree;
    this.spans = c.changed.spans;
    if (this.spans.length !== this.listing.length * 8 || this.status.length !== this.listing.length) throw new RangeError('comparison spans do not match its listing');
  }

  private readonly status: Buffer;
  private readonly tree: Buffer;
  private readonly spans: Buffer;

  /** The listed entry of this name (the listing is in raw name order), or -1. */
  private find(name: Buffer): number {
    let lo = 0;
    let hi = this.listing.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const order = Buffer.compare(this.listing[mid]!.name, name);
      if (order === 0) return mid;
      if (order < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Entry i's previous node lies at tree[start(i), end(i)) when hasJson(i). */
  private start(i: number): number {
    return this.spans.readUInt32LE(i * 8);
  }

  private end(i: number): number {
    return this.spans.readUInt32LE(i * 8 + 4);
  }

  private hasJson(i: number): boolean {
    const end = this.end(i);
    return end > this.start(i) && end <= this.tree.length;
  }

  private nodeJson(i: number): Buffer | undefined {
    return this.hasJson(i) ? this.tree.subarray(this.start(i), this.end(i)) : undefined;
  }

  private decoded(i: number): ResticNode | undefined {
    const json = this.nodeJson(i);
    if (!json) return undefined;
    try {
      return decodeTree(Buffer.concat([NODE_LIST_OPEN, json, NODE_LIST_CLOSE]))[0];
    } catch {
      return undefined; // as for a whole tree that does not decode: the entry is read again
    }
  }

  /** ChangedPrevious.sameAt: a non-directory found the same, whose previous JSON is at hand. */
  sameAt(i: number): boolean {
    if (this.status[i] !== DIR_ENTRY_SAME) return false;
    const stat = this.listing[i]?.stat;
    return stat != null && (stat.mode & S_IFMT) !== S_IFDIR && this.hasJson(i);
  }

  /** The listed entries the walk kept as they were (FinishedDir.keptSame), for encodeTreeWithKept. */
  kept(mask: Uint8Array): KeptNodes {
    const at: number[] = [];
    for (let i = mask.indexOf(1); i >= 0; i = mask.indexOf(1, i + 1)) at.push(i);
    return {
      count: at.length,
      name: (k) => this.listing[at[k]!]!.name,
      write: (sink, k) => sink.rawRange(this.tree, this.start(at[k]!), this.end(at[k]!)),
    };
  }

  /** The previous node's JSON of a non-directory entry the comparison found the same. */
  sameNode(name: Buffer): RawNode | undefined {
    const i = this.find(name);
    if (i < 0 || this.status[i] !== DIR_ENTRY_SAME) return undefined;
    const json = this.nodeJson(i);
    return json ? { name: this.listing[i]!.name, json } : undefined;
  }

  file(name: Buffer): PreviousFile | undefined {
    const i = this.find(name);
    if (i < 0) return undefined;
    const stat = this.listing[i]!.stat;
    // Same as compared: its content is all indexed and its stat is the one compared, so what
    // restic's rule checks is that stat itself; the node is decoded only if someone asks.
    if (this.status[i] === DIR_ENTRY_SAME && stat && (stat.mode & S_IFMT) === S_IFREG) return new ComparedSameFile(stat, () => this.decoded(i), this.index);
    const node = this.decoded(i);
    if (!node || node.type !== 'file' || !node.content) return undefined;
    const index = this.index;
    return new ParentFile(node, node.content.every((id) => index.has('data', id)), index);
  }

  node(name: Buffer): ResticNode | undefined {
    const i = this.find(name);
    return i < 0 ? undefined : this.decoded(i);
  }

  async dir(name: Buffer): Promise<PreviousDir | undefined> {
    const node = this.node(name);
    if (!node || node.type !== 'dir' || !node.subtree) return undefined;
    return this.subtree(node.subtree).load();
  }
}

/** A file a ComparedParentDir found the same: restic's fields from the stat compared. */
class ComparedSameFile implements PreviousFile {
  readonly reusable = true;
  readonly size: number;
  readonly mtimeSec: number;
  readonly mtimeNsec: number;
  readonly ctimeSec: number;
  readonly ctimeNsec: number;
  readonly inode: number;

  constructor(
    stat: EntryStat,
    private readonly decode: () => ResticNode | undefined,
    private readonly index: MasterIndex,
  ) {
    this.size = stat.size;
    this.mtimeSec = stat.mtimeSec;
    this.mtimeNsec = stat.mtimeNsec;
    this.ctimeSec = stat.ctimeSec;
    this.ctimeNsec = stat.ctimeNsec;
    this.inode = stat.ino;
  }

  get record(): ResticNode | undefined {
    return this.decode();
  }

  get content(): FileChunk[] | undefined {
    const node = this.decode();
    return node ? new ParentFile(node, true, this.index).content : undefined;
  }
}

/** A tree of the parent snapshot, not loaded yet. */
export class SubtreeRef implements PreviousRef {
  constructor(
    private readonly repo: ResticRepository,
    private readonly index: MasterIndex,
    readonly treeId: string,
  ) {}

  /** Another tree of the same snapshot. */
  sibling(treeId: string): SubtreeRef {
    return new SubtreeRef(this.repo, this.index, treeId);
  }

  /** The tree decoded, or undefined when it cannot be read (everything below is read again). */
  load(): Promise<ParentDir | undefined> {
    return new ParentDir(this.repo, this.index, this.treeId).load().catch(() => undefined);
  }

  /** Where the core can read the tree blob itself: a pack file of a local repository. */
  localSource(): TreeSource | undefined {
    const loc = this.index.first('tree', this.treeId);
    const file = loc ? this.repo.storage.localFile?.(objectKey('data', loc.packId)) : undefined;
    if (!loc || file === undefined) return undefined;
    return { file, offset: loc.offset, length: loc.length, uncompressedLength: loc.uncompressedLength, id: Buffer.from(this.treeId, 'hex') };
  }
}

export class ResticArchiveFormat implements ArchiveFormat<TreeRef> {
  readonly counters: DirCounters = { dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0 };

  /** Present with a core `comparer` (it compares directories with their parent trees): without one the walk lists its directories in batches. */
  readonly compareDirs?: (sources: Buffer[], previous: (PreviousDir | PreviousRef)[]) => Promise<(UnchangedDir<TreeRef> | undefined)[]>;

  constructor(
    private readonly core: Core,
    private readonly packer: Packer,
    private readonly index: MasterIndex,
    comparer?: DirComparer,
  ) {
    if (comparer) this.compareDirs = (sources, previous) => this.compareWith(comparer, sources, previous);
  }

  private async compareWith(comparer: DirComparer, sources: Buffer[], previous: (PreviousDir | PreviousRef)[]): Promise<(UnchangedDir<TreeRef> | undefined)[]> {
    const out: (UnchangedDir<TreeRef> | undefined)[] = new Array(sources.length).fill(undefined);
    const trees = await Promise.all(previous.map((p) => treeSource(p)));
    const asked = trees.flatMap((t, i) => (t ? [i] : []));
    if (asked.length === 0) return out;
    const compared = await comparer.compare(asked.map((i) => sources[i]!), asked.map((i) => trees[i]!.source));
    for (const [k, i] of asked.entries()) {
      const c = compared[k];
      if (!c || c.error) continue;
      const { source, treeId, subtree } = trees[i]!;
      const rebuild = c.rebuildable ? () => this.compareChanged(comparer, sources[i]!, source, treeId, subtree) : undefined;
      out[i] = this.unchangedDir(c, treeId, subtree, rebuild);
    }
    return out;
  }

  /** A changed directory compared again, now, with what the walk builds it from; undefined when that cannot be had. */
  private async compareChanged(comparer: DirComparer, path: Buffer, source: TreeSource, treeId: string, subtree: (id: string) => SubtreeRef): Promise<ComparedParentDir | undefined> {
    const [c] = await comparer.compare([path], [source], true);
    if (!c || c.error || !c.changed) return undefined;
    return new ComparedParentDir(treeId, { ...c, changed: c.changed }, this.index, subtree);
  }

  private unchangedDir(c: DirComparison, treeId: string, subtree: (id: string) => SubtreeRef, rebuild: (() => Promise<ComparedParentDir | undefined>) | undefined): UnchangedDir<TreeRef> {
    const nameAt = (i: number): Buffer => c.names.subarray(i === 0 ? 0 : c.ends.readUInt32LE((i - 1) * 4), c.ends.readUInt32LE(i * 4));
    const subdirs: UnchangedDir<TreeRef>['subdirs'] = [];
    const subtrees: string[] = [];
    for (let i = c.status.indexOf(DIR_ENTRY_SAME_DIR); i >= 0; i = c.status.indexOf(DIR_ENTRY_SAME_DIR, i + 1)) {
      const id = c.subtrees.toString('hex', subtrees.length * 32, subtrees.length * 32 + 32);
      subtrees.push(id);
      subdirs.push({ name: nameAt(i), previous: subtree(id) });
    }
    // Built only when excludes need them: an object per entry is what the comparison saves.
    const listed = (): ListedName[] => Array.from(c.status, (status, i) => ({ name: nameAt(i), status }));
    return {
      ...(rebuild ? { changed: rebuild } : {}),
      same: c.same,
      missing: c.missing,
      listed,
      subdirs,
      entries: c.entries,
      files: c.files,
      bytes: c.bytes,
      finish: (results) => {
        if (results.length !== subtrees.length || results.some((r, i) => r.id !== subtrees[i])) return undefined;
        if (!this.index.has('tree', treeId)) return undefined;
        this.counters.dirsUnmodified += 1;
        return { id: treeId };
      },
    };
  }

  async finishDir(dir: FinishedDir<TreeRef>): Promise<TreeRef> {
    if (dir.previous instanceof ComparedParentDir) return this.finishComparedDir(dir, dir.previous);
    const nodes = dir.entries.map((e) => nodeFromEntry(e, e.kind === 'dir' ? dir.results.get(e.name.toString('latin1'))?.id : undefined));
    const previous = dir.previous as ParentDir | undefined;
    // Unchanged directory: the same nodes encode to the same bytes, so the parent's tree (which
    // the repository holds) is this one. Saves encoding, hashing and storing it again.
    if (previous && previous.size === nodes.length && this.index.has('tree', previous.treeId) && nodes.every((n) => sameNode(n, previous.node(n.name)))) {
      this.counters.dirsUnmodified += 1;
      return { id: previous.treeId };
    }
    const bytes = encodeTree(nodes);
    const id = idToHex(this.core.hash('sha256', bytes));
    await this.packer.addTree(id, bytes);
    if (!previous) this.counters.dirsNew += 1;
    else if (previous.treeId === id) this.counters.dirsUnmodified += 1;
    else this.counters.dirsChanged += 1;
    return { id };
  }

  /** A changed directory built from its comparison: entries found the same keep their previous node's JSON. */
  private async finishComparedDir(dir: FinishedDir<TreeRef>, previous: ComparedParentDir): Promise<TreeRef> {
    const nodes = dir.entries.map((e) => (e.kind === 'dir' ? undefined : previous.sameNode(e.name)) ?? nodeFromEntry(e, e.kind === 'dir' ? dir.results.get(e.name.toString('latin1'))?.id : undefined));
    const bytes = dir.keptSame ? encodeTreeWithKept(nodes, previous.kept(dir.keptSame)) : encodeTree(nodes);
    const id = idToHex(this.core.hash('sha256', bytes));
    await this.packer.addTree(id, bytes);
    if (previous.treeId === id) this.counters.dirsUnmodified += 1;
    else this.counters.dirsChanged += 1;
    return { id };
  }

  /** restic's rule (§12): same size, mtime, ctime and inode. */
  unchanged(previous: PreviousFile, stat: EntryStat): boolean {
    return (
      previous.size === stat.size &&
      previous.mtimeSec === stat.mtimeSec &&
      previous.mtimeNsec === stat.mtimeNsec &&
      previous.ctimeSec === stat.ctimeSec &&
      previous.ctimeNsec === stat.ctimeNsec &&
      previous.inode === stat.ino
    );
  }

  wantsXattrs(kind: EntryKind): boolean {
    return kind !== 'symlink';
  }
}

function sameTime(a: GoTime, b: GoTime): boolean {
  return a.sec === b.sec && a.nsec === b.nsec && a.offsetMinutes === b.offsetMinutes;
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

function sameList<T>(a: readonly T[] | null | undefined, b: readonly T[] | null | undefined, same: (x: T, y: T) => boolean): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return (a?.length ?? 0) === 0 && (b?.length ?? 0) === 0 && (a === null) === (b === null);
  for (let i = 0; i < a.length; i++) if (!same(a[i] as T, b[i] as T)) return false;
  return true;
}

/** Whether two nodes encode to the same JSON (every field encodeNode writes). */
export function sameNode(a: ResticNode, b: ResticNode | undefined): boolean {
  if (!b) return false;
  return (
    a.name.equals(b.name) &&
    a.type === b.type &&
    (a.mode ?? 0) === (b.mode ?? 0) &&
    sameTime(a.mtime, b.mtime) &&
    sameTime(a.atime, b.atime) &&
    sameTime(a.ctime, b.ctime) &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    (a.user ?? '') === (b.user ?? '') &&
    (a.group ?? '') === (b.group ?? '') &&
    (a.inode ?? 0n) === (b.inode ?? 0n) &&
    (a.deviceId ?? 0n) === (b.deviceId ?? 0n) &&
    (a.size ?? 0) === (b.size ?? 0) &&
    (a.links ?? 0) === (b.links ?? 0) &&
    sameBytes(a.linkTarget, b.linkTarget) &&
    sameList(a.extendedAttributes, b.extendedAttributes, (x, y) => x.name.equals(y.name) && x.value.equals(y.value)) &&
    (a.device ?? 0n) === (b.device ?? 0n) &&
    sameList(a.content, b.content, (x, y) => x === y) &&
    (a.subtree ?? '') === (b.subtree ?? '') &&
    (a.error ?? '') === (b.error ?? '')
  );
}
