// Takes the snapshots a plan asks for and says where the backup reads each path: a set of
// read-only btrfs snapshots and ZFS snapshots, with the read roots for the archiver and the
// directories to leave out. Temporary snapshots are removed by release() — and, should the process
// exit first (a second Ctrl-C), by an exit handler; a run killed outright leaves them for the next
// run, which removes those of processes that no longer exist.
import fs from 'node:fs';
import path from 'node:path';
import { asBackupError } from '../backup/errors.ts';
import type { ReadRoot } from '../engine/read-roots.ts';
import { snapshotError } from './fs-snapshot-core.ts';
import { describeUnit, type SnapshotDeps, type SnapshotPlan, type SnapshotUnit } from './plan.ts';
import { controlDir, listedSnapshots, snapshotDatasets, snapshotDir, type ZfsDataset } from './zfs.ts';

export interface TakenSnapshot {
  kind: 'btrfs' | 'zfs';
  /** The subvolume root or dataset mount point it is a snapshot of. */
  source: string;
  /** Where its files are read. */
  readPath: string;
  /** btrfs: the snapshot's path; ZFS: "dataset@name". */
  id: string;
}

export interface SnapshotPlacement {
  /** Where the btrfs snapshot of a unit goes. */
  btrfs(unit: Extract<SnapshotUnit, { kind: 'btrfs' }>): { dir: string; name: string };
  zfsName: string;
  /** Temporary snapshots are removed by release(); kept ones stay. */
  temporary: boolean;
  /** Temporary snapshots left by dead processes: the name's first group is the process id. */
  staleName?: RegExp;
}

export interface TakeOptions {
  /** A snapshot that fails: read that unit live (auto) or fail. */
  onFailure: 'read-live' | 'fail';
  note?: (message: string) => void;
}

function within(p: string, dir: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const active = new Set<SnapshotSession>();
let exitHandler = false;

function track(session: SnapshotSession): void {
  active.add(session);
  if (exitHandler) return;
  exitHandler = true;
  process.on('exit', () => {
    for (const s of active) s.release();
  });
}

export class SnapshotSession {
  private released = false;

  private constructor(
    /** The plan as carried out: units whose snapshot failed are read live. */
    readonly plan: SnapshotPlan,
    readonly taken: TakenSnapshot[],
    /** Directories holding snapshots (never backed up). */
    private readonly holders: string[],
    private readonly deps: SnapshotDeps,
    private readonly temporary: boolean,
  ) {}

  /** Takes the snapshots of `plan`. */
  static async take(plan: SnapshotPlan, deps: SnapshotDeps, placement: SnapshotPlacement, options: TakeOptions): Promise<SnapshotSession> {
    const units = [...plan.units];
    const taken: TakenSnapshot[] = [];
    const holders = new Set<string>();
    const session = new SnapshotSession({ units }, taken, [], deps, placement.temporary);
    if (placement.temporary) track(session);
    const failed = (index: number, err: unknown): void => {
      const unit = units[index] as SnapshotUnit;
      const error = snapshotError(err);
      if (options.onFailure === 'fail') throw error;
      units[index] = { kind: 'live', root: unit.root, why: `its snapshot failed: ${error.message}` };
      options.note?.(`${unit.root}: ${describeUnit(units[index])}`);
    };
    try {
      const zfsIndexes = units.flatMap((u, i) => (u.kind === 'zfs' ? [i] : []));
      if (zfsIndexes.length) {
        const datasets = zfsIndexes.map((i) => (units[i] as Extract<SnapshotUnit, { kind: 'zfs' }>).dataset);
        if (placement.staleName) session.removeStaleZfs(datasets, placement.staleName, options.note);
        try {
          const names = await snapshotDatasets(deps.zfs, datasets, placement.zfsName);
          datasets.forEach((d, k) => {
            taken.push({ kind: 'zfs', source: d.mountPoint, readPath: snapshotDir(d, placement.zfsName), id: names[k] as string });
            holders.add(controlDir(d));
          });
        } catch (err) {
          for (const i of zfsIndexes) failed(i, err);
        }
      }
      for (const [i, unit] of units.entries()) {
        if (unit.kind !== 'btrfs') continue;
        const { dir, name } = placement.btrfs(unit);
        try {
          fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
          holders.add(dir);
          if (placement.staleName) session.removeStaleBtrfs(dir, placement.staleName, options.note);
          await deps.fs.btrfsCreateSnapshot(unit.root, dir, name, true);
          taken.push({ kind: 'btrfs', source: unit.root, readPath: path.join(dir, name), id: path.join(dir, name) });
        } catch (err) {
          failed(i, err);
        }
      }
    } catch (err) {
      // All or nothing, kept snapshots included.
      session.released = true;
      active.delete(session);
      removeSnapshots(deps, taken);
      throw err;
    }
    session.holders.push(...holders);
    return session;
  }

  /** Where the archiver reads: each snapshot for its source, and live mounts below a snapshot as they are. */
  get readRoots(): ReadRoot[] {
    const roots: ReadRoot[] = this.taken.map((t) => ({ from: t.source, to: t.readPath }));
    for (const unit of this.plan.units) {
      if (unit.kind === 'live' && this.taken.some((t) => t.source !== unit.root && within(unit.root, t.source))) roots.push({ from: unit.root, to: unit.root });
    }
    return roots;
  }

  /** Directories that hold snapshots: excluded from the backup. */
  get excludePaths(): string[] {
    return [...this.holders];
  }

  /** Removes temporary snapshots (once); returns what could not be removed. */
  release(): string[] {
    if (this.released || !this.temporary) return [];
    this.released = true;
    active.delete(this);
    return removeSnapshots(this.deps, this.taken);
  }

  private removeStaleBtrfs(dir: string, pattern: RegExp, note: ((m: string) => void) | undefined): void {
    for (const entry of this.deps.fs.btrfsListSubvolumes(dir)) {
      const pid = Number(pattern.exec(entry.name)?.[1]);
      if (!pid || processAlive(pid)) continue;
      try {
        this.deps.fs.btrfsDeleteSubvolume(path.join(dir, entry.name));
        note?.(`removed ${path.join(dir, entry.name)}, a temporary snapshot left by an interrupted run (process ${pid})`);
      } catch (err) {
        note?.(`cannot remove ${path.join(dir, entry.name)} left by an interrupted run: ${asBackupError(err).message}`);
      }
    }
  }

  private removeStaleZfs(datasets: ZfsDataset[], pattern: RegExp, note: ((m: string) => void) | undefined): void {
    for (const d of datasets) {
      for (const name of listedSnapshots(d)) {
        const pid = Number(pattern.exec(name)?.[1]);
        if (!pid || processAlive(pid)) continue;
        try {
          this.deps.zfs.destroy([`${d.name}@${name}`]);
          note?.(`removed ${d.name}@${name}, a temporary snapshot left by an interrupted run (process ${pid})`);
        } catch (err) {
          note?.(`cannot remove ${d.name}@${name} left by an interrupted run: ${asBackupError(err).message}`);
        }
      }
    }
  }
}

/** Deletes snapshots, nested ones first; returns what could not be deleted. */
export function removeSnapshots(deps: SnapshotDeps, taken: readonly TakenSnapshot[]): string[] {
  const problems: string[] = [];
  for (const t of [...taken].reverse()) {
    try {
      if (t.kind === 'btrfs') deps.fs.btrfsDeleteSubvolume(t.id);
      else deps.zfs.destroy([t.id]);
    } catch (err) {
      problems.push(`cannot remove the snapshot ${t.id}: ${asBackupError(err).message}`);
    }
  }
  return problems;
}
