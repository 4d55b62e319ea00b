// The format-agnostic backup walk: scan the targets (and the directories leading to them),
// decide per file whether the previous backup's content can be reused, read the rest through
// the content pipeline, and hand every finished directory to the repository format, bottom up.
// The format decides what a directory becomes (restic: a tree blob; ghostsnap: flat nodes).
import path from 'node:path';
import type { Core, DirEntry, DirListing, EntryStat, FileChunk, ReadDirsOptions, Xattr } from '../native/types.ts';
import { ContentPipeline } from './content-pipeline.ts';
import { Semaphore } from './concurrency.ts';
import type { ExcludeMatcher } from './exclude.ts';
import { ReadRootMap, type ReadRoot } from './read-roots.ts';
import { scanTotals, type ScanTotals } from './scanner.ts';
import { withPacedCollection } from '../util/release-memory.ts';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket';

const S_IFMT = 0o170000;
/** scanEntryNow: the entry needs a read (xattrs, symlink target) before it is complete. */
const NEEDS_READ = Symbol('needs read');
const kindOfMode: Record<number, EntryKind> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o060000: 'dev',
  0o020000: 'chardev',
  0o010000: 'fifo',
  0o140000: 'socket',
};

export function entryKind(mode: number): EntryKind | undefined {
  return kindOfMode[mode & S_IFMT];
}

/** One scanned filesystem entry, ready to become a node of the format. */
export interface ScannedEntry {
  name: Buffer;
  /** Absolute path, raw bytes. */
  path: Buffer;
  kind: EntryKind;
  stat: EntryStat;
  xattrs: Xattr[];
  linkTarget?: Buffer;
  /** Files: chunk ids and lengths, in order. */
  content?: FileChunk[];
  /** Files: the content came from the previous backup without reading. */
  reused?: boolean;
  /** Files: the previous backup's entry the content came from. */
  previous?: PreviousFile;
  /** Files: a hard link to an entry already backed up in this run (its path). */
  hardlinkOf?: Buffer;
}

/** A directory handed to the format once all its entries are done. */
export interface FinishedDir<R> {
  path: Buffer;
  /** The directory's own metadata entry (absent for the filesystem root "/"). */
  self?: ScannedEntry;
  /** Entries in raw name order; subdirectories carry their result in `results`. */
  entries: ScannedEntry[];
  results: Map<string, R>;
  /** True for a directory on the way to a target: only the entries leading to targets are listed. */
  partial: boolean;
  previous: PreviousDir | undefined;
}

/** What the previous backup recorded for a directory (restic: a parent tree). */
export interface PreviousDir {
  file(name: Buffer): PreviousFile | undefined;
  dir(name: Buffer): Promise<PreviousDir | undefined>;
}

export interface PreviousFile {
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  /** Undefined when the previous backup did not record it (the rule then cannot use it). */
  ctimeSec?: number;
  ctimeNsec?: number;
  inode?: number;
  /** The content to reuse; undefined when not all of it is still in the repository. */
  content: FileChunk[] | undefined;
  /**
   * Whether `content` is reusable, when the format can tell without building it (then
   * `content` is only read if someone needs the chunk list).
   */
  reusable?: boolean;
  /** The format's own record of the previous entry (restic: its tree node). */
  record?: unknown;
}

export interface ArchiveFormat<R> {
  /** The directory is complete: store it and return what its parent needs to reference it. */
  finishDir(dir: FinishedDir<R>): Promise<R>;
  /** Whether the previous backup's content can be reused for an unchanged file. */
  unchanged(previous: PreviousFile, stat: EntryStat): boolean;
  /** Whether xattrs should be read for an entry of this kind. */
  wantsXattrs(kind: EntryKind): boolean;
}

export interface ArchiveProblem {
  path: string;
  error: string;
}

export interface ArchiveCounters {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirs: number;
  bytesProcessed: number;
  entries: number;
}

export interface ArchiveOptions {
  /** Absolute, normalised target paths. */
  targets: string[];
  exclude: ExcludeMatcher;
  previous: PreviousDir | undefined;
  /** Reports each excluded path (dry runs). */
  onExcluded?: (path: string, reason: string) => void;
  /** `totals`: what the scanner found to read, once it finished (with `scan`). */
  onProgress?: (counters: Readonly<ArchiveCounters>, currentPath: string, totals: ScanTotals | undefined) => void;
  /** Walk the targets beside the backup to learn the totals (for a progress bar's ETA). */
  scan?: boolean;
  signal?: AbortSignal;
  /** Files read or queued at once (bounds memory; default 512). */
  filesInFlight?: number;
  /** Read below these roots elsewhere (a filesystem snapshot); entries keep the recorded paths. */
  readRoots?: readonly ReadRoot[];
}

