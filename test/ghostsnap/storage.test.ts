// The ghostsnap format on every storage backend (issue #10): S3 (MinIO) and Azure (Azurite)
// through the same CLI commands as a local repository, locking included; ghostsnap reads what we
// wrote to S3 (its own `init` cannot create an S3 repository).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { BackupConfig } from '../../src/config/schema.ts';
import { LOCK_KEY } from '../../src/formats/ghostsnap/lock.ts';
import { backendFixture, testServers, type BackendFixture } from '../storage/helpers.ts';
import { describeTree, diffTrees } from '../helpers/tree-compare.ts';
import { agent, agentOk, ghostsnapOk, settle, type CheckJson, type CreateJson } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-gs-storage-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'gs-storage-password';
const pwFile = path.join(tmp, 'password');
fs.writeFileSync(pwFile, PASSWORD);
const src = path.join(tmp, 'src');

beforeAll(() => {
  fs.mkdirSync(path.join(src, 'dir'), { recursive: true });
  fs.writeFileSync(path.join(src, 'hello.txt'), 'hello remote\n');
  fs.writeFileSync(path.join(src, 'dir', 'big.bin'), crypto.randomBytes(5 * 1024 * 1024));
  fs.symlinkSync('hello.txt', path.join(src, 'link'));
  return settle();
});

describe.each(['s3', 'azure'] as const)('%s', (backend) => {
  let fixture: BackendFixture;
  let configFile: string;
  const run = (args: string[]) => agent(fixture.repository, pwFile, ['--config', configFile, ...args]);
  const ok = <T>(args: string[]): T => agentOk<T>(fixture.repository, pwFile, ['--config', configFile, ...args]);

  beforeAll(async () => {
    fixture = await backendFixture(backend, { prefix: 'gs-repo' });
    configFile = path.join(tmp, `${backend}.yaml`);
    fs.writeFileSync(configFile, JSON.stringify(fixture.config satisfies BackupConfig));
    ok(['backup', 'init', fixture.repository]);
  });
  afterAll(async () => fixture.cleanup());

  it('backs up, lists, restores, checks, backs up again incrementally, and forgets with prune', () => {
    const first = ok<CreateJson>(['backup', 'create', '--include', src, '--tag', backend]);
    expect(first.problems).toEqual([]);
    expect(ok<{ id: string }[]>(['backup', 'list']).map((b) => b.id)).toEqual([first.backup.id]);
    const target = path.join(tmp, `${backend}-restore`);
    expect(ok<{ problems: unknown[] }>(['backup', 'restore', 'latest', '--target', target]).problems).toEqual([]);
    expect(diffTrees(describeTree(src), describeTree(target))).toEqual([]);
    expect(ok<CheckJson>(['backup', 'check', '--read-data']).errors).toEqual([]);
    const second = ok<CreateJson>(['backup', 'create', '--include', src]);
    expect(second.summary.files_unmodified).toBe(2);
    expect(second.summary.data_blobs).toBe(0);
    const forget = ok<{ removed: string[] }>(['backup', 'forget', '--apply', '--keep-last', '1']);
    expect(forget.removed).toEqual([first.backup.id]);
    expect(ok<CheckJson>(['backup', 'check', '--read-data']).errors).toEqual([]);
  });

  it('is locked against other writers on this backend too', async () => {
    const storage = await openStorage(fixture.repository, fixture.config);
    try {
      const lock = (age: number) =>
        JSON.stringify({ lock_type: 'Exclusive', hostname: 'other-host', pid: 4242, created_at: new Date(Date.now() - age).toISOString(), operation: 'bolt-agent backup' }, null, 2);
      await storage.put(LOCK_KEY, Buffer.from(lock(0)));
      const r = run(['backup', 'create', '--include', src]);
      expect(r.code).toBe(12);
      expect(r.stderr).toContain('other-host');
      // Not refreshed for an hour: its holder is gone.
      await storage.put(LOCK_KEY, Buffer.from(lock(60 * 60 * 1000)));
      const created = run(['backup', 'create', '--include', src]);
      expect(created.code).toBe(0);
      expect(created.stderr).toContain('removed a stale lock');
      expect(await storage.stat(LOCK_KEY)).toBeNull();
    } finally {
      await storage.close();
    }
  });

  if (backend === 's3') {
    it('ghostsnap reads the S3 repository we created: snapshots, check --read-data, restore', () => {
      const servers = testServers();
      const url = /^s3:(https?:\/\/[^/]+)\/(.+)$/.exec(fixture.repository);
      expect(url?.[1]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const env = { AWS_ENDPOINT_URL: url?.[1] as string, AWS_ACCESS_KEY_ID: servers.s3.accessKey, AWS_SECRET_ACCESS_KEY: servers.s3.secretKey, AWS_REGION: servers.s3.region };
      const repo = `s3:${url?.[2]}`;
      const latest = ok<{ id: string }>(['backup', 'show', 'latest']);
      expect(ghostsnapOk(repo, PASSWORD, ['-q', 'snapshots'], env)).toContain(latest.id.slice(0, 8));
      expect(ghostsnapOk(repo, PASSWORD, ['check', '--read-data'], env)).toContain('Repository is healthy');
      const target = path.join(tmp, 'ghostsnap-s3-restore');
      ghostsnapOk(repo, PASSWORD, ['-q', 'restore', latest.id, '--target', target], env);
      expect(fs.readFileSync(path.join(target, 'dir', 'big.bin')).equals(fs.readFileSync(path.join(src, 'dir', 'big.bin')))).toBe(true);
      expect(fs.readlinkSync(path.join(target, 'link'))).toBe('hello.txt');
    });
  }
});
