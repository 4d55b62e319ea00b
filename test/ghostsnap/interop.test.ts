// Interoperability with the real ghostsnap, both directions (issue #10): what we write ghostsnap
// lists, checks and restores, and deduplicates against; what ghostsnap wrote (the fixture and a
// fresh repository) we list, check, restore — hard links included — and extend.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCorpus } from '../helpers/corpus.ts';
import { describeTree, diffTrees, type EntryInfo } from '../helpers/tree-compare.ts';
import { agentOk, copyFixture, FIXTURE_PASSWORD, ghostsnapOk, manifest, settle, type CheckJson, type CreateJson } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-gs-interop-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'gs-interop-password';
const pwFile = path.join(tmp, 'password');
fs.writeFileSync(pwFile, PASSWORD);
const fixturePw = path.join(tmp, 'fixture-password');
fs.writeFileSync(fixturePw, FIXTURE_PASSWORD);
const corpus = path.join(tmp, 'src', 'data');
const SPECIAL = ['fifo', 'null-device', 'socket'];

/** The corpus as a correct restore holds it: everything but what a ghostsnap tree cannot hold. */
function expectedCorpus(): Map<string, EntryInfo> {
  const tree = describeTree(corpus);
  for (const name of SPECIAL) tree.delete(name);
  return tree;
}

/**
 * What ghostsnap's own restore can give back: whole-second mtimes (none on symlinks), no
 * setuid/setgid/sticky bits, and names and targets that are valid UTF-8 only (it stores U+FFFD).
 */
function ghostsnapView(tree: Map<string, EntryInfo>): Map<string, EntryInfo> {
  const out = new Map<string, EntryInfo>();
  for (const [key, e] of tree) {
    if (Buffer.from(key, 'latin1').toString('utf8').includes('\ufffd')) continue;
    if (e.link && Buffer.from(e.link, 'hex').toString('utf8').includes('\ufffd')) continue;
    out.set(key, { ...e, mode: e.mode & 0o777, mtimeNs: e.type === 'symlink' ? 0n : (e.mtimeNs / 1_000_000_000n) * 1_000_000_000n });
  }
  return out;
}

function snapshotIdsOf(repo: string, password: string): string[] {
  const out = ghostsnapOk(repo, password, ['-q', 'snapshots', '--format', 'json']);
  return (JSON.parse(out.slice(out.indexOf('['))) as { id: string }[]).map((s) => s.id);
}

beforeAll(() => {
  buildCorpus(corpus, { special: true, bigFileBytes: 6 * 1024 * 1024 });
  // A hard-link pair whose first name in walk order (root files come first) sorts after the
  // other: ghostsnap would make "aa/inner.txt" the follower and restore it empty.
  fs.mkdirSync(path.join(corpus, 'aa'));
  fs.writeFileSync(path.join(corpus, 'zz-link.txt'), 'linked, walked first, sorts last\n');
  fs.linkSync(path.join(corpus, 'zz-link.txt'), path.join(corpus, 'aa', 'inner.txt'));
  return settle();
});

