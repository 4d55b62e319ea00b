// Chunker selection and the incremental interface the file pipeline drives.
import { CoreError } from '../errors.ts';
import type { ChunkerSpec } from '../types.ts';
import { FastCdcChunker } from './fastcdc.ts';
import { RabinChunker } from './rabin.ts';

export interface StreamChunker {
  /** No chunk is ever longer than this. */
  readonly maxChunkSize: number;
  /**
   * `data` starts at the first byte of the current chunk and only grows between calls until a
   * cut is returned. Returns the chunk length, or 0 when more data is needed. With `eof`, the
   * remaining data always yields a chunk (0 only when `data` is empty).
   */
  findCut(data: Uint8Array, eof: boolean): number;
}

export function createChunker(spec: ChunkerSpec): StreamChunker {
  switch (spec?.kind) {
    case 'rabin':
      return new RabinChunker(spec.polynomial);
    case 'fastcdc':
      return new FastCdcChunker(spec);
    default:
      throw new CoreError('EINVAL', `unknown chunker kind ${JSON.stringify((spec as { kind?: unknown } | undefined)?.kind)}`);
  }
}

/** Chunk lengths of an in-memory buffer. */
export function chunkBuffer(spec: ChunkerSpec, data: Uint8Array): number[] {
  const chunker = createChunker(spec);
  const lengths: number[] = [];
  let start = 0;
  while (start < data.byteLength) {
    const n = chunker.findCut(data.subarray(start), true);
    lengths.push(n);
    start += n;
  }
  return lengths;
}
