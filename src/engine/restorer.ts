// The format-agnostic restore: create directories, then write files window by window — each
// window's blobs grouped by pack so every pack range is fetched once and decoded straight into
// the open files — then links and special files, and metadata last (directories deepest first).
// Nothing is written outside the target: names are checked and symlinks are never followed.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BlobTarget, Core, FinishRequest, HashAlgorithm, MadeEntry, NewFileResult, NewFileTarget, Xattr } from '../native/types.ts';
import type { FileProblem } from '../backup/types.ts';
import { completed, wantsTotals, type ProgressSink } from '../observe/progress.ts';
import type { EntryKind } from './archiver.ts';
import { mapLimit } from './concurrency.ts';
import { recheckFile } from './recheck.ts';
import { withPacedCollection } from '../util/release-memory.ts';

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
  /** Each with its place when the source located it already (then locate() is not asked again). */
  chunks?: { id: Buffer; length: number; place?: BlobPlace | undefined }[];
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

/** A BlobRead whose targets may also name files the read creates (`NewFileTarget`). */
export interface NewFilesBlobRead {
  id: Buffer;
  place: BlobPlace;
  targets: (BlobTarget | NewFileTarget)[];
}

export interface NewFilesRead {
  /** One per blob, as readBlobs. */
  errors: (string | null)[];
  /** One per file. */
  files: NewFileResult[];
}

/**
 * Regular files the source writes itself (a native core's restore), a directory's worth at a
 * time: the restorer counts them into windows and has the source write each window's groups.
 */
export interface SourceFileGroup {
  kind: 'group';
  id: number;
  files: number;
  bytes: number;
}

/** Part of a window of groups done: files finished, bytes written (or checked), problems. */
export interface GroupStep {
  files: number;
  bytes: number;
  problems: FileProblem[];
  /** Where the window stands, for the progress display ("batch 3/40"). */
  current?: string;
}

export interface RestoreSource {
  /** Depth-first, a directory before its contents (a group after its directory). */
  nodes(): AsyncIterable<RestoreNode | SourceFileGroup>;
  /**
   * Writes (verify-only: reads and checks) the files of `groups` as one window, their
   * directories in place; each step reported as it is done. Present when nodes() yields groups.
   */
  writeGroups?(groups: readonly SourceFileGroup[], step: (done: GroupStep) => void, options: { concurrency: number; checkAbort: () => void }): Promise<void>;
  locate(id: Buffer): BlobPlace | undefined;
  /** Reads, verifies and writes blobs of one pack (sorted by offset); one error (or null) per blob. */
  readBlobs(pack: string, blobs: BlobRead[]): Promise<(string | null)[]>;
  /**
   * As readBlobs, also creating `files` (as Core.createFiles), writing them through the targets
   * that name them and finishing them (as Core.finishFiles) in the same call: one crossing for
   * the files a batch holds whole. Undefined, with nothing done, when the source cannot for
   * these blobs.
   */
  readBlobsIntoNewFiles?(pack: string, blobs: NewFilesBlobRead[], files: FinishRequest[], root: Buffer): Promise<NewFilesRead | undefined>;
  /** What nodes() will yield, counted without side effects (for the progress bar's ETA). */
  totals?(): Promise<RestoreTotals>;
}

export interface RestoreTotals {
  /** Regular files, a hard-linked file once. */
  files: number;
  bytes: number;
}

export interface RestoreRunOptions {
  verifyOnly: boolean;
  /** The destination root; created when missing (not for verify-only). */
  root?: string;
  /**
   * The directory no write may leave, `root` or one above it (default: `root`): the directories
   * between them are made beneath it like the restored ones, never followed if a symlink.
   */
  confine?: string;
  /** Restore ownership (only meaningful as root). */
  owner?: boolean;
  progress?: ProgressSink;
  signal?: AbortSignal;
  packConcurrency?: number;
  /** Per window: at most this many open files… */
  windowFiles?: number;
  /** …and about this many bytes. */
  windowBytes?: number;
  /** Afterwards, read every restored file back and check its chunks with this hash (the format's chunk id). */
  recheck?: HashAlgorithm;
}

export interface RestoreCounters {
  files: number;
  dirs: number;
  bytes: number;
  links: number;
  special: number;
  /** Files read back and found equal to the backup (with `recheck`). */
  rechecked: number;
}

