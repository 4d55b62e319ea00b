// The same sources run under Node (build/node), Bun (the single binary) and Deno; the binary
// runs alone from an empty directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { binaryPath, cleanEnv, runCli, type Runtime } from '../helpers/cli.ts';
import { describeTree, diffTrees } from '../helpers/tree-compare.ts';

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

  it('backs up and restores a tree into a local restic repository (the core writes the files)', () => {
    const src = path.join(tmp, `src-${runtime}`);
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'alpha\n');
    fs.writeFileSync(path.join(src, 'sub', 'b.bin'), Buffer.alloc(700_000, 7));
    fs.writeFileSync(path.join(src, 'sub', 'empty'), '');
    fs.chmodSync(path.join(src, 'a.txt'), 0o640);
    const repo = path.join(tmp, `repo-${runtime}`);
    const target = path.join(tmp, `restored-${runtime}`);
    const cli = (args: string[]) => {
      const r = runCli(['--repo', repo, '--password-file', passwordFile, ...args], { runtime });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    };
    cli(['backup', 'init', repo]);
    cli(['backup', 'create', '--include', src]);
    cli(['backup', 'restore', 'latest', '--target', target]);
    expect(diffTrees(describeTree(src, { skipMtimeOfRoot: true }), describeTree(path.join(target, src), { skipMtimeOfRoot: true }))).toEqual([]);
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
