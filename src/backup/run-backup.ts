// One configured backup, the way unattended operation runs it: take the host-wide run lock
// (waiting for a run of another process to finish), create, apply retention (forget --apply)
// when a policy is set, copy to the secondary storage, and record what happened in the state
// file. The daemon, `hook before-surge` and anything else that backs up on its own share it, so
// they never run two backups on one host at once and all report into the same state.
import crypto from 'node:crypto';
import path from 'node:path';
import type { BackupBackend } from './backend.ts';
import type { BackupManager } from './manager.ts';
import type { CreateResult, ForgetResult } from './types.ts';
import { asBackupError, BackupError } from './errors.ts';
import { normaliseTargets } from '../engine/archiver.ts';
import type { ProgressSink } from '../observe/progress.ts';
import { replicate, secondaryLag, type ReplicationResult } from '../storage/replicate.ts';
import type { Storage } from '../storage/storage.ts';
import { describeHolder, FileLock } from '../scheduler/file-lock.ts';
import { recordRun, type DaemonState, type RunRecord, type RunResult, type RunStage, type StateStore } from '../scheduler/state.ts';
import { triggerTag, type RunOrigin, type RunScope } from '../scheduler/triggers.ts';
import { RUN_LOCK_FILE } from '../scheduler/locations.ts';

export interface RunBackupRequest {
  /** The triggers this run serves (several when coalesced). */
  triggers: RunOrigin[];
  reason: string;
  scope: RunScope;
  /** Scheduled occurrences served, per schedule trigger (catch-up bookkeeping). */
  occurrences?: Partial<Record<RunOrigin, string>>;
  tags?: string[];
  name?: string;
}

export interface RunLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface RunBackupOptions {
  state: StateStore;
  signal?: AbortSignal;
  /** Progress of each long step: operation "backup", "prune" (retention) and "copy" (secondary). */
  progress?: (operation: 'backup' | 'prune' | 'copy') => ProgressSink | undefined;
  log?: RunLog;
}

export interface RunBackupOutcome {
  record: RunRecord;
  create?: CreateResult;
  forget?: ForgetResult;
  replication?: ReplicationResult;
  /** Set unless the result is "success" or "partial". */
  error?: BackupError;
}

const quietLog: RunLog = { info() {}, warn() {} };

/**
 * Repository statistics read every tree of every backup: after frequent change-triggered runs
 * they are measured at most this often (`backup metrics --refresh` measures them at once).
 */
const STATS_EVERY_MS = 60 * 60_000;

function interruptedBy(signal: AbortSignal | undefined, err: BackupError): boolean {
  return err.kind === 'Interrupted' || signal?.aborted === true;
}

