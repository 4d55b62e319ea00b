// ChaCha20 with a 96-bit nonce and a 32-bit block counter (RFC 8439 §2.3-2.4).
import { CoreError } from '../errors.ts';

const BLOCK = 64;
/** The keystream words are little-endian; typed-array views may be used for them only on LE hosts. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const COUNTER_LIMIT = 2 ** 32;

function readLE32(b: Uint8Array, i: number): number {
  return ((b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24)) >>> 0;
}

/**
 * A keystream positioned at a block counter. `xor` may be called with pieces of any size; the
 * unused tail of a keystream block is kept for the next piece.
 */
export class ChaCha20 {
  private readonly input = new Uint32Array(16);
  private readonly keystream = new Uint8Array(BLOCK);
  private readonly words = new Uint32Array(16);
  /** Bytes of `keystream` already used; BLOCK when a new block must be generated. */
  private used = BLOCK;
  /** Keystream blocks that may still be generated before the 32-bit counter would wrap. */
  private blocksLeft: number;

  constructor(key: Uint8Array, nonce: Uint8Array, counter: number) {
    if (key.byteLength !== 32) throw new CoreError('EINVAL', `ChaCha20 key must be 32 bytes, got ${key.byteLength}`);
    if (nonce.byteLength !== 12) throw new CoreError('EINVAL', `ChaCha20 nonce must be 12 bytes, got ${nonce.byteLength}`);
    if (!Number.isInteger(counter) || counter < 0 || counter >= COUNTER_LIMIT) {
      throw new CoreError('EINVAL', `ChaCha20 block counter must be an integer in [0, 2^32), got ${counter}`);
    }
    const s = this.input;
    s[0] = 0x61707865;
    s[1] = 0x3320646e;
    s[2] = 0x79622d32;
    s[3] = 0x6b206574;
    for (let i = 0; i < 8; i++) s[4 + i] = readLE32(key, 4 * i);
    s[12] = counter;
    s[13] = readLE32(nonce, 0);
    s[14] = readLE32(nonce, 4);
    s[15] = readLE32(nonce, 8);
    this.blocksLeft = COUNTER_LIMIT - counter;
  }

  /** XORs `data` with the next keystream bytes into `out` (may be the same array). */
  xor(data: Uint8Array, out: Uint8Array): void {
    const n = data.byteLength;
    let pos = 0;
    const ks = this.keystream;
    while (pos < n && this.used < BLOCK) {
      out[pos] = (data[pos] as number) ^ (ks[this.used++] as number);
      pos++;
    }
    if (pos === n) return;
    const needed = Math.ceil((n - pos) / BLOCK);
    if (needed > this.blocksLeft) {
      throw new CoreError('EINVAL', 'ChaCha20 block counter would exceed 2^32 - 1 (data too long for one nonce)');
    }
    const w = this.words;
    const full = Math.floor((n - pos) / BLOCK);
    if (LITTLE_ENDIAN && full > 0 && ((data.byteOffset + pos) & 3) === 0 && ((out.byteOffset + pos) & 3) === 0) {
      // Word-wise XOR when both sides are 4-byte aligned (the common case for pooled Buffers).
      const d32 = new Uint32Array(data.buffer, data.byteOffset + pos, full * 16);
      const o32 = new Uint32Array(out.buffer, out.byteOffset + pos, full * 16);
      for (let k = 0; k < full * 16; k += 16) {
        this.block();
        for (let j = 0; j < 16; j++) o32[k + j] = (d32[k + j] as number) ^ (w[j] as number);
      }
      pos += full * BLOCK;
    }
    while (n - pos >= BLOCK) {
      this.block();
      for (let j = 0; j < 16; j++) {
        const v = w[j] as number;
        const p = pos + 4 * j;
        out[p] = (data[p] as number) ^ (v & 0xff);
        out[p + 1] = (data[p + 1] as number) ^ ((v >>> 8) & 0xff);
        out[p + 2] = (data[p + 2] as number) ^ ((v >>> 16) & 0xff);
        out[p + 3] = (data[p + 3] as number) ^ (v >>> 24);
      }
      pos += BLOCK;
    }
    if (pos < n) {
      this.block();
      for (let j = 0; j < 16; j++) {
        const v = w[j] as number;
        ks[4 * j] = v & 0xff;
        ks[4 * j + 1] = (v >>> 8) & 0xff;
        ks[4 * j + 2] = (v >>> 16) & 0xff;
        ks[4 * j + 3] = v >>> 24;
      }
      this.used = 0;
      while (pos < n) {
        out[pos] = (data[pos] as number) ^ (ks[this.used++] as number);
        pos++;
      }
    }
  }

  /** The next 64 keystream bytes (used for the AEAD's one-time Poly1305 key, block 0). */
  nextBlock(): Uint8Array {
    const out = new Uint8Array(BLOCK);
    this.xor(new Uint8Array(BLOCK), out);
    return out;
  }

  /** Computes the block at the current counter into `words` and advances the counter. */
  private block(): void {
    const s = this.input;
    let x0 = s[0] as number, x1 = s[1] as number, x2 = s[2] as number, x3 = s[3] as number;
    let x4 = s[4] as number, x5 = s[5] as number, x6 = s[6] as number, x7 = s[7] as number;
    let x8 = s[8] as number, x9 = s[9] as number, x10 = s[10] as number, x11 = s[11] as number;
    let x12 = s[12] as number, x13 = s[13] as number, x14 = s[14] as number, x15 = s[15] as number;
    for (let i = 0; i < 10; i++) {
      // Column rounds.
      x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
      x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
      x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
      x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
      x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
      x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
      x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
      x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
      x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
      x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
      x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
      x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
      x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
      x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
      x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
      x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
      // Diagonal rounds.
      x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
      x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
      x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
      x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
      x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
      x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
      x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
      x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
      x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
      x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
      x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
      x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
      x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
      x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
      x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
      x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
    }
    const w = this.words;
    w[0] = x0 + (s[0] as number); w[1] = x1 + (s[1] as number); w[2] = x2 + (s[2] as number); w[3] = x3 + (s[3] as number);
    w[4] = x4 + (s[4] as number); w[5] = x5 + (s[5] as number); w[6] = x6 + (s[6] as number); w[7] = x7 + (s[7] as number);
    w[8] = x8 + (s[8] as number); w[9] = x9 + (s[9] as number); w[10] = x10 + (s[10] as number); w[11] = x11 + (s[11] as number);
    w[12] = x12 + (s[12] as number); w[13] = x13 + (s[13] as number); w[14] = x14 + (s[14] as number); w[15] = x15 + (s[15] as number);
    s[12] = ((s[12] as number) + 1) >>> 0;
    this.blocksLeft--;
  }
}
