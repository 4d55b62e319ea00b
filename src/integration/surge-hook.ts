// `hook before-surge`: what Bolt's `surge up` calls before it changes services. When
// triggers.before_surge_operations is on, the volumes and bind mounts of those services (all of
// the Boltfile's by default) are backed up as "before-surge-up" through runBackup — so the run
// shares the host-wide lock and state file with the daemon — on a manager whose backups are
// consistent (snapshots, service commands) and carry the Bolt tags.
import type { EffectiveConfig } from '../config/load.ts';
import { runBackup, type RunBackupOutcome, type RunLog } from '../backup/run-backup.ts';
import type { ProgressSink } from '../observe/progress.ts';
import { stateDir } from '../scheduler/locations.ts';
import { StateStore } from '../scheduler/state.ts';
import { normaliseTargets } from '../engine/archiver.ts';
import { BoltBackupManager } from './bolt-manager.ts';
import type { ConsistencyLog } from './consistent-backend.ts';
import { readBoltProject } from './boltfile.ts';
import { resolveIncludeSet } from './include-set.ts';

export const SURGE_BACKUP_NAME = 'before-surge-up';

export interface SurgeHookOptions {
  log: ConsistencyLog;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

export type SurgeHookOutcome = { ran: false; reason: string } | { ran: true; paths: string[]; outcome: RunBackupOutcome };

export async function beforeSurge(effective: EffectiveConfig, services: readonly string[], options: SurgeHookOptions): Promise<SurgeHookOutcome> {
  if (effective.config.triggers?.before_surge_operations !== true) return { ran: false, reason: 'triggers.before_surge_operations is not enabled' };
  if (effective.config.enabled === false) return { ran: false, reason: 'backups are disabled (enabled = false)' };
  const env = options.env ?? process.env;
  const all = services.length === 0;
  const names = all ? readBoltProject(effective).services.map((s) => s.name) : [...services];
  const include = resolveIncludeSet(effective, { env, services: names });
  for (const s of include.skipped) options.log.debug(`skipped ${s.path}: ${s.reason}`);
  const paths = normaliseTargets(include.entries.map((e) => e.path));
  const which = all ? 'the services of the Boltfile' : `service${services.length > 1 ? 's' : ''} ${services.join(', ')}`;
  if (paths.length === 0) return { ran: false, reason: `${which} ${all || services.length > 1 ? 'have' : 'has'} no volumes or bind mounts on this host` };

  const log = options.log;
  const manager = new BoltBackupManager(effective, { warn: (m) => log.warn(m), debug: (m) => log.debug(m) }, { log, env, trigger: 'before_surge_operations' });
  const runLog: RunLog = { info: (m) => log.info(m), warn: (m) => log.warn(m) };
  const outcome = await runBackup(
    manager,
    { triggers: ['before_surge_operations'], reason: `bolt surge up (${which})`, scope: { kind: 'paths', paths }, name: SURGE_BACKUP_NAME },
    {
      state: new StateStore(stateDir(env), (m) => log.warn(m)),
      log: runLog,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.progress ? { progress: (op) => (op === 'backup' ? options.progress : undefined) } : {}),
    },
  );
  return { ran: true, paths, outcome };
}
