// The mount table (/proc/self/mountinfo): which mount holds a path (the ZFS dataset of a path is
// its mount's source), and which mounts lie below a path (a snapshot does not contain them, so
// they are read separately).
import fs from 'node:fs';

export interface Mount {
  mountPoint: string;
  fstype: string;
  /** The mounted thing: a device, or for ZFS the dataset ("tank/data"). */
  source: string;
  /** The directory of the filesystem that is mounted here ("/" or a subvolume path for btrfs). */
  root: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function within(p: string, dir: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

export class MountTable {
  constructor(readonly mounts: readonly Mount[]) {}

  static parse(text: string): MountTable {
    const mounts: Mount[] = [];
    for (const line of text.split('\n')) {
      const fields = line.split(' ');
      const dash = fields.indexOf('-');
      if (dash < 6 || fields.length < dash + 3) continue;
      mounts.push({ root: unescape(fields[3] ?? ''), mountPoint: unescape(fields[4] ?? ''), fstype: fields[dash + 1] ?? '', source: unescape(fields[dash + 2] ?? '') });
    }
    return new MountTable(mounts);
  }

  /** The mount a path is on (the last one mounted at the deepest mount point above it). */
  mountOf(p: string): Mount | undefined {
    let best: Mount | undefined;
    for (const m of this.mounts) {
      if (!within(p, m.mountPoint)) continue;
      if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
    }
    return best;
  }

  /** Mounts strictly below `dir` that are visible (not hidden by a later mount at the same place). */
  mountsBelow(dir: string): Mount[] {
    const byPoint = new Map<string, Mount>();
    for (const m of this.mounts) if (m.mountPoint !== dir && within(m.mountPoint, dir)) byPoint.set(m.mountPoint, m);
    return [...byPoint.values()].sort((a, b) => a.mountPoint.localeCompare(b.mountPoint));
  }
}

/** The current process's mount table; an empty one where /proc is not available. */
export function readMountTable(file = '/proc/self/mountinfo'): MountTable {
  try {
    return MountTable.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return new MountTable([]);
  }
}
