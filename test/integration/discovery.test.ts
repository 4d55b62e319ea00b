// The include set on a fixture Bolt host: Bolt volumes with their metadata, the Boltfile's bind
// mounts, the Boltfile and /etc/bolt, system and custom paths, excludes; default locations that are
// missing are notes, not errors; `backup create --dry-run` says what and why and writes nothing;
// `backup create` records the Bolt tags (restic 0.14 shows them).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resticOk, RESTIC_014 } from '../helpers/restic.ts';
import { BackupError } from '../../src/backup/errors.ts';
import { resolveIncludeSet } from '../../src/integration/include-set.ts';
import type { DryRunReport } from '../../src/integration/dry-run.ts';
import { makeHost, PASSWORD, type Host } from './host.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-discovery-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

describe('include set of a Bolt host', () => {
  let host: Host;
  let bolt: string;
  let etc: string;
  let config: string;
  const top = [
    'project = "homelab"',
    '[services.db]',
    'image = "postgres:16"',
    'volumes = ["db-data:/var/lib/postgresql/data"]',
    '[services.web]',
    'volumes = ["./site:/usr/share/nginx/html:ro", "cache:/var/cache/nginx"]',
    '[services.worker]',
    'volumes = ["jobs:/jobs", "./missing:/x", 42]',
    '[services.idle]',
    'image = "busybox"',
  ];

  beforeAll(async () => {
    host = await makeHost(path.join(tmp, 'host'));
    bolt = host.env['BOLT_AGENT_BOLT_ROOT'] as string;
    etc = host.env['BOLT_AGENT_BOLT_CONFIG_DIR'] as string;
    write(path.join(bolt, 'volumes', 'db-data', 'base', '1'), 'rows\n');
    write(path.join(bolt, 'volumes', 'db-data', 'pg.tmp'), 'scratch');
    write(path.join(bolt, 'volumes', 'db-data.json'), '{"name":"db-data"}');
    write(path.join(bolt, 'volumes', 'cache', 'tmp', 'x'), 'x');
    write(path.join(bolt, 'volumes', 'cache', 'keep'), 'k');
    write(path.join(bolt, 'volumes', 'cache.json'), '{"name":"cache"}');
    write(path.join(bolt, 'volumes', 'orphan', 'f'), 'nobody uses me');
    write(path.join(bolt, 'volumes', '.staging', 'f'), 'not a volume');
    write(path.join(host.dir, 'site', 'index.html'), '<h1>hi</h1>');
    write(path.join(etc, 'bolt.toml'), '# host settings');
    write(path.join(host.dir, 'sysconf', 'sshd_config'), 'Port 22');
    write(path.join(host.dir, 'custom', 'notes.txt'), 'notes');
    config = host.boltfile(top, [
      '[backups.include]',
      `system_config = [${JSON.stringify(path.join(host.dir, 'sysconf'))}]`,
      `custom_paths = [${JSON.stringify(path.join(host.dir, 'custom'))}]`,
      '[backups.exclude]',
      'patterns = ["*.tmp"]',
      `paths = [${JSON.stringify(path.join(bolt, 'volumes', 'cache', 'tmp'))}]`,
    ]);
    // The repository password lives in /etc/bolt, as on a real host.
    fs.copyFileSync(host.passwordFile, path.join(etc, 'backup-password'));
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace(JSON.stringify(host.passwordFile), JSON.stringify(path.join(etc, 'backup-password'))));
  });

  it('finds volumes, bind mounts, Bolt configuration and configured paths, each with its reason', () => {
    const set = resolveIncludeSet(host.load(config), { env: host.env });
    expect(set.entries.map((e) => [e.path, e.reason])).toEqual([
      [path.join(bolt, 'volumes', 'cache'), 'Bolt volume cache (used by service web)'],
      [path.join(bolt, 'volumes', 'cache.json'), 'metadata of Bolt volume cache'],
      [path.join(bolt, 'volumes', 'db-data'), 'Bolt volume db-data (used by service db)'],
      [path.join(bolt, 'volumes', 'db-data.json'), 'metadata of Bolt volume db-data'],
      [path.join(bolt, 'volumes', 'orphan'), 'Bolt volume orphan'],
      [path.join(host.dir, 'site'), 'bind mount of service web (./site:/usr/share/nginx/html:ro)'],
      [config, 'the Boltfile in use'],
      [etc, "Bolt's configuration directory"],
      [path.join(host.dir, 'sysconf'), 'include.system_config'],
      [path.join(host.dir, 'custom'), 'include.custom_paths'],
    ]);
    expect(set.entries.find((e) => e.volume === 'cache')?.services).toEqual(['web']);
    expect(set.skipped).toEqual([
      { path: config, reason: 'services.worker.volumes: 42 is not "host:container[:options]"; ignored' },
      { path: path.join(bolt, 'volumes', 'jobs'), reason: 'volume jobs of service worker does not exist (yet)' },
      { path: path.join(host.dir, 'missing'), reason: 'bind mount of service worker (./missing:/x) does not exist' },
    ]);
  });

  it('narrows to the volumes of given services, and names unknown ones', () => {
    const set = resolveIncludeSet(host.load(config), { env: host.env, services: ['db', 'idle'] });
    expect(set.entries.map((e) => e.path)).toEqual([path.join(bolt, 'volumes', 'db-data'), path.join(bolt, 'volumes', 'db-data.json')]);
    expect(set.skipped).toContainEqual({ path: 'service idle', reason: 'has no volumes or bind mounts' });
    const err = (() => {
      try {
        resolveIncludeSet(host.load(config), { env: host.env, services: ['db', 'nginx'] });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).message).toBe('unknown service nginx: the Boltfile defines db, web, worker, idle');
  });

  it('skips missing default locations with a note instead of failing', () => {
    const bare = makeHostEnv(path.join(tmp, 'bare'));
    const file = path.join(tmp, 'bare', 'Boltfile.toml');
    write(file, `[backups]\nrepository = "${path.join(tmp, 'bare', 'repo')}"\n[backups.include]\ncustom_paths = ["${path.join(host.dir, 'custom')}"]\n`);
    const set = resolveIncludeSet(host.load(file), { env: bare });
    expect(set.entries.map((e) => e.path)).toEqual([path.join(host.dir, 'custom')]);
    expect(set.skipped).toEqual([
      { path: path.join(bare['BOLT_AGENT_BOLT_ROOT'] as string, 'volumes'), reason: 'include.container_volumes: no Bolt volumes directory on this host' },
      { path: file, reason: 'include.bolt_config: it holds no Bolt project (only bolt-agent settings), so it is not backed up as Bolt configuration' },
      { path: bare['BOLT_AGENT_BOLT_CONFIG_DIR'], reason: 'include.bolt_config: not present on this host' },
    ]);
  });

  it('backup create --dry-run lists what would be read and left out, and why, and writes nothing', () => {
    const r = host.agent(['--config', config, '--json', 'backup', 'create', '--dry-run', '--exclude', 'keep', '--tag', 'weekly']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as DryRunReport;
    const byPath = Object.fromEntries(report.paths.map((p) => [p.path, p]));
    expect(byPath[path.join(bolt, 'volumes', 'db-data')]).toMatchObject({ type: 'dir', files: 1, dirs: 2, bytes: 5, services: ['db'], source: 'container_volume', read: 'live (on ext4 (no snapshots))' });
    expect(byPath[etc]).toMatchObject({ files: 1, reason: "Bolt's configuration directory" });
    expect(report.excluded).toEqual(
      expect.arrayContaining([
        { path: path.join(bolt, 'volumes', 'db-data', 'pg.tmp'), reason: 'matches exclude pattern "*.tmp"' },
        { path: path.join(bolt, 'volumes', 'cache', 'tmp'), reason: `below excluded path ${path.join(bolt, 'volumes', 'cache', 'tmp')}` },
        { path: path.join(bolt, 'volumes', 'cache', 'keep'), reason: 'matches exclude pattern "keep"' },
        { path: path.join(etc, 'backup-password'), reason: 'the repository secret (password_file / key_file) is never backed up' },
      ]),
    );
    expect(report.excluded_count).toBe(4);
    expect(report.skipped.map((s) => s.path)).toEqual([config, path.join(bolt, 'volumes', 'jobs'), path.join(host.dir, 'missing')]);
    expect(report.tags).toEqual(['weekly', 'bolt.project=homelab', 'bolt.service=db', 'bolt.service=web', 'bolt.volume=cache', 'bolt.volume=db-data', 'bolt.volume=orphan', 'bolt.trigger=manual', `host=${os.hostname()}`]);
    expect(report.totals.files).toBe(9);

    const human = host.agent(['--config', config, 'backup', 'create', '--dry-run']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`  ${path.join(host.dir, 'site')}\n      why:  bind mount of service web (./site:/usr/share/nginx/html:ro)\n      what: 1 files, 11 B\n      read: live (on ext4 (no snapshots))`);
    expect(human.stdout).toContain(`  ${path.join(bolt, 'volumes', 'db-data', 'pg.tmp')}: matches exclude pattern "*.tmp"`);
    expect(human.stderr).toContain(`skipped ${path.join(bolt, 'volumes', 'jobs')}: volume jobs of service worker does not exist (yet)`);
    expect(JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json']))).toEqual([]);
  });

  it('backup create stores the include set with the Bolt tags, restic shows them, and leaves the excluded out', () => {
    const r = host.agent(['--config', config, '--json', 'backup', 'create', '--tag', 'weekly']);
    expect(r.code).toBe(0);
    const [snapshot] = JSON.parse(resticOk(RESTIC_014, host.repo, PASSWORD, ['snapshots', '--json'])) as { paths: string[]; tags: string[]; hostname: string }[];
    expect(snapshot?.tags).toEqual(['weekly', 'bolt.project=homelab', 'bolt.service=db', 'bolt.service=web', 'bolt.volume=cache', 'bolt.volume=db-data', 'bolt.volume=orphan', 'bolt.trigger=manual', `host=${os.hostname()}`]);
    expect(snapshot?.paths).toHaveLength(10);
    const listing = resticOk(RESTIC_014, host.repo, PASSWORD, ['ls', 'latest']);
    expect(listing).toContain(path.join(bolt, 'volumes', 'db-data', 'base', '1'));
    expect(listing).toContain(path.join(etc, 'bolt.toml'));
    expect(listing).not.toContain('pg.tmp');
    expect(listing).not.toContain(path.join(bolt, 'volumes', 'cache', 'tmp'));
    expect(listing).not.toContain('backup-password');
    expect(listing).not.toContain('.staging');
  });
});

function makeHostEnv(dir: string): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  return { BOLT_AGENT_BOLT_ROOT: path.join(dir, 'no-bolt'), BOLT_AGENT_BOLT_CONFIG_DIR: path.join(dir, 'no-etc-bolt') };
}
