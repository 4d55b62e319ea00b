import { describe, expect, it } from 'vitest';
import { formatRepositoryLocation, parseRepositoryUrl, RepositoryUrlError } from '../../src/config/repository-url.ts';

describe('repository strings', () => {
  it('parses local paths', () => {
    expect(parseRepositoryUrl('/srv/backup')).toEqual({ backend: 'local', path: '/srv/backup' });
    expect(parseRepositoryUrl('repo', '/home/u')).toEqual({ backend: 'local', path: '/home/u/repo' });
    expect(parseRepositoryUrl('local:/srv/x')).toEqual({ backend: 'local', path: '/srv/x' });
  });
  it("parses restic's s3 forms and the bucket-only form", () => {
    expect(parseRepositoryUrl('s3:https://s3.example.com/bucket/a/b')).toEqual({ backend: 's3', endpoint: 'https://s3.example.com', bucket: 'bucket', prefix: 'a/b' });
    expect(parseRepositoryUrl('s3:http://127.0.0.1:9000/bkt')).toEqual({ backend: 's3', endpoint: 'http://127.0.0.1:9000', bucket: 'bkt', prefix: '' });
    expect(parseRepositoryUrl('s3:s3.amazonaws.com/bkt/p')).toEqual({ backend: 's3', endpoint: 'https://s3.amazonaws.com', bucket: 'bkt', prefix: 'p' });
    expect(parseRepositoryUrl('s3:backup-bucket/bolt-backups')).toEqual({ backend: 's3', bucket: 'backup-bucket', prefix: 'bolt-backups' });
  });
  it('parses azure and minio forms', () => {
    expect(parseRepositoryUrl('azure:ctr:/pre/fix')).toEqual({ backend: 'azure', container: 'ctr', prefix: 'pre/fix' });
    expect(parseRepositoryUrl('azure:acct/ctr/p')).toEqual({ backend: 'azure', accountName: 'acct', container: 'ctr', prefix: 'p' });
    expect(parseRepositoryUrl('minio:127.0.0.1:9000/bkt/p')).toEqual({ backend: 'minio', endpoint: 'https://127.0.0.1:9000', bucket: 'bkt', prefix: 'p' });
    expect(parseRepositoryUrl('minio:http://minio.lan:9000/bkt')).toEqual({ backend: 'minio', endpoint: 'http://minio.lan:9000', bucket: 'bkt', prefix: '' });
  });
  it('rejects unsupported backends and bad buckets', () => {
    expect(() => parseRepositoryUrl('sftp:host:/x')).toThrow(/not supported/);
    expect(() => parseRepositoryUrl('s3:https://h/Bad_Bucket')).toThrow(RepositoryUrlError);
    expect(() => parseRepositoryUrl('azure:onlyaccount')).toThrow(/azure:container/);
  });
  it('formats locations back', () => {
    expect(formatRepositoryLocation(parseRepositoryUrl('s3:http://127.0.0.1:9000/bkt/p'))).toBe('s3:http://127.0.0.1:9000/bkt/p');
    expect(formatRepositoryLocation(parseRepositoryUrl('azure:ctr:/p'))).toBe('azure:ctr:/p');
  });
});
