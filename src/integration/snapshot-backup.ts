// `snapshot-backup create`: a named snapshot kept in Bolt's snapshot_path plus a backup read from
// it, linked both ways: the backup carries bolt.snapshot=<name> (and the name), and the snapshot
// set's bolt-agent.json names the backup. Layout: <snapshot_path>/<name>/ holds one read-only btrfs
// snapshot per subvolume (named after its path), a symlink per ZFS dataset to
// <mount>/.zfs/snapshot/<name>, and bolt-agent.json. All or nothing: if the backup fails, the
// snapshots go too.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BackupManager } from '../backup/manager.ts';
import type { CreateResult } from '../backup/types.ts';
import { BackupError, InvalidConfigError } from '../backup/errors.ts';
import { normaliseTargets } from '../engine/archiver.ts';
import type { ProgressSink } from '../observe/progress.ts';
import { snapshotPath } from '../scheduler/locations.ts';
import { loadSnapshotDeps } from '../snapshots/deps.ts';
import { keptPlacement, sameBtrfs, sourceLabel } from '../snapshots/placement.ts';
import type { SnapshotDeps } from '../snapshots/plan.ts';
import { removeSnapshots, type SnapshotPlacement, type TakenSnapshot } from '../snapshots/session.ts';
import { checkSnapshotName } from '../snapshots/zfs.ts';
import { ConsistentBackend, type ConsistencyLog } from './consistent-backend.ts';
import { resolveIncludeSet } from './include-set.ts';

export { SNAPSHOT_METADATA } from '../snapshots/metadata-file.ts';
import { SNAPSHOT_METADATA } from '../snapshots/metadata-file.ts';

export interface SnapshotSetMetadata {
  kind: 'snapshot-backup' | 'safety';
  name: string;
  description: string | null;
  created_at: string;
  host: string;
  snapshots: { kind: 'btrfs' | 'zfs'; source: string; path: string; id: string }[];
  paths: string[];
  backup: { id: string; short_id: string; repository: string; tool: string } | null;
  /** Safety snapshots: the restore they protect against. */
  restore?: { backup_id: string; target: string | null };
}

export function writeMetadata(dir: string, metadata: SnapshotSetMetadata): string {
  const file = path.join(dir, SNAPSHOT_METADATA);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(metadata, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
  return file;
}

export function snapshotEntries(taken: readonly TakenSnapshot[]): SnapshotSetMetadata['snapshots'] {
  return taken.map((t) => ({ kind: t.kind, source: t.source, path: t.readPath, id: t.id }));
}

export function timestampName(prefix: string, now: Date): string {
  return `${prefix}-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

export interface SnapshotBackupOptions {
  name?: string;
  description?: string;
  log: ConsistencyLog;
  env?: NodeJS.ProcessEnv;
  deps?: SnapshotDeps;
  progress?: ProgressSink;
  signal?: AbortSignal;
  now?: Date;
}

export interface SnapshotBackupResult {
  name: string;
  description: string | null;
  directory: string;
  metadata_file: string;
  snapshots: SnapshotSetMetadata['snapshots'];
  /** Paths read live (not on btrfs/ZFS), and why. */
  live: { root: string; why: string }[];
  backup: CreateResult['backup'];
  summary: CreateResult['summary'];
  problems: CreateResult['problems'];
  skipped: CreateResult['skipped'];
}

export async function createSnapshotBackup(manager: BackupManager, options: SnapshotBackupOptions): Promise<SnapshotBackupResult> {
  const effective = manager.effective;
  const env = options.env ?? process.env;
  const now = options.now ?? new Date();
  const include = resolveIncludeSet(effective, { env });
  for (const s of include.skipped) options.log.info(`skipped ${s.path}: ${s.reason}`);
  const paths = normaliseTargets(include.entries.map((e) => e.path));
  if (paths.length === 0) throw new BackupError('Usage', 'nothing to back up', { hint: 'set include.* in [backups]' });
  const name = options.name ?? timestampName('bolt-agent', now);
  checkSnapshotName(name);
  const base = snapshotPath(effective, env);
  const dir = path.join(base, name);
  if (fs.existsSync(dir)) throw new BackupError('Usage', `a snapshot named ${name} already exists in ${base}`, { hint: 'choose another --name' });
  fs.mkdirSync(base, { recursive: true });
  const deps = options.deps ?? (await loadSnapshotDeps());

  const kept = keptPlacement(dir, name);
  const placement: SnapshotPlacement = {
    ...kept,
    btrfs: (unit) => {
      if (!sameBtrfs(deps.mounts, base, unit.root)) {
        throw new InvalidConfigError(`snapshot_path ${base} is not on the btrfs filesystem of ${unit.root}, and a btrfs snapshot stays on its filesystem`, {
          hint: 'set [snapshots] snapshot_path in the Boltfile (or BOLT_AGENT_SNAPSHOT_PATH) to a directory on that filesystem',
        });
      }
      return kept.btrfs(unit);
    },
  };

  let taken: TakenSnapshot[] = [];
  const metadata: SnapshotSetMetadata = {
    kind: 'snapshot-backup',
    name,
    description: options.description ?? null,
    created_at: now.toISOString(),
    host: os.hostname(),
    snapshots: [],
    paths,
    backup: null,
  };
  let metadataFile = '';
  const backend = new ConsistentBackend(await manager.open(), {
    effective,
    log: options.log,
    env,
    deps,
    placement,
    onSnapshots: (t) => {
      if (t.length === 0) {
        throw new BackupError('ToolNotAvailable', `none of the backup's paths is on btrfs or ZFS (with snapshots available), so there is nothing to snapshot`, {
          hint: 'see `bolt-agent backup create --dry-run` for how each path would be read',
        });
      }
      taken = [...t];
      fs.mkdirSync(dir, { recursive: true });
      for (const s of t) if (s.kind === 'zfs') fs.symlinkSync(s.readPath, path.join(dir, sourceLabel(s.source)));
      metadata.snapshots = snapshotEntries(t);
      metadataFile = writeMetadata(dir, metadata);
    },
  });
  let result: CreateResult;
  try {
    result = await backend.createBackup({
      paths,
      name,
      tags: [`bolt.snapshot=${name}`],
      exclude: manager.excludeRules(),
      ...(options.progress ? { progress: options.progress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    for (const problem of removeSnapshots(deps, taken)) options.log.warn(problem);
    for (const s of taken) if (s.kind === 'zfs') fs.rmSync(path.join(dir, sourceLabel(s.source)), { force: true });
    if (metadataFile) fs.rmSync(metadataFile, { force: true });
    try {
      fs.rmdirSync(dir);
    } catch {
      // not created, or something is left in it (reported above)
    }
    throw err;
  } finally {
    await backend.close();
  }
  metadata.backup = { id: result.backup.id, short_id: result.backup.short_id, repository: manager.repository(), tool: backend.tool };
  writeMetadata(dir, metadata);
  return {
    name,
    description: metadata.description,
    directory: dir,
    metadata_file: metadataFile,
    snapshots: metadata.snapshots,
    live: backend.lastReport?.live ?? [],
    backup: result.backup,
    summary: result.summary,
    problems: result.problems,
    skipped: result.skipped,
  };
}
