// Backup health: is the repository reachable, is the last backup fresh for the schedule (older
// than 1.5 periods of the most frequent schedule is unhealthy), did the last run fail, are there
// stale locks, how far behind is the secondary, is there room left in the state and cache
// directories. `backup health` probes the repository live; the daemon probes it periodically and
// answers /healthz from the last probe plus the state file.
import os from 'node:os';
import type { BackupManager } from '../backup/manager.ts';
import { asBackupError } from '../backup/errors.ts';
import type { BackupConfig } from '../config/schema.ts';
import { parseSchedule, schedulePeriodMs } from '../config/schedule.ts';
import { formatSize } from '../config/units.ts';
import type { DaemonState } from '../scheduler/state.ts';
import { SCHEDULE_TRIGGERS } from '../scheduler/triggers.ts';
import { diskSpace } from './disk-space.ts';
import { formatDuration } from './progress-meter.ts';
import type { RepositoryLockInfo } from '../backup/types.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface HealthCheck {
  name: 'repository' | 'last_backup' | 'last_run' | 'locks' | 'secondary' | 'disk' | 'daemon' | 'file_watches';
  status: CheckStatus;
  message: string;
  details?: Record<string, unknown>;
}

export interface HealthReport {
  healthy: boolean;
  checked_at: string;
  checks: HealthCheck[];
}

export interface RepositoryProbe {
  at: string;
  location: string;
  reachable: boolean;
  error?: string;
  /** Time of the newest backup of this host in the repository (full probes only). */
  latest_backup_at?: string;
  locks?: RepositoryLockInfo[];
  secondary?: { location: string; reachable: boolean; error?: string; missing_objects: number; missing_bytes: number; oldest_missing_age_ms: number | null };
}

/** Without a schedule, the secondary may lag this long before it counts as unhealthy. */
const DEFAULT_LAG_LIMIT_MS = 24 * 3600_000;
const DISK_FAIL_BYTES = 64 * 1024 * 1024;
const DISK_WARN_BYTES = 1024 * 1024 * 1024;

/**
 * Opens the repository and looks at its locks. A full probe (the CLI) also finds this host's
 * newest backup and measures the secondary's lag; the daemon's periodic probe takes those from
 * the runs it records instead of listing every snapshot and object again.
 */
export async function probeRepository(manager: BackupManager, options: { full: boolean }): Promise<RepositoryProbe> {
  const at = new Date().toISOString();
  let location: string;
  try {
    location = manager.repository();
  } catch (err) {
    return { at, location: '(not configured)', reachable: false, error: asBackupError(err).message };
  }
  const probe: RepositoryProbe = { at, location, reachable: false };
  try {
    const backend = await manager.open();
    try {
      probe.reachable = true;
      probe.locks = backend.listLocks ? await backend.listLocks() : undefined;
      if (options.full) {
        const host = os.hostname();
        const times = (await backend.listBackups()).filter((b) => b.hostname === host).map((b) => Date.parse(b.timestamp));
        if (times.length) probe.latest_backup_at = new Date(Math.max(...times)).toISOString();
      }
    } finally {
      await backend.close();
    }
  } catch (err) {
    probe.error = asBackupError(err).message;
  }
  const secondary = manager.secondary();
  if (options.full && secondary && probe.reachable) {
    try {
      const lag = await manager.secondaryLag();
      probe.secondary = { location: secondary, reachable: true, missing_objects: lag.missingObjects, missing_bytes: lag.missingBytes, oldest_missing_age_ms: lag.oldestMissingAgeMs ?? null };
    } catch (err) {
      probe.secondary = { location: secondary, reachable: false, error: asBackupError(err).message, missing_objects: -1, missing_bytes: -1, oldest_missing_age_ms: null };
    }
  }
  return probe;
}

/** The period of the most frequent configured schedule, if any. */
export function shortestPeriodMs(config: BackupConfig, now: Date): number | undefined {
  let shortest: number | undefined;
  for (const trigger of SCHEDULE_TRIGGERS) {
    const text = config.triggers?.[trigger];
    if (!text) continue;
    const schedule = parseSchedule(trigger, text);
    if ('error' in schedule) continue;
    const period = schedulePeriodMs(schedule, now);
    shortest = shortest === undefined ? period : Math.min(shortest, period);
  }
  return shortest;
}

export interface HealthInput {
  config: BackupConfig;
  state: DaemonState;
  probe: RepositoryProbe | undefined;
  /** Local directories whose free space matters: state, cache. */
  dirs: { name: string; dir: string }[];
  now: Date;
  /** Whether a daemon holds the daemon lock (undefined: not checked, e.g. inside the daemon). */
  daemonRunning?: boolean;
}

function ago(ms: number): string {
  return `${formatDuration(Math.max(0, ms))} ago`;
}

