// Free space of the directories bolt-agent writes locally (state, cache): a full disk there
// stops backups as surely as an unreachable repository.
import fs from 'node:fs';
import path from 'node:path';

export interface DiskSpace {
  dir: string;
  /** The existing directory that was measured (the nearest existing parent of `dir`). */
  measured: string;
  free_bytes: number;
  total_bytes: number;
}

export function diskSpace(dir: string): DiskSpace | undefined {
  let probe = path.resolve(dir);
  for (;;) {
    try {
      const s = fs.statfsSync(probe);
      return { dir, measured: probe, free_bytes: s.bavail * s.bsize, total_bytes: s.blocks * s.bsize };
    } catch (err) {
      const parent = path.dirname(probe);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === probe) return undefined;
      probe = parent;
    }
  }
}
