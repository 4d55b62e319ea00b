// restic's Rabin content-defined chunker, boundaries exactly as formats/restic.md §10.
//
// The digest is a polynomial of degree < 53. It is kept as two int32 halves (lo: bits 0..31,
// hi: bits 32..52) so the per-byte loop stays in 32-bit integer arithmetic; BigInt is used only
// to build the tables.
import { CoreError } from '../errors.ts';
import type { StreamChunker } from './chunker.ts';

const WINDOW = 64;
const RABIN_MIN_SIZE = 512 * 1024;
const RABIN_MAX_SIZE = 8 * 1024 * 1024;
const SPLIT_MASK = 0xfffff;
const DEGREE = 53;
const HI_MASK = (1 << (DEGREE - 32)) - 1; // 21 bits
const IDX_SHIFT = DEGREE - 8 - 32; // digest >> 45, taken from hi

interface RabinTables {
  outLo: Int32Array;
  outHi: Int32Array;
  modLo: Int32Array;
  modHi: Int32Array;
}

const tableCache = new Map<string, RabinTables>();

function degree(x: bigint): number {
  return x === 0n ? -1 : x.toString(2).length - 1;
}

function pmod(a: bigint, p: bigint): bigint {
  const dp = degree(p);
  for (let da = degree(a); da >= dp; da = degree(a)) a ^= p << BigInt(da - dp);
  return a;
}

/** Parses restic's `chunker_polynomial` (lower-case hex, no 0x); it must have degree 53. */
function parsePolynomial(hex: unknown): bigint {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(hex)) {
    throw new CoreError('EINVAL', `chunker polynomial must be 1-16 hex digits, got ${JSON.stringify(hex)}`);
  }
  const p = BigInt(`0x${hex}`);
  if (degree(p) !== DEGREE) throw new CoreError('EINVAL', `chunker polynomial ${hex} does not have degree 53`);
  return p;
}

function tablesFor(hex: string): RabinTables {
  const key = hex.toLowerCase();
  const cached = tableCache.get(key);
  if (cached !== undefined) return cached;
  const p = parsePolynomial(hex);
  const t: RabinTables = {
    outLo: new Int32Array(256),
    outHi: new Int32Array(256),
    modLo: new Int32Array(256),
    modHi: new Int32Array(256),
  };
  for (let b = 0; b < 256; b++) {
    // OUT[b]: fingerprint of the window "b, then 63 zero bytes".
    let h = pmod(BigInt(b), p);
    for (let i = 0; i < WINDOW - 1; i++) h = pmod(h << 8n, p);
    t.outLo[b] = Number(h & 0xffffffffn) | 0;
    t.outHi[b] = Number(h >> 32n);
    // MOD[b] = pmod(b·x^53) XOR (b << 53); the (b << 53) part only cancels the bits shifted out
    // above bit 52, which the loop drops by masking instead, so only the remainder is stored.
    const m = pmod(BigInt(b) << BigInt(DEGREE), p);
    t.modLo[b] = Number(m & 0xffffffffn) | 0;
    t.modHi[b] = Number(m >> 32n);
  }
  tableCache.set(key, t);
  return t;
}

export class RabinChunker implements StreamChunker {
  readonly maxChunkSize = RABIN_MAX_SIZE;
  private readonly t: RabinTables;
  private lo = 1;
  private hi = 0;
  /** Bytes of the current chunk consumed so far (restic's `count`, including the unhashed prefix). */
  private count = 0;

  constructor(polynomial: string) {
    this.t = tablesFor(polynomial);
  }

  // restic primes every chunk by sliding one byte of value 1 into an all-zero window (digest = 1),
  // then takes MinSize - 64 bytes without hashing. So the byte leaving the window is 0 for the
  // next 63 slides, the priming 1 on the 64th, and from then on the chunk byte 64 positions back;
  // no window buffer is needed because `data` holds the whole chunk.
  findCut(data: Uint8Array, eof: boolean): number {
    const end = data.byteLength;
    const pre = RABIN_MIN_SIZE - WINDOW;
    let i = Math.max(this.count, Math.min(pre, end));
    const stop = Math.min(end, RABIN_MAX_SIZE);
    const { outLo, outHi, modLo, modHi } = this.t;
    let lo = this.lo;
    let hi = this.hi;
    let cut = 0;
    // Warm-up: the first 64 slides (no test before count reaches MinSize, i.e. before i = MinSize - 1).
    for (; i < stop && i < RABIN_MIN_SIZE; i++) {
      const out = i === RABIN_MIN_SIZE - 1 ? 1 : 0;
      const b = data[i] as number;
      lo ^= outLo[out] as number;
      hi ^= outHi[out] as number;
      const idx = hi >>> IDX_SHIFT;
      hi = (((hi << 8) | (lo >>> 24)) & HI_MASK) ^ (modHi[idx] as number);
      lo = ((lo << 8) | b) ^ (modLo[idx] as number);
      if (i === RABIN_MIN_SIZE - 1 && (lo & SPLIT_MASK) === 0) {
        cut = i + 1;
        break;
      }
    }
    if (cut === 0) {
      for (; i < stop; i++) {
        const out = data[i - WINDOW] as number;
        const b = data[i] as number;
        lo ^= outLo[out] as number;
        hi ^= outHi[out] as number;
        const idx = hi >>> IDX_SHIFT;
        hi = (((hi << 8) | (lo >>> 24)) & HI_MASK) ^ (modHi[idx] as number);
        lo = ((lo << 8) | b) ^ (modLo[idx] as number);
        if ((lo & SPLIT_MASK) === 0) {
          cut = i + 1;
          break;
        }
      }
    }
    if (cut === 0) {
      if (stop === RABIN_MAX_SIZE) cut = RABIN_MAX_SIZE;
      else if (eof && end > 0) cut = end;
    }
    if (cut > 0) {
      this.lo = 1;
      this.hi = 0;
      this.count = 0;
      return cut;
    }
    this.lo = lo;
    this.hi = hi;
    this.count = i;
    return 0;
  }
}
