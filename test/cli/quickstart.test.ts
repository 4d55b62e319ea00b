// `npm run quickstart` does what the README says: a local restic repository with a 0600
// password file, a backup of examples/, a verified restore — and restic reads the repository.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';
import { RESTIC_014 } from '../helpers/restic.ts';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-quickstart-'));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

it('backs up examples/, restores them byte-identical, and leaves a repository restic reads', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'quickstart.mjs')], {
    cwd: repoRoot,
    env: { ...process.env, BOLT_QUICKSTART_HOME: home },
    encoding: 'utf8',
    timeout: 300_000,
  });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/restored \d+ files from examples\/ byte-identical/);
  const passwordFile = path.join(home, 'password');
  expect(fs.statSync(passwordFile).mode & 0o777).toBe(0o600);
  const snapshots = spawnSync(RESTIC_014, ['-r', path.join(home, 'repo'), '--password-file', passwordFile, 'snapshots', '--json'], { encoding: 'utf8' });
  expect(snapshots.status, snapshots.stderr).toBe(0);
  const list = JSON.parse(snapshots.stdout) as { tags: string[] }[];
  expect(list[0]?.tags).toEqual(expect.arrayContaining(['bolt.name=quickstart', 'quickstart']));
});
