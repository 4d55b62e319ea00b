import type { BackupConfig } from './schema.ts';

/** Built-in defaults: the lowest-precedence source (docs/CONFIG.md). */
export const DEFAULTS: BackupConfig = {
  enabled: true,
  tool: 'restic',
  include: { container_volumes: true, bolt_config: true },
  consistency: { filesystem_snapshots: 'auto' },
  performance: { parallel_uploads: 4, compression: 'auto', retry_attempts: 5, timeout: '60s' },
  security: { encryption: 'auto', key_derivation: 'auto', verify_certificates: true },
  ghostsnap: { chunk_size: '4MiB', compression: 'zlib:6', pack_size: '16MiB' },
  restic: { pack_size: '16MiB', repository_version: 2 },
};
