// processFiles (streaming chunk + hash + dedup + compress + seal) and decodeBlobs (its inverse),
// with restic's and ghostsnap's parameters.
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { Core, FileSegmentResult, PipelineParams } from '../../src/native/types.ts';
import { hex, nativeCore, sha256ctr, sha256Hex, tempDir, textStream } from './helpers.ts';

const tmp = tempDir('pipeline');
afterAll(() => tmp.remove());

const key = Buffer.alloc(64);
for (let i = 0; i < 64; i++) key[i] = i + 1;
const POLY = '3da3358b4dc173';

function resticParams(core: Core): PipelineParams {
  return {
    chunker: { kind: 'rabin', polynomial: POLY },
    hash: 'sha256',
    compression: { kind: 'zstd', level: 3, onlyIfSmaller: true },
    seal: { kind: 'restic', key },
    known: core.newBlobSet(),
  };
}

function write(name: string | Buffer, data: Buffer): string | Buffer {
  const path = typeof name === 'string' ? join(tmp.dir, name) : Buffer.concat([Buffer.from(`${tmp.dir}/`), name]);
  writeFileSync(path, data);
  return path;
}

/** Puts the blobs side by side like a pack and decodes them all back. */
async function roundTrip(core: Core, results: FileSegmentResult[], params: PipelineParams): Promise<Map<string, Buffer>> {
  const blobs = results.flatMap((r) => r.blobs);
  const pack = Buffer.concat(blobs.map((b) => b.data));
  let offset = 0;
  const specs = blobs.map((b) => {
    const spec = { offset, length: b.data.length, rawLength: b.rawLength, compressed: b.compressed, id: b.id };
    offset += b.data.length;
    return spec;
  });
  const decoded = await core.decodeBlobs({
    data: pack,
    blobs: specs,
    seal: params.seal,
    codec: params.compression.kind === 'zlib' ? 'zlib' : 'zstd',
    hash: params.hash,
  });
  expect(decoded.errors.every((e) => e === null)).toBe(true);
  const byId = new Map<string, Buffer>();
  decoded.plaintexts.forEach((p, i) => {
    const b = blobs[i];
    if (p === null || b === undefined) throw new Error('missing plaintext');
    byId.set(hex(b.id), p);
  });
  return byId;
}

function reassemble(result: FileSegmentResult, blobs: Map<string, Buffer>): Buffer {
  return Buffer.concat(
    result.chunks.map((c) => {
      const p = blobs.get(hex(c.id));
      if (p === undefined) throw new Error(`chunk ${hex(c.id)} has no blob`);
      expect(p.length).toBe(c.length);
      return p;
    }),
  );
}

