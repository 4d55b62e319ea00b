// ghostsnap's chunker: FastCDC 2020 as in the fastcdc crate 3.x (`v2020`), normalisation level 1,
// seed 0, cut points exactly as formats/ghostsnap.md §6, including the crate's off-by-one (the
// returned length is the index of the byte that matched, which then starts the next chunk).
//
// The crate's two-bytes-per-step loop equals the per-byte recurrence x = (x << 1) + GEAR[b]
// (its hash is x << 1 after even steps and x after odd ones, tested against mask << 1 and mask).
// Every mask lies below bit 48, so only x mod 2^48 matters: it is kept as two 24-bit halves, which
// keeps every intermediate a small integer (no doubles in the loop).
import { createHash } from 'node:crypto';
import { CoreError } from '../errors.ts';
import type { StreamChunker } from './chunker.ts';

const FASTCDC_LIMITS = {
  minimumMin: 64,
  minimumMax: 1_048_576,
  averageMin: 256,
  averageMax: 4_194_304,
  maximumMin: 1024,
  maximumMax: 16_777_216,
} as const;

// Masks by number of bits (the crate's table; 0..4 unused). All lie below 2^48, so they are exact
// as Numbers.
const MASKS: readonly number[] = [
  0, 0, 0, 0, 0,
  0x0000000001804110, 0x0000000001803110, 0x0000000018035100, 0x0000001800035300,
  0x0000019000353000, 0x0000590003530000, 0x0000d90003530000, 0x0000d90103530000,
  0x0000d90303530000, 0x0000d90313530000, 0x0000d90f03530000, 0x0000d90303537000,
  0x0000d90703537000, 0x0000d90707537000, 0x0000d91707537000, 0x0000d91747537000,
  0x0000d91767537000, 0x0000d93767537000, 0x0000d93777537000, 0x0000d93777577000,
  0x0000db3777577000,
];

const LOW24 = 0xffffff;

/** [bits 24..47, bits 0..23] of a 48-bit mask. */
function split24(mask: number): [number, number] {
  return [Math.floor(mask / 2 ** 24), mask % 2 ** 24];
}

let gearTables: { lo: Int32Array; hi: Int32Array } | undefined;

/** GEAR[i] = first 8 bytes (big-endian) of MD5 of 64 bytes equal to i; we keep its low 48 bits. */
function gear(): { lo: Int32Array; hi: Int32Array } {
  if (gearTables !== undefined) return gearTables;
  const lo = new Int32Array(256);
  const hi = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    const d = createHash('md5').update(new Uint8Array(64).fill(i)).digest();
    hi[i] = d.readUIntBE(2, 3);
    lo[i] = d.readUIntBE(5, 3);
  }
  gearTables = { lo, hi };
  return gearTables;
}

/** The crate's logarithm2: log2 rounded to the nearest integer. */
function roundedLog2(value: number): number {
  return Math.round(Math.log2(value));
}

export interface FastCdcParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

function checkFastCdcParams(p: FastCdcParams): void {
  const L = FASTCDC_LIMITS;
  const ok = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  if (
    !ok(p.minSize, L.minimumMin, L.minimumMax) ||
    !ok(p.avgSize, L.averageMin, L.averageMax) ||
    !ok(p.maxSize, L.maximumMin, L.maximumMax) ||
    p.minSize > p.avgSize ||
    p.avgSize > p.maxSize
  ) {
    throw new CoreError(
      'EINVAL',
      `FastCDC sizes must satisfy min in [64, 1 MiB], avg in [256, 4 MiB], max in [1 KiB, 16 MiB] and min <= avg <= max; got ${p.minSize}/${p.avgSize}/${p.maxSize}`,
    );
  }
}

export class FastCdcChunker implements StreamChunker {
  readonly maxChunkSize: number;
  private readonly min: number;
  private readonly avg: number;
  private readonly max: number;
  private readonly sHi: number;
  private readonly sLo: number;
  private readonly lHi: number;
  private readonly lLo: number;
  private readonly gLo: Int32Array;
  private readonly gHi: Int32Array;

  constructor(p: FastCdcParams) {
    checkFastCdcParams(p);
    this.min = p.minSize;
    this.avg = p.avgSize;
    this.max = p.maxSize;
    this.maxChunkSize = p.maxSize;
    const bits = roundedLog2(p.avgSize);
    [this.sHi, this.sLo] = split24(MASKS[bits + 1] as number);
    [this.lHi, this.lLo] = split24(MASKS[bits - 1] as number);
    const g = gear();
    this.gLo = g.lo;
    this.gHi = g.hi;
  }

  /** The cut needs to know whether at least `max` bytes follow, so it waits for them (or eof). */
  findCut(data: Uint8Array, eof: boolean): number {
    const n = data.byteLength;
    if (n === 0) return 0;
    if (!eof && n < this.max) return 0;
    return this.cut(data, n);
  }

  /** The crate's `cut` for a source of length n (n <= its true remaining length only when n >= max). */
  private cut(src: Uint8Array, n: number): number {
    if (n <= this.min) return n;
    const remaining = n > this.max ? this.max : n;
    const center = n < this.avg ? n : this.avg;
    const gLo = this.gLo;
    const gHi = this.gHi;
    let lo = 0;
    let hi = 0;
    let k = 2 * Math.floor(this.min / 2);
    const centerEnd = 2 * Math.floor(center / 2);
    const end = 2 * Math.floor(remaining / 2);
    for (let pass = 0; pass < 2; pass++) {
      const stop = pass === 0 ? centerEnd : end;
      const mHi = pass === 0 ? this.sHi : this.lHi;
      const mLo = pass === 0 ? this.sLo : this.lLo;
      for (; k < stop; k++) {
        const b = src[k] as number;
        const l = (lo << 1) + (gLo[b] as number);
        hi = ((hi << 1) + (gHi[b] as number) + (l >>> 24)) & LOW24;
        lo = l & LOW24;
        if (((lo & mLo) | (hi & mHi)) === 0) return k;
      }
    }
    return remaining;
  }
}
