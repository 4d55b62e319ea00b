// Hashes, sealed boxes, streaming AEAD, raw ChaCha20 and KDFs against the fixture vectors
// (checked by the real restic and ghostsnap) and against node:crypto as an independent oracle.
import { createCipheriv, createHash, randomBytes as nodeRandom } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../../src/native/errors.ts';
import { FIXTURES, fromHex, hex, nativeCore } from './helpers.ts';

const restic = JSON.parse(readFileSync(join(FIXTURES, 'restic/crypto-vectors.json'), 'utf8'));
const ghost = JSON.parse(readFileSync(join(FIXTURES, 'ghostsnap/crypto-vectors.json'), 'utf8'));

const masterKey = Buffer.concat([
  fromHex(restic.seal.master_key.encrypt_hex),
  fromHex(restic.seal.master_key.mac_k_hex),
  fromHex(restic.seal.master_key.mac_r_hex),
]);

function userKey(k: { encrypt_hex: string; mac_k_hex: string; mac_r_hex: string }): Buffer {
  return Buffer.concat([fromHex(k.encrypt_hex), fromHex(k.mac_k_hex), fromHex(k.mac_r_hex)]);
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CoreError);
    return (err as CoreError).code;
  }
  return undefined;
}

describe('hashes', () => {
  it('SHA-256 equals node:crypto, one buffer or several parts, sync and async', async () => {
    const core = await nativeCore();
    for (const n of [0, 1, 55, 64, 1000, 1 << 20]) {
      const data = nodeRandom(n);
      const want = createHash('sha256').update(data).digest('hex');
      expect(hex(core.hash('sha256', data))).toBe(want);
      expect(hex(await core.hashAsync('sha256', data))).toBe(want);
      const parts = [data.subarray(0, n >> 1), data.subarray(n >> 1)];
      expect(hex(core.hash('sha256', parts))).toBe(want);
    }
  });

  it('BLAKE3 matches the ghostsnap vectors', async () => {
    const core = await nativeCore();
    for (const v of ghost.blake3) {
      const data = Buffer.from(v.input_utf8, 'utf8');
      expect(hex(core.hash('blake3', data))).toBe(v.output_hex);
      expect(hex(await core.hashAsync('blake3', [data.subarray(0, 3), data.subarray(3)]))).toBe(v.output_hex);
    }
  });

  it('rejects an unknown algorithm with EINVAL', async () => {
    const core = await nativeCore();
    // @ts-expect-error: deliberately not a HashAlgorithm
    expect(await codeOf(() => core.hash('md5', Buffer.alloc(1)))).toBe('EINVAL');
  });
});

