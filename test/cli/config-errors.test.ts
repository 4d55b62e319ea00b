// Each class of bad configuration, through the real CLI: exit 2 and a message naming the file,
// the key and what is expected.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-cli-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function configWith(name: string, body: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, `project = "t"\n${body}`);
  return file;
}

function expectConfigError(file: string, ...fragments: string[]): void {
  const r = runCli(['--config', file, 'backup', 'config']);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  for (const f of fragments) expect(r.stderr).toContain(f);
}

describe('bad configurations exit 2 with file, key and expectation', () => {
  it('unknown key', () => {
    const file = configWith('a.toml', '[backups]\nrepositry = "/x"\n');
    expectConfigError(file, file, 'backups.repositry', 'unknown key', 'did you mean "repository"');
  });
  it('wrong type', () => {
    const file = configWith('b.toml', '[backups.performance]\nparallel_uploads = "four"\n');
    expectConfigError(file, file, 'backups.performance.parallel_uploads', 'expected a whole number');
  });
  it('bad size', () => {
    const file = configWith('c.toml', '[backups.ghostsnap]\nchunk_size = "huge"\n');
    expectConfigError(file, file, 'backups.ghostsnap.chunk_size', 'expected a size such as "4MiB"');
  });
  it('bad schedule', () => {
    const file = configWith('d.toml', '[backups.triggers]\ndaily = "2am"\n');
    expectConfigError(file, file, 'backups.triggers.daily', 'expected "HH:MM"');
  });
  it('bad repository URL', () => {
    const file = configWith('e.toml', '[backups]\nrepository = "s3:https://host/Not_A_Bucket"\n');
    expectConfigError(file, file, 'backups.repository', 'not a valid bucket name');
  });
  it('missing password file', () => {
    const file = configWith('f.toml', '[backups]\npassword_file = "/nonexistent/pw"\n');
    expectConfigError(file, file, 'backups.password_file', 'file not found: /nonexistent/pw');
  });
  it('errors are JSON with --json', () => {
    const file = configWith('g.toml', '[backups]\ntool = "borg"\n');
    const r = runCli(['--json', '--config', file, 'backup', 'config']);
    expect(r.code).toBe(2);
    const err = JSON.parse(r.stderr.trim()) as Record<string, unknown>;
    expect(err).toMatchObject({ error: 'InvalidConfig', exit_code: 2 });
    expect(String(err['message'])).toContain('backups.tool: expected "restic" or "ghostsnap"');
  });
  it('a bad flag is a usage error', () => {
    const r = runCli(['backup', 'list', '--format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("argument 'xml' is invalid");
  });
});
