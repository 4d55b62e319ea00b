// What one core writes, the other must read: blobs, boxes, frames and streams, for every ordered
// pair of selected cores (with one selected core, the pair is the core with itself).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Core, PipelineParams } from '../../src/native/types.ts';
import { loadCore, selectedCores } from './cores.ts';
import { decodeBlob } from './decode-blob.ts';
import { generate } from './inputs.ts';
import { toHex } from './vectors.ts';

const dir = mkdtempSync(join(tmpdir(), 'bolt-cross-'));
const files = {
  text: generate({ kind: 'text', seed: 'cross-text', length: 1_700_000 }),
  random: generate({ kind: 'sha256ctr', seed: 'cross-random', length: 900_000 }),
  tiny: Buffer.from('tiny file\n'),
};
beforeAll(() => {
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key64 = Buffer.alloc(64, 7);
const key32 = Buffer.alloc(32, 9);
const paramSets: PipelineParams[] = [
  { chunker: { kind: 'rabin', polynomial: '2e971b4527edad' }, hash: 'sha256', compression: { kind: 'zstd', level: 3, onlyIfSmaller: true }, seal: { kind: 'restic', key: key64 } },
  { chunker: { kind: 'fastcdc', minSize: 4096, avgSize: 16384, maxSize: 65536 }, hash: 'blake3', compression: { kind: 'zlib', level: 6 }, seal: { kind: 'chacha20poly1305', key: key32 } },
];

const names = selectedCores();
const pairs = names.flatMap((a) => names.map((b) => [a, b] as const));

for (const [a, b] of pairs) {
  describe(`written by ${a}, read by ${b}`, () => {
    let A: Core;
    let B: Core;
    beforeAll(async () => {
      A = await loadCore(a);
      B = await loadCore(b);
    });

    for (const params of paramSets) {
      it(`processFiles blobs (${params.chunker.kind}, ${params.compression.kind}, ${params.seal.kind}) decode; chunk lists agree`, async () => {
        const reqs = Object.keys(files).map((f) => ({ path: join(dir, f), offset: 0, maxBytes: 0 }));
        const ra = await A.processFiles(reqs, { ...params, known: A.newBlobSet() });
        const rb = await B.processFiles(reqs, { ...params, known: B.newBlobSet() });
        expect(ra.map((r) => r.chunks.map((c) => [c.length, toHex(c.id)]))).toEqual(rb.map((r) => r.chunks.map((c) => [c.length, toHex(c.id)])));
        expect(ra.map((r) => r.blobs.map((x) => x.chunkIndex))).toEqual(rb.map((r) => r.blobs.map((x) => x.chunkIndex)));
        for (const [i, r] of ra.entries()) {
          const file = Object.values(files)[i]!;
          let pos = 0;
          const starts = r.chunks.map((c) => ((pos += c.length), pos - c.length));
          for (const blob of r.blobs) {
            const start = starts[blob.chunkIndex]!;
            expect(toHex(decodeBlob(B, params, blob))).toBe(toHex(file.subarray(start, start + blob.rawLength)));
          }
          // The same blobs as one pack range through decodeBlobs.
          if (params.seal.kind === 'restic') {
            let offset = 0;
            const specs = r.blobs.map((x) => {
              const s = { offset, length: x.data.length, rawLength: x.rawLength, compressed: x.compressed, id: x.id };
              offset += x.data.length;
              return s;
            });
            const res = await B.decodeBlobs({ data: Buffer.concat(r.blobs.map((x) => x.data)), blobs: specs, seal: params.seal, codec: 'zstd', hash: 'sha256' });
            expect(res.errors.every((e) => e === null)).toBe(true);
          }
        }
      });
    }

    it('sealed boxes with random IVs/nonces open', async () => {
      const pt = files.text.subarray(0, 10_000);
      for (const spec of [paramSets[0]!.seal, paramSets[1]!.seal]) {
        expect(toHex(B.open(spec, A.seal(spec, pt)))).toBe(toHex(pt));
        expect(toHex(await B.openAsync(spec, await A.sealAsync(spec, pt)))).toBe(toHex(pt));
      }
    });

    it('aeadStream: sealed in pieces by one, opened in other pieces by the other', () => {
      const nonce = Buffer.alloc(12, 3);
      const pt = files.random.subarray(0, 100_003);
      const s = A.aeadStream('seal', key32, nonce);
      const ct = Buffer.concat([s.update(pt.subarray(0, 70_000)), s.update(pt.subarray(70_000))]);
      const tag = s.final();
      const o = B.aeadStream('open', key32, nonce);
      const back = Buffer.concat([o.update(ct.subarray(0, 33)), o.update(ct.subarray(33))]);
      o.final(tag);
      expect(toHex(back)).toBe(toHex(pt));
      expect(toHex(B.open({ kind: 'chacha20poly1305', key: key32 }, Buffer.concat([nonce, ct, tag])))).toBe(toHex(pt));
    });

    it('compressed streams decompress', async () => {
      for (const data of [files.text, files.random, files.tiny, Buffer.alloc(0)]) {
        for (const spec of [{ kind: 'zstd', level: 3 }, { kind: 'zstd', level: 12 }, { kind: 'zlib', level: 6 }] as const) {
          expect(toHex(B.decompress(spec.kind, A.compress(spec, data), data.length))).toBe(toHex(data));
          expect(toHex(await B.decompressAsync(spec.kind, await A.compressAsync(spec, data), -1))).toBe(toHex(data));
        }
      }
    });
  });
}
