// The restic format on every storage backend (issue #5 item 6): local, S3 (MinIO server through
// the AWS SDK), the MinIO client path, and Azure Blob (Azurite) — each through the CLI, each
// checked by the real restic 0.14 too; plus a secondary copy and test-connection.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { buildCorpus } from '../helpers/corpus.ts';
import { RESTIC_014, resticOk } from '../helpers/restic.ts';
import { describeTree, diffTrees } from '../helpers/tree-compare.ts';
import { backendFixture, testServers, type BackendName } from '../storage/helpers.ts';
import { runResticOnAzurite } from '../setup/restic-azure.ts';
import type { BackupConfig } from '../../src/config/schema.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-backends-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'backend-password';
const passwordFile = path.join(tmp, 'password');
fs.writeFileSync(passwordFile, PASSWORD);
const corpus = path.join(tmp, 'src');

function writeConfig(name: string, repository: string, config: BackupConfig): string {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, stringify({ ...config, tool: 'restic', repository, password_file: passwordFile, include: { container_volumes: false, bolt_config: false } }));
  return file;
}

function agent(configFile: string, args: string[]) {
  const r = runCli(['--json', '--config', configFile, ...args]);
  return { ...r, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
}

function ok(configFile: string, args: string[]): Record<string, unknown> {
  const r = agent(configFile, args);
  if (r.code !== 0) throw new Error(`bolt-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.json();
}

beforeAll(() => {
  buildCorpus(corpus, { bigFileBytes: 18 * 1024 * 1024 });
});

/** restic 0.14's own view of a repository on this backend. */
async function resticCheck(backend: BackendName, repository: string): Promise<string> {
  const servers = testServers();
  if (backend === 'local') return resticOk(RESTIC_014, repository, PASSWORD, ['check', '--read-data']);
  if (backend === 'azure') {
    const r = await runResticOnAzurite(servers.azure, ['-r', repository, 'check', '--read-data'], { RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: path.join(tmp, 'rc') });
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout;
  }
  // restic addresses the same bucket with its s3: form
  const resticRepo = repository.replace(/^minio:/, 's3:');
  return resticOk(RESTIC_014, resticRepo, PASSWORD, ['check', '--read-data'], { AWS_ACCESS_KEY_ID: servers.s3.accessKey, AWS_SECRET_ACCESS_KEY: servers.s3.secretKey });
}

describe.each<BackendName>(['local', 's3', 'minio', 'azure'])('restic format on %s', (backend) => {
  let configFile = '';
  let repository = '';

  beforeAll(async () => {
    const fixture = await backendFixture(backend);
    repository = fixture.repository;
    configFile = writeConfig(backend, repository, fixture.config);
  });

  it('init, backup, list, restore and check work, and restic checks the repository clean', async () => {
    ok(configFile, ['backup', 'init', repository]);
    const created = ok(configFile, ['backup', 'create', '--include', corpus, '--name', `on-${backend}`]) as { problems: unknown[] };
    expect(created.problems).toEqual([]);
    // An unchanged re-run: its directories are compared with the parent's trees (which the core
    // reads itself from local packs and gets through JavaScript from remote ones); it stores no
    // data, and it is the snapshot restored below. (Only the trees of the directories leading to
    // the corpus may change: the upload spool is created and removed in the same tmp directory.)
    const again = ok(configFile, ['backup', 'create', '--include', corpus]) as { summary: { files_unmodified: number; data_blobs: number; dirs_unmodified: number } };
    expect(again.summary.data_blobs).toBe(0);
    expect(again.summary.dirs_unmodified).toBeGreaterThan(2);
    expect(again.summary.files_unmodified).toBeGreaterThan(10);
    const list = ok(configFile, ['backup', 'list']) as unknown as { name: string | null }[];
    expect(list.map((b) => b.name)).toEqual([`on-${backend}`, null]);
    const target = path.join(tmp, `restore-${backend}`);
    const restored = ok(configFile, ['backup', 'restore', 'latest', '--target', target]) as { problems: unknown[] };
    expect(restored.problems).toEqual([]);
    expect(diffTrees(describeTree(corpus), describeTree(path.join(target, corpus)))).toEqual([]);
    expect((ok(configFile, ['backup', 'check', '--read-data']) as { ok: boolean }).ok).toBe(true);
    expect(await resticCheck(backend, repository)).toContain('no errors were found');
  });

  it('test-connection succeeds on the repository', () => {
    const r = agent(configFile, ['backup', 'test-connection', '-v']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()['ok']).toBe(true);
  });
});

describe('secondary storage', () => {
  it('copies each backup to the secondary, which check --secondary verifies and restic reads', async () => {
    const primary = await backendFixture('local');
    const secondary = await backendFixture('minio');
    const configFile = writeConfig('secondary', primary.repository, { ...secondary.config, storage: { ...secondary.config.storage, secondary: secondary.repository } });
    ok(configFile, ['backup', 'init', primary.repository]);
    const created = ok(configFile, ['backup', 'create', '--include', corpus]) as { secondary: { copied: number } };
    expect(created.secondary.copied).toBeGreaterThan(3);
    const check = ok(configFile, ['backup', 'check', '--secondary', '--read-data']) as { ok: boolean; missing: string[] };
    expect(check.missing).toEqual([]);
    expect(check.ok).toBe(true);
    expect(await resticCheck('minio', secondary.repository)).toContain('no errors were found');
    const next = ok(configFile, ['backup', 'create', '--include', corpus]) as { secondary: { copied: number; upToDate: number } };
    expect(next.secondary.copied).toBeGreaterThanOrEqual(1); // the new snapshot (and its index)
    expect(next.secondary.upToDate).toBeGreaterThan(3);
  });
});

describe('test-connection failures', () => {
  it('a missing bucket is exit 10, an unreachable endpoint exit 14, wrong credentials exit 13', async () => {
    const missing = await backendFixture('s3', { noContainer: true });
    expect(agent(writeConfig('missing', missing.repository, missing.config), ['backup', 'test-connection']).code).toBe(10);
    const fixture = await backendFixture('s3');
    const unreachable = fixture.repository.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9');
    expect(agent(writeConfig('unreachable', unreachable, fixture.config), ['backup', 'test-connection']).code).toBe(14);
    const wrong: BackupConfig = { ...fixture.config, storage: { s3: { ...fixture.config.storage?.s3, secret_access_key: 'wrong-secret' } } };
    const r = agent(writeConfig('wrong', fixture.repository, wrong), ['backup', 'test-connection']);
    expect(r.code).toBe(13);
    expect(JSON.parse(r.stdout).outcome).toBe('auth');
  });
});