export function evaluateHealth(input: HealthInput): HealthReport {
  const { config, state, probe, now } = input;
  const checks: HealthCheck[] = [];
  const period = shortestPeriodMs(config, now);
  const freshLimit = period === undefined ? undefined : period * 1.5;

  if (!probe) checks.push({ name: 'repository', status: 'warn', message: 'not probed yet' });
  else if (!probe.reachable) checks.push({ name: 'repository', status: 'fail', message: `${probe.location} is not reachable: ${probe.error ?? 'unknown error'}`, details: { location: probe.location, checked_at: probe.at } });
  else checks.push({ name: 'repository', status: 'ok', message: `${probe.location} is reachable`, details: { location: probe.location, checked_at: probe.at } });

  const candidates = [probe?.latest_backup_at, state.last_success?.ended_at].filter((t): t is string => Boolean(t)).map((t) => Date.parse(t));
  const lastAt = candidates.length ? Math.max(...candidates) : undefined;
  const limitText = freshLimit === undefined ? '' : ` (limit ${formatDuration(freshLimit)}: 1.5 × the ${formatDuration(period ?? 0)} schedule period)`;
  if (lastAt === undefined) {
    checks.push({ name: 'last_backup', status: freshLimit === undefined ? 'warn' : 'fail', message: `no backup of this host yet${limitText}` });
  } else {
    const age = now.getTime() - lastAt;
    const stale = freshLimit !== undefined && age > freshLimit;
    checks.push({
      name: 'last_backup',
      status: stale ? 'fail' : 'ok',
      message: `last backup ${ago(age)}${limitText}`,
      details: { at: new Date(lastAt).toISOString(), age_seconds: Math.round(age / 1000), ...(freshLimit !== undefined ? { limit_seconds: Math.round(freshLimit / 1000) } : {}) },
    });
  }

  const last = state.last_run;
  const lastError = state.last_error;
  const errorDetails = lastError?.error ? { last_error: { at: lastError.ended_at, triggers: lastError.triggers, ...lastError.error } } : {};
  if (!last) checks.push({ name: 'last_run', status: 'ok', message: 'no run recorded yet', details: errorDetails });
  else {
    const what = `last run (${last.triggers.join(', ')}) ${ago(now.getTime() - Date.parse(last.ended_at))}`;
    if (last.result === 'failed') {
      checks.push({ name: 'last_run', status: 'fail', message: `${what} failed in ${last.error?.stage ?? 'an unknown stage'}: ${last.error?.message ?? ''}`, details: errorDetails });
    } else if (last.result === 'partial') {
      checks.push({ name: 'last_run', status: 'warn', message: `${what} could not read ${last.stats?.problems ?? 'some'} file(s)`, details: errorDetails });
    } else if (last.result === 'interrupted') {
      checks.push({ name: 'last_run', status: 'warn', message: `${what} was interrupted (${last.error?.message ?? 'shutdown'})`, details: errorDetails });
    } else {
      const earlier = lastError?.error ? `; last error ${ago(now.getTime() - Date.parse(lastError.ended_at))}: ${lastError.error.message}` : '';
      checks.push({ name: 'last_run', status: 'ok', message: `${what} succeeded${earlier}`, details: errorDetails });
    }
  }

  if (probe?.locks) {
    const stale = probe.locks.filter((l) => l.stale);
    if (stale.length) {
      checks.push({
        name: 'locks',
        status: 'warn',
        message: `${stale.length} stale lock(s): ${stale.map((l) => l.description).join('; ')} (the next backup removes them)`,
        details: { locks: probe.locks },
      });
    } else checks.push({ name: 'locks', status: 'ok', message: probe.locks.length ? `${probe.locks.length} active lock(s)` : 'no locks', details: { locks: probe.locks } });
  }

  if (config.storage?.secondary) {
    const lag = probe?.secondary ?? (state.secondary ? { ...state.secondary, reachable: !state.secondary.error } : undefined);
    const lagLimit = freshLimit ?? DEFAULT_LAG_LIMIT_MS;
    if (!lag) checks.push({ name: 'secondary', status: 'warn', message: `${config.storage.secondary}: no copy measured yet` });
    else if (!lag.reachable) checks.push({ name: 'secondary', status: 'fail', message: `${lag.location}: ${lag.error ?? 'not reachable'}`, details: { location: lag.location } });
    else if (lag.missing_objects === 0) checks.push({ name: 'secondary', status: 'ok', message: `${lag.location} is in sync`, details: { ...lag } });
    else {
      const age = lag.oldest_missing_age_ms ?? 0;
      checks.push({
        name: 'secondary',
        status: age > lagLimit ? 'fail' : 'warn',
        message: `${lag.location} lacks ${lag.missing_objects} object(s), ${formatSize(lag.missing_bytes)}, the oldest written ${ago(age)} (limit ${formatDuration(lagLimit)})`,
        details: { ...lag },
      });
    }
  }

  for (const { name, dir } of input.dirs) {
    const space = diskSpace(dir);
    if (!space) continue;
    const fraction = space.total_bytes > 0 ? space.free_bytes / space.total_bytes : 1;
    const status: CheckStatus = space.free_bytes < DISK_FAIL_BYTES || fraction < 0.01 ? 'fail' : space.free_bytes < DISK_WARN_BYTES || fraction < 0.05 ? 'warn' : 'ok';
    checks.push({
      name: 'disk',
      status,
      message: `${name} ${dir}: ${formatSize(space.free_bytes)} free of ${formatSize(space.total_bytes)}`,
      details: { dir, measured: space.measured, free_bytes: space.free_bytes, total_bytes: space.total_bytes },
    });
  }

  if (input.daemonRunning === false && state.auto?.enabled) {
    checks.push({ name: 'daemon', status: 'warn', message: 'automatic backups are enabled but no bolt-agent daemon is running' });
  }

  if (state.watches?.message) checks.push({ name: 'file_watches', status: 'warn', message: state.watches.message, details: { ...state.watches } });

  return { healthy: checks.every((c) => c.status !== 'fail'), checked_at: now.toISOString(), checks };
}

export function renderHealth(report: HealthReport): string {
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
  const lines = [`backup health: ${report.healthy ? 'healthy' : 'UNHEALTHY'}`];
  for (const c of report.checks) lines.push(`  ${mark[c.status]}  ${c.name.padEnd(12)} ${c.message}`);
  return lines.join('\n');
}
