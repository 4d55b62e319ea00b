import { expect, it } from 'vitest';
import type { SealSpec } from '../../src/native/types.ts';
import { describeEachCore } from './cores.ts';
import { hex, loadVectors, toHex } from './vectors.ts';

interface ResticSealVectors {
  vectors: { name: string; key_hex: string; iv_hex: string; plaintext_hex: string; sealed_hex: string }[];
  open_failures: { name: string; key_hex: string; box_hex: string; code: string }[];
  invalid: { name: string; key_length: number; iv_length?: number; code: string }[];
}

interface ChaChaVectors {
  aead: { name: string; key_hex: string; nonce_hex: string; plaintext_hex: string; sealed_hex: string }[];
  xor: { key_hex: string; nonce_hex: string; counter: number; data_hex: string; out_hex: string }[];
  open_failures: { name: string; key_hex: string; box_hex: string; code: string }[];
  xor_invalid: { name: string; counter: number; length: number; nonce_length?: number; code: string }[];
}

const restic = loadVectors<ResticSealVectors>('restic-seal.json');
const chacha = loadVectors<ChaChaVectors>('chacha.json');

const resticSpec = (keyHex: string): SealSpec => ({ kind: 'restic', key: hex(keyHex) });
const chachaSpec = (keyHex: string): SealSpec => ({ kind: 'chacha20poly1305', key: hex(keyHex) });

/** Splits `data` into pieces of varying sizes (1, 2, 3, ... 17, 1, ...). */
function pieces(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let pos = 0, n = 1; pos < data.length; pos += n, n = (n % 17) + 1) out.push(data.subarray(pos, pos + n));
  return out;
}