export async function runBackup(manager: BackupManager, request: RunBackupRequest, options: RunBackupOptions): Promise<RunBackupOutcome> {
  const { signal, state } = options;
  const log = options.log ?? quietLog;
  const startedMs = Date.now();
  const record: RunRecord = {
    id: crypto.randomBytes(6).toString('hex'),
    triggers: request.triggers,
    reason: request.reason,
    started_at: new Date(startedMs).toISOString(),
    ended_at: '',
    duration_ms: 0,
    result: 'failed',
    paths: [],
    backup_id: null,
    stages: {},
  };
  const outcome: RunBackupOutcome = { record };
  let stage: RunStage = 'lock';
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      record.stages[name] = Date.now() - t0;
    }
  };
  const fail = (err: unknown, at: RunStage): void => {
    const error = asBackupError(err);
    const result: RunResult = interruptedBy(signal, error) ? 'interrupted' : 'failed';
    if (!outcome.error) {
      outcome.error = error;
      record.error = { stage: at, kind: error.kind, message: error.message };
      record.result = result;
    }
  };
  const stopping = (next: RunStage): boolean => {
    if (!signal?.aborted) return false;
    fail(new BackupError('Interrupted', `shutting down before ${next}`), next);
    return true;
  };

  let lock: FileLock | undefined;
  let backend: BackupBackend | undefined;
  const repositoryUpdate: Partial<Pick<DaemonState, 'repository' | 'secondary'>> = {};
  try {
    lock = await timed('lock_wait', () =>
      FileLock.acquire(path.join(state.dir, RUN_LOCK_FILE), `backup (${request.triggers.join(', ')})`, {
        wait: true,
        ...(signal ? { signal } : {}),
        onWait: (holder) => log.info(`waiting for the backup already running (${describeHolder(holder)})`, { holder_pid: holder.pid }),
      }),
    );
    stage = 'open';
    backend = await manager.open();
    stage = 'create';
    const paths = normaliseTargets(request.scope.kind === 'configured' ? manager.includePaths() : request.scope.paths);
    record.paths = paths;
    if (paths.length === 0) {
      throw new BackupError('Usage', 'nothing to back up', { hint: 'set include.custom_paths / include.system_config in [backups]' });
    }
    const open = backend;
    const createProgress = options.progress?.('backup');
    const create = await timed('create', () =>
      open.createBackup({
        paths,
        tags: [...request.triggers.map(triggerTag), ...(request.tags ?? [])],
        ...(request.name ? { name: request.name } : {}),
        exclude: manager.excludeRules(),
        ...(createProgress ? { progress: createProgress } : {}),
        ...(signal ? { signal } : {}),
      }),
    );
    outcome.create = create;
    record.backup_id = create.backup.id;
    record.stats = {
      files_new: create.summary.files_new,
      files_changed: create.summary.files_changed,
      files_unmodified: create.summary.files_unmodified,
      bytes_processed: create.summary.total_bytes_processed,
      bytes_added: create.summary.data_added,
      bytes_added_packed: create.summary.data_added_packed,
      problems: create.problems.length,
    };
    record.result = create.problems.length ? 'partial' : 'success';

    const policy = manager.retentionPolicy();
    if (Object.keys(policy).length > 0 && !stopping('retention')) {
      stage = 'retention';
      try {
        const progress = options.progress?.('prune');
        const forget = await timed('retention', () => open.forgetBackups(policy, { dryRun: false, ...(progress ? { progress } : {}), ...(signal ? { signal } : {}) }));
        outcome.forget = forget;
        record.retention = { removed: forget.removed.length, bytes_freed: forget.prune?.bytes_freed ?? 0 };
      } catch (err) {
        fail(err, 'retention');
      }
    }
    const measured = state.read().repository?.at;
    if (!signal?.aborted && (!measured || Date.now() - Date.parse(measured) >= STATS_EVERY_MS)) {
      try {
        const stats = await timed('stats', () => open.getStats());
        repositoryUpdate.repository = { at: new Date().toISOString(), stats };
      } catch (err) {
        log.warn(`repository statistics not updated: ${asBackupError(err).message}`);
      }
    }
  } catch (err) {
    fail(err, stage);
  } finally {
    await backend?.close().catch(() => {});
  }

  const secondary = manager.secondary();
  if (secondary && record.backup_id && !stopping('copy')) {
    let primaryStorage: Storage | undefined;
    let secondaryStorage: Storage | undefined;
    try {
      primaryStorage = await manager.storage();
      secondaryStorage = await manager.storage(secondary, { create: true });
      const from = primaryStorage;
      const to = secondaryStorage;
      const progress = options.progress?.('copy');
      let objects = 0;
      let bytes = 0;
      const replication = await timed('copy', () =>
        replicate(from, to, {
          concurrency: manager.config.performance?.parallel_uploads ?? 4,
          ...(signal ? { signal } : {}),
          onProgress: (event) => {
            objects += 1;
            bytes += event.size;
            progress?.update({ operation: 'copy', files_done: objects, bytes_done: bytes, current: event.key });
          },
        }),
      );
      progress?.done();
      outcome.replication = replication;
      record.copy = { objects: replication.copied + replication.updated, bytes: replication.bytes };
      const lag = await secondaryLag(from, to);
      repositoryUpdate.secondary = {
        at: new Date().toISOString(),
        location: to.location,
        missing_objects: lag.missingObjects,
        missing_bytes: lag.missingBytes,
        oldest_missing_age_ms: lag.oldestMissingAgeMs ?? null,
      };
    } catch (err) {
      fail(err, 'copy');
      if (!interruptedBy(signal, asBackupError(err))) {
        repositoryUpdate.secondary = { at: new Date().toISOString(), location: secondary, missing_objects: -1, missing_bytes: -1, oldest_missing_age_ms: null, error: asBackupError(err).message };
      }
    } finally {
      await primaryStorage?.close().catch(() => {});
      await secondaryStorage?.close().catch(() => {});
    }
  }

  const endedMs = Date.now();
  record.ended_at = new Date(endedMs).toISOString();
  record.duration_ms = endedMs - startedMs;
  try {
    await state.update((s) => {
      recordRun(s, record, request.occurrences ?? {});
      Object.assign(s, repositoryUpdate);
    });
  } catch (err) {
    log.warn(`could not record the run in ${state.file}: ${(err as Error).message}`);
  } finally {
    lock?.release();
  }
  return outcome;
}
