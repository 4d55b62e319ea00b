// The repository's lock files, for health: a stale lock (holder dead, or older than 30 minutes)
// is what an interrupted operation leaves behind. The next writer removes it; health reports it
// meanwhile, since another tool (restic on another host) may refuse to run until then.
import type { BackupBackend } from '../backup/backend.ts';

export interface RepositoryLockInfo {
  id: string;
  exclusive: boolean;
  hostname: string;
  pid: number;
  stale: boolean;
  description: string;
}

/** The locks of an open repository; undefined when its format keeps none we can read. */
export async function repositoryLocks(backend: BackupBackend): Promise<RepositoryLockInfo[] | undefined> {
  const { ResticBackend } = await import('../formats/restic/backend.ts');
  if (!(backend instanceof ResticBackend)) return undefined;
  const { decodeLock } = await import('../formats/restic/lock-json.ts');
  const { describeLock, isStale } = await import('../formats/restic/lock.ts');
  const repo = backend.repo;
  const locks: RepositoryLockInfo[] = [];
  for (const id of await repo.list('locks')) {
    try {
      const lock = decodeLock(await repo.readUnpacked('locks', id));
      locks.push({ id, exclusive: lock.exclusive, hostname: lock.hostname, pid: lock.pid, stale: isStale(lock), description: describeLock(lock) });
    } catch {
      // removed while we listed, or unreadable (restic ignores those too)
    }
  }
  return locks;
}
