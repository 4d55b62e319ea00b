// security.verify_certificates and security.ca_bundle, against MinIO and Azurite behind a
// TLS-terminating proxy with a certificate of our own (not in the system's trust store).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/backup/errors.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import { FaultProxy } from '../setup/fault-proxy.ts';
import { backendFixture, testServers, type BackendFixture } from './helpers.ts';

const run = promisify(execFile);
let dir: string;
let caBundle: string;
let tlsOptions: { key: Buffer; cert: Buffer };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-tls-'));
  caBundle = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', key, '-out', caBundle, '-subj', '/CN=bolt-agent test server',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:TRUE',
  ]);
  tlsOptions = { key: await readFile(key), cert: await readFile(caBundle) };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(['s3', 'minio', 'azure'] as const)('TLS: %s', (backend) => {
  let proxy: FaultProxy;
  const fixtures: BackendFixture[] = [];

  beforeAll(async () => {
    const servers = testServers();
    const target = backend === 'azure' ? servers.azure : servers.s3;
    proxy = await FaultProxy.start({ host: target.host, port: target.port }, {}, tlsOptions);
  });

  afterAll(async () => {
    await proxy?.close();
    await Promise.all(fixtures.map((f) => f.cleanup()));
  });

  async function fixture(security: Record<string, unknown>): Promise<BackendFixture> {
    const f = await backendFixture(backend, { endpoint: proxy.endpoint, security });
    fixtures.push(f);
    return f;
  }

  it('verifies certificates by default and refuses an unknown CA without retrying', async () => {
    const f = await fixture({});
    const warnings: string[] = [];
    let retries = 0;
    const storage = await openStorage(f.repository, f.config, { onWarning: (w) => warnings.push(w), onRetry: () => retries++ });
    const err = await storage.put('config', Buffer.from('x')).catch((e: unknown) => e);
    await storage.close();
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).kind).toBe('StorageError');
    expect((err as BackupError).message).toMatch(/certificate/i);
    expect((err as BackupError).hint).toContain('ca_bundle');
    expect(retries).toBe(0);
    expect(warnings).toEqual([]);
  });

  it('trusts a CA from security.ca_bundle', async () => {
    const f = await fixture({ ca_bundle: caBundle });
    const storage = await openStorage(f.repository, f.config);
    await storage.put('config', Buffer.from('over TLS'));
    expect((await storage.get('config')).toString()).toBe('over TLS');
    await storage.close();
  });

  it('connects without verification only when told to, and warns every time', async () => {
    const f = await fixture({ verify_certificates: false });
    const warnings: string[] = [];
    const storage = await openStorage(f.repository, f.config, { onWarning: (w) => warnings.push(w) });
    await storage.put('config', Buffer.from('unverified'));
    expect((await storage.get('config')).toString()).toBe('unverified');
    await storage.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('verification is OFF');
    expect(warnings[0]).toContain(backend);
  });
});

describe('TLS settings', () => {
  it('rejects an unreadable or non-PEM ca_bundle as invalid configuration', async () => {
    const f = await backendFixture('s3', { security: { ca_bundle: path.join(dir, 'missing.pem') } });
    await expect(openStorage(f.repository, f.config)).rejects.toMatchObject({ kind: 'InvalidConfig' });
    const g = await backendFixture('s3', { security: { ca_bundle: path.join(dir, 'key.pem') } });
    await expect(openStorage(g.repository, g.config)).rejects.toMatchObject({ kind: 'InvalidConfig' });
  });

  it('lets storage.s3.verify_certificates override the global setting', async () => {
    const f = await backendFixture('s3', { security: { verify_certificates: false } });
    const s3 = f.config.storage?.s3;
    if (s3) s3.verify_certificates = true;
    const warnings: string[] = [];
    const storage = await openStorage(f.repository, f.config, { onWarning: (w) => warnings.push(w) });
    await storage.close();
    expect(warnings).toEqual([]);
  });
});
