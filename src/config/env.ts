// Environment variables that set configuration values (docs/CONFIG.md lists them). Each maps
// to one key path; its text is converted to the key's type before validation.

export type EnvValueType = 'string' | 'bool' | 'int' | 'list';

export interface EnvBinding {
  variable: string;
  path: string;
  type: EnvValueType;
  /** Only honoured when the effective tool is this one (RESTIC_*, GHOSTSNAP_*). */
  tool?: 'restic' | 'ghostsnap';
}

export const ENV_BINDINGS: readonly EnvBinding[] = [
  { variable: 'BOLT_BACKUP_ENABLED', path: 'enabled', type: 'bool' },
  { variable: 'BOLT_BACKUP_TOOL', path: 'tool', type: 'string' },
  { variable: 'BOLT_BACKUP_REPOSITORY', path: 'repository', type: 'string' },
  { variable: 'BOLT_BACKUP_PASSWORD_FILE', path: 'password_file', type: 'string' },
  { variable: 'BOLT_BACKUP_KEY_FILE', path: 'key_file', type: 'string' },
  { variable: 'BOLT_BACKUP_SECONDARY', path: 'storage.secondary', type: 'string' },
  { variable: 'BOLT_BACKUP_INCLUDE', path: 'include.custom_paths', type: 'list' },
  { variable: 'BOLT_BACKUP_EXCLUDE', path: 'exclude.patterns', type: 'list' },
  { variable: 'BOLT_BACKUP_KEEP_LAST', path: 'retention.keep_last', type: 'int' },
  { variable: 'BOLT_BACKUP_KEEP_HOURLY', path: 'retention.keep_hourly', type: 'int' },
  { variable: 'BOLT_BACKUP_KEEP_DAILY', path: 'retention.keep_daily', type: 'int' },
  { variable: 'BOLT_BACKUP_KEEP_WEEKLY', path: 'retention.keep_weekly', type: 'int' },
  { variable: 'BOLT_BACKUP_KEEP_MONTHLY', path: 'retention.keep_monthly', type: 'int' },
  { variable: 'BOLT_BACKUP_KEEP_YEARLY', path: 'retention.keep_yearly', type: 'int' },
  { variable: 'BOLT_BACKUP_DAILY', path: 'triggers.daily', type: 'string' },
  { variable: 'BOLT_BACKUP_WEEKLY', path: 'triggers.weekly', type: 'string' },
  { variable: 'BOLT_BACKUP_MONTHLY', path: 'triggers.monthly', type: 'string' },
  { variable: 'BOLT_BACKUP_PARALLEL_UPLOADS', path: 'performance.parallel_uploads', type: 'int' },
  { variable: 'BOLT_BACKUP_CHUNK_SIZE', path: 'performance.chunk_size', type: 'string' },
  { variable: 'BOLT_BACKUP_COMPRESSION', path: 'performance.compression', type: 'string' },
  { variable: 'BOLT_BACKUP_COMPRESSION_LEVEL', path: 'performance.compression_level', type: 'int' },
  { variable: 'BOLT_BACKUP_BANDWIDTH_LIMIT', path: 'performance.bandwidth_limit', type: 'string' },
  { variable: 'BOLT_BACKUP_THREADS', path: 'performance.threads', type: 'int' },
  { variable: 'BOLT_BACKUP_RETRY_ATTEMPTS', path: 'performance.retry_attempts', type: 'int' },
  { variable: 'BOLT_BACKUP_TIMEOUT', path: 'performance.timeout', type: 'string' },
  { variable: 'BOLT_BACKUP_VERIFY_CERTIFICATES', path: 'security.verify_certificates', type: 'bool' },
  { variable: 'BOLT_BACKUP_CA_BUNDLE', path: 'security.ca_bundle', type: 'string' },
  { variable: 'BOLT_BACKUP_S3_ENDPOINT', path: 'storage.s3.endpoint', type: 'string' },
  { variable: 'BOLT_BACKUP_S3_REGION', path: 'storage.s3.region', type: 'string' },
  { variable: 'BOLT_BACKUP_S3_BUCKET', path: 'storage.s3.bucket', type: 'string' },
  { variable: 'BOLT_BACKUP_S3_PATH_STYLE', path: 'storage.s3.path_style', type: 'bool' },
  { variable: 'BOLT_BACKUP_AZURE_ACCOUNT_NAME', path: 'storage.azure.account_name', type: 'string' },
  { variable: 'BOLT_BACKUP_AZURE_CONTAINER', path: 'storage.azure.container', type: 'string' },
  { variable: 'BOLT_BACKUP_AZURE_ENDPOINT', path: 'storage.azure.endpoint', type: 'string' },
  { variable: 'BOLT_BACKUP_MINIO_ENDPOINT', path: 'storage.minio.endpoint', type: 'string' },
  { variable: 'BOLT_BACKUP_CACHE_DIR', path: 'restic.cache_dir', type: 'string' },
  { variable: 'RESTIC_REPOSITORY', path: 'repository', type: 'string', tool: 'restic' },
  { variable: 'RESTIC_PASSWORD_FILE', path: 'password_file', type: 'string', tool: 'restic' },
  { variable: 'RESTIC_CACHE_DIR', path: 'restic.cache_dir', type: 'string', tool: 'restic' },
  { variable: 'RESTIC_PACK_SIZE', path: 'restic.pack_size', type: 'string', tool: 'restic' },
  { variable: 'GHOSTSNAP_REPO', path: 'repository', type: 'string', tool: 'ghostsnap' },
];

/** Password given directly in the environment (never a config key: secrets stay out of files). */
export const PASSWORD_VARIABLES = { restic: 'RESTIC_PASSWORD', ghostsnap: 'GHOSTSNAP_PASSWORD' } as const;

/** Converts an environment string to the binding's type; returns the text unchanged when it does not convert (validation then reports it). */
export function convertEnvValue(type: EnvValueType, value: string): unknown {
  switch (type) {
    case 'string':
      return value;
    case 'bool': {
      const v = value.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      return value;
    }
    case 'int':
      return /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
    case 'list':
      return value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  }
}
