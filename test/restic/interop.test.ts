// Interoperability with the real restic, both directions (issue #4): what we write restic 0.14
// and 0.18.1 accept, restore identically and extend without re-reading anything (same tree
// ids); what restic writes we list, restore, check and extend; data dedups across the tools.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, repoRoot } from '../helpers/cli.ts';
import { buildCorpus } from '../helpers/corpus.ts';
import { RESTIC_014, RESTIC_018, RESTIC_VERSIONS, resticOk } from '../helpers/restic.ts';
import { describeTree, diffTrees } from '../helpers/tree-compare.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-restic-interop-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'interop-password';
const passwordFile = path.join(tmp, 'password');
fs.writeFileSync(passwordFile, `${PASSWORD}\n`);
const corpus = path.join(tmp, 'src', 'data');

function agent(repo: string, args: string[], env: Record<string, string> = {}) {
  const r = runCli(['--json', '--repo', repo, '--password-file', passwordFile, ...args], { env: { TZ: 'UTC', ...env } });
  return r;
}

function agentOk<T = unknown>(repo: string, args: string[]): T {
  const r = agent(repo, args);
  if (r.code !== 0) throw new Error(`bolt-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface CreateJson {
  backup: { id: string; tree: string; tags: string[] };
  summary: { files_new: number; files_changed: number; files_unmodified: number; data_added: number };
  problems: unknown[];
  skipped: { path: string; error: string }[];
}

/**
 * What a correct restore of the corpus must contain: everything but the socket. restic 0.14
 * cannot represent a symlink target that is not valid UTF-8 (it stores U+FFFD; formats/restic.md
 * §7.2): through 0.14 that one target comes back lossy.
 */
function expectedCorpus(via?: string): ReturnType<typeof describeTree> {
  const tree = describeTree(corpus);
  tree.delete('socket');
  const link = tree.get('odd-links/link-non-utf8');
  if (via === RESTIC_014 && link?.link) link.link = link.link.replace(/ff/g, 'efbfbd');
  return tree;
}

/**
 * The tree ids that must be byte-identical between our snapshot and restic's of the corpus:
 * the corpus itself, or with restic 0.14 (which drops linktarget_raw) every directory below it
 * except odd-links/.
 */
function comparableTrees(bin: string, repo: string, password: string, snapshotId: string): string[] {
  if (bin !== RESTIC_014) return [subtreeIdOf(bin, repo, password, snapshotId, corpus)];
  return fs
    .readdirSync(corpus, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'odd-links')
    .map((d) => subtreeIdOf(bin, repo, password, snapshotId, path.join(corpus, d.name)));
}

/** The tree id of the directory `dir` inside a snapshot, read with restic itself. */
function subtreeIdOf(bin: string, repo: string, password: string, snapshotId: string, dir: string): string {
  let tree = (JSON.parse(resticOk(bin, repo, password, ['cat', 'snapshot', snapshotId])) as { tree: string }).tree;
  for (const name of dir.split('/').filter(Boolean)) {
    const nodes = (JSON.parse(resticOk(bin, repo, password, ['cat', 'blob', tree])) as { nodes: { name: string; subtree?: string }[] }).nodes;
    const node = nodes.find((n) => n.name === name);
    if (!node?.subtree) throw new Error(`no directory ${name} in tree ${tree}`);
    tree = node.subtree;
  }
  return tree;
}

function copyFixture(version: 'v1' | 'v2'): string {
  const dest = path.join(tmp, `fixture-${version}-${crypto.randomBytes(4).toString('hex')}`);
  fs.cpSync(path.join(repoRoot, 'test', 'fixtures', 'restic', version), dest, { recursive: true });
  fs.chmodSync(dest, 0o700);
  return dest;
}

beforeAll(() => {
  buildCorpus(corpus, { special: true });
});

describe.each(RESTIC_VERSIONS)('ours → $name', ({ bin }) => {
  const repo = path.join(tmp, `ours-${path.basename(bin)}`);
  let backup: CreateJson;

  beforeAll(() => {
    agentOk(repo, ['backup', 'init', repo]);
    backup = agentOk<CreateJson>(repo, ['backup', 'create', '--include', corpus, '--name', 'interop', '--tag', 'first', '--tag', 'bolt.service=db']);
  });

  it('skips the socket and reports it', () => {
    expect(backup.problems).toEqual([]);
    expect(backup.skipped.map((s) => path.basename(s.path))).toContain('socket');
  });

  it('passes restic check --read-data', () => {
    expect(resticOk(bin, repo, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
  });

  it('shows our tags and paths in restic snapshots --json', () => {
    const snaps = JSON.parse(resticOk(bin, repo, PASSWORD, ['snapshots', '--json'])) as { id: string; tags: string[]; paths: string[] }[];
    expect(snaps).toHaveLength(1);
    expect(snaps[0]?.id).toBe(backup.backup.id);
    // ours, in the order given, plus the Bolt metadata tags bolt-agent adds (bolt.trigger, host)
    expect(snaps[0]?.tags).toEqual(expect.arrayContaining(['bolt.name=interop', 'first', 'bolt.service=db']));
    const tags = snaps[0]?.tags ?? [];
    expect(tags.indexOf('first')).toBeLessThan(tags.indexOf('bolt.service=db'));
    expect(snaps[0]?.paths).toEqual([corpus]);
  });

  it('restic restores a byte- and metadata-identical tree', () => {
    const target = path.join(tmp, `restic-restore-${path.basename(bin)}`);
    resticOk(bin, repo, PASSWORD, ['restore', 'latest', '--target', target]);
    expect(diffTrees(expectedCorpus(bin), describeTree(path.join(target, corpus)))).toEqual([]);
  });

  it('restic backs the same tree up again with 0 changed files and byte-identical trees', () => {
    const out = resticOk(bin, repo, PASSWORD, ['backup', corpus, '--host', os.hostname()]);
    expect(out).toContain(`using parent snapshot ${backup.backup.id.slice(0, 8)}`);
    expect(out).toMatch(/Files:\s+0 new,\s+0 changed/);
    // Only the ancestors of the corpus (/tmp, whose mtime moves) may differ: the corpus's own
    // tree must be the very tree we wrote.
    const snaps = JSON.parse(resticOk(bin, repo, PASSWORD, ['snapshots', '--json'])) as { id: string }[];
    const ids = snaps.map((s) => comparableTrees(bin, repo, PASSWORD, s.id));
    expect(ids[0]?.length).toBeGreaterThan(0);
    expect(ids[1]).toEqual(ids[0]);
  });

  it('restic forget --prune on our repository leaves it clean for our check', () => {
    resticOk(bin, repo, PASSWORD, ['forget', '--keep-last', '1', '--prune']);
    const report = agentOk<{ ok: boolean; errors: unknown[] }>(repo, ['backup', 'check', '--read-data']);
    expect(report.errors).toEqual([]);
    expect(report.ok).toBe(true);
  });
});

describe('our restore', () => {
  it('restores our backup identically (content and metadata)', () => {
    const repo = path.join(tmp, 'ours-restore');
    agentOk(repo, ['backup', 'init', repo]);
    agentOk(repo, ['backup', 'create', '--include', corpus]);
    const target = path.join(tmp, 'our-restore');
    const result = agentOk<{ problems: unknown[]; files_restored: number }>(repo, ['backup', 'restore', 'latest', '--target', target]);
    expect(result.problems).toEqual([]);
    expect(diffTrees(expectedCorpus(), describeTree(path.join(target, corpus)))).toEqual([]);
  });
});

interface ManifestEntry {
  path: string;
  type: string;
  mode_octal: string;
  size?: number;
  sha256?: string;
  linktarget?: string;
  xattrs?: Record<string, string>;
}
interface ManifestSnapshot {
  id: string;
  tags?: string[];
  paths: string[];
  hostname: string;
  entries: ManifestEntry[];
}

const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'restic', 'manifest.json'), 'utf8')) as {
  repositories: Record<'v1' | 'v2', { snapshots: ManifestSnapshot[] }>;
};
const fixturePassword = fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'restic', 'password.txt'), 'utf8');

describe.each(['v1', 'v2'] as const)('restic-written fixture %s → ours', (version) => {
  const repo = copyFixture(version);
  const pwFile = path.join(tmp, `fixture-password-${version}`);
  fs.writeFileSync(pwFile, fixturePassword);
  const run = (args: string[]) => runCli(['--json', '--repo', repo, '--password-file', pwFile, ...args], { env: { TZ: 'UTC' } });
  const ok = <T>(args: string[]): T => {
    const r = run(args);
    if (r.code !== 0) throw new Error(`bolt-agent ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const expected = manifest.repositories[version].snapshots;

  it('lists the snapshots with ids, tags, paths and host', () => {
    const list = ok<{ id: string; tags: string[]; paths: string[]; hostname: string; tool: string }[]>(['backup', 'list']);
    expect(list.map((b) => b.id).sort()).toEqual(expected.map((s) => s.id).sort());
    for (const s of expected) {
      const b = list.find((x) => x.id === s.id);
      expect(b?.tags).toEqual(s.tags ?? []);
      expect(b?.paths).toEqual(s.paths);
      expect(b?.hostname).toBe(s.hostname);
      expect(b?.tool).toBe('restic');
    }
  });

  it('shows a snapshot by id prefix', () => {
    const s = expected[1] as ManifestSnapshot;
    expect(ok<{ id: string }>(['backup', 'show', s.id.slice(0, 8)]).id).toBe(s.id);
  });

  it('restores every snapshot exactly as the manifest says', () => {
    for (const s of expected) {
      const target = path.join(tmp, `fixture-restore-${version}-${s.id.slice(0, 8)}`);
      const result = ok<{ problems: unknown[] }>(['backup', 'restore', s.id, '--target', target]);
      expect(result.problems).toEqual([]);
      for (const e of s.entries) {
        const p = path.join(target, e.path);
        const st = fs.lstatSync(p);
        if (e.path.startsWith('/srv/fixture/data') || e.type !== 'dir') expect((st.mode & 0o7777).toString(8).padStart(4, '0'), e.path).toBe(e.mode_octal);
        if (e.type === 'file') {
          expect(crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'), e.path).toBe(e.sha256);
        } else if (e.type === 'symlink') {
          expect(fs.readlinkSync(p)).toBe(e.linktarget);
        }
        for (const [name, value] of Object.entries(e.xattrs ?? {})) {
          const got = execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', name, p], { encoding: 'utf8' });
          expect(got).toBe(value);
        }
      }
    }
  });

  it('passes our check --read-data', () => {
    const report = ok<{ ok: boolean; errors: unknown[]; blobs_checked: number }>(['backup', 'check', '--read-data']);
    expect(report.errors).toEqual([]);
    expect(report.blobs_checked).toBeGreaterThan(5);
  });

  it('takes a new backup from us that restic restores', () => {
    const created = ok<CreateJson>(['backup', 'create', '--include', path.join(corpus, 'nested'), '--include', path.join(corpus, 'hello.txt')]);
    expect(resticOk(RESTIC_014, repo, fixturePassword, ['check', '--read-data'])).toContain('no errors were found');
    const target = path.join(tmp, `restic-restores-ours-${version}`);
    resticOk(RESTIC_014, repo, fixturePassword, ['restore', created.backup.id, '--target', target]);
    expect(fs.readFileSync(path.join(target, corpus, 'hello.txt'), 'utf8')).toBe('hello bolt\n');
    const want = describeTree(path.join(corpus, 'nested'));
    expect(diffTrees(want, describeTree(path.join(target, corpus, 'nested')))).toEqual([]);
  });
});

describe.each(RESTIC_VERSIONS)('$name writes, we read and extend', ({ bin }) => {
  it('restores restic’s backup, adds ours as its child with only trees new, and restic restores ours', () => {
    const repo = path.join(tmp, `theirs-${path.basename(bin)}`);
    resticOk(bin, repo, PASSWORD, ['init']);
    resticOk(bin, repo, PASSWORD, ['backup', corpus, '--host', os.hostname()]);
    const target = path.join(tmp, `we-restore-theirs-${path.basename(bin)}`);
    const restored = agentOk<{ problems: unknown[] }>(repo, ['backup', 'restore', 'latest', '--target', target]);
    expect(restored.problems).toEqual([]);
    expect(diffTrees(expectedCorpus(bin), describeTree(path.join(target, corpus)))).toEqual([]);

    const ours = agentOk<CreateJson & { summary: { data_blobs: number } }>(repo, ['backup', 'create', '--include', corpus]);
    expect(ours.summary.files_new + ours.summary.files_changed).toBe(0);
    expect(ours.summary.data_blobs).toBe(0);
    const theirs = JSON.parse(resticOk(bin, repo, PASSWORD, ['snapshots', '--json'])) as { id: string; tree: string }[];
    expect(theirs).toHaveLength(2);
    const ids = theirs.map((s) => comparableTrees(bin, repo, PASSWORD, s.id));
    expect(ids[1]).toEqual(ids[0]); // byte-identical trees

    resticOk(bin, repo, PASSWORD, ['check', '--read-data']);
    const target2 = path.join(tmp, `they-restore-ours-${path.basename(bin)}`);
    resticOk(bin, repo, PASSWORD, ['restore', ours.backup.id, '--target', target2]);
    expect(diffTrees(expectedCorpus(bin), describeTree(path.join(target2, corpus)))).toEqual([]);
  });
});

describe('cross-tool deduplication', () => {
  it('adds less than 1% new data when bolt-agent backs up what restic already stored', () => {
    const repo = path.join(tmp, 'dedup');
    agentOk(repo, ['backup', 'init', repo]);
    const other = path.join(tmp, 'dedup-src');
    buildCorpus(other, { bigFileBytes: 24 * 1024 * 1024 });
    resticOk(RESTIC_014, repo, PASSWORD, ['backup', other]);
    const before = fs.readdirSync(path.join(repo, 'data'), { recursive: true }).length;
    const ours = agentOk<CreateJson & { summary: { total_bytes_processed: number } }>(repo, ['backup', 'create', '--force', '--include', other]);
    expect(ours.summary.files_new).toBeGreaterThan(10);
    expect(ours.summary.data_added).toBeLessThan(0.01 * ours.summary.total_bytes_processed);
    expect(fs.readdirSync(path.join(repo, 'data'), { recursive: true }).length).toBeGreaterThanOrEqual(before);
  });
});

describe('restic 0.18.1 is present', () => {
  it('is the version we expect', () => {
    const r = execFileSync(RESTIC_018, ['version'], { encoding: 'utf8' }) as string;
    expect(r).toContain('restic 0.18.1');
  });
});
