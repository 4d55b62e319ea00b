// Retries through a fault-injecting proxy between the client and MinIO / Azurite: 503 answers,
// connections cut mid-upload and mid-download, hung requests and delays. Auth errors must fail
// on the first attempt, and a cut connection must never leave a partial object behind.
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/backup/errors.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { RetryNotice } from '../../src/storage/retry.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { FaultProxy, type RequestHead } from '../setup/fault-proxy.ts';
import { backendFixture, patternBytes, rawS3, readAll, sha256, testServers, type BackendFixture } from './helpers.ts';

const MiB = 1024 * 1024;
const remoteBackends = ['s3', 'minio', 'azure'] as const;
const isUpload = (r: RequestHead): boolean => r.method === 'PUT' && Number(r.headers['content-length'] ?? 0) > 0;
const isDownload = (r: RequestHead): boolean => r.method === 'GET' && !r.path.includes('list-type') && !r.path.includes('comp=list');

describe.each(remoteBackends)('faults and retries: %s', (backend) => {
  let proxy: FaultProxy;
  const opened: Storage[] = [];
  const fixtures: BackendFixture[] = [];

  beforeAll(async () => {
    const servers = testServers();
    const target = backend === 'azure' ? servers.azure : servers.s3;
    proxy = await FaultProxy.start({ host: target.host, port: target.port });
  });

  afterEach(async () => {
    proxy.setPlan({});
    proxy.resetStats();
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    await proxy?.close();
    await Promise.all(fixtures.map((f) => f.cleanup()));
  });

  async function open(performance: Record<string, unknown> = {}, mutate?: (f: BackendFixture) => void): Promise<{ storage: Storage; retries: RetryNotice[]; fixture: BackendFixture }> {
    const fixture = await backendFixture(backend, { endpoint: proxy.endpoint, performance: { chunk_size: '5MiB', ...performance } });
    fixtures.push(fixture);
    mutate?.(fixture);
    const retries: RetryNotice[] = [];
    const storage = await openStorage(fixture.repository, fixture.config, { onRetry: (n) => retries.push(n) });
    opened.push(storage);
    return { storage, retries, fixture };
  }

  it('retries puts and gets answered 503 and succeeds', async () => {
    const { storage, retries } = await open();
    proxy.setPlan({ unavailable: { count: 2, match: isUpload } });
    const bytes = patternBytes(200_000, 1);
    await storage.put('data/aa/one', bytes);
    expect(proxy.stats.injected.unavailable).toBe(2);
    expect(retries.map((r) => r.error.failure)).toEqual(['transient', 'transient']);

    proxy.setPlan({ unavailable: { count: 2, match: isDownload } });
    expect(sha256(await storage.get('data/aa/one'))).toBe(sha256(bytes));
    expect(proxy.stats.injected.unavailable).toBe(4);
    expect(retries).toHaveLength(4);
  });

  it('retries parts of a multipart upload cut mid-body and stores the exact bytes', async () => {
    const { storage, retries } = await open();
    proxy.setPlan({ dropUpload: { count: 2, afterBytes: 1 * MiB, match: (r) => isUpload(r) && Number(r.headers['content-length']) > 2 * MiB } });
    const bytes = patternBytes(12 * MiB, 2);
    await storage.put('data/bb/large', bytes);
    expect(proxy.stats.injected.dropUpload).toBe(2);
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(sha256(await storage.get('data/bb/large'))).toBe(sha256(bytes));
  });

  it('retries a download cut mid-body, and resumes a streamed read where it broke', async () => {
    const { storage } = await open();
    const bytes = patternBytes(6 * MiB, 3);
    await storage.put('data/cc/pack', bytes);
    proxy.setPlan({ dropDownload: { count: 1, afterBytes: 300_000, match: isDownload } });
    expect(sha256(await storage.get('data/cc/pack'))).toBe(sha256(bytes));
    expect(proxy.stats.injected.dropDownload).toBe(1);

    proxy.setPlan({ dropDownload: { count: 2, afterBytes: 2 * MiB, match: isDownload } });
    const before = proxy.stats.bytesDown;
    expect(sha256(await readAll(await storage.getStream('data/cc/pack')))).toBe(sha256(bytes));
    expect(proxy.stats.injected.dropDownload).toBe(3);
    // Resumed from the break, not restarted: well under two full copies went over the wire.
    expect(proxy.stats.bytesDown - before).toBeLessThan(bytes.byteLength * 1.5);
  });

  it('times out a request that never gets an answer and retries it', async () => {
    const { storage, retries } = await open({ timeout: '1s' });
    proxy.setPlan({ hang: { count: 1, match: isUpload }, delay: { count: 2, ms: 300, match: isUpload } });
    const started = Date.now();
    await storage.put('snapshots/s1', Buffer.from('snapshot'));
    await storage.put('snapshots/s2', Buffer.from('snapshot 2'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(proxy.stats.injected).toMatchObject({ hang: 1, delay: 2 });
    expect(retries.map((r) => r.error.failure)).toEqual(['transient']);
    expect((await storage.get('snapshots/s1')).toString()).toBe('snapshot');
  });

  it('fails fast on wrong credentials, without retries, naming backend and bucket', async () => {
    const { storage, retries, fixture } = await open({ retry_attempts: 5 }, (f) => {
      const s = f.config.storage ?? {};
      if (s.s3) s.s3.secret_access_key = 'wrong-secret';
      if (s.minio) s.minio.secret_key = 'wrong-secret';
      if (s.azure) s.azure.account_key = Buffer.from('wrong key of the right shape').toString('base64');
    });
    const started = Date.now();
    const err = await storage.put('config', Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).kind).toBe('AuthenticationFailed');
    expect((err as BackupError).exitCode).toBe(13);
    const container = /azure:([^:]+):/.exec(fixture.repository)?.[1] ?? new URL(fixture.repository.slice(backend.length + 1)).pathname.split('/')[1];
    expect((err as BackupError).message).toContain(backend);
    expect((err as BackupError).message).toContain(`"${container}"`);
    expect((err as BackupError).message).toContain(proxy.endpoint);
    expect(proxy.stats.byMethod.PUT).toBe(1);
    expect(retries).toHaveLength(0);
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(storage.stat('config')).rejects.toMatchObject({ kind: 'AuthenticationFailed' });
    expect(proxy.stats.byMethod.HEAD).toBe(1);
  });

  it('never leaves a partial object when a connection is cut and retries are exhausted', async () => {
    const { storage, fixture } = await open({ retry_attempts: 0 });
    proxy.setPlan({ dropUpload: { count: 1, afterBytes: 256 * 1024, match: isUpload } });
    await expect(storage.put('data/dd/single', patternBytes(1 * MiB, 4))).rejects.toMatchObject({ kind: 'StorageError' });
    expect(await storage.stat('data/dd/single')).toBeNull();

    // The second part of a three-part upload is cut: the upload is abandoned, nothing appears.
    let puts = 0;
    proxy.setPlan({ dropUpload: { count: 1, afterBytes: 1 * MiB, match: (r) => isUpload(r) && ++puts === 2 } });
    await expect(storage.put('data/dd/multi', patternBytes(12 * MiB, 5))).rejects.toMatchObject({ kind: 'StorageError' });
    expect(proxy.stats.injected.dropUpload).toBe(2);
    expect(await storage.stat('data/dd/multi')).toBeNull();
    if (backend !== 'azure') {
      // The multipart upload was aborted, so no parts linger in the bucket.
      const bucket = new URL(fixture.repository.slice(backend.length + 1)).pathname.split('/')[1];
      const client = rawS3(testServers());
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      client.destroy();
      expect(uploads.Uploads ?? []).toEqual([]);
    }
  });
});
