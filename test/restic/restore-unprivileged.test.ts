// The rest of the suite runs as root. A user restores their own backup without root: nothing
// can be given to another owner and no device node can be made, so the restore must give every
// entry to that user, keep the modes (a read-only directory's too, set once its files are in),
// report the device it could not make (exit 3) and restore everything else.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../helpers/cli.ts';

const PASSWORD = 'unprivileged-restore';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-unprivileged-'));
const data = path.join(work, 'data');
const repo = path.join(work, 'repo');
const passwordFile = path.join(work, 'password');
const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
const nogroup = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim());

function asNobody(args: string[], env: Record<string, string>) {
  const r = spawnSync(
    'setpriv',
    ['--reuid=nobody', `--regid=${nogroup}`, '--clear-groups', process.execPath, path.join(repoRoot, 'bin', 'bolt-agent.js'), '--json', '--repo', repo, '--password-file', passwordFile, ...args],
    { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: work, ...env }, timeout: 120_000 },
  );
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  fs.chmodSync(work, 0o755);
  fs.writeFileSync(passwordFile, PASSWORD, { mode: 0o644 });
  fs.mkdirSync(path.join(data, 'ro'), { recursive: true });
  fs.mkdirSync(path.join(data, 'private'));
  fs.writeFileSync(path.join(data, 'plain.txt'), 'plain\n'.repeat(1000));
  fs.chownSync(path.join(data, 'plain.txt'), 1234, 1234);
  fs.writeFileSync(path.join(data, 'secret'), 'secret\n', { mode: 0o600 });
  fs.chmodSync(path.join(data, 'secret'), 0o600);
  fs.writeFileSync(path.join(data, 'run.sh'), '#!/bin/sh\n');
  fs.chmodSync(path.join(data, 'run.sh'), 0o755);
  fs.writeFileSync(path.join(data, 'ro', 'inner.txt'), 'inside a read-only directory\n');
  fs.chmodSync(path.join(data, 'ro'), 0o555);
  fs.writeFileSync(path.join(data, 'private', 'x'), 'x\n');
  fs.chmodSync(path.join(data, 'private'), 0o700);
  fs.symlinkSync('plain.txt', path.join(data, 'link'));
  fs.writeFileSync(path.join(data, 'hard1'), 'linked\n');
  fs.linkSync(path.join(data, 'hard1'), path.join(data, 'hard2'));
  expect(spawnSync('mkfifo', [path.join(data, 'fifo')]).status).toBe(0);
  expect(spawnSync('mknod', [path.join(data, 'dev'), 'c', '1', '3']).status).toBe(0);

  const init = runCli(['--repo', repo, '--password-file', passwordFile, 'backup', 'init', repo]);
  expect(init.code, init.stderr).toBe(0);
  const create = runCli(['--repo', repo, '--password-file', passwordFile, 'backup', 'create', '--include', data]);
  expect(create.code, create.stderr).toBe(0);
  // The user's own repository: restoring takes a lock, so they must be able to write it.
  expect(spawnSync('chown', ['-R', `${nobody}:${nogroup}`, repo]).status).toBe(0);
});

afterAll(() => {
  spawnSync('chmod', ['-R', 'u+rwx', work]);
  fs.rmSync(work, { recursive: true, force: true });
});

describe('a restore without root', () => {
  it.each([
    ['native', {}],
    ['portable', { BOLT_AGENT_NATIVE: '0' }],
  ])('gives every entry to the user, keeps modes and links, reports the device node and restores the rest (%s core)', (core, env) => {
    const parent = path.join(work, `restores-${core}`);
    fs.mkdirSync(parent);
    fs.chownSync(parent, nobody, nogroup);
    const target = path.join(parent, 'target');
    const before = fs.readdirSync(parent);

    const r = asNobody(['backup', 'restore', 'latest', '--target', target], env);
    expect(r.code, r.stderr).toBe(3);
    const result = JSON.parse(r.stdout) as { problems: { path: string; error: string }[] };
    // The portable core has no mknod at all (src/native/types.ts), so it reports the FIFO too.
    const unmade = core === 'native' ? ['dev'] : ['dev', 'fifo'];
    expect(result.problems.map((p) => p.path)).toEqual(unmade.map((name) => path.join(data, name)));
    expect(result.problems[0]?.error).toMatch(core === 'native' ? /EPERM|not permitted/ : /mknod is not available/);

    const restored = (name: string) => path.join(target, data, name);
    for (const name of ['plain.txt', 'secret', 'run.sh', 'hard1', 'hard2', path.join('ro', 'inner.txt'), path.join('private', 'x')]) {
      expect(fs.readFileSync(restored(name)).equals(fs.readFileSync(path.join(data, name))), name).toBe(true);
    }
    const special = core === 'native' ? ['fifo'] : [];
    for (const name of ['plain.txt', 'secret', 'run.sh', 'ro', 'private', ...special, path.join('ro', 'inner.txt')]) {
      const theirs = fs.lstatSync(path.join(data, name));
      const ours = fs.lstatSync(restored(name));
      expect(ours.mode, name).toBe(theirs.mode);
      // The portable core sets times through Node's fs.lutimes, in floating-point seconds.
      const drift = fs.lstatSync(restored(name), { bigint: true }).mtimeNs - fs.lstatSync(path.join(data, name), { bigint: true }).mtimeNs;
      expect(core === 'native' ? drift === 0n : drift >= -1000n && drift <= 1000n, `${name}: mtime off by ${drift} ns`).toBe(true);
    }
    for (const name of ['plain.txt', 'secret', 'ro', 'link', ...special, 'hard1', path.join('private', 'x')]) {
      const st = fs.lstatSync(restored(name));
      expect([st.uid, st.gid], name).toEqual([nobody, nogroup]);
    }
    expect(fs.readlinkSync(restored('link'))).toBe('plain.txt');
    expect(fs.statSync(restored('hard1')).ino).toBe(fs.statSync(restored('hard2')).ino);
    expect(fs.existsSync(restored('fifo'))).toBe(core === 'native');
    if (core === 'native') expect(fs.lstatSync(restored('fifo')).isFIFO()).toBe(true);
    expect(fs.existsSync(restored('dev'))).toBe(false);
    expect(fs.readdirSync(parent).sort()).toEqual([...before, 'target'].sort());
  });
});
