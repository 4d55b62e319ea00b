// Local backend specifics: atomic writes, temporary-file hygiene, missing folders, etags from
// inode/size/mtime, and two processes sharing one repository folder.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PreconditionFailedError } from '../../src/storage/errors.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { listKeys } from './helpers.ts';
import { REPO_ROOT } from '../../scripts/test-servers.mjs';

const run = promisify(execFile);

async function allNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(path.relative(dir, path.join(entry.parentPath, entry.name)));
  }
  return out.sort();
}

describe('local storage', () => {
  let dir: string;
  let storage: LocalStorage;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-local-'));
    storage = new LocalStorage({ root: path.join(dir, 'repo'), uploadBucket: undefined });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('treats a missing repository folder as empty and creates folders on demand', async () => {
    expect(await listKeys(storage, '')).toEqual([]);
    expect(await listKeys(storage, 'data/')).toEqual([]);
    expect(await storage.stat('data/00/x')).toBeNull();
    await storage.put('data/ab/abcdef', Buffer.from('pack'));
    expect((await stat(path.join(dir, 'repo/data/ab'))).isDirectory()).toBe(true);
    expect((await stat(path.join(dir, 'repo/data/ab'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 'repo/data/ab/abcdef'))).mode & 0o777).toBe(0o600);
    expect(await listKeys(storage, 'data/')).toEqual(['data/ab/abcdef']);
  });

  it('never leaves a partial object or a temporary file when the body fails mid-way', async () => {
    await storage.put('snapshots/s1', Buffer.from('old content'));
    const failing = {
      size: 3 * 1024 * 1024,
      stream: (async function* () {
        yield Buffer.alloc(1024 * 1024, 1);
        throw new Error('source broke');
      })(),
    };
    await expect(storage.put('snapshots/s1', failing)).rejects.toThrow('source broke');
    await expect(storage.put('snapshots/s2', { size: 10, stream: (async function* () { yield Buffer.alloc(4); })() })).rejects.toMatchObject({ kind: 'StorageError' });
    expect((await storage.get('snapshots/s1')).toString()).toBe('old content');
    expect(await storage.stat('snapshots/s2')).toBeNull();
    // nothing beside the objects, and no temporary file left in .tmp/
    expect(await allNames(path.join(dir, 'repo'))).toEqual(['.tmp', 'snapshots', 'snapshots/s1']);
  });

  it('does not list dot files (temporary files, locks)', async () => {
    await storage.put('data/ab/ab01', Buffer.from('x'));
    await writeFile(path.join(dir, 'repo/data/ab/.ab02.1234.tmp'), 'partial');
    await writeFile(path.join(dir, 'repo/data/ab/.ab01.lock'), 'lock');
    expect(await listKeys(storage, '')).toEqual(['data/ab/ab01']);
  });

  it('derives the etag from inode, size and mtime, so an outside change breaks ifMatch', async () => {
    const put = await storage.put('config', Buffer.from('AAAA'));
    expect((await storage.stat('config'))?.etag).toBe(put.etag);
    // Same size, rewritten in place by another tool (as ghostsnap does with index/main.idx).
    await writeFile(path.join(dir, 'repo/config'), 'BBBB');
    const later = new Date(Date.now() + 5000);
    await utimes(path.join(dir, 'repo/config'), later, later);
    const now = await storage.stat('config');
    expect(now?.etag).not.toBe(put.etag);
    await expect(storage.put('config', Buffer.from('CCCC'), { ifMatch: put.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
    await storage.put('config', Buffer.from('DDDD'), { ifMatch: now?.etag });
    expect((await storage.get('config')).toString()).toBe('DDDD');
  });

  it('refuses keys that would leave the repository folder', async () => {
    for (const key of ['../escape', 'data/../../x', '/abs', 'a//b', '']) {
      await expect(storage.put(key, Buffer.from('x'))).rejects.toMatchObject({ kind: 'StorageError' });
    }
    expect(await allNames(dir)).toEqual([]);
  });

  it('stays consistent when two processes update one repository folder', async () => {
    const rounds = 150;
    await storage.put('counter', Buffer.from('0'));
    const bun = path.join(REPO_ROOT, 'node_modules/.bin/bun');
    const worker = path.join(REPO_ROOT, 'test/storage/workers/local-cas.ts');
    const root = path.join(dir, 'repo');
    const outputs = await Promise.all(['a', 'b'].map((name) => run(bun, [worker, root, String(rounds), name], { timeout: 60_000 })));
    const reports = outputs.map((o) => JSON.parse(o.stdout) as { conflicts: number; created: number });
    // Every increment survived: no lost update although both wrote the same key.
    expect((await storage.get('counter')).toString()).toBe(String(2 * rounds));
    // Each create-if-absent key has exactly one winner.
    expect(reports.reduce((n, r) => n + r.created, 0)).toBe(rounds);
    expect(await listKeys(storage, 'claims/')).toHaveLength(rounds);
    // Both really raced (otherwise the test proves nothing about concurrency).
    expect(reports.reduce((n, r) => n + r.conflicts, 0)).toBeGreaterThan(0);
    // No lock or temporary file left behind.
    expect((await allNames(root)).filter((n) => path.basename(n).startsWith('.') && n !== '.tmp')).toEqual([]);
  });
});
