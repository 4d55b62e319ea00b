// How much a backup will read, for the progress bar's totals and ETA: a stat-only walk of the
// same targets with the same excludes, run beside the backup (restic's scanner does the same).
// It only informs the display: a directory it cannot list is skipped silently (the backup
// itself reports it), and a tree that changes while it runs just moves the estimate.
import type { Core } from '../native/types.ts';
import type { ExcludeMatcher } from './exclude.ts';
import { ReadRootMap, type ReadRoot } from './read-roots.ts';
import { joinRawPath } from '../util/raw-path.ts';

export interface ScanTotals {
  /** Regular files, each hard link counted (as the archiver counts them). */
  files: number;
  /** Their sizes, a hard-linked inode once. */
  bytes: number;
}

export interface ScanOptions {
  targets: readonly string[];
  exclude: ExcludeMatcher;
  readRoots?: readonly ReadRoot[];
  signal?: AbortSignal;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
/** Directories listed per crossing into the core. */
const BATCH = 128;

/** Targets that are not below another target (the walk of the outer one covers them). */
function outermost(targets: readonly string[]): string[] {
  const sorted = [...new Set(targets)].sort();
  const kept: string[] = [];
  for (const t of sorted) {
    if (!kept.some((k) => k === '/' || t.startsWith(`${k}/`))) kept.push(t);
  }
  return kept;
}

export async function scanTotals(core: Core, options: ScanOptions): Promise<ScanTotals> {
  const roots = new ReadRootMap(options.readRoots);
  const source = (p: string): Buffer => (roots.empty ? Buffer.from(p) : roots.map(Buffer.from(p)));
  const totals: ScanTotals = { files: 0, bytes: 0 };
  const linked = new Set<string>();
  const count = (size: number, nlink: number, dev: number, ino: number): void => {
    totals.files += 1;
    if (nlink > 1) {
      const key = `${dev}:${ino}`;
      if (linked.has(key)) return;
      linked.add(key);
    }
    totals.bytes += size;
  };

  // Depth first, in batches from the top of the stack: memory stays at the open directories'
  // siblings, not at a whole level of a wide tree.
  const stack: Buffer[] = [];
  for (const target of outermost(options.targets)) {
    if (!options.exclude.empty && options.exclude.excludes(target)) continue;
    let stat;
    try {
      stat = core.lstat(source(target));
    } catch {
      continue;
    }
    if ((stat.mode & S_IFMT) === S_IFDIR) stack.push(Buffer.from(target));
    else if ((stat.mode & S_IFMT) === S_IFREG) count(stat.size, stat.nlink, stat.dev, stat.ino);
  }

  while (stack.length) {
    if (options.signal?.aborted) break;
    const batch = stack.splice(Math.max(0, stack.length - BATCH));
    const listings = await core.readDirs(batch.map((p) => (roots.empty ? p : roots.map(p))), { xattrs: false, linkTargets: false });
    for (const [i, listing] of listings.entries()) {
      const dir = batch[i] as Buffer;
      for (const entry of listing.entries) {
        const stat = entry.stat;
        if (!stat) continue;
        const type = stat.mode & S_IFMT;
        if (type !== S_IFDIR && type !== S_IFREG) continue;
        const child = joinRawPath(dir, entry.name);
        if (!options.exclude.empty && options.exclude.excludes(child.toString('utf8'))) continue;
        if (type === S_IFDIR) stack.push(child);
        else count(stat.size, stat.nlink, stat.dev, stat.ino);
      }
    }
  }
  return totals;
}
