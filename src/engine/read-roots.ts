// Where the archiver reads a recorded path from: a backup taken from a filesystem snapshot
// records the original paths but reads below the snapshot. A path below `from` is read at the
// same place below `to`; the deepest `from` wins (a nested subvolume has its own snapshot, a
// mount below a snapshot is read live with from = to).

export interface ReadRoot {
  from: string;
  to: string;
}

/**
 * Each read root's device as read (its source's) → the device of the recorded path. A btrfs or
 * ZFS snapshot has a device number of its own, a new one per snapshot: recorded as read, every
 * node's device_id would change from run to run, so every tree would be stored again and no
 * directory could be settled by its previous tree (restic issue 3041). Recorded as the live
 * path's device, a backup read from a snapshot records what a backup of the live path would.
 * A root whose paths cannot be read, or a device that two roots (also one read where it lives)
 * would record differently, is left as read.
 */
export function readRootDevices(roots: readonly ReadRoot[], lstat: (p: string) => { dev: number }): Map<number, number> {
  const seen = new Map<number, number>();
  const ambiguous = new Set<number>();
  for (const { from, to } of roots) {
    let read: number;
    let live: number;
    try {
      read = deviceInside(to, lstat);
      live = deviceInside(from, lstat);
    } catch {
      continue;
    }
    if (seen.has(read) && seen.get(read) !== live) ambiguous.add(read);
    seen.set(read, live);
  }
  const out = new Map<number, number>();
  for (const [read, live] of seen) if (read !== live && !ambiguous.has(read)) out.set(read, live);
  return out;
}

/**
 * The device of what is inside the directory `p`: lstat of `p/.` goes through `p`, so an
 * automount there (a ZFS `.zfs/snapshot/<name>` nothing has entered yet) is mounted first, as
 * the walk's listing of it will; lstat of `p` itself would report the mount point's device.
 */
function deviceInside(p: string, lstat: (p: string) => { dev: number }): number {
  try {
    return lstat(p.endsWith('/') ? `${p}.` : `${p}/.`).dev;
  } catch {
    return lstat(p).dev; // not a directory
  }
}

function trimmed(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

export class ReadRootMap {
  private readonly roots: { from: Buffer; to: Buffer }[];
  private readonly exact: Set<string>;

  constructor(roots: readonly ReadRoot[] = []) {
    this.roots = roots
      .map((r) => ({ from: Buffer.from(trimmed(r.from)), to: Buffer.from(trimmed(r.to)) }))
      .sort((a, b) => b.from.length - a.from.length);
    this.exact = new Set(this.roots.map((r) => r.from.toString('latin1')));
    this.parents = new Set(this.roots.filter((r) => r.from.length > 1).map((r) => r.from.subarray(0, Math.max(1, r.from.lastIndexOf(0x2f))).toString('latin1')));
  }

  /** Directories with a root among their entries. */
  private readonly parents: Set<string>;

  /** Whether a root is an entry of the directory `p` (its listing shows a placeholder there). */
  holdsRoot(p: Buffer): boolean {
    return this.parents.size > 0 && this.parents.has(p.toString('latin1'));
  }

  get empty(): boolean {
    return this.roots.length === 0;
  }

  /** The path to read for the recorded path `p`. */
  map(p: Buffer): Buffer {
    for (const { from, to } of this.roots) {
      if (from.length === 1) return p.length === 1 ? to : to.length === 1 ? p : Buffer.concat([to, p]);
      if (p.length < from.length || p.compare(from, 0, from.length, 0, from.length) !== 0) continue;
      if (p.length === from.length) return to;
      if (p[from.length] === 0x2f) return Buffer.concat([to, p.subarray(from.length)]);
    }
    return p;
  }

  /**
   * Whether `p` is itself a root. Its directory entry in the parent's source (e.g. the empty
   * placeholder a btrfs snapshot shows for a nested subvolume) is not the real one.
   */
  isRoot(p: Buffer): boolean {
    return this.exact.size > 0 && this.exact.has(p.toString('latin1'));
  }
}
