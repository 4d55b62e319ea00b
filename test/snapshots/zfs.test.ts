// ZFS without ZFS (this kernel has no zfs module): the logic above the libzfs_core boundary —
// datasets from the mount table, one atomic call per pool, reading from .zfs/snapshot/<name>,
// cleanup on failure, stale snapshots, auto vs required — against a recording ZfsCalls double
// whose "snapshot" is a frozen copy; and the native dlopen layer itself against a recording C
// library with libzfs_core's entry points. Neither is a real ZFS pool; docs/BOLT.md says so.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';
import { resticOk, RESTIC_014 } from '../helpers/restic.ts';
import { loadFsSnapshotCore } from '../../src/snapshots/fs-snapshot-core.ts';
import { MountTable } from '../../src/snapshots/mounts.ts';
import { planSnapshots, type SnapshotDeps } from '../../src/snapshots/plan.ts';
import { snapshotDatasets, type ZfsCalls } from '../../src/snapshots/zfs.ts';
import { BackupError } from '../../src/backup/errors.ts';
import { makeHost, PASSWORD, type Host } from '../integration/host.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-zfs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Records every call; a "snapshot" copies the dataset's files to <mount>/.zfs/snapshot/<name>, as ZFS shows one. */
class RecordingZfs implements ZfsCalls {
  calls: string[][] = [];
  available = true;
  failWith: Error | undefined;

  constructor(private readonly mounts: MountTable) {}

  status() {
    return this.available ? { available: true } : { available: false, message: 'libzfs_core is not installed (libzfs_core.so.3: cannot open shared object file)' };
  }

  private dir(name: string): string {
    const [dataset, snap] = name.split('@') as [string, string];
    const mount = this.mounts.mounts.find((m) => m.source === dataset);
    if (!mount) throw new Error(`no dataset ${dataset}`);
    return path.join(mount.mountPoint, '.zfs', 'snapshot', snap);
  }

  async snapshot(names: string[]): Promise<void> {
    this.calls.push(['snapshot', ...names]);
    if (this.failWith) throw this.failWith;
    for (const name of names) {
      const mountPoint = path.resolve(this.dir(name), '../../..');
      fs.mkdirSync(this.dir(name), { recursive: true });
      for (const entry of fs.readdirSync(mountPoint)) {
        if (entry !== '.zfs') fs.cpSync(path.join(mountPoint, entry), path.join(this.dir(name), entry), { recursive: true, preserveTimestamps: true });
      }
    }
  }

  destroy(names: string[]): void {
    this.calls.push(['destroy', ...names]);
    for (const name of names) fs.rmSync(this.dir(name), { recursive: true, force: true });
  }
}

function mountinfo(lines: [mountPoint: string, fstype: string, source: string][]): MountTable {
  return MountTable.parse(lines.map(([mp, type, source], i) => `${100 + i} 1 0:${50 + i} / ${mp.replace(/ /g, '\\040')} rw,relatime shared:1 - ${type} ${source} rw`).join('\n'));
}

