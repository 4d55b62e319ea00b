// The core's restore of regular files (native/src/restore.rs) against the walk's own, on one
// snapshot holding what a file can carry: owner, setuid/setgid/sticky bits, nanosecond times,
// xattrs, empty files, a file across several packs, names the core hands back to the walk (a
// backslash, a newline, bytes that are not UTF-8) and hard links. Both must restore the tree as
// it was; verify-only must check as much and write nothing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchRepository } from '../helpers/scratch-repository.ts';
import { sha256Stream } from '../helpers/corpus.ts';
import { describeTree, diffTrees } from '../helpers/tree-compare.ts';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { objectKey, ResticRepository } from '../../src/formats/restic/repository.ts';
import { coreRestoreFor, IncludeFilter, ResticRestoreSource } from '../../src/formats/restic/restore-source.ts';
import { findSnapshot, loadSnapshots, requireTree } from '../../src/formats/restic/snapshots.ts';
import { Restorer, type RestoreCounters } from '../../src/engine/restorer.ts';
import type { FileProblem } from '../../src/backup/types.ts';
import type { Storage } from '../../src/storage/storage.ts';
import type { ResticRestore } from '../../src/native/types.ts';
import { createHash } from 'node:crypto';

const { tmp, password: PASSWORD, src, repoDir, cli } = scratchRepository('core-restore');

