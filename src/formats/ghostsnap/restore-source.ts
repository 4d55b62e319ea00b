// What the engine's restorer reads from a ghostsnap snapshot: the flat tree as restore nodes in
// depth-first order (a directory right before its contents), hard-link groups keyed by their
// content-holding name (so the data is written once and linked in any name order, unlike
// ghostsnap), and chunks read by random access from the packs, each hash-checked.
//
// Placement: --target T puts the node "a/b" at T/a/b and the root "" at T itself, as ghostsnap's
// restore does; without a target, nodes go back below the snapshot root.
import path from 'node:path';
import type { BlobPlace, BlobRead, RestoreNode, RestoreSource, RestoreTotals } from '../../engine/restorer.ts';
import type { FileProblem } from '../../backup/types.ts';
import { globToRegexSource } from '../../engine/exclude.ts';
import { comparePaths, pathProblem, type TreeNode } from './tree.ts';
import { joinRelative } from './layout.ts';
import type { ChunkIndex } from './chunk-index.ts';
import type { PackReader } from './pack-reader.ts';

const kindOf = { File: 'file', Directory: 'dir', Symlink: 'symlink' } as const;

/** `--include` globs, matched against the original path ("/root/name", or "/name" without a known root). */
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

export interface Placement {
  /** Where the node "" goes; a node "a/b" goes to <dest>/a/b. */
  dest: Buffer;
  /** Absolute root the names were taken relative to, for messages and --include (undefined: unknown). */
  originalRoot: string | undefined;
  /** Where a root that is not a directory goes (ghostsnap's backup of a single file names it ""). */
  rootFileDest: Buffer;
}

export class GhostsnapRestoreSource implements RestoreSource {
  private readonly plainLengths = new Map<string, number>();

  constructor(
    private readonly nodesList: readonly TreeNode[],
    private readonly index: ChunkIndex,
    private readonly reader: PackReader,
    private readonly placement: Placement,
    private readonly include: IncludeFilter,
    private readonly problems: FileProblem[],
  ) {
    for (const n of nodesList) for (const c of n.chunks) this.plainLengths.set(c.id, c.length);
  }

  private original(rel: Buffer): string {
    const text = rel.toString('utf8');
    const root = this.placement.originalRoot;
    if (root === undefined) return `/${text}`;
    if (!text) return root;
    return root === '/' ? `/${text}` : `${root}/${text}`;
  }

  async totals(): Promise<RestoreTotals> {
    const totals: RestoreTotals = { files: 0, bytes: 0 };
    for (const n of this.nodesList) {
      if (n.type !== 'File' || n.hardlinkTarget || pathProblem(n.path)) continue;
      if (!this.include.all && !this.includedWithAncestors(n.path)) continue;
      totals.files += 1;
      totals.bytes += n.size;
    }
    return totals;
  }

  /** The path or one of its directories matches --include. */
  private includedWithAncestors(rel: Buffer): boolean {
    if (this.include.matches(this.original(rel))) return true;
    for (let end = rel.indexOf(0x2f); end > 0; end = rel.indexOf(0x2f, end + 1)) {
      if (this.include.matches(this.original(rel.subarray(0, end)))) return true;
    }
    return this.include.matches(this.original(Buffer.alloc(0)));
  }

