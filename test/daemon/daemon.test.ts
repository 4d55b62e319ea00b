// The daemon as a process: catch-up at start, one run for coalesced triggers, retention and the
// secondary copy, a real scrape of /metrics and /healthz, the Bolt-state, snapshot and file
// triggers end to end, the host-wide lock shared with a hook run, auto enable/disable/status, the
// kernel's inotify limit, and the health and metrics commands.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';
import { makeSite, startDaemon, type DaemonProcess, type Site } from './helpers/daemon-process.ts';
import { StateStore } from '../../src/scheduler/state.ts';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { encodeLock } from '../../src/formats/restic/lock-json.ts';
import { goTimeFromUnix } from '../../src/util/go-time.ts';
import { lockHolder } from '../../src/scheduler/file-lock.ts';
import { slowS3 } from './helpers/slow-s3.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-daemon-'));
const running: DaemonProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop('SIGKILL')));
  for (const c of cleanups) await c();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function daemon(site: Site, config: string, extra: string[] = [], env: Record<string, string> = {}, wrap: string[] = []): DaemonProcess {
  const d = startDaemon(['--config', config, ...extra, 'daemon', '--listen', '127.0.0.1:0'], { ...site.env, ...env }, wrap);
  running.push(d);
  return d;
}

function writeData(dir: string, files: Record<string, string | number>): void {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Numbers: that many random (incompressible) bytes.
    fs.writeFileSync(file, typeof content === 'number' ? crypto.randomBytes(content) : content);
  }
}

interface ListedBackup {
  id: string;
  paths: string[];
  tags: string[];
}

