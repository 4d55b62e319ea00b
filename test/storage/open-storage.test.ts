// openStorage: every repository string form, filled in from storage.s3 / storage.minio /
// storage.azure and the standard environment variables and profile files.
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { BlobServiceClient, ContainerSASPermissions } from '@azure/storage-blob';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { BackupConfig } from '../../src/config/schema.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { createBucket, createContainer, listKeys, rawS3, testServers, uniqueName } from './helpers.ts';

const opened: Storage[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function roundTrip(repository: string, config: BackupConfig, options: Parameters<typeof openStorage>[2] = {}): Promise<Storage> {
  const storage = await openStorage(repository, config, options);
  opened.push(storage);
  await storage.put('keys/k1', Buffer.from('key file'));
  expect((await storage.get('keys/k1')).toString()).toBe('key file');
  expect(await listKeys(storage, 'keys/')).toEqual(['keys/k1']);
  return storage;
}

async function s3Text(bucket: string, key: string): Promise<string> {
  const client = rawS3(testServers());
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await out.Body?.transformToString()) ?? '';
  } finally {
    client.destroy();
  }
}

function withEnv<T>(vars: Record<string, string | undefined>, task: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  return task().finally(() => apply(saved));
}

describe('S3 repository strings', () => {
  it('s3:bucket/prefix takes endpoint and keys from storage.s3, and keys live under the prefix', async () => {
    const { s3 } = testServers();
    const bucket = uniqueName('s3');
    await createBucket(testServers(), bucket);
    const storage = await roundTrip(`s3:${bucket}/my/repo`, {
      storage: { s3: { endpoint: s3.endpoint, access_key_id: s3.accessKey, secret_access_key: s3.secretKey, region: s3.region } },
    });
    expect(storage.location).toBe(`s3:${s3.endpoint}/${bucket}/my/repo`);
    expect(storage.location).not.toContain(s3.secretKey);
    expect(await s3Text(bucket, 'my/repo/keys/k1')).toBe('key file');
  });

  it('restic\'s s3:host:port/bucket form with use_tls = false, and storage.s3.prefix', async () => {
    const { s3 } = testServers();
    const bucket = uniqueName('s3');
    await createBucket(testServers(), bucket);
    await roundTrip(`s3:127.0.0.1:${s3.port}/${bucket}`, {
      storage: { s3: { use_tls: false, access_key_id: s3.accessKey, secret_access_key: s3.secretKey, prefix: '/from-config/' } },
    });
    expect(await s3Text(bucket, 'from-config/keys/k1')).toBe('key file');
  });

  it('takes credentials from the AWS environment variables and from a profile file', async () => {
    const { s3 } = testServers();
    const bucket = uniqueName('s3');
    await createBucket(testServers(), bucket);
    await withEnv({ AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey, AWS_PROFILE: undefined }, () =>
      roundTrip(`s3:${s3.endpoint}/${bucket}/env`, {}),
    );
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-aws-'));
    dirs.push(dir);
    const credentials = path.join(dir, 'credentials');
    await writeFile(credentials, `[bolt-test]\naws_access_key_id = ${s3.accessKey}\naws_secret_access_key = ${s3.secretKey}\n`);
    await withEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: path.join(dir, 'none') }, () =>
      roundTrip(`s3:${s3.endpoint}/${bucket}/profile`, { storage: { s3: { profile: 'bolt-test' } } }),
    );
  });

  it('asks for server-side encryption when configured', async () => {
    const { s3 } = testServers();
    const bucket = uniqueName('s3');
    await createBucket(testServers(), bucket);
    const storage = await roundTrip(`s3:${s3.endpoint}/${bucket}/sse`, {
      storage: { s3: { access_key_id: s3.accessKey, secret_access_key: s3.secretKey, server_side_encryption: 'AES256' } },
      performance: { chunk_size: '5MiB' },
    });
    await storage.put('data/aa/big', Buffer.alloc(6 * 1024 * 1024, 1));
    const client = rawS3(testServers());
    try {
      for (const key of ['sse/keys/k1', 'sse/data/aa/big']) {
        expect((await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ServerSideEncryption).toBe('AES256');
      }
    } finally {
      client.destroy();
    }
  });

  it('creates a missing bucket only when asked to (repository init)', async () => {
    const { s3 } = testServers();
    const bucket = uniqueName('s3');
    const config: BackupConfig = { storage: { s3: { access_key_id: s3.accessKey, secret_access_key: s3.secretKey } } };
    const plain = await openStorage(`s3:${s3.endpoint}/${bucket}`, config);
    opened.push(plain);
    await expect(plain.put('config', Buffer.from('x'))).rejects.toMatchObject({ kind: 'RepositoryNotFound' });
    await expect(listKeys(plain, '')).rejects.toMatchObject({ kind: 'RepositoryNotFound' });
    await roundTrip(`s3:${s3.endpoint}/${bucket}`, config, { create: true });
    // Creating again is harmless.
    await roundTrip(`s3:${s3.endpoint}/${bucket}`, config, { create: true });
  });

  it('refuses half a key pair', async () => {
    await expect(openStorage('s3:bucket', { storage: { s3: { access_key_id: 'only-this' } } })).rejects.toMatchObject({ kind: 'InvalidConfig' });
  });
});

