// The portable core must run unchanged on Bun and Deno: runtime-smoke.ts is executed by each
// runtime and its output is checked against the vectors (and, where no vector exists, against
// the same computation in this Node process).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createPortableCore } from '../../src/native/portable.ts';
import type { Core } from '../../src/native/types.ts';
import { hex, loadVectors, repoRoot, toHex } from './vectors.ts';

const hashes = loadVectors<{ vectors: { sha256: string; blake3: string }[] }>('hashes.json').vectors;
const resticSeal = loadVectors<{ vectors: { sealed_hex: string; plaintext_hex: string }[] }>('restic-seal.json').vectors[0]!;
const chacha = loadVectors<{ aead: { sealed_hex: string }[]; xor: { out_hex: string }[] }>('chacha.json');
const comp = loadVectors<{ zstd_frames: { plaintext_hex?: string }[]; zlib_streams: { plaintext_hex: string }[] }>('compression.json');
const rabin = loadVectors<{ vectors: { name: string; lengths: number[] }[] }>('restic-chunker.json').vectors.find(
  (v) => v.name === 'fixture-big.bin / 2e971b4527edad',
)!;
const fastcdc = loadVectors<{ vectors: { name: string; lengths: number[] }[] }>('ghostsnap-chunker.json').vectors.find((v) => v.name === 'odd min')!;
const kdf = loadVectors<{ scrypt: { output_hex: string }[]; argon2id: { output_hex: string }[] }>('kdf.json');

const runtimes = {
  bun: [join(repoRoot, 'node_modules/.bin/bun'), 'run'],
  deno: [join(repoRoot, 'node_modules/.bin/deno'), 'run', '-A'],
} as const;

let node: Core;
beforeAll(async () => {
  node = await createPortableCore();
});

for (const [name, [bin, ...args]] of Object.entries(runtimes)) {
  describe(`portable core on ${name}`, () => {
    let out: Record<string, unknown>;
    beforeAll(() => {
      const r = spawnSync(bin, [...args, 'test/core/runtime-smoke.ts'], { cwd: repoRoot, encoding: 'utf8', timeout: 180_000 });
      if (r.status !== 0) throw new Error(`${name} exited with ${r.status ?? r.signal}: ${r.stderr || (r.error?.message ?? '')}`);
      out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    }, 200_000);

    it('hashes, seals, streams and keystreams match the vectors', () => {
      expect(out['hashes']).toEqual(hashes.slice(0, 8).map((v) => [v.sha256, v.blake3]));
      expect(out['resticSeal']).toBe(resticSeal.sealed_hex);
      expect(out['resticOpen']).toBe(resticSeal.plaintext_hex);
      expect(out['chachaSeal']).toBe(chacha.aead[0]!.sealed_hex);
      expect(out['chachaStream']).toBe(chacha.aead[0]!.sealed_hex);
      expect(out['chachaXor']).toEqual(chacha.xor.map((x) => x.out_hex));
    });

    it('zstd and zlib decode the vectors and round-trip', () => {
      expect(out['zstd']).toEqual(comp.zstd_frames.slice(0, 3).map((f) => f.plaintext_hex));
      expect(out['zlib']).toBe(comp.zlib_streams[0]!.plaintext_hex);
      expect(out['roundTrip']).toEqual([true, true]);
    });

    it('chunkers cut where restic and the reference FastCDC cut', () => {
      expect(out['rabin']).toEqual(rabin.lengths);
      expect(out['fastcdc']).toEqual(fastcdc.lengths);
    });

    it('BlobSet and KDFs behave as on Node', () => {
      expect(out['blobSet']).toEqual([true, false, true, true, 0]);
      expect(out['scrypt']).toBe(kdf.scrypt[1]!.output_hex);
      expect(out['argon2id']).toBe(kdf.argon2id[2]!.output_hex);
    });

    it('processFiles and decodeBlobs work on files, as on Node', async () => {
      const content = Buffer.from('smoke test file contents\n'.repeat(100));
      const lengths = node.chunkBuffer({ kind: 'fastcdc', minSize: 64, avgSize: 256, maxSize: 1024 }, content);
      let pos = 0;
      const ids = lengths.map((n) => toHex(node.hash('blake3', content.subarray(pos, (pos += n)))));
      const pf = out['processFiles'] as { lengths: number[]; ids: string[]; encoded: number[]; decoded: string; eof: boolean };
      expect(pf.lengths).toEqual(lengths);
      expect(pf.ids).toEqual(ids);
      const firstIndex = ids.map((id, i) => (ids.indexOf(id) === i ? i : -1)).filter((i) => i >= 0);
      expect(pf.encoded).toEqual(firstIndex);
      expect(pf.eof).toBe(true);
      expect(hex(pf.decoded).toString()).toBe(Buffer.concat(firstIndex.map((i) => {
        const start = lengths.slice(0, i).reduce((s, n) => s + n, 0);
        return content.subarray(start, start + lengths[i]!);
      })).toString());
      expect(out['decodeBlobs']).toEqual(['hello restic, second version\n', null]);
    });

    it('filesystem metadata', () => {
      const rows = out['readDirs'] as [string, number, number][];
      expect(rows.map((r) => r[0])).toEqual(['f.txt', 'sub']);
      expect(rows[0]![2]).toBe(2500);
      expect(rows[0]![1] & 0o170000).toBe(0o100000);
      expect(rows[1]![1] & 0o170000).toBe(0o040000);
      expect(out['setTimes']).toEqual([1_600_000_000, 1_500_000_000]);
      expect(out['lstatError']).toBe('EIO_READ');
    });
  });
}
