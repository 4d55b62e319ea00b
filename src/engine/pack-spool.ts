// A pack being written: its bytes go to a temporary file as they come (never held in memory)
// and are hashed on the way; once complete the file is published under the pack's key — by a
// rename on local storage, or streamed to remote storage.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SpoolFile, Storage } from '../storage/storage.ts';

async function tempSpool(storage: Storage): Promise<SpoolFile> {
  const file = path.join(os.tmpdir(), `bolt-agent-spool-${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
  await fsp.writeFile(file, '', { flag: 'wx', mode: 0o600 });
  return {
    path: file,
    publish: async (key: string, size: number) => {
      try {
        return await storage.put(key, { file, size });
      } finally {
        await fsp.unlink(file).catch(() => undefined);
      }
    },
    discard: () => fsp.unlink(file).catch(() => undefined),
  };
}

export class PackSpool {
  private readonly hash: Hash = createHash('sha256');
  private writes: Promise<void> = Promise.resolve();
  private length = 0;

  private constructor(
    private readonly file: SpoolFile,
    private readonly handle: fsp.FileHandle,
  ) {}

  static async open(storage: Storage): Promise<PackSpool> {
    const file = storage.createSpool ? await storage.createSpool() : await tempSpool(storage);
    try {
      return new PackSpool(file, await fsp.open(file.path, 'r+'));
    } catch (err) {
      await file.discard();
      throw err;
    }
  }

  get size(): number {
    return this.length;
  }

  /** Appends bytes; resolves when they are written (the caller's backpressure). */
  append(parts: readonly Uint8Array[]): Promise<void> {
    for (const p of parts) {
      this.hash.update(p);
      this.length += p.byteLength;
    }
    const position = this.length - parts.reduce((n, p) => n + p.byteLength, 0);
    this.writes = this.writes.then(() => this.handle.writev(parts as Uint8Array[], position).then(() => undefined));
    return this.writes;
  }

  /** Waits for the writes and closes the file; returns the SHA-256 of everything appended. */
  async finish(): Promise<string> {
    await this.writes;
    await this.handle.close();
    return this.hash.digest('hex');
  }

  publish(key: string): Promise<unknown> {
    return this.file.publish(key, this.length);
  }

  async discard(): Promise<void> {
    await this.writes.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await this.file.discard();
  }
}
