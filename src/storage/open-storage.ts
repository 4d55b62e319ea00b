// Repository string + [backups] config → a ready Storage: the backend for the string, filled in
// from storage.s3 / storage.azure / storage.minio, wrapped with retries, the process-wide
// bandwidth limit, parallel-upload slots, TLS settings and timeouts from performance/security.
import { InvalidConfigError } from '../backup/errors.ts';
import { formatRepositoryLocation, parseRepositoryUrl, RepositoryUrlError, type RepositoryLocation } from '../config/repository-url.ts';
import type { BackupConfig } from '../config/schema.ts';
import { parseDuration, parseRate, parseSize } from '../config/units.ts';
import type { AzureStorage, AzureCredential } from './azure.ts';
import { AZURITE_ACCOUNT, parseAzureConnectionString } from './azure-connection-string.ts';
import { BoundedStorage } from './bounded-storage.ts';
import type { StorageTarget } from './errors.ts';
import { agentFor, createAgents } from './http-agent.ts';
import { LocalStorage } from './local.ts';
import type { MinioStorage } from './minio.ts';
import type { TransferSettings } from './remote-storage.ts';
import { DEFAULT_RETRY_POLICY, Retrier, type RetryListener, type RetryPolicy } from './retry.ts';
import type { S3Storage } from './s3.ts';
import type { Storage } from './storage.ts';
import { loadTlsSettings } from './tls-settings.ts';
import { processUploadBucket } from './token-bucket.ts';

const MiB = 1024 * 1024;
/** S3's smallest part (all parts but the last). */
const MIN_PART_SIZE = 5 * MiB;
const DEFAULT_PART_SIZE = 16 * MiB;

export interface OpenStorageOptions {
  /** Resolves a relative local repository path (default: the working directory). */
  baseDir?: string;
  /** Receives warnings the CLI prints on every run (TLS verification off, adjusted settings). */
  onWarning?: (message: string) => void;
  /** Called before every retry (for -v output and metrics). */
  onRetry?: RetryListener;
  /** Where credential variables are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Create the bucket, container or folder when it is missing (repository init). */
  create?: boolean;
  /** Replaces parts of the retry policy (test-connection uses fewer retries). */
  retry?: Partial<RetryPolicy>;
}

/** The opened backend with what test-connection needs besides the Storage interface. */
export interface OpenedStorage {
  storage: Storage;
  target: StorageTarget;
  /** Checks that the bucket/container/folder exists and the credentials may use it. */
  checkContainer(): Promise<void>;
}

/** Opens the storage of a repository string (see REPOSITORY_FORMS) with the settings of `config`. */
export async function openStorage(repository: string, config: BackupConfig, options: OpenStorageOptions = {}): Promise<Storage> {
  return (await openBackend(repository, config, options)).storage;
}

export async function openBackend(repository: string, config: BackupConfig, options: OpenStorageOptions = {}): Promise<OpenedStorage> {
  let location: RepositoryLocation;
  try {
    location = parseRepositoryUrl(repository, options.baseDir);
  } catch (err) {
    if (err instanceof RepositoryUrlError) throw new InvalidConfigError(`repository "${repository}": ${err.message}`, { cause: err });
    throw err;
  }
  const warn = options.onWarning ?? (() => undefined);
  const env = options.env ?? process.env;
  const performance = config.performance ?? {};

  const parallelUploads = performance.parallel_uploads ?? 4;
  const timeoutMs = parseDuration(performance.timeout ?? '60s') ?? 60_000;
  const rate = performance.bandwidth_limit ? parseRate(performance.bandwidth_limit) : undefined;
  const uploadBucket = rate ? processUploadBucket(rate) : undefined;
  const retrier = new Retrier({ ...DEFAULT_RETRY_POLICY, retries: performance.retry_attempts ?? DEFAULT_RETRY_POLICY.retries, ...options.retry }, options.onRetry);

  let partSize = performance.chunk_size !== undefined ? (parseSize(performance.chunk_size) ?? DEFAULT_PART_SIZE) : DEFAULT_PART_SIZE;
  if (partSize < MIN_PART_SIZE && location.backend !== 'local') {
    warn(`performance.chunk_size ${performance.chunk_size} is below the 5 MiB minimum part size of object stores; using 5 MiB`);
    partSize = MIN_PART_SIZE;
  }
  const transfer: TransferSettings = { retrier, uploadBucket, partSize, parallelUploads };

  const opened = await openLocation(location, config, { warn, env, timeoutMs, transfer });
  if (options.create) await opened.backend.createContainer();
  return {
    storage: new BoundedStorage(opened.backend, parallelUploads),
    target: opened.backend.target,
    checkContainer: () => opened.backend.checkContainer(),
  };
}

interface Context {
  warn: (message: string) => void;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  transfer: TransferSettings;
}

type Backend = LocalStorage | S3Storage | MinioStorage | AzureStorage;

