// The format-agnostic restore: create directories, then write files window by window — each
// window's blobs grouped by pack so every pack range is fetched once and decoded straight into
// the open files — then links and special files, and metadata last (directories deepest first).
// Nothing is written outside the target: names are checked and symlinks are never followed.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { BlobTarget, Core, Xattr } from '../native/types.ts';
import type { FileProblem } from '../backup/types.ts';
import type { ProgressSink } from '../observe/progress.ts';
import type { EntryKind } from './archiver.ts';
import { mapLimit } from './concurrency.ts';

export interface TimeSpec {
  sec: number;
  nsec: number;
}

export interface RestoreNode {
  /** Absolute destination path (raw bytes). */
  path: Buffer;
  /** The path as recorded in the backup, for messages. */
  displayPath: string;
  kind: EntryKind;
  /** chmod bits: permissions, setuid, setgid, sticky. */
  mode: number;
  uid: number;
  gid: number;
  atime: TimeSpec;
  mtime: TimeSpec;
  xattrs: Xattr[];
  linkTarget?: Buffer;
  rdev?: number;
  size: number;
  chunks?: { id: Buffer; length: number }[];
  /** Nodes with the same key are hard links to one file; the first one restored gets the data. */
  hardlinkKey?: string;
}

export interface BlobPlace {
  pack: string;
  offset: number;
  length: number;
  rawLength: number;
  compressed: boolean;
}

export interface BlobRead {
  id: Buffer;
  place: BlobPlace;
  /** Empty: verify only. */
  targets: BlobTarget[];
}

export interface RestoreSource {
  /** Depth-first, a directory before its contents. */
  nodes(): AsyncIterable<RestoreNode>;
  locate(id: Buffer): BlobPlace | undefined;
  /** Reads, verifies and writes blobs of one pack (sorted by offset); one error (or null) per blob. */
  readBlobs(pack: string, blobs: BlobRead[]): Promise<(string | null)[]>;
}

export interface RestoreRunOptions {
  verifyOnly: boolean;
  /** The destination root; created when missing (not for verify-only). */
  root?: string;
  /** Restore ownership (only meaningful as root). */
  owner?: boolean;
  progress?: ProgressSink;
  signal?: AbortSignal;
  packConcurrency?: number;
  /** Per window: at most this many open files… */
  windowFiles?: number;
  /** …and about this many bytes. */
  windowBytes?: number;
}

export interface RestoreCounters {
  files: number;
  dirs: number;
  bytes: number;
  links: number;
  special: number;
}

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

function display(node: RestoreNode): string {
  return node.displayPath;
}

interface OpenFile {
  node: RestoreNode;
  fd: number;
  failed?: string;
}

export class Restorer {
  private readonly problems: FileProblem[] = [];
  private readonly counters: RestoreCounters = { files: 0, dirs: 0, bytes: 0, links: 0, special: 0 };
  private readonly dirs: RestoreNode[] = [];
  private readonly linked = new Map<string, RestoreNode>();
  private readonly deferredLinks: RestoreNode[] = [];
  private readonly owner: boolean;

  constructor(
    private readonly core: Core,
    private readonly source: RestoreSource,
    private readonly options: RestoreRunOptions,
  ) {
    this.owner = options.owner ?? process.getuid?.() === 0;
  }

  async run(): Promise<{ counters: RestoreCounters; problems: FileProblem[] }> {
    if (this.options.root && !this.options.verifyOnly) await fsp.mkdir(this.options.root, { recursive: true });
    let window: RestoreNode[] = [];
    let windowBytes = 0;
    const maxFiles = this.options.windowFiles ?? 256;
    const maxBytes = this.options.windowBytes ?? 256 * 1024 * 1024;
    for await (const node of this.source.nodes()) {
      if (this.options.signal?.aborted) throw this.options.signal.reason instanceof Error ? this.options.signal.reason : new Error('interrupted');
      if (node.kind === 'file') {
        if (node.hardlinkKey) {
          const first = this.linked.get(node.hardlinkKey);
          if (first) {
            this.deferredLinks.push(node);
            continue;
          }
          this.linked.set(node.hardlinkKey, node);
        }
        window.push(node);
        windowBytes += node.size;
        if (window.length >= maxFiles || windowBytes >= maxBytes) {
          await this.restoreFiles(window);
          window = [];
          windowBytes = 0;
        }
      } else await this.restoreOther(node);
    }
    await this.restoreFiles(window);
    for (const node of this.deferredLinks) await this.restoreHardlink(node);
    if (!this.options.verifyOnly) {
      // Deepest first, so setting a directory's times is not undone by writing inside it.
      for (const dir of this.dirs.reverse()) await this.applyMetadata(dir);
    }
    this.options.progress?.done();
    return { counters: this.counters, problems: this.problems };
  }