describe('processFiles with restic parameters', () => {
  it('chunks, hashes, encodes and decodes back to the file', async () => {
    const core = await nativeCore();
    const data = Buffer.concat([sha256ctr('pipe-a', 5 << 20), textStream('pipe-b', 6 << 20)]);
    const path = write('mixed.bin', data);
    const params = resticParams(core);
    const [res] = await core.processFiles([{ path, offset: 0, maxBytes: 0 }], params);
    if (res === undefined) throw new Error('no result');
    expect(res.error).toBeUndefined();
    expect(res.eof).toBe(true);
    expect(res.nextOffset).toBe(data.length);
    expect(res.chunks.map((c) => c.length)).toEqual(core.chunkBuffer(params.chunker, data));
    let pos = 0;
    for (const c of res.chunks) {
      expect(hex(c.id)).toBe(sha256Hex(data.subarray(pos, pos + c.length)));
      pos += c.length;
    }
    expect(res.blobs.map((b) => b.chunkIndex)).toEqual(res.chunks.map((_, i) => i));
    // random chunks do not shrink (stored raw: onlyIfSmaller), text chunks do
    expect(res.blobs.some((b) => !b.compressed)).toBe(true);
    expect(res.blobs.some((b) => b.compressed && b.data.length < b.rawLength)).toBe(true);
    expect(hex(reassemble(res, await roundTrip(core, [res], params)))).toBe(hex(data));
  });

  it('encodes each distinct chunk once: within a file, a batch, and against known ids', async () => {
    const core = await nativeCore();
    const params = resticParams(core);
    const zeros = write('zeros.bin', Buffer.alloc(3 << 20)); // six identical 512 KiB chunks
    const body = sha256ctr('dup', 3 << 20);
    const a = write('a.bin', body);
    const b = write('b.bin', body);
    const results = await core.processFiles(
      [zeros, a, b].map((path) => ({ path, offset: 0, maxBytes: 0 })),
      params,
    );
    const [rz, ra, rb] = results;
    expect(rz?.chunks.length).toBe(6);
    expect(rz?.blobs.length).toBe(1);
    expect(ra?.blobs.length).toBe(ra?.chunks.length);
    expect(rb?.chunks.map((c) => hex(c.id))).toEqual(ra?.chunks.map((c) => hex(c.id)));
    expect(rb?.blobs.length).toBe(0);
    expect(params.known?.size).toBe(1 + (ra?.chunks.length ?? 0));
    // a second run against the same set encodes nothing
    const again = await core.processFiles([{ path: a, offset: 0, maxBytes: 0 }], params);
    expect(again[0]?.blobs.length).toBe(0);
    // ids added by hand count as known too
    const fresh = core.newBlobSet();
    for (const c of ra?.chunks ?? []) expect(fresh.add(c.id)).toBe(true);
    const third = await core.processFiles([{ path: b, offset: 0, maxBytes: 0 }], { ...params, known: fresh });
    expect(third[0]?.blobs.length).toBe(0);
  });

  it('honours offset/maxBytes segments that resume at chunk boundaries', async () => {
    const core = await nativeCore();
    const data = sha256ctr('segments', 9 << 20);
    const path = write('segments.bin', data);
    const params = resticParams(core);
    const whole = core.chunkBuffer(params.chunker, data);
    const seen: number[] = [];
    let offset = 0;
    let rounds = 0;
    for (;;) {
      const [res] = await core.processFiles([{ path, offset, maxBytes: 1 << 20 }], params);
      if (res === undefined || res.error !== undefined) throw new Error('segment failed');
      expect(res.chunks.length).toBeGreaterThan(0);
      const covered = res.chunks.reduce((s, c) => s + c.length, 0);
      expect(covered).toBeGreaterThanOrEqual(Math.min(1 << 20, data.length - offset));
      expect(res.chunks.slice(0, -1).reduce((s, c) => s + c.length, 0)).toBeLessThan(1 << 20);
      seen.push(...res.chunks.map((c) => c.length));
      expect(res.nextOffset).toBe(offset + covered);
      offset = res.nextOffset;
      rounds++;
      if (res.eof) break;
    }
    expect(offset).toBe(data.length);
    expect(seen).toEqual(whole);
    expect(rounds).toBeGreaterThan(1);
  });

  it('handles empty files, small files and raw-byte (non-UTF-8) paths', async () => {
    const core = await nativeCore();
    const params = resticParams(core);
    const empty = write('empty', Buffer.alloc(0));
    const rawName = Buffer.from([0x6e, 0xff, 0xfe, 0x2e, 0x62]); // "n\xff\xfe.b"
    const raw = write(rawName, Buffer.from('tiny file\n'));
    const [re, rr] = await core.processFiles(
      [
        { path: empty, offset: 0, maxBytes: 0 },
        { path: raw, offset: 0, maxBytes: 0 },
      ],
      params,
    );
    expect(re).toMatchObject({ chunks: [], blobs: [], nextOffset: 0, eof: true });
    expect(rr?.error).toBeUndefined();
    expect(rr?.chunks.map((c) => c.length)).toEqual([10]);
    expect(hex(rr?.chunks[0]?.id ?? Buffer.alloc(0))).toBe(sha256Hex(Buffer.from('tiny file\n')));
  });
});

