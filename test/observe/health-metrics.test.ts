// Health rules and the metrics registry, from state files and probes as the daemon and the CLI
// produce them: freshness against 1.5 schedule periods, failed/partial/interrupted runs, the
// secondary's lag, free space (a real 16 MiB tmpfs), and every metric family with its values.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EffectiveConfig } from '../../src/config/load.ts';
import type { BackupConfig } from '../../src/config/schema.ts';
import { evaluateHealth, renderHealth, shortestPeriodMs, type HealthReport, type RepositoryProbe } from '../../src/observe/health.ts';
import { metricsJson, metricsRegistry } from '../../src/observe/metrics.ts';
import { emptyState, recordRun, type DaemonState, type RunRecord } from '../../src/scheduler/state.ts';
import { configuredTriggers } from '../../src/scheduler/triggers.ts';
import { repoRoot } from '../helpers/cli.ts';
import { makeSite } from '../daemon/helpers/daemon-process.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-health-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const HOUR = 3600_000;
const now = new Date(2026, 10, 25, 12, 0);
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const probe: RepositoryProbe = { at: now.toISOString(), location: '/srv/repo', reachable: true, locks: [] };

function run(overrides: Partial<RunRecord>): RunRecord {
  return {
    id: 'r1',
    triggers: ['daily'],
    reason: 'daily schedule',
    started_at: ago(HOUR + 60_000),
    ended_at: ago(HOUR),
    duration_ms: 60_000,
    result: 'success',
    paths: ['/srv/www'],
    backup_id: 'abcdef0123456789',
    stats: { files_new: 3, files_changed: 2, files_unmodified: 100, bytes_processed: 5000, bytes_added: 700, bytes_added_packed: 650, problems: 0 },
    stages: { lock_wait: 5, create: 50_000, retention: 6000, copy: 3000 },
    ...overrides,
  };
}

function health(config: BackupConfig, state: DaemonState, p: RepositoryProbe | undefined = probe): HealthReport {
  return evaluateHealth({ config, state, probe: p, dirs: [], now });
}

const status = (report: HealthReport, name: string) => report.checks.find((c) => c.name === name)?.status;

