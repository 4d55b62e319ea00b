// ghostsnap's lock (formats/ghostsnap.md §12): one plaintext file `locks/repo.lock`. ghostsnap
// takes it for backup, forget and prune on local repositories only; bolt-agent takes it on every
// backend, creating it with a conditional write (if-none-match), so two writers never both
// succeed, and refreshes it every five minutes (rewriting created_at) so a live lock never looks
// stale. Staleness:
//  - ours (operation "bolt-agent …"): its process is dead on this host, or it was not refreshed
//    for 30 minutes;
//  - ghostsnap's: its process is dead on this host (ghostsnap never refreshes; a lock of another
//    host is left to the user, as ghostsnap does).
import os from 'node:os';
import { BackupError, RepositoryLockedError } from '../../backup/errors.ts';
import { PreconditionFailedError } from '../../storage/errors.ts';
import type { GhostsnapRepository } from './repository.ts';

export const LOCK_KEY = 'locks/repo.lock';
export const OPERATION_PREFIX = 'bolt-agent ';
const REFRESH_EVERY_MS = 5 * 60 * 1000;
const STALE_AFTER_MS = 30 * 60 * 1000;

export interface LockInfo {
  lock_type: string;
  hostname: string;
  pid: number;
  created_at: string;
  operation: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLock(bytes: Buffer): LockInfo | undefined {
  try {
    const o = JSON.parse(bytes.toString('utf8')) as Partial<LockInfo>;
    if (typeof o.hostname !== 'string' || typeof o.pid !== 'number' || typeof o.created_at !== 'string') return undefined;
    return { lock_type: String(o.lock_type ?? ''), hostname: o.hostname, pid: o.pid, created_at: o.created_at, operation: String(o.operation ?? '') };
  } catch {
    return undefined;
  }
}

export function isStale(lock: LockInfo, now = Date.now(), hostname = os.hostname()): boolean {
  if (lock.hostname === hostname && lock.pid !== process.pid && !processAlive(lock.pid)) return true;
  if (lock.operation.startsWith(OPERATION_PREFIX)) return now - Date.parse(lock.created_at) > STALE_AFTER_MS;
  return false;
}

function describe(lock: LockInfo): string {
  const who = lock.operation.startsWith(OPERATION_PREFIX) ? lock.operation : `ghostsnap ${lock.operation || 'operation'}`;
  return `${who} by pid ${lock.pid} on ${lock.hostname}, since ${lock.created_at}`;
}

function content(operation: string): Buffer {
  const info: LockInfo = {
    lock_type: 'Exclusive',
    hostname: os.hostname(),
    pid: process.pid,
    created_at: new Date().toISOString(),
    operation: `${OPERATION_PREFIX}${operation}`,
  };
  return Buffer.from(JSON.stringify(info, null, 2));
}

export class GhostsnapLock {
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private lostError: Error | undefined;
  private released = false;

  private constructor(
    private readonly repo: GhostsnapRepository,
    private readonly operation: string,
    private etag: string | undefined,
  ) {}

  /** Set when the lock could not be kept (removed or replaced by someone else). */
  get lost(): Error | undefined {
    return this.lostError;
  }

  static async acquire(repo: GhostsnapRepository, operation: string, onStaleRemoved: (description: string) => void = () => {}): Promise<GhostsnapLock> {
    const storage = repo.storage;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const result = await storage.put(LOCK_KEY, content(operation), { ifNoneMatch: true });
        const lock = new GhostsnapLock(repo, operation, result.etag ?? (await storage.stat(LOCK_KEY))?.etag);
        lock.timer = setInterval(() => {
          lock.refreshing = lock.refresh().catch((err: unknown) => {
            lock.lostError = err as Error;
          });
        }, REFRESH_EVERY_MS);
        lock.timer.unref();
        return lock;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
      }
      let holder: LockInfo | undefined;
      let modified: Date | undefined;
      try {
        const info = await storage.stat(LOCK_KEY);
        modified = info?.modified;
        holder = parseLock(await storage.get(LOCK_KEY));
      } catch (err) {
        if (err instanceof BackupError && err.kind === 'NotFound') continue; // released meanwhile
        throw err;
      }
      const unreadableAndOld = !holder && modified !== undefined && Date.now() - modified.getTime() > STALE_AFTER_MS;
      if ((holder && isStale(holder)) || unreadableAndOld) {
        await storage.delete(LOCK_KEY);
        onStaleRemoved(holder ? describe(holder) : 'an unreadable lock file');
        continue;
      }
      throw new RepositoryLockedError(repo.location, holder ? describe(holder) : `${LOCK_KEY} exists but cannot be read`, {
        hint: 'wait for the other operation to finish; if no backup, forget or prune is running (ghostsnap or bolt-agent), remove locks/repo.lock',
      });
    }
    throw new RepositoryLockedError(repo.location, 'the lock changed hands repeatedly');
  }

  private async refresh(): Promise<void> {
    if (this.released) return;
    const result = await this.repo.storage.put(LOCK_KEY, content(this.operation), this.etag !== undefined ? { ifMatch: this.etag } : {});
    this.etag = result.etag ?? (await this.repo.storage.stat(LOCK_KEY))?.etag;
  }

  /** Throws when the lock is no longer ours: a writer must not commit without it. */
  async assertHeld(): Promise<void> {
    await this.refreshing;
    if (this.lostError) throw new BackupError('OperationFailed', `lost the repository lock: ${this.lostError.message}`);
    const info = await this.repo.storage.stat(LOCK_KEY);
    if (!info || (this.etag !== undefined && info.etag !== undefined && info.etag !== this.etag)) {
      throw new BackupError('OperationFailed', `lost the repository lock: ${LOCK_KEY} was removed or replaced by another process; nothing was committed`);
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.refreshing;
    const info = await this.repo.storage.stat(LOCK_KEY).catch(() => null);
    if (info && (this.etag === undefined || info.etag === undefined || info.etag === this.etag)) await this.repo.storage.delete(LOCK_KEY);
  }
}

/** Runs `fn` under the lock and always releases it. */
export async function withLock<T>(repo: GhostsnapRepository, operation: string, fn: (lock: GhostsnapLock) => Promise<T>, onStaleRemoved?: (description: string) => void): Promise<T> {
  const lock = await GhostsnapLock.acquire(repo, operation, onStaleRemoved);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
