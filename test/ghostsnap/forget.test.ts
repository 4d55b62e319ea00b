// forget and prune on ghostsnap repositories (issue #10): retention means what it means for
// restic repositories (not what `ghostsnap forget` does with the same numbers), and prune really
// reclaims space — repacking partly used packs, deleting forgotten trees and old leftovers of
// interrupted backups — leaving a repository ghostsnap checks clean and restores from.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { GhostsnapRepository } from '../../src/formats/ghostsnap/repository.ts';
import { decodeSnapshot, encodeSnapshot } from '../../src/formats/ghostsnap/snapshot.ts';
import { GhostsnapPacker } from '../../src/formats/ghostsnap/packer.ts';
import { newUuid } from '../../src/formats/ghostsnap/ids.ts';
import { rfc3339Utc } from '../../src/formats/ghostsnap/pack.ts';
import { describeTree, diffTrees } from '../helpers/tree-compare.ts';
import { agentOk, ghostsnapOk, type CheckJson, type CreateJson } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-gs-forget-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'gs-forget-password';
const pwFile = path.join(tmp, 'password');
fs.writeFileSync(pwFile, PASSWORD);
const DAY = 24 * 60 * 60 * 1000;

async function open(repo: string) {
  const core = await getCore();
  return { core, repo: await GhostsnapRepository.open(new LocalStorage({ root: repo, uploadBucket: undefined }), core, Buffer.from(PASSWORD)) };
}

function dataBytes(repo: string): number {
  return fs.readdirSync(path.join(repo, 'data')).reduce((n, f) => n + fs.statSync(path.join(repo, 'data', f)).size, 0);
}

describe('retention', () => {
  it('keeps what restic would keep, where ghostsnap forget with the same numbers keeps something else', async () => {
    const src = path.join(tmp, 'retention-src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'f.txt'), 'x\n');
    const repoDir = path.join(tmp, 'retention');
    agentOk(repoDir, pwFile, ['backup', 'init', repoDir]);
    const base = agentOk<CreateJson>(repoDir, pwFile, ['backup', 'create', '--include', src]);
    // Older backups of the same host and path, 10, 20 and 30 days ago.
    const { repo } = await open(repoDir);
    const template = decodeSnapshot(await repo.readSnapshotPlain(base.backup.id), base.backup.id);
    const ids: string[] = [];
    for (const days of [10, 20, 30]) {
      const id = newUuid(repo.core);
      await repo.writeSnapshotPlain(id, encodeSnapshot({ ...template, id, time: rfc3339Utc(new Date(Date.now() - days * DAY)) }));
      ids.push(id);
    }
    const ours = agentOk<{ groups: { keep: { id: string }[]; remove: { id: string }[] }[] }>(repoDir, pwFile, ['backup', 'forget', '--keep-daily', '3']);
    expect(ours.groups).toHaveLength(1);
    // restic: the newest snapshot of each of the 3 most recent days that have one.
    expect(ours.groups[0]?.keep.map((s) => s.id)).toEqual([base.backup.id, ids[0], ids[1]]);
    expect(ours.groups[0]?.remove.map((s) => s.id)).toEqual([ids[2]]);
    // ghostsnap: only days within the last 3×24 h count, so it would forget all three older ones.
    const theirs = ghostsnapOk(repoDir, PASSWORD, ['forget', '--keep-daily', '3', '--dry-run']);
    const forgetting = theirs.slice(theirs.indexOf('Forgetting'));
    for (const id of ids) expect(forgetting).toContain(id.slice(0, 8));
  });
});

describe('prune', () => {
  const src = path.join(tmp, 'prune-src');
  const repoDir = path.join(tmp, 'prune');
  let kept: CreateJson;

  beforeAll(() => {
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'stays.bin'), crypto.randomBytes(3 * 1024 * 1024));
    fs.writeFileSync(path.join(src, 'goes.bin'), crypto.randomBytes(3 * 1024 * 1024));
    agentOk(repoDir, pwFile, ['backup', 'init', repoDir]);
    agentOk(repoDir, pwFile, ['backup', 'create', '--include', src]);
    fs.rmSync(path.join(src, 'goes.bin'));
    kept = agentOk<CreateJson>(repoDir, pwFile, ['backup', 'create', '--include', src]);
  });

  it('repacks the partly used pack, deletes the forgotten tree and old leftovers, keeps young ones', async () => {
    const { core, repo } = await open(repoDir);
    // Leftovers of interrupted backups: a pack no index names and a tree no snapshot names.
    const packer = new GhostsnapPacker(repo, 16 * 1024 * 1024, 1, tmp);
    const zlib = core.compress({ kind: 'zlib', level: 6 }, Buffer.from('orphan chunk'));
    await packer.addCompressed(core.hash('blake3', Buffer.from('orphan chunk')).toString('hex'), zlib, 12);
    await packer.flush();
    const orphanPack = path.join(repoDir, 'data', `${packer.stored[0]?.id}.pack`);
    const orphanTree = path.join(repoDir, 'data', (await repo.writeTreePlain(Buffer.from('{"nodes":[]}'))).id);
    const youngPack = path.join(repoDir, 'data', `${newUuid(core)}.pack`);
    fs.copyFileSync(orphanPack, youngPack);
    const hoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    fs.utimesSync(orphanPack, hoursAgo, hoursAgo);
    fs.utimesSync(orphanTree, hoursAgo, hoursAgo);

    const before = dataBytes(repoDir);
    const forget = agentOk<{ removed: string[]; prune: { packs_deleted: number; packs_rewritten: number; bytes_freed: number } }>(repoDir, pwFile, ['backup', 'forget', '--apply', '--keep-last', '1']);
    expect(forget.removed).toHaveLength(1);
    expect(forget.prune.packs_rewritten).toBe(1);
    expect(forget.prune.packs_deleted).toBe(2);
    expect(forget.prune.bytes_freed).toBeGreaterThan(3 * 1024 * 1024);
    expect(before - dataBytes(repoDir)).toBeGreaterThan(3 * 1024 * 1024);
    expect(fs.existsSync(orphanPack)).toBe(false);
    expect(fs.existsSync(orphanTree)).toBe(false);
    expect(fs.existsSync(youngPack)).toBe(true);
    expect(fs.readdirSync(path.join(repoDir, 'data')).filter((n) => !n.endsWith('.pack'))).toEqual([kept.backup.tree]);

    fs.rmSync(youngPack);
    const report = agentOk<CheckJson>(repoDir, pwFile, ['backup', 'check', '--read-data']);
    expect(report.errors).toEqual([]);
    expect(report.hints).toEqual([]);
    expect(ghostsnapOk(repoDir, PASSWORD, ['check', '--read-data'])).toContain('Repository is healthy');
    const target = path.join(tmp, 'after-prune');
    ghostsnapOk(repoDir, PASSWORD, ['-q', 'restore', kept.backup.id, '--target', target]);
    expect(fs.readFileSync(path.join(target, 'stays.bin')).equals(fs.readFileSync(path.join(src, 'stays.bin')))).toBe(true);
    const ours = path.join(tmp, 'after-prune-ours');
    agentOk(repoDir, pwFile, ['backup', 'restore', 'latest', '--target', ours]);
    expect(diffTrees(describeTree(src), describeTree(ours))).toEqual([]);
  });
});