describe('ZFS layer with a recording libzfs_core double', () => {
  const root = path.join(tmp, 'pools');
  const data = path.join(root, 'tank', 'data');
  const logs = path.join(root, 'tank', 'logs');
  const other = path.join(root, 'backup', 'x');
  const plain = path.join(root, 'plain');
  const mounts = mountinfo([
    ['/', 'ext4', '/dev/vda'],
    [data, 'zfs', 'tank/data'],
    [logs, 'zfs', 'tank/logs'],
    [other, 'zfs', 'backup/x'],
  ]);
  let zfs: RecordingZfs;
  let deps: SnapshotDeps;
  let host: Host;

  beforeAll(async () => {
    for (const d of [data, logs, other, plain]) fs.mkdirSync(d, { recursive: true });
    fs.mkdirSync(path.join(data, 'db'), { recursive: true });
    fs.writeFileSync(path.join(data, 'db', 'table'), 'rows 1-100\n');
    fs.writeFileSync(path.join(logs, 'app.log'), 'started\n');
    fs.writeFileSync(path.join(other, 'x'), 'x');
    fs.writeFileSync(path.join(plain, 'conf'), 'conf');
    const fsCore = await loadFsSnapshotCore();
    // Detection on this host says "ext4" everywhere; the fixture's mount table decides instead.
    deps = { fs: { ...fsCore, filesystemOf: (p) => (mounts.mountOf(p)?.fstype === 'zfs' ? 'zfs' : 'other') }, mounts, zfs: (zfs = new RecordingZfs(mounts)) };
    host = await makeHost(path.join(tmp, 'host'));
  });

  it('finds the dataset of each path and snapshots each pool in one atomic call', async () => {
    const plan = planSnapshots([path.join(data, 'db'), logs, other, plain], deps);
    expect(plan.units.map((u) => (u.kind === 'zfs' ? `zfs ${u.dataset.name} at ${u.root}` : `${u.kind} ${u.root}`))).toEqual([
      `live ${plain}`,
      `zfs backup/x at ${other}`,
      `zfs tank/data at ${data}`,
      `zfs tank/logs at ${logs}`,
    ]);
    zfs.calls = [];
    const made = await snapshotDatasets(zfs, plan.units.flatMap((u) => (u.kind === 'zfs' ? [u.dataset] : [])), 'n1');
    expect(made).toEqual(['backup/x@n1', 'tank/data@n1', 'tank/logs@n1']);
    expect(zfs.calls).toEqual([
      ['snapshot', 'backup/x@n1'],
      ['snapshot', 'tank/data@n1', 'tank/logs@n1'],
    ]);
    zfs.destroy(made);
    await expect(snapshotDatasets(zfs, [], 'bad name')).rejects.toThrow('"bad name" cannot name a ZFS snapshot');
  });

  it('backs up from the snapshot, records the original paths and destroys the snapshot', async () => {
    zfs.calls = [];
    const config = host.boltfile([], ['[backups.include]', `custom_paths = [${JSON.stringify(data)}, ${JSON.stringify(plain)}]`, 'bolt_config = false']);
    const manager = host.manager(host.load(config), {
      deps,
      // Once the snapshot exists, the live data moves on; the backup must not see it.
      onSnapshots: () => {
        fs.appendFileSync(path.join(data, 'db', 'table'), 'rows 101-200\n');
        fs.writeFileSync(path.join(data, 'db', 'late'), 'late');
      },
    });
    const backend = await manager.open();
    try {
      const result = await backend.createBackup({ paths: manager.includePaths(), tags: [] });
      expect(result.backup.paths).toEqual([data, plain]);
      const snapshotName = zfs.calls[0]?.[1]?.split('@')[1] ?? '';
      expect(snapshotName).toMatch(new RegExp(`^bolt-agent-tmp-${process.pid}-\\d{8}T\\d{6}Z$`));
      expect(zfs.calls).toEqual([
        ['snapshot', `tank/data@${snapshotName}`],
        ['destroy', `tank/data@${snapshotName}`],
      ]);
      expect(backend.lastReport?.live).toEqual([{ root: plain, why: 'on ext4 (no snapshots)' }]);
      const listed = resticOk(RESTIC_014, host.repo, PASSWORD, ['ls', '--json', result.backup.id])
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { path?: string })
        .flatMap((n) => (n.path ? [n.path] : []));
      expect(listed.filter((p) => p.startsWith(data))).toEqual([data, path.join(data, 'db'), path.join(data, 'db', 'table')]);
      const restored = path.join(tmp, 'restored-zfs');
      resticOk(RESTIC_014, host.repo, PASSWORD, ['restore', result.backup.id, '--target', restored]);
      expect(fs.readFileSync(path.join(restored, data, 'db', 'table'), 'utf8')).toBe('rows 1-100\n');
      expect(fs.existsSync(path.join(data, '.zfs', 'snapshot', snapshotName))).toBe(false);
    } finally {
      await backend.close();
    }
  });

  it('destroys the snapshot when the backup fails, and removes those of dead runs first', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    fs.mkdirSync(path.join(logs, '.zfs', 'snapshot', `bolt-agent-tmp-${dead}-20260101T000000Z`), { recursive: true });
    zfs.calls = [];
    const controller = new AbortController();
    const manager = host.manager(host.load(host.boltfile([], ['[backups.include]', `custom_paths = [${JSON.stringify(logs)}]`, 'bolt_config = false'])), {
      deps,
      onSnapshots: () => controller.abort(new BackupError('Interrupted', 'interrupted by SIGINT')),
    });
    const backend = await manager.open();
    try {
      await expect(backend.createBackup({ paths: manager.includePaths(), signal: controller.signal })).rejects.toThrow('interrupted by SIGINT');
    } finally {
      await backend.close();
    }
    const name = zfs.calls[1]?.[1] ?? '';
    expect(zfs.calls).toEqual([['destroy', `tank/logs@bolt-agent-tmp-${dead}-20260101T000000Z`], ['snapshot', name], ['destroy', name]]);
    expect(fs.readdirSync(path.join(logs, '.zfs', 'snapshot'))).toEqual([]);
  });

  it('reads live with a warning when ZFS cannot snapshot (auto), and refuses with the reason (required)', async () => {
    const file = host.boltfile([], ['[backups.include]', `custom_paths = [${JSON.stringify(other)}]`, 'bolt_config = false']);
    zfs.available = false;
    try {
      const backend = await host.manager(host.load(file), { deps }).open();
      const result = await backend.createBackup({ paths: [other] }).finally(() => backend.close());
      expect(result.problems).toEqual([]);
      expect(backend.lastReport?.live).toEqual([{ root: other, why: 'on ZFS dataset backup/x, but libzfs_core is not installed (libzfs_core.so.3: cannot open shared object file)' }]);

      const required = host.boltfile([], ['[backups.include]', `custom_paths = [${JSON.stringify(other)}]`, 'bolt_config = false', '[backups.consistency]', 'filesystem_snapshots = "required"'], 'required.toml');
      const strict = await host.manager(host.load(required), { deps }).open();
      const err = await strict.createBackup({ paths: [other] }).finally(() => strict.close()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).kind).toBe('ToolNotAvailable');
      expect((err as BackupError).message).toContain(`no snapshot can be taken of ${other} (on ZFS dataset backup/x, but libzfs_core is not installed`);
    } finally {
      zfs.available = true;
    }
    zfs.failWith = new BackupError('OperationFailed', 'cannot create ZFS snapshots backup/x@y: out of space');
    zfs.calls = [];
    try {
      const logged = host.logged.length;
      const backend = await host.manager(host.load(file), { deps }).open();
      await backend.createBackup({ paths: [other] }).finally(() => backend.close());
      expect(backend.lastReport?.live[0]?.why).toBe('its snapshot failed: cannot create ZFS snapshots backup/x@y: out of space');
      expect(host.logged.slice(logged).some((l) => l.startsWith(`warn: ${other}: ${other}: read live, its snapshot failed`))).toBe(true);
      expect(zfs.calls.map((c) => c[0])).toEqual(['snapshot']);
    } finally {
      zfs.failWith = undefined;
    }
  });
});

