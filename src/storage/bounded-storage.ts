// performance.parallel_uploads: at most N put() calls of one Storage run at a time; further calls
// wait in arrival order before their body is touched.
//
// Memory bound: a running put holds one part (performance.chunk_size, default 16 MiB; 1 MiB for
// local) of a stream or multi-buffer body, plus socket buffers, so the storage layer itself holds
// at most parallel_uploads × chunk_size of upload data (64 MiB with the defaults). A waiting put
// holds only what its caller already built: a `{ stream, size }` body is not read until its put
// runs, so a producer that hands out streams is throttled to the pace of the remote, and a caller
// that awaits its put() never has more than its own outstanding bodies in memory.
import { Semaphore } from '../util/semaphore.ts';
import type { ByteRange, ObjectInfo, PutBody, PutOptions, PutResult, SpoolFile, Storage } from './storage.ts';

export class BoundedStorage implements Storage {
  private readonly slots: Semaphore;

  constructor(
    private readonly inner: Storage,
    parallelUploads: number,
  ) {
    this.slots = new Semaphore(parallelUploads);
  }

  get location(): string {
    return this.inner.location;
  }

  get kind(): Storage['kind'] {
    return this.inner.kind;
  }

  /** Puts running now and waiting for a slot (for progress and tests). */
  get uploads(): { running: number; waiting: number } {
    return { running: this.slots.inUse, waiting: this.slots.waiting };
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  stat(key: string): Promise<ObjectInfo | null> {
    return this.inner.stat(key);
  }

  get(key: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.get(key, range);
  }

  getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    return this.inner.getStream(key);
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<PutResult> {
    return this.slots.run(() => this.inner.put(key, body, options));
  }

  get localFile(): ((key: string) => string) | undefined {
    const inner = this.inner;
    return inner.localFile ? (key: string) => (inner.localFile as (k: string) => string).call(inner, key) : undefined;
  }

  get createFolders(): ((prefixes: readonly string[]) => Promise<void>) | undefined {
    const inner = this.inner;
    return inner.createFolders ? (prefixes: readonly string[]) => (inner.createFolders as (p: readonly string[]) => Promise<void>).call(inner, prefixes) : undefined;
  }

  get spoolDirectory(): (() => Promise<string>) | undefined {
    const inner = this.inner;
    return inner.spoolDirectory ? () => (inner.spoolDirectory as () => Promise<string>).call(inner) : undefined;
  }

  get adoptFile(): ((tempPath: string, key: string) => Promise<PutResult>) | undefined {
    const inner = this.inner;
    return inner.adoptFile ? (tempPath: string, key: string) => (inner.adoptFile as (t: string, k: string) => Promise<PutResult>).call(inner, tempPath, key) : undefined;
  }

  get createSpool(): (() => Promise<SpoolFile>) | undefined {
    const inner = this.inner;
    return inner.createSpool ? () => (inner.createSpool as () => Promise<SpoolFile>).call(inner) : undefined;
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
