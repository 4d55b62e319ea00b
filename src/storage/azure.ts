// Azure Blob Storage (and Azurite) through @azure/storage-blob. Objects are block blobs; large ones
// are staged block by block and committed with one block list, which is atomic for readers.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import {
  AnonymousCredential,
  BlobServiceClient,
  newPipeline,
  RestError,
  StorageSharedKeyCredential,
  type BlobRequestConditions,
  type ContainerClient,
  type RequestPolicy,
  type RequestPolicyFactory,
  type WebResource,
} from '@azure/storage-blob';
import { partReadable } from './body.ts';
import { httpFailure, networkFailure, type FailureFacts } from './errors.ts';
import { RemoteStorage, type ListPage, type MultipartUpload, type OpenedRead, type RemoteObject, type TransferSettings } from './remote-storage.ts';
import type { PutOptions, PutResult } from './storage.ts';

export type AzureCredential =
  | { kind: 'shared-key'; accountName: string; accountKey: string }
  | { kind: 'sas'; token: string }
  | { kind: 'anonymous' };

export interface AzureSettings {
  /** Blob service URL: https://<account>.blob.core.windows.net, or http://127.0.0.1:10000/<account> for Azurite. */
  serviceUrl: string;
  container: string;
  prefix: string;
  credential: AzureCredential;
  agent: http.Agent;
}

/** Hands every request the agent with our TLS settings and idle timeout. */
function agentPolicy(agent: http.Agent): RequestPolicyFactory {
  return {
    create: (next: RequestPolicy): RequestPolicy => ({
      sendRequest: (request: WebResource) => {
        request.agent = agent;
        return next.sendRequest(request);
      },
    }),
  };
}

export class AzureStorage extends RemoteStorage {
  readonly kind = 'azure' as const;
  private readonly container: ContainerClient;

  constructor(location: string, private readonly settings: AzureSettings, transfer: TransferSettings) {
    super(location, { kind: 'azure', endpoint: settings.serviceUrl, container: settings.container }, settings.prefix, transfer);
    const { credential } = settings;
    const pipeline = newPipeline(
      credential.kind === 'shared-key' ? new StorageSharedKeyCredential(credential.accountName, credential.accountKey) : new AnonymousCredential(),
      { retryOptions: { maxTries: 1 } },
    );
    pipeline.factories.push(agentPolicy(settings.agent));
    const url = credential.kind === 'sas' ? `${settings.serviceUrl}?${credential.token.replace(/^\?/, '')}` : settings.serviceUrl;
    this.container = new BlobServiceClient(url, pipeline).getContainerClient(settings.container);
  }

  protected classify(err: unknown): FailureFacts {
    if (err instanceof RestError && err.statusCode !== undefined) {
      // If-None-Match: * on an existing blob is answered 409, not 412.
      const status = err.code === 'BlobAlreadyExists' ? 412 : err.statusCode;
      return httpFailure(status, err.code, err.message.split('\n')[0] ?? err.message, err);
    }
    return networkFailure(err) ?? { failure: 'fatal', reason: err instanceof Error ? err.message : String(err), cause: err };
  }

  protected async headObject(fullKey: string): Promise<RemoteObject | null> {
    const props = await this.container.getBlockBlobClient(fullKey).getProperties();
    return {
      key: fullKey,
      size: props.contentLength ?? 0,
      ...(props.lastModified ? { modified: props.lastModified } : {}),
      ...(props.etag ? { etag: quoted(props.etag) } : {}),
    };
  }

  protected async listPage(fullPrefix: string, continuation: string | undefined): Promise<ListPage> {
    const pages = this.container.listBlobsFlat({ prefix: fullPrefix }).byPage({ maxPageSize: 1000, ...(continuation ? { continuationToken: continuation } : {}) });
    const page = await pages.next();
    if (page.done) return { objects: [] };
    return {
      objects: page.value.segment.blobItems.map((b) => ({
        key: b.name,
        size: b.properties.contentLength ?? 0,
        modified: b.properties.lastModified,
        ...(b.properties.etag ? { etag: quoted(b.properties.etag) } : {}),
      })),
      ...(page.value.continuationToken ? { next: page.value.continuationToken } : {}),
    };
  }

  protected async openRead(fullKey: string, start: number, end: number | undefined, ifMatch: string | undefined): Promise<OpenedRead> {
    const count = end === undefined ? undefined : end - start + 1;
    // maxRetryRequests 0: the SDK would otherwise resume broken downloads itself, outside our retry policy.
    const res = await this.container.getBlockBlobClient(fullKey).download(start, count, { maxRetryRequests: 0, ...(ifMatch ? { conditions: { ifMatch } } : {}) });
    if (!res.readableStreamBody) throw new Error('the service answered without a body');
    return {
      body: res.readableStreamBody as AsyncIterable<Uint8Array>,
      ...(res.etag ? { etag: quoted(res.etag) } : {}),
      ...(res.contentLength !== undefined ? { length: res.contentLength } : {}),
    };
  }

  protected async putWhole(fullKey: string, body: Buffer, options: PutOptions): Promise<PutResult> {
    const res = await this.container
      .getBlockBlobClient(fullKey)
      .upload(() => partReadable(body, this.transfer.uploadBucket), body.byteLength, { conditions: conditions(options) });
    return res.etag ? { etag: quoted(res.etag) } : {};
  }

  protected async startMultipart(fullKey: string): Promise<MultipartUpload> {
    const blob = this.container.getBlockBlobClient(fullKey);
    // Block ids must have one length within a blob; the random part keeps two writers' blocks apart.
    const tag = randomBytes(12).toString('hex');
    const ids: string[] = [];
    return {
      uploadPart: async (partNumber, part) => {
        const id = Buffer.from(`${tag}-${String(partNumber).padStart(6, '0')}`).toString('base64');
        await blob.stageBlock(id, () => partReadable(part, this.transfer.uploadBucket), part.byteLength);
        ids[partNumber - 1] = id;
      },
      complete: async (options) => {
        const res = await blob.commitBlockList(ids, { conditions: conditions(options) });
        return res.etag ? { etag: quoted(res.etag) } : {};
      },
      // Uncommitted blocks are discarded by the service (after a week at the latest); there is no call to drop them.
      abort: async () => undefined,
    };
  }

  protected async deleteObject(fullKey: string): Promise<void> {
    await this.container.getBlockBlobClient(fullKey).delete();
  }

  async checkContainer(): Promise<void> {
    await this.run('check container', undefined, async () => {
      try {
        await this.container.getProperties();
      } catch (err) {
        // HEAD answers carry no error code: a 404 here can only mean the container.
        if (err instanceof RestError && err.statusCode === 404) throw new RestError('the container does not exist', { statusCode: 404, code: 'ContainerNotFound' });
        throw err;
      }
    });
  }

  async createContainer(): Promise<void> {
    await this.run('create container', undefined, () => this.container.createIfNotExists());
  }

  async close(): Promise<void> {
    this.settings.agent.destroy();
  }
}

function quoted(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

function conditions(options: PutOptions): BlobRequestConditions {
  return {
    ...(options.ifMatch !== undefined ? { ifMatch: options.ifMatch } : {}),
    ...(options.ifNoneMatch ? { ifNoneMatch: '*' } : {}),
  };
}