  private problem(node: RestoreNode, error: string): void {
    this.problems.push({ path: display(node), error });
  }

  /** Refuses to write through an existing symlink or into a non-directory. */
  private async safeParent(node: RestoreNode): Promise<boolean> {
    const parentEnd = node.path.lastIndexOf(0x2f);
    if (parentEnd <= 0) return true;
    const parent = node.path.subarray(0, parentEnd);
    try {
      const st = await fsp.lstat(parent);
      if (!st.isDirectory()) {
        this.problem(node, `parent ${parent.toString()} is not a directory (a symlink or file is in the way); not restored`);
        return false;
      }
      return true;
    } catch (err) {
      this.problem(node, `parent directory missing: ${(err as Error).message}`);
      return false;
    }
  }

  private async restoreOther(node: RestoreNode): Promise<void> {
    if (this.options.verifyOnly) {
      if (node.kind === 'dir') this.counters.dirs += 1;
      return;
    }
    if (node.kind !== 'dir' && !(await this.safeParent(node))) return;
    try {
      switch (node.kind) {
        case 'dir': {
          let st: fs.Stats | undefined;
          try {
            st = await fsp.lstat(node.path);
          } catch {
            st = undefined;
          }
          if (st && !st.isDirectory()) {
            if (st.isSymbolicLink() || st.isFile()) await fsp.unlink(node.path);
          }
          if (!st || !st.isDirectory()) {
            if (!(await this.safeParent(node))) return;
            await fsp.mkdir(node.path, { mode: 0o700 });
          }
          this.dirs.push(node);
          this.counters.dirs += 1;
          return;
        }
        case 'symlink':
          await fsp.rm(node.path, { force: true });
          await fsp.symlink(node.linkTarget ?? Buffer.alloc(0), node.path);
          this.counters.special += 1;
          await this.applyMetadata(node);
          return;
        case 'fifo':
        case 'dev':
        case 'chardev': {
          await fsp.rm(node.path, { force: true });
          const type = node.kind === 'fifo' ? 0o010000 : node.kind === 'dev' ? 0o060000 : 0o020000;
          await this.core.mknod(node.path, type | (node.mode & 0o7777), node.rdev ?? 0);
          this.counters.special += 1;
          await this.applyMetadata(node);
          return;
        }
        case 'socket':
          return;
        default:
          return;
      }
    } catch (err) {
      this.problem(node, `cannot restore ${node.kind}: ${(err as Error).message}`);
    }
  }

  private async restoreHardlink(node: RestoreNode): Promise<void> {
    const first = node.hardlinkKey ? this.linked.get(node.hardlinkKey) : undefined;
    if (!first) return;
    if (this.options.verifyOnly) {
      this.counters.files += 1;
      return;
    }
    if (!(await this.safeParent(node))) return;
    try {
      await fsp.rm(node.path, { force: true });
      await fsp.link(first.path, node.path);
      this.counters.links += 1;
      this.counters.files += 1;
    } catch (err) {
      this.problem(node, `cannot create hard link to ${first.displayPath}: ${(err as Error).message}`);
    }
  }