describe('restic seal (AES-256-CTR + Poly1305-AES)', () => {
  it('reproduces the fixture vector and its empty-plaintext form', async () => {
    const core = await nativeCore();
    const spec = { kind: 'restic', key: masterKey } as const;
    const iv = fromHex(restic.seal.iv_hex);
    expect(hex(core.seal(spec, fromHex(restic.seal.plaintext_hex), iv))).toBe(restic.seal.stored_hex);
    expect(hex(core.seal(spec, Buffer.alloc(0), iv))).toBe(restic.seal.empty_plaintext_stored_hex);
    expect(core.open(spec, fromHex(restic.seal.stored_hex)).toString('utf8')).toBe(restic.seal.plaintext_utf8);
  });

  it('opens the real v2 key file with scrypt and its config with the master key', async () => {
    const core = await nativeCore();
    const v = restic.key_file_restic_v2_fixture;
    const keyFile = JSON.parse(v.key_file_bytes_utf8);
    const derived = await core.scrypt(
      Buffer.from('fixture-password'),
      Buffer.from(keyFile.salt, 'base64'),
      v.N,
      v.r,
      v.p,
      64,
    );
    expect(hex(derived)).toBe(hex(userKey(v.user_key)));
    const master = core.open({ kind: 'restic', key: derived }, Buffer.from(keyFile.data, 'base64'));
    expect(master.toString('utf8')).toBe(v.data_opens_to);
    const mk = JSON.parse(master.toString('utf8'));
    const key = Buffer.concat([
      Buffer.from(mk.encrypt, 'base64'),
      Buffer.from(mk.mac.k, 'base64'),
      Buffer.from(mk.mac.r, 'base64'),
    ]);
    expect(core.open({ kind: 'restic', key }, fromHex(v.config_stored_hex)).toString('utf8')).toBe(v.config_plaintext_utf8);
  });

  it('derives the synthetic key file and re-seals its master key and the config', async () => {
    const core = await nativeCore();
    const v = restic.key_file_synthetic;
    const derived = await core.scrypt(Buffer.from(v.password_utf8), fromHex(v.salt_hex), v.N, v.r, v.p, 64);
    expect(hex(derived)).toBe(v.scrypt_output_hex);
    const keyFile = JSON.parse(v.key_file_bytes_utf8);
    const sealed = core.seal({ kind: 'restic', key: derived }, Buffer.from(v.opens_to), fromHex(v.data_iv_hex));
    expect(sealed.toString('base64')).toBe(keyFile.data);
    const cfg = restic.config;
    expect(hex(core.seal({ kind: 'restic', key: masterKey }, Buffer.from(cfg.plaintext_utf8), fromHex(cfg.iv_hex)))).toBe(
      cfg.stored_hex,
    );
  });

  it('uses a fresh random IV per async seal and opens across sizes', async () => {
    const core = await nativeCore();
    const spec = { kind: 'restic', key: masterKey } as const;
    for (const n of [0, 1, 15, 16, 17, 16384, 16385, 100_000]) {
      const pt = nodeRandom(n);
      const a = await core.sealAsync(spec, pt);
      const b = await core.sealAsync(spec, pt);
      expect(a.length).toBe(n + 32);
      expect(hex(a.subarray(0, 16))).not.toBe(hex(b.subarray(0, 16)));
      expect(hex(await core.openAsync(spec, a))).toBe(hex(pt));
      // independent check of the CTR part with node:crypto
      const iv = a.subarray(0, 16);
      const ctr = createCipheriv('aes-256-ctr', masterKey.subarray(0, 32), iv);
      expect(hex(Buffer.concat([ctr.update(pt), ctr.final()]))).toBe(hex(a.subarray(16, 16 + n)));
    }
  });

  it('rejects bad keys and IVs with EINVAL', async () => {
    const core = await nativeCore();
    expect(await codeOf(() => core.seal({ kind: 'restic', key: Buffer.alloc(32, 1) }, Buffer.alloc(4)))).toBe('EINVAL');
    expect(await codeOf(() => core.seal({ kind: 'restic', key: masterKey }, Buffer.alloc(4), Buffer.alloc(12, 1)))).toBe(
      'EINVAL',
    );
  });
});