describe('native libzfs_core calls (dlopen) against a recording C library', () => {
  const lib = path.join(tmp, 'libfake_zfs_core.so');
  const log = path.join(tmp, 'lzc.log');

  beforeAll(() => {
    const cc = spawnSync('cc', ['-shared', '-fPIC', '-O1', '-o', lib, path.join(repoRoot, 'test', 'snapshots', 'fake-libzfs-core.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
  });

  /** Loads the addon in a fresh process (the library is looked up once per process). */
  function probe(env: Record<string, string>): Record<string, unknown> {
    const script = `
      const { createNativeFsSnapshotCore } = await import(${JSON.stringify(path.join(repoRoot, 'build/node/src/native/native-core.js'))});
      const { nativeZfsCalls } = await import(${JSON.stringify(path.join(repoRoot, 'build/node/src/snapshots/zfs.js'))});
      const zfs = nativeZfsCalls(createNativeFsSnapshotCore());
      const out = { status: zfs.status() };
      const attempt = async (key, fn) => { try { await fn(); out[key] = 'ok'; } catch (e) { out[key] = { kind: e.kind, message: e.message }; } };
      await attempt('snapshot', () => zfs.snapshot(['tank/a@s1', 'tank/b@s1']));
      await attempt('busy', () => zfs.snapshot(['tank/a@s2', 'tank/a@busy']));
      await attempt('destroy', () => zfs.destroy(['tank/a@s1', 'tank/b@s1']));
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, FAKE_LZC_LOG: log, ...env } });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  it('makes lzc_snapshot and lzc_destroy_snaps calls with nvlists of names and reports per-snapshot errors', () => {
    fs.rmSync(log, { force: true });
    const out = probe({ BOLT_AGENT_LIBZFS_CORE: lib });
    expect(out['status']).toEqual({ available: true, library: lib });
    expect(out['snapshot']).toBe('ok');
    expect(out['busy']).toEqual({ kind: 'OperationFailed', message: 'cannot create ZFS snapshots tank/a@s2, tank/a@busy: tank/a@busy: File exists (os error 17)' });
    expect(out['destroy']).toBe('ok');
    expect(fs.readFileSync(log, 'utf8')).toBe(['init', 'snapshot tank/a@s1 tank/b@s1', 'snapshot tank/a@s2 tank/a@busy', 'destroy tank/a@s1 tank/b@s1', ''].join('\n'));
  });

  it('says why when the library or /dev/zfs is missing', () => {
    const missing = probe({ BOLT_AGENT_LIBZFS_CORE: path.join(tmp, 'nowhere', 'libzfs_core.so.3') });
    expect(missing['status']).toEqual({ available: false, message: expect.stringMatching(/^libzfs_core is not installed \(.*nowhere\/libzfs_core\.so\.3: cannot open shared object file: No such file or directory\)$/) });
    expect(missing['snapshot']).toEqual({ kind: 'ToolNotAvailable', message: (missing['status'] as { message: string }).message });

    const noDevice = probe({ BOLT_AGENT_LIBZFS_CORE: lib, FAKE_LZC_NO_DEV: '1' });
    expect(noDevice['status']).toEqual({ available: false, message: `${lib} is installed, but cannot open /dev/zfs (No such file or directory (os error 2)): is the zfs kernel module loaded?` });

    // This host: no libzfs_core anywhere the loader looks (the machines have no ZFS).
    const host = probe({});
    const installed = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout.includes('libzfs_core.so');
    expect((host['status'] as { available: boolean }).available).toBe(installed);
    if (!installed) expect((host['status'] as { message: string }).message).toMatch(/^libzfs_core is not installed \(libzfs_core\.so\.3: /);
  });
});
