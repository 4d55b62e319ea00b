// The contract of test/setup/global.ts for other suites: the servers are reachable, and their
// addresses reach suites through inject() and spawned processes through BOLT_TEST_* variables.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { serversFromEnvironment } from '../../scripts/test-servers.mjs';
import { testServers } from './helpers.ts';

const run = promisify(execFile);

it('hands the same servers to inject(), the environment and child processes', async () => {
  const servers = testServers();
  expect(serversFromEnvironment()).toEqual(servers);
  const { stdout } = await run(process.execPath, ['-e', 'console.log(JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("BOLT_TEST_")))))']);
  const seen = JSON.parse(stdout) as Record<string, string>;
  expect(seen.BOLT_TEST_S3_ENDPOINT).toBe(servers.s3.endpoint);
  expect(seen.BOLT_TEST_S3_ACCESS_KEY).toBe(servers.s3.accessKey);
  expect(seen.BOLT_TEST_S3_SECRET_KEY).toBe(servers.s3.secretKey);
  expect(seen.BOLT_TEST_AZURE_ENDPOINT).toBe(servers.azure.endpoint);
  expect(seen.BOLT_TEST_AZURE_CONNECTION_STRING).toBe(servers.azure.connectionString);
  expect((await fetch(`${servers.s3.endpoint}/minio/health/live`)).status).toBe(200);
  expect((await fetch(`${servers.azure.endpoint}?comp=list`)).status).toBeGreaterThanOrEqual(200);
});