export interface ArchiveResult<R> {
  root: R;
  counters: ArchiveCounters;
  problems: ArchiveProblem[];
  skipped: ArchiveProblem[];
}

function display(p: Buffer): string {
  return p.toString('utf8');
}

function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f ? Buffer.concat([dir, name]) : Buffer.concat([dir, Buffer.of(0x2f), name]);
}

/** A directory whose walk is done; its result settles when its contents are stored. */
interface Walked<R> {
  result: Promise<R>;
}

/** The virtual tree of targets: the root and the directories on the way to each target. */
interface TargetNode {
  children: Map<string, TargetNode>;
  /** A target itself: scanned completely. */
  isTarget: boolean;
}

function buildTargetTree(targets: string[]): TargetNode {
  const root: TargetNode = { children: new Map(), isTarget: false };
  for (const t of targets) {
    let node = root;
    for (const part of t.split('/').filter(Boolean)) {
      let child = node.children.get(part);
      if (!child) {
        child = { children: new Map(), isTarget: false };
        node.children.set(part, child);
      }
      node = child;
    }
    node.isTarget = true;
    if (node === root) root.isTarget = true;
  }
  return root;
}

export class Archiver<R> {
  /** Files being read or waiting for the pipeline: bounds how far the walk runs ahead. */
  private readonly fileBudget: Semaphore;
  private totals: ScanTotals | undefined;
  private readonly counters: ArchiveCounters = { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirs: 0, bytesProcessed: 0, entries: 0 };
  private readonly problems: ArchiveProblem[] = [];
  private readonly skipped: ArchiveProblem[] = [];
  private readonly hardlinks = new Map<string, { path: Buffer; content: Promise<FileChunk[] | undefined> }>();
  private xattrWarning = false;
  /** Listings bring xattrs and symlink targets along: one crossing per directory, not per entry. */
  private readonly listOptions: ReadDirsOptions;
  private readonly readRoots: ReadRootMap;

  constructor(
    private readonly core: Core,
    private readonly pipeline: ContentPipeline,
    private readonly format: ArchiveFormat<R>,
    private readonly options: ArchiveOptions,
  ) {
    this.fileBudget = new Semaphore(options.filesInFlight ?? 512);
    this.listOptions = { xattrs: format.wantsXattrs('file') || format.wantsXattrs('dir'), linkTargets: true };
    this.readRoots = new ReadRootMap(options.readRoots);
  }

  /** Where the recorded path `p` is read from. */
  private source(p: Buffer): Buffer {
    return this.readRoots.empty ? p : this.readRoots.map(p);
  }

  /** A read root's own metadata (its parent's source shows a placeholder there). */
  private rootStat(p: Buffer, fallback: EntryStat): EntryStat {
    try {
      return this.core.lstat(this.source(p));
    } catch {
      return fallback;
    }
  }

  async run(): Promise<ArchiveResult<R>> {
    const scanStop = new AbortController();
    if (this.options.scan) {
      const signal = this.options.signal ? AbortSignal.any([this.options.signal, scanStop.signal]) : scanStop.signal;
      const { targets, exclude, readRoots } = this.options;
      scanTotals(this.core, { targets, exclude, ...(readRoots ? { readRoots } : {}), signal }).then(
        (totals) => {
          if (!signal.aborted) this.totals = totals;
        },
        () => {},
      );
    }
    try {
      const tree = buildTargetTree(this.options.targets);
      const root = await withPacedCollection(async () => {
        const walked = await this.visitTargetNode(Buffer.from('/'), tree, this.options.previous, undefined);
        return walked.result;
      });
      return { root, counters: this.counters, problems: this.problems, skipped: this.skipped };
    } finally {
      scanStop.abort();
    }
  }

  private checkAbort(): void {
    if (this.options.signal?.aborted) throw this.options.signal.reason instanceof Error ? this.options.signal.reason : new Error('interrupted');
  }