describe('ours → ghostsnap', () => {
  const repo = path.join(tmp, 'ours');
  let created: CreateJson;

  beforeAll(() => {
    agentOk(repo, pwFile, ['backup', 'init', repo]);
    created = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', corpus, '--name', 'interop', '--tag', 'first']);
  });

  it('stores everything and reports what a ghostsnap tree cannot hold as skipped', () => {
    expect(created.problems).toEqual([]);
    expect(created.skipped.map((s) => path.basename(s.path)).sort()).toEqual(SPECIAL.slice().sort());
    expect(created.skipped.find((s) => s.path.endsWith('fifo'))?.error).toMatch(/FIFO/);
    expect(created.backup.paths).toEqual([corpus]);
  });

  it('ghostsnap lists the snapshot and its files', () => {
    expect(snapshotIdsOf(repo, PASSWORD)).toEqual([created.backup.id]);
    const ls = ghostsnapOk(repo, PASSWORD, ['-q', 'ls', created.backup.id.slice(0, 8), '-r']);
    for (const name of ['big.bin', 'nested/deeper/b.txt', 'names/ünïcödé-名前.txt', 'link-to-hello', 'aa/inner.txt']) expect(ls).toContain(name);
  });

  it('ghostsnap check --read-data finds it healthy', () => {
    const out = ghostsnapOk(repo, PASSWORD, ['check', '--read-data']);
    expect(out).toContain('Repository is healthy');
  });

  it('ghostsnap restores it as faithfully as ghostsnap can, hard links included', () => {
    const target = path.join(tmp, 'ghostsnap-restores-ours');
    const out = ghostsnapOk(repo, PASSWORD, ['-q', 'restore', created.backup.id, '--target', target]);
    expect(out).not.toMatch(/Failed/);
    expect(diffTrees(ghostsnapView(expectedCorpus()), ghostsnapView(describeTree(target)))).toEqual([]);
    expect(fs.statSync(path.join(target, 'aa', 'inner.txt')).ino).toBe(fs.statSync(path.join(target, 'zz-link.txt')).ino);
  });

  it('we restore it exactly: nanosecond times, setuid, non-UTF-8 names and targets, hard links, xattrs', () => {
    const target = path.join(tmp, 'we-restore-ours');
    const result = agentOk<{ problems: unknown[] }>(repo, pwFile, ['backup', 'restore', 'latest', '--target', target]);
    expect(result.problems).toEqual([]);
    expect(diffTrees(expectedCorpus(), describeTree(target))).toEqual([]);
  });

  it('ghostsnap backs the same tree up without a single new chunk', () => {
    const out = ghostsnapOk(repo, PASSWORD, ['backup', corpus]);
    expect(out).toMatch(/New chunks: 0 \| Dedup chunks: \d+/);
    const report = agentOk<CheckJson>(repo, pwFile, ['backup', 'check', '--read-data']);
    expect(report.errors).toEqual([]);
  });

  it('our next backup reads no file again and stores nothing new', () => {
    const again = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', corpus]);
    expect(again.summary.files_new + again.summary.files_changed).toBe(0);
    expect(again.summary.files_unmodified).toBe(created.summary.files_new);
    expect(again.summary.data_blobs).toBe(0);
    expect(again.backup.id).not.toBe(created.backup.id);
    // Three backups (ours, ghostsnap's, ours) of the same tree share all their data.
    const stats = agentOk<{ total_backups: number; total_size: number; unique_data: number; deduplication_ratio: number; compression_ratio: number }>(repo, pwFile, ['backup', 'stats']);
    expect(stats.total_backups).toBe(3);
    expect(stats.deduplication_ratio).toBeGreaterThan(2.9);
    expect(stats.compression_ratio).toBeGreaterThan(1);
  });
});

