// `snapshot-backup emergency-restore`: before the restore touches anything on btrfs or ZFS, a
// read-only safety snapshot of the current state of every subvolume/dataset it writes into; then
// the restore; then every restored file is read back and checked against the backup's chunk
// hashes; last, how to roll back to the safety snapshots. A safety snapshot that cannot be taken
// stops the restore before anything is written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BackupManager } from '../backup/manager.ts';
import type { FileProblem, RestoreResult } from '../backup/types.ts';
import type { ProgressSink } from '../observe/progress.ts';
import { snapshotPath } from '../scheduler/locations.ts';
import { loadSnapshotDeps } from '../snapshots/deps.ts';
import type { MountTable } from '../snapshots/mounts.ts';
import { sameBtrfs, sourceLabel, TEMPORARY_DIR } from '../snapshots/placement.ts';
import { planSnapshots, unitAt, type SnapshotDeps, type SnapshotUnit } from '../snapshots/plan.ts';
import { SnapshotSession, type SnapshotPlacement, type TakenSnapshot } from '../snapshots/session.ts';
import type { ConsistencyLog } from './consistent-backend.ts';
import { snapshotEntries, timestampName, writeMetadata, type SnapshotSetMetadata } from './snapshot-backup.ts';

export interface EmergencyRestoreOptions {
  target?: string;
  log: ConsistencyLog;
  env?: NodeJS.ProcessEnv;
  deps?: SnapshotDeps;
  progress?: ProgressSink;
  signal?: AbortSignal;
  now?: Date;
}

export interface EmergencyRestoreResult {
  backup_id: string;
  target: string | null;
  safety: {
    snapshots: SnapshotSetMetadata['snapshots'];
    /** Where the restore writes without a safety snapshot, and why. */
    unprotected: { root: string; why: string }[];
  };
  restore: RestoreResult;
  verification: { ok: boolean; files_restored: number; files_checked: number; problems: FileProblem[] };
  /** Shell commands, with comments, that bring the state before the restore back. */
  rollback: string[];
}

