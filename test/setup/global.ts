// Global test setup: starts MinIO and Azurite once for the whole run (free ports, temporary data
// folders) and hands their addresses to the suites two ways: inject('testServers') and the
// BOLT_TEST_* environment variables (for spawned processes and code that has no inject()).
// When BOLT_TEST_S3_ENDPOINT and friends are already set (servers started by hand with
// `node scripts/test-servers.mjs start`), those servers are used and left running.
import type { TestProject } from 'vitest/node';
import { serverEnvironment, serversFromEnvironment, startAzurite, startMinio, type TestServers } from '../../scripts/test-servers.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    testServers: TestServers;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.BOLT_TEST_S3_ENDPOINT && process.env.BOLT_TEST_AZURE_ENDPOINT) {
    project.provide('testServers', serversFromEnvironment());
    return async () => {};
  }
  const [minio, azurite] = await Promise.allSettled([startMinio(), startAzurite()]);
  if (minio.status === 'rejected' || azurite.status === 'rejected') {
    if (minio.status === 'fulfilled') await minio.value.stop();
    if (azurite.status === 'fulfilled') await azurite.value.stop();
    throw minio.status === 'rejected' ? minio.reason : (azurite as PromiseRejectedResult).reason;
  }
  const { stop: stopS3, ...s3 } = minio.value;
  const { stop: stopAzure, ...azure } = azurite.value;
  const servers: TestServers = { s3, azure };
  const env = serverEnvironment(servers);
  Object.assign(process.env, env);
  project.provide('testServers', servers);
  return async () => {
    for (const name of Object.keys(env)) delete process.env[name];
    await Promise.all([stopS3(), stopAzure()]);
  };
}
