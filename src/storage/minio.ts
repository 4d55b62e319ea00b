// MinIO (storage.minio) through the `minio` npm client. Its high-level putObject reads a whole
// part into memory before sending and retries by itself; the backend uses the client's signed
// request methods instead, so parts stream through the bandwidth limit and retries stay ours.
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { Client, S3Error } from 'minio';
import { partReadable } from './body.ts';
import { httpFailure, networkFailure, type FailureFacts } from './errors.ts';
import { RemoteStorage, type ListPage, type MultipartUpload, type OpenedRead, type RemoteObject, type TransferSettings } from './remote-storage.ts';
import type { PutOptions, PutResult } from './storage.ts';

export interface MinioSettings {
  /** http(s)://host[:port] */
  endpoint: string;
  bucket: string;
  prefix: string;
  region: string;
  accessKey: string | undefined;
  secretKey: string | undefined;
  agent: http.Agent;
}

/** HTTP status of the S3 error codes the minio client reports (it keeps the code, not the status). */
const statusOfCode: Record<string, number> = {
  NoSuchKey: 404,
  NotFound: 404,
  NoSuchUpload: 404,
  NoSuchBucket: 404,
  AccessDenied: 403,
  SignatureDoesNotMatch: 403,
  InvalidAccessKeyId: 403,
  ExpiredToken: 403,
  InvalidToken: 403,
  PreconditionFailed: 412,
  InvalidRange: 416,
  SlowDown: 503,
  ServiceUnavailable: 503,
  InternalError: 500,
  XMinioServerNotInitialized: 503,
  RequestTimeout: 400,
};

export class MinioStorage extends RemoteStorage {
  readonly kind = 'minio' as const;
  private readonly client: Client;
  private readonly bucket: string;
  private readonly region: string;

  constructor(location: string, private readonly settings: MinioSettings, transfer: TransferSettings) {
    super(location, { kind: 'minio', endpoint: settings.endpoint, container: settings.bucket }, settings.prefix, transfer);
    const url = new URL(settings.endpoint);
    const useSSL = url.protocol === 'https:';
    this.bucket = settings.bucket;
    this.region = settings.region;
    this.client = new Client({
      endPoint: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      ...(settings.accessKey !== undefined ? { accessKey: settings.accessKey } : {}),
      ...(settings.secretKey !== undefined ? { secretKey: settings.secretKey } : {}),
      region: settings.region,
      pathStyle: true,
      transportAgent: settings.agent,
      retryOptions: { disableRetry: true },
    });
  }

  protected classify(err: unknown): FailureFacts {
    // The client turns some statuses into a plain Error before any S3 error document is read.
    const retryable = err instanceof Error ? /Retryable HTTP status: (\d+)/.exec(err.message) : null;
    if (retryable) return httpFailure(Number(retryable[1]), undefined, 'the service is unavailable or throttling', err);
    if (err instanceof S3Error) {
      const code = err.code || undefined;
      // An answer without an S3 error document comes from something in between (proxy, load
      // balancer) far more often than from the server: treat it as passing trouble.
      if (!code) return { failure: 'transient', reason: `unrecognised answer: ${err.message || 'no error document'}`, cause: err };
      return httpFailure(statusOfCode[code] ?? 400, code, err.message, err);
    }
    return networkFailure(err) ?? { failure: 'fatal', reason: err instanceof Error ? err.message : String(err), cause: err };
  }

  /** The payload hash for a signed request: plain HTTP signs the body, HTTPS sends it unsigned. */
  private payloadHash(bytes: Buffer): string {
    return this.client.enableSHA256 ? createHash('sha256').update(bytes).digest('hex') : '';
  }

  protected async headObject(fullKey: string): Promise<RemoteObject | null> {
    const stat = await this.client.statObject(this.bucket, fullKey);
    return { key: fullKey, size: stat.size, modified: stat.lastModified, etag: quoted(stat.etag) };
  }

  protected async listPage(fullPrefix: string, continuation: string | undefined): Promise<ListPage> {
    const page = await this.client.listObjectsV2Query(this.bucket, fullPrefix, continuation ?? '', '', 1000, '');
    return {
      objects: page.objects.flatMap((o) => (o.name === undefined ? [] : [{ key: String(o.name), size: Number(o.size), modified: o.lastModified, etag: quoted(o.etag) }])),
      ...(page.isTruncated && page.nextContinuationToken ? { next: page.nextContinuationToken } : {}),
    };
  }

