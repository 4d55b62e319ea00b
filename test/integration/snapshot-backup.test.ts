// On a real btrfs filesystem: `snapshot-backup create` (a kept, named snapshot in Bolt's
// snapshot_path plus a backup read from it, linked both ways), `snapshot-backup emergency-restore`
// (safety snapshot, restore, read-back verification, and roll-back instructions that really roll
// back), and `hook before-surge`.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resticOk, RESTIC_014 } from '../helpers/restic.ts';
import { getCore } from '../../src/native/index.ts';
import { recheckFile } from '../../src/engine/recheck.ts';
import { StateStore } from '../../src/scheduler/state.ts';
import { makeBtrfs, type BtrfsFixture } from '../snapshots/btrfs-fixture.ts';
import { makeHost, PASSWORD, type Host } from './host.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-snapshot-backup-'));
let btrfs: BtrfsFixture;
let host: Host;
let bolt: string;
let app: string;
let appMeta: string;
let snapshots: string;
let config: string;

function contents(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const key = rel ? `${rel}/${name}` : name;
      if (fs.lstatSync(full).isDirectory()) {
        out[key] = 'dir';
        walk(full, key);
      } else out[key] = crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex');
    }
  };
  walk(root, '');
  return out;
}

beforeAll(async () => {
  btrfs = makeBtrfs(path.join(tmp, 'fs'));
  bolt = path.join(btrfs.mnt, 'bolt');
  snapshots = path.join(btrfs.mnt, 'snapshots');
  host = await makeHost(path.join(tmp, 'host'), { boltRoot: bolt });
  app = btrfs.subvolume('bolt/volumes/app');
  appMeta = path.join(bolt, 'volumes', 'app.json');
  fs.writeFileSync(appMeta, '{"name":"app","driver":"local"}');
  fs.mkdirSync(path.join(app, 'uploads'));
  fs.writeFileSync(path.join(app, 'settings.json'), '{"version":1}');
  fs.writeFileSync(path.join(app, 'uploads', 'a.bin'), crypto.randomBytes(300_000));
  fs.writeFileSync(path.join(app, 'uploads', 'b.txt'), 'bee\n');
  config = host.boltfile(
    ['project = "site"', '[services.app]', 'volumes = ["app:/srv/data"]', '[snapshots]', 'enabled = true', 'filesystem = "btrfs"', `snapshot_path = ${JSON.stringify(snapshots)}`],
    ['[backups.include]', 'bolt_config = false'],
  );
});
afterAll(() => {
  btrfs?.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface SnapshotBackupJson {
  name: string;
  directory: string;
  metadata_file: string;
  snapshots: { kind: string; source: string; path: string }[];
  backup: { id: string; short_id: string; name: string; paths: string[]; tags: string[] };
}

describe('snapshot-backup create', () => {
  it("keeps a named read-only snapshot in Bolt's snapshot_path and a backup read from it, linked both ways", () => {
    const r = host.agent(['--config', config, '--json', 'snapshot-backup', 'create', '--name', 'pre-upgrade', '--description', 'before 2.0']);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as SnapshotBackupJson;
    expect(out.directory).toBe(path.join(snapshots, 'pre-upgrade'));
    expect(out.snapshots.map((s) => [s.kind, s.source, path.relative(out.directory, s.path)])).toEqual([
      ['btrfs', btrfs.mnt, `${path.relative('/', btrfs.mnt).replace(/\//g, '-')}`],
      ['btrfs', app, `${path.relative('/', app).replace(/\//g, '-')}`],
    ]);
    for (const s of out.snapshots) {
      const shown = spawnSync('btrfs', ['subvolume', 'show', s.path], { encoding: 'utf8' }).stdout;
      expect(shown).toMatch(/Flags:\s+readonly/);
    }
    // Backup → snapshot: its name and the bolt.snapshot tag, as restic shows them.
    expect(out.backup).toMatchObject({ name: 'pre-upgrade', paths: [app, appMeta] });
    const [listed] = JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json', '--tag', 'bolt.snapshot=pre-upgrade'])) as { id: string; paths: string[]; tags: string[] }[];
    expect(listed?.id).toBe(out.backup.id);
    expect(listed?.tags).toEqual(['bolt.name=pre-upgrade', 'bolt.snapshot=pre-upgrade', 'bolt.project=site', 'bolt.service=app', 'bolt.volume=app', 'bolt.trigger=manual', `host=${os.hostname()}`]);
    // Snapshot → backup: the metadata beside the snapshots.
    const meta = JSON.parse(fs.readFileSync(out.metadata_file, 'utf8')) as { kind: string; description: string; backup: { id: string; repository: string }; paths: string[] };
    expect(out.metadata_file).toBe(path.join(out.directory, 'bolt-agent.json'));
    expect(meta).toMatchObject({ kind: 'snapshot-backup', description: 'before 2.0', backup: { id: out.backup.id, repository: host.repo }, paths: [app, appMeta] });
    expect(host.agent(['--config', config, '--json', 'backup', 'show', 'pre-upgrade']).stdout).toContain(out.backup.id);
    // What the backup holds is what the kept snapshot holds.
    const restored = path.join(tmp, 'restored-kept');
    resticOk(RESTIC_014, host.repo, PASSWORD, ['restore', out.backup.id, '--target', restored]);
    expect(contents(path.join(restored, app))).toEqual(contents(out.snapshots[1]?.path as string));

    const again = host.agent(['--config', config, 'snapshot-backup', 'create', '--name', 'pre-upgrade']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`error: a snapshot named pre-upgrade already exists in ${snapshots}`);
  });

  it('refuses a snapshot_path on another filesystem and when nothing is on btrfs, leaving nothing behind', () => {
    const elsewhere = path.join(tmp, 'ext4-snapshots');
    const r = host.agent(['--config', config, 'snapshot-backup', 'create', '--name', 'x'], { BOLT_AGENT_SNAPSHOT_PATH: elsewhere });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: snapshot_path ${elsewhere} is not on the btrfs filesystem of ${btrfs.mnt}, and a btrfs snapshot stays on its filesystem`);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    expect(fs.readdirSync(snapshots)).toEqual(['pre-upgrade']);

    const plain = path.join(tmp, 'plain');
    fs.mkdirSync(plain);
    fs.writeFileSync(path.join(plain, 'f'), 'f');
    const ext4Only = host.boltfile(['[snapshots]', `snapshot_path = ${JSON.stringify(snapshots)}`], ['[backups.include]', 'bolt_config = false', 'container_volumes = false', `custom_paths = [${JSON.stringify(plain)}]`], 'ext4.toml');
    const none = host.agent(['--config', ext4Only, 'snapshot-backup', 'create', '--name', 'y']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("error: none of the backup's paths is on btrfs or ZFS (with snapshots available), so there is nothing to snapshot");
    expect(fs.readdirSync(snapshots)).toEqual(['pre-upgrade']);
  });
});

interface EmergencyJson {
  safety: { snapshots: { source: string; path: string }[]; unprotected: unknown[] };
  restore: { files_restored: number; files_rechecked: number; problems: unknown[] };
  verification: { ok: boolean; files_checked: number; files_restored: number };
  rollback: string[];
}

describe('snapshot-backup emergency-restore', () => {
  it('takes a safety snapshot, restores, verifies every file, and prints a roll-back that works', () => {
    const atBackup = contents(app);
    // Damage after the backup: a changed file, a deleted one, a new one, changed metadata.
    fs.writeFileSync(path.join(app, 'settings.json'), '{"version":2,"broken":true}');
    fs.rmSync(path.join(app, 'uploads', 'b.txt'));
    fs.writeFileSync(path.join(app, 'uploads', 'new.txt'), 'added later');
    fs.writeFileSync(appMeta, '{"name":"app","driver":"broken"}');
    const damaged = contents(app);
    const damagedMeta = fs.readFileSync(appMeta, 'utf8');

    const r = host.agent(['--config', config, '--json', 'snapshot-backup', 'emergency-restore', 'pre-upgrade']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as EmergencyJson;
    expect(out.safety.unprotected).toEqual([]);
    expect(out.safety.snapshots.map((s) => s.source)).toEqual([btrfs.mnt, app]);
    expect(out.safety.snapshots[1]?.path).toMatch(new RegExp(`^${snapshots}/safety-\\d{8}T\\d{6}Z/`));
    // The safety snapshot holds the state from just before the restore.
    expect(contents(out.safety.snapshots[1]?.path as string)).toEqual(damaged);
    // The restore brought back what the backup holds (a restore adds and overwrites; it deletes nothing).
    expect(contents(app)).toEqual({ ...atBackup, 'uploads/new.txt': damaged['uploads/new.txt'] });
    expect(fs.readFileSync(appMeta, 'utf8')).toBe('{"name":"app","driver":"local"}');
    expect(out.verification).toEqual({ ok: true, files_checked: 4, files_restored: 4, problems: [] });
    expect(out.restore.files_rechecked).toBe(4);

    // Following the printed roll-back gives back the state before the restore.
    const rolled = spawnSync('sh', ['-c', out.rollback.join('\n')], { encoding: 'utf8' });
    expect(rolled.stderr).toBe('');
    expect(contents(app)).toEqual(damaged);
    expect(fs.readFileSync(appMeta, 'utf8')).toBe(damagedMeta);
    expect(out.rollback.some((l) => l.startsWith(`mv ${app} ${app}.after-restore-`))).toBe(true);
  });

  it('restores into a new target, with a roll-back that removes it', () => {
    const target = path.join(btrfs.mnt, 'scratch', 'restore-1');
    const r = host.agent(['--config', config, 'snapshot-backup', 'emergency-restore', 'pre-upgrade', '--target', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/verified: all 4 restored files were read back and match the backup/);
    expect(r.stdout).toContain(`# ${target}: before the restore it was not there\n  rm -rf --one-file-system ${target}`);
    expect(fs.readFileSync(path.join(target, app, 'settings.json'), 'utf8')).toBe('{"version":1}');
  });

  it('read-back verification notices content that is not what the backup holds', async () => {
    const core = await getCore();
    const file = path.join(tmp, 'recheck.bin');
    const parts = [crypto.randomBytes(5000), crypto.randomBytes(7000)];
    fs.writeFileSync(file, Buffer.concat(parts));
    const node = {
      path: Buffer.from(file),
      displayPath: file,
      kind: 'file' as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      atime: { sec: 0, nsec: 0 },
      mtime: { sec: 0, nsec: 0 },
      xattrs: [],
      size: 12000,
      chunks: parts.map((p) => ({ id: crypto.createHash('sha256').update(p).digest(), length: p.length })),
    };
    expect(await recheckFile(core, node, 'sha256')).toBeUndefined();
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from('X'), 0, 1, 6000);
    fs.closeSync(fd);
    expect(await recheckFile(core, node, 'sha256')).toBe('the restored content differs from the backup in chunk 2 (bytes 5000-11999)');
    fs.truncateSync(file, 11000);
    expect(await recheckFile(core, node, 'sha256')).toBe('the restored file has 11000 bytes, the backup 12000');
  });
});

describe('hook before-surge', () => {
  it('does nothing, quietly, unless triggers.before_surge_operations is on', () => {
    const before = (JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json'])) as unknown[]).length;
    const r = host.agent(['--config', config, 'hook', 'before-surge', 'app']);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json']))).toHaveLength(before);
  });

  it("backs up the services' volumes from snapshots as before-surge-up, through the shared run", () => {
    const surge = host.boltfile(
      ['project = "site"', '[services.app]', 'volumes = ["app:/srv/data"]', '[services.proxy]', 'image = "nginx"'],
      ['[backups.triggers]', 'before_surge_operations = true'],
      'surge.toml',
    );
    const r = host.agent(['--config', surge, 'hook', 'before-surge', 'app']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`reading ${app} from snapshot ${btrfs.mnt}/.bolt-agent-snapshots/tmp-`);
    expect(r.stdout).toMatch(/^backup [0-9a-f]{8} \(before-surge-up\) saved: 2 path\(s\)/);
    const latest = (JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json', 'latest'])) as { paths: string[]; tags: string[] }[])[0];
    expect(latest?.paths).toEqual([app, appMeta]);
    expect(latest?.tags).toEqual(['bolt.name=before-surge-up', 'bolt.trigger=before_surge_operations', 'bolt.project=site', 'bolt.service=app', 'bolt.volume=app', `host=${os.hostname()}`]);
    const state = new StateStore(host.env['BOLT_AGENT_STATE_DIR'] as string).read();
    expect(state.last_run).toMatchObject({ triggers: ['before_surge_operations'], result: 'success', paths: [app, appMeta] });
    expect(fs.readdirSync(path.join(btrfs.mnt, '.bolt-agent-snapshots'))).toEqual([]);

    // A service without volumes has nothing to back up: exit 0, no backup.
    const none = host.agent(['--config', surge, '--verbose', 'hook', 'before-surge', 'proxy']);
    expect(none.code).toBe(0);
    expect(none.stderr).toContain('hook before-surge: nothing to do: service proxy has no volumes or bind mounts on this host');
  });
});
