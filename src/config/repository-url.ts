// Repository strings as restic, ghostsnap and Bolt users write them (docs/CLI.md "Repository
// strings"). What a string leaves out (endpoint, credentials) comes from [backups.storage.*].
import path from 'node:path';

export type RepositoryLocation =
  | { backend: 'local'; path: string }
  | { backend: 's3'; endpoint?: string; bucket: string; prefix: string }
  | { backend: 'minio'; endpoint?: string; bucket: string; prefix: string }
  | { backend: 'azure'; accountName?: string; container: string; prefix: string };

export const REPOSITORY_FORMS = [
  '/absolute/path or ./relative/path (local)',
  'local:/path',
  's3:https://host[:port]/bucket[/prefix] (restic form; http:// for plain HTTP)',
  's3:host.name[:port]/bucket[/prefix] (restic form; the first part has a "." or ":")',
  's3:bucket[/prefix] (endpoint from storage.s3.endpoint, else AWS)',
  'minio:[http(s)://]host[:port]/bucket[/prefix] or minio:bucket[/prefix] (endpoint from storage.minio)',
  'azure:container:/prefix (restic form) or azure:account/container[/prefix]',
] as const;

const unsupported = ['rest', 'sftp', 'b2', 'gs', 'swift', 'rclone'];

export class RepositoryUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepositoryUrlError';
  }
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

function splitBucketPrefix(rest: string, what: string): { bucket: string; prefix: string } {
  const parts = trimSlashes(rest).split('/');
  const bucket = parts.shift() ?? '';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new RepositoryUrlError(`${what}: "${bucket}" is not a valid bucket name (3-63 lower-case letters, digits, "." or "-")`);
  }
  return { bucket, prefix: parts.filter(Boolean).join('/') };
}

function parseEndpointForm(body: string, kind: 's3' | 'minio'): RepositoryLocation {
  const scheme = /^(https?):\/\/(.*)$/.exec(body);
  if (scheme) {
    const [host, ...rest] = (scheme[2] ?? '').split('/');
    if (!host) throw new RepositoryUrlError(`${kind}: missing host in "${body}"`);
    return { backend: kind, endpoint: `${scheme[1]}://${host}`, ...splitBucketPrefix(rest.join('/'), kind) };
  }
  const [first, ...rest] = body.split('/');
  if (!first) throw new RepositoryUrlError(`${kind}: missing bucket in "${body}"`);
  if (first.includes('.') || first.includes(':') || first === 'localhost') {
    // restic's s3:host/bucket form uses HTTPS unless the user says http://
    return { backend: kind, endpoint: `https://${first}`, ...splitBucketPrefix(rest.join('/'), kind) };
  }
  return { backend: kind, ...splitBucketPrefix(body, kind) };
}

function parseAzure(body: string): RepositoryLocation {
  const restic = /^([^/:]+):(.*)$/.exec(body);
  if (restic) {
    return { backend: 'azure', container: restic[1] ?? '', prefix: trimSlashes(restic[2] ?? '') };
  }
  const [account, container, ...rest] = trimSlashes(body).split('/');
  if (!account || !container) {
    throw new RepositoryUrlError(`azure: expected azure:container:/prefix or azure:account/container[/prefix], got "azure:${body}"`);
  }
  return { backend: 'azure', accountName: account, container, prefix: rest.filter(Boolean).join('/') };
}

/** Parses a repository string; `baseDir` resolves relative local paths. */
export function parseRepositoryUrl(text: string, baseDir = process.cwd()): RepositoryLocation {
  const s = text.trim();
  if (!s) throw new RepositoryUrlError('the repository is empty');
  const m = /^([a-z][a-z0-9]*):(.*)$/.exec(s);
  if (!m || s.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(s)) {
    return { backend: 'local', path: path.resolve(baseDir, s) };
  }
  const scheme = m[1] ?? '';
  const body = m[2] ?? '';
  switch (scheme) {
    case 'local':
      if (!body) throw new RepositoryUrlError('local: missing path');
      return { backend: 'local', path: path.resolve(baseDir, body) };
    case 's3':
      return parseEndpointForm(body, 's3');
    case 'minio':
      return parseEndpointForm(body, 'minio');
    case 'azure':
      return parseAzure(body);
    default:
      if (unsupported.includes(scheme)) {
        throw new RepositoryUrlError(`the ${scheme}: backend is not supported by bolt-agent (supported: local, s3, minio, azure)`);
      }
      // "foo:bar" without a known scheme is a relative local path containing a colon
      return { backend: 'local', path: path.resolve(baseDir, s) };
  }
}

/** Canonical string for a location (used in messages and as a cache key). */
export function formatRepositoryLocation(location: RepositoryLocation): string {
  switch (location.backend) {
    case 'local':
      return location.path;
    case 's3':
    case 'minio': {
      const tail = [location.bucket, location.prefix].filter(Boolean).join('/');
      return `${location.backend}:${location.endpoint ? `${location.endpoint}/` : ''}${tail}`;
    }
    case 'azure':
      return location.accountName
        ? `azure:${location.accountName}/${location.container}${location.prefix ? `/${location.prefix}` : ''}`
        : `azure:${location.container}:/${location.prefix}`;
  }
}