async function listBackups(site: Site, config: string, repo?: string): Promise<ListedBackup[]> {
  const r = await site.agentAsync(['--json', '--config', config, ...(repo ? ['--repo', repo] : []), 'backup', 'list']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as ListedBackup[];
}

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const DAY = 86_400_000;

describe('daemon process', () => {
  it('catches up missed schedules once at start, applies retention, copies to the secondary and serves /metrics and /healthz', async () => {
    const site = await makeSite(path.join(tmp, 'catchup'));
    const data = path.join(site.dir, 'data');
    writeData(data, { 'a.txt': 'alpha\n', 'sub/b.bin': 200_000 });
    const secondary = path.join(site.dir, 'secondary');
    const config = site.boltfile([
      '[backups.triggers]',
      'daily = "02:00"',
      'weekly = "sunday@03:00"',
      '[backups.retention]',
      'keep_last = 2',
      '[backups.include]',
      `custom_paths = [${JSON.stringify(data)}]`,
      '[backups.storage]',
      `secondary = ${JSON.stringify(secondary)}`,
    ]);
    // Two earlier backups, so retention (keep_last 2) has something to remove.
    for (let i = 0; i < 2; i++) expect(site.agent(['--config', config, 'backup', 'create']).code).toBe(0);
    // The daemon ran ten days ago and has been down since: both schedules missed occurrences.
    await new StateStore(site.stateDir).update((s) => {
      s.triggers.daily = { armed_at: new Date(Date.now() - 10 * DAY).toISOString() };
      s.triggers.weekly = { armed_at: new Date(Date.now() - 10 * DAY).toISOString() };
    });

    const d = daemon(site, config);
    const [, url] = await d.waitFor(/serving \/metrics and \/healthz on (http:\/\/127\.0\.0\.1:\d+)/);
    await d.waitFor(/backup finished/);
    expect(d.stdout()).toMatch(/daily: the run of .* was missed while bolt-agent was not running; catching up/);
    expect(d.stdout().match(/backup started/g)).toHaveLength(1);

    const backups = await listBackups(site, config);
    expect(backups).toHaveLength(2);
    const newest = backups.find((b) => b.tags.includes('bolt.trigger=daily'));
    expect(newest?.tags).toEqual(expect.arrayContaining(['bolt.trigger=daily', 'bolt.trigger=weekly']));
    // The secondary has every backup of the primary (replication leaves what the primary pruned).
    expect((await listBackups(site, config, secondary)).map((b) => b.id)).toEqual(expect.arrayContaining(backups.map((b) => b.id)));

    // The repository probe runs at start and after every run; wait for its answer.
    const repositoryCheck = (body: string) => (JSON.parse(body) as { checks: { name: string; status: string }[] }).checks.find((c) => c.name === 'repository')?.status;
    let health = await get(`${url}/healthz`);
    for (let i = 0; i < 100 && repositoryCheck(health.body) !== 'ok'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      health = await get(`${url}/healthz`);
    }
    expect(health.status).toBe(200);
    expect(health.type).toContain('application/json');
    const report = JSON.parse(health.body) as { healthy: boolean; checks: { name: string; status: string }[] };
    expect(report.healthy).toBe(true);
    expect(Object.fromEntries(report.checks.map((c) => [c.name, c.status]))).toMatchObject({ repository: 'ok', last_backup: 'ok', last_run: 'ok', secondary: 'ok', disk: 'ok' });

    const metrics = await get(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    const m = metrics.body;
    expect(metricValue(m, 'bolt_backup_runs_total{trigger="daily",result="success"}')).toBe(1);
    expect(metricValue(m, 'bolt_backup_runs_total{trigger="weekly",result="success"}')).toBe(1);
    expect(metricValue(m, 'bolt_backup_repository_backups')).toBe(2);
    expect(metricValue(m, 'bolt_backup_secondary_lag_objects')).toBe(0);
    expect(metricValue(m, 'bolt_backup_running')).toBe(0);
    expect(metricValue(m, 'bolt_backup_last_run_files{trigger="daily",kind="unchanged"}')).toBe(2);
    const lastSuccess = metricValue(m, 'bolt_backup_last_success_timestamp_seconds{trigger="daily"}') ?? 0;
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(60);
    expect(metricValue(m, 'bolt_backup_next_run_timestamp_seconds{trigger="daily"}')).toBeGreaterThan(Date.now() / 1000);
    expect(m).toMatch(/^bolt_backup_last_run_duration_seconds\{trigger="daily",stage="retention"\} [\d.]+$/m);
    expect(m).toMatch(/^bolt_agent_process_resident_memory_bytes \d+/m);
    expect((await get(`${url}/nothing`)).status).toBe(404);

    // One daemon per state directory.
    const second = daemon(site, config);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toContain('another bolt-agent daemon is running');

    expect(await d.stop()).toBe(0);
    expect(d.stdout()).toMatch(/stopped\n$/);
    expect(fs.readdirSync(path.join(site.repo, 'locks'))).toEqual([]);
    expect(lockHolder(path.join(site.stateDir, 'daemon.lock'))).toBeUndefined();
    expect(lockHolder(path.join(site.stateDir, 'run.lock'))).toBeUndefined();
    const state = new StateStore(site.stateDir).read();
    expect(state.daemon?.stopped_at).toBeDefined();
    expect(state.last_run?.retention?.removed).toBe(1);

    // backup health and backup metrics from the same state.
    const healthCli = site.agent(['--config', config, 'backup', 'health']);
    expect(healthCli.code).toBe(0);
    expect(healthCli.stdout).toMatch(/^backup health: healthy/);
    const prom = site.agent(['--config', config, 'backup', 'metrics', '--format', 'prometheus']);
    expect(metricValue(prom.stdout, 'bolt_backup_runs_total{trigger="weekly",result="success"}')).toBe(1);
    const json = JSON.parse(site.agent(['--config', config, 'backup', 'metrics', '--format', 'json']).stdout) as { metrics: { name: string; values: { value: number }[] }[] };
    expect(json.metrics.find((x) => x.name === 'bolt_backup_repository_backups')?.values[0]?.value).toBe(2);
    const text = site.agent(['--config', config, 'backup', 'metrics']).stdout;
    expect(text).toMatch(/bolt_backup_runs_total {2}\(backup runs by trigger and result/);

    // A snapshot file lost on the secondary makes it lag: metrics --refresh and health see it.
    const lost = backups[0]?.id ?? '';
    fs.rmSync(path.join(secondary, 'snapshots', lost));
    const refreshed = site.agent(['--config', config, 'backup', 'metrics', '--refresh', '--format', 'prometheus']);
    expect(metricValue(refreshed.stdout, 'bolt_backup_repository_backups')).toBe(2);
    expect(metricValue(refreshed.stdout, 'bolt_backup_secondary_lag_objects')).toBe(1);
    expect(metricValue(refreshed.stdout, 'bolt_backup_secondary_lag_bytes')).toBe(fs.statSync(path.join(site.repo, 'snapshots', lost)).size);
    const lagging = JSON.parse(site.agent(['--json', '--config', config, 'backup', 'health']).stdout) as { healthy: boolean; checks: { name: string; status: string; message: string }[] };
    expect(lagging.healthy).toBe(true);
    expect(lagging.checks.find((c) => c.name === 'secondary')).toMatchObject({ status: 'warn', message: expect.stringContaining('lacks 1 object(s)') });
  });

  it('answers /healthz with 503 while the repository is unreachable, and backup health exits 1', async () => {
    const site = await makeSite(path.join(tmp, 'unreachable'), { init: false });
    const config = site.boltfile(['[backups.triggers]', 'daily = "02:00"', '[backups.include]', `custom_paths = [${JSON.stringify(site.dir)}]`]);
    const d = daemon(site, config);
    const [, url] = await d.waitFor(/serving \/metrics and \/healthz on (http:\/\/127\.0\.0\.1:\d+)/);
    await d.waitFor(/repository .* is not reachable/);
    const health = await get(`${url}/healthz`);
    expect(health.status).toBe(503);
    const report = JSON.parse(health.body) as { healthy: boolean; checks: { name: string; status: string; message: string }[] };
    expect(report.checks.find((c) => c.name === 'repository')).toMatchObject({ status: 'fail', message: expect.stringContaining('repository not found') });
    expect(await d.stop()).toBe(0);

    const cli = site.agent(['--config', config, 'backup', 'health']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/UNHEALTHY/);
    expect(cli.stdout).toMatch(/FAIL {2}repository/);
    expect(cli.stdout).toMatch(/FAIL {2}last_backup +no backup of this host yet \(limit 36h00m/);
  });

  it('reports stale repository locks, failed last runs and old backups in backup health', async () => {
    const site = await makeSite(path.join(tmp, 'health'));
    const config = site.boltfile(['[backups.triggers]', 'daily = "02:00"', '[backups.include]', `custom_paths = [${JSON.stringify(path.join(site.dir, 'password'))}]`]);
    expect(site.agent(['--config', config, 'backup', 'create']).code).toBe(0);
    // A lock left by a process that is gone.
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid as number;
    const repo = await ResticRepository.open(new LocalStorage({ root: site.repo, uploadBucket: undefined }), await getCore(), Buffer.from('daemon-test-password'));
    const now = Date.now();
    await repo.writeUnpacked('locks', encodeLock({ time: goTimeFromUnix(Math.floor(now / 1000), 0), exclusive: true, hostname: os.hostname(), username: 'root', pid: dead }));
    // The last run failed in the copy stage.
    await new StateStore(site.stateDir).update((s) => {
      const at = new Date(now - 3600_000).toISOString();
      s.last_run = { id: 'x', triggers: ['daily'], reason: 'daily', started_at: at, ended_at: at, duration_ms: 10, result: 'failed', paths: [], backup_id: null, stages: {}, error: { stage: 'copy', kind: 'StorageUnreachable', message: 'secondary unreachable' } };
      s.last_error = s.last_run;
    });
    const r = site.agent(['--json', '--config', config, 'backup', 'health']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { healthy: boolean; checks: { name: string; status: string; message: string }[] };
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName['locks']).toMatchObject({ status: 'warn', message: expect.stringContaining(`exclusive lock by pid ${dead}`) });
    expect(byName['last_run']).toMatchObject({ status: 'fail', message: expect.stringContaining('failed in copy: secondary unreachable') });
    expect(byName['last_backup']?.status).toBe('ok');
  });

  it('backs up affected volumes on container changes, new Bolt snapshots and changed include paths', async () => {
    const site = await makeSite(path.join(tmp, 'events'));
    const bolt = site.env.BOLT_AGENT_BOLT_ROOT;
    const snapshots = path.join(site.dir, 'snapshots');
    const data = path.join(site.dir, 'data');
    writeData(path.join(bolt, 'volumes'), { 'db-data/base/1': 'rows\n', 'db-data.json': '{"name":"db-data"}' });
    fs.mkdirSync(path.join(bolt, 'containers'), { recursive: true });
    writeData(data, { 'index.html': '<h1>hi</h1>\n' });
    fs.mkdirSync(snapshots);
    const config = site.boltfile([
      '[backups.triggers]',
      'after_snapshot = true',
      'on_container_changes = true',
      'on_file_changes = true',
      'debounce = "300ms"',
      'min_interval = "0s"',
      '[backups.include]',
      `custom_paths = [${JSON.stringify(data)}]`,
    ]);
    const d = daemon(site, config, [], { BOLT_AGENT_SNAPSHOT_PATH: snapshots });
    await d.waitFor(/armed: after_snapshot .*on_container_changes .*on_file_changes \(1 directories\)/);

    fs.writeFileSync(path.join(bolt, 'containers', 'db.json'), JSON.stringify({ name: 'db', volumes: ['db-data:/var/lib/postgresql/data'] }));
    await d.waitFor(/backup finished[^\n]*\n(?:.|\n)*$/);
    let backups = await listBackups(site, config);
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatchObject({ paths: [path.join(bolt, 'volumes', 'db-data'), path.join(bolt, 'volumes', 'db-data.json')] });
    expect(backups[0]?.tags).toEqual(expect.arrayContaining(['bolt.trigger=on_container_changes', 'bolt.volume=db-data']));

    writeData(snapshots, { 'snap-2026-11-25/volumes/db-data/base/1': 'rows\n' });
    await d.waitFor(/backup finished(?:.|\n)*backup finished/);
    backups = await listBackups(site, config);
    const snap = backups.find((b) => b.tags.includes('bolt.trigger=after_snapshot'));
    expect(snap).toMatchObject({ paths: [path.join(snapshots, 'snap-2026-11-25')] });
    expect(snap?.tags).toContain('bolt.snapshot=snap-2026-11-25');

    fs.appendFileSync(path.join(data, 'index.html'), '<p>changed</p>\n');
    await d.waitFor(/backup finished(?:.|\n)*backup finished(?:.|\n)*backup finished/);
    backups = await listBackups(site, config);
    expect(backups.find((b) => b.tags.includes('bolt.trigger=on_file_changes'))).toMatchObject({ paths: [data] });
    expect(backups).toHaveLength(3);
    expect(await d.stop()).toBe(0);
    const state = new StateStore(site.stateDir).read();
    expect(state.triggers.after_snapshot?.seen).toEqual(['snap-2026-11-25']);
    expect(state.watches).toMatchObject({ watched_dirs: 1, unwatched_dirs: 0 });
  });

  it('waits for a hook run holding the host-wide lock and coalesces triggers that fire meanwhile', async () => {
    // The repository is on S3 behind a proxy that uploads at 1 MiB/s: the hook's run takes seconds.
    const s3 = await slowS3('hook', {});
    cleanups.push(() => s3.proxy.close());
    const site = await makeSite(path.join(tmp, 'hook'), { repository: s3.repository, storageLines: s3.storageLines });
    s3.proxy.setPlan({ uploadRate: 1024 * 1024 });
    const data = path.join(site.dir, 'data');
    writeData(data, { 'big.bin': 4 * 1024 * 1024, 'small.txt': 'x' });
    const config = site.boltfile([
      '[backups.triggers]',
      'before_surge_operations = true',
      'on_file_changes = true',
      'debounce = "200ms"',
      'min_interval = "0s"',
      '[backups.include]',
      `custom_paths = [${JSON.stringify(data)}]`,
    ]);
    const d = daemon(site, config);
    await d.waitFor(/armed: on_file_changes/);
    const hook = spawn(process.execPath, [path.join(repoRoot, 'test', 'daemon', 'helpers', 'hook-run.mjs'), config], { env: { ...process.env, ...site.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let hookOut = '';
    hook.stdout.on('data', (b: Buffer) => (hookOut += b.toString()));
    const hookDone = new Promise<number | null>((resolve) => hook.on('exit', resolve));
    const runLock = path.join(site.stateDir, 'run.lock');
    for (let i = 0; i < 100 && lockHolder(runLock)?.pid !== hook.pid; i++) await new Promise((r) => setTimeout(r, 50));
    expect(lockHolder(runLock)).toMatchObject({ pid: hook.pid, purpose: 'backup (before_surge_operations)' });

    fs.writeFileSync(path.join(data, 'small.txt'), 'first change');
    await d.waitFor(new RegExp(`waiting for the backup already running \\(pid ${hook.pid} on [^,]+, backup \\(before_surge_operations\\)`));
    fs.writeFileSync(path.join(data, 'small.txt'), 'second change');
    await d.waitFor(/on_file_changes: queued behind the running backup/);
    fs.writeFileSync(path.join(data, 'small.txt'), 'third change');
    await d.waitFor(/on_file_changes: coalesced with its pending run/);
    expect(lockHolder(runLock)?.pid).toBe(hook.pid);

    expect(await hookDone).toBe(0);
    expect(JSON.parse(hookOut)).toMatchObject({ triggers: ['before_surge_operations'], result: 'success' });
    await d.waitFor(/backup finished(?:.|\n)*backup finished/, 60_000);
    expect(await d.stop()).toBe(0);
    expect(d.stdout().match(/backup started/g)).toHaveLength(2);
    const state = new StateStore(site.stateDir).read();
    expect(state.triggers.before_surge_operations?.runs).toEqual({ success: 1 });
    expect(state.triggers.on_file_changes?.runs).toEqual({ success: 2 });
    const tags = (await listBackups(site, config)).map((b) => b.tags.find((t) => t.startsWith('bolt.trigger=')));
    expect(tags.sort()).toEqual(['bolt.trigger=before_surge_operations', 'bolt.trigger=on_file_changes', 'bolt.trigger=on_file_changes']);
  });

  it('backup auto enable writes the unit and records the state; a running daemon follows disable and enable', async () => {
    const site = await makeSite(path.join(tmp, 'auto'));
    const data = path.join(site.dir, 'data');
    writeData(data, { 'f.txt': 'x' });
    const unitDir = path.join(site.dir, 'systemd');
    const env = { BOLT_AGENT_SYSTEMD_DIR: unitDir };
    const config = site.boltfile(['[backups.triggers]', 'daily = "02:00"', 'on_file_changes = true', 'debounce = "200ms"', 'min_interval = "0s"', '[backups.include]', `custom_paths = [${JSON.stringify(data)}]`]);

    const enable = site.agent(['--config', config, 'backup', 'auto', 'enable'], env);
    expect(enable.code).toBe(0);
    const unit = fs.readFileSync(path.join(unitDir, 'bolt-agent.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${path.join(repoRoot, 'bin', 'bolt-agent.js')} --config ${config} daemon\n`);
    expect(unit).toContain(`Environment=BOLT_AGENT_STATE_DIR=${site.stateDir}\n`);
    expect(unit).toMatch(/KillSignal=SIGTERM[\s\S]*WantedBy=multi-user.target/);
    expect(enable.stdout).toMatch(fs.existsSync('/run/systemd/system') ? /systemctl daemon-reload && systemctl enable --now bolt-agent.service/ : /systemd is not running on this host/);

    const status = JSON.parse(site.agent(['--json', '--config', config, 'backup', 'auto', 'status'], env).stdout) as {
      enabled: boolean;
      daemon: { running: boolean };
      triggers: { trigger: string; enabled: boolean; next_at: string | null; next_note: string | null; last_run: unknown }[];
    };
    expect(status.enabled).toBe(true);
    expect(status.daemon.running).toBe(false);
    expect(status.triggers.map((t) => t.trigger)).toEqual(['daily', 'weekly', 'monthly', 'after_snapshot', 'on_container_changes', 'on_file_changes', 'before_surge_operations']);
    const daily = status.triggers[0];
    const expectedNext = new Date();
    expectedNext.setUTCHours(2, 0, 0, 0);
    if (expectedNext.getTime() <= Date.now()) expectedNext.setUTCDate(expectedNext.getUTCDate() + 1);
    expect(daily).toMatchObject({ enabled: true, next_at: expectedNext.toISOString(), last_run: null });
    expect(status.triggers[5]).toMatchObject({ trigger: 'on_file_changes', enabled: true, next_note: 'on event' });

    const d = daemon(site, config);
    await d.waitFor(/armed: daily, on_file_changes/);
    fs.writeFileSync(path.join(data, 'f.txt'), 'one');
    await d.waitFor(/backup finished/);
    const human = site.agent(['--config', config, 'backup', 'auto', 'status'], env).stdout;
    expect(human).toMatch(/^automatic backups: enabled/);
    expect(human).toMatch(new RegExp(`daemon: running, pid ${d.child.pid}`));
    expect(human).toMatch(/on_file_changes +changes below the include paths +on event +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d success [0-9a-f]{8}/);

    const disable = site.agent(['--config', config, 'backup', 'auto', 'disable'], env);
    expect(disable.code).toBe(0);
    expect(fs.existsSync(path.join(unitDir, 'bolt-agent.service'))).toBe(false);
    await d.waitFor(/triggers disarmed, idling/, 10_000);
    fs.writeFileSync(path.join(data, 'f.txt'), 'two');
    await new Promise((r) => setTimeout(r, 800));
    expect(d.stdout().match(/backup started/g)).toHaveLength(1);
    expect(site.agent(['--config', config, 'backup', 'auto', 'status'], env).stdout).toMatch(/^automatic backups: disabled/);

    expect(site.agent(['--config', config, 'backup', 'auto', 'enable'], env).code).toBe(0);
    await d.waitFor(/armed:(?:.|\n)*armed:/, 10_000);
    expect(await d.stop()).toBe(0);
  });

  it('says clearly when the kernel inotify limit is reached, and still watches what it could', async () => {
    const site = await makeSite(path.join(tmp, 'limit'));
    const data = path.join(site.dir, 'tree');
    for (let i = 0; i < 60; i++) fs.mkdirSync(path.join(data, `d${i % 6}`, `e${i}`), { recursive: true });
    const config = site.boltfile(['[backups.triggers]', 'on_file_changes = true', 'debounce = "200ms"', 'min_interval = "0s"', '[backups.include]', `custom_paths = [${JSON.stringify(data)}]`]);
    // A user namespace of its own, whose inotify limit (user.max_inotify_watches) is 30: the
    // kernel refuses the 31st watch with ENOSPC. BOLT_AGENT_MAX_WATCHES lifts bolt-agent's own
    // budget above it, so the kernel's limit is what stops it.
    const wrap = ['unshare', '--user', '--map-root-user', 'sh', '-c', 'echo 30 > /proc/sys/user/max_inotify_watches && exec "$@"', 'sh'];
    const d = daemon(site, config, [], { BOLT_AGENT_MAX_WATCHES: '1000' }, wrap);
    const [message] = await d.waitFor(/on_file_changes: watching 30 of 67 directories[^\n]*/);
    expect(message).toContain("the kernel's inotify watch limit was reached (fs.inotify.max_user_watches = ");
    expect(message).toContain('user.max_inotify_watches = 30)');
    expect(message).toContain('changes in the other 37 are not seen');
    expect(message).toMatch(/sysctl -w user\.max_inotify_watches=\d+/);
    fs.writeFileSync(path.join(data, 'top.txt'), 'seen: the top directory is watched');
    await d.waitFor(/backup finished/);
    expect(await d.stop()).toBe(0);
    const state = new StateStore(site.stateDir).read();
    expect(state.watches).toMatchObject({ watched_dirs: 30, unwatched_dirs: 37 });

    // Without the override bolt-agent keeps to half the limit.
    const d2 = daemon(site, config, [], {}, wrap);
    await d2.waitFor(/watching 15 of 67 directories[^\n]*watch budget of 15 is used up \(half of /);
    expect(await d2.stop()).toBe(0);
  });
});
