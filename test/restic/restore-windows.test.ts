// Restores in several windows (one written while the walk fills the next) give the same tree as
// one window, and a window whose pack is gone fails only its own files.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchRepository } from '../helpers/scratch-repository.ts';
import { sha256Stream } from '../helpers/corpus.ts';
import { describeTree, diffTrees } from '../helpers/tree-compare.ts';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { coreRestoreFor, IncludeFilter, ResticRestoreSource } from '../../src/formats/restic/restore-source.ts';
import { findSnapshot, loadSnapshots, requireTree } from '../../src/formats/restic/snapshots.ts';
import { Restorer } from '../../src/engine/restorer.ts';
import type { FileProblem } from '../../src/backup/types.ts';

const { tmp, password: PASSWORD, src, repoDir, cli } = scratchRepository('restore-windows');

beforeAll(() => {
  // 60 files over 6 directories, sizes from empty to 300 KiB, plus links between windows.
  for (let d = 0; d < 6; d++) {
    const dir = path.join(src, `dir-${d}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 10; f++) {
      const size = ((d * 10 + f) * 5003) % 300_000;
      fs.writeFileSync(path.join(dir, `file-${f}.bin`), sha256Stream(`window-${d}-${f}`, size));
    }
  }
  fs.linkSync(path.join(src, 'dir-0', 'file-3.bin'), path.join(src, 'dir-5', 'hardlink-to-0-3'));
  fs.symlinkSync('../dir-1/file-1.bin', path.join(src, 'dir-4', 'symlink'));
  // 300 nested directories, each with a file and a symlink: directories and symlinks are created
  // beside the walk in batches of 256, a directory always before what is in it.
  let deep = path.join(src, 'deep');
  for (let level = 0; level < 300; level++) {
    deep = path.join(deep, `d${level % 10}`);
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'f'), `level ${level}\n`);
    fs.symlinkSync(`f-${level}`, path.join(deep, 'l'));
  }
  // Small packs, so that the data spreads over several of them.
  cli(['backup', 'init', repoDir]);
  cli(['backup', 'create', '--include', src]);
});

/** Files written by the walk's JavaScript (`js`) or by the core's restore (`core`, the default for a local repository). */
type Writer = 'js' | 'core';

async function sourceFor(target: string, problems: FileProblem[], writer: Writer): Promise<ResticRestoreSource> {
  const core = await getCore();
  const repo = await ResticRepository.open(new LocalStorage({ root: repoDir, uploadBucket: undefined }), core, Buffer.from(PASSWORD));
  const { snapshots } = await loadSnapshots(repo);
  const index = await repo.index();
  const native = writer === 'core' ? coreRestoreFor(repo, core, index, { root: target }) : undefined;
  // The suite runs on the native core: the core's variant must not quietly test the other one.
  if (writer === 'core') expect(native).toBeDefined();
  return new ResticRestoreSource(repo, core, index, requireTree(findSnapshot(snapshots, 'latest')), target, new IncludeFilter([]), problems, native);
}

async function restoreWith(target: string, windowFiles: number, writer: Writer, prime?: number): Promise<{ files: number; problems: FileProblem[] }> {
  const problems: FileProblem[] = [];
  const source = await sourceFor(target, problems, writer);
  if (prime !== undefined) source.prime(prime);
  const result = await new Restorer(await getCore(), source, { verifyOnly: false, root: target, windowFiles }).run();
  return { files: result.counters.files, problems: [...problems, ...result.problems] };
}

describe.each(['js', 'core'] as const)('restore windows, files written by %s', (writer) => {
  it('three files per window restores the same tree as one window', async () => {
    const one = path.join(tmp, `one-window-${writer}`);
    const many = path.join(tmp, `many-windows-${writer}`);
    const a = await restoreWith(one, 100_000, writer);
    const b = await restoreWith(many, 3, writer);
    expect(a.problems).toEqual([]);
    expect(b.problems).toEqual([]);
    expect(b.files).toBe(a.files);
    expect(a.files).toBeGreaterThanOrEqual(361);
    const original = describeTree(src, { skipMtimeOfRoot: true });
    expect(diffTrees(original, describeTree(path.join(one, src), { skipMtimeOfRoot: true }))).toEqual([]);
    expect(diffTrees(original, describeTree(path.join(many, src), { skipMtimeOfRoot: true }))).toEqual([]);
    const inode = (p: string) => fs.statSync(p).ino;
    expect(inode(path.join(many, src, 'dir-5', 'hardlink-to-0-3'))).toBe(inode(path.join(many, src, 'dir-0', 'file-3.bin')));
  });

  it('a walk started ahead (during the lock pause) hands out the same nodes, however far it got', async () => {
    const list = async (prime?: number) => {
      const source = await sourceFor('/restore-here', [], writer);
      if (prime !== undefined) {
        source.prime(prime);
        await new Promise((resolve) => setTimeout(resolve, 50)); // let it read ahead
      }
      const out: string[] = [];
      for await (const n of source.nodes()) out.push(n.kind === 'group' ? `group of ${n.files} files, ${n.bytes} bytes` : `${n.kind} ${n.path.toString()} ${n.size} ${(n.chunks ?? []).map((c) => c.place?.offset).join(',')}`);
      return out;
    };
    const plain = await list();
    expect(plain.length).toBeGreaterThan(writer === 'js' ? 900 : 600);
    // The core keeps each directory's plain files as one group; the hard link is the walk's.
    expect(plain.filter((l) => l.startsWith('group')).length).toBe(writer === 'core' ? 306 : 0);
    expect(plain.some((l) => l.includes('hardlink-to-0-3'))).toBe(true);
    for (const prime of [0, 1, 7, 500, 1_000_000]) expect(await list(prime), `primed ${prime}`).toEqual(plain);
    // Primed and restored in windows of three files: the same tree.
    const primed = path.join(tmp, `primed-${writer}`);
    const r = await restoreWith(primed, 3, writer, 50);
    expect(r.problems).toEqual([]);
    expect(diffTrees(describeTree(src, { skipMtimeOfRoot: true }), describeTree(path.join(primed, src), { skipMtimeOfRoot: true }))).toEqual([]);
  });

  it('a missing pack fails exactly the files (and hard-link names) whose data it holds', async () => {
    const core = await getCore();
    const repo = await ResticRepository.open(new LocalStorage({ root: repoDir, uploadBucket: undefined }), core, Buffer.from(PASSWORD));
    const index = await repo.index();
    // Every file here is below restic's minimum chunk size: one blob, its id the content's SHA-256.
    const packOf = (file: string) => {
      const data = fs.readFileSync(file);
      return data.length === 0 ? undefined : index.lookup('data', createHash('sha256').update(data).digest('hex'))[0]?.packId;
    };
    const files = (fs.readdirSync(src, { recursive: true }) as string[]).filter((rel) => fs.lstatSync(path.join(src, rel)).isFile());
    const hiddenPack = packOf(path.join(src, 'dir-0', 'file-3.bin'))!;
    const expectedFailed = files.filter((rel) => packOf(path.join(src, rel)) === hiddenPack).sort();
    expect(expectedFailed).toContain(path.join('dir-5', 'hardlink-to-0-3'));
    expect(files.length - expectedFailed.length).toBeGreaterThan(10);

    const packFile = path.join(repoDir, 'data', hiddenPack.slice(0, 2), hiddenPack);
    fs.renameSync(packFile, `${packFile}.hidden`);
    try {
      const target = path.join(tmp, `missing-pack-${writer}`);
      const result = await restoreWith(target, 4, writer);
      const failed = result.problems.map((p) => path.relative(src, p.path.startsWith(target) ? p.path.slice(target.length) : p.path)).sort();
      expect(failed).toEqual(expectedFailed);
      for (const rel of files) {
        if (expectedFailed.includes(rel)) continue;
        expect(fs.readFileSync(path.join(target, src, rel)).equals(fs.readFileSync(path.join(src, rel))), rel).toBe(true);
      }
    } finally {
      fs.renameSync(`${packFile}.hidden`, packFile);
    }
  });
});
