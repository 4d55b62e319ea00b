// `ghostsnap.*` (and the shared performance settings) → what the writer uses. chunk_size is the
// FastCDC average (min avg/4, max avg×4, as ghostsnap derives them); only the default 4 MiB cuts
// files where ghostsnap does, so other sizes give up cross-tool deduplication.
import type { BackupConfig } from '../../config/schema.ts';
import { parseSize } from '../../config/units.ts';
import { InvalidConfigError } from '../../backup/errors.ts';
import type { ChunkerSpec } from '../../native/types.ts';

const MiB = 1024 * 1024;

export interface GhostsnapSettings {
  chunker: Extract<ChunkerSpec, { kind: 'fastcdc' }>;
  zlibLevel: number;
  packSize: number;
  threads: number;
  uploads: number;
  /** restic.cache_dir, where pack spool files go (null: ~/.cache/bolt-agent). */
  spoolDir: string | null;
}

/** ghostsnap's default: 4 MiB average, 1 MiB minimum, 16 MiB maximum. */
export function fastcdcFor(average: number): GhostsnapSettings['chunker'] {
  return { kind: 'fastcdc', minSize: Math.floor(average / 4), avgSize: average, maxSize: average * 4 };
}

/** zlib level from ghostsnap.compression, else performance.compression, else 6 (ghostsnap's). */
export function zlibLevel(ghostsnap: string | undefined, performance: string | undefined, performanceLevel: number | undefined): number {
  const setting = ghostsnap ?? performance;
  if (setting === undefined || setting === 'auto') return 6;
  const key = ghostsnap !== undefined ? 'ghostsnap.compression' : 'performance.compression';
  if (setting === 'off' || setting === 'none') return 0;
  if (setting === 'fastest') return 1;
  if (setting === 'max') return 9;
  const m = /^zlib(?::(\d))?$/.exec(setting);
  if (m) return m[1] !== undefined ? Number(m[1]) : ghostsnap === undefined && performanceLevel !== undefined && performanceLevel <= 9 ? performanceLevel : 6;
  throw new InvalidConfigError(`${key} "${setting}" does not apply to ghostsnap repositories: every chunk is a zlib stream; use zlib:<0-9>, auto, fastest, max or off`);
}

export function ghostsnapSettings(config: BackupConfig, threads: number): GhostsnapSettings {
  const g = config.ghostsnap ?? {};
  const average = g.chunk_size !== undefined ? parseSize(g.chunk_size) : 4 * MiB;
  if (average === undefined || average < 256 || average > 4 * MiB) {
    throw new InvalidConfigError(`ghostsnap.chunk_size: expected 256B to 4MiB, the FastCDC average ghostsnap's chunker allows (got ${g.chunk_size})`);
  }
  const packSize = g.pack_size !== undefined ? parseSize(g.pack_size) : 16 * MiB;
  if (packSize === undefined || packSize < MiB || packSize > 64 * MiB) {
    throw new InvalidConfigError(`ghostsnap.pack_size: expected 1MiB to 64MiB (got ${g.pack_size})`);
  }
  return {
    chunker: fastcdcFor(average),
    zlibLevel: zlibLevel(g.compression, config.performance?.compression, config.performance?.compression_level),
    packSize,
    threads,
    uploads: config.performance?.parallel_uploads ?? 4,
    spoolDir: config.restic?.cache_dir ?? null,
  };
}
