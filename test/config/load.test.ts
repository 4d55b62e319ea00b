import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { InvalidConfigError } from '../../src/backup/errors.ts';
import { repoRoot } from '../helpers/cli.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

const passwordFile = write('password', 'secret\n');

function failure(fn: () => unknown): InvalidConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as InvalidConfigError).exitCode).toBe(2);
    return err as InvalidConfigError;
  }
  throw new Error('expected an InvalidConfigError');
}

describe('configuration sources and precedence', () => {
  it('reads the [backups] table of a Boltfile and resolves paths against its folder', () => {
    const file = write('Boltfile.toml', `project = "x"\n[backups]\nrepository = "repo"\npassword_file = "password"\n[backups.performance]\nparallel_uploads = 8\n`);
    const eff = loadConfig({ flags: { config: file }, env: {}, cwd: '/' });
    expect(eff.file).toBe(file);
    expect(eff.config.repository).toBe(path.join(tmp, 'repo'));
    expect(eff.config.password_file).toBe(passwordFile);
    expect(eff.config.performance?.parallel_uploads).toBe(8);
    expect(eff.sources.get('performance.parallel_uploads')).toEqual({ kind: 'file', name: file });
    expect(eff.sources.get('performance.compression')).toEqual({ kind: 'default', name: 'default' });
    expect(eff.boltfile).toEqual({ project: 'x' });
  });

  it('flags beat environment beat file beat defaults', () => {
    const file = write('prec.toml', `[backups]\ntool = "restic"\nrepository = "/from/file"\n[backups.performance]\nparallel_uploads = 2\ncompression = "max"\n`);
    const env = { BOLT_BACKUP_REPOSITORY: '/from/env', BOLT_BACKUP_PARALLEL_UPLOADS: '6', RESTIC_REPOSITORY: '/from/restic-env' };
    const eff = loadConfig({ flags: { config: file, repo: '/from/flag' }, env, cwd: '/' });
    expect(eff.config.repository).toBe('/from/flag');
    expect(eff.sources.get('repository')).toEqual({ kind: 'flag', name: '--repo' });
    expect(eff.config.performance?.parallel_uploads).toBe(6);
    expect(eff.sources.get('performance.parallel_uploads')).toEqual({ kind: 'env', name: 'BOLT_BACKUP_PARALLEL_UPLOADS' });
    expect(eff.config.performance?.compression).toBe('max');
    const noFlag = loadConfig({ flags: { config: file }, env, cwd: '/' });
    expect(noFlag.config.repository).toBe('/from/env');
  });

  it('honours RESTIC_* only for restic and GHOSTSNAP_* only for ghostsnap', () => {
    const env = { RESTIC_REPOSITORY: '/r', RESTIC_PASSWORD: 'pw', GHOSTSNAP_REPO: '/g', GHOSTSNAP_PASSWORD: 'gpw' };
    const restic = loadConfig({ env, cwd: '/', searchPaths: [] });
    expect(restic.config.repository).toBe('/r');
    expect(restic.password?.value).toBe('pw');
    const ghost = loadConfig({ env: { ...env, BOLT_BACKUP_TOOL: 'ghostsnap' }, cwd: '/', searchPaths: [] });
    expect(ghost.config.repository).toBe('/g');
    expect(ghost.password).toEqual({ value: 'gpw', source: { kind: 'env', name: 'GHOSTSNAP_PASSWORD' } });
  });

  it('reads YAML files with the same keys', () => {
    const file = write('cfg.yaml', `tool: ghostsnap\nrepository: /y\nretention:\n  keep_last: 3\n`);
    const eff = loadConfig({ flags: { config: file }, env: {}, cwd: '/' });
    expect(eff.config.tool).toBe('ghostsnap');
    expect(eff.config.retention?.keep_last).toBe(3);
  });

  it('searches --config, $BOLT_AGENT_CONFIG, then the search paths', () => {
    const a = write('a.toml', `[backups]\nrepository = "/a"\n`);
    const b = write('b.toml', `[backups]\nrepository = "/b"\n`);
    expect(loadConfig({ env: { BOLT_AGENT_CONFIG: a }, cwd: '/', searchPaths: [b] }).config.repository).toBe('/a');
    expect(loadConfig({ env: {}, cwd: '/', searchPaths: [path.join(tmp, 'missing.toml'), b] }).config.repository).toBe('/b');
    expect(loadConfig({ env: {}, cwd: '/', searchPaths: [] }).file).toBeUndefined();
  });

  it('parses every example', () => {
    const examples = fs.readdirSync(path.join(repoRoot, 'examples')).filter((f) => /\.(toml|ya?ml)$/.test(f));
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const name of examples) {
      const eff = loadConfig({ flags: { config: path.join(repoRoot, 'examples', name) }, env: {}, cwd: '/', checkFiles: false });
      expect(eff.config.repository, name).toBeTruthy();
    }
    const s3 = loadConfig({ flags: { config: path.join(repoRoot, 'examples', 'Boltfile.s3.toml') }, env: {}, checkFiles: false });
    expect(s3.config.storage?.secondary).toBe('azure:bolt-secondary:/prod');
    expect(s3.config.performance?.bandwidth_limit).toBe('50MiB/s');
  });
});

