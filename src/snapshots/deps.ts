// What the snapshot layer needs from the host, loaded once per command: the core's snapshot
// calls, the mount table and the ZFS call boundary.
import { loadFsSnapshotCore } from './fs-snapshot-core.ts';
import { readMountTable } from './mounts.ts';
import type { SnapshotDeps } from './plan.ts';
import { nativeZfsCalls } from './zfs.ts';

export async function loadSnapshotDeps(): Promise<SnapshotDeps> {
  const fs = await loadFsSnapshotCore();
  return { fs, mounts: readMountTable(), zfs: nativeZfsCalls(fs) };
}
