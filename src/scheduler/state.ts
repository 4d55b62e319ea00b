// The daemon's memory across restarts, one JSON file in the state directory (state.json): the last
// run of every trigger with its result, the last success and the last error, the scheduled
// occurrences already served (catch-up after downtime), next times, auto enabled/disabled, and
// cumulative counters for metrics. Every process that runs backups (daemon, hooks, CLI) updates
// it through update(), which re-reads under a short lock and replaces the file atomically
// (temporary file, fsync, rename), so a crash leaves the old or the new state, never a mix.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BackupStats } from '../backup/types.ts';
import type { RunOrigin } from './triggers.ts';
import { FileLock } from './file-lock.ts';

export type RunResult = 'success' | 'partial' | 'failed' | 'interrupted';
export const RUN_RESULTS: readonly RunResult[] = ['success', 'partial', 'failed', 'interrupted'];
export type RunStage = 'lock' | 'open' | 'create' | 'retention' | 'copy';

export interface RunError {
  stage: RunStage;
  kind: string;
  message: string;
}

export interface RunStats {
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  bytes_processed: number;
  bytes_added: number;
  bytes_added_packed: number;
  /** Files that could not be read (result "partial"). */
  problems: number;
}

export interface RunRecord {
  id: string;
  triggers: RunOrigin[];
  reason: string;
  started_at: string;
  ended_at: string;
  duration_ms: number;
  /** success; partial (backup written, some files unreadable); failed; interrupted (shutdown). */
  result: RunResult;
  paths: string[];
  backup_id: string | null;
  stats?: RunStats;
  /** Milliseconds per stage: lock_wait, create, retention, copy, stats. */
  stages: Record<string, number>;
  retention?: { removed: number; bytes_freed: number };
  copy?: { objects: number; bytes: number };
  error?: RunError;
}

export interface TriggerState {
  /** First time the daemon armed this trigger: missed occurrences before it are not caught up. */
  armed_at?: string;
  /** The latest scheduled occurrence a finished run served. */
  last_occurrence?: string;
  next_at?: string;
  last_run?: RunRecord;
  last_success_at?: string;
  runs?: Partial<Record<RunResult, number>>;
  /** Failed runs since the last success (schedule retries back off on it). */
  failures_in_row?: number;
  /** after_snapshot: snapshot names already seen. */
  seen?: string[];
}

export interface Totals {
  runs: Partial<Record<RunResult, number>>;
  errors: number;
  bytes_processed: number;
  bytes_added: number;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  duration_seconds: number;
}

export interface DaemonState {
  version: 1;
  auto?: { enabled: boolean; changed_at: string; unit_path: string | null };
  daemon?: { pid: number; started_at: string; listen: string | null; stopped_at?: string };
  triggers: Partial<Record<RunOrigin, TriggerState>>;
  last_run?: RunRecord;
  last_success?: RunRecord;
  last_error?: RunRecord;
  totals: Totals;
  repository?: { at: string; stats: BackupStats };
  secondary?: { at: string; location: string; missing_objects: number; missing_bytes: number; oldest_missing_age_ms: number | null; error?: string };
  watches?: { at: string; watched_dirs: number; unwatched_dirs: number; message?: string };
}

export function emptyState(): DaemonState {
  return {
    version: 1,
    triggers: {},
    totals: { runs: {}, errors: 0, bytes_processed: 0, bytes_added: 0, files_new: 0, files_changed: 0, files_unmodified: 0, duration_seconds: 0 },
  };
}

export class StateStore {
  constructor(
    readonly dir: string,
    private readonly onWarning: (message: string) => void = () => {},
  ) {}

  get file(): string {
    return path.join(this.dir, 'state.json');
  }

  /** The current state; an empty one when there is none yet. A damaged file is kept aside and replaced. */
  read(): DaemonState {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as DaemonState;
      if (parsed.version !== 1 || typeof parsed.triggers !== 'object') throw new Error(`unknown state version ${String(parsed.version)}`);
      return { ...emptyState(), ...parsed, totals: { ...emptyState().totals, ...parsed.totals } };
    } catch (err) {
      const aside = `${this.file}.damaged-${Date.now()}`;
      try {
        fs.renameSync(this.file, aside);
      } catch {
        // another process moved it already
      }
      this.onWarning(`state file ${this.file} could not be read (${(err as Error).message}); kept as ${aside}, starting with an empty state`);
      return emptyState();
    }
  }

  /** Read-modify-write under the state lock; returns the state written. */
  async update(change: (state: DaemonState) => void): Promise<DaemonState> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const lock = await FileLock.acquire(path.join(this.dir, 'state.lock'), 'state update', { wait: true, pollMs: 20 });
    try {
      const state = this.read();
      change(state);
      this.write(state);
      return state;
    } finally {
      lock.release();
    }
  }

  private write(state: DaemonState): void {
    const temp = `${this.file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    const fd = fs.openSync(temp, 'w', 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, this.file);
    const dirFd = fs.openSync(this.dir, 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  }
}

/** Adds one run's outcome to the state: the trigger records, last run/success/error and the totals. */
export function recordRun(state: DaemonState, run: RunRecord, occurrences: Partial<Record<RunOrigin, string>>): void {
  const finished = run.result !== 'interrupted';
  const succeeded = run.result === 'success' || run.result === 'partial';
  for (const trigger of run.triggers) {
    const t = (state.triggers[trigger] ??= {});
    t.last_run = run;
    t.runs = { ...t.runs, [run.result]: (t.runs?.[run.result] ?? 0) + 1 };
    if (succeeded) {
      t.last_success_at = run.ended_at;
      t.failures_in_row = 0;
    } else if (run.result === 'failed') t.failures_in_row = (t.failures_in_row ?? 0) + 1;
    // An interrupted run did not serve its occurrence: the next start catches it up.
    const occurrence = occurrences[trigger];
    if (finished && occurrence && (!t.last_occurrence || occurrence > t.last_occurrence)) t.last_occurrence = occurrence;
  }
  state.last_run = run;
  if (succeeded) state.last_success = run;
  if (run.error && run.result !== 'interrupted') state.last_error = run;
  const totals = state.totals;
  totals.runs[run.result] = (totals.runs[run.result] ?? 0) + 1;
  if (run.error && run.result !== 'interrupted') totals.errors += 1;
  totals.duration_seconds += run.duration_ms / 1000;
  if (run.stats) {
    totals.bytes_processed += run.stats.bytes_processed;
    totals.bytes_added += run.stats.bytes_added;
    totals.files_new += run.stats.files_new;
    totals.files_changed += run.stats.files_changed;
    totals.files_unmodified += run.stats.files_unmodified;
  }
}
