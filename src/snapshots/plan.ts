// Which filesystem snapshots make a set of backup paths one point in time: the btrfs subvolume or
// ZFS dataset holding each path, plus every subvolume and mount below it (a snapshot contains
// neither nested subvolumes nor other mounts; each gets its own snapshot or is read live).
import fs from 'node:fs';
import { BackupError } from '../backup/errors.ts';
import type { FsSnapshotCore } from './fs-snapshot-core.ts';
import type { MountTable } from './mounts.ts';
import { datasetOf, type ZfsCalls, type ZfsDataset } from './zfs.ts';

/** consistency.filesystem_snapshots */
export type SnapshotMode = 'auto' | 'off' | 'required';

export type SnapshotUnit =
  | { kind: 'btrfs'; root: string; subvolumeId: number }
  | { kind: 'zfs'; root: string; dataset: ZfsDataset }
  /** Read as it is (no snapshot), with the reason. */
  | { kind: 'live'; root: string; why: string };

export interface SnapshotPlan {
  /** Outermost first: a unit's root never lies below a later unit's root. */
  units: SnapshotUnit[];
}

export interface SnapshotDeps {
  fs: FsSnapshotCore;
  mounts: MountTable;
  zfs: ZfsCalls;
}

function within(p: string, dir: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

function isDirectory(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** The snapshot unit holding the existing path `p`. */
export function unitAt(p: string, deps: SnapshotDeps): SnapshotUnit {
  let fsName;
  try {
    fsName = deps.fs.filesystemOf(p);
  } catch (err) {
    return { kind: 'live', root: p, why: `cannot tell its filesystem: ${(err as Error).message}` };
  }
  if (fsName === 'btrfs') {
    if (deps.fs.kind !== 'native') return { kind: 'live', root: p, why: 'on btrfs, but snapshots need the native compute core' };
    try {
      const sv = deps.fs.btrfsSubvolume(p);
      if (sv.readOnly) return { kind: 'live', root: p, why: `in the read-only btrfs subvolume ${sv.root}: already a point in time` };
      return { kind: 'btrfs', root: sv.root, subvolumeId: sv.id };
    } catch (err) {
      return { kind: 'live', root: p, why: `btrfs subvolume unknown: ${(err as Error).message}` };
    }
  }
  const mount = deps.mounts.mountOf(p);
  if (fsName === 'zfs') {
    const dataset = datasetOf(mount);
    if (!dataset) return { kind: 'live', root: p, why: 'on ZFS, but its dataset is not in the mount table' };
    if (p.includes('/.zfs/snapshot/')) return { kind: 'live', root: p, why: 'inside a ZFS snapshot: already a point in time' };
    const status = deps.zfs.status();
    if (!status.available) return { kind: 'live', root: p, why: `on ZFS dataset ${dataset.name}, but ${status.message ?? 'ZFS snapshots are not available'}` };
    return { kind: 'zfs', root: dataset.mountPoint, dataset };
  }
  return { kind: 'live', root: p, why: `on ${mount?.fstype ?? 'a filesystem'} (no snapshots)` };
}

/** Plans the snapshots for `targets` (absolute, normalised). */
export function planSnapshots(targets: readonly string[], deps: SnapshotDeps): SnapshotPlan {
  const units = new Map<string, SnapshotUnit>();
  const add = (unit: SnapshotUnit): void => {
    if (!units.has(unit.root)) units.set(unit.root, unit);
  };
  const addNestedSubvolumes = (unit: SnapshotUnit, target: string): void => {
    if (unit.kind !== 'btrfs') return;
    let children: { id: number; path: string }[];
    try {
      children = deps.fs.btrfsChildSubvolumes(unit.root);
    } catch {
      return;
    }
    for (const child of children) {
      if (!within(child.path, target) || units.has(child.path)) continue;
      const nested = unitAt(child.path, deps);
      add(nested);
      addNestedSubvolumes(nested, target);
    }
  };
  for (const target of targets) {
    if (!exists(target)) continue; // the backup reports it as unreadable
    const unit = unitAt(target, deps);
    add(unit);
    if (!isDirectory(target)) continue;
    addNestedSubvolumes(unit, target);
    for (const mount of deps.mounts.mountsBelow(target)) {
      if (units.has(mount.mountPoint) || !isDirectory(mount.mountPoint)) continue;
      const below = unitAt(mount.mountPoint, deps);
      // A mount of a part of a filesystem whose unit root lies above it: read it where it is mounted.
      const placed: SnapshotUnit = within(mount.mountPoint, below.root) && below.root !== mount.mountPoint ? { kind: 'live', root: mount.mountPoint, why: 'a mount of part of a filesystem' } : below;
      add(placed);
      addNestedSubvolumes(placed, target);
    }
  }
  return { units: [...units.values()].sort((a, b) => a.root.split('/').length - b.root.split('/').length || a.root.localeCompare(b.root)) };
}

/** For "required": every unit must be snapshotted. */
export function requireSnapshots(plan: SnapshotPlan): void {
  const live = plan.units.filter((u): u is Extract<SnapshotUnit, { kind: 'live' }> => u.kind === 'live');
  if (!live.length) return;
  throw new BackupError('ToolNotAvailable', `consistency.filesystem_snapshots = "required", but no snapshot can be taken of ${live.map((u) => `${u.root} (${u.why})`).join('; ')}`, {
    hint: 'back up only paths on btrfs or ZFS, or set consistency.filesystem_snapshots = "auto"',
  });
}

/** The units a backup of `paths` reads: the deepest unit holding each path and the units below it. */
export function unitsFor(plan: SnapshotPlan, paths: readonly string[]): SnapshotUnit[] {
  const out = new Set<SnapshotUnit>();
  for (const p of paths) {
    let holder: SnapshotUnit | undefined;
    for (const u of plan.units) {
      if (within(p, u.root) && (!holder || u.root.length > holder.root.length)) holder = u;
      if (u.root !== p && within(u.root, p)) out.add(u);
    }
    if (holder) out.add(holder);
  }
  return [...out];
}

export function describeUnit(unit: SnapshotUnit): string {
  switch (unit.kind) {
    case 'btrfs':
      return `btrfs subvolume ${unit.root} (id ${unit.subvolumeId}): read from a snapshot`;
    case 'zfs':
      return `ZFS dataset ${unit.dataset.name} at ${unit.root}: read from a snapshot`;
    case 'live':
      return `${unit.root}: read live, ${unit.why}`;
  }
}
