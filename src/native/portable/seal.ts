// The sealed boxes of both repository formats, selected by SealSpec (see types.ts).
import { Buffer } from 'node:buffer';
import { createCipheriv, randomBytes } from 'node:crypto';
import { CoreError } from '../errors.ts';
import type { SealSpec } from '../types.ts';
import { constantTimeEqual, copyBuffer, requireBytes } from './bytes.ts';
import { aeadOpen, aeadSeal, TAG_LENGTH } from './chacha20poly1305.ts';
import { poly1305 } from './poly1305.ts';

export interface Sealer {
  /** `iv`: fixed IV/nonce for test vectors; random from the CSPRNG when absent. */
  seal(plaintext: Uint8Array, iv?: Uint8Array): Buffer;
  /** Throws CoreError EAUTH when the box does not authenticate. */
  open(box: Uint8Array): Buffer;
}

const RESTIC_IV = 16;
const CHACHA_NONCE = 12;

const plainSealer: Sealer = {
  seal: (plaintext) => copyBuffer(plaintext),
  open: (box) => copyBuffer(box),
};

/** restic: iv || AES-256-CTR(encrypt, iv, p) || Poly1305-AES(mac, iv, ct) (formats/restic.md §2.2). */
class ResticSealer implements Sealer {
  private readonly encrypt: Uint8Array;
  private readonly macK: Uint8Array;
  private readonly macR: Uint8Array;

  constructor(key: Uint8Array) {
    requireBytes(key, 'restic key', 64);
    this.encrypt = key.slice(0, 32);
    this.macK = key.slice(32, 48);
    this.macR = key.slice(48, 64);
  }

  seal(plaintext: Uint8Array, iv?: Uint8Array): Buffer {
    const nonce = iv === undefined ? randomBytes(RESTIC_IV) : requireBytes(iv, 'restic IV', RESTIC_IV);
    // restic refuses to open a box whose IV is all zero, so never write one.
    if (nonce.every((b) => b === 0)) throw new CoreError('EINVAL', 'restic IV must not be all zero');
    const box = Buffer.allocUnsafe(RESTIC_IV + plaintext.byteLength + 16);
    box.set(nonce, 0);
    const ct = box.subarray(RESTIC_IV, RESTIC_IV + plaintext.byteLength);
    this.ctr(nonce, plaintext, ct);
    box.set(this.tag(nonce, ct), RESTIC_IV + plaintext.byteLength);
    return box;
  }

  open(box: Uint8Array): Buffer {
    if (box.byteLength < RESTIC_IV + 16) throw new CoreError('EAUTH', 'restic box is shorter than IV and tag');
    const nonce = box.subarray(0, RESTIC_IV);
    if (nonce.every((b) => b === 0)) throw new CoreError('EAUTH', 'restic box has an all-zero IV');
    const ct = box.subarray(RESTIC_IV, box.byteLength - 16);
    if (!constantTimeEqual(this.tag(nonce, ct), box.subarray(box.byteLength - 16))) {
      throw new CoreError('EAUTH', 'restic MAC mismatch: wrong key or corrupt data');
    }
    const plaintext = Buffer.allocUnsafe(ct.byteLength);
    this.ctr(nonce, ct, plaintext);
    return plaintext;
  }

  private ctr(iv: Uint8Array, input: Uint8Array, out: Uint8Array): void {
    // node:crypto's aes-256-ctr increments the whole 16-byte block as one big-endian counter,
    // exactly like Go's cipher.NewCTR that restic uses.
    const cipher = createCipheriv('aes-256-ctr', this.encrypt, iv);
    const head = cipher.update(input);
    out.set(head, 0);
    const tail = cipher.final();
    if (tail.byteLength > 0) out.set(tail, head.byteLength);
  }

  private tag(iv: Uint8Array, ct: Uint8Array): Uint8Array {
    const ecb = createCipheriv('aes-128-ecb', this.macK, null);
    ecb.setAutoPadding(false);
    const s = ecb.update(iv);
    const oneTimeKey = new Uint8Array(32);
    oneTimeKey.set(this.macR, 0); // Poly1305 clamps r itself.
    oneTimeKey.set(s.subarray(0, 16), 16);
    return poly1305(oneTimeKey, ct);
  }
}

/** ghostsnap: nonce(12) || ChaCha20-Poly1305(key, nonce, p, aad = "") (formats/ghostsnap.md §4). */
class ChaChaSealer implements Sealer {
  private readonly key: Uint8Array;

  constructor(key: Uint8Array) {
    this.key = requireBytes(key, 'ChaCha20-Poly1305 key', 32).slice();
  }

  seal(plaintext: Uint8Array, iv?: Uint8Array): Buffer {
    const nonce = iv === undefined ? randomBytes(CHACHA_NONCE) : requireBytes(iv, 'ChaCha20-Poly1305 nonce', CHACHA_NONCE);
    const box = Buffer.allocUnsafe(CHACHA_NONCE + plaintext.byteLength + TAG_LENGTH);
    box.set(nonce, 0);
    aeadSeal(this.key, nonce, plaintext, box.subarray(CHACHA_NONCE));
    return box;
  }

  open(box: Uint8Array): Buffer {
    if (box.byteLength < CHACHA_NONCE + TAG_LENGTH) throw new CoreError('EAUTH', 'ChaCha20-Poly1305 box is shorter than nonce and tag');
    return aeadOpen(this.key, box.subarray(0, CHACHA_NONCE), box.subarray(CHACHA_NONCE));
  }
}

export function makeSealer(spec: SealSpec): Sealer {
  switch (spec?.kind) {
    case 'none':
      return plainSealer;
    case 'restic':
      return new ResticSealer(spec.key);
    case 'chacha20poly1305':
      return new ChaChaSealer(spec.key);
    default:
      throw new CoreError('EINVAL', `unknown seal kind ${JSON.stringify((spec as { kind?: unknown } | undefined)?.kind)}`);
  }
}