  protected async openRead(fullKey: string, start: number, end: number | undefined, ifMatch: string | undefined): Promise<OpenedRead> {
    const ranged = start > 0 || end !== undefined;
    const headers: Record<string, string> = {
      ...(ranged ? { Range: `bytes=${start}-${end ?? ''}` } : {}),
      ...(ifMatch ? { 'If-Match': ifMatch } : {}),
    };
    const res = await this.client.makeRequestAsync({ method: 'GET', bucketName: this.bucket, objectName: fullKey, headers }, '', [200, 206], this.region);
    const etag = res.headers.etag;
    const length = res.headers['content-length'];
    return { body: res, ...(etag ? { etag: quoted(etag) } : {}), ...(length !== undefined ? { length: Number(length) } : {}) };
  }

  private async send(options: { objectName: string; query?: string; headers?: Record<string, string> }, part: Buffer): Promise<http.IncomingMessage> {
    const res = await this.client.makeRequestStreamAsync(
      { method: 'PUT', bucketName: this.bucket, ...options, headers: { ...options.headers, 'Content-Length': String(part.byteLength) } },
      partReadable(part, this.transfer.uploadBucket),
      this.payloadHash(part),
      [200],
      this.region,
    );
    res.resume();
    return res;
  }

  protected async putWhole(fullKey: string, body: Buffer, options: PutOptions): Promise<PutResult> {
    const res = await this.send({ objectName: fullKey, headers: conditionHeaders(options) }, body);
    return res.headers.etag ? { etag: quoted(res.headers.etag) } : {};
  }

  protected async startMultipart(fullKey: string): Promise<MultipartUpload> {
    const uploadId = await this.client.initiateNewMultipartUpload(this.bucket, fullKey, {});
    const etags: string[] = [];
    const query = `uploadId=${encodeURIComponent(uploadId)}`;
    return {
      uploadPart: async (partNumber, part) => {
        const res = await this.send({ objectName: fullKey, query: `partNumber=${partNumber}&${query}` }, part);
        etags[partNumber - 1] = res.headers.etag ?? '';
      },
      complete: async (options) => {
        // The client's completeMultipartUpload sends no conditions; S3 takes them as headers here.
        const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`).join('');
        const payload = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts}</CompleteMultipartUpload>`;
        const res = await this.client.makeRequestAsync(
          { method: 'POST', bucketName: this.bucket, objectName: fullKey, query, headers: conditionHeaders(options) },
          payload,
          [200],
          this.region,
        );
        const answer = await readText(res);
        // S3 may answer 200 and still report an error in the document.
        const code = /<Error>[\s\S]*?<Code>([^<]+)<\/Code>/.exec(answer)?.[1];
        if (code) throw Object.assign(new S3Error(`complete multipart upload: ${code}`), { code });
        const etag = /<ETag>([^<]+)<\/ETag>/.exec(answer)?.[1];
        return etag ? { etag: quoted(unescapeXml(etag)) } : {};
      },
      abort: async () => {
        await this.client.abortMultipartUpload(this.bucket, fullKey, uploadId);
      },
    };
  }

  protected async deleteObject(fullKey: string): Promise<void> {
    await this.client.removeObject(this.bucket, fullKey);
  }

  async checkContainer(): Promise<void> {
    await this.run('check bucket', undefined, async () => {
      if (!(await this.client.bucketExists(this.bucket))) throw Object.assign(new S3Error('the bucket does not exist'), { code: 'NoSuchBucket' });
    });
  }

  async createContainer(): Promise<void> {
    await this.run('create bucket', undefined, async () => {
      if (await this.client.bucketExists(this.bucket)) return;
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (err) {
        if (err instanceof S3Error && err.code === 'BucketAlreadyOwnedByYou') return;
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    this.settings.agent.destroy();
  }
}

function quoted(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

function conditionHeaders(options: PutOptions): Record<string, string> {
  return {
    ...(options.ifMatch !== undefined ? { 'If-Match': options.ifMatch } : {}),
    ...(options.ifNoneMatch ? { 'If-None-Match': '*' } : {}),
  };
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function unescapeXml(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

async function readText(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
