// The same sources run under Node (build/node), Bun (the single binary) and Deno; the binary
// runs alone from an empty directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { binaryPath, cleanEnv, runCli, type Runtime } from '../helpers/cli.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-runtimes-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const passwordFile = path.join(tmp, 'pw');
fs.writeFileSync(passwordFile, 'x\n');
const configFile = path.join(tmp, 'Boltfile.toml');
fs.writeFileSync(configFile, `[backups]\ntool = "ghostsnap"\nrepository = "s3:https://s3.example.com/bkt/p"\npassword_file = "pw"\n[backups.storage.s3]\nsecret_access_key = "TOPSECRET"\n[backups.retention]\nkeep_daily = 7\n`);

describe.each<Runtime>(['node', 'bun-binary', 'deno'])('runtime %s', (runtime) => {
  it('prints the effective configuration with sources', () => {
    const r = runCli(['--json', '--config', configFile, 'backup', 'config', '-v'], { runtime, env: { BOLT_BACKUP_PARALLEL_UPLOADS: '3' } });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { config: Record<string, unknown>; sources: Record<string, { kind: string; name: string }> };
    expect(out.config['tool']).toBe('ghostsnap');
    expect(out.config['password_file']).toBe(passwordFile);
    expect(JSON.stringify(out.config)).not.toContain('TOPSECRET');
    expect(out.sources['retention.keep_daily']).toEqual({ kind: 'file', name: configFile });
    expect(out.sources['performance.parallel_uploads']).toEqual({ kind: 'env', name: 'BOLT_BACKUP_PARALLEL_UPLOADS' });
    expect(out.sources['performance.compression']).toEqual({ kind: 'default', name: 'default' });
  });

  it('reports its version with the formats and the core', () => {
    const r = runCli(['--version', '--json'], { runtime });
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as { version: string; formats: string[]; core: string; runtime: string };
    expect(v.formats).toEqual(['restic', 'ghostsnap']);
    expect(v.core).toBe('native');
    expect(v.runtime.split(' ')[0]).toBe({ node: 'node', 'bun-binary': 'bun', deno: 'deno' }[runtime]);
  });
});

describe('the single binary', () => {
  it('runs alone from an empty directory', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const copy = path.join(dir, 'bolt-agent');
    fs.copyFileSync(binaryPath, copy);
    fs.chmodSync(copy, 0o755);
    const run = (args: string[]) => spawnSync(copy, args, { cwd: dir, env: cleanEnv({ BOLT_BACKUP_REPOSITORY: '/srv/backups' }), encoding: 'utf8' });
    const version = run(['--version']);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^bolt-agent \d+\.\d+\.\d+ \(formats: restic, ghostsnap; core: native/);
    const config = run(['backup', 'config', '-v']);
    expect(config.status, config.stderr).toBe(0);
    expect(config.stdout).toContain('repository = "/srv/backups"  # env BOLT_BACKUP_REPOSITORY');
    expect(config.stdout).toContain('# configuration file: none');
  });
});
