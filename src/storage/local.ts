// A repository in a local folder. Writes are atomic (temporary file in <root>/.tmp/, fsync,
// rename, fsync of the folder), so readers and other processes see old or new bytes, never a part.
// Names starting with "." are never listed: restic and ghostsnap only treat hex/UUID names as
// objects, and a stray name must never look like one.
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bodyParts, throttledPieces } from './body.ts';
import { PreconditionFailedError, StorageRequestError, type FailureFacts, type StorageTarget } from './errors.ts';
import type { ByteRange, ObjectInfo, PutBody, PutOptions, PutResult, SpoolFile, Storage } from './storage.ts';
import type { TokenBucket } from './token-bucket.ts';

/** Stream bodies are copied to disk in pieces of this size. */
const WRITE_PART = 1024 * 1024;
/** A conditional put holds its lock for one stat and one rename; a lock this old was left by a crash. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 30_000;
/** A temporary file untouched this long belongs to a process that died. */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

export interface LocalSettings {
  root: string;
  uploadBucket: TokenBucket | undefined;
}

interface FsError {
  code?: string;
  message?: string;
}

export class LocalStorage implements Storage {
  readonly kind = 'local' as const;
  readonly location: string;
  readonly target: StorageTarget;
  private readonly root: string;

  /**
   * Temporary files, spools and conditional-put locks live in <root>/.tmp/, never beside the
   * objects: ghostsnap reads every file in snapshots/ as a snapshot, so a temporary file left
   * there by a crash would break it. restic and ghostsnap ignore the folder.
   */
  private get tempDir(): string {
    return path.join(this.root, '.tmp');
  }

  private sweptTemp = false;

  /** Temporary files a crashed process left behind, once they are surely nobody's any more. */
  private async sweepTemp(): Promise<void> {
    const cutoff = Date.now() - STALE_TEMP_MS;
    for (const name of await readdir(this.tempDir).catch(() => [] as string[])) {
      const file = path.join(this.tempDir, name);
      const st = await stat(file).catch(() => null);
      if (st && st.isFile() && st.mtimeMs < cutoff) await unlink(file).catch(() => undefined);
    }
  }

  private async tempFile(prefix: string): Promise<{ temp: string; handle: FileHandle }> {
    if (!this.sweptTemp) {
      this.sweptTemp = true;
      void this.sweepTemp();
    }
    const temp = path.join(this.tempDir, `${prefix}${randomBytes(8).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', 0o600).catch(async (err: FsError) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(this.tempDir, { recursive: true, mode: 0o700 });
      return open(temp, 'wx', 0o600);
    });
    return { temp, handle };
  }

  constructor(private readonly settings: LocalSettings) {
    this.root = path.resolve(settings.root);
    this.location = this.root;
    this.target = { kind: 'local', endpoint: this.root };
  }

  private failure(operation: string, key: string | undefined, err: unknown): StorageRequestError {
    const e = err as FsError;
    const message = e.message ?? String(err);
    const facts = (f: FailureFacts['failure'], reason: string): FailureFacts => ({ failure: f, reason, ...(e.code ? { code: e.code } : {}), cause: err });
    switch (e.code) {
      case 'ENOENT':
      case 'ENOTDIR':
      case 'EISDIR':
        return new StorageRequestError(this.target, operation, key, facts('not-found', 'no such object'));
      case 'EACCES':
      case 'EPERM':
        return new StorageRequestError(this.target, operation, key, facts('auth', `permission denied: ${message}`));
      default:
        return new StorageRequestError(this.target, operation, key, facts('fatal', message));
    }
  }

  /** Maps a key to a path inside the root; keys that could leave it are refused. */
  private pathOf(key: string): string {
    const parts = key.split('/');
    if (!key || parts.some((p) => p === '' || p === '.' || p === '..') || key.includes('\\') || key.includes('\0')) {
      throw new StorageRequestError(this.target, 'access', key, { failure: 'fatal', reason: 'not a valid object key' });
    }
    return path.join(this.root, ...parts);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const start = slash >= 0 ? prefix.slice(0, slash) : '';
    yield* this.walk(start, prefix);
  }

  private async *walk(dirKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let entries;
    try {
      entries = await readdir(dirKey ? this.pathOf(dirKey) : this.root, { withFileTypes: true });
    } catch (err) {
      const code = (err as FsError).code;
      // A folder that was never created (or lost, e.g. through git) holds no objects.
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.failure('list', prefix, err);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(key, prefix);
        continue;
      }
      if (!key.startsWith(prefix)) continue;
      const info = await this.stat(key);
      if (info) yield info;
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await stat(this.pathOf(key), { bigint: true });
      if (!st.isFile()) return null;
      return { key, size: Number(st.size), modified: new Date(Number(st.mtimeMs)), etag: etagOf(st) };
    } catch (err) {
      const code = (err as FsError).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw this.failure('stat', key, err);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.pathOf(key), 'r');
      const size = Number((await handle.stat()).size);
      const offset = range?.offset ?? 0;
      const length = Math.max(0, Math.min(range ? range.length : size, size - offset));
      const buffer = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === length ? buffer : buffer.subarray(0, filled);
    } catch (err) {
      if (err instanceof StorageRequestError) throw err;
      throw this.failure('get', key, err);
    } finally {
      await handle?.close();
    }
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    let handle: FileHandle;
    try {
      // Opened now, so a missing object fails here rather than at the first read.
      handle = await open(this.pathOf(key), 'r');
    } catch (err) {
      if (err instanceof StorageRequestError) throw err;
      throw this.failure('get', key, err);
    }
    return handle.createReadStream({ highWaterMark: 1024 * 1024 });
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<PutResult> {
    const final = this.pathOf(key);
    const dir = path.dirname(final);
    let temp: string;
    let handle: FileHandle;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      ({ temp, handle } = await this.tempFile(`${path.basename(final)}.`));
    } catch (err) {
      throw this.failure('put', key, err);
    }
    let etag: string;
    try {
      for await (const part of bodyParts(body, WRITE_PART, key)) {
        for await (const piece of throttledPieces(part, this.settings.uploadBucket)) await writeAll(handle, piece);
      }
      await handle.sync();
      // inode, size and mtime survive the rename: this is the etag of what we publish.
      etag = etagOf(await handle.stat({ bigint: true }));
      await handle.close();
    } catch (err) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw err instanceof StorageRequestError || !(err as FsError).code ? err : this.failure('put', key, err);
    }
    try {
      if (options.ifMatch !== undefined || options.ifNoneMatch) {
        await this.withLock(key, final, async () => {
          const current = await this.stat(key);
          if (options.ifNoneMatch && current) throw new PreconditionFailedError(this.target, key, 'the object already exists');
          if (options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
            throw new PreconditionFailedError(this.target, key, current ? 'the object changed' : 'the object does not exist');
          }
          await rename(temp, final);
        });
      } else {
        await rename(temp, final);
      }
      await syncDir(dir);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err instanceof StorageRequestError ? err : this.failure('put', key, err);
    }
    return { etag };
  }

  /**
   * Serialises conditional puts of one key across processes: the lock is a file created with
   * O_EXCL beside the target, held for one stat and one rename.
   */
  private async withLock<T>(key: string, final: string, task: () => Promise<T>): Promise<T> {
    const lock = path.join(this.tempDir, `${key.replace(/\//g, '_')}.lock`);
    await mkdir(this.tempDir, { recursive: true, mode: 0o700 });
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const handle = await open(lock, 'wx', 0o600);
        await handle.writeFile(`${hostname()} ${process.pid}\n`);
        await handle.close();
        break;
      } catch (err) {
        if ((err as FsError).code !== 'EEXIST') throw err;
        const held = await stat(lock).catch(() => null);
        if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) {
          await unlink(lock).catch(() => undefined);
          continue;
        }
        if (Date.now() > deadline) {
          throw new StorageRequestError(this.target, 'conditional put', key, { failure: 'fatal', reason: `the lock ${lock} is held by another process` });
        }
        await sleep(2 + Math.random() * 10);
      }
    }
    try {
      return await task();
    } finally {
      await unlink(lock).catch(() => undefined);
    }
  }

