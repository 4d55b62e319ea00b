// The fixture chunker vectors (boundaries recorded from the real restic 0.14 and ghostsnap),
// through chunkBuffer and through the streaming file pipeline.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChunkerSpec } from '../../src/native/types.ts';
import { FIXTURES, hex, nativeCore, sha256ctr, sha256Hex, tempDir, textStream, xorshift32Nibbles } from './helpers.ts';

interface ResticVectors {
  inputs: { name: string; generator: string; length: number; sha256: string }[];
  results: { input: string; polynomial: string; chunks: { offset: number; length: number; id: string }[] }[];
}

interface GhostsnapVectors {
  parameters: { min_size: number; avg_size: number; max_size: number };
  vectors: {
    name: string;
    generator: 'random' | 'text' | 'zeros';
    seed: string | null;
    length: number;
    sha256: string;
    chunk_lengths: number[];
    chunk_ids_blake3: string[];
  }[];
}

const restic = JSON.parse(readFileSync(join(FIXTURES, 'restic/chunker-vectors.json'), 'utf8')) as ResticVectors;
const ghostsnap = JSON.parse(readFileSync(join(FIXTURES, 'ghostsnap/chunker-vectors.json'), 'utf8')) as GhostsnapVectors;

function resticInput(name: string): Buffer {
  switch (name) {
    case 'sha256ctr-12MiB':
      return sha256ctr('bolt-chunker-vector', 12582912);
    case 'xorshift32-nibbles-9MiB':
      return xorshift32Nibbles(9437184);
    case 'mixed-15MiB':
      return Buffer.concat([
        sha256ctr('bolt-mixed-head', 3145728),
        Buffer.alloc(10485760, 0x5a),
        sha256ctr('bolt-mixed-tail', 2097929),
      ]);
    case 'zeros-1100000':
      return Buffer.alloc(1100000);
    case 'fixture-big.bin':
      return sha256ctr('bolt-fixture-big', 5242880);
    default:
      throw new Error(`no generator for restic vector input ${name}`);
  }
}

function ghostsnapInput(v: GhostsnapVectors['vectors'][number]): Buffer {
  if (v.generator === 'zeros') return Buffer.alloc(v.length);
  if (v.seed === null) throw new Error(`vector ${v.name} has no seed`);
  return v.generator === 'text' ? textStream(v.seed, v.length) : sha256ctr(v.seed, v.length);
}

const tmp = tempDir('vectors');
afterAll(() => tmp.remove());

describe('restic Rabin chunker vectors (restic 0.14 boundaries)', () => {
  const inputs = new Map<string, Buffer>();
  const input = (name: string): Buffer => {
    let data = inputs.get(name);
    if (data === undefined) {
      data = resticInput(name);
      const meta = restic.inputs.find((i) => i.name === name);
      expect(meta, name).toBeDefined();
      expect(sha256Hex(data)).toBe(meta?.sha256);
      inputs.set(name, data);
    }
    return data;
  };

  for (const r of restic.results) {
    it(`${r.input} under ${r.polynomial}`, async () => {
      const core = await nativeCore();
      const data = input(r.input);
      const spec: ChunkerSpec = { kind: 'rabin', polynomial: r.polynomial };
      expect(core.chunkBuffer(spec, data)).toEqual(r.chunks.map((c) => c.length));

      const path = join(tmp.dir, `${r.input}-${r.polynomial}`);
      writeFileSync(path, data);
      const [res] = await core.processFiles([{ path, offset: 0, maxBytes: 0 }], {
        chunker: spec,
        hash: 'sha256',
        compression: { kind: 'none' },
        seal: { kind: 'none' },
        known: core.newBlobSet(),
      });
      expect(res?.error).toBeUndefined();
      expect(res?.chunks.map((c) => ({ length: c.length, id: hex(c.id) }))).toEqual(
        r.chunks.map((c) => ({ length: c.length, id: c.id })),
      );
      expect(res?.eof).toBe(true);
      expect(res?.nextOffset).toBe(data.length);
    });
  }
});

describe('ghostsnap FastCDC vectors (ghostsnap boundaries)', () => {
  const { min_size: minSize, avg_size: avgSize, max_size: maxSize } = ghostsnap.parameters;
  const spec: ChunkerSpec = { kind: 'fastcdc', minSize, avgSize, maxSize };

  for (const v of ghostsnap.vectors) {
    it(v.name, async () => {
      const core = await nativeCore();
      const data = ghostsnapInput(v);
      expect(sha256Hex(data)).toBe(v.sha256);
      expect(core.chunkBuffer(spec, data)).toEqual(v.chunk_lengths);

      const path = join(tmp.dir, v.name);
      writeFileSync(path, data);
      const [res] = await core.processFiles([{ path, offset: 0, maxBytes: 0 }], {
        chunker: spec,
        hash: 'blake3',
        compression: { kind: 'none' },
        seal: { kind: 'none' },
      });
      expect(res?.error).toBeUndefined();
      expect(res?.chunks.map((c) => c.length)).toEqual(v.chunk_lengths);
      expect(res?.chunks.map((c) => hex(c.id))).toEqual(v.chunk_ids_blake3);
    });
  }
});
