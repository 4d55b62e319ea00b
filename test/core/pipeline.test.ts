import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ChunkerSpec, CompressionSpec, Core, FileSegmentResult, HashAlgorithm, PipelineParams, SealSpec } from '../../src/native/types.ts';
import { describeEachCore } from './cores.ts';
import { ERRNO_EISDIR, ERRNO_ENOENT } from './errno.ts';
import { decodeBlob } from './decode-blob.ts';
import { inputOf, type DescribedInput } from './inputs.ts';
import { hex, loadVectors, toHex } from './vectors.ts';

interface VectorParams {
  chunker: ChunkerSpec;
  hash: HashAlgorithm;
  compression: CompressionSpec;
  seal: { kind: 'none' } | { kind: 'restic' | 'chacha20poly1305'; key_hex: string };
}
type Expected = { error: string } | { chunks: { length: number; id: string }[]; encoded: number[]; nextOffset: number; eof: boolean };
interface PipelineCase {
  name: string;
  params: VectorParams;
  known: string[] | null;
  requests: { file: string; offset: number; maxBytes: number }[];
  expected: Expected[];
}

const vectors = loadVectors<{ files: Record<string, DescribedInput>; cases: PipelineCase[] }>('pipeline.json');

const dir = mkdtempSync(join(tmpdir(), 'bolt-pipeline-'));
const contents = new Map<string, Buffer>();
beforeAll(() => {
  for (const [name, d] of Object.entries(vectors.files)) {
    const data = inputOf(d);
    contents.set(name, data);
    writeFileSync(join(dir, name), data);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sealSpec(p: VectorParams['seal']): SealSpec {
  return p.kind === 'none' ? p : { kind: p.kind, key: hex(p.key_hex) };
}

function checkResult(core: Core, c: PipelineCase, params: PipelineParams, i: number, res: FileSegmentResult): void {
  const want = c.expected[i]!;
  const req = c.requests[i]!;
  if ('error' in want) {
    expect(res.error?.code).toBe(want.error);
    expect(res.error?.subject).toBe(join(dir, req.file));
    expect(res.error?.message).toContain(join(dir, req.file));
    expect(res.error?.message).toMatch(ERRNO_ENOENT);
    expect(res.chunks).toEqual([]);
    expect(res.blobs).toEqual([]);
    return;
  }
  expect(res.error).toBeUndefined();
  expect(res.chunks.map((ch) => ({ length: ch.length, id: toHex(ch.id) }))).toEqual(want.chunks);
  expect(res.blobs.map((b) => b.chunkIndex)).toEqual(want.encoded);
  expect(res.nextOffset).toBe(want.nextOffset);
  expect(res.eof).toBe(want.eof);
  const file = contents.get(req.file)!;
  const starts: number[] = [];
  let pos = req.offset;
  for (const ch of res.chunks) {
    starts.push(pos);
    pos += ch.length;
  }
  for (const b of res.blobs) {
    const chunk = res.chunks[b.chunkIndex]!;
    expect(toHex(b.id)).toBe(toHex(chunk.id));
    expect(b.rawLength).toBe(chunk.length);
    if (params.compression.kind === 'none') expect(b.compressed).toBe(false);
    if (params.compression.kind === 'zlib') expect(b.compressed).toBe(true);
    const start = starts[b.chunkIndex]!;
    expect(toHex(decodeBlob(core, params, b))).toBe(toHex(file.subarray(start, start + chunk.length)));
  }
}

describeEachCore('processFiles', (core) => {
  for (const c of vectors.cases) {
    it(c.name, async () => {
      const known = c.known === null ? undefined : core().newBlobSet();
      for (const id of c.known ?? []) known!.add(hex(id));
      const params: PipelineParams = {
        chunker: c.params.chunker,
        hash: c.params.hash,
        compression: c.params.compression,
        seal: sealSpec(c.params.seal),
        ...(known === undefined ? {} : { known }),
      };
      const requests = c.requests.map((r) => ({ path: join(dir, r.file), offset: r.offset, maxBytes: r.maxBytes }));
      const results = await core().processFiles(requests, params);
      expect(results.length).toBe(c.requests.length);
      results.forEach((res, i) => checkResult(core(), c, params, i, res));
      if (known !== undefined) {
        const all = new Set(results.flatMap((r) => r.chunks.map((ch) => toHex(ch.id))));
        for (const id of all) expect(known.has(hex(id))).toBe(true);
      }
    });
  }

  it('gives every chunk of a long file its own hash, read twice with a change in the middle', async () => {
    // Longer than the native core's OVERLAP_MIN (64 MiB): read and cut on one thread, encoded on
    // another, hashed by either, switching window by window (nothing new, nothing else running:
    // the helper hashes). The second read finds everything known but the changed chunks.
    const file = join(dir, 'long');
    const data = randomBytes(80 * 1024 * 1024);
    writeFileSync(file, data);
    const params = (known: ReturnType<Core['newBlobSet']>): PipelineParams => ({ chunker: { kind: 'rabin', polynomial: '3da3358b4dc173' }, hash: 'sha256', compression: { kind: 'none' }, seal: { kind: 'none' }, known });
    const check = (res: FileSegmentResult | undefined, content: Buffer) => {
      expect(res?.error).toBeUndefined();
      let at = 0;
      for (const ch of res?.chunks ?? []) {
        expect(toHex(ch.id)).toBe(createHash('sha256').update(content.subarray(at, at + ch.length)).digest('hex'));
        at += ch.length;
      }
      expect(at).toBe(content.length);
      return res?.chunks.map((ch) => toHex(ch.id)) ?? [];
    };
    const known = core().newBlobSet();
    const [first] = await core().processFiles([{ path: file, offset: 0, maxBytes: 0 }], params(known));
    const firstIds = check(first, data);
    expect(first?.blobs.length).toBe(firstIds.length);
    data.write('changed in the middle', 40 * 1024 * 1024);
    writeFileSync(file, data);
    const [second] = await core().processFiles([{ path: file, offset: 0, maxBytes: 0 }], params(known));
    const secondIds = check(second, data);
    const fresh = secondIds.filter((id) => !firstIds.includes(id));
    expect(fresh.length).toBeGreaterThanOrEqual(1);
    expect(fresh.length).toBeLessThanOrEqual(2);
    expect(second?.blobs.map((b) => toHex(b.id)).sort()).toEqual([...fresh].sort());
  });

  it('accepts Buffer paths', async () => {
    const [res] = await core().processFiles([{ path: Buffer.from(join(dir, 'small')), offset: 0, maxBytes: 0 }], {
      chunker: { kind: 'rabin', polynomial: '3da3358b4dc173' },
      hash: 'sha256',
      compression: { kind: 'none' },
      seal: { kind: 'none' },
    });
    expect(res?.chunks.map((ch) => toHex(ch.id))).toEqual([createHash('sha256').update('hello restic\n').digest('hex')]);
    expect(res?.blobs[0]?.data.toString()).toBe('hello restic\n');
  });

  it('reports a directory as a per-file EIO_READ', async () => {
    const [res] = await core().processFiles([{ path: dir, offset: 0, maxBytes: 0 }], {
      chunker: { kind: 'fastcdc', minSize: 64, avgSize: 256, maxSize: 1024 },
      hash: 'blake3',
      compression: { kind: 'none' },
      seal: { kind: 'none' },
    });
    expect(res?.error?.code).toBe('EIO_READ');
    expect(res?.error?.message).toMatch(ERRNO_EISDIR);
  });

  it('rejects bad requests and keys with EINVAL', async () => {
    const base: PipelineParams = {
      chunker: { kind: 'rabin', polynomial: '3da3358b4dc173' },
      hash: 'sha256',
      compression: { kind: 'none' },
      seal: { kind: 'none' },
    };
    const req = { path: join(dir, 'small'), offset: 0, maxBytes: 0 };
    await expect(core().processFiles([{ ...req, offset: -1 }], base)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(core().processFiles([{ ...req, maxBytes: 0.5 }], base)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(core().processFiles([req], { ...base, seal: { kind: 'restic', key: new Uint8Array(32) } })).rejects.toMatchObject({
      code: 'EINVAL',
    });
    await expect(core().processFiles([req], { ...base, hash: 'md5' as HashAlgorithm })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(core().processFiles([req], { ...base, compression: { kind: 'zlib', level: 11 } })).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

/** A readable region of this process's memory that ends where nothing is mapped (reading past its end fails with EIO). */
function mappedRegionBeforeGap(minSize: number): { start: number; end: number } {
  const lines = readFileSync('/proc/self/maps', 'utf8').trim().split('\n') as string[];
  const regions = lines.map((l) => {
    const [range, perms] = l.split(' ');
    const [a, b] = (range ?? '').split('-').map((h) => parseInt(h, 16));
    return { start: a ?? 0, end: b ?? 0, readable: (perms ?? '').startsWith('r') };
  });
  for (let i = 0; i < regions.length - 1; i++) {
    const r = regions[i];
    const next = regions[i + 1];
    if (r && next && r.readable && r.end - r.start >= minSize && next.start > r.end && r.end < Number.MAX_SAFE_INTEGER) return r;
  }
  throw new Error('no readable mapping followed by a gap');
}

describeEachCore('processFiles: a file that fails part-way', (core) => {
  it('hands over the chunks it encoded before the failure, and keeps their ids known', async () => {
    // /proc/self/mem: bytes of a mapping, then EIO where the mapping ends (a real mid-file error).
    // Larger than the cores' read-ahead (one maximal chunk plus a block), so chunks get cut first.
    const region = mappedRegionBeforeGap(20 * 1024 * 1024);
    const known = core().newBlobSet();
    const [res] = await core().processFiles([{ path: '/proc/self/mem', offset: region.end - 20 * 1024 * 1024, maxBytes: 0 }], {
      chunker: { kind: 'rabin', polynomial: '3da3358b4dc173' },
      hash: 'sha256',
      compression: { kind: 'none' },
      seal: { kind: 'none' },
      known,
    });
    expect(res?.error?.code).toBe('EIO_READ');
    expect(res?.chunks).toEqual([]);
    expect(res?.blobs.length).toBeGreaterThanOrEqual(1);
    for (const b of res?.blobs ?? []) {
      expect(known.has(b.id)).toBe(true);
      expect(b.data.length).toBe(b.rawLength);
    }
  });
});