describe('ghostsnap → ours: the fixture', () => {
  const repo = copyFixture(path.join(tmp, 'fixture'));
  const expected = manifest.snapshots;

  it('lists the snapshots with ids, tags, paths and host; shows one by prefix', () => {
    const list = agentOk<{ id: string; short_id: string; tags: string[]; paths: string[]; hostname: string; tool: string; timestamp: string }[]>(repo, fixturePw, ['backup', 'list']);
    expect(list.map((b) => b.id)).toEqual(expected.map((s) => s.id));
    for (const s of expected) {
      const b = list.find((x) => x.id === s.id);
      expect(b).toMatchObject({ short_id: s.short_id, tags: s.tags, paths: s.paths, hostname: s.hostname, tool: 'ghostsnap', timestamp: s.time });
    }
    expect(agentOk<{ id: string }>(repo, fixturePw, ['backup', 'show', expected[1]!.short_id]).id).toBe(expected[1]!.id);
  });

  it('passes our check --read-data', () => {
    const report = agentOk<CheckJson>(repo, fixturePw, ['backup', 'check', '--read-data']);
    expect(report.errors).toEqual([]);
    expect(report.blobs_checked).toBe(15);
  });

  it('restores every snapshot exactly as the manifest says — the hard link ghostsnap restores empty included', () => {
    for (const s of expected) {
      const target = path.join(tmp, `fixture-restore-${s.short_id}`);
      const result = agentOk<{ problems: unknown[] }>(repo, fixturePw, ['backup', 'restore', s.id, '--target', target]);
      expect(result.problems).toEqual([]);
      for (const e of s.entries) {
        const p = path.join(target, e.path);
        const st = fs.lstatSync(p);
        expect(st.mode, e.path).toBe(e.st_mode);
        expect(Math.floor(st.mtimeMs / 1000), e.path).toBe(e.mtime);
        if (e.type === 'file') expect(crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'), e.path).toBe(e.sha256);
        if (e.type === 'symlink') expect(fs.readlinkSync(p)).toBe(e.link_target);
        for (const [name, value] of Object.entries(e.xattrs ?? {})) expect(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', name, p], { encoding: 'utf8' })).toBe(value);
        if (e.hardlink_group && e.hardlink_group !== e.path) expect(st.ino, e.path).toBe(fs.statSync(path.join(target, e.hardlink_group)).ino);
      }
    }
    // ghostsnap itself gets that file wrong (formats/ghostsnap.md §17.8).
    const theirs = path.join(tmp, 'fixture-restored-by-ghostsnap');
    ghostsnapOk(repo, FIXTURE_PASSWORD, ['-q', 'restore', expected[0]!.short_id, '--target', theirs]);
    expect(fs.statSync(path.join(theirs, 'docs', 'hardlink-b.txt')).size).toBe(0);
  });

  it('takes a new snapshot from us that ghostsnap lists, checks and restores', () => {
    const created = agentOk<CreateJson>(repo, fixturePw, ['backup', 'create', '--include', path.join(corpus, 'nested')]);
    expect(snapshotIdsOf(repo, FIXTURE_PASSWORD)).toContain(created.backup.id);
    expect(ghostsnapOk(repo, FIXTURE_PASSWORD, ['check', '--read-data'])).toContain('Repository is healthy');
    const target = path.join(tmp, 'ghostsnap-restores-ours-in-fixture');
    ghostsnapOk(repo, FIXTURE_PASSWORD, ['-q', 'restore', created.backup.id, '--target', target]);
    const want = ghostsnapView(describeTree(path.join(corpus, 'nested')));
    for (const e of want.values()) e.linkGroup = -1; // its hard-link partner is outside this path
    expect(diffTrees(want, ghostsnapView(describeTree(target)))).toEqual([]);
  });
});

describe('ghostsnap → ours: a repository ghostsnap creates', () => {
  const repo = path.join(tmp, 'theirs');
  const src = path.join(tmp, 'theirs-src');

  beforeAll(() => {
    fs.mkdirSync(path.join(src, 'dir'), { recursive: true });
    fs.writeFileSync(path.join(src, 'one.txt'), 'one\n');
    fs.writeFileSync(path.join(src, 'dir', 'big.bin'), crypto.randomBytes(3 * 1024 * 1024));
    fs.symlinkSync('one.txt', path.join(src, 'link'));
    execFileSync('touch', ['-h', '-d', '2024-05-06 07:08:09', path.join(src, 'one.txt'), path.join(src, 'dir', 'big.bin'), path.join(src, 'link'), path.join(src, 'dir'), src]);
    ghostsnapOk(repo, PASSWORD, ['init', repo]);
    ghostsnapOk(repo, PASSWORD, ['backup', src, '--tag', 'theirs']);
  });

  it('we list, check and restore it, then add ours with nothing new stored, and ghostsnap restores ours', () => {
    const [theirs] = agentOk<{ id: string; tags: string[] }[]>(repo, pwFile, ['backup', 'list']);
    expect(theirs?.tags).toEqual(['theirs']);
    expect(agentOk<CheckJson>(repo, pwFile, ['backup', 'check', '--read-data']).errors).toEqual([]);
    const target = path.join(tmp, 'we-restore-theirs');
    expect(agentOk<{ problems: unknown[] }>(repo, pwFile, ['backup', 'restore', theirs!.id, '--target', target]).problems).toEqual([]);
    expect(diffTrees(ghostsnapView(describeTree(src)), ghostsnapView(describeTree(target)))).toEqual([]);

    const ours = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', src]);
    expect(ours.summary.files_new).toBe(2);
    expect(ours.summary.data_blobs).toBe(0);
    expect(ghostsnapOk(repo, PASSWORD, ['check', '--read-data'])).toContain('Repository is healthy');
    const back = path.join(tmp, 'they-restore-ours');
    ghostsnapOk(repo, PASSWORD, ['-q', 'restore', ours.backup.id.slice(0, 8), '--target', back]);
    expect(diffTrees(ghostsnapView(describeTree(src)), ghostsnapView(describeTree(back)))).toEqual([]);
  });
});

describe('several paths in one snapshot', () => {
  const base = path.join(tmp, 'multi');
  const repo = path.join(tmp, 'multi-repo');
  const a = path.join(base, 'srv', 'a');
  const b = path.join(base, 'etc', 'b');

  beforeAll(() => {
    for (const [dir, text] of [
      [a, 'from a'],
      [b, 'from b'],
    ] as const) {
      fs.mkdirSync(path.join(dir, 'same'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'same', 'x.txt'), `${text}\n`);
    }
    agentOk(repo, pwFile, ['backup', 'init', repo]);
  });

  it('names every node relative to the common root: no collisions, for ghostsnap and for us', () => {
    const created = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', a, '--include', b]);
    expect(created.backup.paths).toEqual([a, b]);
    const ls = ghostsnapOk(repo, PASSWORD, ['-q', 'ls', created.backup.id.slice(0, 8), '-r']);
    expect(ls).toContain('srv/a/same/x.txt');
    expect(ls).toContain('etc/b/same/x.txt');
    const theirs = path.join(tmp, 'multi-ghostsnap');
    ghostsnapOk(repo, PASSWORD, ['-q', 'restore', created.backup.id, '--target', theirs]);
    const ours = path.join(tmp, 'multi-ours');
    agentOk(repo, pwFile, ['backup', 'restore', 'latest', '--target', ours]);
    for (const root of [theirs, ours]) {
      expect(fs.readFileSync(path.join(root, 'srv', 'a', 'same', 'x.txt'), 'utf8')).toBe('from a\n');
      expect(fs.readFileSync(path.join(root, 'etc', 'b', 'same', 'x.txt'), 'utf8')).toBe('from b\n');
    }
  });

  it('restores to the original paths without --target', () => {
    fs.rmSync(a, { recursive: true });
    fs.writeFileSync(path.join(b, 'same', 'x.txt'), 'changed\n');
    const r = agentOk<{ problems: unknown[] }>(repo, pwFile, ['backup', 'restore', 'latest']);
    expect(r.problems).toEqual([]);
    expect(fs.readFileSync(path.join(a, 'same', 'x.txt'), 'utf8')).toBe('from a\n');
    expect(fs.readFileSync(path.join(b, 'same', 'x.txt'), 'utf8')).toBe('from b\n');
  });
});

describe('change detection', () => {
  it('re-reads a file whose timestamps fall in or after the second the backup started, and a file changed behind an old mtime', async () => {
    const dir = path.join(tmp, 'changes');
    const repo = path.join(tmp, 'changes-repo');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'old.txt'), 'old content\n');
    fs.writeFileSync(path.join(dir, 'future.txt'), 'future\n');
    execFileSync('touch', ['-d', '2024-01-01 00:00:00', path.join(dir, 'old.txt')]);
    execFileSync('touch', ['-d', '+1 hour', path.join(dir, 'future.txt')]);
    agentOk(repo, pwFile, ['backup', 'init', repo]);
    await settle();
    const first = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', dir]);
    expect(first.summary.files_new).toBe(2);
    const second = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', dir]);
    expect([second.summary.files_unmodified, second.summary.files_changed]).toEqual([1, 1]);
    // The unmodified file's chunks come from the first backup's tree: restored, it is whole.
    const secondTarget = path.join(tmp, 'changes-restore-second');
    agentOk(repo, pwFile, ['backup', 'restore', second.backup.id, '--target', secondTarget]);
    for (const name of ['old.txt', 'future.txt']) expect(fs.readFileSync(path.join(secondTarget, name), 'utf8')).toBe(fs.readFileSync(path.join(dir, name), 'utf8'));
    // Same size and mtime, new content: only the ctime tells.
    fs.writeFileSync(path.join(dir, 'old.txt'), 'new content\n');
    execFileSync('touch', ['-d', '2024-01-01 00:00:00', path.join(dir, 'old.txt')]);
    const third = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', dir]);
    expect(third.summary.files_changed).toBe(2);
    const target = path.join(tmp, 'changes-restore');
    agentOk(repo, pwFile, ['backup', 'restore', 'latest', '--target', target]);
    expect(fs.readFileSync(path.join(target, 'old.txt'), 'utf8')).toBe('new content\n');
  });
});

