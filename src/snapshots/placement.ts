// Where snapshots go and what they are called. Temporary ones (a consistent `backup create`) live
// in `.bolt-agent-snapshots/` at the top of the btrfs mount and carry the process id, so a later
// run can tell the leftovers of a killed run from those of a running one. Kept ones (snapshot-backup,
// safety snapshots) go together into one directory, one per source, named after the source path.
import path from 'node:path';
import type { MountTable } from './mounts.ts';
import type { SnapshotPlacement } from './session.ts';

export const TEMPORARY_DIR = '.bolt-agent-snapshots';

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export function temporaryPlacement(mounts: MountTable, now = new Date()): SnapshotPlacement {
  const tag = `${process.pid}-${stamp(now)}`;
  let n = 0;
  return {
    btrfs: (unit) => ({ dir: path.join(mounts.mountOf(unit.root)?.mountPoint ?? unit.root, TEMPORARY_DIR), name: `tmp-${tag}-${++n}` }),
    zfsName: `bolt-agent-tmp-${tag}`,
    temporary: true,
    staleName: /^(?:bolt-agent-)?tmp-(\d+)-/,
  };
}

/** A readable name for the snapshot of the subvolume at `root`. */
export function sourceLabel(root: string): string {
  const parts = root.split('/').filter(Boolean);
  return parts.length ? parts.join('-').replace(/[^A-Za-z0-9_.@+-]/g, '_') : 'root';
}

/** Kept snapshots of one set: btrfs ones as `dir/<label of the source>`, ZFS ones as `<dataset>@name`. */
export function keptPlacement(dir: string, name: string): SnapshotPlacement {
  const used = new Map<string, number>();
  return {
    btrfs: (unit) => {
      const label = sourceLabel(unit.root);
      const count = (used.get(label) ?? 0) + 1;
      used.set(label, count);
      return { dir, name: count === 1 ? label : `${label}-${count}` };
    },
    zfsName: name,
    temporary: false,
  };
}

/** Whether `a` and `b` are on one btrfs filesystem (where a snapshot of one can be placed in the other). */
export function sameBtrfs(mounts: MountTable, a: string, b: string): boolean {
  const ma = mounts.mountOf(a);
  const mb = mounts.mountOf(b);
  return ma?.fstype === 'btrfs' && mb?.fstype === 'btrfs' && ma.source === mb.source;
}
