// Size (issue #10): a 512 MiB incompressible file is backed up and restored with bounded memory —
// nothing holds a whole file or a whole pack (ghostsnap itself peaks at about 1.3 GB here).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { cleanEnv, repoRoot } from '../helpers/cli.ts';
import { agentOk } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-gs-memory-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MiB = 1024 * 1024;
const LIMIT_KB = 300 * 1000;

/** Runs bolt-agent under /usr/bin/time; returns the exit code and the peak RSS in KB. */
function measured(args: string[]): { code: number; maxRssKb: number; stderr: string } {
  const r = spawnSync('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, path.join(repoRoot, 'bin', 'bolt-agent.js'), ...args], {
    encoding: 'utf8',
    env: cleanEnv(),
    maxBuffer: 16 * MiB,
  });
  const m = /maxrss=(\d+)/.exec(r.stderr);
  return { code: r.status ?? -1, maxRssKb: m ? Number(m[1]) : Number.NaN, stderr: r.stderr };
}

function digest(file: string): string {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.alloc(8 * MiB);
  for (let n; (n = fs.readSync(fd, buffer)) > 0; ) hash.update(buffer.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
}

it('backs up and restores a 512 MiB file in under 300 MB of memory', () => {
  const file = path.join(tmp, 'src', 'big.bin');
  fs.mkdirSync(path.dirname(file));
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < 64; i++) fs.writeSync(fd, crypto.randomBytes(8 * MiB));
  fs.closeSync(fd);
  const pw = path.join(tmp, 'pw');
  fs.writeFileSync(pw, 'memory');
  const repo = path.join(tmp, 'repo');
  agentOk(repo, pw, ['backup', 'init', repo]);
  const common = ['--no-progress', '--tool', 'ghostsnap', '--repo', repo, '--password-file', pw];

  const backup = measured([...common, 'backup', 'create', '--include', path.dirname(file)]);
  expect(backup.code, backup.stderr).toBe(0);
  expect(backup.maxRssKb).toBeLessThan(LIMIT_KB);

  const target = path.join(tmp, 'restored');
  const restore = measured([...common, 'backup', 'restore', 'latest', '--target', target]);
  expect(restore.code, restore.stderr).toBe(0);
  expect(restore.maxRssKb).toBeLessThan(LIMIT_KB);
  expect(digest(path.join(target, 'big.bin'))).toBe(digest(file));
}, 240_000);