describe('processFiles on long files (cut on one thread, hashed and encoded on another)', () => {
  it('gives the chunks of the in-memory chunker, whole and in segments, and encodes each once', async () => {
    const core = await nativeCore();
    // 96 MiB: random, a repeat of its first 8 MiB, text, and a constant run (8 MiB cuts)
    const head = sha256ctr('long-a', 40 << 20);
    const data = Buffer.concat([head, head.subarray(0, 8 << 20), textStream('long-b', 24 << 20), Buffer.alloc(24 << 20, 7)]);
    const path = write('long.bin', data);
    const params = resticParams(core);
    const whole = core.chunkBuffer(params.chunker, data);
    const [res] = await core.processFiles([{ path, offset: 0, maxBytes: 0 }], params);
    if (res === undefined || res.error !== undefined) throw new Error('long file failed');
    expect(res.chunks.map((c) => c.length)).toEqual(whole);
    expect(res.eof).toBe(true);
    let pos = 0;
    const firstIndex = new Map<string, number>();
    res.chunks.forEach((c, i) => {
      const id = hex(c.id);
      expect(id).toBe(sha256Hex(data.subarray(pos, pos + c.length)));
      if (!firstIndex.has(id)) firstIndex.set(id, i);
      pos += c.length;
    });
    // exactly the first occurrence of every id is encoded, in chunk order
    expect(res.blobs.map((b) => b.chunkIndex)).toEqual([...firstIndex.values()]);
    expect(hex(reassemble(res, await roundTrip(core, [res], params)))).toBe(hex(data));

    // segments of 64 MiB (long enough for two threads) then the rest
    const seen: number[] = [];
    let offset = 0;
    for (;;) {
      const [seg] = await core.processFiles([{ path, offset, maxBytes: 64 << 20 }], { ...params, known: core.newBlobSet() });
      if (seg === undefined || seg.error !== undefined) throw new Error('segment failed');
      seen.push(...seg.chunks.map((c) => c.length));
      offset = seg.nextOffset;
      if (seg.eof) break;
    }
    expect(seen).toEqual(whole);
  });
});

describe('processFiles with ghostsnap parameters', () => {
  it('cuts with FastCDC, hashes with BLAKE3 and emits plain zlib streams', async () => {
    const core = await nativeCore();
    const data = textStream('ghost-pipe', 7 << 20);
    const path = write('ghost.txt', data);
    const params: PipelineParams = {
      chunker: { kind: 'fastcdc', minSize: 1 << 20, avgSize: 4 << 20, maxSize: 16 << 20 },
      hash: 'blake3',
      compression: { kind: 'zlib', level: 6 },
      seal: { kind: 'none' },
      known: core.newBlobSet(),
    };
    const [res] = await core.processFiles([{ path, offset: 0, maxBytes: 0 }], params);
    if (res === undefined) throw new Error('no result');
    expect(res.chunks.map((c) => c.length)).toEqual(core.chunkBuffer(params.chunker, data));
    let pos = 0;
    for (const b of res.blobs) {
      expect(b.compressed).toBe(true);
      const chunk = data.subarray(pos, pos + b.rawLength);
      expect(hex(inflateSync(b.data))).toBe(hex(chunk));
      expect(hex(b.id)).toBe(hex(core.hash('blake3', chunk)));
      pos += b.rawLength;
    }
    expect(hex(reassemble(res, await roundTrip(core, [res], params)))).toBe(hex(data));
  });
});

describe('decodeBlobs', () => {
  it('writes plaintexts to target fds instead of returning them', async () => {
    const core = await nativeCore();
    const params = resticParams(core);
    const data = textStream('targets', 2 << 20);
    const path = write('targets.src', data);
    const [res] = await core.processFiles([{ path, offset: 0, maxBytes: 0 }], params);
    const blob = res?.blobs[0];
    if (res === undefined || blob === undefined) throw new Error('no blob');
    const outA = join(tmp.dir, 'target-a');
    const outB = join(tmp.dir, 'target-b');
    writeFileSync(outA, Buffer.alloc(0));
    writeFileSync(outB, Buffer.alloc(0));
    const fa = openSync(outA, 'r+');
    const fb = openSync(outB, 'r+');
    try {
      const decoded = await core.decodeBlobs({
        data: blob.data,
        blobs: [
          {
            offset: 0,
            length: blob.data.length,
            rawLength: blob.rawLength,
            compressed: blob.compressed,
            id: blob.id,
            targets: [
              { fd: fa, position: 0 },
              { fd: fb, position: 100 },
            ],
          },
        ],
        seal: params.seal,
        codec: 'zstd',
        hash: 'sha256',
      });
      expect(decoded).toEqual({ plaintexts: [null], errors: [null] });
    } finally {
      closeSync(fa);
      closeSync(fb);
    }
    const chunk = data.subarray(0, blob.rawLength);
    expect(hex(readFileSync(outA))).toBe(hex(chunk));
    expect(hex(readFileSync(outB))).toBe(hex(Buffer.concat([Buffer.alloc(100), chunk])));
  });
});