/**
 * Core.createFiles' answer when a directory stands where a file is restored: it is removed with
 * all it holds and the file created again. Anything else at the name the core unlinks itself.
 */
const DIRECTORY_IN_THE_WAY = os.constants.errno.EISDIR;
/** S_IFMT bits of each kind restored (FinishRequest.kind). */
const FILE_TYPE: Partial<Record<string, number>> = { file: 0o100000, dir: 0o040000, symlink: 0o120000, fifo: 0o010000, dev: 0o060000, chardev: 0o020000 };
/** Entries given their metadata in one call to the core. */
const METADATA_BATCH = 512;
/** Directories or symlinks queued per batch (a batch's symlinks get their metadata in one call). */
const STRUCTURE_BATCH = 256;
/** Files whose obstacles are removed at once. */
const FILE_CONCURRENCY = 16;
/** Files read back at once (each holds a buffer of its largest chunk). */
const RECHECK_CONCURRENCY = 4;

function display(node: RestoreNode): string {
  return node.displayPath;
}

interface PlannedFile {
  node: RestoreNode;
  /** Open descriptor while data is being written; -1 before and after. */
  fd: number;
  opening: Promise<void> | undefined;
  /** Bytes still to be written; the file is finished at 0. */
  remaining: number;
  failed: string | undefined;
}

interface PlannedBlob {
  id: Buffer;
  place: BlobPlace;
  uses: { file: PlannedFile; position: number; length: number }[];
}

/**
 * A restore window: this many files or bytes of file content. Two windows are alive at once (one
 * written, the next filled by the walk); 4096 files instead of 8192 lowered a 56k-file restore's
 * peak RSS by ~15 MB at the same time (2048 was no lower and noisier).
 */
const WINDOW_FILES = 4096;
const WINDOW_BYTES = 1024 * 1024 * 1024;

/** Files opened at once for one pack's batch of blobs. */
const OPEN_FILES_PER_BATCH = 128;

export class Restorer {
  private readonly problems: FileProblem[] = [];
  private readonly counters: RestoreCounters = { files: 0, dirs: 0, bytes: 0, links: 0, special: 0, rechecked: 0 };
  /** Files written completely (checked again with `recheck`). */
  private readonly written: RestoreNode[] = [];
  private readonly dirs: RestoreNode[] = [];
  private readonly linked = new Map<string, RestoreNode>();
  private readonly deferredLinks: RestoreNode[] = [];
  /** Hard-link groups whose first name failed. */
  private readonly failedLinkKeys = new Set<string>();
  private totals: RestoreTotals | undefined;
  private readonly owner: boolean;
  /** Every entry is written beneath it, no symlink followed on the way (Core.createFiles). */
  private readonly target: Buffer;

  constructor(
    private readonly core: Core,
    private readonly source: RestoreSource,
    private readonly options: RestoreRunOptions,
  ) {
    this.owner = options.owner ?? process.getuid?.() === 0;
    this.target = Buffer.from(path.resolve(options.confine ?? options.root ?? '/'));
  }

  async run(): Promise<{ counters: RestoreCounters; problems: FileProblem[] }> {
    return withPacedCollection(() => this.restoreAll());
  }

