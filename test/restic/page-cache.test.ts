// A backup into a local repository leaves the packs it wrote out of the page cache (they are
// dropped once synced and hashed), so it does not push the host's cached files out; the packs
// still read back whole.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-page-cache-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** Resident bytes of each file (util-linux's fincore). */
function resident(files: string[]): number[] {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map(Number);
}

describe('page cache', () => {
  it('a backup into a local repository leaves no written pack in the page cache', () => {
    const data = path.join(work, 'data');
    fs.mkdirSync(data);
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(data, `f${i}`), randomBytes(700_000));
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(data, `small${i}`), `file ${i}\n`.repeat(i + 1));
    const repo = path.join(work, 'repo');
    const pw = path.join(work, 'pw');
    fs.writeFileSync(pw, 'cache\n');
    const cli = (...args: string[]) => runCli(['--repo', repo, '--password-file', pw, ...args]);
    expect(cli('backup', 'init', repo).code).toBe(0);
    const created = cli('backup', 'create', '--include', data, '--no-progress');
    expect(created.code, created.stderr).toBe(0);

    const packs = filesUnder(path.join(repo, 'data'));
    const total = packs.reduce((sum, f) => sum + fs.statSync(f).size, 0);
    expect(total).toBeGreaterThan(4_000_000);
    expect(resident(packs)).toEqual(packs.map(() => 0));

    const checked = cli('backup', 'check', '--read-data');
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    const target = path.join(work, 'restored');
    expect(cli('backup', 'restore', 'latest', '--target', target, '--no-progress').code).toBe(0);
    for (let i = 0; i < 6; i++) {
      const restored = filesUnder(target).find((f) => f.endsWith(`/f${i}`)) as string;
      expect(fs.readFileSync(restored).equals(fs.readFileSync(path.join(data, `f${i}`)))).toBe(true);
    }
  });
});
