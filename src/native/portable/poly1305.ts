// Poly1305 one-time authenticator (RFC 8439 §2.5).
//
// The accumulator h is five 26-bit limbs in plain Numbers. A product of two 26-bit limbs would not
// be exact in a double once five of them are summed, so each limb of r is split into 13-bit
// halves: row k of h·r is A_k + B_k·2^13 with A_k = Σ h_i·rl_j and B_k = Σ h_i·rh_j, both below
// 2^45. B_k's bits above 13 belong to the next limb and are carried there separately, which keeps
// every intermediate an exact integer below 2^53.

const MASK26 = 0x3ffffff;

function le32(b: Uint8Array, i: number): number {
  return ((b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24)) >>> 0;
}

export class Poly1305 {
  /** r's limbs split in 13-bit halves: [rl0..rl4, rh0..rh4]. */
  private readonly r = new Float64Array(10);
  private readonly s = new Float64Array(4);
  private readonly h = new Float64Array(5);
  private readonly pending = new Uint8Array(16);
  private pendingLength = 0;
  private finished = false;

  /** `key` is r || s, 32 bytes; r is clamped here. */
  constructor(key: Uint8Array) {
    // Clamp: r[3], r[7], r[11], r[15] &= 0x0f; r[4], r[8], r[12] &= 0xfc.
    const t0 = le32(key, 0) & 0x0fffffff;
    const t1 = le32(key, 4) & 0x0ffffffc;
    const t2 = le32(key, 8) & 0x0ffffffc;
    const t3 = le32(key, 12) & 0x0ffffffc;
    const limbs = [
      t0 & MASK26,
      ((t0 >>> 26) | (t1 << 6)) & MASK26,
      ((t1 >>> 20) | (t2 << 12)) & MASK26,
      ((t2 >>> 14) | (t3 << 18)) & MASK26,
      t3 >>> 8,
    ];
    for (let j = 0; j < 5; j++) {
      const limb = limbs[j] as number;
      this.r[j] = limb & 0x1fff;
      this.r[5 + j] = limb >>> 13;
    }
    for (let i = 0; i < 4; i++) this.s[i] = le32(key, 16 + 4 * i);
  }

  update(data: Uint8Array): this {
    let pos = 0;
    const end = data.byteLength;
    if (this.pendingLength > 0) {
      const take = Math.min(16 - this.pendingLength, end);
      this.pending.set(data.subarray(0, take), this.pendingLength);
      this.pendingLength += take;
      pos = take;
      if (this.pendingLength < 16) return this;
      this.blocks(this.pending, 0, 16, 1 << 24);
      this.pendingLength = 0;
    }
    const full = pos + ((end - pos) & ~15);
    if (full > pos) this.blocks(data, pos, full, 1 << 24);
    if (full < end) {
      this.pending.set(data.subarray(full, end), 0);
      this.pendingLength = end - full;
    }
    return this;
  }

  /** Feeds zero bytes up to the next 16-byte boundary (the AEAD's pad16). */
  padToBlock(): this {
    if (this.pendingLength > 0) {
      this.pending.fill(0, this.pendingLength);
      this.blocks(this.pending, 0, 16, 1 << 24);
      this.pendingLength = 0;
    }
    return this;
  }

  digest(): Uint8Array {
    if (this.finished) throw new Error('Poly1305: digest() called twice');
    this.finished = true;
    if (this.pendingLength > 0) {
      // Final partial block: append 0x01, zero-pad, and no 2^128 bit.
      this.pending[this.pendingLength] = 1;
      this.pending.fill(0, this.pendingLength + 1);
      this.blocks(this.pending, 0, 16, 0);
    }
    const h = this.h;
    // Carry completely; the carry out of limb 4 re-enters limb 0 times 5 (2^130 = 5 mod p).
    let c = 0;
    for (let pass = 0; pass < 3; pass++) {
      for (let i = 0; i < 5; i++) {
        const v = (h[i] as number) + c;
        c = Math.floor(v / 2 ** 26);
        h[i] = v - c * 2 ** 26;
      }
      c *= 5;
    }
    // g = h + 5 - 2^130; use it when it is not negative, i.e. when h >= p.
    const g = new Float64Array(5);
    c = 5;
    for (let i = 0; i < 5; i++) {
      const v = (h[i] as number) + c;
      c = v >>> 26;
      g[i] = v & MASK26;
    }
    const f = c !== 0 ? g : h;
    const l = (i: number): number => f[i] as number;
    const words = [
      (l(0) | (l(1) << 26)) >>> 0,
      ((l(1) >>> 6) | (l(2) << 20)) >>> 0,
      ((l(2) >>> 12) | (l(3) << 14)) >>> 0,
      ((l(3) >>> 18) | (l(4) << 8)) >>> 0,
    ];
    const tag = new Uint8Array(16);
    c = 0;
    for (let i = 0; i < 4; i++) {
      const v = (words[i] as number) + (this.s[i] as number) + c;
      c = v > 0xffffffff ? 1 : 0;
      const w = v >>> 0;
      tag[4 * i] = w & 0xff;
      tag[4 * i + 1] = (w >>> 8) & 0xff;
      tag[4 * i + 2] = (w >>> 16) & 0xff;
      tag[4 * i + 3] = w >>> 24;
    }
    return tag;
  }