describeEachCore('restic seal/open', (core) => {
  for (const v of restic.vectors) {
    it(`seal with fixed IV: ${v.name}`, () => {
      const sealed = core().seal(resticSpec(v.key_hex), hex(v.plaintext_hex), hex(v.iv_hex));
      expect(toHex(sealed)).toBe(v.sealed_hex);
    });
    it(`open: ${v.name}`, async () => {
      expect(toHex(core().open(resticSpec(v.key_hex), hex(v.sealed_hex)))).toBe(v.plaintext_hex);
      expect(toHex(await core().openAsync(resticSpec(v.key_hex), hex(v.sealed_hex)))).toBe(v.plaintext_hex);
    });
  }

  for (const f of restic.open_failures) {
    it(`open fails with ${f.code}: ${f.name}`, async () => {
      expect(() => core().open(resticSpec(f.key_hex), hex(f.box_hex))).toThrow(expect.objectContaining({ code: f.code }));
      await expect(core().openAsync(resticSpec(f.key_hex), hex(f.box_hex))).rejects.toMatchObject({ code: f.code });
    });
  }

  for (const f of restic.invalid) {
    it(`rejects bad arguments with ${f.code}: ${f.name}`, () => {
      const spec: SealSpec = { kind: 'restic', key: new Uint8Array(f.key_length).fill(1) };
      const iv = f.iv_length === undefined ? undefined : new Uint8Array(f.iv_length).fill(2);
      expect(() => core().seal(spec, new Uint8Array(5), iv)).toThrow(expect.objectContaining({ code: f.code }));
    });
  }

  it('refuses to seal with an all-zero IV (restic could not open it)', () => {
    const v = restic.vectors[0]!;
    expect(() => core().seal(resticSpec(v.key_hex), hex(v.plaintext_hex), new Uint8Array(16))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
  });

  it('random IVs: every seal differs, every box opens', async () => {
    const spec = resticSpec(restic.vectors[0]!.key_hex);
    const pt = Buffer.from('the same plaintext');
    const a = core().seal(spec, pt);
    const b = await core().sealAsync(spec, pt);
    expect(a.length).toBe(pt.length + 32);
    expect(toHex(a.subarray(0, 16))).not.toBe(toHex(b.subarray(0, 16)));
    expect(core().open(spec, a).toString()).toBe('the same plaintext');
    expect(core().open(spec, b).toString()).toBe('the same plaintext');
  });
});

describeEachCore('ChaCha20-Poly1305', (core) => {
  for (const v of chacha.aead) {
    it(`seal with fixed nonce: ${v.name}`, () => {
      expect(toHex(core().seal(chachaSpec(v.key_hex), hex(v.plaintext_hex), hex(v.nonce_hex)))).toBe(v.sealed_hex);
    });
    it(`open: ${v.name}`, async () => {
      expect(toHex(core().open(chachaSpec(v.key_hex), hex(v.sealed_hex)))).toBe(v.plaintext_hex);
      expect(toHex(await core().openAsync(chachaSpec(v.key_hex), hex(v.sealed_hex)))).toBe(v.plaintext_hex);
    });
    it(`aeadStream in pieces: ${v.name}`, () => {
      const sealed = hex(v.sealed_hex);
      const ct = sealed.subarray(12, sealed.length - 16);
      const tag = sealed.subarray(sealed.length - 16);
      const s = core().aeadStream('seal', hex(v.key_hex), hex(v.nonce_hex));
      const outs = pieces(hex(v.plaintext_hex)).map((p) => s.update(p));
      expect(toHex(Buffer.concat(outs))).toBe(toHex(ct));
      expect(toHex(s.final())).toBe(toHex(tag));
      const o = core().aeadStream('open', hex(v.key_hex), hex(v.nonce_hex));
      const plain = Buffer.concat(pieces(ct).map((p) => o.update(p)));
      expect(toHex(plain)).toBe(v.plaintext_hex);
      expect(o.final(tag).length).toBe(0);
    });
    it(`aeadStream updateInto a reused buffer: ${v.name}`, () => {
      const sealed = hex(v.sealed_hex);
      const ct = sealed.subarray(12, sealed.length - 16);
      const tag = sealed.subarray(sealed.length - 16);
      const s = core().aeadStream('seal', hex(v.key_hex), hex(v.nonce_hex));
      const out = Buffer.alloc(64);
      const outs = pieces(hex(v.plaintext_hex)).map((p) => {
        s.updateInto(p, out);
        return Buffer.from(out.subarray(0, p.length));
      });
      expect(toHex(Buffer.concat(outs))).toBe(toHex(ct));
      expect(toHex(s.final())).toBe(toHex(tag));
      expect(() => core().aeadStream('seal', hex(v.key_hex), hex(v.nonce_hex)).updateInto(Buffer.alloc(8), Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    });
  }

  it('aeadStream open rejects a wrong tag with EAUTH', () => {
    const v = chacha.aead[0]!;
    const sealed = hex(v.sealed_hex);
    const o = core().aeadStream('open', hex(v.key_hex), hex(v.nonce_hex));
    o.update(sealed.subarray(12, sealed.length - 16));
    const tag = Buffer.from(sealed.subarray(sealed.length - 16));
    tag[0] = (tag[0] as number) ^ 1;
    expect(() => o.final(tag)).toThrow(expect.objectContaining({ code: 'EAUTH' }));
  });

  for (const f of chacha.open_failures) {
    it(`open fails with ${f.code}: ${f.name}`, async () => {
      expect(() => core().open(chachaSpec(f.key_hex), hex(f.box_hex))).toThrow(expect.objectContaining({ code: f.code }));
      await expect(core().openAsync(chachaSpec(f.key_hex), hex(f.box_hex))).rejects.toMatchObject({ code: f.code });
    });
  }

  it('rejects a 16-byte key and an 8-byte nonce with EINVAL', () => {
    expect(() => core().seal({ kind: 'chacha20poly1305', key: new Uint8Array(16) }, new Uint8Array(1))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() => core().seal(chachaSpec(chacha.aead[0]!.key_hex), new Uint8Array(1), new Uint8Array(8))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
  });

  it('random nonces: every seal differs, every box opens', async () => {
    const spec = chachaSpec(chacha.aead[0]!.key_hex);
    const a = core().seal(spec, Buffer.from('x'));
    const b = await core().sealAsync(spec, Buffer.from('x'));
    expect(a.length).toBe(1 + 28);
    expect(toHex(a.subarray(0, 12))).not.toBe(toHex(b.subarray(0, 12)));
    expect(core().open(spec, b).toString()).toBe('x');
  });

  for (const x of chacha.xor) {
    it(`chacha20Xor at block ${x.counter}, ${x.data_hex.length / 2} bytes`, () => {
      expect(toHex(core().chacha20Xor(hex(x.key_hex), hex(x.nonce_hex), x.counter, hex(x.data_hex)))).toBe(x.out_hex);
    });
  }

  for (const x of chacha.xor_invalid) {
    it(`chacha20Xor rejects with ${x.code}: ${x.name}`, () => {
      const nonce = new Uint8Array(x.nonce_length ?? 12);
      expect(() => core().chacha20Xor(new Uint8Array(32), nonce, x.counter, new Uint8Array(x.length))).toThrow(
        expect.objectContaining({ code: x.code }),
      );
    });
  }

  it('seal none is the identity', () => {
    const pt = Buffer.from('plain');
    expect(core().seal({ kind: 'none' }, pt).toString()).toBe('plain');
    expect(core().open({ kind: 'none' }, pt).toString()).toBe('plain');
  });
});

describeEachCore('randomBytes', (core) => {
  it('returns the requested length, different each time', () => {
    const a = core().randomBytes(32);
    const b = core().randomBytes(32);
    expect(a.length).toBe(32);
    expect(toHex(a)).not.toBe(toHex(b));
    expect(core().randomBytes(0).length).toBe(0);
  });
});
