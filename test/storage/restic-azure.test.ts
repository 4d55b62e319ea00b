// restic 0.14 writes a repository into this run's Azurite (through test/setup/restic-azure.ts);
// the Azure backend reads what restic wrote, and restic reads what the backend wrote.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/open-storage.ts';
import { runResticOnAzurite } from '../setup/restic-azure.ts';
import { createContainer, listKeys, testServers, uniqueName } from './helpers.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

it('restic 0.14 and the Azure backend share a repository in Azurite', async () => {
  const { azure } = testServers();
  const container = uniqueName('restic');
  await createContainer(testServers(), container);
  const data = await mkdtemp(path.join(os.tmpdir(), 'bolt-restic-src-'));
  dirs.push(data);
  await writeFile(path.join(data, 'hello.txt'), 'hello from restic\n');
  const env = { RESTIC_PASSWORD: 'bolt-test' };
  const repo = `azure:${container}:/restic-repo`;

  const init = await runResticOnAzurite(azure, ['-r', repo, '--no-cache', 'init'], env);
  expect(init.stderr).toBe('');
  expect(init.code).toBe(0);
  const backup = await runResticOnAzurite(azure, ['-r', repo, '--no-cache', 'backup', data], env);
  expect(backup.code).toBe(0);

  const storage = await openStorage(repo, { storage: { azure: { connection_string: azure.connectionString } } });
  const keys = await listKeys(storage, '');
  expect(keys).toContain('config');
  expect(keys.filter((k) => k.startsWith('keys/'))).toHaveLength(1);
  expect(keys.filter((k) => k.startsWith('snapshots/'))).toHaveLength(1);
  const pack = keys.find((k) => /^data\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(k));
  expect(pack).toBeDefined();

  // A copy made through the backend is a repository restic accepts.
  const copy = `azure:${container}:/copy`;
  const target = await openStorage(copy, { storage: { azure: { connection_string: azure.connectionString } } });
  for (const key of keys) await target.put(key, await storage.get(key));
  const check = await runResticOnAzurite(azure, ['-r', copy, '--no-cache', 'check', '--read-data'], env);
  expect(check.code).toBe(0);
  expect(check.stdout).toContain('no errors were found');
  await storage.close();
  await target.close();
});
