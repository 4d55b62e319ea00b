// What the three object-store backends (S3, MinIO, Azure) share: key prefixing, retries around
// every request, bodies cut into parts (one request per part, each retried on its own), resumable
// streaming reads and paged listings. A backend supplies the single-request primitives and the
// classification of its SDK's errors.
import type { Readable } from 'node:stream';
import { bodyParts, bodySize, PartBufferPool } from './body.ts';
import { PreconditionFailedError, StorageRequestError, type FailureFacts, type StorageTarget } from './errors.ts';
import type { Retrier } from './retry.ts';
import type { ByteRange, ObjectInfo, PutBody, PutOptions, PutResult, Storage } from './storage.ts';
import type { TokenBucket } from './token-bucket.ts';

export interface TransferSettings {
  retrier: Retrier;
  /** Upload bandwidth limit shared by the process; absent without a limit. */
  uploadBucket: TokenBucket | undefined;
  /** Objects up to this size go in one request; larger ones in parts of this size. */
  partSize: number;
  /** Uploads that may run at once (how many part buffers are worth keeping). */
  parallelUploads: number;
}

/** An object as the service reports it, with its full key (prefix included). */
export interface RemoteObject {
  key: string;
  size: number;
  modified?: Date;
  etag?: string;
}

export interface ListPage {
  objects: RemoteObject[];
  next?: string;
}

export interface OpenedRead {
  body: Readable | AsyncIterable<Uint8Array>;
  etag?: string;
  /** Bytes the answer announced (Content-Length): a body that ends short was cut. */
  length?: number;
}

export interface MultipartUpload {
  uploadPart(partNumber: number, part: Buffer): Promise<void>;
  complete(options: PutOptions): Promise<PutResult>;
  /** Best effort: frees what the service stored for an upload that will not be completed. */
  abort(): Promise<void>;
}

export abstract class RemoteStorage implements Storage {
  abstract readonly kind: 's3' | 'minio' | 'azure';

  protected constructor(
    readonly location: string,
    readonly target: StorageTarget,
    /** Repository prefix inside the bucket/container, without leading or trailing "/". */
    protected readonly prefix: string,
    protected readonly transfer: TransferSettings,
  ) {
    this.partBuffers = new PartBufferPool(transfer.partSize, transfer.parallelUploads + 1);
  }

  private readonly partBuffers: PartBufferPool;

  // --- single-request primitives, each called inside the retry loop ---------------------------

  protected abstract headObject(fullKey: string): Promise<RemoteObject | null>;
  protected abstract listPage(fullPrefix: string, continuation: string | undefined): Promise<ListPage>;
  /** Bytes from `start` to `end` inclusive (to the end when undefined); only the version `ifMatch` when given. */
  protected abstract openRead(fullKey: string, start: number, end: number | undefined, ifMatch: string | undefined): Promise<OpenedRead>;
  protected abstract putWhole(fullKey: string, body: Buffer, options: PutOptions): Promise<PutResult>;
  protected abstract startMultipart(fullKey: string): Promise<MultipartUpload>;
  protected abstract deleteObject(fullKey: string): Promise<void>;
  /** Classifies what the SDK threw. */
  protected abstract classify(err: unknown): FailureFacts;

  /** Checks that the bucket/container exists and the credentials may use it (test-connection). */
  abstract checkContainer(): Promise<void>;
  /** Creates the bucket/container when missing (repository init). */
  abstract createContainer(): Promise<void>;
  abstract close(): Promise<void>;

  // --- Storage ----------------------------------------------------------------------------------

