// zstd (zstd-napi's thin libzstd binding) and zlib (node:zlib). Compressed bytes are
// implementation-defined; only the decompressed bytes are part of the contract.
import { Buffer } from 'node:buffer';
import * as zlib from 'node:zlib';
import zstd from './zstd-binding.cjs';
import { CoreError } from '../errors.ts';
import type { CompressionSpec } from '../types.ts';
import { copyBuffer, requireInteger } from './bytes.ts';

export type Codec = 'zstd' | 'zlib';

/** Largest plaintext we will ever produce when no bound is given (Buffer's own limit). */
const UNBOUNDED = 2 ** 31 - 1;

export interface Compressed {
  compressed: boolean;
  data: Buffer;
}

export function checkCompressionSpec(spec: CompressionSpec): void {
  switch (spec?.kind) {
    case 'none':
      return;
    case 'zstd':
      // libzstd also has level 0 (= default) and negative "fast" levels; the contract keeps to the
      // ordinary 1..22 (what the native core accepts too).
      requireInteger(spec.level, 'zstd level', 1, 22);
      return;
    case 'zlib':
      requireInteger(spec.level, 'zlib level', 0, 9);
      return;
    default:
      throw new CoreError('EINVAL', `unknown compression kind ${JSON.stringify((spec as { kind?: unknown } | undefined)?.kind)}`);
  }
}

function checkCodec(codec: Codec): void {
  if (codec !== 'zstd' && codec !== 'zlib') throw new CoreError('EINVAL', `unknown codec ${JSON.stringify(codec)}`);
}

/** Plaintext size limit of one decompress call; throws EINVAL on bad arguments. */
function outputLimit(expectedLength: number, maxLength: number | undefined): number {
  requireInteger(expectedLength, 'expectedLength', -1, UNBOUNDED);
  if (expectedLength >= 0) return expectedLength;
  return maxLength === undefined ? UNBOUNDED : requireInteger(maxLength, 'maxLength', 0, UNBOUNDED);
}

export class Compressors {
  private readonly cctx = new zstd.CCtx();
  private readonly dctx = new zstd.DCtx();
  /** Reused output buffer of the zstd compressor; results are copied out of it. */
  private scratch = Buffer.alloc(0);

  /** Applies `spec`; `compressed` is false for 'none' and for zstd frames not smaller than the input under onlyIfSmaller. */
  encode(spec: CompressionSpec, data: Uint8Array): Compressed {
    switch (spec.kind) {
      case 'none':
        return { compressed: false, data: copyBuffer(data) };
      case 'zstd': {
        const frame = this.zstdCompress(data, spec.level);
        if (spec.onlyIfSmaller === true && frame.byteLength >= data.byteLength) return { compressed: false, data: copyBuffer(data) };
        return { compressed: true, data: frame };
      }
      case 'zlib':
        return { compressed: true, data: zlib.deflateSync(data, { level: spec.level }) };
    }
  }

  /** compress(): always the compressed stream (onlyIfSmaller only matters for pipeline blobs). */
  compress(spec: CompressionSpec, data: Uint8Array): Buffer {
    checkCompressionSpec(spec);
    if (spec.kind === 'zstd') return this.zstdCompress(data, spec.level);
    return this.encode(spec, data).data;
  }

  async compressAsync(spec: CompressionSpec, data: Uint8Array): Promise<Buffer> {
    checkCompressionSpec(spec);
    if (spec.kind === 'zlib') {
      // node:zlib runs this on the thread pool.
      return new Promise((resolve, reject) => {
        zlib.deflate(data, { level: spec.level }, (err, out) => (err ? reject(new CoreError('EINVAL', err.message)) : resolve(out)));
      });
    }
    return this.compress(spec, data);
  }

  /**
   * `expectedLength` >= 0: the output must be exactly that long. -1: unknown, bounded by
   * `maxLength`. Invalid streams and wrong lengths throw ECORRUPT.
   */
  decompress(codec: Codec, data: Uint8Array, expectedLength: number, maxLength?: number): Buffer {
    checkCodec(codec);
    const limit = outputLimit(expectedLength, maxLength);
    const out = codec === 'zstd' ? this.zstdDecompress(data, limit, expectedLength >= 0) : zlibInflate(data, limit);
    if (expectedLength >= 0 && out.byteLength !== expectedLength) {
      throw new CoreError('ECORRUPT', `${codec} stream decompressed to ${out.byteLength} bytes, expected ${expectedLength}`);
    }
    return out;
  }