async function openLocation(location: RepositoryLocation, config: BackupConfig, ctx: Context): Promise<{ backend: Backend }> {
  const storage = config.storage ?? {};
  switch (location.backend) {
    case 'local':
      return { backend: new LocalStorage({ root: location.path, uploadBucket: ctx.transfer.uploadBucket }) };

    case 's3': {
      const s3 = storage.s3 ?? {};
      const endpoint = withScheme(location.endpoint ?? s3.endpoint, s3.use_tls);
      if ((s3.access_key_id === undefined) !== (s3.secret_access_key === undefined)) {
        throw new InvalidConfigError('storage.s3: set both access_key_id and secret_access_key, or neither (then the AWS environment and profile files are used)');
      }
      const region = s3.region ?? ctx.env.AWS_REGION ?? ctx.env.AWS_DEFAULT_REGION ?? 'us-east-1';
      const prefix = location.prefix || trimSlashes(s3.prefix ?? '');
      const tls = await loadTlsSettings(config.security, s3.verify_certificates, `s3 ${endpoint ?? 'AWS'}`, ctx.warn);
      const agents = createAgents({ idleTimeoutMs: ctx.timeoutMs, tls });
      const where = formatRepositoryLocation({ backend: 's3', ...(endpoint ? { endpoint } : {}), bucket: location.bucket, prefix });
      return {
        // The SDKs load only for the backend in use: a local repository starts faster.
        backend: new (await import('./s3.ts')).S3Storage(
          where,
          {
            endpoint,
            bucket: location.bucket,
            prefix,
            region,
            // Custom endpoints (MinIO, Ceph, ...) rarely have wildcard DNS for virtual-host buckets.
            pathStyle: s3.path_style ?? (endpoint !== undefined && !/\.amazonaws\.com(:\d+)?$/.test(new URL(endpoint).host)),
            credentials:
              s3.access_key_id !== undefined && s3.secret_access_key !== undefined
                ? { accessKeyId: s3.access_key_id, secretAccessKey: s3.secret_access_key, ...(s3.session_token ? { sessionToken: s3.session_token } : {}) }
                : undefined,
            profile: s3.profile,
            serverSideEncryption: s3.server_side_encryption,
            kmsKeyId: s3.sse_kms_key_id,
            agents,
            timeoutMs: ctx.timeoutMs,
          },
          ctx.transfer,
        ),
      };
    }

    case 'minio': {
      const minio = storage.minio ?? {};
      const raw = location.endpoint ?? minio.endpoint;
      if (!raw) {
        throw new InvalidConfigError('minio: no endpoint; write minio:http://host:port/bucket[/prefix] or set storage.minio.endpoint');
      }
      const endpoint = withScheme(/^https?:\/\//.test(raw) ? raw : `${minio.use_tls === false ? 'http' : 'https'}://${raw}`, minio.use_tls) ?? raw;
      const prefix = location.prefix || trimSlashes(minio.prefix ?? '');
      const tls = await loadTlsSettings(config.security, minio.verify_certificates, `minio ${endpoint}`, ctx.warn);
      const agents = createAgents({ idleTimeoutMs: ctx.timeoutMs, tls });
      return {
        backend: new (await import('./minio.ts')).MinioStorage(
          formatRepositoryLocation({ backend: 'minio', endpoint, bucket: location.bucket, prefix }),
          {
            endpoint,
            bucket: location.bucket,
            prefix,
            region: minio.region ?? 'us-east-1',
            accessKey: minio.access_key ?? ctx.env.MINIO_ACCESS_KEY ?? ctx.env.AWS_ACCESS_KEY_ID,
            secretKey: minio.secret_key ?? ctx.env.MINIO_SECRET_KEY ?? ctx.env.AWS_SECRET_ACCESS_KEY,
            agent: agentFor(agents, endpoint),
          },
          ctx.transfer,
        ),
      };
    }

    case 'azure': {
      const azure = storage.azure ?? {};
      const connectionString = azure.connection_string ?? ctx.env.AZURE_STORAGE_CONNECTION_STRING;
      const connection = connectionString ? parseAzureConnectionString(connectionString) : undefined;
      const accountName = location.accountName ?? azure.account_name ?? connection?.accountName ?? ctx.env.AZURE_ACCOUNT_NAME;
      const accountKey = azure.account_key ?? connection?.accountKey ?? ctx.env.AZURE_ACCOUNT_KEY;
      const sas = azure.sas_token ?? connection?.sas ?? ctx.env.AZURE_ACCOUNT_SAS;
      const serviceUrl = trimTrailingSlash(
        azure.endpoint ??
          connection?.blobEndpoint ??
          // restic's convention: the development account means the local emulator.
          (accountName === AZURITE_ACCOUNT ? `http://127.0.0.1:10000/${AZURITE_ACCOUNT}` : accountName ? `https://${accountName}.blob.core.windows.net` : undefined),
      );
      if (!serviceUrl) {
        throw new InvalidConfigError('azure: no account; write azure:account/container[/prefix] or set storage.azure.account_name, endpoint or connection_string');
      }
      let credential: AzureCredential;
      if (accountKey) {
        if (!accountName) throw new InvalidConfigError('storage.azure.account_key needs storage.azure.account_name');
        credential = { kind: 'shared-key', accountName, accountKey };
      } else if (sas) {
        credential = { kind: 'sas', token: sas };
      } else {
        credential = { kind: 'anonymous' };
      }
      const prefix = location.prefix || trimSlashes(azure.prefix ?? '');
      const tls = await loadTlsSettings(config.security, undefined, `azure ${serviceUrl}`, ctx.warn);
      const agents = createAgents({ idleTimeoutMs: ctx.timeoutMs, tls });
      return {
        backend: new (await import('./azure.ts')).AzureStorage(
          formatRepositoryLocation({ backend: 'azure', ...(location.accountName ? { accountName: location.accountName } : {}), container: location.container, prefix }),
          { serviceUrl, container: location.container, prefix, credential, agent: agentFor(agents, serviceUrl) },
          ctx.transfer,
        ),
      };
    }
  }
}

/** Applies use_tls to an endpoint: an explicit setting wins over the scheme the string implied. */
function withScheme(endpoint: string | undefined, useTls: boolean | undefined): string | undefined {
  if (!endpoint) return undefined;
  const trimmed = trimTrailingSlash(endpoint) ?? endpoint;
  if (useTls === false) return trimmed.replace(/^https:/, 'http:');
  if (useTls === true) return trimmed.replace(/^http:/, 'https:');
  return trimmed;
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

function trimTrailingSlash(s: string | undefined): string | undefined {
  return s?.replace(/\/+$/, '');
}
