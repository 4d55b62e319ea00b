import { expect, it } from 'vitest';
import { describeEachCore } from './cores.ts';
import { hex, loadVectors, toHex } from './vectors.ts';

interface KdfVectors {
  scrypt: { name: string; password_hex: string; salt_hex: string; N: number; r: number; p: number; length: number; output_hex: string }[];
  argon2id: {
    name: string;
    password_hex: string;
    salt_hex: string;
    iterations: number;
    memoryKiB: number;
    parallelism: number;
    length: number;
    output_hex: string;
  }[];
}

const kdf = loadVectors<KdfVectors>('kdf.json');

describeEachCore('key derivation', (core, name) => {
  for (const v of kdf.scrypt) {
    it(`scrypt: ${v.name}`, async () => {
      const out = await core().scrypt(hex(v.password_hex), hex(v.salt_hex), v.N, v.r, v.p, v.length);
      expect(toHex(out)).toBe(v.output_hex);
    });
  }

  for (const v of kdf.argon2id) {
    it(`argon2id: ${v.name}`, async () => {
      const out = core().argon2id(hex(v.password_hex), hex(v.salt_hex), {
        iterations: v.iterations,
        memoryKiB: v.memoryKiB,
        parallelism: v.parallelism,
        length: v.length,
      });
      if (name === 'portable' && v.password_hex === '') {
        // Documented limit of the portable core (hash-wasm refuses empty passwords).
        await expect(out).rejects.toMatchObject({ code: 'EUNSUPPORTED' });
      } else {
        expect(toHex(await out)).toBe(v.output_hex);
      }
    });
  }

  it('rejects bad parameters with EINVAL', async () => {
    const pw = Buffer.from('pw');
    await expect(core().scrypt(pw, Buffer.from('salt'), 1000, 8, 1, 32)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(core().scrypt(pw, Buffer.from('salt'), 1024, 0, 1, 32)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(
      core().argon2id(pw, Buffer.from('short'), { iterations: 1, memoryKiB: 64, parallelism: 1, length: 32 }),
    ).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(
      core().argon2id(pw, Buffer.from('saltsalt'), { iterations: 0, memoryKiB: 64, parallelism: 1, length: 32 }),
    ).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