describe('MinIO repository strings', () => {
  it('minio:bucket/prefix with storage.minio endpoint host:port and use_tls = false', async () => {
    const { s3 } = testServers();
    const bucket = uniqueName('minio');
    const storage = await roundTrip(`minio:${bucket}/repo`, {
      storage: { minio: { endpoint: `127.0.0.1:${s3.port}`, use_tls: false, access_key: s3.accessKey, secret_key: s3.secretKey } },
    }, { create: true });
    expect(storage.location).toBe(`minio:http://127.0.0.1:${s3.port}/${bucket}/repo`);
    expect(await s3Text(bucket, 'repo/keys/k1')).toBe('key file');
  });

  it('takes keys from the environment and needs an endpoint', async () => {
    const { s3 } = testServers();
    const bucket = uniqueName('minio');
    await createBucket(testServers(), bucket);
    await roundTrip(`minio:${s3.endpoint}/${bucket}`, {}, { env: { MINIO_ACCESS_KEY: s3.accessKey, MINIO_SECRET_KEY: s3.secretKey } });
    await expect(openStorage('minio:bucket/x', {})).rejects.toMatchObject({ kind: 'InvalidConfig' });
  });
});

describe('Azure repository strings', () => {
  it('azure:container:/prefix with a connection string', async () => {
    const { azure } = testServers();
    const container = uniqueName('azure');
    await createContainer(testServers(), container);
    const storage = await roundTrip(`azure:${container}:/restic/repo`, { storage: { azure: { connection_string: azure.connectionString } } });
    expect(storage.location).toBe(`azure:${container}:/restic/repo`);
    const blob = BlobServiceClient.fromConnectionString(azure.connectionString).getContainerClient(container).getBlobClient('restic/repo/keys/k1');
    expect((await blob.downloadToBuffer()).toString()).toBe('key file');
  });

  it('azure:account/container/prefix with endpoint and restic\'s AZURE_ACCOUNT_KEY, creating the container', async () => {
    const { azure } = testServers();
    const container = uniqueName('azure');
    await roundTrip(`azure:${azure.accountName}/${container}/p`, { storage: { azure: { endpoint: azure.endpoint } } }, {
      env: { AZURE_ACCOUNT_KEY: azure.accountKey },
      create: true,
    });
  });

  it('a SAS token limited to one container', async () => {
    const { azure } = testServers();
    const container = uniqueName('azure');
    await createContainer(testServers(), container);
    const client = BlobServiceClient.fromConnectionString(azure.connectionString).getContainerClient(container);
    const sasUrl = await client.generateSasUrl({ permissions: ContainerSASPermissions.parse('racwdl'), expiresOn: new Date(Date.now() + 3600_000) });
    const sas = new URL(sasUrl).search.slice(1);
    await roundTrip(`azure:${container}:/sas`, { storage: { azure: { endpoint: azure.endpoint, sas_token: sas } } });
  });

  it('needs an account or endpoint', async () => {
    await expect(openStorage('azure:container:/x', {}, { env: {} })).rejects.toMatchObject({ kind: 'InvalidConfig' });
  });
});

describe('local repository strings and performance settings', () => {
  it('local:relative/path resolves against baseDir, and create makes the folder', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-open-'));
    dirs.push(dir);
    const storage = await openStorage('local:rel/repo', {}, { baseDir: dir, create: true });
    opened.push(storage);
    expect(storage.location).toBe(path.join(dir, 'rel/repo'));
    expect((await stat(path.join(dir, 'rel/repo'))).isDirectory()).toBe(true);
  });

  it('raises a chunk_size below 5 MiB for object stores, with a warning', async () => {
    const { s3 } = testServers();
    const bucket = uniqueName('s3');
    await createBucket(testServers(), bucket);
    const warnings: string[] = [];
    const storage = await roundTrip(`s3:${s3.endpoint}/${bucket}`, {
      storage: { s3: { access_key_id: s3.accessKey, secret_access_key: s3.secretKey } },
      performance: { chunk_size: '1MiB' },
    }, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([expect.stringContaining('5 MiB')]);
    // 6 MiB is one part at 5 MiB + 1 MiB: a multipart upload S3 accepts.
    await storage.put('data/aa/six', Buffer.alloc(6 * 1024 * 1024, 2));
    expect((await storage.stat('data/aa/six'))?.size).toBe(6 * 1024 * 1024);
  });

  it('turns a bad repository string into InvalidConfig', async () => {
    await expect(openStorage('rclone:remote:path', {})).rejects.toMatchObject({ kind: 'InvalidConfig' });
    await expect(openStorage('s3:B_ad', {})).rejects.toMatchObject({ kind: 'InvalidConfig' });
  });
});
