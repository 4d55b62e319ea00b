import { expect, it } from 'vitest';
import type { CompressionSpec } from '../../src/native/types.ts';
import { describeEachCore } from './cores.ts';
import { inputOf, type DescribedInput } from './inputs.ts';
import { hex, loadVectors, toHex } from './vectors.ts';

interface CompressionVectors {
  zstd_frames: { name: string; frame_hex: string; plaintext_hex?: string; plaintext?: DescribedInput }[];
  zlib_streams: { name: string; stream_hex: string; plaintext_hex: string }[];
  failures: { name: string; codec: 'zstd' | 'zlib'; data_hex: string; expectedLength: number; maxLength?: number; code: string }[];
  round_trips: DescribedInput[];
  invalid: { name: string; spec: CompressionSpec }[];
}

const v = loadVectors<CompressionVectors>('compression.json');

function plaintextOf(f: { plaintext_hex?: string; plaintext?: DescribedInput }): Buffer {
  if (f.plaintext !== undefined) return inputOf(f.plaintext);
  return hex(f.plaintext_hex ?? '');
}

describeEachCore('compression', (core) => {
  for (const f of v.zstd_frames) {
    it(`zstd decodes: ${f.name}`, async () => {
      const want = plaintextOf(f);
      const frame = hex(f.frame_hex);
      expect(toHex(core().decompress('zstd', frame, want.length))).toBe(toHex(want));
      expect(toHex(core().decompress('zstd', frame, -1))).toBe(toHex(want));
      expect(toHex(core().decompress('zstd', frame, -1, want.length))).toBe(toHex(want));
      expect(toHex(await core().decompressAsync('zstd', frame, want.length))).toBe(toHex(want));
    });
  }

  for (const s of v.zlib_streams) {
    it(`zlib decodes: ${s.name}`, async () => {
      const stream = hex(s.stream_hex);
      const n = s.plaintext_hex.length / 2;
      expect(toHex(core().decompress('zlib', stream, n))).toBe(s.plaintext_hex);
      expect(toHex(core().decompress('zlib', stream, -1))).toBe(s.plaintext_hex);
      expect(toHex(await core().decompressAsync('zlib', stream, -1, n))).toBe(s.plaintext_hex);
    });
  }

  for (const f of v.failures) {
    it(`${f.codec} fails with ${f.code}: ${f.name}`, async () => {
      const data = hex(f.data_hex);
      expect(() => core().decompress(f.codec, data, f.expectedLength, f.maxLength)).toThrow(expect.objectContaining({ code: f.code }));
      await expect(core().decompressAsync(f.codec, data, f.expectedLength, f.maxLength)).rejects.toMatchObject({ code: f.code });
    });
  }

  const specs: CompressionSpec[] = [
    { kind: 'zstd', level: 3 },
    { kind: 'zstd', level: 19 },
    { kind: 'zstd', level: 1 },
    { kind: 'zstd', level: 22 },
    { kind: 'zstd', level: 1, onlyIfSmaller: true },
    { kind: 'zlib', level: 6 },
    { kind: 'zlib', level: 0 },
    { kind: 'zlib', level: 9 },
  ];
  for (const input of v.round_trips) {
    it(`round trip of ${JSON.stringify(input.spec).slice(0, 60)}`, async () => {
      const data = inputOf(input);
      for (const spec of specs) {
        if (spec.kind === 'none') continue;
        const packed = core().compress(spec, data);
        expect(toHex(core().decompress(spec.kind, packed, data.length))).toBe(toHex(data));
        const packedAsync = await core().compressAsync(spec, data);
        expect(toHex(await core().decompressAsync(spec.kind, packedAsync, -1))).toBe(toHex(data));
      }
      // compress() always returns a stream, even where onlyIfSmaller would store a blob raw.
      const frame = core().compress({ kind: 'zstd', level: 3, onlyIfSmaller: true }, data);
      expect(frame.subarray(0, 4).toString('hex')).toBe('28b52ffd');
      expect(toHex(core().compress({ kind: 'none' }, data))).toBe(toHex(data));
    });
  }

  it('compressible data shrinks', () => {
    const data = Buffer.alloc(100000, 'a');
    expect(core().compress({ kind: 'zstd', level: 3 }, data).length).toBeLessThan(1000);
    expect(core().compress({ kind: 'zlib', level: 6 }, data).length).toBeLessThan(1000);
  });

  for (const bad of v.invalid) {
    it(`rejects ${bad.name} with EINVAL`, async () => {
      expect(() => core().compress(bad.spec, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      await expect(core().compressAsync(bad.spec, Buffer.from('x'))).rejects.toMatchObject({ code: 'EINVAL' });
    });
  }

  it('rejects bad decompress arguments with EINVAL', () => {
    const frame = hex(v.zstd_frames[0]!.frame_hex);
    expect(() => core().decompress('zstd', frame, -2)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => core().decompress('zstd', frame, 1.5)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => core().decompress('lz4' as 'zstd', frame, -1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
