// The btrfs layer on a real, loop-mounted btrfs filesystem: detection and subvolumes through the
// native core's ioctls, read-only snapshots (checked with btrfs-progs as the oracle), the snapshot
// plan for nested subvolumes and mounts, temporary snapshot sessions, and their cleanup after a
// killed run and at process exit.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';
import { loadFsSnapshotCore, snapshotError, type FsSnapshotCore } from '../../src/snapshots/fs-snapshot-core.ts';
import { loadSnapshotDeps } from '../../src/snapshots/deps.ts';
import { planSnapshots } from '../../src/snapshots/plan.ts';
import { temporaryPlacement, TEMPORARY_DIR } from '../../src/snapshots/placement.ts';
import { SnapshotSession } from '../../src/snapshots/session.ts';
import { makeBtrfs, type BtrfsFixture } from './btrfs-fixture.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-btrfs-'));
let btrfs: BtrfsFixture;
let core: FsSnapshotCore;

beforeAll(async () => {
  btrfs = makeBtrfs(path.join(tmp, 'fs'));
  core = await loadFsSnapshotCore();
});
afterAll(() => {
  btrfs?.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function btrfsShow(p: string): string {
  const r = spawnSync('btrfs', ['subvolume', 'show', p], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : `error: ${r.stderr}`;
}

describe('btrfs through the native core', () => {
  it('finds the filesystem, the subvolume holding a path and the subvolumes nested in it', () => {
    expect(core.kind).toBe('native');
    const vol = btrfs.subvolume('detect/vol');
    const inner = btrfs.subvolume('detect/vol/a/inner');
    fs.writeFileSync(path.join(vol, 'a', 'file'), 'x');
    expect(core.filesystemOf(path.join(vol, 'a', 'file'))).toBe('btrfs');
    expect(core.filesystemOf(tmp)).toBe('other');

    const sv = core.btrfsSubvolume(path.join(vol, 'a', 'file'));
    expect(sv.root).toBe(vol);
    expect(sv.readOnly).toBe(false);
    // The oracle: btrfs-progs reports the same subvolume id.
    expect(btrfsShow(vol)).toMatch(new RegExp(`Subvolume ID:\\s+${sv.id}\\b`));
    expect(core.btrfsSubvolume(btrfs.mnt)).toMatchObject({ id: 5, root: btrfs.mnt });
    expect(core.btrfsSubvolume(path.join(inner, '.'))).toMatchObject({ root: inner });
    expect(core.btrfsChildSubvolumes(vol)).toEqual([{ id: core.btrfsSubvolume(inner).id, path: inner }]);
  });

  it('creates read-only snapshots, lists and deletes them without btrfs tools', async () => {
    const vol = btrfs.subvolume('snap/vol');
    fs.writeFileSync(path.join(vol, 'data'), 'before');
    const dir = path.join(btrfs.mnt, 'snap', 'kept');
    fs.mkdirSync(dir);
    await core.btrfsCreateSnapshot(vol, dir, 'one', true);
    fs.writeFileSync(path.join(vol, 'data'), 'after');

    const snap = path.join(dir, 'one');
    expect(fs.readFileSync(path.join(snap, 'data'), 'utf8')).toBe('before');
    expect(() => fs.writeFileSync(path.join(snap, 'data'), 'no')).toThrow(/EROFS/);
    const shown = btrfsShow(snap);
    expect(shown).toMatch(/Flags:\s+readonly/);
    expect(shown).toMatch(new RegExp(`Parent UUID:\\s+${/UUID:\s+(\S+)/.exec(btrfsShow(vol))?.[1]}`));
    expect(core.btrfsListSubvolumes(dir)).toEqual([{ name: 'one', id: core.btrfsSubvolume(snap).id, readOnly: true }]);

    core.btrfsDeleteSubvolume(snap);
    expect(core.btrfsListSubvolumes(dir)).toEqual([]);
    expect(fs.existsSync(snap)).toBe(false);
  });

  it('says clearly what it cannot do', async () => {
    const notBtrfs = snapshotError(captured(() => core.btrfsSubvolume(tmp)));
    expect(notBtrfs.kind).toBe('ToolNotAvailable');
    expect(notBtrfs.message).toBe(`${tmp} is not on a btrfs filesystem`);
    const plainDir = path.join(btrfs.mnt, 'plain');
    fs.mkdirSync(plainDir);
    await expect(core.btrfsCreateSnapshot(plainDir, btrfs.mnt, 'x', true)).rejects.toThrow(`${plainDir} is not the root of a subvolume`);
    expect(() => core.btrfsDeleteSubvolume(plainDir)).toThrow(`${plainDir} is not a subvolume`);
    await expect(core.btrfsCreateSnapshot(btrfs.mnt, plainDir, '../escape', true)).rejects.toThrow(/bad subvolume name/);
  });
});

function captured(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('snapshot plan and temporary sessions', () => {
  it('snapshots a subvolume and the one nested in it, reads a mount below it live, and removes the snapshots', async () => {
    const vol = btrfs.subvolume('plan/vol');
    const inner = btrfs.subvolume('plan/vol/inner');
    fs.writeFileSync(path.join(inner, 'deep'), 'inner data');
    const m = path.join(vol, 'm');
    fs.mkdirSync(m);
    expect(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', m]).status).toBe(0);
    try {
      const deps = await loadSnapshotDeps();
      const plan = planSnapshots([vol], deps);
      expect(plan.units.map((u) => [u.root, u.kind])).toEqual([
        [vol, 'btrfs'],
        [inner, 'btrfs'],
        [m, 'live'],
      ]);
      const session = await SnapshotSession.take(plan, deps, temporaryPlacement(deps.mounts), { onFailure: 'fail' });
      const holder = path.join(btrfs.mnt, TEMPORARY_DIR);
      expect(session.excludePaths).toEqual([holder]);
      const roots = session.readRoots;
      expect(roots).toHaveLength(3);
      expect(roots[0]?.from).toBe(vol);
      expect(roots[1]?.from).toBe(inner);
      expect(roots[2]).toEqual({ from: m, to: m });
      // The snapshot of the inner subvolume has its data; the outer one shows only a placeholder there.
      expect(fs.readFileSync(path.join(roots[1]?.to as string, 'deep'), 'utf8')).toBe('inner data');
      expect(fs.readdirSync(path.join(roots[0]?.to as string, 'inner'))).toEqual([]);
      expect(core.btrfsListSubvolumes(holder).map((s) => s.readOnly)).toEqual([true, true]);
      expect(session.release()).toEqual([]);
      expect(core.btrfsListSubvolumes(holder)).toEqual([]);
    } finally {
      spawnSync('umount', [m]);
    }
  });

  it('removes temporary snapshots a killed run left behind, never those of a running process', async () => {
    const vol = btrfs.subvolume('stale/vol');
    const holder = path.join(btrfs.mnt, TEMPORARY_DIR);
    fs.mkdirSync(holder, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    await core.btrfsCreateSnapshot(vol, holder, `tmp-${dead}-20260101T000000Z-1`, true);
    await core.btrfsCreateSnapshot(vol, holder, `tmp-${process.pid}-20260101T000000Z-9`, true);
    const deps = await loadSnapshotDeps();
    const notes: string[] = [];
    const session = await SnapshotSession.take(planSnapshots([vol], deps), deps, temporaryPlacement(deps.mounts), { onFailure: 'fail', note: (n) => notes.push(n) });
    expect(notes).toEqual([`removed ${holder}/tmp-${dead}-20260101T000000Z-1, a temporary snapshot left by an interrupted run (process ${dead})`]);
    const names = core.btrfsListSubvolumes(holder).map((s) => s.name);
    expect(names).toContain(`tmp-${process.pid}-20260101T000000Z-9`);
    expect(names).toHaveLength(2);
    session.release();
    core.btrfsDeleteSubvolume(path.join(holder, `tmp-${process.pid}-20260101T000000Z-9`));
    expect(core.btrfsListSubvolumes(holder)).toEqual([]);
  });

  it('removes its temporary snapshots when the process exits before releasing them', async () => {
    const vol = btrfs.subvolume('exit/vol');
    const holder = path.join(btrfs.mnt, TEMPORARY_DIR);
    const script = [
      `const { loadSnapshotDeps } = await import(${JSON.stringify(path.join(repoRoot, 'build/node/src/snapshots/deps.js'))});`,
      `const { planSnapshots } = await import(${JSON.stringify(path.join(repoRoot, 'build/node/src/snapshots/plan.js'))});`,
      `const { temporaryPlacement } = await import(${JSON.stringify(path.join(repoRoot, 'build/node/src/snapshots/placement.js'))});`,
      `const { SnapshotSession } = await import(${JSON.stringify(path.join(repoRoot, 'build/node/src/snapshots/session.js'))});`,
      'const deps = await loadSnapshotDeps();',
      `const s = await SnapshotSession.take(planSnapshots([${JSON.stringify(vol)}], deps), deps, temporaryPlacement(deps.mounts), { onFailure: 'fail' });`,
      'console.log(s.taken.map((t) => t.id).join(","));',
      'process.exit(130);',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(err).toBe('');
    expect(code).toBe(130);
    expect(out.trim()).toMatch(new RegExp(`^${holder}/tmp-${child.pid}-`));
    expect(fs.existsSync(out.trim())).toBe(false);
    expect(core.btrfsListSubvolumes(holder)).toEqual([]);
  });
});
