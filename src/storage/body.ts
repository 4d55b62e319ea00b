// PutBody → parts of a fixed size, and parts → throttled pieces on the wire. A stream body is read
// only as far as the part being sent, which is what bounds memory per upload to one part.
import { Readable } from 'node:stream';
import { StorageError } from '../backup/errors.ts';
import type { PutBody } from './storage.ts';
import type { TokenBucket } from './token-bucket.ts';

export function bodySize(body: PutBody): number {
  if (body instanceof Uint8Array) return body.byteLength;
  if (Array.isArray(body)) return body.reduce((n, b) => n + b.byteLength, 0);
  return body.size;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

async function* chunksOf(body: PutBody): AsyncGenerator<Uint8Array> {
  if (body instanceof Uint8Array) yield body;
  else if (Array.isArray(body)) yield* body;
  else yield* body.stream;
}

/**
 * Splits a body into consecutive parts of `partSize` bytes (the last one shorter; one empty part
 * for an empty body). Whole-buffer bodies are sliced without copying. Throws StorageError when the
 * bytes do not add up to the declared size, so a short stream never becomes a short object.
 */
export async function* bodyParts(body: PutBody, partSize: number, key: string): AsyncGenerator<Buffer> {
  const size = bodySize(body);
  if (size === 0) {
    for await (const chunk of chunksOf(body)) if (chunk.byteLength) throw sizeMismatch(key, size, 'more');
    yield Buffer.alloc(0);
    return;
  }
  if (body instanceof Uint8Array) {
    const whole = asBuffer(body);
    for (let offset = 0; offset < size; offset += partSize) yield whole.subarray(offset, Math.min(size, offset + partSize));
    return;
  }
  const source = chunksOf(body);
  try {
    let part: Buffer | undefined;
    let filled = 0;
    let consumed = 0;
    while (consumed < size) {
      const next = await source.next();
      if (next.done) throw sizeMismatch(key, size, 'fewer');
      let bytes = asBuffer(next.value);
      if (consumed + bytes.byteLength > size) throw sizeMismatch(key, size, 'more');
      // Fill the current part; allocate it lazily so a finished body holds nothing.
      while (bytes.byteLength > 0) {
        part ??= Buffer.allocUnsafe(Math.min(partSize, size - consumed));
        const n = Math.min(part.byteLength - filled, bytes.byteLength);
        bytes.copy(part, filled, 0, n);
        filled += n;
        consumed += n;
        bytes = bytes.subarray(n);
        if (filled === part.byteLength) {
          // The last part is handed out only once the source is known to end here, so a body
          // longer than declared fails before anything is committed.
          if (consumed === size) await expectEnd(source, key, size);
          const done = part;
          part = undefined;
          filled = 0;
          yield done;
        }
      }
    }
  } finally {
    // Lets a stream body release its resources when an upload stops early.
    await source.return(undefined);
  }
}

async function expectEnd(source: AsyncGenerator<Uint8Array>, key: string, size: number): Promise<void> {
  for (;;) {
    const next = await source.next();
    if (next.done) return;
    if (next.value.byteLength > 0) throw sizeMismatch(key, size, 'more');
  }
}

function sizeMismatch(key: string, size: number, what: 'more' | 'fewer'): StorageError {
  return new StorageError(`put "${key}": the body has ${what} bytes than its declared size ${size}; nothing was stored`);
}

/** Pieces of `part` released at the bucket's pace (all at once without a limit). */
export async function* throttledPieces(part: Buffer, bucket: TokenBucket | undefined): AsyncGenerator<Buffer> {
  if (!bucket) {
    yield part;
    return;
  }
  const slice = bucket.slice;
  for (let offset = 0; offset < part.byteLength; offset += slice) {
    const piece = part.subarray(offset, Math.min(part.byteLength, offset + slice));
    await bucket.take(piece.byteLength);
    yield piece;
  }
}

/** A fresh readable over one part for each attempt (an HTTP body can be sent only once). */
export function partReadable(part: Buffer, bucket: TokenBucket | undefined): Readable {
  return Readable.from(throttledPieces(part, bucket), { objectMode: false });
}