describe('configuration errors name the file, the key and what is expected', () => {
  it('unknown key, with did-you-mean', () => {
    const file = write('unknown.toml', `[backups]\n[backups.retention]\nkeep_dialy = 7\n`);
    const err = failure(() => loadConfig({ flags: { config: file }, env: {} }));
    expect(err.message).toContain(file);
    expect(err.message).toContain('backups.retention.keep_dialy');
    expect(err.message).toContain('did you mean "keep_daily"');
  });
  it('wrong type', () => {
    const file = write('type.toml', `[backups]\nenabled = "yes"\n`);
    const err = failure(() => loadConfig({ flags: { config: file }, env: {} }));
    expect(err.message).toMatch(new RegExp(`${file}: backups.enabled: expected true or false`));
  });
  it('bad size', () => {
    const file = write('size.toml', `[backups.performance]\nchunk_size = "4 mebibytes"\n`);
    const err = failure(() => loadConfig({ flags: { config: file }, env: {} }));
    expect(err.message).toContain(`${file}: backups.performance.chunk_size: expected a size such as "4MiB"`);
  });
  it('bad rate', () => {
    const err = failure(() => loadConfig({ env: { BOLT_BACKUP_BANDWIDTH_LIMIT: '10MiB' }, searchPaths: [] }));
    expect(err.message).toContain('environment BOLT_BACKUP_BANDWIDTH_LIMIT: backups.performance.bandwidth_limit: expected a rate');
  });
  it('bad schedule', () => {
    const file = write('sched.toml', `[backups.triggers]\nweekly = "funday@03:00"\n`);
    const err = failure(() => loadConfig({ flags: { config: file }, env: {} }));
    expect(err.message).toContain(`${file}: backups.triggers.weekly: expected "<weekday>@HH:MM"`);
  });
  it('bad repository URL', () => {
    const file = write('url.toml', `[backups]\nrepository = "sftp:host:/srv"\n`);
    const err = failure(() => loadConfig({ flags: { config: file }, env: {} }));
    expect(err.message).toContain(`${file}: backups.repository: the sftp: backend is not supported`);
  });
  it('negative retention number', () => {
    const file = write('ret.toml', `[backups.retention]\nkeep_last = -1\n`);
    const err = failure(() => loadConfig({ flags: { config: file }, env: {} }));
    expect(err.message).toContain('backups.retention.keep_last: expected a whole number >= 0');
  });
  it('missing password file', () => {
    const file = write('pw.toml', `[backups]\npassword_file = "nope"\n`);
    const err = failure(() => loadConfig({ flags: { config: file }, env: {} }));
    expect(err.message).toContain(`${file}: backups.password_file: file not found: ${path.join(tmp, 'nope')}`);
  });
  it('invalid TOML names the line', () => {
    const file = write('broken.toml', `[backups]\nrepository = [1,\n`);
    const err = failure(() => loadConfig({ flags: { config: file }, env: {} }));
    expect(err.message).toMatch(new RegExp(`${file}:3:\\d+: invalid TOML`));
  });
  it('missing --config file', () => {
    const err = failure(() => loadConfig({ flags: { config: path.join(tmp, 'absent.toml') }, env: {} }));
    expect(err.message).toContain('configuration file not found (given by --config)');
  });
});
