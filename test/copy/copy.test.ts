// `backup copy` between formats (issue #10 item 9): restic → ghostsnap → restic keeps time, host,
// paths, tags and name; a second run copies nothing; restores from the copies are identical; the
// real tools accept the copies.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { buildCorpus } from '../helpers/corpus.ts';
import { RESTIC_014, resticOk } from '../helpers/restic.ts';
import { describeTree, diffTrees } from '../helpers/tree-compare.ts';
import { GHOSTSNAP_BIN } from '../ghostsnap/helpers.ts';
import { spawnSync } from 'node:child_process';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-copy-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'copy-password';
const passwordFile = path.join(tmp, 'password');
fs.writeFileSync(passwordFile, PASSWORD);
const corpus = path.join(tmp, 'src');
const resticRepo = path.join(tmp, 'restic');
const ghostRepo = path.join(tmp, 'ghost');
const backRepo = path.join(tmp, 'restic-again');

interface BackupJson {
  id: string;
  name: string | null;
  timestamp: string;
  hostname: string;
  paths: string[];
  tags: string[];
}

function agent<T>(args: string[], tool: 'restic' | 'ghostsnap' = 'restic'): T {
  const r = runCli(['--json', '--tool', tool, '--password-file', passwordFile, ...args]);
  if (r.code !== 0) throw new Error(`bolt-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

beforeAll(() => {
  buildCorpus(corpus, { bigFileBytes: 6 * 1024 * 1024 });
  fs.writeFileSync(path.join(tmp, 'extra.txt'), 'a second include path\n');
  agent(['--repo', resticRepo, 'backup', 'init', resticRepo]);
  agent(['--repo', resticRepo, 'backup', 'create', '--include', corpus, '--name', 'first', '--tag', 'alpha']);
  fs.appendFileSync(path.join(corpus, 'hello.txt'), 'changed\n');
  agent(['--repo', resticRepo, 'backup', 'create', '--include', corpus, '--include', path.join(tmp, 'extra.txt'), '--host', 'other-host', '--tag', 'beta']);
}, 300_000);

function identity(b: BackupJson) {
  return { name: b.name, instant: Date.parse(b.timestamp), hostname: b.hostname, paths: [...b.paths].sort(), tags: [...b.tags].sort() };
}

describe('restic → ghostsnap → restic', () => {
  let source: BackupJson[];

  it('copies every backup into a new ghostsnap repository, keeping time, host, paths, tags and name', () => {
    source = agent<BackupJson[]>(['--repo', resticRepo, 'backup', 'list']);
    const result = agent<{ copied: { source_id: string; copy_id: string }[]; skipped: unknown[] }>(['backup', 'copy', '--all', '--from', resticRepo, '--to', ghostRepo, '--to-tool', 'ghostsnap', '--init']);
    expect(result.copied).toHaveLength(2);
    const copies = agent<BackupJson[]>(['--repo', ghostRepo, 'backup', 'list'], 'ghostsnap');
    expect(copies.map(identity).sort((a, b) => a.instant - b.instant)).toEqual(source.map(identity).sort((a, b) => a.instant - b.instant));
  });

  it('copies nothing the second time', () => {
    const again = agent<{ copied: unknown[]; skipped: unknown[] }>(['backup', 'copy', '--all', '--from', resticRepo, '--to', ghostRepo, '--to-tool', 'ghostsnap']);
    expect(again.copied).toEqual([]);
    expect(again.skipped).toHaveLength(2);
  });

  it('the ghostsnap copy restores identically, with our restore and with the real ghostsnap', () => {
    const target = path.join(tmp, 'restore-ghost');
    const restored = agent<{ problems: unknown[] }>(['--repo', ghostRepo, 'backup', 'restore', 'first', '--target', target], 'ghostsnap');
    expect(restored.problems).toEqual([]);
    // the first backup had the original hello.txt
    expect(fs.readFileSync(path.join(target, 'hello.txt'), 'utf8')).toBe('hello bolt\n');
    const snaps = spawnSync(GHOSTSNAP_BIN, ['-q', '--password', PASSWORD, '--repo', ghostRepo, 'check', '--read-data'], { encoding: 'utf8', env: { ...process.env, RUST_BACKTRACE: '0' } });
    expect(snaps.status, snaps.stderr + snaps.stdout).toBe(0);
  });

  it('copies back into restic, where restic verifies it and the trees match the source', () => {
    agent(['backup', 'copy', '--all', '--from', ghostRepo, '--from-tool', 'ghostsnap', '--to', backRepo, '--init']);
    expect(resticOk(RESTIC_014, backRepo, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
    const back = agent<BackupJson[]>(['--repo', backRepo, 'backup', 'list']);
    expect(back.map(identity).sort((a, b) => a.instant - b.instant)).toEqual(source.map(identity).sort((a, b) => a.instant - b.instant));
    const latest = back.find((b) => b.hostname === 'other-host') as BackupJson;
    const target = path.join(tmp, 'restore-back');
    agent(['--repo', backRepo, 'backup', 'restore', latest.id, '--target', target]);
    const want = describeTree(corpus);
    want.delete('socket');
    // times survive both copies (ghostsnap's format keeps them to the second, ours to the ns)
    expect(diffTrees(want, describeTree(path.join(target, corpus)))).toEqual([]);
    expect(fs.readFileSync(path.join(target, tmp, 'extra.txt'), 'utf8')).toBe('a second include path\n');
  });
});