const xattrsWork = (() => {
  const probe = path.join(tmp, 'xattr-probe');
  fs.writeFileSync(probe, '');
  try {
    execFileSync('setfattr', ['-n', 'user.probe', '-v', '1', probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

beforeAll(() => {
  const plain = path.join(src, 'plain');
  fs.mkdirSync(plain, { recursive: true });
  fs.writeFileSync(path.join(plain, 'empty'), '');
  fs.writeFileSync(path.join(plain, 'small'), 'small\n');
  // Larger than a pack (pack_size 4 MiB below): its blobs lie in several packs and batches.
  fs.writeFileSync(path.join(plain, 'large'), sha256Stream('core-restore-large', 11 * 1024 * 1024 + 7));
  for (const [name, mode] of [['setuid', 0o4755], ['setgid', 0o2750], ['sticky', 0o1644], ['private', 0o600]] as const) {
    fs.writeFileSync(path.join(plain, name), name);
    fs.chmodSync(path.join(plain, name), mode);
  }
  if (process.getuid?.() === 0) fs.chownSync(path.join(plain, 'small'), 1234, 5678);
  if (xattrsWork) execFileSync('setfattr', ['-n', 'user.note', '-v', '0sAAEC/w==', path.join(plain, 'small')]);
  // Times with nanoseconds (the restore sets them last).
  fs.utimesSync(path.join(plain, 'sticky'), new Date('2001-02-03T04:05:06.789Z'), new Date('1999-12-31T23:59:59.123Z'));
  // Names the core leaves to the walk, beside plain ones in the same directory.
  const odd = path.join(src, 'odd');
  fs.mkdirSync(odd);
  fs.writeFileSync(path.join(odd, 'back\\slash'), 'b');
  fs.writeFileSync(path.join(odd, 'new\nline'), 'n');
  fs.writeFileSync(path.join(odd, 'quote"d'), 'q');
  fs.writeFileSync(Buffer.concat([Buffer.from(`${odd}/latin1-`), Buffer.from([0xe9, 0xff])]), 'l');
  fs.writeFileSync(path.join(odd, 'ordinary'), 'o');
  fs.linkSync(path.join(odd, 'ordinary'), path.join(plain, 'linked'));
  fs.symlinkSync('ordinary', path.join(odd, 'symlink'));
  // More files in one directory than a group holds (1024): several groups.
  const many = path.join(src, 'many');
  fs.mkdirSync(many);
  for (let i = 0; i < 1030; i++) fs.writeFileSync(path.join(many, `f${i}`), `${i}\n`);
  cli(['backup', 'init', repoDir]);
  cli(['backup', 'create', '--include', src]);
});

/**
 * The repository as remote storage (S3, Azure) presents it: no local files, so the walk fetches
 * trees and batch ranges for the core; `get` of `failing` fails as a dropped connection would.
 */
function remoteLike(inner: LocalStorage, failing?: string): Storage {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'localFile') return undefined;
      if (prop === 'get' && failing !== undefined) {
        return (key: string, range?: { offset: number; length: number }) => (key === failing ? Promise.reject(new Error('connection reset by peer')) : target.get(key, range));
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Storage;
}

async function restore(target: string, writer: 'js' | 'core', verifyOnly = false, storage: Storage = new LocalStorage({ root: repoDir, uploadBucket: undefined }), include: string[] = []): Promise<{ counters: RestoreCounters; problems: FileProblem[] }> {
  const core = await getCore();
  const repo = await ResticRepository.open(storage, core, Buffer.from(PASSWORD));
  const { snapshots } = await loadSnapshots(repo);
  const index = await repo.index();
  const made = writer === 'core' ? coreRestoreFor(repo, core, index, { verifyOnly, root: target }) : undefined;
  if (writer === 'core') expect(made).toBeDefined();
  // Counts the directories whose files the core took as a group: the walk falls back to its own
  // path quietly when the core cannot read a tree, and a test of the core must see it work.
  let groups = 0;
  const native: ResticRestore | undefined = made && {
    ...made,
    readDirectory: async (...args: Parameters<ResticRestore['readDirectory']>) => {
      const dir = await made.readDirectory(...args);
      groups += dir.groups.length;
      return dir;
    },
  };
  const problems: FileProblem[] = [];
  const source = new ResticRestoreSource(repo, core, index, requireTree(findSnapshot(snapshots, 'latest')), target, new IncludeFilter(include), problems, native);
  const result = await new Restorer(core, source, { verifyOnly, root: target }).run();
  // src/plain is the core's, src/many two groups of it; src/odd holds names only Go's
  // unquoting compares, so the walk takes that tree whole.
  if (writer === 'core') expect(groups).toBe(3);
  return { counters: result.counters, problems: [...problems, ...result.problems] };
}

describe('the core restore', () => {
  it('restores the tree as the walk does: content, modes, owner, times, xattrs, odd names, hard links', async () => {
    const original = describeTree(src, { skipMtimeOfRoot: true });
    const byCore = path.join(tmp, 'by-core');
    const byJs = path.join(tmp, 'by-js');
    const core = await restore(byCore, 'core');
    const js = await restore(byJs, 'js');
    expect(core.problems).toEqual([]);
    expect(js.problems).toEqual([]);
    expect(core.counters).toEqual(js.counters);
    expect(core.counters.files).toBe(1043);
    expect(diffTrees(original, describeTree(path.join(byCore, src), { skipMtimeOfRoot: true }))).toEqual([]);
    expect(diffTrees(original, describeTree(path.join(byJs, src), { skipMtimeOfRoot: true }))).toEqual([]);
    const restored = path.join(byCore, src);
    expect(fs.statSync(path.join(restored, 'plain', 'linked')).ino).toBe(fs.statSync(path.join(restored, 'odd', 'ordinary')).ino);
    expect(fs.statSync(path.join(restored, 'plain', 'setuid')).mode & 0o7777).toBe(0o4755);
    expect(fs.statSync(path.join(restored, 'plain', 'sticky'), { bigint: true }).mtimeNs).toBe(946684799123000000n);
    if (xattrsWork) expect(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'user.note', path.join(restored, 'plain', 'small')])).toEqual(Buffer.from([0, 1, 2, 0xff]));
    if (process.getuid?.() === 0) expect(fs.statSync(path.join(restored, 'plain', 'small')).uid).toBe(1234);
  });

  it('with an include filter: the files it picks and the directories above them, as the walk restores them', async () => {
    const include = ['plain/s*', 'odd/quote"d', '**/odd/ordinary'];
    const byCore = path.join(tmp, 'include-core');
    const byJs = path.join(tmp, 'include-js');
    const core = await restore(byCore, 'core', false, undefined, include);
    const js = await restore(byJs, 'js', false, undefined, include);
    expect(core.problems).toEqual([]);
    expect(core.counters).toEqual(js.counters);
    const list = (root: string) => (fs.readdirSync(path.join(root, src), { recursive: true }) as string[]).sort();
    expect(list(byCore)).toEqual(['odd', 'odd/ordinary', 'odd/quote"d', 'plain', 'plain/setgid', 'plain/setuid', 'plain/small', 'plain/sticky']);
    expect(list(byJs)).toEqual(list(byCore));
    // Each directory above what was picked is restored (and counted) once.
    const dirsIn = (root: string) => fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((d) => d.isDirectory()).length;
    expect(core.counters.dirs).toBe(dirsIn(byCore));
    expect(js.counters.dirs).toBe(dirsIn(byJs));
    expect(diffTrees(describeTree(path.join(byJs, src), { skipMtimeOfRoot: true }), describeTree(path.join(byCore, src), { skipMtimeOfRoot: true }))).toEqual([]);
    // Nothing picked: nothing written but the target itself.
    const none = path.join(tmp, 'include-none');
    const nothing = await restore(none, 'core', false, undefined, ['no-such-name']);
    expect(nothing.counters.files).toBe(0);
    expect(fs.readdirSync(none)).toEqual([]);
  });

  it('verify-only checks every file and byte the restore writes, and writes nothing', async () => {
    const target = path.join(tmp, 'verify-only');
    const core = await restore(target, 'core', true);
    const js = await restore(target, 'js', true);
    expect(core.problems).toEqual([]);
    expect(core.counters).toEqual(js.counters);
    expect(core.counters.bytes).toBeGreaterThan(11 * 1024 * 1024);
    expect(fs.existsSync(target)).toBe(false);
  });

  it('from storage without local files (S3, Azure): the same tree; a pack it cannot fetch fails exactly the files it holds', async () => {
    const local = new LocalStorage({ root: repoDir, uploadBucket: undefined });
    const target = path.join(tmp, 'remote');
    const result = await restore(target, 'core', false, remoteLike(local));
    expect(result.problems).toEqual([]);
    expect(result.counters.files).toBe(1043);
    expect(diffTrees(describeTree(src, { skipMtimeOfRoot: true }), describeTree(path.join(target, src), { skipMtimeOfRoot: true }))).toEqual([]);

    // Every file below is a single blob (restic's minimum chunk is 512 KiB) but `large`.
    const core = await getCore();
    const index = await (await ResticRepository.open(local, core, Buffer.from(PASSWORD))).index();
    const packOf = (rel: string) => index.lookup('data', createHash('sha256').update(fs.readFileSync(path.join(src, rel))).digest('hex'))[0]?.packId;
    const lost = packOf('plain/small') as string;
    const singles = ['plain/small', 'plain/setuid', 'plain/setgid', 'plain/sticky', 'plain/private', 'odd/ordinary', 'plain/linked', 'odd/back\\slash', 'odd/new\nline', 'odd/quote"d'];
    const failing = path.join(tmp, 'remote-failing');
    const failed = await restore(failing, 'core', false, remoteLike(local, objectKey('data', lost)));
    const named = failed.problems.map((p) => path.relative(src, p.path)).sort();
    expect(named).toEqual(expect.arrayContaining(singles.filter((rel) => packOf(rel) === lost)));
    // (The second name of a hard link says its first could not be restored.)
    for (const p of failed.problems) if (!p.path.endsWith('/plain/linked')) expect(p.error).toContain('connection reset by peer');
    for (const rel of singles) {
      if (packOf(rel) === lost) continue;
      expect(named).not.toContain(rel);
      expect(fs.readFileSync(path.join(failing, src, rel)).equals(fs.readFileSync(path.join(src, rel))), rel).toBe(true);
    }
  });

  it('replaces a symlink or a directory standing where a file goes, never writing through the symlink', async () => {
    const target = path.join(tmp, 'obstacles');
    const outside = path.join(tmp, 'outside');
    fs.writeFileSync(outside, 'keep me');
    const plain = path.join(target, src, 'plain');
    fs.mkdirSync(path.join(plain, 'small', 'inside'), { recursive: true });
    fs.symlinkSync(outside, path.join(plain, 'large'));
    const result = await restore(target, 'core');
    expect(result.problems).toEqual([]);
    expect(fs.readFileSync(outside, 'utf8')).toBe('keep me');
    expect(fs.lstatSync(path.join(plain, 'large')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(plain, 'small'), 'utf8')).toBe('small\n');
    expect(diffTrees(describeTree(src, { skipMtimeOfRoot: true }), describeTree(path.join(target, src), { skipMtimeOfRoot: true }))).toEqual([]);
  });
});
