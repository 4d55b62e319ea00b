// test-connection: one result code per failure class, with the steps and their timings.
import { afterAll, describe, expect, it } from 'vitest';
import { testConnection } from '../../src/storage/test-connection.ts';
import { FaultProxy } from '../setup/fault-proxy.ts';
import { freePort } from '../../scripts/test-servers.mjs';
import { backendFixture, listKeys, testServers, type BackendFixture } from './helpers.ts';
import { openStorage } from '../../src/storage/open-storage.ts';

const fixtures: BackendFixture[] = [];
afterAll(async () => {
  await Promise.all(fixtures.map((f) => f.cleanup()));
});

async function fixture(...args: Parameters<typeof backendFixture>): Promise<BackendFixture> {
  const f = await backendFixture(...args);
  fixtures.push(f);
  return f;
}

describe.each(['s3', 'minio', 'azure'] as const)('test-connection: %s', (backend) => {
  it('succeeds against a reachable, existing, writable bucket and cleans up its probe', async () => {
    const f = await fixture(backend);
    const result = await testConnection(f.repository, f.config);
    expect(result).toMatchObject({ ok: true, outcome: 'ok', exitCode: 0, backend });
    expect(result.steps.map((s) => s.step)).toEqual(['configure', 'resolve', 'connect', 'authenticate', 'write', 'read', 'delete', 'latency', 'repository']);
    expect(result.steps.every((s) => s.ok && s.ms >= 0)).toBe(true);
    expect(result.latencyMs).toBeGreaterThan(0);
    expect(result.steps.at(-1)?.detail).toContain('no repository here yet');
    const storage = await openStorage(f.repository, f.config);
    expect(await listKeys(storage, '')).toEqual([]);
    await storage.close();
  });

  it('reports an unreachable endpoint as StorageUnreachable (exit 14)', async () => {
    const port = await freePort();
    const f = await fixture(backend, { endpoint: `http://127.0.0.1:${port}`, noContainer: true });
    const result = await testConnection(f.repository, f.config);
    expect(result).toMatchObject({ ok: false, outcome: 'unreachable', exitCode: 14 });
    expect(result.error?.kind).toBe('StorageUnreachable');
    expect(result.steps.at(-1)).toMatchObject({ step: 'connect', ok: false });
    expect(result.error?.message).toContain(`127.0.0.1:${port}`);
  });

  it('reports wrong credentials as AuthenticationFailed (exit 13)', async () => {
    const f = await fixture(backend);
    const storage = f.config.storage ?? {};
    if (storage.s3) storage.s3.access_key_id = 'nobody';
    if (storage.minio) storage.minio.access_key = 'nobody';
    if (storage.azure) storage.azure.account_key = Buffer.from('not the key').toString('base64');
    const result = await testConnection(f.repository, f.config);
    expect(result).toMatchObject({ ok: false, outcome: 'auth', exitCode: 13 });
    expect(result.steps.at(-1)).toMatchObject({ step: 'authenticate', ok: false });
    expect(result.error?.message).toMatch(backend === 'azure' ? /container "azure-/ : new RegExp(`bucket "${backend}-`));
  });

  it('reports a missing bucket or container as RepositoryNotFound (exit 10)', async () => {
    const f = await fixture(backend, { noContainer: true });
    const result = await testConnection(f.repository, f.config);
    expect(result).toMatchObject({ ok: false, outcome: 'not-found', exitCode: 10 });
    expect(result.error?.kind).toBe('RepositoryNotFound');
    expect(result.steps.at(-1)).toMatchObject({ step: 'authenticate', ok: false });
  });

  it('reports a failing write as StorageError (exit 1)', async () => {
    const servers = testServers();
    const target = backend === 'azure' ? servers.azure : servers.s3;
    const proxy = await FaultProxy.start({ host: target.host, port: target.port }, { unavailable: { count: 1, match: (r) => r.method === 'PUT' } });
    try {
      const f = await fixture(backend, { endpoint: proxy.endpoint });
      const result = await testConnection(f.repository, f.config);
      expect(result).toMatchObject({ ok: false, outcome: 'io', exitCode: 1 });
      expect(result.error?.kind).toBe('StorageError');
      expect(result.steps.at(-1)).toMatchObject({ step: 'write', ok: false });
    } finally {
      await proxy.close();
    }
  });
});

describe('test-connection: local', () => {
  it('succeeds for an existing folder and reports a missing one as RepositoryNotFound', async () => {
    const f = await fixture('local');
    const missing = await testConnection(f.repository, f.config);
    expect(missing).toMatchObject({ ok: false, outcome: 'not-found', exitCode: 10, backend: 'local' });
    const storage = await openStorage(f.repository, f.config, { create: true });
    await storage.put('config', Buffer.from('{}'));
    const found = await testConnection(f.repository, f.config);
    expect(found).toMatchObject({ ok: true, exitCode: 0 });
    expect(found.steps.map((s) => s.step)).toEqual(['configure', 'authenticate', 'write', 'read', 'delete', 'latency', 'repository']);
    expect(found.steps.at(-1)?.detail).toContain('config found');
    expect(await listKeys(storage, '')).toEqual(['config']);
  });

  it('reports an invalid repository string as a usage error (exit 2)', async () => {
    const result = await testConnection('sftp:host:/srv/repo', {});
    expect(result).toMatchObject({ ok: false, outcome: 'invalid-config', exitCode: 2 });
    expect(result.error?.message).toContain('sftp');
  });
});