  /** Spools live in the repository's .tmp/ folder (same filesystem, so publishing is a rename). */
  async createSpool(): Promise<SpoolFile> {
    const { temp, handle } = await this.tempFile('spool-');
    await handle.close();
    return {
      path: temp,
      publish: async (key: string) => {
        const final = this.pathOf(key);
        const handle = await open(temp, 'r+');
        try {
          await handle.sync();
          const etag = etagOf(await handle.stat({ bigint: true }));
          await handle.close();
          await rename(temp, final).catch(async (err: FsError) => {
            if (err.code !== 'ENOENT') throw err;
            await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
            await rename(temp, final);
          });
          await syncDir(path.dirname(final));
          return { etag };
        } catch (err) {
          await handle.close().catch(() => undefined);
          throw err instanceof StorageRequestError ? err : this.failure('put', key, err);
        }
      },
      discard: () => unlink(temp).catch(() => undefined),
    };
  }

  localFile(key: string): string {
    return this.pathOf(key);
  }

  async spoolDirectory(): Promise<string> {
    await mkdir(this.tempDir, { recursive: true, mode: 0o700 });
    if (!this.sweptTemp) {
      this.sweptTemp = true;
      void this.sweepTemp();
    }
    return this.tempDir;
  }

  /** The file's data is already synced by whoever wrote it; the rename is made durable here. */
  async adoptFile(tempPath: string, key: string): Promise<PutResult> {
    const final = this.pathOf(key);
    try {
      const etag = etagOf(await stat(tempPath, { bigint: true }));
      await rename(tempPath, final).catch(async (err: FsError) => {
        if (err.code !== 'ENOENT') throw err;
        await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
        await rename(tempPath, final);
      });
      await syncDir(path.dirname(final));
      return { etag };
    } catch (err) {
      throw err instanceof StorageRequestError ? err : this.failure('put', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (err) {
      if (err instanceof StorageRequestError) throw err;
      const code = (err as FsError).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.failure('delete', key, err);
    }
  }

  /** test-connection: the repository folder must exist. */
  async checkContainer(): Promise<void> {
    try {
      const st = await stat(this.root);
      if (!st.isDirectory()) throw Object.assign(new Error(`${this.root} is not a folder`), { code: 'ENOTDIR' });
    } catch (err) {
      const code = (err as FsError).code;
      if (code === 'ENOENT') throw new StorageRequestError(this.target, 'open', undefined, { failure: 'missing-container', reason: 'the folder does not exist', code });
      throw this.failure('open', undefined, err);
    }
  }

  async createFolders(prefixes: readonly string[]): Promise<void> {
    for (const prefix of prefixes) {
      try {
        await mkdir(path.join(this.root, prefix), { recursive: true, mode: 0o700 });
      } catch (err) {
        throw this.failure('create folder', prefix, err);
      }
    }
  }

  async createContainer(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw this.failure('create folder', undefined, err);
    }
  }

  async close(): Promise<void> {}
}

function etagOf(st: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset, null);
    offset += bytesWritten;
  }
}

/** Makes a rename durable. Some filesystems cannot fsync a folder; the rename then is as durable as they allow. */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as FsError).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}
