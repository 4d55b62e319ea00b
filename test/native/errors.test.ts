// Error codes crossing the boundary: per-file EIO_READ naming the path, EAUTH, ECORRUPT, EHASH.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CoreError } from '../../src/native/errors.ts';
import type { PipelineParams } from '../../src/native/types.ts';
import { nativeCore, sha256ctr, tempDir } from './helpers.ts';

const tmp = tempDir('errors');
afterAll(() => tmp.remove());

const key = Buffer.alloc(64, 7);
const otherKey = Buffer.alloc(64, 8);

const params: PipelineParams = {
  chunker: { kind: 'rabin', polynomial: '3da3358b4dc173' },
  hash: 'sha256',
  compression: { kind: 'zstd', level: 1 },
  seal: { kind: 'restic', key },
};

describe('processFiles per-file errors', () => {
  it('returns EIO_READ naming the path for files that cannot be opened or read, and goes on', async () => {
    const core = await nativeCore();
    const good = join(tmp.dir, 'good.bin');
    writeFileSync(good, sha256ctr('good', 100_000));
    const missing = join(tmp.dir, 'missing.bin');
    const dir = join(tmp.dir, 'a-directory');
    mkdirSync(dir);
    // open succeeds, read fails with EIO (address 0 is never mapped), even for root
    const unreadable = '/proc/self/mem';
    const known = core.newBlobSet();
    const results = await core.processFiles(
      [missing, dir, unreadable, good].map((path) => ({ path, offset: 0, maxBytes: 0 })),
      { ...params, known },
    );
    const [rm, rd, ru, rg] = results;
    for (const [res, path, errno] of [
      [rm, missing, /No such file/],
      [rd, dir, /directory/i],
      [ru, unreadable, /Input\/output error/],
    ] as const) {
      expect(res?.error?.code).toBe('EIO_READ');
      expect(res?.error?.subject).toBe(path);
      expect(res?.error?.message).toContain(path);
      expect(res?.error?.message).toMatch(errno);
      expect(res?.chunks).toEqual([]);
      expect(res?.blobs).toEqual([]);
      expect(res?.eof).toBe(false);
    }
    expect(rg?.error).toBeUndefined();
    expect(rg?.blobs.length).toBe(1);
    expect(known.size).toBe(1);
  });
});

describe('thrown and returned codes', () => {
  it('a wrong key is EAUTH (open, openAsync, decodeBlobs)', async () => {
    const core = await nativeCore();
    const box = core.seal({ kind: 'restic', key }, Buffer.from('secret'));
    expect(() => core.open({ kind: 'restic', key: otherKey }, box)).toThrow(CoreError);
    expect(() => core.open({ kind: 'restic', key: otherKey }, box)).toThrow(expect.objectContaining({ code: 'EAUTH' }));
    await expect(core.openAsync({ kind: 'restic', key: otherKey }, box)).rejects.toMatchObject({ code: 'EAUTH' });
    const cbox = core.seal({ kind: 'chacha20poly1305', key: Buffer.alloc(32, 1) }, Buffer.from('secret'));
    await expect(core.openAsync({ kind: 'chacha20poly1305', key: Buffer.alloc(32, 2) }, cbox)).rejects.toMatchObject({
      code: 'EAUTH',
    });
    const tampered = Buffer.from(box);
    tampered[20] = (tampered[20] ?? 0) ^ 1;
    expect(() => core.open({ kind: 'restic', key }, tampered)).toThrow(expect.objectContaining({ code: 'EAUTH' }));
  });

  it('decodeBlobs reports EAUTH, ECORRUPT and EHASH per blob and decodes the rest', async () => {
    const core = await nativeCore();
    const plain = Buffer.from('a blob that compresses compresses compresses compresses');
    const id = core.hash('sha256', plain);
    const frame = core.compress({ kind: 'zstd', level: 3 }, plain);
    const good = core.seal({ kind: 'restic', key }, frame);
    const wrongKey = core.seal({ kind: 'restic', key: otherKey }, frame);
    const corruptFrame = Buffer.from(frame);
    corruptFrame.fill(0xee, 4);
    const corrupt = core.seal({ kind: 'restic', key }, corruptFrame);
    const data = Buffer.concat([good, wrongKey, corrupt, good]);
    const spec = (offset: number, length: number, blobId: Uint8Array) => ({
      offset,
      length,
      rawLength: plain.length,
      compressed: true,
      id: blobId,
    });
    let o = 0;
    const blobs = [good, wrongKey, corrupt].map((b) => {
      const s = spec(o, b.length, id);
      o += b.length;
      return s;
    });
    blobs.push(spec(o, good.length, Buffer.alloc(32, 9)));
    const res = await core.decodeBlobs({ data, blobs, seal: { kind: 'restic', key }, codec: 'zstd', hash: 'sha256' });
    expect(res.plaintexts[0]?.toString()).toBe(plain.toString());
    expect(res.errors[0]).toBeNull();
    expect(res.errors.slice(1).map((e) => e?.code)).toEqual(['EAUTH', 'ECORRUPT', 'EHASH']);
    expect(res.plaintexts.slice(1)).toEqual([null, null, null]);
    expect(res.errors[3]?.subject).toBe('09'.repeat(32));
  });

  it('a corrupt zstd frame is ECORRUPT', async () => {
    const core = await nativeCore();
    const frame = core.compress({ kind: 'zstd', level: 1 }, sha256ctr('c', 4096));
    const broken = Buffer.from(frame);
    broken.fill(0, 8, 40);
    expect(() => core.decompress('zstd', broken, 4096)).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
  });

  it('bad arguments are EINVAL, also when napi rejects the types', async () => {
    const core = await nativeCore();
    expect(() => core.chunkBuffer({ kind: 'rabin', polynomial: '3da3358b4dc17' }, Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() => core.chunkBuffer({ kind: 'fastcdc', minSize: 1, avgSize: 2, maxSize: 3 }, Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    // @ts-expect-error: deliberately the wrong type
    await expect(core.hashAsync('sha256', 'not bytes')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(core.scrypt(Buffer.from('x'), Buffer.from('y'), 1000, 8, 1, 64)).rejects.toMatchObject({ code: 'EINVAL' });
    const foreign = { add: () => true, addMany: () => 0, has: () => false, delete: () => false, size: 0 };
    await expect(core.processFiles([], { ...params, known: foreign })).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
