import { expect, it } from 'vitest';
import { describeEachCore } from './cores.ts';
import { inputOf, type DescribedInput } from './inputs.ts';
import { loadVectors, toHex } from './vectors.ts';

interface HashVector {
  input: DescribedInput;
  sha256: string;
  blake3: string;
  split_at?: number[];
}

const { vectors } = loadVectors<{ vectors: HashVector[] }>('hashes.json');

describeEachCore('hash', (core) => {
  for (const v of vectors) {
    const label = `${JSON.stringify(v.input.spec).slice(0, 70)}`;
    it(`sha256 and blake3 of ${label}`, async () => {
      const data = inputOf(v.input);
      expect(toHex(core().hash('sha256', data))).toBe(v.sha256);
      expect(toHex(core().hash('blake3', data))).toBe(v.blake3);
      expect(toHex(await core().hashAsync('sha256', data))).toBe(v.sha256);
      expect(toHex(await core().hashAsync('blake3', data))).toBe(v.blake3);
      if (v.split_at !== undefined) {
        const [a, b] = v.split_at as [number, number];
        const parts = [data.subarray(0, a), data.subarray(a, b), new Uint8Array(0), data.subarray(b)];
        expect(toHex(core().hash('sha256', parts))).toBe(v.sha256);
        expect(toHex(core().hash('blake3', parts))).toBe(v.blake3);
        expect(toHex(await core().hashAsync('blake3', parts))).toBe(v.blake3);
      }
    });
  }

  it('returns 32-byte Buffers', () => {
    const d = core().hash('blake3', new Uint8Array(3));
    expect(Buffer.isBuffer(d)).toBe(true);
    expect(d.length).toBe(32);
  });

  it('rejects an unknown algorithm with EINVAL', async () => {
    expect(() => core().hash('md5' as 'sha256', new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    await expect(core().hashAsync('md5' as 'sha256', new Uint8Array(1))).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