  protected fullKey(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private relativeKey(fullKey: string): string | undefined {
    if (!this.prefix) return fullKey;
    return fullKey.startsWith(`${this.prefix}/`) ? fullKey.slice(this.prefix.length + 1) : undefined;
  }

  protected failure(operation: string, key: string | undefined): (err: unknown) => StorageRequestError {
    return (err) => {
      if (err instanceof StorageRequestError) return err;
      const facts = this.classify(err);
      if (facts.failure === 'precondition') {
        if (operation === 'put' && key !== undefined) {
          return new PreconditionFailedError(this.target, key, facts.reason, {
            ...(facts.status !== undefined ? { status: facts.status } : {}),
            ...(facts.code !== undefined ? { code: facts.code } : {}),
            cause: err,
          });
        }
        // Only a resumed read sends a condition: the version it started with is gone.
        return new StorageRequestError(this.target, operation, key, { ...facts, failure: 'fatal', reason: 'the object changed while it was being read' });
      }
      return new StorageRequestError(this.target, operation, key, facts);
    };
  }

  protected run<T>(operation: string, key: string | undefined, attempt: () => Promise<T>): Promise<T> {
    return this.transfer.retrier.run(operation, key, attempt, this.failure(operation, key));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const fullPrefix = this.fullKey(prefix);
    let continuation: string | undefined;
    do {
      const token = continuation;
      const page = await this.run('list', prefix, () => this.listPage(fullPrefix, token));
      for (const object of page.objects) {
        const key = this.relativeKey(object.key);
        // "folder/" markers made by consoles are not objects of a repository.
        if (key === undefined || key === '' || key.endsWith('/')) continue;
        yield { key, size: object.size, ...(object.modified ? { modified: object.modified } : {}), ...(object.etag ? { etag: object.etag } : {}) };
      }
      continuation = page.next;
    } while (continuation);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const object = await this.run('stat', key, () => this.headObject(this.fullKey(key)));
      return object ? { ...object, key } : null;
    } catch (err) {
      if (err instanceof StorageRequestError && err.failure === 'not-found') return null;
      throw err;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    if (range && range.length === 0) {
      // No HTTP range means zero bytes; still say NotFound for a missing object.
      if (!(await this.stat(key))) throw new StorageRequestError(this.target, 'get', key, { failure: 'not-found', reason: 'no such object' });
      return Buffer.alloc(0);
    }
    const full = this.fullKey(key);
    const end = range ? range.offset + range.length - 1 : undefined;
    try {
      return await this.run('get', key, async () => {
        const opened = await this.openRead(full, range?.offset ?? 0, end, undefined);
        const bytes = await collect(opened.body);
        if (opened.length !== undefined && bytes.byteLength !== opened.length) throw this.cutShort(key);
        return bytes;
      });
    } catch (err) {
      // A range that starts at or after the end: the object has no such bytes.
      if (range && err instanceof StorageRequestError && err.status === 416) return Buffer.alloc(0);
      throw err;
    }
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const full = this.fullKey(key);
    const first = await this.run('get', key, () => this.openRead(full, 0, undefined, undefined));
    return this.resumingRead(key, full, first);
  }

  /** Yields the object; when the connection breaks mid-way, continues from the last byte received, same version only. */
  private async *resumingRead(key: string, full: string, first: OpenedRead): AsyncGenerator<Uint8Array> {
    let current = first;
    let position = 0;
    let breaks = 0;
    for (;;) {
      try {
        let received = 0;
        for await (const chunk of current.body) {
          position += chunk.byteLength;
          received += chunk.byteLength;
          yield chunk;
        }
        if (current.length === undefined || received === current.length) return;
        throw this.cutShort(key);
      } catch (raw) {
        const error = this.failure('get', key)(raw);
        const retrier = this.transfer.retrier;
        if (!error.retryable || breaks >= retrier.policy.retries) throw error;
        breaks++;
        await new Promise((resolve) => setTimeout(resolve, retrier.delayFor(breaks)));
        const from = position;
        current = await this.run('get', key, () => this.openRead(full, from, undefined, current.etag ?? first.etag));
      }
    }
  }

  /** Some SDK streams end quietly when the connection breaks; the length check turns that into a retryable failure. */
  private cutShort(key: string): StorageRequestError {
    return new StorageRequestError(this.target, 'get', key, {
      failure: 'transient',
      code: 'ERR_STREAM_PREMATURE_CLOSE',
      reason: 'the connection closed before the whole answer arrived',
    });
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<PutResult> {
    try {
      return await this.putObject(key, body, options);
    } catch (err) {
      // If-Match on a missing object is answered 404 by S3: the condition failed.
      if (options.ifMatch !== undefined && err instanceof StorageRequestError && err.failure === 'not-found') {
        throw new PreconditionFailedError(this.target, key, 'the object does not exist', { ...(err.status !== undefined ? { status: err.status } : {}), cause: err });
      }
      throw err;
    }
  }

  private async putObject(key: string, body: PutBody, options: PutOptions): Promise<PutResult> {
    const full = this.fullKey(key);
    const size = bodySize(body);
    const parts = bodyParts(body, this.transfer.partSize, key, this.partBuffers);
    if (size <= this.transfer.partSize) {
      try {
        const first = await parts.next();
        const whole = first.done ? Buffer.alloc(0) : first.value;
        return await this.run('put', key, () => this.putWhole(full, whole, options));
      } finally {
        await parts.return(undefined);
      }
    }
    const upload = await this.run('put', key, () => this.startMultipart(full));
    try {
      let partNumber = 0;
      for await (const part of parts) {
        const n = ++partNumber;
        await this.run('put', key, () => upload.uploadPart(n, part));
      }
      return await this.completeMultipart(key, full, upload, size, options);
    } catch (err) {
      await upload.abort().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Completing is retried like any request; when an earlier attempt did complete but its answer
   * was lost, the retry finds the upload gone: the object with the expected size is our result.
   */
  private async completeMultipart(key: string, full: string, upload: MultipartUpload, size: number, options: PutOptions): Promise<PutResult> {
    let attempts = 0;
    return this.run('put', key, async () => {
      attempts++;
      try {
        return await upload.complete(options);
      } catch (err) {
        if (attempts > 1 && this.classify(err).failure === 'not-found') {
          const object = await this.headObject(full);
          if (object && object.size === size) return object.etag ? { etag: object.etag } : {};
        }
        throw err;
      }
    });
  }

  async delete(key: string): Promise<void> {
    try {
      await this.run('delete', key, () => this.deleteObject(this.fullKey(key)));
    } catch (err) {
      if (err instanceof StorageRequestError && err.failure === 'not-found') return;
      throw err;
    }
  }
}

async function collect(body: Readable | AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks);
}
