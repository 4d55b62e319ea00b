// The format-agnostic backup walk: scan the targets (and the directories leading to them),
// decide per file whether the previous backup's content can be reused, read the rest through
// the content pipeline, and hand every finished directory to the repository format, bottom up.
// The format decides what a directory becomes (restic: a tree blob; ghostsnap: flat nodes).
import path from 'node:path';
import { DIR_ENTRY_NOT_IN_PREVIOUS, DIR_ENTRY_SAME, DIR_ENTRY_SAME_DIR, type Core, type DirEntry, type DirListing, type EntryStat, type FileChunk, type ReadDirsOptions, type Xattr } from '../native/types.ts';
import { ContentPipeline } from './content-pipeline.ts';
import { Semaphore } from './concurrency.ts';
import type { ExcludeMatcher } from './exclude.ts';
import { ReadRootMap, readRootDevices, type ReadRoot } from './read-roots.ts';
import { scanTotals, type ScanTotals } from './scanner.ts';
import { finishedEntries, handledEntries, withPacedCollection } from '../util/release-memory.ts';
import { joinRawPath } from '../util/raw-path.ts';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket';

const S_IFMT = 0o170000;
/** scanEntryNow: the entry needs a read (xattrs, symlink target) before it is complete. */
const NEEDS_READ = Symbol('needs read');
/**
 * Young collections during a backup every 100 ms instead of 25: ~195 of them (~2 ms each) were
 * 0.4 s of a first backup's JavaScript thread; first backup -0.14 s, same peak.
 */
const BACKUP_YOUNG_INTERVAL_MS = 100;
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
  /** Files read in this run: chunk ids and lengths, in order (a reused file's are `previous.content`; see entryContent). */
  content?: FileChunk[];
  /** Files: the content came from the previous backup without reading. */
  reused?: boolean;
  /** Files: the previous backup's entry the content came from. */
  previous?: PreviousFile;
  /** Files: a hard link to an entry already backed up in this run (its path). */
  hardlinkOf?: Buffer;
}