  private async restoreAll(): Promise<{ counters: RestoreCounters; problems: FileProblem[] }> {
    if (this.options.root && !this.options.verifyOnly) await this.makeRoot(path.resolve(this.options.root));
    // Counted first, as restic does, so the bar has its totals and ETA from the start (trees
    // read here are in the repository's tree cache when the restore walks them again), but
    // only for a display that shows them: counting walks every tree once more.
    if (wantsTotals(this.options.progress) && this.source.totals) {
      this.options.progress?.update({ operation: this.options.verifyOnly ? 'verify' : 'restore', phase: 'counting', files_done: 0, bytes_done: 0 });
      this.totals = await this.source.totals().catch(() => undefined);
    }
    // Files are restored in windows: each window's packs are read once, and memory holds one
    // window's plan, not the whole tree's.
    let files: RestoreNode[] = [];
    let groups: SourceFileGroup[] = [];
    let windowFiles = 0;
    let windowBytes = 0;
    // One window is written while the walk (tree reads, directories, symlinks) fills the next,
    // so neither the walk nor the tail of a window leaves the cores idle.
    let writing: Promise<void> = Promise.resolve();
    for await (const node of this.source.nodes()) {
      this.checkAbort();
      if (node.kind === 'file' || node.kind === 'group') {
        if (node.kind === 'group') {
          groups.push(node);
          windowFiles += node.files;
          windowBytes += node.bytes;
        } else {
          if (node.hardlinkKey) {
            if (this.linked.has(node.hardlinkKey)) {
              this.deferredLinks.push(node);
              continue;
            }
            this.linked.set(node.hardlinkKey, node);
          }
          files.push(node);
          windowFiles += 1;
          windowBytes += node.size;
        }
        if (windowFiles >= (this.options.windowFiles ?? WINDOW_FILES) || windowBytes >= (this.options.windowBytes ?? WINDOW_BYTES)) {
          await writing;
          // The window's directories exist once what was queued before it is done.
          const window = { files, groups };
          writing = this.flushStructure().then(() => this.writeWindow(window.files, window.groups));
          // Its failure is seen by the next await; this only keeps it from counting as unhandled
          // when the walk fails first.
          writing.catch(() => {});
          files = [];
          groups = [];
          windowFiles = 0;
          windowBytes = 0;
        }
      } else if (node.kind === 'dir' && !this.options.verifyOnly) {
        this.queuedDirs.push(node);
        if (this.queuedDirs.length >= STRUCTURE_BATCH) this.queueStructure();
      } else if (node.kind === 'symlink' && !this.options.verifyOnly) {
        this.queuedSymlinks.push(node);
        if (this.queuedSymlinks.length >= STRUCTURE_BATCH) this.queueStructure();
      } else {
        await this.flushStructure();
        await this.restoreOther(node);
      }
    }
    await writing;
    await this.flushStructure();
    await this.writeWindow(files, groups);
    for (const node of this.deferredLinks) await this.restoreHardlink(node);
    const hash = this.options.recheck;
    if (hash && !this.options.verifyOnly) {
      await mapLimit(this.written, RECHECK_CONCURRENCY, async (node) => {
        this.checkAbort();
        const difference = await recheckFile(this.core, node, hash);
        if (difference) this.problem(node, difference);
        else this.counters.rechecked += 1;
        // Reading it back may have moved its access time.
        await this.core.setTimes(this.target, node.path, node.atime.sec, node.atime.nsec, node.mtime.sec, node.mtime.nsec).catch(() => {});
      });
    }
    if (!this.options.verifyOnly) {
      // Last, when nothing is written inside them any more (metadata changes of a child do not
      // touch its parent's times, so the order among directories does not matter).
      for (let i = 0; i < this.dirs.length; i += METADATA_BATCH) await this.applyMetadata(this.dirs.slice(i, i + METADATA_BATCH));
    }
    this.options.progress?.done(completed(this.options.verifyOnly ? 'verify' : 'restore', this.counters.files, this.counters.bytes));
    return { counters: this.counters, problems: this.problems };
  }

  /** The confining directory as given (made when missing), then the directories down to `root` beneath it. */
  private async makeRoot(root: string): Promise<void> {
    const confine = this.target.toString();
    await fsp.mkdir(confine, { recursive: true });
    const below = path.relative(confine, root);
    if (below === '') return;
    if (below.startsWith('..') || path.isAbsolute(below)) throw new Error(`the restore root ${root} is not below ${confine}`);
    let at = confine;
    for (const part of below.split(path.sep)) {
      at = path.join(at, part);
      const [made] = await this.core.makeDirs(this.target, [Buffer.from(at)]);
      if (made && made.errno !== 0 && made.errno !== os.constants.errno.EEXIST) throw new Error(`cannot make ${at}: ${made.message ?? 'unknown error'}`);
    }
  }

  private async writeWindow(files: RestoreNode[], groups: SourceFileGroup[]): Promise<void> {
    await this.restoreFiles(files);
    if (groups.length === 0) return;
    if (!this.source.writeGroups) throw new Error('the restore source yielded file groups it cannot write');
    await this.source.writeGroups(
      groups,
      (done) => {
        this.counters.files += done.files;
        this.counters.bytes += done.bytes;
        for (const problem of done.problems) this.problems.push(problem);
        if (done.current) this.progress(done.current);
      },
      { concurrency: this.options.packConcurrency ?? 4, checkAbort: () => this.checkAbort() },
    );
  }

