// `backup forget` on a repository we wrote: decisions identical to `restic forget --dry-run
// --json` (200 snapshots over 3 years, several hosts, paths, tags and UTC offsets); --apply
// removes exactly those and prunes, leaving a repository both restic and we check clean.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { RESTIC_014, resticOk } from '../helpers/restic.ts';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { encodeSnapshot } from '../../src/formats/restic/snapshot.ts';
import { goTimeFromUnix } from '../../src/util/go-time.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-forget-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'forget-password';
const passwordFile = path.join(tmp, 'password');
fs.writeFileSync(passwordFile, PASSWORD);
const repo = path.join(tmp, 'repo');

function agent(args: string[]) {
  const r = runCli(['--json', '--repo', repo, '--password-file', passwordFile, ...args], { env: { TZ: 'UTC' } });
  if (r.code !== 0) throw new Error(`bolt-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

interface Decision {
  key: string;
  keep: string[];
  remove: string[];
  reasons: Record<string, string[]>;
}

function ourDecision(flags: string[]): Decision[] {
  const result = agent(['backup', 'forget', '--dry-run', ...flags]) as {
    groups: { key: { hostname: string | null; paths: string[] | null; tags: string[] | null }; keep: { id: string; reasons: string[] }[]; remove: { id: string }[] }[];
  };
  return result.groups
    .map((g) => ({
      key: JSON.stringify([g.key.hostname ?? '', g.key.paths, g.key.tags]),
      keep: g.keep.map((k) => k.id).sort(),
      remove: g.remove.map((r) => r.id).sort(),
      reasons: Object.fromEntries(g.keep.map((k) => [k.id, k.reasons])),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

function resticDecision(flags: string[]): Decision[] {
  const out = resticOk(RESTIC_014, repo, PASSWORD, ['forget', '--dry-run', '--json', ...flags]).trim();
  const groups = (out ? JSON.parse(out) : []) as { host: string; paths: string[] | null; tags: string[] | null; keep: { id: string }[]; remove: { id: string }[] | null; reasons: { matches: string[] }[] }[];
  return groups
    .map((g) => ({
      key: JSON.stringify([g.host, g.paths ? [...g.paths].sort() : null, g.tags ? [...g.tags].sort() : null]),
      keep: g.keep.map((k) => k.id).sort(),
      remove: (g.remove ?? []).map((r) => r.id).sort(),
      reasons: Object.fromEntries(g.keep.map((k, i) => [k.id, g.reasons[i]?.matches ?? []])),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

beforeAll(async () => {
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'a.txt'), 'forget test\n');
  agent(['backup', 'init', repo]);
  const first = agent(['backup', 'create', '--include', src]) as { backup: { tree: string } };
  // 199 more snapshots written by our repository code, with synthetic times over three years
  // (hourly bursts, day/week/month/year boundaries, several offsets), hosts, paths and tags.
  const core = await getCore();
  const r = await ResticRepository.open(new LocalStorage({ root: repo, uploadBucket: undefined }), core, Buffer.from(PASSWORD));
  const rng = crypto.createHash('sha256').update('forget-200').digest();
  const start = Date.UTC(2022, 0, 1) / 1000;
  const offsets = [0, 0, 0, 60, -300, 330];
  for (let i = 0; i < 199; i++) {
    const byte = rng[i % 32] ?? 0;
    const sec = start + Math.floor((i / 199) * 3 * 365 * 86400) + (byte % 7) * 3600 + (i % 5 === 0 ? 60 : 0);
    await r.writeUnpacked(
      'snapshots',
      encodeSnapshot({
        time: goTimeFromUnix(sec, (i * 7919) % 1e9, offsets[i % offsets.length]),
        tree: first.backup.tree,
        paths: i % 4 === 0 ? ['/srv/other'] : [src],
        hostname: i % 3 === 0 ? 'host-b' : os.hostname(),
        username: 'root',
        ...(i % 10 === 0 ? { tags: ['keep-me'] } : i % 7 === 0 ? { tags: ['weekly', 'db'] } : {}),
      }),
    );
  }
}, 300_000);

const policies: string[][] = [
  ['--keep-last', '5'],
  ['--keep-daily', '7', '--keep-weekly', '5', '--keep-monthly', '12', '--keep-yearly', '3'],
  ['--keep-hourly', '30', '--keep-last', '2'],
  ['--keep-within', '1y2m3d'],
  ['--keep-tag', 'keep-me', '--keep-monthly', '6'],
  ['--keep-weekly', '60', '--group-by', 'host'],
  ['--keep-daily', '10', '--group-by', 'host,paths,tags'],
];

describe('forget decisions equal restic 0.14 on our repository with 200 snapshots', () => {
  it('has 200 snapshots', () => {
    expect((agent(['backup', 'list']) as unknown[]).length).toBe(200);
  });
  it.each(policies.map((p) => [p.join(' '), p] as const))('%s', (_label, flags) => {
    const ours = ourDecision(flags);
    const theirs = resticDecision(flags);
    expect(ours.length).toBeGreaterThan(0);
    expect(ours).toEqual(theirs);
  });
});

describe('forget --apply', () => {
  it('removes what restic would remove and prunes to a clean repository', () => {
    const flags = ['--keep-daily', '7', '--keep-monthly', '12'];
    const expected = resticDecision(flags);
    const keep = expected.flatMap((g) => g.keep).sort();
    const result = agent(['backup', 'forget', '--apply', ...flags]) as { removed: string[]; dry_run: boolean };
    expect(result.dry_run).toBe(false);
    expect(result.removed.sort()).toEqual(expected.flatMap((g) => g.remove).sort());
    const left = (agent(['backup', 'list']) as { id: string }[]).map((b) => b.id).sort();
    expect(left).toEqual(keep);
    expect(resticOk(RESTIC_014, repo, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
    expect((agent(['backup', 'check', '--read-data']) as { ok: boolean }).ok).toBe(true);
  });

  it('refuses a negative count and an empty policy', () => {
    const neg = runCli(['--repo', repo, '--password-file', passwordFile, 'backup', 'forget', '--keep-last', '-1']);
    expect(neg.code).toBe(2);
    const none = runCli(['--repo', repo, '--password-file', passwordFile, 'backup', 'forget']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no retention policy');
  });
});

describe('prune reclaims space', () => {
  it('deletes packs only a forgotten backup used and repacks partly used ones', () => {
    const repo2 = path.join(tmp, 'prune');
    const run = (args: string[]) => {
      const r = runCli(['--json', '--repo', repo2, '--password-file', passwordFile, ...args], { env: { BOLT_BACKUP_PARALLEL_UPLOADS: '2' } });
      if (r.code !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    run(['backup', 'init', repo2]);
    const keepDir = path.join(tmp, 'prune-keep');
    const dropDir = path.join(tmp, 'prune-drop');
    fs.mkdirSync(keepDir);
    fs.mkdirSync(dropDir);
    fs.writeFileSync(path.join(keepDir, 'kept.bin'), crypto.randomBytes(3 * 1024 * 1024));
    fs.writeFileSync(path.join(dropDir, 'dropped.bin'), crypto.randomBytes(20 * 1024 * 1024));
    run(['backup', 'create', '--include', keepDir, '--tag', 'keep']);
    run(['backup', 'create', '--include', dropDir]);
    const size = () => fs.readdirSync(path.join(repo2, 'data'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((n, e) => n + fs.statSync(path.join(e.parentPath, e.name)).size, 0);
    const before = size();
    const result = run(['backup', 'forget', '--apply', '--keep-tag', 'keep']) as { removed: string[]; prune: { packs_deleted: number; bytes_freed: number } };
    expect(result.removed).toHaveLength(1);
    expect(result.prune.packs_deleted).toBeGreaterThan(0);
    expect(result.prune.bytes_freed).toBeGreaterThan(19 * 1024 * 1024);
    expect(size()).toBeLessThan(before - 19 * 1024 * 1024);
    expect(resticOk(RESTIC_014, repo2, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
    const restoreDir = path.join(tmp, 'prune-restore');
    run(['backup', 'restore', 'latest', '--target', restoreDir]);
    expect(fs.readFileSync(path.join(restoreDir, keepDir, 'kept.bin')).equals(fs.readFileSync(path.join(keepDir, 'kept.bin')))).toBe(true);
  });
});