describe('health rules', () => {
  const daily: BackupConfig = { triggers: { daily: '02:00' } };

  it('measures freshness against 1.5 periods of the most frequent schedule', () => {
    expect(shortestPeriodMs({ triggers: { daily: '02:00', weekly: 'sunday@03:00' } }, now)).toBe(24 * HOUR);
    expect(shortestPeriodMs({ triggers: { monthly: '1@04:00', daily: '0 */6 * * *' } }, now)).toBe(6 * HOUR);
    const state = emptyState();
    recordRun(state, run({ ended_at: ago(35 * HOUR) }), {});
    expect(status(health(daily, state), 'last_backup')).toBe('ok');
    const stale = emptyState();
    recordRun(stale, run({ ended_at: ago(37 * HOUR) }), {});
    const report = health(daily, stale);
    expect(report.healthy).toBe(false);
    expect(report.checks.find((c) => c.name === 'last_backup')?.message).toBe('last backup 37h00m ago (limit 36h00m: 1.5 × the 24h00m schedule period)');
    // The repository's newest backup of this host counts too (a manual backup, another tool).
    expect(status(health(daily, stale, { ...probe, latest_backup_at: ago(HOUR) }), 'last_backup')).toBe('ok');
    expect(status(health({ triggers: { weekly: 'sunday@03:00' } }, stale), 'last_backup')).toBe('ok');
  });

  it('fails without any backup when a schedule is set, and only warns without a schedule', () => {
    expect(health(daily, emptyState()).healthy).toBe(false);
    const unscheduled = health({}, emptyState());
    expect(unscheduled.healthy).toBe(true);
    expect(status(unscheduled, 'last_backup')).toBe('warn');
  });

  it('fails on an unreachable repository and on a failed last run, warns on partial and interrupted runs', () => {
    const state = emptyState();
    recordRun(state, run({}), {});
    expect(health(daily, state).healthy).toBe(true);
    expect(status(health(daily, state, { ...probe, reachable: false, error: 'connection refused' }), 'repository')).toBe('fail');

    recordRun(state, run({ result: 'failed', backup_id: null, error: { stage: 'create', kind: 'StorageUnreachable', message: 'connection refused' } }), {});
    const failed = health(daily, state);
    expect(failed.checks.find((c) => c.name === 'last_run')).toMatchObject({ status: 'fail', message: expect.stringContaining('failed in create: connection refused') });
    // A later success resolves it; the error stays visible.
    recordRun(state, run({ id: 'r3' }), {});
    const resolved = health(daily, state);
    expect(resolved.checks.find((c) => c.name === 'last_run')).toMatchObject({ status: 'ok', message: expect.stringContaining('last error 1h00m ago: connection refused') });
    recordRun(state, run({ result: 'partial', stats: { ...run({}).stats!, problems: 2 } }), {});
    expect(health(daily, state).checks.find((c) => c.name === 'last_run')).toMatchObject({ status: 'warn', message: expect.stringContaining('could not read 2 file(s)') });
    recordRun(state, run({ result: 'interrupted', error: { stage: 'copy', kind: 'Interrupted', message: 'interrupted by SIGTERM' } }), {});
    expect(status(health(daily, state), 'last_run')).toBe('warn');
    expect(health(daily, state).healthy).toBe(true);
  });

  it('warns while the secondary catches up and fails when it lags too long or is unreachable', () => {
    const config: BackupConfig = { ...daily, storage: { secondary: '/mnt/offsite' } };
    const state = emptyState();
    recordRun(state, run({}), {});
    const lag = (missing: number, ageMs: number | null, reachable = true) => ({ location: '/mnt/offsite', reachable, missing_objects: missing, missing_bytes: missing * 1000, oldest_missing_age_ms: ageMs });
    expect(status(health(config, state, { ...probe, secondary: lag(0, null) }), 'secondary')).toBe('ok');
    expect(status(health(config, state, { ...probe, secondary: lag(3, 2 * HOUR) }), 'secondary')).toBe('warn');
    expect(status(health(config, state, { ...probe, secondary: lag(3, 40 * HOUR) }), 'secondary')).toBe('fail');
    expect(status(health(config, state, { ...probe, secondary: { ...lag(-1, null, false), error: 'ENOENT' } }), 'secondary')).toBe('fail');
    // The daemon's light probe takes the lag its last run measured.
    state.secondary = { at: now.toISOString(), location: '/mnt/offsite', missing_objects: 0, missing_bytes: 0, oldest_missing_age_ms: null };
    expect(status(health(config, state), 'secondary')).toBe('ok');
  });

  it('reports stale locks as a warning and renders a readable report', () => {
    const state = emptyState();
    recordRun(state, run({}), {});
    const locked = health(daily, state, { ...probe, locks: [{ id: 'l1', exclusive: true, hostname: 'h', pid: 4242, stale: true, description: 'exclusive lock by pid 4242 on h (root), 45 min old' }] });
    expect(locked.healthy).toBe(true);
    expect(renderHealth(locked)).toContain('WARN  locks        1 stale lock(s): exclusive lock by pid 4242 on h (root), 45 min old (the next backup removes them)');
    expect(renderHealth(locked).split('\n')[0]).toBe('backup health: healthy');
  });

  it('fails when the state directory is almost full (a real 16 MiB tmpfs)', async () => {
    const site = await makeSite(path.join(tmp, 'disk'));
    const config = site.boltfile(['[backups.include]', `custom_paths = [${JSON.stringify(site.passwordFile)}]`]);
    fs.mkdirSync(site.stateDir, { recursive: true });
    const script = `mount -t tmpfs -o size=16m tmpfs "$1" && exec "${process.execPath}" "${path.join(repoRoot, 'bin', 'bolt-agent.js')}" --json --config "$2" backup health`;
    const r = spawnSync('unshare', ['--mount', 'sh', '-c', script, 'sh', site.stateDir, config], { env: { ...process.env, ...site.env }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout) as HealthReport;
    const disk = report.checks.find((c) => c.name === 'disk' && c.details?.['dir'] === site.stateDir);
    expect(disk).toMatchObject({ status: 'fail', message: `state ${site.stateDir}: 16.0 MiB free of 16.0 MiB` });
  });
});

describe('metrics registry', () => {
  const effective = { config: { tool: 'restic', triggers: { daily: '02:00', on_file_changes: true } }, sources: new Map(), notes: [] } as unknown as EffectiveConfig;

  function state(): DaemonState {
    const s = emptyState();
    recordRun(s, run({}), { daily: ago(10 * HOUR) });
    recordRun(s, run({ id: 'r2', triggers: ['on_file_changes'], result: 'failed', backup_id: null, stats: undefined, error: { stage: 'create', kind: 'StorageError', message: 'x' } }), {});
    s.repository = { at: now.toISOString(), stats: { total_size: 10_000, total_backups: 4, unique_data: 4000, compression_ratio: 1.5, deduplication_ratio: 2.5 } };
    s.secondary = { at: now.toISOString(), location: '/mnt/offsite', missing_objects: 2, missing_bytes: 300, oldest_missing_age_ms: 90_000 };
    s.triggers.daily = { ...s.triggers.daily, next_at: new Date(2026, 10, 26, 2, 0).toISOString() };
    s.auto = { enabled: true, changed_at: now.toISOString(), unit_path: null };
    return s;
  }

  it('exports runs, durations, bytes, files, repository and secondary figures in Prometheus text', async () => {
    const text = await metricsRegistry({ state: state(), tool: 'restic', triggers: configuredTriggers(effective) }).metrics();
    const expected = [
      'bolt_backup_info{version="0.1.0",tool="restic"} 1',
      'bolt_backup_runs_total{trigger="daily",result="success"} 1',
      'bolt_backup_runs_total{trigger="on_file_changes",result="failed"} 1',
      'bolt_backup_runs_total{trigger="on_file_changes",result="success"} 0',
      'bolt_backup_errors_total 1',
      'bolt_backup_bytes_processed_total 5000',
      'bolt_backup_bytes_added_total 700',
      'bolt_backup_files_total{kind="changed"} 2',
      'bolt_backup_last_run_success{trigger="daily"} 1',
      'bolt_backup_last_run_success{trigger="on_file_changes"} 0',
      `bolt_backup_last_success_timestamp_seconds{trigger="daily"} ${Date.parse(ago(HOUR)) / 1000}`,
      'bolt_backup_last_run_duration_seconds{trigger="daily",stage="total"} 60',
      'bolt_backup_last_run_duration_seconds{trigger="daily",stage="create"} 50',
      'bolt_backup_last_run_bytes_added{trigger="daily"} 700',
      'bolt_backup_last_run_files{trigger="daily",kind="unchanged"} 100',
      `bolt_backup_next_run_timestamp_seconds{trigger="daily"} ${new Date(2026, 10, 26, 2, 0).getTime() / 1000}`,
      'bolt_backup_repository_size_bytes 10000',
      'bolt_backup_repository_unique_bytes 4000',
      'bolt_backup_repository_backups 4',
      'bolt_backup_deduplication_ratio 2.5',
      'bolt_backup_compression_ratio 1.5',
      'bolt_backup_secondary_up 1',
      'bolt_backup_secondary_lag_objects 2',
      'bolt_backup_secondary_lag_bytes 300',
      'bolt_backup_secondary_lag_seconds 90',
      'bolt_backup_auto_enabled 1',
    ];
    for (const line of expected) expect(text.split('\n')).toContain(line);
    expect(text).toContain('# TYPE bolt_backup_runs_total counter');
    expect(text).toContain('# TYPE bolt_backup_repository_size_bytes gauge');
    // Live-only gauges appear only in the daemon; what was never measured is left out, not 0.
    expect(text).not.toContain('bolt_backup_running ');
    expect(text).not.toContain('bolt_backup_file_watches');
  });

  it('gives the same numbers as JSON, with the daemon\'s live gauges, and leaves out what is not measured', async () => {
    const live = { running: { triggers: ['daily' as const], started_at: now.toISOString(), bytes_done: 1234, files_done: 5 }, pending: 1, next: {} };
    const first = await metricsJson(metricsRegistry({ state: state(), tool: 'restic', triggers: ['daily'], live }));
    expect(first.find((m) => m.name === 'bolt_backup_running')?.values).toEqual([{ labels: {}, value: 1 }]);
    expect(first.find((m) => m.name === 'bolt_backup_running_bytes_done')?.values).toEqual([{ labels: {}, value: 1234 }]);
    expect(first.find((m) => m.name === 'bolt_backup_pending_runs')?.values).toEqual([{ labels: {}, value: 1 }]);
    expect(first.find((m) => m.name === 'bolt_backup_repository_backups')?.values).toEqual([{ labels: {}, value: 4 }]);
    const second = await metricsJson(metricsRegistry({ state: emptyState(), tool: 'restic', triggers: ['daily'] }));
    expect(second.find((m) => m.name === 'bolt_backup_repository_backups')).toBeUndefined();
    expect(second.find((m) => m.name === 'bolt_backup_runs_total')?.values).toContainEqual({ labels: { trigger: 'daily', result: 'success' }, value: 0 });
  });
});
