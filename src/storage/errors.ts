// Storage failures as typed BackupErrors. Every backend turns what its SDK throws into a
// StorageRequestError through storageFailure(), so the retry loop, test-connection and the CLI
// see one classification (auth / not found / transient / ...) whatever the backend.
import { BackupError, type BackupErrorKind } from '../backup/errors.ts';
import type { Storage } from './storage.ts';

/** Where a request went: named in every message so the user knows which credentials/bucket to check. */
export interface StorageTarget {
  kind: Storage['kind'];
  /** URL of the service, or the folder of a local repository. */
  endpoint: string;
  /** Bucket (S3/MinIO) or container (Azure); absent for local. */
  container?: string;
}

export type FailureClass =
  | 'not-found'
  | 'missing-container'
  | 'auth'
  | 'precondition'
  | 'unreachable'
  | 'transient'
  | 'tls'
  | 'fatal';

const kindOfFailure: Record<FailureClass, BackupErrorKind> = {
  'not-found': 'NotFound',
  'missing-container': 'RepositoryNotFound',
  auth: 'AuthenticationFailed',
  precondition: 'StorageError',
  unreachable: 'StorageUnreachable',
  transient: 'StorageError',
  tls: 'StorageError',
  fatal: 'StorageError',
};

const retryableFailures: ReadonlySet<FailureClass> = new Set(['unreachable', 'transient']);

export function describeTarget(target: StorageTarget): string {
  if (target.kind === 'local') return `local ${target.endpoint}`;
  const what = target.kind === 'azure' ? 'container' : 'bucket';
  return `${target.kind} ${target.endpoint} ${what} "${target.container ?? ''}"`;
}

export interface FailureFacts {
  failure: FailureClass;
  /** HTTP status, when there was a response. */
  status?: number;
  /** The service's error code (S3 "SignatureDoesNotMatch", Azure "BlobNotFound", errno "ECONNRESET"). */
  code?: string;
  reason: string;
  cause?: unknown;
}

export class StorageRequestError extends BackupError {
  readonly failure: FailureClass;
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(target: StorageTarget, operation: string, key: string | undefined, facts: FailureFacts) {
    const where = `${operation}${key !== undefined ? ` "${key}"` : ''} on ${describeTarget(target)}`;
    const tag = [facts.code, facts.status !== undefined ? `HTTP ${facts.status}` : undefined].filter(Boolean).join(', ');
    super(kindOfFailure[facts.failure], `${where} failed: ${facts.reason}${tag ? ` (${tag})` : ''}`, {
      cause: facts.cause,
      hint: hintFor(target, facts.failure),
      details: {
        backend: target.kind,
        endpoint: target.endpoint,
        ...(target.container !== undefined ? { container: target.container } : {}),
        operation,
        ...(key !== undefined ? { key } : {}),
        ...(facts.status !== undefined ? { status: facts.status } : {}),
        ...(facts.code !== undefined ? { code: facts.code } : {}),
      },
    });
    this.name = 'StorageRequestError';
    this.failure = facts.failure;
    this.status = facts.status;
    this.code = facts.code;
  }

  get retryable(): boolean {
    return retryableFailures.has(this.failure);
  }
}

/** A conditional put (ifMatch / ifNoneMatch) lost: someone else wrote the object first. */
export class PreconditionFailedError extends StorageRequestError {
  constructor(target: StorageTarget, key: string, reason: string, facts: Omit<FailureFacts, 'failure' | 'reason'> = {}) {
    super(target, 'conditional put', key, { ...facts, failure: 'precondition', reason });
    this.name = 'PreconditionFailedError';
  }
}

function hintFor(target: StorageTarget, failure: FailureClass): string | undefined {
  switch (failure) {
    case 'auth':
      switch (target.kind) {
        case 's3':
          return 'check storage.s3.access_key_id / secret_access_key (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE) and the bucket policy';
        case 'minio':
          return 'check storage.minio.access_key / secret_key';
        case 'azure':
          return 'check storage.azure.account_key, sas_token or connection_string (or AZURE_ACCOUNT_KEY / AZURE_ACCOUNT_SAS)';
        case 'local':
          return 'check the permissions of the repository folder';
      }
      break;
    case 'missing-container':
      return target.kind === 'azure' ? 'create the container, or check its name' : 'create the bucket, or check its name';
    case 'unreachable':
      return 'check the endpoint address and port, DNS and firewalls';
    case 'tls':
      return 'add the server\'s CA to security.ca_bundle (PEM); only for testing: security.verify_certificates = false';
    default:
      return undefined;
  }
}

const unreachableCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
const transientCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPROTO',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
  'TimeoutError',
  'RequestTimeout',
  'ERR_HTTP_REQUEST_TIMEOUT',
]);
const tlsCodes = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_)/;

/** Errors raised below HTTP (sockets, DNS, TLS): the same whatever the SDK. */
export function networkFailure(err: unknown): FailureFacts | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : (e as { name?: string }).name;
    const message = e instanceof Error ? e.message : String(e);
    if (!code) continue;
    if (tlsCodes.test(code)) return { failure: 'tls', code, reason: `TLS certificate verification failed: ${message}`, cause: err };
    // ENOTFOUND is a misspelt host far more often than a DNS hiccup: not worth retrying.
    if (code === 'ENOTFOUND') return { failure: 'fatal', code, reason: `cannot resolve the host: ${message}`, cause: err };
    if (unreachableCodes.has(code)) return { failure: 'unreachable', code, reason: `cannot connect: ${message}`, cause: err };
    if (transientCodes.has(code)) return { failure: 'transient', code, reason: `connection failed: ${message}`, cause: err };
    if (/socket hang up|premature close|aborted/i.test(message)) return { failure: 'transient', code, reason: `connection failed: ${message}`, cause: err };
  }
  return undefined;
}

/** Classifies an HTTP answer by status and the service's error code. */
export function httpFailure(status: number, code: string | undefined, message: string, cause: unknown): FailureFacts {
  const facts = (failure: FailureClass, reason: string): FailureFacts => ({
    failure,
    status,
    ...(code !== undefined ? { code } : {}),
    reason,
    cause,
  });
  if (code === 'NoSuchBucket' || code === 'ContainerNotFound') return facts('missing-container', 'the bucket/container does not exist');
  if (status === 401 || status === 403) {
    if (code === 'RequestTimeTooSkewed') return facts('auth', 'the clock of this host is too far off the server\'s');
    return facts('auth', `authentication failed: ${message}`);
  }
  if (status === 404) return facts('not-found', 'no such object');
  if (status === 412 || code === 'ConditionalRequestConflict') return facts('precondition', 'the object changed or already exists');
  if (status === 429 || status >= 500 || code === 'SlowDown' || code === 'RequestTimeout' || code === 'ServerBusy' || code === 'OperationTimedOut') {
    return facts('transient', `the service is unavailable or throttling: ${message}`);
  }
  return facts('fatal', message);
}
