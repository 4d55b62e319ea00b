// ChaCha20-Poly1305 AEAD (RFC 8439 §2.8) with empty associated data, one-shot and streaming.
import { Buffer } from 'node:buffer';
import { CoreError } from '../errors.ts';
import type { AeadStream } from '../types.ts';
import { constantTimeEqual } from './bytes.ts';
import { ChaCha20 } from './chacha20.ts';
import { Poly1305 } from './poly1305.ts';

export const TAG_LENGTH = 16;

/** Cipher positioned at block 1 and a MAC keyed from block 0, as the AEAD construction requires. */
function start(key: Uint8Array, nonce: Uint8Array): { cipher: ChaCha20; mac: Poly1305 } {
  const cipher = new ChaCha20(key, nonce, 0);
  const mac = new Poly1305(cipher.nextBlock().subarray(0, 32));
  return { cipher, mac };
}

/** Finishes the MAC: pad16(ciphertext) || le64(aad length = 0) || le64(ciphertext length). */
function finishTag(mac: Poly1305, ciphertextLength: number): Uint8Array {
  mac.padToBlock();
  const lengths = new Uint8Array(16);
  const view = new DataView(lengths.buffer);
  view.setUint32(8, ciphertextLength % 2 ** 32, true);
  view.setUint32(12, Math.floor(ciphertextLength / 2 ** 32), true);
  return mac.update(lengths).digest();
}

/** Returns ciphertext || tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, out?: Uint8Array): Uint8Array {
  const { cipher, mac } = start(key, nonce);
  const box = out ?? new Uint8Array(plaintext.byteLength + TAG_LENGTH);
  const ct = box.subarray(0, plaintext.byteLength);
  cipher.xor(plaintext, ct);
  mac.update(ct);
  box.set(finishTag(mac, ct.byteLength), plaintext.byteLength);
  return box;
}

/** `box` is ciphertext || tag; throws EAUTH when the tag does not verify. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, box: Uint8Array): Buffer {
  if (box.byteLength < TAG_LENGTH) throw new CoreError('EAUTH', 'ChaCha20-Poly1305 box is shorter than its tag');
  const { cipher, mac } = start(key, nonce);
  const ct = box.subarray(0, box.byteLength - TAG_LENGTH);
  mac.update(ct);
  if (!constantTimeEqual(finishTag(mac, ct.byteLength), box.subarray(ct.byteLength))) {
    throw new CoreError('EAUTH', 'ChaCha20-Poly1305 tag mismatch: wrong key or corrupt data');
  }
  const plaintext = Buffer.allocUnsafe(ct.byteLength);
  cipher.xor(ct, plaintext);
  return plaintext;
}

/** Incremental seal/open; the MAC always covers the ciphertext side. */
export class ChaChaPolyStream implements AeadStream {
  private readonly cipher: ChaCha20;
  private readonly mac: Poly1305;
  private length = 0;
  private done = false;

  constructor(
    private readonly mode: 'seal' | 'open',
    key: Uint8Array,
    nonce: Uint8Array,
  ) {
    if (mode !== 'seal' && mode !== 'open') throw new CoreError('EINVAL', `aeadStream mode must be 'seal' or 'open'`);
    ({ cipher: this.cipher, mac: this.mac } = start(key, nonce));
  }

  update(data: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(data.byteLength);
    this.updateInto(data, out);
    return out;
  }

  updateInto(data: Uint8Array, out: Uint8Array): void {
    if (this.done) throw new CoreError('EINVAL', 'aeadStream.update() after final()');
    if (out.byteLength < data.byteLength) throw new CoreError('EINVAL', `updateInto: output holds ${out.byteLength} bytes, the piece has ${data.byteLength}`);
    const target = out.byteLength === data.byteLength ? out : out.subarray(0, data.byteLength);
    if (this.mode === 'open') this.mac.update(data);
    this.cipher.xor(data, target);
    if (this.mode === 'seal') this.mac.update(target);
    this.length += data.byteLength;
  }

  final(tag?: Uint8Array): Buffer {
    if (this.done) throw new CoreError('EINVAL', 'aeadStream.final() called twice');
    this.done = true;
    const computed = finishTag(this.mac, this.length);
    if (this.mode === 'seal') return Buffer.from(computed.buffer, computed.byteOffset, computed.byteLength);
    if (!(tag instanceof Uint8Array) || tag.byteLength !== TAG_LENGTH) {
      throw new CoreError('EINVAL', 'aeadStream.final() in open mode needs the 16-byte tag');
    }
    if (!constantTimeEqual(computed, tag)) throw new CoreError('EAUTH', 'ChaCha20-Poly1305 tag mismatch: wrong key or corrupt data');
    return Buffer.alloc(0);
  }
}
