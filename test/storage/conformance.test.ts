// One conformance suite, four backends: local folder, S3 (AWS SDK → MinIO), MinIO (minio client →
// MinIO) and Azure (Azurite). Every backend must behave the same through the Storage interface.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/backup/errors.ts';
import { PreconditionFailedError } from '../../src/storage/errors.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { BACKENDS, backendFixture, lazyStream, listKeys, patternBytes, readAll, sha256, type BackendFixture } from './helpers.ts';

const MiB = 1024 * 1024;

describe.each(BACKENDS)('Storage conformance: %s', (backend) => {
  let fixture: BackendFixture;
  let storage: Storage;

  beforeAll(async () => {
    // 5 MiB parts so a 12 MiB object is a three-part upload on the object stores.
    fixture = await backendFixture(backend, { performance: { chunk_size: '5MiB', parallel_uploads: 4 } });
    storage = await openStorage(fixture.repository, fixture.config);
  });

  afterAll(async () => {
    await storage?.close();
    await fixture?.cleanup();
  });

  it('names its backend and location', () => {
    expect(storage.kind).toBe(backend);
    expect(storage.location).toContain(backend === 'local' ? 'repo' : backend === 'azure' ? 'azure:' : `${backend}:http://127.0.0.1:`);
  });

  it('puts, stats and gets an object', async () => {
    const bytes = patternBytes(1000, 1);
    const result = await storage.put('keys/one', bytes);
    expect(result.etag).toBeTruthy();
    const info = await storage.stat('keys/one');
    expect(info).toMatchObject({ key: 'keys/one', size: 1000, etag: result.etag });
    expect(info?.modified).toBeInstanceOf(Date);
    expect(Math.abs(Date.now() - (info?.modified?.getTime() ?? 0))).toBeLessThan(120_000);
    expect(Buffer.compare(await storage.get('keys/one'), bytes)).toBe(0);
    expect(Buffer.compare(await readAll(await storage.getStream('keys/one')), bytes)).toBe(0);
  });

  it('reports missing objects: stat null, get/getStream NotFound, delete quiet', async () => {
    expect(await storage.stat('snapshots/missing')).toBeNull();
    expect(await storage.stat('no-such-folder/deeper/missing')).toBeNull();
    const getError = await storage.get('snapshots/missing').catch((e: unknown) => e);
    expect(getError).toBeInstanceOf(BackupError);
    expect((getError as BackupError).kind).toBe('NotFound');
    expect((getError as BackupError).message).toContain('snapshots/missing');
    await expect(storage.get('snapshots/missing', { offset: 0, length: 0 })).rejects.toMatchObject({ kind: 'NotFound' });
    await expect(storage.getStream('snapshots/missing')).rejects.toMatchObject({ kind: 'NotFound' });
    await expect(storage.delete('snapshots/missing')).resolves.toBeUndefined();
  });

  it('reads byte ranges, short at the end and empty past it', async () => {
    const bytes = patternBytes(4096, 2);
    await storage.put('data/aa/range', bytes);
    expect(Buffer.compare(await storage.get('data/aa/range', { offset: 100, length: 50 }), bytes.subarray(100, 150))).toBe(0);
    expect(Buffer.compare(await storage.get('data/aa/range', { offset: 0, length: 1 }), bytes.subarray(0, 1))).toBe(0);
    expect(Buffer.compare(await storage.get('data/aa/range', { offset: 4000, length: 500 }), bytes.subarray(4000))).toBe(0);
    expect((await storage.get('data/aa/range', { offset: 5000, length: 10 })).byteLength).toBe(0);
    expect((await storage.get('data/aa/range', { offset: 10, length: 0 })).byteLength).toBe(0);
  });

  it('lists recursively by prefix, nothing for missing prefixes', async () => {
    await Promise.all([
      storage.put('list/config', Buffer.from('c')),
      storage.put('list/data/ab/ab01', Buffer.from('1')),
      storage.put('list/data/cd/cd02', Buffer.from('22')),
      storage.put('list/database', Buffer.from('333')),
      storage.put('list/index/i1', Buffer.from('4444')),
    ]);
    expect(await listKeys(storage, 'list/data/')).toEqual(['list/data/ab/ab01', 'list/data/cd/cd02']);
    expect(await listKeys(storage, 'list/data')).toEqual(['list/data/ab/ab01', 'list/data/cd/cd02', 'list/database']);
    expect(await listKeys(storage, 'list/')).toEqual(['list/config', 'list/data/ab/ab01', 'list/data/cd/cd02', 'list/database', 'list/index/i1']);
    expect(await listKeys(storage, 'list/data/cd/')).toEqual(['list/data/cd/cd02']);
    expect(await listKeys(storage, 'list/locks/')).toEqual([]);
    expect(await listKeys(storage, 'nothing-here/')).toEqual([]);
    const sizes: Record<string, number> = {};
    for await (const info of storage.list('list/')) {
      sizes[info.key] = info.size;
      expect(info.etag).toBeTruthy();
    }
    expect(sizes).toEqual({ 'list/config': 1, 'list/data/ab/ab01': 1, 'list/data/cd/cd02': 2, 'list/database': 3, 'list/index/i1': 4 });
    // Every object is under the repository prefix: the root listing holds all of them.
    expect(await listKeys(storage, '')).toEqual(expect.arrayContaining(['list/config', 'list/index/i1']));
  });

  it('accepts every body form and refuses a stream of the wrong size', async () => {
    await storage.put('forms/array', [Buffer.from('ab'), new Uint8Array([99, 100]), Buffer.alloc(0), Buffer.from('e')]);
    expect((await storage.get('forms/array')).toString()).toBe('abcde');
    await storage.put('forms/empty', new Uint8Array(0));
    expect(await storage.stat('forms/empty')).toMatchObject({ size: 0 });
    expect((await storage.get('forms/empty')).byteLength).toBe(0);
    const streamed = lazyStream(300_000, 3, 7_000);
    await storage.put('forms/stream', streamed);
    expect(sha256(await storage.get('forms/stream'))).toBe(sha256(await readAll(lazyStream(300_000, 3, 7_000).stream)));

    const short = { size: 1000, stream: (async function* () { yield Buffer.alloc(600); })() };
    await expect(storage.put('forms/short', short)).rejects.toMatchObject({ kind: 'StorageError' });
    const long = { size: 100, stream: (async function* () { yield Buffer.alloc(60); yield Buffer.alloc(60); })() };
    await expect(storage.put('forms/long', long)).rejects.toMatchObject({ kind: 'StorageError' });
    expect(await storage.stat('forms/short')).toBeNull();
    expect(await storage.stat('forms/long')).toBeNull();
  });

  it('replaces objects whole and changes the etag', async () => {
    const first = await storage.put('index/replace', Buffer.from('version one'));
    const second = await storage.put('index/replace', Buffer.from('version two, longer'));
    expect(second.etag).not.toBe(first.etag);
    expect((await storage.get('index/replace')).toString()).toBe('version two, longer');
    expect((await storage.stat('index/replace'))?.etag).toBe(second.etag);
  });

  it('honours ifNoneMatch and ifMatch', async () => {
    const created = await storage.put('index/main.idx', Buffer.from('v1'), { ifNoneMatch: true });
    const again = await storage.put('index/main.idx', Buffer.from('v1 again'), { ifNoneMatch: true }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(PreconditionFailedError);
    expect((again as PreconditionFailedError).kind).toBe('StorageError');
    expect((await storage.get('index/main.idx')).toString()).toBe('v1');

    const updated = await storage.put('index/main.idx', Buffer.from('v2'), { ifMatch: created.etag });
    expect(updated.etag).toBeTruthy();
    expect(updated.etag).not.toBe(created.etag);
    await expect(storage.put('index/main.idx', Buffer.from('v3 from a stale reader'), { ifMatch: created.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect((await storage.get('index/main.idx')).toString()).toBe('v2');
    await expect(storage.put('index/never-written', Buffer.from('x'), { ifMatch: created.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(await storage.stat('index/never-written')).toBeNull();
  });

  it('lets exactly one of many concurrent ifNoneMatch puts win', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => storage.put('locks/race', Buffer.from(`writer ${i}`), { ifNoneMatch: true })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
    expect((await storage.get('locks/race')).toString()).toMatch(/^writer \d$/);
  });

  it('uploads a large object in parts and reads it back whole, by range and streamed', async () => {
    const bytes = patternBytes(12 * MiB + 12345, 4);
    const put = await storage.put('data/bb/large', bytes);
    expect(put.etag).toBeTruthy();
    expect((await storage.stat('data/bb/large'))?.size).toBe(bytes.byteLength);
    expect(sha256(await storage.get('data/bb/large'))).toBe(sha256(bytes));
    const across = await storage.get('data/bb/large', { offset: 5 * MiB - 10, length: 20 });
    expect(Buffer.compare(across, bytes.subarray(5 * MiB - 10, 5 * MiB + 10))).toBe(0);
    expect(sha256(await readAll(await storage.getStream('data/bb/large')))).toBe(sha256(bytes));

    // Streamed body of the same size, and a conditional multipart put that must lose.
    await storage.put('data/bb/large-stream', lazyStream(11 * MiB, 5));
    expect(sha256(await storage.get('data/bb/large-stream'))).toBe(sha256(await readAll(lazyStream(11 * MiB, 5).stream)));
    await expect(storage.put('data/bb/large', lazyStream(11 * MiB, 6), { ifNoneMatch: true })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(sha256(await storage.get('data/bb/large'))).toBe(sha256(bytes));
  });

  it('deletes objects', async () => {
    await storage.put('snapshots/gone', Buffer.from('x'));
    await storage.delete('snapshots/gone');
    expect(await storage.stat('snapshots/gone')).toBeNull();
    expect(await listKeys(storage, 'snapshots/')).not.toContain('snapshots/gone');
  });
});