/** A file entry's chunks: read in this run, or the previous backup's for a reused file (built on demand). */
export function entryContent(entry: ScannedEntry): FileChunk[] | undefined {
  return entry.content ?? (entry.reused ? entry.previous?.content : undefined);
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
  /**
   * Present when `previous` is a ChangedPrevious with `sameAt`: 1 at each index of its listing
   * that the walk kept as the previous backup recorded it, without an entry in `entries` (the
   * format writes its previous record there).
   */
  keptSame?: Uint8Array;
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

/** A listed entry the walk keeps, with its path and the stat it records. */
interface ListedChild {
  raw: DirEntry;
  path: Buffer;
  stat: EntryStat;
}

/** What the previous backup recorded for a subdirectory, not read yet. */
export interface PreviousRef {
  load(): Promise<PreviousDir | undefined>;
}

/** A listed name and how it compared with the previous backup (DIR_ENTRY_* of native/types.ts). */
export interface ListedName {
  name: Buffer;
  status: number;
}

/** A directory the format compared with the previous backup without the walk's help. */
export interface UnchangedDir<R> {
  /** Every listed entry matches (directories: all but their contents) and none is missing. */
  same: boolean;
  /** Previous entries not listed any more. */
  missing: number;
  /** Every listed entry, in raw name order (excludes are applied to these). */
  listed(): ListedName[];
  /** Matching subdirectories, in order, with what the previous backup recorded below them. */
  subdirs: { name: Buffer; previous: PreviousRef }[];
  /** Matching non-directory entries, the files among them and their bytes (for the counters). */
  entries: number;
  files: number;
  bytes: number;
  /**
   * The directory's result when each subdirectory's result (in `subdirs` order) is what the
   * previous backup recorded; undefined when one differs (the walk then builds the directory).
   */
  finish(results: R[]): R | undefined;
  /**
   * Present when the directory changed but is worth building from a comparison: compares it
   * again, now, and gives its record of the previous entries on the listing that comparison
   * made, for the walk to build the directory from instead of listing it again and reading the
   * whole previous record (undefined when that cannot be had). Called when the walk gets to the
   * directory: the comparisons ahead of the walk hold nothing of it.
   */
  changed?(): Promise<ChangedPrevious | undefined>;
}

/** A previous record that comes with the listing it was compared with (UnchangedDir.changed). */
export interface ChangedPrevious extends PreviousDir {
  listing: DirEntry[];
  /**
   * Whether `listing[i]` is a non-directory the comparison found the same as its previous record
   * (restic: the node the walk would build is that node, field by field). The walk keeps such an
   * entry without an object of its own (FinishedDir.keptSame): a directory of 18k files with a
   * few changed held ~20 objects per unchanged file until its tree was written.
   */
  sameAt?(i: number): boolean;
}

export interface ArchiveFormat<R> {
  /** The directory is complete: store it and return what its parent needs to reference it. */
  finishDir(dir: FinishedDir<R>): Promise<R>;
  /**
   * Compares each directory read at `sources[i]` with `previous[i]` entry by entry, when the
   * format can (restic: in the core); undefined for a directory it cannot. Directories below
   * one found unchanged are walked without their own `self` entry.
   */
  compareDirs?(sources: Buffer[], previous: (PreviousDir | PreviousRef)[]): Promise<(UnchangedDir<R> | undefined)[]>;
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
  /** readRootDevices of `readRoots`, when the caller worked it out already (for its comparer). */
  devices?: ReadonlyMap<number, number>;
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

/**
 * A directory the format's comparison settled (but for its subdirectories' contents). Its
 * subdirectories are compared as soon as it is known, in one batch, and theirs in turn: the
 * comparisons run ahead of the walk instead of one round trip per directory.
 */
interface Compared<R> {
  unchanged: UnchangedDir<R>;
  /** Excluded entries (path, reason), reported once the directory is kept as it was. */
  excluded: [string, string][];
  children: Promise<ComparedChild<R>[]>;
}

/** A directory the format compared and found changed, worth building from a comparison (UnchangedDir.changed). */
interface ComparedChanged {
  changed: () => Promise<ChangedPrevious | undefined>;
}

/** What a comparison settled: unchanged, changed with what was compared, or nothing (walk it the ordinary way). */
type Verdict<R> = Compared<R> | ComparedChanged | undefined;

interface ComparedChild<R> {
  name: Buffer;
  path: Buffer;
  /**
   * What the previous backup recorded below the child. Trees of children found unchanged are
   * not held (they are loaded again if the child must be built after all).
   */
  previous: () => Promise<PreviousDir | undefined>;
  /** Undefined: not comparable (or changed, with nothing kept); the child is listed and walked the ordinary way. */
  compared: Verdict<R>;
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
    this.devices = options.devices ?? readRootDevices(options.readRoots ?? [], (p) => core.lstat(p));
  }

  /** Devices as read below the read roots → as recorded (readRootDevices). */
  private readonly devices: ReadonlyMap<number, number>;

  /** `stat` with the device the backup records (changed in place: stats are the walk's own). */
  private recorded(stat: EntryStat): EntryStat {
    if (this.devices.size === 0) return stat;
    const dev = this.devices.get(stat.dev);
    if (dev !== undefined) stat.dev = dev;
    return stat;
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
      const root = await withPacedCollection(
        async () => {
          const walked = await this.visitTargetNode(Buffer.from('/'), tree, this.options.previous, undefined);
          return walked.result;
        },
        undefined,
        BACKUP_YOUNG_INTERVAL_MS,
      );
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
      const childPath = joinRawPath(p, name);
      let stat: EntryStat;
      try {
        stat = this.recorded(this.core.lstat(this.source(childPath)));
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
   * Walks `p`: a directory with a previous record is first compared by the format, when it can
   * (walkUnchanged); otherwise, or when it changed, it is listed and built (walkListed).
   */
  private async walkDir(p: Buffer, previous: PreviousDir | undefined, self: ScannedEntry | undefined, prefetched?: Promise<DirListing | undefined>): Promise<Walked<R>> {
    this.checkAbort();
    if (previous && !prefetched && this.format.compareDirs && !this.readRoots.holdsRoot(p)) {
      const key = p.toString('latin1');
      const early = this.compareAhead.get(key);
      this.compareAhead.delete(key);
      const compared = await (early ?? this.compareOne(p, previous));
      if (compared) return this.walkVerdict(p, compared, () => Promise.resolve(previous), self);
    }
    return this.walkListed(p, previous, self, prefetched);
  }

  /**
   * Walks `p` as its comparison settled: unchanged (only the subdirectories), changed and built
   * from what a comparison listed again, or (nothing to go on) listed the ordinary way.
   */
  private async walkVerdict(p: Buffer, verdict: Verdict<R>, previous: () => Promise<PreviousDir | undefined>, self: ScannedEntry | undefined): Promise<Walked<R>> {
    if (verdict && !('changed' in verdict)) return this.walkUnchanged(p, previous, self, verdict);
    const compared = verdict ? await verdict.changed().catch(() => undefined) : undefined;
    if (compared) return this.walkListed(p, compared, self, Promise.resolve({ path: p, entries: compared.listing }));
    return this.walkListed(p, await previous(), self);
  }

  /** Comparisons of the targets started by compareTargetsAhead(), by path. */
  private readonly compareAhead = new Map<string, Promise<Verdict<R>>>();
  /** Comparison batches in flight: enough to keep the core busy, not so many that they queue before the reads of changed files. */
  private readonly comparing = new Semaphore(8);
  private comparisonsStopped = false;

  /**
   * Starts comparing the targets with the previous backup before the walk (it only reads: a
   * backup does this while its lock is being confirmed). The walk takes them up when it gets there.
   */
  compareTargetsAhead(): void {
    const root = this.options.previous;
    if (!root || !this.format.compareDirs) return;
    const targets = this.options.targets;
    for (const target of targets) {
      const p = Buffer.from(target);
      // A target inside another is walked as part of it.
      if (targets.some((t) => t !== target && (t === '/' || target.startsWith(`${t}/`)))) continue;
      const compared = (async () => {
        let previous: PreviousDir | undefined = root;
        for (const part of target.split('/').filter(Boolean)) previous = await previous?.dir(Buffer.from(part));
        return previous ? this.compareOne(p, previous) : undefined;
      })();
      // A comparison that fails leaves the target to the ordinary walk.
      this.compareAhead.set(p.toString('latin1'), compared.catch(() => undefined));
    }
  }

  /**
   * The subdirectories of a directory that changed, compared in one batch before the walk gets
   * to them (one by one, each waited for a round trip to the core before it was listed).
   */
  private compareSubdirsAhead(paths: Buffer[], previous: Promise<PreviousDir | undefined>[]): void {
    const batch = Promise.all(previous).then((loaded) => this.compareMany(paths, loaded));
    for (const [i, p] of paths.entries()) this.compareAhead.set(p.toString('latin1'), batch.then((all) => all[i], () => undefined));
  }

  /** No further comparisons start (a walk prepared for a lock that was not obtained). */
  stopComparing(): void {
    this.comparisonsStopped = true;
  }

  /**
   * The directories at `paths` compared with what the previous backup recorded (directories
   * without a record, or holding a read root, are not compared): one batch for the format,
   * nothing when it cannot compare, fails, or comparisons stopped.
   */
  private async compareMany(paths: Buffer[], previous: (PreviousDir | PreviousRef | undefined)[]): Promise<Verdict<R>[]> {
    const out: Verdict<R>[] = new Array(paths.length).fill(undefined);
    const compareDirs = this.format.compareDirs;
    const comparable = paths.flatMap((p, i) => (previous[i] && !this.readRoots.holdsRoot(p) ? [i] : []));
    if (!compareDirs || comparable.length === 0 || this.comparisonsStopped || this.options.signal?.aborted) return out;
    let verdicts: (UnchangedDir<R> | undefined)[];
    try {
      verdicts = await this.comparing.run(() => compareDirs.call(this.format, comparable.map((i) => this.source(paths[i]!)), comparable.map((i) => previous[i]!)));
    } catch {
      return out; // a comparison that fails only means: walk these directories the ordinary way
    }
    for (const [k, i] of comparable.entries()) out[i] = this.accept(paths[i]!, verdicts[k]);
    return out;
  }

  private async compareOne(p: Buffer, previous: PreviousDir): Promise<Verdict<R>> {
    return (await this.compareMany([p], [previous]))[0];
  }

  /**
   * The comparison settles the directory when every entry the walk would keep matches, every
   * entry it would exclude is new, and nothing is missing; then its subdirectories' comparisons
   * start.
   */
  private accept(p: Buffer, u: UnchangedDir<R> | undefined): Verdict<R> {
    if (!u) return undefined;
    const changed = u.changed;
    const differs = (): Verdict<R> => (changed ? { changed: () => changed.call(u) } : undefined);
    if (u.missing > 0) return differs();
    const exclude = this.options.exclude;
    const excluded: [string, string][] = [];
    if (!exclude.mayExcludeIn(display(p))) {
      if (!u.same) return differs();
    } else {
      for (const { name, status } of u.listed()) {
        const text = display(joinRawPath(p, name));
        const reason = exclude.reason(text);
        if (reason) {
          if (status !== DIR_ENTRY_NOT_IN_PREVIOUS) return differs();
          excluded.push([text, reason]);
        } else if (status !== DIR_ENTRY_SAME && status !== DIR_ENTRY_SAME_DIR) return differs();
      }
    }
    const children = this.compareChildren(p, u);
    children.catch(() => {});
    return { unchanged: u, excluded, children };
  }

  private async compareChildren(p: Buffer, u: UnchangedDir<R>): Promise<ComparedChild<R>[]> {
    // The subdirectories' trees are not loaded here: the format reads them for the comparison
    // (restic: the core, from local packs), and the walk loads one only if it must build it.
    const paths = u.subdirs.map((d) => joinRawPath(p, d.name));
    const compared = await this.compareMany(paths, u.subdirs.map((d) => d.previous));
    return u.subdirs.map((d, i) => ({ name: d.name, path: paths[i]!, previous: () => d.previous.load(), compared: compared[i] }));
  }

  /**
   * A directory whose entries all match the previous backup: only its subdirectories are walked.
   * If one of them turns out changed, the directory is built the ordinary way from a listing
   * (and its previous tree loaded again), with the subdirectories' walks reused.
   */
  private async walkUnchanged(p: Buffer, previous: () => Promise<PreviousDir | undefined>, self: ScannedEntry | undefined, compared: Compared<R>): Promise<Walked<R>> {
    this.checkAbort();
    const walked = new Map<string, Walked<R>>();
    for (const c of await compared.children) {
      const comparedChild = c.compared;
      // What was compared below the child goes once the child is walked (the comparisons run ahead).
      c.compared = undefined;
      const child = await this.walkVerdict(c.path, comparedChild, c.previous, undefined);
      walked.set(c.name.toString('latin1'), child);
    }
    // The result keeps only what it needs: the comparisons below are let go as the walk goes on.
    const { excluded } = compared;
    const { entries, files, bytes, finish } = compared.unchanged;
    const result = (async () => {
      const results = await Promise.all([...walked.values()].map((w) => w.result));
      const same = finish(results);
      if (same === undefined) return (await this.walkListed(p, await previous(), self, undefined, walked)).result;
      for (const [text, reason] of excluded) this.options.onExcluded?.(text, reason);
      this.counters.entries += entries;
      this.counters.filesUnmodified += files;
      this.counters.bytesProcessed += bytes;
      this.counters.dirs += 1;
      if (files > 0) this.options.onProgress?.(this.counters, display(p), this.totals);
      return same;
    })();
    result.catch(() => {});
    return { result };
  }

  /**
   * Walks `p` depth first: lists it, starts reading its files (bounded by the file budget), then
   * walks its subdirectories one after the other. Resolves when the walk below `p` is done;
   * `result` settles once the directory's files and subdirectories are stored. Memory stays
   * bounded: only the current path and the directories with files still in flight are held.
   */
  private async walkListed(
    p: Buffer,
    previous: PreviousDir | undefined,
    self: ScannedEntry | undefined,
    prefetched?: Promise<DirListing | undefined>,
    walkedSubdirs?: ReadonlyMap<string, Walked<R>>,
  ): Promise<Walked<R>> {
    this.checkAbort();
    const listing = (await this.listDir(p, prefetched)) ?? [];
    const entries: ScannedEntry[] = [];
    const results = new Map<string, R>();
    const pending: Promise<unknown>[] = [];
    const same = previous && 'sameAt' in previous && (previous as ChangedPrevious).listing === listing ? (previous as ChangedPrevious) : undefined;
    const { others, dirs, keptSame, kept } = this.sortListing(p, listing, same);
    const settled = await this.startFiles(others, previous, entries, pending);
    // The subdirectories' listings (one crossing for all) and their parent trees load while
    // this directory's files are read. Subdirectories with a parent tree are compared by the
    // format first when it can; they list themselves only if they changed.
    const comparing = previous !== undefined && this.format.compareDirs !== undefined;
    const toWalk = walkedSubdirs ? dirs.filter((d) => !walkedSubdirs.has(d.raw.name.toString('latin1'))) : dirs;
    const listings = toWalk.length && !comparing ? this.core.readDirs(toWalk.map((d) => this.source(d.path)), this.listOptions) : undefined;
    listings?.catch(() => {});
    const prevDirs = new Map<Buffer, Promise<PreviousDir | undefined>>(toWalk.map((d) => [d.raw.name, previous ? previous.dir(d.raw.name) : Promise.resolve(undefined)]));
    if (comparing && toWalk.length) this.compareSubdirsAhead(toWalk.map((d) => d.path), toWalk.map((d) => prevDirs.get(d.raw.name) as Promise<PreviousDir | undefined>));
    let listed = 0;
    for (const d of dirs) {
      const entry = await this.scanEntry(d.path, d.raw.name, d.stat, d.raw);
      const key = d.raw.name.toString('latin1');
      let walked = walkedSubdirs?.get(key);
      if (!walked) {
        const prevChild = await prevDirs.get(d.raw.name);
        prevDirs.delete(d.raw.name); // let the parent tree go once its walk is done
        const i = listed++;
        if (!entry) {
          this.compareAhead.delete(d.path.toString('latin1'));
          continue;
        }
        walked = await this.walkDir(d.path, prevChild, entry, listings?.then((all) => all[i]));
      }
      if (!entry) continue;
      entries.push(entry);
      pending.push(walked.result.then((r) => results.set(key, r)));
    }
    const result = (async () => {
      await Promise.all(pending);
      entries.sort((a, b) => Buffer.compare(a.name, b.name));
      this.counters.dirs += 1;
      const finished = await this.format.finishDir({ path: p, ...(self ? { self } : {}), entries, results, partial: false, previous, ...(keptSame ? { keptSame } : {}) });
      finishedEntries(kept + settled);
      return finished;
    })();
    // A failure surfaces when the parent awaits `result`; keep Node from reporting it early.
    result.catch(() => {});
    return { result };
  }

  /**
   * A listing's entries that are kept (not excluded, stat'ed), as directories and the rest.
   * walkListed's loops live in functions of their own: JavaScriptCore's optimizing tier compiled
   * walkListed, loops and all, in ~200 ms of CPU, twice, during a first backup.
   */
  private sortListing(p: Buffer, listing: DirEntry[], same?: ChangedPrevious): { others: ListedChild[]; dirs: ListedChild[]; keptSame?: Uint8Array; kept: number } {
    const others: ListedChild[] = [];
    const dirs: ListedChild[] = [];
    // Entries `same` found unchanged stay in its listing, marked here (FinishedDir.keptSame).
    const keptSame = same ? new Uint8Array(listing.length) : undefined;
    const excludes = !this.options.exclude.empty;
    const roots = !this.readRoots.empty;
    let keptCount = 0;
    for (let i = 0; i < listing.length; i++) {
      const raw = listing[i]!;
      if (!raw.stat) {
        this.problems.push({ path: display(joinRawPath(p, raw.name)), error: raw.error?.message ?? 'cannot stat' });
        continue;
      }
      const kept = same?.sameAt?.(i) === true;
      const childPath = kept && !excludes && !roots ? undefined : joinRawPath(p, raw.name);
      if (childPath && excludes) {
        const text = display(childPath);
        const reason = this.options.exclude.reason(text);
        if (reason) {
          this.options.onExcluded?.(text, reason);
          continue;
        }
      }
      if (keptSame && kept && !(childPath && this.readRoots.isRoot(childPath))) {
        keptSame[i] = 1;
        keptCount += 1;
        this.keepUnchanged(raw.stat, p, raw.name);
        continue;
      }
      const path = childPath ?? joinRawPath(p, raw.name);
      const stat = this.recorded(this.readRoots.isRoot(path) ? this.rootStat(path, raw.stat) : raw.stat);
      ((stat.mode & S_IFMT) === 0o040000 ? dirs : others).push({ raw, path, stat });
    }
    return keptSame ? { others, dirs, keptSame, kept: keptCount } : { others, dirs, kept: 0 };
  }

  /** Counts an entry kept as the previous backup recorded it (settleNow's outcome for it, without the entry). */
  private keepUnchanged(stat: EntryStat, dir: Buffer, name: Buffer): void {
    this.counters.entries += 1;
    if ((stat.mode & S_IFMT) !== 0o100000) return;
    this.counters.filesUnmodified += 1;
    this.counters.bytesProcessed += stat.size;
    if (this.counters.filesUnmodified % 256 === 0) this.options.onProgress?.(this.counters, display(joinRawPath(dir, name)), this.totals);
  }

  /**
   * The non-directory entries of a listed directory: settled at once when they can be (most of a
   * re-run's: listed with all they need, and unchanged or not a file), else read within the file
   * budget. Kept entries go to `entries`, reads in flight to `pending`. Returns how many were
   * settled without a read.
   */
  private async startFiles(others: ListedChild[], previous: PreviousDir | undefined, entries: ScannedEntry[], pending: Promise<unknown>[]): Promise<number> {
    let settledCount = 0;
    const waiting: ScannedEntry[] = [];
    const toScan: ListedChild[] = [];
    for (const o of others) {
      const entry = this.scanEntryNow(o.path, o.raw.name, o.stat, o.raw);
      if (entry === NEEDS_READ) toScan.push(o);
      else if (entry) waiting.push(entry);
    }
    if (toScan.length) for (const entry of await Promise.all(toScan.map((o) => this.scanEntry(o.path, o.raw.name, o.stat, o.raw)))) if (entry) waiting.push(entry);
    for (const entry of waiting) {
      const settled = this.settleNow(entry, previous);
      if (settled !== undefined) {
        settledCount += 1;
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
    return settledCount;
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
      // The chunk list is built only if a format asks for it (entryContent; restic reuses the
      // node's ids). A getter per entry cost three objects each (18k in one directory).
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
    handledEntries();
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
