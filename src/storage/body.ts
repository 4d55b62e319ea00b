// PutBody → parts of a fixed size, and parts → throttled pieces on the wire. A stream body is read
// only as far as the part being sent, which is what bounds memory per upload to one part.
import fsp from 'node:fs/promises';
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

type ChunkedBody = Exclude<PutBody, { file: string }>;

async function* chunksOf(body: ChunkedBody): AsyncGenerator<Uint8Array> {
  if (body instanceof Uint8Array) yield body;
  else if (Array.isArray(body)) yield* body;
  else yield* body.stream;
}

/** Fills `part` from the file at `position`; returns the bytes read (fewer only at its end). */
async function readFully(handle: fsp.FileHandle, part: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < part.byteLength) {
    const { bytesRead } = await handle.read(part, filled, part.byteLength - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

async function* fileParts(file: string, size: number, partSize: number, key: string, allocate: (n: number) => Buffer, release: (part: Buffer) => void): AsyncGenerator<Buffer> {
  const handle = await fsp.open(file, 'r');
  let lent: Buffer | undefined;
  try {
    const probe = Buffer.allocUnsafe(1);
    if (size === 0) {
      if ((await readFully(handle, probe, 0)) > 0) throw sizeMismatch(key, size, 'more');
      yield Buffer.alloc(0);
      return;
    }
    for (let offset = 0; offset < size; ) {
      const part = allocate(Math.min(partSize, size - offset));
      lent = part;
      if ((await readFully(handle, part, offset)) < part.byteLength) throw sizeMismatch(key, size, 'fewer');
      offset += part.byteLength;
      if (offset === size && (await readFully(handle, probe, offset)) > 0) throw sizeMismatch(key, size, 'more');
      yield part;
      release(part);
      lent = undefined;
    }
  } finally {
    if (lent) release(lent);
    await handle.close();
  }
}

/**
 * Part-sized buffers kept for reuse. Uploads cut a stream body into parts of up to 16 MiB; fresh
 * buffers for each would leave gigabytes of garbage over a long backup, which a lazily collecting
 * runtime (Bun) turns into hundreds of MB of resident memory. Reusing them bounds it to the
 * buffers in flight.
 */
export class PartBufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    private readonly partSize: number,
    private readonly keep: number,
  ) {}

  /** A buffer of `size` bytes (≤ partSize), recycled when possible. */
  take(size: number): Buffer {
    if (size > this.partSize) return Buffer.allocUnsafe(size);
    return (this.free.pop() ?? Buffer.allocUnsafe(this.partSize)).subarray(0, size);
  }

  give(part: Buffer): void {
    if (part.buffer.byteLength === this.partSize && part.byteOffset === 0 && this.free.length < this.keep) {
      this.free.push(Buffer.from(part.buffer, 0, this.partSize));
    }
  }
}

/**
 * Splits a body into consecutive parts of `partSize` bytes (the last one shorter; one empty part
 * for an empty body). Whole-buffer bodies are sliced without copying. Throws StorageError when the
 * bytes do not add up to the declared size, so a short stream never becomes a short object.
 * With a pool, a part copied from a stream is valid only until the next call to next() or
 * return(): then it goes back to the pool.
 */
export async function* bodyParts(body: PutBody, partSize: number, key: string, pool?: PartBufferPool): AsyncGenerator<Buffer> {
  const size = bodySize(body);
  if ('file' in body) {
    yield* fileParts(body.file, size, partSize, key, (n) => pool?.take(n) ?? Buffer.allocUnsafe(n), (part) => pool?.give(part));
    return;
  }
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
  let part: Buffer | undefined;
  let lent: Buffer | undefined;
  const allocate = (n: number): Buffer => pool?.take(n) ?? Buffer.allocUnsafe(n);
  try {
    let filled = 0;
    let consumed = 0;
    while (consumed < size) {
      const next = await source.next();
      if (next.done) throw sizeMismatch(key, size, 'fewer');
      let bytes = asBuffer(next.value);
      if (consumed + bytes.byteLength > size) throw sizeMismatch(key, size, 'more');
      // Fill the current part; allocate it lazily so a finished body holds nothing.
      while (bytes.byteLength > 0) {
        part ??= allocate(Math.min(partSize, size - consumed));
        const n = Math.min(part.byteLength - filled, bytes.byteLength);
        bytes.copy(part, filled, 0, n);
        filled += n;
        consumed += n;
        bytes = bytes.subarray(n);
        if (filled === part.byteLength) {
          // The last part is handed out only once the source is known to end here, so a body
          // longer than declared fails before anything is committed.
          if (consumed === size) await expectEnd(source, key, size);
          lent = part;
          part = undefined;
          filled = 0;
          yield lent;
          if (pool) pool.give(lent);
          lent = undefined;
        }
      }
    }
  } finally {
    if (pool) {
      if (lent) pool.give(lent);
      if (part) pool.give(part);
    }
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
