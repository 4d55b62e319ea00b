// Reads files through the compute core: chunk, hash, dedup, compress and seal, on a bounded
// number of worker threads. Small files travel in batches (one JS↔native crossing per batch);
// big files in segments (bounded memory whatever their size). New blobs go to a BlobSink, which
// may make us wait (backpressure from packing and uploading).
import type { Core, EncodedBlob, FileChunk, FileSegmentRequest, FileSegmentResult, PipelineParams } from '../native/types.ts';
import { Semaphore } from './concurrency.ts';
import { releasedBytes } from '../util/release-memory.ts';

export interface BlobSink {
  /** Takes new data blobs; resolves when they are accepted (may wait for space). */
  addDataBlobs(blobs: EncodedBlob[]): Promise<void>;
}

export interface FileContent {
  chunks: FileChunk[];
  /** Bytes read. */
  size: number;
}

export interface FileReadError {
  error: string;
  code: string;
}

export interface PipelineOptions {
  threads: number;
  /** Files up to this size are batched. */
  smallFileLimit?: number;
  /** A batch is sent when it holds this many bytes… */
  batchBytes?: number;
  /** …or this many files. */
  batchFiles?: number;
  /** Big files are read in segments of about this many bytes. */
  segmentBytes?: number;
}

interface Pending {
  request: FileSegmentRequest;
  size: number;
  resolve: (result: FileContent | FileReadError) => void;
  reject: (err: unknown) => void;
}

export interface PipelineStats {
  filesRead: number;
  bytesRead: number;
  chunks: number;
  newBlobs: number;
  newBytes: number;
  newBytesEncoded: number;
}

/**
 * Batches of small files in flight beyond one per compute thread: when a call returns, the next
 * is already waiting in the core instead of waiting for the JavaScript thread to hand it over.
 * With one per thread the two cores of the benchmark machine were busy ~140 % of the time through
 * small files; with two more, ~190 % (first backup ~5 % shorter). Segments of large files stay at
 * one per thread: each fills a read buffer of up to 16 MiB.
 */
const BATCHES_AHEAD = 2;

export class ContentPipeline {
  private readonly slots: Semaphore;
  private readonly largeSlots: Semaphore;
  private batch: Pending[] = [];
  private batchBytesQueued = 0;
  private flushScheduled = false;
  private readonly smallFileLimit: number;
  private readonly batchBytes: number;
  private readonly batchFiles: number;
  private readonly segmentBytes: number;
  readonly stats: PipelineStats = { filesRead: 0, bytesRead: 0, chunks: 0, newBlobs: 0, newBytes: 0, newBytesEncoded: 0 };

  constructor(
    private readonly core: Core,
    private readonly params: PipelineParams,
    private readonly sink: BlobSink,
    options: PipelineOptions,
  ) {
    this.slots = new Semaphore(options.threads + BATCHES_AHEAD);
    this.largeSlots = new Semaphore(options.threads);
    this.smallFileLimit = options.smallFileLimit ?? 1024 * 1024;
    this.batchBytes = options.batchBytes ?? 8 * 1024 * 1024;
    this.batchFiles = options.batchFiles ?? 64;
    this.segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
  }

  /**
   * Chunks (and stores what is new of) one file. `size` is what lstat said. Resolves with a
   * FileReadError when the file cannot be read; rejects when the backup cannot go on.
   */
  read(path: Buffer, size: number): Promise<FileContent | FileReadError> {
    if (size > this.smallFileLimit) return this.readLarge(path);
    return new Promise((resolve, reject) => {
      this.batch.push({ request: { path, offset: 0, maxBytes: 0 }, size, resolve, reject });
      this.batchBytesQueued += size;
      if (this.batch.length >= this.batchFiles || this.batchBytesQueued >= this.batchBytes) this.flushBatch();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flushBatch();
        });
      }
    });
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchBytesQueued = 0;
    void this.runBatch(batch);
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    let results: FileSegmentResult[];
    try {
      results = await this.slots.run(() => this.core.processFiles(batch.map((p) => p.request), this.params));
      // Failed files hand over what they encoded too: other files may refer to those ids.
      const blobs: EncodedBlob[] = [];
      for (const r of results) blobs.push(...r.blobs);
      if (blobs.length) await this.sink.addDataBlobs(blobs);
    } catch (err) {
      // A call that fails as a whole, or blobs that cannot be stored, end the backup: encoded
      // chunks may be lost while the dedup set counts them as stored.
      for (const p of batch) p.reject(err);
      return;
    }
    results.forEach((r, i) => {
      const pending = batch[i];
      if (!pending) return;
      pending.resolve(this.account(r));
    });
    releasedBytes(results.reduce((n, r) => n + r.blobs.reduce((m, b) => m + b.data.length, 0), 0));
  }

  private account(r: FileSegmentResult): FileContent | FileReadError {
    if (r.error) return { error: r.error.message, code: r.error.code };
    const size = r.chunks.reduce((n, c) => n + c.length, 0);
    this.stats.filesRead += 1;
    this.stats.bytesRead += size;
    this.stats.chunks += r.chunks.length;
    for (const b of r.blobs) {
      this.stats.newBlobs += 1;
      this.stats.newBytes += b.rawLength;
      this.stats.newBytesEncoded += b.data.length;
    }
    return { chunks: r.chunks, size };
  }

  private async readLarge(path: Buffer): Promise<FileContent | FileReadError> {
    const chunks: FileChunk[] = [];
    let offset = 0;
    let total = 0;
    // One segment's blobs are stored while the core reads the next: storing (pack files, and
    // for ghostsnap hashing and sealing them) would otherwise leave the core idle in between.
    let storing: Promise<void> = Promise.resolve();
    const store = (blobs: EncodedBlob[]): Promise<void> => {
      const stored = this.sink.addDataBlobs(blobs).then(() => releasedBytes(blobs.reduce((m, b) => m + b.data.length, 0)));
      // Awaited before the next segment is stored or the file ends; this only keeps a failure
      // from counting as unhandled meanwhile.
      stored.catch(() => undefined);
      return stored;
    };
    for (;;) {
      const request = { path, offset, maxBytes: this.segmentBytes };
      const [r] = await this.largeSlots.run(() => this.slots.run(() => this.core.processFiles([request], this.params)));
      if (!r) throw new Error('no result from the compute core');
      await storing;
      storing = r.blobs.length ? store(r.blobs) : Promise.resolve();
      if (r.error) {
        await storing;
        return { error: r.error.message, code: r.error.code };
      }
      for (const b of r.blobs) {
        this.stats.newBlobs += 1;
        this.stats.newBytes += b.rawLength;
        this.stats.newBytesEncoded += b.data.length;
      }
      chunks.push(...r.chunks);
      for (const c of r.chunks) total += c.length;
      this.stats.chunks += r.chunks.length;
      offset = r.nextOffset;
      if (r.eof) break;
    }
    await storing;
    this.stats.filesRead += 1;
    this.stats.bytesRead += total;
    return { chunks, size: total };
  }
}
