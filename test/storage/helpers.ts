// Shared by the storage suites: fresh buckets/containers/folders on the run's servers and the
// repository string + config that open each backend.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import type { BackupConfig } from '../../src/config/schema.ts';
import type { Storage } from '../../src/storage/storage.ts';
import type { TestServers } from '../../scripts/test-servers.mjs';

export type BackendName = 'local' | 's3' | 'minio' | 'azure';
export const BACKENDS: readonly BackendName[] = ['local', 's3', 'minio', 'azure'];

export function testServers(): TestServers {
  return inject('testServers');
}

/** A name that is valid as bucket and container and unique across parallel runs. */
export function uniqueName(stem: string): string {
  return `${stem}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export function rawS3(servers: TestServers): S3Client {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint: servers.s3.endpoint,
    region: servers.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: servers.s3.accessKey, secretAccessKey: servers.s3.secretKey },
  });
}

export async function createBucket(servers: TestServers, name: string): Promise<void> {
  const client = rawS3(servers);
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
}

export async function createContainer(servers: TestServers, name: string): Promise<void> {
  await BlobServiceClient.fromConnectionString(servers.azure.connectionString).getContainerClient(name).create();
}

export interface BackendFixture {
  repository: string;
  config: BackupConfig;
  /** Removes what the fixture created locally (buckets and containers die with the servers). */
  cleanup(): Promise<void>;
}

export interface FixtureOptions {
  /** Endpoint to use instead of the server's own (a fault proxy in front of it). */
  endpoint?: string;
  performance?: BackupConfig['performance'];
  security?: BackupConfig['security'];
  /** Leave the bucket/container uncreated. */
  noContainer?: boolean;
  /** Repository prefix inside the bucket/container. */
  prefix?: string;
}

/** A fresh, empty repository location on `backend` with a config that reaches it. */
export async function backendFixture(backend: BackendName, options: FixtureOptions = {}): Promise<BackendFixture> {
  const servers = testServers();
  const performance = { retry_attempts: 3, ...options.performance };
  const prefix = options.prefix ?? 'repo';
  const base: BackupConfig = { performance, ...(options.security ? { security: options.security } : {}) };
  switch (backend) {
    case 'local': {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-storage-'));
      return { repository: path.join(dir, prefix), config: base, cleanup: () => rm(dir, { recursive: true, force: true }) };
    }
    case 's3':
    case 'minio': {
      const bucket = uniqueName(backend);
      if (!options.noContainer) await createBucket(servers, bucket);
      const endpoint = options.endpoint ?? servers.s3.endpoint;
      const storage: BackupConfig['storage'] =
        backend === 's3'
          ? { s3: { access_key_id: servers.s3.accessKey, secret_access_key: servers.s3.secretKey, region: servers.s3.region } }
          : { minio: { access_key: servers.s3.accessKey, secret_key: servers.s3.secretKey } };
      return { repository: `${backend}:${endpoint}/${bucket}/${prefix}`, config: { ...base, storage }, cleanup: async () => {} };
    }
    case 'azure': {
      const container = uniqueName('azure');
      if (!options.noContainer) await createContainer(servers, container);
      const endpoint = options.endpoint ? `${options.endpoint}/${servers.azure.accountName}` : servers.azure.endpoint;
      return {
        repository: `azure:${container}:/${prefix}`,
        config: { ...base, storage: { azure: { account_name: servers.azure.accountName, account_key: servers.azure.accountKey, endpoint } } },
        cleanup: async () => {},
      };
    }
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Deterministic pseudo-random bytes (xorshift32): every offset differs, cheap to make in bulk. */
export function patternBytes(size: number, seed = 1): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}

/** A lazily generated stream body: nothing is produced before the put reads it. */
export function lazyStream(size: number, seed: number, chunk = 256 * 1024): { stream: AsyncIterable<Uint8Array>; size: number } {
  return {
    size,
    stream: (async function* () {
      const block = patternBytes(chunk, seed);
      for (let offset = 0; offset < size; offset += chunk) yield block.subarray(0, Math.min(chunk, size - offset));
    })(),
  };
}

export async function listKeys(storage: Storage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of storage.list(prefix)) keys.push(info.key);
  return keys.sort();
}

export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