describe('ghostsnap seal (ChaCha20-Poly1305, nonce || ct || tag)', () => {
  const dataKey = fromHex(ghost.key_file.data_key_hex);

  it('reproduces the aead vector', async () => {
    const core = await nativeCore();
    const spec = { kind: 'chacha20poly1305', key: fromHex(ghost.aead.key_hex) } as const;
    const sealed = core.seal(spec, Buffer.from(ghost.aead.plaintext_utf8), fromHex(ghost.aead.nonce_hex));
    expect(hex(sealed)).toBe(ghost.aead.sealed_hex);
    expect(core.open(spec, sealed).toString('utf8')).toBe(ghost.aead.plaintext_utf8);
  });

  it('derives the fixture KEK with Argon2id and opens the data key and real objects', async () => {
    const core = await nativeCore();
    for (const k of ghost.kdf) {
      const out = await core.argon2id(Buffer.from(k.password), fromHex(k.salt_hex), {
        iterations: k.iterations,
        memoryKiB: k.memory_kib,
        parallelism: k.parallelism,
        length: k.output_len,
      });
      expect(hex(out)).toBe(k.output_hex);
    }
    const kek = fromHex(ghost.key_file.kek_hex);
    expect(hex(core.open({ kind: 'chacha20poly1305', key: kek }, fromHex(ghost.key_file.encrypted_key_hex)))).toBe(
      ghost.key_file.data_key_hex,
    );
    for (const ex of ghost.object_examples) {
      const opened = await core.openAsync({ kind: 'chacha20poly1305', key: dataKey }, fromHex(ex.sealed_hex));
      const want = ex.plaintext_hex === undefined ? Buffer.from(ex.plaintext_utf8) : fromHex(ex.plaintext_hex);
      expect(hex(opened)).toBe(hex(want));
    }
  });

  it('streams in arbitrary pieces to the same bytes as the one-shot seal', async () => {
    const core = await nativeCore();
    const nonce = nodeRandom(12);
    const pt = nodeRandom(200_003);
    const oneShot = core.seal({ kind: 'chacha20poly1305', key: dataKey }, pt, nonce);
    const s = core.aeadStream('seal', dataKey, nonce);
    const pieces: Buffer[] = [];
    for (let pos = 0, step = 1; pos < pt.length; pos += step, step = (step * 7 + 3) % 40_000) {
      pieces.push(s.update(pt.subarray(pos, pos + step)));
    }
    const tag = s.final();
    expect(hex(Buffer.concat([nonce, ...pieces, tag]))).toBe(hex(oneShot));

    const ct = oneShot.subarray(12, oneShot.length - 16);
    const o = core.aeadStream('open', dataKey, nonce);
    const plain = Buffer.concat([o.update(ct.subarray(0, 5)), o.update(ct.subarray(5, 70_000)), o.update(ct.subarray(70_000))]);
    expect(o.final(oneShot.subarray(oneShot.length - 16)).length).toBe(0);
    expect(hex(plain)).toBe(hex(pt));

    const bad = core.aeadStream('open', dataKey, nonce);
    bad.update(ct);
    expect(await codeOf(() => bad.final(Buffer.alloc(16)))).toBe('EAUTH');
  });

  it('chacha20Xor is the RFC 8439 keystream at any block counter (node:crypto oracle)', async () => {
    const core = await nativeCore();
    const key = nodeRandom(32);
    const nonce = nodeRandom(12);
    const data = nodeRandom(5000);
    for (const [counter, length] of [
      [0, 5000],
      [1, 5000],
      [7, 5000],
      [0xffffff00, 5000],
      [0xfffffffe, 128], // up to and including the last block, 2^32 - 1
      [0xffffffff, 64],
    ] as const) {
      const iv = Buffer.concat([Buffer.alloc(4), nonce]);
      iv.writeUInt32LE(counter, 0);
      const c = createCipheriv('chacha20', key, iv);
      const want = Buffer.concat([c.update(data.subarray(0, length)), c.final()]);
      expect(hex(core.chacha20Xor(key, nonce, counter, data.subarray(0, length)))).toBe(hex(want));
    }
    // random access: block 3 onward of the stream from block 0
    const full = core.chacha20Xor(key, nonce, 0, data);
    expect(hex(core.chacha20Xor(key, nonce, 3, data.subarray(192)))).toBe(hex(full.subarray(192)));
    // the AEAD encrypts from block 1
    const sealed = core.seal({ kind: 'chacha20poly1305', key }, data, nonce);
    expect(hex(core.chacha20Xor(key, nonce, 1, data))).toBe(hex(sealed.subarray(12, 12 + data.length)));
    expect(await codeOf(() => core.chacha20Xor(key, nonce, 0xffffffff, Buffer.alloc(65)))).toBe('EINVAL');
  });
});

describe('randomBytes', () => {
  it('returns fresh bytes of the asked length', async () => {
    const core = await nativeCore();
    const a = core.randomBytes(64);
    const b = core.randomBytes(64);
    expect(a.length).toBe(64);
    expect(hex(a)).not.toBe(hex(b));
    expect(core.randomBytes(0).length).toBe(0);
  });
});
