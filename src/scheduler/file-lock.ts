// Host-wide locks as files in the state directory: one backup run at a time on this host (the
// daemon, `hook before-surge` and anything else that goes through runBackup), one daemon per
// state directory. A lock is created with link(2) from a fully written temporary file, so it
// appears atomically and whole. A holder that died (pid gone, or the pid reused by another
// process, told apart by its start time) leaves a stale lock that the next taker removes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackupError } from '../backup/errors.ts';

export interface LockHolder {
  pid: number;
  hostname: string;
  /** When the lock was taken (RFC 3339). */
  since: string;
  /** What the holder is doing, e.g. "backup (daily)". */
  purpose: string;
  /** /proc/<pid>/stat start time of the holder, to tell a reused pid from the holder. */
  process_start?: string;
  token: string;
}

function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses); starttime is field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A holder on this host whose process is gone (or whose pid now belongs to another process). */
export function isStaleHolder(holder: LockHolder): boolean {
  if (holder.hostname !== os.hostname()) return false;
  if (!alive(holder.pid)) return true;
  const start = processStart(holder.pid);
  return holder.process_start !== undefined && start !== undefined && start !== holder.process_start;
}

function readHolder(file: string): { holder: LockHolder | undefined; raw: string } | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const value = JSON.parse(raw) as LockHolder;
    return { holder: typeof value.pid === 'number' ? value : undefined, raw };
  } catch {
    return { holder: undefined, raw };
  }
}

/** Who holds the lock at `file`, if anyone (with whether the holder is gone). */
export function lockHolder(file: string): (LockHolder & { stale: boolean }) | undefined {
  const found = readHolder(file);
  if (!found?.holder) return undefined;
  return { ...found.holder, stale: isStaleHolder(found.holder) };
}

export function describeHolder(holder: LockHolder): string {
  return `pid ${holder.pid} on ${holder.hostname}, ${holder.purpose}, since ${holder.since}`;
}

export interface AcquireOptions {
  /** Wait for the holder to finish instead of failing at once. */
  wait?: boolean;
  signal?: AbortSignal;
  /** Called once when the lock is held by someone else and we start waiting. */
  onWait?: (holder: LockHolder) => void;
  pollMs?: number;
}

export class LockBusyError extends BackupError {
  constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    super('OperationFailed', `${path.basename(file)} is held by ${describeHolder(holder)}`, { details: { lock: file, pid: holder.pid } });
  }
}

export class FileLock {
  private released = false;

  private constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {}

  /** Takes the lock once: the lock, or the live holder that has it. */
  static tryAcquire(file: string, purpose: string): FileLock | LockHolder {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const start = processStart(process.pid);
    const holder: LockHolder = {
      pid: process.pid,
      hostname: os.hostname(),
      since: new Date().toISOString(),
      purpose,
      ...(start ? { process_start: start } : {}),
      token: crypto.randomBytes(8).toString('hex'),
    };
    const temp = `${file}.${process.pid}.${holder.token}`;
    fs.writeFileSync(temp, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          fs.linkSync(temp, file);
          return new FileLock(file, holder);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const found = readHolder(file);
        if (!found) continue;
        if (found.holder && !isStaleHolder(found.holder)) return found.holder;
        FileLock.removeStale(file, found.raw);
      }
      throw new BackupError('OperationFailed', `cannot take ${file}: it keeps changing`);
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }

  /**
   * Removes a stale lock, but only the one we judged: it is renamed aside first, so when two
   * takers race, the second does not delete the lock the first has just created.
   */
  private static removeStale(file: string, judged: string): void {
    const aside = `${file}.stale.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    try {
      fs.renameSync(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const moved = fs.readFileSync(aside, 'utf8');
    if (moved !== judged) {
      try {
        fs.linkSync(aside, file);
      } catch {
        // someone took the lock meanwhile; the one we moved aside lost its file either way
      }
    }
    fs.rmSync(aside, { force: true });
  }

  static async acquire(file: string, purpose: string, options: AcquireOptions = {}): Promise<FileLock> {
    let told = false;
    for (;;) {
      if (options.signal?.aborted) throw interrupted(options.signal);
      const result = FileLock.tryAcquire(file, purpose);
      if (result instanceof FileLock) return result;
      if (!options.wait) throw new LockBusyError(file, result);
      if (!told) {
        told = true;
        options.onWait?.(result);
      }
      await sleep(options.pollMs ?? 250, options.signal);
    }
  }

  /** Synchronous, so it also runs from an exit handler. Leaves a lock that is no longer ours alone. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const found = readHolder(this.file);
    if (found?.holder?.token === this.holder.token) fs.rmSync(this.file, { force: true });
  }
}

function interrupted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new BackupError('Interrupted', 'interrupted');
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(timer);
      reject(interrupted(signal as AbortSignal));
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
