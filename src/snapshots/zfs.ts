// ZFS snapshots. Every call that reaches ZFS goes through `ZfsCalls` (libzfs_core's
// lzc_snapshot and lzc_destroy_snaps in the native core); everything else here — which dataset
// holds a path, snapshot names, where a snapshot's files appear — is plain logic over the mount
// table, so it is tested with a recording ZfsCalls on hosts without ZFS.
import fs from 'node:fs';
import path from 'node:path';
import { BackupError } from '../backup/errors.ts';
import type { FsSnapshotCore } from './fs-snapshot-core.ts';
import { snapshotError } from './fs-snapshot-core.ts';
import type { Mount } from './mounts.ts';

/** The one boundary to libzfs_core. */
export interface ZfsCalls {
  /** Whether snapshots can be made, and why not. */
  status(): { available: boolean; message?: string };
  /** Creates "pool/dataset@name" snapshots; those of one pool atomically. */
  snapshot(names: string[]): Promise<void>;
  /** Destroys snapshots (synchronously, so an exit handler can call it). */
  destroy(names: string[]): void;
}

export function nativeZfsCalls(core: FsSnapshotCore): ZfsCalls {
  return {
    status: () => core.zfsStatus(),
    snapshot: async (names) => {
      try {
        await core.zfsSnapshot(names);
      } catch (err) {
        throw snapshotError(err);
      }
    },
    destroy: (names) => {
      try {
        core.zfsDestroySnapshots(names, false);
      } catch (err) {
        throw snapshotError(err);
      }
    },
  };
}

export interface ZfsDataset {
  name: string;
  mountPoint: string;
}

/** The dataset mounted at `mount`, when it is a ZFS mount. */
export function datasetOf(mount: Mount | undefined): ZfsDataset | undefined {
  if (!mount || mount.fstype !== 'zfs' || mount.source.includes('@')) return undefined;
  return { name: mount.source, mountPoint: mount.mountPoint };
}

/** Where ZFS shows a snapshot's files (also when snapdir=hidden, which only hides `.zfs` from listings). */
export function snapshotDir(dataset: ZfsDataset, snapshot: string): string {
  return path.join(dataset.mountPoint, '.zfs', 'snapshot', snapshot);
}

/** The control directory of a dataset, never backed up (with snapdir=visible it lists every snapshot). */
export function controlDir(dataset: ZfsDataset): string {
  return path.join(dataset.mountPoint, '.zfs');
}

export function poolOf(dataset: string): string {
  return dataset.split('/')[0] ?? dataset;
}

const SNAPSHOT_NAME = /^[A-Za-z0-9_.:-]+$/;

export function checkSnapshotName(name: string): void {
  if (!SNAPSHOT_NAME.test(name) || name.length > 200) {
    throw new BackupError('Usage', `"${name}" cannot name a ZFS snapshot: use letters, digits and _ . : -`);
  }
}

/** Snapshots `datasets` as <dataset>@<name>: one atomic call per pool. */
export async function snapshotDatasets(calls: ZfsCalls, datasets: readonly ZfsDataset[], name: string): Promise<string[]> {
  checkSnapshotName(name);
  const byPool = new Map<string, string[]>();
  for (const d of datasets) {
    const list = byPool.get(poolOf(d.name)) ?? [];
    list.push(`${d.name}@${name}`);
    byPool.set(poolOf(d.name), list);
  }
  const made: string[] = [];
  try {
    for (const names of byPool.values()) {
      await calls.snapshot(names);
      made.push(...names);
    }
  } catch (err) {
    if (made.length) calls.destroy(made);
    throw err;
  }
  return made;
}

/** Names of snapshots of a dataset as its `.zfs/snapshot` directory lists them. */
export function listedSnapshots(dataset: ZfsDataset): string[] {
  try {
    return fs.readdirSync(path.join(controlDir(dataset), 'snapshot')).sort();
  } catch {
    return [];
  }
}