  private async restoreFiles(nodes: RestoreNode[]): Promise<void> {
    if (nodes.length === 0) return;
    const open: OpenFile[] = [];
    for (const node of nodes) {
      if (this.options.verifyOnly) {
        open.push({ node, fd: -1 });
        continue;
      }
      if (!(await this.safeParent(node))) continue;
      try {
        try {
          const st = await fsp.lstat(node.path);
          if (!st.isFile()) await fsp.rm(node.path, { recursive: st.isDirectory(), force: true });
        } catch {
          // does not exist yet
        }
        const handle = await fsp.open(node.path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | O_NOFOLLOW, 0o600);
        const fd = handle.fd;
        // Keep the fd; FileHandle would close it when garbage-collected.
        open.push({ node, fd });
        (open[open.length - 1] as OpenFile & { handle?: fsp.FileHandle }).handle = handle;
        if (node.size > 0) await handle.truncate(node.size);
      } catch (err) {
        this.problem(node, `cannot create file: ${(err as Error).message}`);
      }
    }

    // Group every chunk of every file by the pack that holds it.
    const byPack = new Map<string, Map<string, BlobRead & { files: OpenFile[] }>>();
    for (const file of open) {
      let position = 0;
      for (const chunk of file.node.chunks ?? []) {
        const place = this.source.locate(chunk.id);
        if (!place) {
          file.failed = `data blob ${chunk.id.toString('hex').slice(0, 16)}… is not in the index`;
          position += chunk.length;
          continue;
        }
        let blobs = byPack.get(place.pack);
        if (!blobs) byPack.set(place.pack, (blobs = new Map()));
        const key = chunk.id.toString('hex');
        let read = blobs.get(key);
        if (!read) blobs.set(key, (read = { id: chunk.id, place, targets: [], files: [] }));
        if (file.fd >= 0) read.targets.push({ fd: file.fd, position });
        read.files.push(file);
        position += chunk.length;
      }
      if (position !== file.node.size) file.failed ??= `chunks add up to ${position} bytes, the backup says ${file.node.size}`;
    }

    await mapLimit([...byPack.entries()], this.options.packConcurrency ?? 4, async ([pack, blobs]) => {
      const list = [...blobs.values()].sort((a, b) => a.place.offset - b.place.offset);
      let errors: (string | null)[];
      try {
        errors = await this.source.readBlobs(pack, list);
      } catch (err) {
        errors = list.map(() => (err as Error).message);
      }
      errors.forEach((error, i) => {
        if (!error) {
          const read = list[i];
          if (read) this.counters.bytes += read.place.rawLength * Math.max(1, read.files.length);
          return;
        }
        for (const file of list[i]?.files ?? []) file.failed ??= `pack ${pack.slice(0, 12)}…: ${error}`;
      });
      this.options.progress?.update({ operation: this.options.verifyOnly ? 'verify' : 'restore', files_done: this.counters.files, bytes_done: this.counters.bytes, current: pack });
    });

    for (const file of open) {
      const handle = (file as OpenFile & { handle?: fsp.FileHandle }).handle;
      if (handle) await handle.close();
      if (file.failed) {
        this.problem(file.node, file.failed);
        continue;
      }
      this.counters.files += 1;
      if (!this.options.verifyOnly) await this.applyMetadata(file.node);
    }
  }

  private async applyMetadata(node: RestoreNode): Promise<void> {
    const p = node.path;
    try {
      if (this.owner) await fsp.lchown(p, node.uid, node.gid);
    } catch (err) {
      this.problem(node, `cannot set owner: ${(err as Error).message}`);
    }
    if (node.kind !== 'symlink') {
      try {
        await fsp.chmod(p, node.mode & 0o7777);
      } catch (err) {
        this.problem(node, `cannot set mode: ${(err as Error).message}`);
      }
    }
    for (const x of node.xattrs) {
      try {
        await this.core.setXattr(p, x.name, x.value);
      } catch (err) {
        this.problem(node, `cannot set extended attribute ${x.name.toString()}: ${(err as Error).message}`);
      }
    }
    try {
      await this.core.setTimes(p, node.atime.sec, node.atime.nsec, node.mtime.sec, node.mtime.nsec);
    } catch (err) {
      this.problem(node, `cannot set times: ${(err as Error).message}`);
    }
  }
}
