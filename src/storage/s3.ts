// S3 (AWS and compatible servers) through @aws-sdk/client-s3. The SDK's own retries are off:
// retries happen per request in RemoteStorage, where every attempt re-sends a part from memory.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { partReadable } from './body.ts';
import { httpFailure, networkFailure, type FailureFacts } from './errors.ts';
import type { Agents } from './http-agent.ts';
import { RemoteStorage, type ListPage, type MultipartUpload, type OpenedRead, type RemoteObject, type TransferSettings } from './remote-storage.ts';
import type { PutOptions, PutResult } from './storage.ts';

export interface S3Settings {
  /** Custom endpoint (MinIO, Ceph, ...); undefined for AWS. */
  endpoint: string | undefined;
  bucket: string;
  prefix: string;
  region: string;
  pathStyle: boolean;
  /** Static credentials from the config; undefined = the SDK's default chain (env, profile files, SSO, IMDS). */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  profile: string | undefined;
  serverSideEncryption: 'AES256' | 'aws:kms' | undefined;
  kmsKeyId: string | undefined;
  agents: Agents;
  timeoutMs: number;
}

const ignore = (): void => undefined;
const quietLogger = { trace: ignore, debug: ignore, info: ignore, warn: ignore, error: ignore };

interface SdkError {
  name?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

export class S3Storage extends RemoteStorage {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(location: string, private readonly settings: S3Settings, transfer: TransferSettings) {
    const endpoint = settings.endpoint ?? `https://s3.${settings.region}.amazonaws.com`;
    super(location, { kind: 's3', endpoint, container: settings.bucket }, settings.prefix, transfer);
    this.bucket = settings.bucket;
    // The SDK warns on every construction under Node 20; bolt-agent supports Node 20 on purpose.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client({
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      region: settings.region,
      forcePathStyle: settings.pathStyle,
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
      ...(settings.profile ? { profile: settings.profile } : {}),
      maxAttempts: 1,
      // With its default logger the SDK prints to the console when a streamed request fails;
      // failures reach the user once, as a classified error, from RemoteStorage.
      logger: quietLogger,
      // Checksums only where S3 requires them: many S3-compatible servers reject the
      // aws-chunked trailers the SDK would otherwise add to streamed bodies.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        httpAgent: settings.agents.http,
        httpsAgent: settings.agents.https,
        connectionTimeout: settings.timeoutMs,
        requestTimeout: settings.timeoutMs,
      },
    });
  }

  protected classify(err: unknown): FailureFacts {
    const e = err as SdkError;
    const status = e.$metadata?.httpStatusCode;
    const message = e.message ?? String(err);
    if (status === undefined) return networkFailure(err) ?? { failure: 'fatal', reason: message, cause: err };
    const code = e.Code ?? (e.name && e.name !== 'Unknown' ? e.name : undefined);
    return httpFailure(status, code, message, err);
  }

  private encryption(): { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string } {
    const { serverSideEncryption, kmsKeyId } = this.settings;
    return {
      ...(serverSideEncryption ? { ServerSideEncryption: serverSideEncryption } : {}),
      ...(serverSideEncryption === 'aws:kms' && kmsKeyId ? { SSEKMSKeyId: kmsKeyId } : {}),
    };
  }

  protected async headObject(fullKey: string): Promise<RemoteObject | null> {
    const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }));
    return {
      key: fullKey,
      size: out.ContentLength ?? 0,
      ...(out.LastModified ? { modified: out.LastModified } : {}),
      ...(out.ETag ? { etag: out.ETag } : {}),
    };
  }

  protected async listPage(fullPrefix: string, continuation: string | undefined): Promise<ListPage> {
    const out = await this.client.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: fullPrefix, ...(continuation ? { ContinuationToken: continuation } : {}) }),
    );
    return {
      objects: (out.Contents ?? []).flatMap((o) =>
        o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0, ...(o.LastModified ? { modified: o.LastModified } : {}), ...(o.ETag ? { etag: o.ETag } : {}) }],
      ),
      ...(out.IsTruncated && out.NextContinuationToken ? { next: out.NextContinuationToken } : {}),
    };
  }

  protected async openRead(fullKey: string, start: number, end: number | undefined, ifMatch: string | undefined): Promise<OpenedRead> {
    const range = start > 0 || end !== undefined ? `bytes=${start}-${end ?? ''}` : undefined;
    const out = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: fullKey, ...(range ? { Range: range } : {}), ...(ifMatch ? { IfMatch: ifMatch } : {}) }),
    );
    if (!out.Body) throw new Error('the service answered without a body');
    return { body: out.Body as Readable, ...(out.ETag ? { etag: out.ETag } : {}), ...(out.ContentLength !== undefined ? { length: out.ContentLength } : {}) };
  }

  protected async putWhole(fullKey: string, body: Buffer, options: PutOptions): Promise<PutResult> {
    const out = await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: fullKey,
        Body: body.byteLength ? partReadable(body, this.transfer.uploadBucket) : body,
        ContentLength: body.byteLength,
        ...conditions(options),
        ...this.encryption(),
      }),
    );
    return out.ETag ? { etag: out.ETag } : {};
  }

  protected async startMultipart(fullKey: string): Promise<MultipartUpload> {
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, ...this.encryption() }));
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error('CreateMultipartUpload returned no upload id');
    const parts: CompletedPart[] = [];
    const base = { Bucket: this.bucket, Key: fullKey, UploadId: uploadId };
    return {
      uploadPart: async (partNumber, part) => {
        const out = await this.client.send(
          new UploadPartCommand({ ...base, PartNumber: partNumber, Body: partReadable(part, this.transfer.uploadBucket), ContentLength: part.byteLength }),
        );
        parts[partNumber - 1] = { PartNumber: partNumber, ETag: out.ETag };
      },
      complete: async (options) => {
        const out = await this.client.send(new CompleteMultipartUploadCommand({ ...base, MultipartUpload: { Parts: parts }, ...conditions(options) }));
        return out.ETag ? { etag: out.ETag } : {};
      },
      abort: async () => {
        await this.client.send(new AbortMultipartUploadCommand(base));
      },
    };
  }

  protected async deleteObject(fullKey: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: fullKey }));
  }

  async checkContainer(): Promise<void> {
    await this.run('check bucket', undefined, async () => {
      try {
        await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      } catch (err) {
        // HEAD answers carry no error code: a 404 here can only mean the bucket.
        if ((err as SdkError).$metadata?.httpStatusCode === 404) {
          throw Object.assign(new Error('the bucket does not exist'), { Code: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } });
        }
        throw err;
      }
    });
  }

  async createContainer(): Promise<void> {
    await this.run('create bucket', undefined, async () => {
      try {
        await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
      } catch (err) {
        const code = (err as SdkError).name;
        if (code === 'BucketAlreadyOwnedByYou') return;
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function conditions(options: PutOptions): { IfMatch?: string; IfNoneMatch?: string } {
  return {
    ...(options.ifMatch !== undefined ? { IfMatch: options.ifMatch } : {}),
    ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
  };
}
