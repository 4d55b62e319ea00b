// restic's lock protocol (formats/restic.md §9.2): shared locks coexist, an exclusive lock
// excludes all others; stale locks (older than 30 min, or same host with a dead pid) are removed;
// a held lock is refreshed every 5 minutes; a holder ignores SIGHUP, which restic sends to probe
// liveness.
import { currentUserName } from '../../engine/user-names.ts';
import os from 'node:os';
import { RepositoryLockedError } from '../../backup/errors.ts';
import { decodeLock, encodeLock, type ResticLock } from './lock-json.ts';
import { goTimeFromUnix, type GoTime } from '../../util/go-time.ts';
import type { ResticRepository } from './repository.ts';

export const STALE_AFTER_MS = 30 * 60 * 1000;
export const REFRESH_EVERY_MS = 5 * 60 * 1000;
const RECHECK_DELAY_MS = 200;

function nowGoTime(): GoTime {
  const ms = Date.now();
  return goTimeFromUnix(Math.floor(ms / 1000), (ms % 1000) * 1e6);
}

function ageMs(lock: ResticLock): number {
  return Date.now() - (lock.time.sec * 1000 + Math.floor(lock.time.nsec / 1e6));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** restic's staleness rule. */
export function isStale(lock: ResticLock, hostname = os.hostname()): boolean {
  if (ageMs(lock) > STALE_AFTER_MS) return true;
  return lock.hostname === hostname && !processAlive(lock.pid);
}

export function describeLock(lock: ResticLock): string {
  const minutes = Math.max(0, Math.round(ageMs(lock) / 60000));
  return `${lock.exclusive ? 'exclusive' : 'shared'} lock by pid ${lock.pid} on ${lock.hostname} (${lock.username || 'unknown user'}), ${minutes} min old`;
}

let sighupHolders = 0;
const ignoreSighup = (): void => {};

function holdSighup(): void {
  if (sighupHolders++ === 0) process.on('SIGHUP', ignoreSighup);
}

function releaseSighup(): void {
  if (--sighupHolders === 0) process.off('SIGHUP', ignoreSighup);
}

export interface LockOptions {
  exclusive: boolean;
  /** Keep trying this long while another process holds a conflicting lock (default: refuse at once). */
  waitMs?: number;
  /** Called when stale locks are removed. */
  onStaleRemoved?: (description: string) => void;
  /**
   * Called each time our lock file has been written, before the pause and re-check that decide
   * whether we hold the lock: reads that need the lock can run during that pause. Their result
   * may be used only once the lock is granted; each attempt calls this again.
   */
  warmUp?: () => void;
}

export class RepositoryLock {
  private id: string;
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  private refreshing: Promise<void> = Promise.resolve();
  private refreshError: Error | undefined;

  private constructor(
    private readonly repo: ResticRepository,
    readonly exclusive: boolean,
    id: string,
  ) {
    this.id = id;
  }

  get lockId(): string {
    return this.id;
  }

  /** An error from the last refresh: a writer must stop when it cannot keep its lock. */
  get lost(): Error | undefined {
    return this.refreshError;
  }

  private static lockContent(exclusive: boolean): ResticLock {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    return {
      time: nowGoTime(),
      exclusive,
      hostname: os.hostname(),
      username: currentUserName(),
      pid: process.pid,
      ...(uid > 0 ? { uid } : {}),
      ...(gid > 0 ? { gid } : {}),
    };
  }

  /** Other processes' locks that conflict with a lock of this kind; removes stale ones. */
  private static async conflicts(repo: ResticRepository, exclusive: boolean, ownId: string | undefined, options: LockOptions): Promise<ResticLock[]> {
    const found: ResticLock[] = [];
    for (const id of await repo.list('locks')) {
      if (id === ownId) continue;
      let lock: ResticLock;
      try {
        lock = decodeLock(await repo.readUnpacked('locks', id));
      } catch {
        continue; // restic 0.14 ignores lock files it cannot load; a vanished lock is gone anyway
      }
      if (isStale(lock)) {
        await repo.removeFile('locks', id);
        options.onStaleRemoved?.(describeLock(lock));
        continue;
      }
      if (exclusive || lock.exclusive) found.push(lock);
    }
    return found;
  }

  static async acquire(repo: ResticRepository, options: LockOptions): Promise<RepositoryLock> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    holdSighup();
    try {
      for (;;) {
        const before = await RepositoryLock.conflicts(repo, options.exclusive, undefined, options);
        if (before.length === 0) {
          const id = await repo.writeUnpacked('locks', encodeLock(RepositoryLock.lockContent(options.exclusive)));
          options.warmUp?.();
          await new Promise((r) => setTimeout(r, RECHECK_DELAY_MS));
          const after = await RepositoryLock.conflicts(repo, options.exclusive, id, options);
          if (after.length === 0) {
            const lock = new RepositoryLock(repo, options.exclusive, id);
            lock.startRefresh();
            return lock;
          }
          await repo.removeFile('locks', id);
          before.push(...after);
        }
        if (Date.now() >= deadline) {
          throw new RepositoryLockedError(repo.location, before.map(describeLock).join('; '), { details: { locks: before.length } });
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, Math.max(RECHECK_DELAY_MS, deadline - Date.now()))));
      }
    } catch (err) {
      releaseSighup();
      throw err;
    }
  }

  private startRefresh(): void {
    this.timer = setInterval(() => {
      this.refreshing = this.refresh().catch((err: unknown) => {
        this.refreshError = err as Error;
      });
    }, REFRESH_EVERY_MS);
    this.timer.unref();
  }

  /** Writes a fresh lock file and removes the previous one (its id changes, as restic's does). */
  async refresh(): Promise<void> {
    if (this.released) return;
    const fresh = await this.repo.writeUnpacked('locks', encodeLock(RepositoryLock.lockContent(this.exclusive)));
    const old = this.id;
    this.id = fresh;
    await this.repo.removeFile('locks', old);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.refreshing;
    try {
      await this.repo.removeFile('locks', this.id);
    } finally {
      releaseSighup();
    }
  }
}

/** Runs `fn` under a lock and always releases it. */
export async function withLock<T>(repo: ResticRepository, options: LockOptions, fn: (lock: RepositoryLock) => Promise<T>): Promise<T> {
  const lock = await RepositoryLock.acquire(repo, options);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
