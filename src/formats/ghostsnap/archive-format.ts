// How the engine's scanned entries become one flat ghostsnap tree (formats/ghostsnap.md §10),
// and how the previous snapshot's tree answers the engine's change-detection questions.
import type { Core, EntryStat, FileChunk } from '../../native/types.ts';
import type { ArchiveFormat, ArchiveProblem, EntryKind, FinishedDir, PreviousDir, PreviousFile, ScannedEntry } from '../../engine/archiver.ts';
import { entryContent } from '../../engine/archiver.ts';
import { comparePaths, encodeNode, encodeTree, textOf, type NodeType, type TreeNode } from './tree.ts';
import { joinRelative, relativeTo } from './layout.ts';
import type { ChunkIndex } from './chunk-index.ts';

export interface DirCounters {
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
}

const typeOfKind: Partial<Record<EntryKind, NodeType>> = { file: 'File', dir: 'Directory', symlink: 'Symlink' };

/** The previous snapshot's tree, keyed by absolute path, for change detection. */
export class ParentTree {
  private readonly byPath = new Map<string, TreeNode>();

  constructor(
    root: Buffer,
    nodes: readonly TreeNode[],
    private readonly index: ChunkIndex,
  ) {
    for (const n of nodes) this.byPath.set(joinRelative(root, n.path).toString('latin1'), n);
  }

  node(absolute: Buffer): TreeNode | undefined {
    return this.byPath.get(absolute.toString('latin1'));
  }

  /**
   * A file of the previous snapshot. Without the ctime and inode bolt-agent records (ghostsnap's
   * nodes, or a file that changed as that backup started) it is never taken as unchanged.
   */
  file(absolute: Buffer): PreviousFile | undefined {
    const n = this.node(absolute);
    if (!n || n.type !== 'File') return undefined;
    const indexed = n.chunks.length > 0 || n.size === 0 ? n.chunks.every((c) => this.index.has(c.id)) : false;
    return {
      size: n.size,
      mtimeSec: n.mtime,
      mtimeNsec: n.mtimeNsec,
      ...(n.stamp ? { ctimeSec: n.stamp.ctimeSec, ctimeNsec: n.stamp.ctimeNsec, inode: n.stamp.ino } : {}),
      content: indexed ? n.chunks.map((c): FileChunk => ({ id: Buffer.from(c.id, 'hex'), length: c.length })) : undefined,
    };
  }

  at(dir: Buffer): PreviousDir {
    return new ParentDir(this, dir);
  }
}

function join(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f ? Buffer.concat([dir, name]) : Buffer.concat([dir, Buffer.of(0x2f), name]);
}

class ParentDir implements PreviousDir {
  constructor(
    private readonly tree: ParentTree,
    private readonly path: Buffer,
  ) {}

  file(name: Buffer): PreviousFile | undefined {
    return this.tree.file(join(this.path, name));
  }

  async dir(name: Buffer): Promise<PreviousDir | undefined> {
    return this.tree.at(join(this.path, name));
  }
}

export class GhostsnapArchiveFormat implements ArchiveFormat<void> {
  readonly counters: DirCounters = { dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0 };
  /** Entries ghostsnap trees cannot hold (FIFOs, devices), reported rather than dropped silently. */
  readonly skipped: ArchiveProblem[] = [];
  private readonly nodes: { path: Buffer; json: string }[] = [];
  private readonly linkGroups = new Map<string, TreeNode[]>();

  constructor(
    private readonly core: Core,
    /** The snapshot root, absolute. */
    private readonly root: Buffer,
    /** Whole seconds of the backup's start: a file changed in or after it is not trusted next time. */
    private readonly startSec: number,
    private readonly parent: ParentTree | undefined,
  ) {}

  async finishDir(dir: FinishedDir<void>): Promise<void> {
    if (!dir.self && dir.path.equals(this.root)) {
      // The filesystem root has no entry of its own in the walk.
      const stat = this.core.lstat(this.root);
      this.add({ name: Buffer.alloc(0), path: this.root, kind: 'dir', stat, xattrs: [] }, Buffer.alloc(0));
    }
    for (const entry of dir.entries) {
      const rel = relativeTo(this.root, entry.path);
      if (rel === undefined) continue;
      this.add(entry, rel);
    }
  }

  private add(entry: ScannedEntry, rel: Buffer): void {
    const type = typeOfKind[entry.kind];
    if (!type) {
      this.skipped.push({ path: entry.path.toString('utf8'), error: `${entry.kind === 'fifo' ? 'FIFO' : 'device'}: ghostsnap trees hold only files, directories and symlinks; not backed up` });
      return;
    }
    const s = entry.stat;
    const content = entryContent(entry) ?? [];
    const node: TreeNode = {
      path: rel,
      name: textOf(rel).text,
      type,
      mode: s.mode,
      uid: s.uid,
      gid: s.gid,
      size: type === 'File' ? content.reduce((n, c) => n + c.length, 0) : 0,
      mtime: s.mtimeSec,
      mtimeNsec: s.mtimeNsec,
      chunks: type === 'File' ? content.map((c) => ({ id: c.id.toString('hex'), length: c.length })) : [],
      xattrs: entry.xattrs,
      ...(entry.linkTarget ? { linkTarget: entry.linkTarget } : {}),
      ...(type === 'File' && s.mtimeSec < this.startSec && s.ctimeSec < this.startSec ? { stamp: { ctimeSec: s.ctimeSec, ctimeNsec: s.ctimeNsec, ino: s.ino } } : {}),
    };
    if (type === 'Directory') this.countDir(entry.path, s);
    if (type === 'File' && s.nlink > 1) {
      node.inode = s.ino;
      node.nlink = s.nlink;
      const key = `${s.dev}:${s.ino}`;
      const group = this.linkGroups.get(key);
      if (group) group.push(node);
      else this.linkGroups.set(key, [node]);
      return;
    }
    this.nodes.push({ path: rel, json: encodeNode(node) });
  }

  private countDir(absolute: Buffer, s: EntryStat): void {
    const prev = this.parent?.node(absolute);
    if (!prev || prev.type !== 'Directory') this.counters.dirsNew += 1;
    else if (prev.mode === s.mode && prev.uid === s.uid && prev.gid === s.gid && prev.mtime === s.mtimeSec && prev.mtimeNsec === s.mtimeNsec) this.counters.dirsUnmodified += 1;
    else this.counters.dirsChanged += 1;
  }

  /**
   * The tree document. Hard-linked names become one group: the name ghostsnap's restore reaches
   * first (it sorts by name) holds the content, the others name it in hardlink_target — and keep
   * their chunks too, so any reader gets the content even without following the link.
   */
  finish(): Buffer {
    for (const group of this.linkGroups.values()) {
      const ghostsnapOrder = (n: TreeNode) => Buffer.from(n.name, 'utf8');
      group.sort((a, b) => Buffer.compare(ghostsnapOrder(a), ghostsnapOrder(b)));
      const first = group[0] as TreeNode;
      for (const node of group) {
        if (node !== first) node.hardlinkTarget = first.path;
        this.nodes.push({ path: node.path, json: encodeNode(node) });
      }
    }
    this.linkGroups.clear();
    this.nodes.sort((a, b) => comparePaths(a.path, b.path));
    return encodeTree(this.nodes.map((n) => n.json));
  }

  /** restic's rule, with what the tree recorded: size, mtime, ctime and inode equal. */
  unchanged(previous: PreviousFile, stat: EntryStat): boolean {
    return (
      previous.ctimeSec !== undefined &&
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
