// A full disk loses nothing (both formats): a backup into a repository whose filesystem fills up
// fails with a message naming the cause, leaves no lock and no temporary files, and leaves a
// repository that check (and restic's check) accepts; once there is room the same backup
// succeeds. A restore onto a full target says so per file and changes nothing in the repository.
// The small filesystems are tmpfs mounts (the suite runs as root).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { RESTIC_014, restic } from '../helpers/restic.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-full-disk-'));
const mounts: string[] = [];
const passwordFile = path.join(tmp, 'password');
const src = path.join(tmp, 'src');

function mountTmpfs(dir: string, size: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs on ${dir}: ${r.stderr}`);
  mounts.push(dir);
}

function resize(dir: string, size: string): void {
  const r = spawnSync('mount', ['-o', `remount,size=${size}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`remount ${dir}: ${r.stderr}`);
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath, e.name));
}

beforeAll(() => {
  fs.writeFileSync(passwordFile, 'full-disk-password');
  fs.mkdirSync(path.join(src, 'small'), { recursive: true });
  // Incompressible, so compression cannot make it fit.
  fs.writeFileSync(path.join(src, 'big.bin'), crypto.randomBytes(40 * 1024 * 1024));
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(src, 'small', `f${i}.txt`), `file ${i}\n`.repeat(100));
});

afterAll(() => {
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe.each(['restic', 'ghostsnap'] as const)('full disk (%s)', (tool) => {
  const mnt = path.join(tmp, `${tool}-repo-disk`);
  const repo = path.join(mnt, 'repo');
  const cli = (args: string[]) => runCli(['--tool', tool, '--repo', repo, '--password-file', passwordFile, ...args]);

  it('a backup that fills the repository disk fails clearly, leaves a sound repository, and succeeds once there is room', () => {
    mountTmpfs(mnt, '12m');
    expect(cli(['backup', 'init', repo]).code).toBe(0);
    const full = cli(['backup', 'create', '--include', src]);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/No space left on device|ENOSPC/);
    expect(full.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(filesUnder(path.join(repo, 'locks'))).toEqual([]);
    expect(filesUnder(path.join(repo, '.tmp'))).toEqual([]);
    expect(filesUnder(path.join(repo, 'snapshots'))).toEqual([]);
    const check = cli(['backup', 'check']);
    expect(check.code, check.stderr).toBe(0);
    if (tool === 'restic') {
      const oracle = restic(RESTIC_014, repo, 'full-disk-password', ['check']);
      expect(oracle.code, oracle.stderr).toBe(0);
    }

    resize(mnt, '128m');
    const again = cli(['--json', 'backup', 'create', '--include', src]);
    expect(again.code, again.stderr).toBe(0);
    expect(cli(['backup', 'check', '--read-data']).code).toBe(0);
    if (tool === 'restic') {
      const oracle = restic(RESTIC_014, repo, 'full-disk-password', ['check', '--read-data']);
      expect(oracle.code, oracle.stderr).toBe(0);
    }
  });

  it('a restore onto a full disk names the files it could not write and leaves the repository as it was', () => {
    const target = path.join(tmp, `${tool}-restore-disk`);
    mountTmpfs(target, '8m');
    const before = filesUnder(repo).sort();
    const r = cli(['--json', 'backup', 'restore', 'latest', '--target', target]);
    expect([1, 3]).toContain(r.code);
    expect(`${r.stdout}\n${r.stderr}`).toMatch(/No space left on device|ENOSPC/);
    expect(`${r.stdout}\n${r.stderr}`).toContain('big.bin');
    expect(filesUnder(repo).filter((f) => !f.includes(`${path.sep}locks${path.sep}`)).sort()).toEqual(before.filter((f) => !f.includes(`${path.sep}locks${path.sep}`)));
    expect(cli(['backup', 'check']).code).toBe(0);
  });
});
