// processFiles: read → chunk → hash → dedup → compress → seal, streaming with bounded memory.
//
// One read buffer per call holds at most one maximal chunk plus one read block, so memory does not
// depend on file sizes. Files are processed one after the other; the event loop gets a turn after
// every chunk.
import type { Buffer } from 'node:buffer';
import { open, type FileHandle } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CoreError } from '../errors.ts';
import type { BlobSet, EncodedBlob, FileChunk, FileSegmentRequest, FileSegmentResult, PipelineParams } from '../types.ts';
import { PortableBlobSet } from './blob-set.ts';
import { requireInteger } from './bytes.ts';
import { createChunker } from './chunker.ts';
import { checkCompressionSpec, type Compressors } from './compression.ts';
import type { Hashers } from './hashing.ts';
import { ioError } from './io-error.ts';
import { makeSealer } from './seal.ts';

const READ_BLOCK = 1 << 20;

export interface PipelineDeps {
  hashers: Hashers;
  compressors: Compressors;
}

/** Growable window over the bytes read but not yet emitted as chunks. */
class ReadBuffer {
  buf = new Uint8Array(0);
  start = 0;
  end = 0;

  reset(): void {
    this.start = 0;
    this.end = 0;
  }

  pending(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  /** Makes room for the next read; `cap` bounds the buffer (one max chunk + one block). */
  space(cap: number): Uint8Array {
    if (this.buf.byteLength - this.end < READ_BLOCK && this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.buf.byteLength - this.end < READ_BLOCK && this.buf.byteLength < cap) {
      const grown = new Uint8Array(Math.min(cap, Math.max(this.buf.byteLength * 2, this.end + READ_BLOCK)));
      grown.set(this.buf.subarray(0, this.end));
      this.buf = grown;
    }
    return this.buf.subarray(this.end, Math.min(this.buf.byteLength, this.end + READ_BLOCK));
  }
}

function checkRequest(req: FileSegmentRequest): void {
  if (req === null || typeof req !== 'object' || (typeof req.path !== 'string' && !(req.path instanceof Uint8Array))) {
    throw new CoreError('EINVAL', 'each request needs a path (string or Buffer)');
  }
  requireInteger(req.offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
  requireInteger(req.maxBytes, 'maxBytes', 0, Number.MAX_SAFE_INTEGER);
}

export async function processFiles(
  requests: FileSegmentRequest[],
  params: PipelineParams,
  deps: PipelineDeps,
): Promise<FileSegmentResult[]> {
  if (!Array.isArray(requests)) throw new CoreError('EINVAL', 'requests must be an array');
  requests.forEach(checkRequest);
  const hash = deps.hashers.get(params.hash);
  checkCompressionSpec(params.compression);
  const sealer = makeSealer(params.seal);
  const encodeOnly = params.seal.kind === 'none';
  // Validates the chunker spec once, before any file is opened.
  createChunker(params.chunker);
  // Without a caller's set, chunks are still encoded once per call.
  const known: BlobSet = params.known ?? new PortableBlobSet();
  const rb = new ReadBuffer();
  const results: FileSegmentResult[] = [];
  try {
    for (const req of requests) results.push(await processOne(req));
  } catch (err) {
    // The call fails as a whole and its blobs are lost: none of their ids may stay "known".
    for (const r of results) for (const b of r.blobs) known.delete(b.id);
    throw err;
  }
  return results;

  async function processOne(req: FileSegmentRequest): Promise<FileSegmentResult> {
    const chunker = createChunker(params.chunker);
    const cap = chunker.maxChunkSize + READ_BLOCK;
    const chunks: FileChunk[] = [];
    const blobs: EncodedBlob[] = [];
    let fh: FileHandle;
    try {
      fh = await open(req.path, 'r');
    } catch (err) {
      return failed(ioError('open', req.path, err), req.offset);
    }
    try {
      rb.reset();
      let pos = req.offset;
      let consumed = 0;
      let sawEof = false;
      let stopped = false;
      const read = async (into: Uint8Array): Promise<number> => {
        try {
          const { bytesRead } = await fh.read(into, 0, into.byteLength, pos);
          return bytesRead;
        } catch (err) {
          throw ioError('read', req.path, err);
        }
      };
      while (!stopped) {
        const cut = chunker.findCut(rb.pending(), sawEof);
        if (cut === 0) {
          if (sawEof) break;
          const into = rb.space(cap);
          // A chunker that needs more data holds less than one max chunk, so `cap` leaves room.
          if (into.byteLength === 0) throw new Error('processFiles: read buffer full while the chunker needs more data');
          const n = await read(into);
          if (n === 0) sawEof = true;
          rb.end += n;
          pos += n;
          continue;
        }
        const data = rb.buf.subarray(rb.start, rb.start + cut);
        const id = hash(data);
        const chunkIndex = chunks.length;
        chunks.push({ length: cut, id });
        if (!known.has(id)) {
          const enc = deps.compressors.encode(params.compression, data);
          const sealed: Buffer = encodeOnly ? enc.data : sealer.seal(enc.data);
          blobs.push({ chunkIndex, id, rawLength: cut, compressed: enc.compressed, data: sealed });
          known.add(id);
        }
        rb.start += cut;
        consumed += cut;
        if (req.maxBytes > 0 && consumed >= req.maxBytes) stopped = true;
        await yieldToLoop();
      }
      let eof = sawEof && rb.start === rb.end;
      if (!eof && rb.start === rb.end) eof = (await read(new Uint8Array(1))) === 0;
      return { chunks, blobs, nextOffset: req.offset + consumed, eof };
    } catch (err) {
      if (!(err instanceof CoreError) || err.code !== 'EIO_READ') throw err;
      // What was encoded before the failure is handed over: its ids are in `known` already.
      return { ...failed(err, req.offset), blobs };
    } finally {
      // A failed close of a file opened read-only loses nothing.
      await fh.close().catch(() => undefined);
    }
  }
}

function failed(err: CoreError, offset: number): FileSegmentResult {
  return { error: err.toInfo(), chunks: [], blobs: [], nextOffset: offset, eof: false };
}