describe('duplicates within one backup', () => {
  it('are stored once (ghostsnap stores them again)', () => {
    const dir = path.join(tmp, 'dups');
    fs.mkdirSync(dir);
    const content = crypto.randomBytes(1024 * 1024);
    for (const name of ['one.bin', 'two.bin', 'three.bin']) fs.writeFileSync(path.join(dir, name), content);
    const repo = path.join(tmp, 'dups-repo');
    agentOk(repo, pwFile, ['backup', 'init', repo]);
    const created = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', dir]);
    expect(created.summary.files_new).toBe(3);
    expect(created.summary.data_blobs).toBe(1);
    expect(created.summary.data_added).toBe(content.length);
  });
});

describe('ghostsnap.* settings', () => {
  it('chunk_size, compression, pack_size and exclude_patterns take effect', () => {
    const dir = path.join(tmp, 'settings');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'data.bin'), crypto.randomBytes(3 * 1024 * 1024));
    fs.writeFileSync(path.join(dir, 'text.txt'), 'compressible line\n'.repeat(64 * 1024));
    fs.writeFileSync(path.join(dir, 'cache.skip'), 'excluded\n');
    const config = path.join(tmp, 'settings.yaml');
    fs.writeFileSync(config, 'include:\n  container_volumes: false\n  bolt_config: false\nghostsnap:\n  chunk_size: 256KiB\n  compression: zlib:0\n  pack_size: 1MiB\n  exclude_patterns: ["*.skip"]\n');
    const repo = path.join(tmp, 'settings-repo');
    agentOk(repo, pwFile, ['--config', config, 'backup', 'init', repo]);
    const created = agentOk<CreateJson & { summary: { data_added_packed: number } }>(repo, pwFile, ['--config', config, 'backup', 'create', '--include', dir]);
    expect(created.summary.files_new).toBe(2);
    // FastCDC with a 256 KiB average (64 KiB to 1 MiB) cuts the random 3 MiB about a dozen times;
    // the default 4 MiB average would give one or two chunks.
    expect(created.summary.data_blobs).toBeGreaterThanOrEqual(6);
    // Level 0 stores: the text is not compressed (at level 6 it would shrink to a few KiB).
    expect(created.summary.data_added_packed).toBeGreaterThan(created.summary.data_added);
    const packFiles = fs.readdirSync(path.join(repo, 'data')).filter((n) => n.endsWith('.pack'));
    expect(packFiles.length).toBeGreaterThanOrEqual(3);
    expect(ghostsnapOk(repo, PASSWORD, ['check', '--read-data'])).toContain('Repository is healthy');
  });
});
