// Consistent `backup create` on a real btrfs filesystem: a writer keeps appending to the files of
// a volume during the backup, and the restore (by restic 0.14, the oracle) equals the snapshot
// instant byte for byte while recording the original paths; the same for a ghostsnap repository;
// service commands run around the snapshot; the temporary snapshot is gone after an interrupted
// run and after SIGINT.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, cleanEnv } from '../helpers/cli.ts';
import { resticOk, RESTIC_014 } from '../helpers/restic.ts';
import { BackupError } from '../../src/backup/errors.ts';
import { BackupManager } from '../../src/backup/manager.ts';
import { loadConfig } from '../../src/config/load.ts';
import { makeBtrfs, type BtrfsFixture } from '../snapshots/btrfs-fixture.ts';
import { makeHost, PASSWORD, type Host } from './host.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-consistency-'));
let btrfs: BtrfsFixture;
let host: Host;
let bolt: string;
let holder: string;

beforeAll(async () => {
  btrfs = makeBtrfs(path.join(tmp, 'fs'));
  bolt = path.join(btrfs.mnt, 'bolt');
  holder = path.join(btrfs.mnt, '.bolt-agent-snapshots');
  host = await makeHost(path.join(tmp, 'host'), { boltRoot: bolt });
});
afterAll(() => {
  btrfs?.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Relative path → sha256 of every file below `root` (and "dir" for directories). */
function contents(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const key = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(full);
      if (st.isDirectory()) {
        out[key] = 'dir';
        walk(full, key);
      } else out[key] = crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex');
    }
  };
  walk(root, '');
  return out;
}

function volume(name: string, files: Record<string, string | number>): string {
  const dir = btrfs.subvolume(`bolt/volumes/${name}`);
  fs.writeFileSync(path.join(bolt, 'volumes', `${name}.json`), JSON.stringify({ name }));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), typeof content === 'number' ? crypto.randomBytes(content) : content);
  }
  return dir;
}

function snapshotsLeft(): string[] {
  return fs.existsSync(holder) ? fs.readdirSync(holder) : [];
}