  private progress(current: string): void {
    this.options.progress?.update({ operation: this.options.verifyOnly ? 'verify' : 'restore', files_done: this.counters.files, bytes_done: this.counters.bytes, ...(this.totals ? { files_total: this.totals.files, bytes_total: this.totals.bytes } : {}), current });
  }

  /**
   * Directories and symlinks the walk has seen but not created: they are created beside the
   * walk, in walk order (a directory before what is in it), one batch after another. A window of
   * files, a special file and the end of the restore wait for what was queued before them.
   * Awaited one by one inside the walk, the 4.3k directories of a restore of /usr kept it
   * waiting ~0.9 s; created beside it, the restore took ~9 % less time.
   */
  private queuedDirs: RestoreNode[] = [];
  private queuedSymlinks: RestoreNode[] = [];
  private structure: Promise<void> = Promise.resolve();

  private queueStructure(): void {
    if (this.queuedDirs.length === 0 && this.queuedSymlinks.length === 0) return;
    const dirs = this.queuedDirs;
    const symlinks = this.queuedSymlinks;
    this.queuedDirs = [];
    this.queuedSymlinks = [];
    this.structure = this.structure.then(async () => {
      if (dirs.length) await this.restoreDirs(dirs);
      if (symlinks.length) await this.restoreSymlinks(symlinks);
    });
    // Its failure is seen when the restore awaits it; this only keeps it from counting as unhandled.
    this.structure.catch(() => {});
  }

  /** Everything queued so far, created. */
  private flushStructure(): Promise<void> {
    this.queueStructure();
    return this.structure;
  }

  /**
   * A batch of symlinks: created several at a time (symlink first; what is in the way is removed,
   * never followed, only on EEXIST), then owner and times in one call. Awaited one by one in
   * the walk, three calls per symlink made a restore of /usr (4.5k symlinks) ~11 % slower.
   */
  private async restoreSymlinks(batch: RestoreNode[]): Promise<void> {
    const made: RestoreNode[] = [];
    // Made in one call to the core; what it could not make (something in the way, a parent
    // that is not a plain directory) goes the careful way below.
    const { done, left } = await this.makeEntries(batch, (paths) => this.core.makeSymlinks(this.target, paths, batch.map((n) => n.linkTarget ?? Buffer.alloc(0))));
    for (const node of done) {
      this.counters.special += 1;
      made.push(node);
    }
    await mapLimit(left, FILE_CONCURRENCY, async (node) => {
      if (!(await this.safeParent(node))) return;
      const target = node.linkTarget ?? Buffer.alloc(0);
      try {
        const [first] = await this.core.makeSymlinks(this.target, [node.path], [target]);
        if (first?.errno === os.constants.errno.EEXIST) {
          await this.core.removeEntry(this.target, node.path, { directories: true });
          const [again] = await this.core.makeSymlinks(this.target, [node.path], [target]);
          if (again?.errno !== 0) throw new Error(again?.message ?? 'unknown error');
        } else if (first?.errno !== 0) {
          throw new Error(first?.message ?? 'unknown error');
        }
        this.counters.special += 1;
        made.push(node);
      } catch (err) {
        this.problem(node, `cannot restore symlink: ${(err as Error).message}`);
      }
    });
    await this.applyMetadata(made);
  }

  private checkAbort(): void {
    if (this.options.signal?.aborted) throw this.options.signal.reason instanceof Error ? this.options.signal.reason : new Error('interrupted');
  }

  private problem(node: RestoreNode, error: string): void {
    this.problems.push({ path: display(node), error });
  }

  /** Directories this run created or checked (never a symlink): writing below them is safe. */
  private readonly safeDirs = new Set<string>();

