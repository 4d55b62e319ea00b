// What the [backups] configuration means for writing a restic repository.
import type { BackupConfig } from '../../config/schema.ts';
import { parseSize } from '../../config/units.ts';
import { InvalidConfigError } from '../../backup/errors.ts';
import { resticCompression, type ResticWriteSettings } from './create.ts';

const MiB = 1024 * 1024;

export function resticSettings(config: BackupConfig, threads: number, version: 1 | 2): ResticWriteSettings {
  const packSize = parseSize(config.restic?.pack_size ?? '16MiB') ?? 16 * MiB;
  if (packSize < 4 * MiB || packSize > 128 * MiB) throw new InvalidConfigError(`backups.restic.pack_size: expected 4MiB to 128MiB (got ${config.restic?.pack_size})`);
  return {
    compression: resticCompression(config.performance?.compression, config.performance?.compression_level, version),
    packSize,
    threads,
    uploads: config.restic?.parallel_connections ?? config.performance?.parallel_uploads ?? 4,
  };
}