  async decompressAsync(codec: Codec, data: Uint8Array, expectedLength: number, maxLength?: number): Promise<Buffer> {
    checkCodec(codec);
    const limit = outputLimit(expectedLength, maxLength);
    if (codec === 'zstd') return this.decompress(codec, data, expectedLength, maxLength);
    const out = await new Promise<Buffer>((resolve, reject) => {
      zlib.inflate(data, { maxOutputLength: Math.max(1, limit + 1) }, (err, res) => (err ? reject(zlibError(err, limit)) : resolve(res)));
    });
    if (out.byteLength > limit) throw tooLong('zlib', limit);
    if (expectedLength >= 0 && out.byteLength !== expectedLength) {
      throw new CoreError('ECORRUPT', `zlib stream decompressed to ${out.byteLength} bytes, expected ${expectedLength}`);
    }
    return out;
  }

  private zstdCompress(data: Uint8Array, level: number): Buffer {
    const bound = zstd.compressBound(data.byteLength);
    if (this.scratch.byteLength < bound) this.scratch = Buffer.allocUnsafe(bound);
    const n = this.cctx.compress(this.scratch, data, level);
    return copyBuffer(this.scratch.subarray(0, n));
  }

  /**
   * Streaming decode: restic's frames may lack the content size, so the one-shot API cannot be
   * used. Concatenated frames are decoded in turn (what the zstd CLI and Go's decoder do).
   */
  private zstdDecompress(data: Uint8Array, limit: number, exact: boolean): Buffer {
    const dctx = this.dctx;
    dctx.reset(zstd.ResetDirective.sessionOnly);
    // One byte beyond the limit lets an over-long stream be noticed.
    const hardCap = limit + 1;
    let out = Buffer.allocUnsafe(exact ? hardCap : Math.min(hardCap, Math.max(65536, data.byteLength * 4)));
    let produced = 0;
    let consumed = 0;
    try {
      for (;;) {
        if (produced === out.byteLength) {
          if (out.byteLength >= hardCap) throw tooLong('zstd', limit);
          const grown = Buffer.allocUnsafe(Math.min(hardCap, out.byteLength * 2));
          grown.set(out.subarray(0, produced));
          out = grown;
        }
        const [remaining, wrote, read] = dctx.decompressStream(out.subarray(produced), data.subarray(consumed));
        produced += wrote;
        consumed += read;
        if (remaining === 0 && consumed === data.byteLength) break;
        if (wrote === 0 && read === 0 && produced < out.byteLength) {
          throw new CoreError('ECORRUPT', 'zstd stream is truncated');
        }
      }
    } catch (err) {
      dctx.reset(zstd.ResetDirective.sessionOnly);
      if (err instanceof CoreError) throw err;
      throw new CoreError('ECORRUPT', `invalid zstd stream: ${(err as Error).message}`);
    }
    if (produced > limit) throw tooLong('zstd', limit);
    return out.subarray(0, produced);
  }
}

function tooLong(codec: Codec, limit: number): CoreError {
  return new CoreError('ECORRUPT', `${codec} stream decompresses to more than ${limit} bytes`);
}

function zlibError(err: Error & { code?: string }, limit: number): CoreError {
  if (err.code === 'ERR_BUFFER_TOO_LARGE') return tooLong('zlib', limit);
  return new CoreError('ECORRUPT', `invalid zlib stream: ${err.message}`);
}

function zlibInflate(data: Uint8Array, limit: number): Buffer {
  let out: Buffer;
  try {
    out = zlib.inflateSync(data, { maxOutputLength: Math.max(1, limit + 1) });
  } catch (err) {
    throw zlibError(err as Error & { code?: string }, limit);
  }
  if (out.byteLength > limit) throw tooLong('zlib', limit);
  return out;
}