  private blocks(m: Uint8Array, pos: number, end: number, hibit: number): void {
    const hs = this.h;
    const rs = this.r;
    let h0 = hs[0] as number, h1 = hs[1] as number, h2 = hs[2] as number, h3 = hs[3] as number, h4 = hs[4] as number;
    const l0 = rs[0] as number, l1 = rs[1] as number, l2 = rs[2] as number, l3 = rs[3] as number, l4 = rs[4] as number;
    const u0 = rs[5] as number, u1 = rs[6] as number, u2 = rs[7] as number, u3 = rs[8] as number, u4 = rs[9] as number;
    // Terms that land at limb position >= 5 wrap around multiplied by 5.
    const l1x5 = 5 * l1, l2x5 = 5 * l2, l3x5 = 5 * l3, l4x5 = 5 * l4;
    const u1x5 = 5 * u1, u2x5 = 5 * u2, u3x5 = 5 * u3, u4x5 = 5 * u4;
    while (pos < end) {
      const t0 = le32(m, pos);
      const t1 = le32(m, pos + 4);
      const t2 = le32(m, pos + 8);
      const t3 = le32(m, pos + 12);
      h0 += t0 & MASK26;
      h1 += ((t0 >>> 26) | (t1 << 6)) & MASK26;
      h2 += ((t1 >>> 20) | (t2 << 12)) & MASK26;
      h3 += ((t2 >>> 14) | (t3 << 18)) & MASK26;
      h4 += (t3 >>> 8) | hibit;

      const a0 = h0 * l0 + h1 * l4x5 + h2 * l3x5 + h3 * l2x5 + h4 * l1x5;
      const a1 = h0 * l1 + h1 * l0 + h2 * l4x5 + h3 * l3x5 + h4 * l2x5;
      const a2 = h0 * l2 + h1 * l1 + h2 * l0 + h3 * l4x5 + h4 * l3x5;
      const a3 = h0 * l3 + h1 * l2 + h2 * l1 + h3 * l0 + h4 * l4x5;
      const a4 = h0 * l4 + h1 * l3 + h2 * l2 + h3 * l1 + h4 * l0;
      const b0 = h0 * u0 + h1 * u4x5 + h2 * u3x5 + h3 * u2x5 + h4 * u1x5;
      const b1 = h0 * u1 + h1 * u0 + h2 * u4x5 + h3 * u3x5 + h4 * u2x5;
      const b2 = h0 * u2 + h1 * u1 + h2 * u0 + h3 * u4x5 + h4 * u3x5;
      const b3 = h0 * u3 + h1 * u2 + h2 * u1 + h3 * u0 + h4 * u4x5;
      const b4 = h0 * u4 + h1 * u3 + h2 * u2 + h3 * u1 + h4 * u0;

      // d_k = a_k + (b_k mod 2^13)·2^13 + floor(b_{k-1} / 2^13); b_4's high part wraps (×5).
      // `x & 0x1fff` is exact for non-negative integers below 2^53 (ToInt32 keeps the low bits).
      const d0 = a0 + (b0 & 0x1fff) * 8192 + 5 * Math.floor(b4 / 8192);
      const d1 = a1 + (b1 & 0x1fff) * 8192 + Math.floor(b0 / 8192);
      const d2 = a2 + (b2 & 0x1fff) * 8192 + Math.floor(b1 / 8192);
      const d3 = a3 + (b3 & 0x1fff) * 8192 + Math.floor(b2 / 8192);
      const d4 = a4 + (b4 & 0x1fff) * 8192 + Math.floor(b3 / 8192);

      let c = Math.floor(d0 / 2 ** 26);
      h0 = d0 & MASK26;
      let d = d1 + c;
      c = Math.floor(d / 2 ** 26);
      h1 = d & MASK26;
      d = d2 + c;
      c = Math.floor(d / 2 ** 26);
      h2 = d & MASK26;
      d = d3 + c;
      c = Math.floor(d / 2 ** 26);
      h3 = d & MASK26;
      d = d4 + c;
      c = Math.floor(d / 2 ** 26);
      h4 = d & MASK26;
      d = h0 + c * 5;
      h0 = d & MASK26;
      h1 += Math.floor(d / 2 ** 26);
      pos += 16;
    }
    hs[0] = h0;
    hs[1] = h1;
    hs[2] = h2;
    hs[3] = h3;
    hs[4] = h4;
  }
}

/** One-shot Poly1305 of `message` under the 32-byte one-time key r || s. */
export function poly1305(key: Uint8Array, message: Uint8Array): Uint8Array {
  return new Poly1305(key).update(message).digest();
}