  private async readXattrs(p: Buffer, kind: EntryKind): Promise<Xattr[]> {
    if (!this.format.wantsXattrs(kind)) return [];
    try {
      return await this.core.getXattrs(this.source(p));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EUNSUPPORTED') {
        if (!this.xattrWarning) {
          this.xattrWarning = true;
          this.skipped.push({ path: display(p), error: 'extended attributes are not supported by the portable core; none are recorded' });
        }
        return [];
      }
      this.problems.push({ path: display(p), error: `cannot read extended attributes: ${(err as Error).message}` });
      return [];
    }
  }

  /**
   * An entry from what the listing brought along (xattrs, symlink target), without waiting;
   * NEEDS_READ (before any side effect) when something must still be read.
   */
  private scanEntryNow(p: Buffer, name: Buffer, stat: EntryStat, listed?: DirEntry): ScannedEntry | undefined | typeof NEEDS_READ {
    const kind = entryKind(stat.mode);
    if (!kind) {
      this.skipped.push({ path: display(p), error: `unknown file type (mode ${stat.mode.toString(8)})` });
      return undefined;
    }
    const wantsXattrs = this.format.wantsXattrs(kind);
    const xattrError = listed?.xattrError && listed.xattrError.code !== 'EUNSUPPORTED' ? listed.xattrError : undefined;
    if ((wantsXattrs && !listed?.xattrs && !xattrError) || (kind === 'symlink' && !listed?.linkTarget)) return NEEDS_READ;
    let xattrs: Xattr[] = [];
    if (wantsXattrs && listed?.xattrs) xattrs = listed.xattrs;
    else if (wantsXattrs && xattrError) this.problems.push({ path: display(p), error: `cannot read extended attributes: ${xattrError.message}` });
    const entry: ScannedEntry = { name, path: p, kind, stat, xattrs };
    if (kind === 'symlink') entry.linkTarget = listed?.linkTarget;
    return entry;
  }

  /** An entry, with the xattrs and symlink target the listing brought along (read here when it did not). */
  private async scanEntry(p: Buffer, name: Buffer, stat: EntryStat, listed?: DirEntry): Promise<ScannedEntry | undefined> {
    const now = this.scanEntryNow(p, name, stat, listed);
    if (now !== NEEDS_READ) return now;
    const kind = entryKind(stat.mode) as EntryKind;
    let xattrs: Xattr[];
    if (!this.format.wantsXattrs(kind)) xattrs = [];
    else if (listed?.xattrs) xattrs = listed.xattrs;
    else if (listed?.xattrError && listed.xattrError.code !== 'EUNSUPPORTED') {
      this.problems.push({ path: display(p), error: `cannot read extended attributes: ${listed.xattrError.message}` });
      xattrs = [];
    } else xattrs = await this.readXattrs(p, kind);
    const entry: ScannedEntry = { name, path: p, kind, stat, xattrs };
    if (kind === 'symlink' && listed?.linkTarget) entry.linkTarget = listed.linkTarget;
    else if (kind === 'symlink') {
      try {
        entry.linkTarget = await readLinkRaw(this.source(p));
      } catch (err) {
        this.problems.push({ path: display(p), error: `cannot read symlink: ${(err as Error).message}` });
        return undefined;
      }
    }
    return entry;
  }

  /** A directory of the target tree: a target (scanned fully) or an ancestor (partial). */
  private async visitTargetNode(p: Buffer, node: TargetNode, previous: PreviousDir | undefined, self: ScannedEntry | undefined): Promise<Walked<R>> {
    if (node.isTarget) return this.walkDir(p, previous, self);
    const entries: ScannedEntry[] = [];
    const results = new Map<string, R>();
    const pending: Promise<unknown>[] = [];
    const names = [...node.children.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const nameText of names) {
      const child = node.children.get(nameText) as TargetNode;
      const name = Buffer.from(nameText);
      const childPath = joinPath(p, name);
      let stat: EntryStat;
      try {
        stat = this.core.lstat(this.source(childPath));
      } catch (err) {
        this.problems.push({ path: display(childPath), error: (err as Error).message });
        continue;
      }
      const entry = await this.scanEntry(childPath, name, stat);
      if (!entry) continue;
      if (entry.kind === 'dir') {
        const prevChild = previous ? await previous.dir(name) : undefined;
        const walked = await this.visitTargetNode(childPath, child, prevChild, entry);
        entries.push(entry);
        pending.push(walked.result.then((r) => results.set(name.toString('latin1'), r)));
      } else if (child.isTarget) {
        pending.push(this.processNonDir(entry, previous).then((keep) => keep && entries.push(entry)));
      } else {
        this.problems.push({ path: display(childPath), error: 'is not a directory, but a backup path lies below it' });
      }
    }
    const result = (async () => {
      await Promise.all(pending);
      entries.sort((a, b) => Buffer.compare(a.name, b.name));
      this.counters.dirs += 1;
      return this.format.finishDir({ path: p, ...(self ? { self } : {}), entries, results, partial: true, previous });
    })();
    return { result };
  }

  private async listDir(p: Buffer, prefetched?: Promise<DirListing | undefined>): Promise<DirEntry[] | undefined> {
    const listing = prefetched ? await prefetched : (await this.core.readDirs([this.source(p)], this.listOptions))[0];
    if (!listing || listing.error) {
      this.problems.push({ path: display(p), error: listing?.error?.message ?? 'cannot list directory' });
      return undefined;
    }
    return listing.entries;
  }

  /**
   * Walks `p` depth first: lists it, starts reading its files (bounded by the file budget), then
   * walks its subdirectories one after the other. Resolves when the walk below `p` is done;
   * `result` settles once the directory's files and subdirectories are stored. Memory stays
   * bounded: only the current path and the directories with files still in flight are held.
   */
  private async walkDir(p: Buffer, previous: PreviousDir | undefined, self: ScannedEntry | undefined, prefetched?: Promise<DirListing | undefined>): Promise<Walked<R>> {
    this.checkAbort();
    const listing = (await this.listDir(p, prefetched)) ?? [];
    const entries: ScannedEntry[] = [];
    const results = new Map<string, R>();
    const pending: Promise<unknown>[] = [];
    const others: { raw: DirEntry; path: Buffer; stat: EntryStat }[] = [];
    const dirs: { raw: DirEntry; path: Buffer; stat: EntryStat }[] = [];
    for (const raw of listing) {
      const childPath = joinPath(p, raw.name);
      if (!raw.stat) {
        this.problems.push({ path: display(childPath), error: raw.error?.message ?? 'cannot stat' });
        continue;
      }
      if (!this.options.exclude.empty) {
        const text = display(childPath);
        const reason = this.options.exclude.reason(text);
        if (reason) {
          this.options.onExcluded?.(text, reason);
          continue;
        }
      }
      const stat = this.readRoots.isRoot(childPath) ? this.rootStat(childPath, raw.stat) : raw.stat;
      ((stat.mode & S_IFMT) === 0o040000 ? dirs : others).push({ raw, path: childPath, stat });
    }
    // Most entries of a re-run are settled here without a promise each: listed with all they
    // need, and unchanged or not a file.
    const waiting: ScannedEntry[] = [];
    const toScan: typeof others = [];
    for (const o of others) {
      const entry = this.scanEntryNow(o.path, o.raw.name, o.stat, o.raw);
      if (entry === NEEDS_READ) toScan.push(o);
      else if (entry) waiting.push(entry);
    }
    if (toScan.length) for (const entry of await Promise.all(toScan.map((o) => this.scanEntry(o.path, o.raw.name, o.stat, o.raw)))) if (entry) waiting.push(entry);
    for (const entry of waiting) {
      const settled = this.settleNow(entry, previous);
      if (settled !== undefined) {
        if (settled) entries.push(entry);
        continue;
      }
      await this.fileBudget.acquire();
      pending.push(
        this.readFile(entry, previous)
          .then((keep) => keep && entries.push(entry))
          .finally(() => this.fileBudget.release()),
      );
    }
    // The subdirectories' listings (one crossing for all) and their parent trees load while
    // this directory's files are read.
    const listings = dirs.length ? this.core.readDirs(dirs.map((d) => this.source(d.path)), this.listOptions) : Promise.resolve([]);
    listings.catch(() => {});
    const prevDirs: (Promise<PreviousDir | undefined> | undefined)[] = dirs.map((d) => (previous ? previous.dir(d.raw.name) : Promise.resolve(undefined)));
    for (const [i, d] of dirs.entries()) {
      const entry = await this.scanEntry(d.path, d.raw.name, d.stat, d.raw);
      const prevChild = await prevDirs[i];
      prevDirs[i] = undefined; // let the parent tree go once its walk is done
      if (!entry) continue;
      const walked = await this.walkDir(d.path, prevChild, entry, listings.then((all) => all[i]));
      entries.push(entry);
      pending.push(walked.result.then((r) => results.set(d.raw.name.toString('latin1'), r)));
    }
    const result = (async () => {
      await Promise.all(pending);
      entries.sort((a, b) => Buffer.compare(a.name, b.name));
      this.counters.dirs += 1;
      return this.format.finishDir({ path: p, ...(self ? { self } : {}), entries, results, partial: false, previous });
    })();
    // A failure surfaces when the parent awaits `result`; keep Node from reporting it early.
    result.catch(() => {});
    return { result };
  }

  /** Files get content; sockets are skipped; the rest need nothing more. Returns false to drop the entry. */
  private async processNonDir(entry: ScannedEntry, previous: PreviousDir | undefined): Promise<boolean> {
    return this.settleNow(entry, previous) ?? this.readFile(entry, previous);
  }

  /** processNonDir's outcome when it needs no waiting (not a file, or a file unchanged since the parent); else undefined. */
  private settleNow(entry: ScannedEntry, previous: PreviousDir | undefined): boolean | undefined {
    if (entry.kind === 'socket') {
      this.counters.entries += 1;
      this.skipped.push({ path: display(entry.path), error: 'socket (not backed up)' });
      return false;
    }
    if (entry.kind !== 'file') {
      this.counters.entries += 1;
      return true;
    }
    const stat = entry.stat;
    const prev = previous?.file(entry.name);
    if (prev && (prev.reusable ?? prev.content !== undefined) && this.format.unchanged(prev, stat)) {
      this.counters.entries += 1;
      // The chunk list is built only if a format asks for it (restic reuses the node's ids).
      Object.defineProperty(entry, 'content', { get: () => prev.content, enumerable: true, configurable: true });
      entry.reused = true;
      entry.previous = prev;
      this.counters.filesUnmodified += 1;
      this.counters.bytesProcessed += stat.size;
      // Unchanged files cost nothing to report one by one; every few hundred keeps a re-run's bar moving.
      if (this.counters.filesUnmodified % 256 === 0) this.options.onProgress?.(this.counters, display(entry.path), this.totals);
      return true;
    }
    return undefined;
  }

  /** A new or changed file (settleNow said undefined): its content read, or shared with a hard link read already. */
  private async readFile(entry: ScannedEntry, previous: PreviousDir | undefined): Promise<boolean> {
    this.counters.entries += 1;
    const stat = entry.stat;
    const prev = previous?.file(entry.name);
    if (stat.nlink > 1) {
      const key = `${stat.dev}:${stat.ino}`;
      const first = this.hardlinks.get(key);
      if (first) {
        const content = await first.content;
        if (!content) return false;
        entry.content = content;
        entry.hardlinkOf = first.path;
        prev ? (this.counters.filesChanged += 1) : (this.counters.filesNew += 1);
        return true;
      }
      let resolveContent!: (c: FileChunk[] | undefined) => void;
      this.hardlinks.set(key, { path: entry.path, content: new Promise((r) => (resolveContent = r)) });
      const ok = await this.readContent(entry, prev !== undefined);
      resolveContent(ok ? entry.content : undefined);
      return ok;
    }
    return this.readContent(entry, prev !== undefined);
  }

  private async readContent(entry: ScannedEntry, hadPrevious: boolean): Promise<boolean> {
    this.checkAbort();
    const result = await this.pipeline.read(this.source(entry.path), entry.stat.size);
    if ('error' in result) {
      this.problems.push({ path: display(entry.path), error: result.error });
      return false;
    }
    entry.content = result.chunks;
    if (result.size !== entry.stat.size) {
      // The file changed while it was read: record what was read, as restic does.
      entry.stat = { ...entry.stat, size: result.size };
    }
    hadPrevious ? (this.counters.filesChanged += 1) : (this.counters.filesNew += 1);
    this.counters.bytesProcessed += result.size;
    this.options.onProgress?.(this.counters, display(entry.path), this.totals);
    return true;
  }
}

async function readLinkRaw(p: Buffer): Promise<Buffer> {
  const { readlink } = await import('node:fs/promises');
  return readlink(p, { encoding: 'buffer' });
}

/** Absolute, cleaned target paths in the order given, without duplicates. */
export function normaliseTargets(paths: readonly string[], cwd = process.cwd()): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const abs = path.resolve(cwd, p);
    if (!out.includes(abs)) out.push(abs);
  }
  return out;
}