describe('consistent backup create on btrfs', () => {
  it('restores exactly the snapshot instant while a writer keeps appending, under the original paths', async () => {
    const files: Record<string, number> = {};
    for (let i = 0; i < 24; i++) files[`table-${String(i).padStart(2, '0')}.dat`] = 150_000;
    const db = volume('pg', files);
    const config = host.boltfile(['project = "shop"', '[services.db]', 'volumes = ["pg:/var/lib/postgresql/data"]'], ['[backups.include]', 'bolt_config = false']);
    // Appends a numbered record to every file in turn, about a thousand rounds a second.
    const writer: ChildProcess = spawn(process.execPath, [
      '-e',
      `const fs = require('fs'); const path = require('path'); const dir = ${JSON.stringify(db)};
       const fds = fs.readdirSync(dir).map((f) => fs.openSync(path.join(dir, f), 'a'));
       const pause = new Int32Array(new SharedArrayBuffer(4));
       for (let n = 0; ; n++) { for (const fd of fds) fs.writeSync(fd, 'record ' + n + '\\n'); if (n === 20) process.stdout.write('writing\\n'); Atomics.wait(pause, 0, 0, 1); }`,
    ]);
    await new Promise<void>((resolve) => writer.stdout?.once('data', () => resolve()));
    const reference = path.join(tmp, 'instant');
    const sizeOf = (): number => fs.readdirSync(db).reduce((sum, f) => sum + fs.statSync(path.join(db, f)).size, 0);
    let atSnapshot = 0;
    const manager = host.manager(host.load(config), {
      // The snapshot is frozen: a copy of it taken now is the instant the backup must hold.
      onSnapshots: (taken) => {
        atSnapshot = sizeOf();
        const snap = taken.find((t) => t.source === db);
        expect(snap?.kind).toBe('btrfs');
        expect(spawnSync('cp', ['-a', snap?.readPath as string, reference]).status).toBe(0);
      },
    });
    const backend = await manager.open();
    let result;
    let afterBackup = 0;
    try {
      result = await backend.createBackup({ paths: manager.includePaths(), tags: [] });
      afterBackup = sizeOf();
    } finally {
      writer.kill('SIGKILL');
      await backend.close();
    }
    // The writer was appending all along: the live volume moved on during the backup.
    expect(afterBackup).toBeGreaterThan(atSnapshot);
    expect(result.backup.paths).toEqual([db, path.join(bolt, 'volumes', 'pg.json')]);
    expect(result.backup.tags).toEqual(['bolt.project=shop', 'bolt.service=db', 'bolt.volume=pg', 'bolt.trigger=manual', `host=${os.hostname()}`]);
    expect(snapshotsLeft()).toEqual([]);

    const restored = path.join(tmp, 'restored');
    resticOk(RESTIC_014, host.repo, PASSWORD, ['restore', result.backup.id, '--target', restored]);
    const got = contents(path.join(restored, db));
    expect(Object.keys(got)).toHaveLength(24);
    expect(got).toEqual(contents(reference));
    expect(got).not.toEqual(contents(db));
    // restic sees the original paths, not the snapshot's.
    const snapshots = JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json'])) as { paths: string[] }[];
    expect(snapshots.at(-1)?.paths).toEqual([db, path.join(bolt, 'volumes', 'pg.json')].sort());
  });

  it('runs the service commands around the snapshot: the dump made before it is in the backup, though removed right after', async () => {
    const data = volume('mysql', { 'ibdata1': 4096 });
    const log = path.join(tmp, 'hooks.log');
    const config = host.boltfile(
      ['project = "shop"', '[services.mysql]', 'volumes = ["mysql:/var/lib/mysql"]'],
      [
        '[backups.include]',
        'bolt_config = false',
        'container_volumes = false',
        '[backups.hooks.mysql]',
        `pre = "echo pre $BOLT_SERVICE $BOLT_PROJECT >> ${log} && echo 'INSERT 1;' > ${data}/dump.sql"`,
        `post = ["sh", "-c", "echo post >> ${log}; ls ${holder} | wc -l >> ${log}; rm ${data}/dump.sql"]`,
        'timeout = "20s"',
      ],
    );
    const r = host.agent(['--config', config, 'backup', 'create', '--include', data]);
    expect(r.stderr).toMatch(/running the pre command of service mysql\n(?:.*\n)*reading .*mysql from snapshot .*\nrunning the post command of service mysql/);
    expect(r.code).toBe(0);
    // post ran while the snapshot existed.
    expect(fs.readFileSync(log, 'utf8')).toBe('pre mysql shop\npost\n1\n');
    expect(fs.existsSync(path.join(data, 'dump.sql'))).toBe(false);
    const listing = resticOk(RESTIC_014, host.repo, PASSWORD, ['ls', 'latest', data]);
    expect(listing).toContain(path.join(data, 'dump.sql'));
    expect(snapshotsLeft()).toEqual([]);
  });

  it("a failing pre command skips that service's data with a clear error, still runs its post, and backs up the rest", () => {
    const a = volume('orders', { 'o.db': 'orders' });
    const b = volume('search', { 'idx': 'index' });
    const marker = path.join(tmp, 'orders-post');
    const config = host.boltfile(
      ['project = "shop"', '[services.orders]', 'volumes = ["orders:/data"]', '[services.search]', 'volumes = ["search:/data"]'],
      [
        '[backups.include]',
        'bolt_config = false',
        'container_volumes = false',
        '[backups.hooks.orders]',
        `pre = "echo 'cannot flush tables' >&2; exit 3"`,
        `post = "touch ${marker}"`,
        '[backups.hooks.search]',
        'pre = "sleep 5"',
        'timeout = "300ms"',
      ],
    );
    const r = host.agent(['--config', config, '--json', 'backup', 'create', '--include', a, '--include', b]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pre command of service orders (echo 'cannot flush tables' >&2; exit 3) failed with exit code 3: cannot flush tables`);
    expect(r.stderr).toContain('pre command of service search (sleep 5) timed out after 300 ms');
    expect(r.stderr).toContain('"error":"OperationFailed"');
    expect(fs.existsSync(marker)).toBe(true);
    expect(snapshotsLeft()).toEqual([]);

    // Only one of the services fails: the other is backed up, the run ends with exit 3.
    const partial = host.boltfile(
      ['[services.orders]', 'volumes = ["orders:/data"]', '[services.search]', 'volumes = ["search:/data"]'],
      ['[backups.include]', 'bolt_config = false', 'container_volumes = false', '[backups.hooks.orders]', 'pre = "exit 1"'],
      'partial.toml',
    );
    const p = host.agent(['--config', partial, '--json', 'backup', 'create', '--include', a, '--include', b, '--include', path.join(bolt, 'volumes', 'orders.json'), '--include', path.join(bolt, 'volumes', 'search.json')]);
    expect(p.code).toBe(3);
    const out = JSON.parse(p.stdout) as { backup: { paths: string[]; tags: string[] }; problems: { path: string; error: string }[]; consistency: { hooks: { service: string; ok: boolean }[] } };
    expect(out.backup.paths).toEqual([b, path.join(bolt, 'volumes', 'search.json')]);
    expect(out.backup.tags).toContain('bolt.service=search');
    expect(out.backup.tags).not.toContain('bolt.service=orders');
    expect(out.problems).toEqual([
      { path: a, error: 'not backed up: the pre command of service orders (exit 1) failed with exit code 1' },
      { path: path.join(bolt, 'volumes', 'orders.json'), error: 'not backed up: the pre command of service orders (exit 1) failed with exit code 1' },
    ]);
    expect(out.consistency.hooks).toMatchObject([{ service: 'orders', ok: false }]);
  });

  it('records the live device, not the snapshot\'s: an unchanged volume backed up from two snapshots keeps its trees', async () => {
    // Each btrfs snapshot is a subvolume with a device number of its own: recorded as read, every
    // node's device_id would change from run to run, so every tree would be stored again and no
    // directory could be settled by its previous tree (restic issue 3041).
    const data = volume('stable', { 'a.dat': 3000, 'b.txt': 'bee\n', 'deep/c.txt': 'sea\n' });
    const config = host.boltfile(['project = "shop"', '[services.stable]', 'volumes = ["stable:/srv"]'], ['[backups.include]', 'bolt_config = false', 'container_volumes = false']);
    const run = (): { backup: { id: string }; summary: Record<string, number> } => {
      const r = host.agent(['--config', config, '--json', 'backup', 'create', '--include', data]);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { backup: { id: string }; summary: Record<string, number>; consistency: { snapshots: { source: string }[] } };
      expect(out.consistency.snapshots.map((s) => s.source)).toContain(data);
      return out;
    };
    // A snapshot kept from before (as snapshot-backup keeps them) holds a device number while the
    // first run snapshots, and lets it go before the second: the two runs read from snapshots
    // with different device numbers. It lives in a directory of its own, so that neither making
    // nor deleting it changes a directory the backups record.
    const keep = path.join(btrfs.mnt, 'keep');
    fs.mkdirSync(keep);
    const kept = path.join(keep, 'stable');
    expect(spawnSync('btrfs', ['subvolume', 'snapshot', '-r', data, kept]).status).toBe(0);
    expect(fs.statSync(path.join(kept, 'a.dat')).dev).not.toBe(fs.statSync(data).dev);
    const first = run();
    expect(spawnSync('btrfs', ['subvolume', 'delete', kept]).status).toBe(0);
    const second = run();
    expect(second.summary['files_unmodified']).toBe(3);
    // The volume's own tree is the same in both (the directories above it may differ: other tests
    // create and delete things beside them meanwhile).
    type Node = { name: string; subtree?: string; device_id?: number };
    const nodesOf = (id: string): Node[] => (JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['cat', 'blob', id])) as { nodes: Node[] }).nodes;
    const volumeTree = (snapshot: string): string => {
      let tree = (JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['cat', 'snapshot', snapshot])) as { tree: string }).tree;
      for (const part of data.split('/').filter(Boolean)) tree = nodesOf(tree).find((n) => n.name === part)?.subtree as string;
      return tree;
    };
    expect(first.backup.id).not.toBe(second.backup.id);
    expect(volumeTree(second.backup.id)).toBe(volumeTree(first.backup.id));
    // restic reads the live volume's device in the nodes, as a backup of the live path records it.
    const file = nodesOf(volumeTree(second.backup.id)).find((n) => n.name === 'a.dat');
    expect(file?.device_id).toBe(fs.statSync(data).dev);
    expect(snapshotsLeft()).toEqual([]);
  });

  it('reads from the snapshot for ghostsnap repositories too, and the re-checked restore matches the instant', async () => {
    const data = volume('ghost', { 'a.bin': 20_000, 'b.txt': 'bee\n' });
    const instant = contents(data);
    const file = path.join(tmp, 'ghostsnap.toml');
    fs.writeFileSync(file, ['[backups]', 'tool = "ghostsnap"', `repository = ${JSON.stringify(path.join(tmp, 'ghost-repo'))}`, `password_file = ${JSON.stringify(host.passwordFile)}`, ''].join('\n'));
    const effective = loadConfig({ flags: { config: file }, env: host.env });
    await new BackupManager(effective, { warn: () => {}, debug: () => {} }).init(path.join(tmp, 'ghost-repo'));
    const manager = host.manager(effective, { onSnapshots: () => fs.appendFileSync(path.join(data, 'b.txt'), 'written after the snapshot\n') });
    const backend = await manager.open();
    try {
      const created = await backend.createBackup({ paths: [data] });
      expect(created.backup.paths).toEqual([data]);
      const target = path.join(tmp, 'ghost-restored');
      const restored = await backend.restoreBackup(created.backup.id, { target, recheck: true });
      expect(restored).toMatchObject({ files_restored: 2, files_rechecked: 2, problems: [] });
      expect(contents(target)).toEqual(instant);
    } finally {
      await backend.close();
    }
    expect(snapshotsLeft()).toEqual([]);
  });

  it('removes the temporary snapshots when the backup is interrupted', async () => {
    const data = volume('cache', { blob: 10_000 });
    const controller = new AbortController();
    let seen: string[] = [];
    const manager = host.manager(host.load(host.boltfile([], ['[backups.include]', 'bolt_config = false'])), {
      onSnapshots: () => {
        seen = snapshotsLeft();
        controller.abort(new BackupError('Interrupted', 'interrupted by SIGTERM'));
      },
    });
    const backend = await manager.open();
    try {
      await expect(backend.createBackup({ paths: [data], signal: controller.signal })).rejects.toThrow('interrupted by SIGTERM');
    } finally {
      await backend.close();
    }
    expect(seen).toHaveLength(1);
    expect(snapshotsLeft()).toEqual([]);
  });

  it('removes the temporary snapshots on SIGINT, after letting the post command finish', async () => {
    const data = volume('queue', { 'q.db': 50_000 });
    const marker = path.join(tmp, 'queue-post');
    const config = host.boltfile(['[services.queue]', 'volumes = ["queue:/data"]'], ['[backups.include]', 'bolt_config = false', 'container_volumes = false', '[backups.hooks.queue]', `post = "sleep 1; echo thawed > ${marker}"`], 'sigint.toml');
    const before = (JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json'])) as unknown[]).length;
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'bolt-agent.js'), '--config', config, 'backup', 'create', '--include', data], { env: cleanEnv(host.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    for (let i = 0; i < 400 && !stderr.includes('running the post command'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(snapshotsLeft()).toHaveLength(1);
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(stderr).toContain('SIGINT: stopping at the next safe point');
    expect(stderr).toContain('error: interrupted by SIGINT');
    expect(fs.readFileSync(marker, 'utf8')).toBe('thawed\n');
    expect(snapshotsLeft()).toEqual([]);
    expect(JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json']))).toHaveLength(before);
  });
});