function within(p: string, dir: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

function nearestExisting(p: string): string {
  let current = p;
  while (!fs.existsSync(current) && current !== path.dirname(current)) current = path.dirname(current);
  return current;
}

/** The units a restore into `destinations` writes to: those holding them, and those below existing ones. */
function unitsWritten(destinations: readonly string[], deps: SnapshotDeps): SnapshotUnit[] {
  const units = new Map<string, SnapshotUnit>();
  for (const d of destinations) {
    const found = fs.existsSync(d) ? planSnapshots([d], deps).units : [unitAt(nearestExisting(d), deps)];
    for (const u of found) if (!units.has(u.root)) units.set(u.root, u);
  }
  return [...units.values()].sort((a, b) => a.root.length - b.root.length);
}

function quote(p: string): string {
  return /^[A-Za-z0-9_./@:+-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

/**
 * Shell lines that put each restored path back as the safety snapshots hold it: a subvolume that
 * is itself a restored path is swapped for a writable copy of its snapshot (instant, exact); any
 * other path is replaced by a copy (reflinked on btrfs) — subvolumes and mounts below it are left
 * to their own lines; a ZFS dataset is rolled back. Computed before the restore writes anything.
 */
export function rollbackInstructions(destinations: readonly string[], taken: readonly TakenSnapshot[], mounts: MountTable, stamp: string): string[] {
  const lines: string[] = [];
  const deepest = [...taken].sort((a, b) => b.source.length - a.source.length);
  const holderOf = (p: string): TakenSnapshot | undefined => deepest.find((t) => within(p, t.source));
  const swapped: TakenSnapshot[] = [];
  const swap = (t: TakenSnapshot): void => {
    const next = quote(`${t.source}.rollback-${stamp}`);
    const aside = quote(`${t.source}.after-restore-${stamp}`);
    lines.push(
      `btrfs subvolume snapshot ${quote(t.readPath)} ${next}`,
      `mv ${quote(t.source)} ${aside} && mv ${next} ${quote(t.source)}`,
      `# once all is well: btrfs subvolume delete ${aside} (and the subvolumes inside it)`,
    );
    swapped.push(t);
  };
  const roots = [...new Set(destinations)].sort((a, b) => a.length - b.length);
  for (const t of taken) if (!roots.includes(t.source) && roots.some((d) => t.source !== d && within(t.source, d))) roots.push(t.source);
  for (const d of roots) {
    const t = holderOf(d);
    if (!t) {
      lines.push(`# ${d}: no safety snapshot, so no way back`);
      continue;
    }
    const rel = path.relative(t.source, d);
    const before = rel ? path.join(t.readPath, rel) : t.readPath;
    let kind: 'dir' | 'other' | 'missing';
    try {
      kind = fs.lstatSync(before).isDirectory() ? 'dir' : 'other';
    } catch {
      kind = 'missing';
    }
    lines.push(`# ${d}: before the restore it was ${kind === 'missing' ? 'not there' : before}`);
    if (kind === 'missing') {
      lines.push(`rm -rf --one-file-system ${quote(d)}`);
    } else if (!rel && t.kind === 'zfs') {
      lines.push(`zfs rollback -r ${quote(t.id)}   # also destroys the snapshots of ${t.id.split('@')[0]} taken after it`);
    } else if (!rel && mounts.mountOf(d)?.mountPoint !== d) {
      const outer = swapped.find((o) => within(d, o.source));
      if (outer) lines.push(`# the roll-back of ${outer.source} left an empty placeholder here`, `rmdir ${quote(d)} && btrfs subvolume snapshot ${quote(t.readPath)} ${quote(d)}`);
      else swap(t);
    } else if (kind === 'dir') {
      lines.push(`rm -rf --one-file-system ${quote(d)}; mkdir -p ${quote(d)} && cp -a --reflink=auto ${quote(before)}/. ${quote(d)}/`);
    } else {
      lines.push(`rm -f ${quote(d)} && cp -a --reflink=auto ${quote(before)} ${quote(d)}`);
    }
  }
  return lines;
}

/** `name`, or `name-2`, `name-3`… : the first that no snapshot set in `homes` uses yet. */
export function freeSetName(name: string, homes: string[], exists: (p: string) => boolean): string {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? name : `${name}-${n}`;
    if (!homes.some((home) => exists(path.join(home, candidate)))) return candidate;
  }
}

export async function emergencyRestore(manager: BackupManager, reference: string, options: EmergencyRestoreOptions): Promise<EmergencyRestoreResult> {
  const env = options.env ?? process.env;
  const now = options.now ?? new Date();
  const log = options.log;
  const deps = options.deps ?? (await loadSnapshotDeps());
  const backend = await manager.open();
  try {
    const backup = await backend.findBackup(reference);
    const target = options.target ? path.resolve(options.target) : null;
    const destinations = target ? [target] : backup.paths;
    const units = unitsWritten(destinations, deps);
    const unprotected = units.flatMap((u) => (u.kind === 'live' ? [{ root: u.root, why: u.why }] : []));
    for (const u of unprotected) log.warn(`no safety snapshot of ${u.root}: ${u.why}; the restore overwrites it without one`);

    const base = snapshotPath(manager.effective, env);
    const homeOf = (root: string): string => (sameBtrfs(deps.mounts, base, root) ? base : path.join(deps.mounts.mountOf(root)?.mountPoint ?? root, TEMPORARY_DIR));
    const homes = units.flatMap((u) => (u.kind === 'btrfs' ? [homeOf(u.root)] : []));
    // Two restores within one second (a retry) must not collide on the set's name.
    const name = freeSetName(timestampName('safety', now), homes, fs.existsSync);
    const placement: SnapshotPlacement = {
      btrfs: (unit) => ({ dir: path.join(homeOf(unit.root), name), name: sourceLabel(unit.root) }),
      zfsName: `bolt-agent-${name}`,
      temporary: false,
    };
    const session = await SnapshotSession.take({ units }, deps, placement, { onFailure: 'fail', note: (m) => log.warn(m) });
    const taken = session.taken;
    const metadata: SnapshotSetMetadata = {
      kind: 'safety',
      name,
      description: `state before restoring backup ${backup.short_id}`,
      created_at: now.toISOString(),
      host: os.hostname(),
      snapshots: snapshotEntries(taken),
      paths: destinations,
      backup: null,
      restore: { backup_id: backup.id, target },
    };
    for (const dir of new Set(taken.filter((t) => t.kind === 'btrfs').map((t) => path.dirname(t.readPath)))) writeMetadata(dir, metadata);
    for (const t of taken) log.info(`safety snapshot of ${t.source}: ${t.id}`);
    const rollback = rollbackInstructions(destinations, taken, deps.mounts, name.slice('safety-'.length));

    let restore: RestoreResult;
    try {
      restore = await backend.restoreBackup(reference, {
        target,
        recheck: true,
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (taken.length) log.warn(`the restore did not finish; to go back to the state before it:\n${rollback.join('\n')}`);
      throw err;
    }
    const checked = restore.files_rechecked ?? 0;
    return {
      backup_id: backup.id,
      target,
      safety: { snapshots: metadata.snapshots, unprotected },
      restore,
      // Every file the restore wrote was read back: it is either counted as checked or a problem.
      verification: { ok: restore.files_rechecked !== undefined && restore.problems.length === 0, files_restored: restore.files_restored, files_checked: checked, problems: restore.problems },
      rollback,
    };
  } finally {
    await backend.close();
  }
}