  async *nodes(): AsyncIterable<RestoreNode> {
    const byPath = new Map<string, TreeNode>();
    for (const n of this.nodesList) {
      const key = n.path.toString('latin1');
      if (byPath.has(key)) {
        this.problems.push({ path: this.original(n.path), error: 'the tree names this path twice; the first node is restored' });
        continue;
      }
      byPath.set(key, n);
    }
    const sorted = [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path));
    // Directories not emitted yet: with --include, a directory appears only when something below
    // it (or itself) is included. Directories matched by --include include everything below.
    const pending: { rel: Buffer; node: RestoreNode }[] = [];
    const includedDirs = new Set<string>();
    for (const n of sorted) {
      const original = this.original(n.path);
      const problem = pathProblem(n.path);
      if (problem) {
        this.problems.push({ path: original, error: `refused: ${problem} would escape the target` });
        continue;
      }
      if (n.path.length === 0 && n.type === 'Directory' && this.placement.dest.equals(Buffer.from('/'))) continue; // never touch "/" itself
      const node = this.toRestoreNode(n, byPath, original);
      if (!node) continue;
      while (pending.length && !isBelow((pending[pending.length - 1] as { rel: Buffer }).rel, n.path)) pending.pop();
      const included = this.include.all || this.include.matches(original) || hasIncludedAncestor(n.path, includedDirs);
      if (!included) {
        if (n.type === 'Directory') pending.push({ rel: n.path, node });
        continue;
      }
      for (const p of pending.splice(0)) yield p.node;
      if (n.type === 'Directory') includedDirs.add(n.path.toString('latin1'));
      yield node;
    }
  }

  private toRestoreNode(n: TreeNode, byPath: Map<string, TreeNode>, original: string): RestoreNode | undefined {
    let dest = joinRelative(this.placement.dest, n.path);
    if (n.path.length === 0 && n.type !== 'Directory') dest = this.placement.rootFileDest;
    let chunks = n.chunks;
    let hardlinkKey: string | undefined;
    if (n.type === 'File') {
      if (n.hardlinkTarget) {
        const target = byPath.get(n.hardlinkTarget.toString('latin1'));
        if (!target || target.type !== 'File') {
          if (chunks.length === 0 && n.size > 0) {
            this.problems.push({ path: original, error: `hard link to ${n.hardlinkTarget.toString('utf8')}, which is not in the backup` });
            return undefined;
          }
        } else {
          hardlinkKey = `gs:${target.path.toString('latin1')}`;
          if (chunks.length === 0) chunks = target.chunks;
        }
      } else if ((n.nlink ?? 1) > 1) hardlinkKey = `gs:${n.path.toString('latin1')}`;
    }
    const time = { sec: n.mtime, nsec: n.mtimeNsec };
    return {
      path: dest,
      displayPath: original,
      kind: kindOf[n.type],
      mode: n.mode & 0o7777,
      uid: n.uid,
      gid: n.gid,
      atime: time,
      mtime: time,
      xattrs: n.xattrs,
      ...(n.linkTarget ? { linkTarget: n.linkTarget } : {}),
      size: n.size,
      ...(n.type === 'File' ? { chunks: chunks.map((c) => ({ id: Buffer.from(c.id, 'hex'), length: c.length })) } : {}),
      ...(hardlinkKey ? { hardlinkKey } : {}),
    };
  }

  locate(id: Buffer): BlobPlace | undefined {
    const hex = id.toString('hex');
    const loc = this.index.get(hex);
    if (!loc) return undefined;
    return { pack: loc.pack, offset: loc.offset, length: loc.length, rawLength: this.plainLengths.get(hex) ?? 0, compressed: true };
  }

  readBlobs(pack: string, blobs: BlobRead[]): Promise<(string | null)[]> {
    return this.reader.readChunks(
      pack,
      blobs.map((b) => ({ id: b.id, offset: b.place.offset, length: b.place.length, rawLength: b.place.rawLength, targets: b.targets })),
    );
  }
}

/** Whether relative path `p` lies below directory `dir` ("" is above everything). */
function isBelow(dir: Buffer, p: Buffer): boolean {
  if (dir.length === 0) return p.length > 0;
  return p.length > dir.length && p[dir.length] === 0x2f && p.subarray(0, dir.length).equals(dir);
}

function hasIncludedAncestor(p: Buffer, includedDirs: ReadonlySet<string>): boolean {
  if (p.length > 0 && includedDirs.has('')) return true;
  for (let end = p.indexOf(0x2f); end > 0; end = p.indexOf(0x2f, end + 1)) {
    if (includedDirs.has(p.subarray(0, end).toString('latin1'))) return true;
  }
  return false;
}

/** Where a restore puts the snapshot: the target directory, or the snapshot root for "restore in place". */
export function placementFor(target: string | null, root: string | undefined, paths: readonly string[]): Placement | { error: string } {
  if (target !== null) {
    const dest = path.resolve(target);
    return { dest: Buffer.from(dest), originalRoot: root, rootFileDest: Buffer.from(path.join(dest, path.basename(root ?? paths[0] ?? '') || 'file')) };
  }
  if (root === undefined) {
    return { error: `this snapshot's paths (${paths.join(', ')}) do not say where its files came from (ghostsnap names them relative to each of several, or a relative, path); restore with --target` };
  }
  return { dest: Buffer.from(root), originalRoot: root, rootFileDest: Buffer.from(root) };
}
