// A repository on the test MinIO server behind the fault proxy, which paces uploads and downloads:
// a real network that is slow, so runs last long enough to be watched, interrupted or waited for.
import { FaultProxy, type FaultPlan } from '../../setup/fault-proxy.ts';
import { createBucket, testServers, uniqueName } from '../../storage/helpers.ts';

export interface SlowS3 {
  /** Repository string through the proxy. */
  repository: string;
  /** [backups.storage.s3] with the server's credentials. */
  storageLines: string[];
  /** How restic reaches the same repository (directly), and its credentials. */
  resticRepository: string;
  resticEnv: Record<string, string>;
  proxy: FaultProxy;
}

export async function slowS3(stem: string, plan: FaultPlan): Promise<SlowS3> {
  const { s3 } = testServers();
  const bucket = uniqueName(stem);
  await createBucket(testServers(), bucket);
  const target = new URL(s3.endpoint);
  const proxy = await FaultProxy.start({ host: target.hostname, port: Number(target.port) }, plan);
  return {
    repository: `s3:${proxy.endpoint}/${bucket}/repo`,
    storageLines: ['[backups.storage.s3]', `access_key_id = ${JSON.stringify(s3.accessKey)}`, `secret_access_key = ${JSON.stringify(s3.secretKey)}`, `region = ${JSON.stringify(s3.region)}`],
    resticRepository: `s3:${s3.endpoint}/${bucket}/repo`,
    resticEnv: { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey },
    proxy,
  };
}