  /** Refuses to write through an existing symlink or into a non-directory. */
  private async safeParent(node: RestoreNode): Promise<boolean> {
    const parentEnd = node.path.lastIndexOf(0x2f);
    if (parentEnd <= 0) return true;
    const parent = node.path.subarray(0, parentEnd);
    const key = parent.toString('latin1');
    if (this.safeDirs.has(key)) return true;
    try {
      const st = await fsp.lstat(parent);
      if (!st.isDirectory()) {
        this.problem(node, `parent ${parent.toString()} is not a directory (a symlink or file is in the way); not restored`);
        return false;
      }
      this.safeDirs.add(key);
      return true;
    } catch (err) {
      this.problem(node, `parent directory missing: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * Directories in walk order, made in one call to the core; each one it could not make
   * (something in the way, a parent that is not a plain directory) the careful way, in order.
   * One awaited mkdir per directory kept the windows of files waiting ~0.5 s in a restore of /usr.
   */
  private async restoreDirs(nodes: RestoreNode[]): Promise<void> {
    const careful = new Set((await this.makeEntries(nodes, (paths) => this.core.makeDirs(this.target, paths))).left);
    for (const node of nodes) {
      if (careful.has(node)) await this.restoreDir(node);
      else this.dirMade(node);
    }
  }

  /** Entries `make` made, and those it did not (each still to be made the careful way). */
  private async makeEntries(nodes: RestoreNode[], make: (paths: Buffer[]) => Promise<MadeEntry[]>): Promise<{ done: RestoreNode[]; left: RestoreNode[] }> {
    let made: MadeEntry[];
    try {
      made = await make(nodes.map((n) => n.path));
    } catch {
      made = [];
    }
    const done: RestoreNode[] = [];
    const left: RestoreNode[] = [];
    nodes.forEach((node, i) => (made[i]?.errno === 0 ? done : left).push(node));
    return { done, left };
  }

  private dirMade(node: RestoreNode): void {
    this.safeDirs.add(node.path.toString('latin1'));
    this.dirs.push(node);
    this.counters.dirs += 1;
  }

  /** A directory: mkdir first (into a new target it succeeds); only what is in the way is looked at. */
  private async restoreDir(node: RestoreNode): Promise<void> {
    if (!(await this.safeParent(node))) return;
    try {
      const [made] = await this.core.makeDirs(this.target, [node.path]);
      if (made?.errno === os.constants.errno.EEXIST) {
        const st = await fsp.lstat(node.path);
        if (!st.isDirectory()) {
          if (!st.isSymbolicLink() && !st.isFile()) throw new Error(made.message ?? 'it exists');
          await this.core.removeEntry(this.target, node.path);
          const [again] = await this.core.makeDirs(this.target, [node.path]);
          if (again?.errno !== 0) throw new Error(again?.message ?? 'unknown error');
        }
      } else if (made?.errno !== 0) {
        throw new Error(made?.message ?? 'unknown error');
      }
    } catch (err) {
      this.problem(node, `cannot restore dir: ${(err as Error).message}`);
      return;
    }
    this.dirMade(node);
  }

  private async restoreOther(node: RestoreNode): Promise<void> {
    if (this.options.verifyOnly) {
      if (node.kind === 'dir') this.counters.dirs += 1;
      return;
    }
    if (!(await this.safeParent(node))) return;
    try {
      switch (node.kind) {
        case 'fifo':
        case 'dev':
        case 'chardev': {
          await this.removeNonDir(node.path);
          const type = node.kind === 'fifo' ? 0o010000 : node.kind === 'dev' ? 0o060000 : 0o020000;
          await this.core.mknod(this.target, node.path, type | (node.mode & 0o7777), node.rdev ?? 0);
          this.counters.special += 1;
          await this.applyMetadata([node]);
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

  /** What stands where a special file or a hard link goes, unless it is a directory (which stays, and fails the entry). */
  private async removeNonDir(p: Buffer): Promise<void> {
    await this.core.removeEntry(this.target, p).catch((err: unknown) => {
      if (!/EISDIR|Is a directory|is a directory/i.test((err as Error).message)) throw err;
    });
  }

  private async restoreHardlink(node: RestoreNode): Promise<void> {
    const first = node.hardlinkKey ? this.linked.get(node.hardlinkKey) : undefined;
    if (!first) return;
    // The names share one inode: when its data could not be restored, every name is damaged.
    const damaged = this.failedLinkKeys.has(node.hardlinkKey as string);
    if (this.options.verifyOnly) {
      if (damaged) this.problem(node, `hard link to ${first.displayPath}, which could not be read completely`);
      else this.counters.files += 1;
      return;
    }
    if (!(await this.safeParent(node))) return;
    try {
      await this.removeNonDir(node.path);
      await this.core.linkEntry(this.target, first.path, node.path);
      this.counters.links += 1;
      if (damaged) this.problem(node, `hard link to ${first.displayPath}, which could not be restored completely`);
      else this.counters.files += 1;
    } catch (err) {
      this.problem(node, `cannot create hard link to ${first.displayPath}: ${(err as Error).message}`);
    }
  }

  /**
   * Writes every file's content pack by pack: each needed range of a pack is fetched once and its
   * blobs are decoded straight into the files that use them (pwrite in the compute core). A file
   * is opened when the first pack it needs is processed and finished (closed, metadata set) as
   * soon as its last byte is written, so few files are open at once.
   */
  private async restoreFiles(nodes: RestoreNode[]): Promise<void> {
    const plans: PlannedFile[] = [];
    // Per pack, blobs by their offset in it; by offset and id when a damaged index puts two ids
    // at one offset (each is then decoded and hash-checked on its own).
    const byPack = new Map<string, Map<number | string, PlannedBlob>>();
    for (const node of nodes) {
      // What is left to write is what its located chunks hold: a file whose chunks do not add
      // up to its size still finishes (and is reported) when the last of them is written.
      const plan: PlannedFile = { node, fd: -1, opening: undefined, remaining: 0, failed: undefined };
      let position = 0;
      for (const chunk of node.chunks ?? []) {
        const place = chunk.place ?? this.source.locate(chunk.id);
        if (!place) {
          plan.failed ??= `data blob ${chunk.id.toString('hex').slice(0, 16)}… is not in the index`;
        } else {
          plan.remaining += chunk.length;
          let blobs = byPack.get(place.pack);
          if (!blobs) byPack.set(place.pack, (blobs = new Map()));
          let key: number | string = place.offset;
          let blob = blobs.get(key);
          if (blob && !blob.id.equals(chunk.id)) blob = blobs.get((key = `${place.offset}:${chunk.id.toString('hex')}`));
          if (!blob) blobs.set(key, (blob = { id: chunk.id, place, uses: [] }));
          blob.uses.push({ file: plan, position, length: chunk.length });
        }
        position += chunk.length;
      }
      if (position !== node.size) plan.failed ??= `chunks add up to ${position} bytes, the backup says ${node.size}`;
      plans.push(plan);
    }
    // Empty files (and files whose data is all missing) have nothing to wait for.
    const ready = plans.filter((p) => p.remaining <= 0 || (p.node.chunks ?? []).length === 0);
    for (let i = 0; i < ready.length; i += METADATA_BATCH) {
      const batch = ready.slice(i, i + METADATA_BATCH);
      for (const p of batch) p.remaining = 0;
      if (!this.options.verifyOnly) await this.openPlanned(batch);
      await this.finishFiles(batch);
    }
    // Batches, not packs, are the unit of concurrency: a pack of small files makes many batches,
    // and with one pack per worker the last packs of a window ran their batches one after another
    // while the cores idled.
    const batches: { pack: string; blobs: PlannedBlob[]; files: Set<PlannedFile> }[] = [];
    const packBatches = new Map<string, number>();
    for (const [pack, blobMap] of byPack) {
      const blobs = [...blobMap.values()].sort((a, b) => a.place.offset - b.place.offset);
      // Sub-batches keep the number of files opened for one batch bounded.
      for (let start = 0; start < blobs.length; ) {
        const batch: PlannedBlob[] = [];
        const files = new Set<PlannedFile>();
        while (start < blobs.length && (files.size < OPEN_FILES_PER_BATCH || batch.length === 0)) {
          const blob = blobs[start++] as PlannedBlob;
          batch.push(blob);
          for (const use of blob.uses) files.add(use.file);
        }
        batches.push({ pack, blobs: batch, files });
        packBatches.set(pack, (packBatches.get(pack) ?? 0) + 1);
      }
    }
    byPack.clear();
    let packsDone = 0;
    const packCount = packBatches.size;
    await mapLimit(batches, this.options.packConcurrency ?? 4, async ({ pack, blobs, files }) => {
      this.checkAbort();
      await this.readBatch(pack, blobs, files);
      const left = (packBatches.get(pack) ?? 1) - 1;
      packBatches.set(pack, left);
      if (left === 0) this.progress(`pack ${++packsDone}/${packCount}`);
    });
  }

  /**
   * One batch: the files it holds whole are created, written and finished by the source in one
   * call (the core's job); the others are opened first and finished when their last byte is in.
   */
  private async readBatch(pack: string, batch: PlannedBlob[], files: Set<PlannedFile>): Promise<void> {
    const whole = await this.wholeFiles(batch, files);
    if (whole.length === 0 || !this.source.readBlobsIntoNewFiles) return this.readOpened(pack, batch, files);
    const index = new Map<PlannedFile, number>();
    whole.forEach((p, k) => index.set(p, k));
    await this.openPlanned([...files].filter((p) => !index.has(p)));
    const reads: NewFilesBlobRead[] = batch.map((b) => {
      const targets: (BlobTarget | NewFileTarget)[] = [];
      for (const u of b.uses) {
        const k = index.get(u.file);
        if (k !== undefined) targets.push({ file: k, position: u.position });
        else if (u.file.fd >= 0) targets.push({ fd: u.file.fd, position: u.position });
      }
      return { id: b.id, place: b.place, targets };
    });
    let read: NewFilesRead | undefined;
    let created: NewFileResult[] = [];
    try {
      read = await this.source.readBlobsIntoNewFiles(
        pack,
        reads,
        whole.map((p) => this.finishRequest(p.node, -1)),
        this.target,
      );
      if (!read) return this.readOpened(pack, batch, files);
      created = read.files;
    } catch (err) {
      read = { errors: reads.map(() => (err as Error).message), files: [] };
    }
    // A directory where a new file goes: removed with all it holds, and the file written
    // the ordinary way.
    const blocked = new Set<PlannedFile>();
    whole.forEach((p, k) => {
      const c = created[k];
      if (!c || c.errno === 0) return;
      if (c.errno === DIRECTORY_IN_THE_WAY) blocked.add(p);
      else p.failed ??= `cannot create file: ${c.message ?? 'unknown error'}`;
    });
    const finished = this.account(pack, batch, read.errors, blocked);
    const rest: PlannedFile[] = [];
    for (const p of finished) {
      const k = index.get(p);
      const c = k === undefined ? undefined : created[k];
      if (!c || p.failed) {
        rest.push(p);
        continue;
      }
      for (const message of c.problems) this.problem(p.node, message);
      this.counters.files += 1;
      if (this.options.recheck) this.written.push(p.node);
    }
    await this.finishFiles(rest);
    if (blocked.size > 0) {
      const again = batch.map((b) => ({ ...b, uses: b.uses.filter((u) => blocked.has(u.file)) })).filter((b) => b.uses.length > 0);
      await this.readOpened(pack, again, blocked);
    }
  }

  /** The files not opened yet whose every byte is in this batch, in a directory safe to write in. */
  private async wholeFiles(batch: PlannedBlob[], files: Set<PlannedFile>): Promise<PlannedFile[]> {
    if (this.options.verifyOnly || !this.source.readBlobsIntoNewFiles) return [];
    const bytes = new Map<PlannedFile, number>();
    for (const b of batch) for (const u of b.uses) bytes.set(u.file, (bytes.get(u.file) ?? 0) + u.length);
    const whole: PlannedFile[] = [];
    for (const p of files) {
      if (p.fd >= 0 || p.opening || p.failed || bytes.get(p) !== p.remaining) continue;
      if (await this.safeParent(p.node)) whole.push(p);
      else p.failed = 'not restored (see the previous problem)';
    }
    return whole;
  }

  /** Blobs' outcomes onto the files using them (but `skip`): the files now complete. */
  private account(pack: string, batch: PlannedBlob[], errors: (string | null)[], skip?: Set<PlannedFile>): PlannedFile[] {
    const finished: PlannedFile[] = [];
    batch.forEach((blob, i) => {
      const error = errors[i];
      for (const use of blob.uses) {
        if (skip?.has(use.file)) continue;
        if (error) use.file.failed ??= `pack ${pack.slice(0, 12)}…: ${error}`;
        else this.counters.bytes += use.length;
        use.file.remaining -= use.length;
        if (use.file.remaining === 0) finished.push(use.file);
      }
    });
    return finished;
  }

  /** A batch whose files are opened first (createFiles) and finished after (finishFiles). */
  private async readOpened(pack: string, batch: PlannedBlob[], files: Set<PlannedFile>): Promise<void> {
    if (!this.options.verifyOnly) await this.openPlanned([...files]);
    const reads: BlobRead[] = batch.map((b) => ({
      id: b.id,
      place: b.place,
      targets: b.uses.filter((u) => u.file.fd >= 0).map((u) => ({ fd: u.file.fd, position: u.position })),
    }));
    let errors: (string | null)[];
    try {
      errors = await this.source.readBlobs(pack, reads);
    } catch (err) {
      errors = reads.map(() => (err as Error).message);
    }
    await this.finishFiles(this.account(pack, batch, errors));
  }

  /** Creates the destinations not created yet (once each, however many packs need them). */
  private async openPlanned(plans: PlannedFile[]): Promise<void> {
    const fresh = plans.filter((p) => p.fd < 0 && !p.failed && !p.opening);
    if (fresh.length) {
      const created = this.createFiles(fresh);
      for (const p of fresh) p.opening = created;
    }
    await Promise.all(plans.map((p) => p.opening));
  }

  private async createFiles(plans: PlannedFile[]): Promise<void> {
    const safe: PlannedFile[] = [];
    for (const p of plans) {
      if (await this.safeParent(p.node)) safe.push(p);
      else p.failed = 'not restored (see the previous problem)';
    }
    const created = await this.core.createFiles(this.target, safe.map((p) => p.node.path)).catch((err: unknown) => safe.map(() => ({ fd: -1, errno: 0, message: (err as Error).message })));
    const blocked: PlannedFile[] = [];
    safe.forEach((p, i) => {
      const c = created[i];
      if (c && c.fd >= 0) p.fd = c.fd;
      else if (c?.errno === DIRECTORY_IN_THE_WAY) blocked.push(p);
      else p.failed = `cannot create file: ${c?.message ?? 'unknown error'}`;
    });
    // A directory in the way (never followed) is removed and the file created again.
    await mapLimit(blocked, FILE_CONCURRENCY, async (p) => {
      try {
        await this.core.removeEntry(this.target, p.node.path, { directories: true });
        const [again] = await this.core.createFiles(this.target, [p.node.path]);
        if (again && again.fd >= 0) p.fd = again.fd;
        else p.failed = `cannot create file: ${again?.message ?? 'unknown error'}`;
      } catch (err) {
        p.failed = `cannot create file: ${(err as Error).message}`;
      }
    });
  }

  /** Files whose every byte is written (or that failed): closed, given their metadata, counted. */
  private async finishFiles(plans: PlannedFile[]): Promise<void> {
    const done: PlannedFile[] = [];
    for (const p of plans) {
      if (!p.failed) {
        done.push(p);
        continue;
      }
      if (p.fd >= 0) {
        const fd = p.fd;
        p.fd = -1;
        await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
      }
      if (p.node.hardlinkKey) this.failedLinkKeys.add(p.node.hardlinkKey);
      if (!p.failed.startsWith('not restored')) this.problem(p.node, p.failed);
    }
    if (!this.options.verifyOnly) {
      const requests = done.map((p) => this.finishRequest(p.node, p.fd));
      for (const p of done) p.fd = -1;
      await this.applyRequests(
        done.map((p) => p.node),
        requests,
      );
    }
    for (const p of done) {
      this.counters.files += 1;
      if (this.options.recheck) this.written.push(p.node);
    }
  }

  private finishRequest(node: RestoreNode, fd: number): FinishRequest {
    return {
      path: node.path,
      fd,
      ...(this.owner ? { owner: { uid: node.uid, gid: node.gid } } : {}),
      // chmod would follow a symlink; a symlink has no mode of its own on Linux.
      ...(node.kind === 'symlink' ? {} : { mode: node.mode & 0o7777 }),
      ...(FILE_TYPE[node.kind] !== undefined ? { kind: FILE_TYPE[node.kind] } : {}),
      xattrs: node.xattrs,
      atimeSec: node.atime.sec,
      atimeNsec: node.atime.nsec,
      mtimeSec: node.mtime.sec,
      mtimeNsec: node.mtime.nsec,
    };
  }

  /** Owner, mode, extended attributes and times of entries already in place, in one call. */
  private applyMetadata(nodes: RestoreNode[]): Promise<void> {
    return this.applyRequests(
      nodes,
      nodes.map((n) => this.finishRequest(n, -1)),
    );
  }

  private async applyRequests(nodes: RestoreNode[], requests: FinishRequest[]): Promise<void> {
    if (requests.length === 0) return;
    let results: string[][];
    try {
      results = await this.core.finishFiles(this.target, requests);
    } catch (err) {
      results = requests.map(() => [`cannot set metadata: ${(err as Error).message}`]);
    }
    results.forEach((problems, i) => {
      const node = nodes[i];
      if (node) for (const message of problems) this.problem(node, message);
    });
  }
}
