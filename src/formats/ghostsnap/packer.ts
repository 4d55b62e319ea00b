// Collects compressed chunks into packs (formats/ghostsnap.md §8) without holding a pack in
// memory: each chunk's zlib stream is appended to a spool file (unlinked at once, so a killed
// process leaves nothing behind) while BLAKE3 of the data section is computed; a full pack is
// uploaded as a sized stream — header box, chunk-map box, then the spool encrypted piece by piece
// with a streaming ChaCha20-Poly1305. Nothing refers to a pack before it is stored.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EncodedBlob } from '../../native/types.ts';
import type { BlobSink } from '../../engine/content-pipeline.ts';
import { Uploader } from '../../engine/uploader.ts';
import { blake3Stream, type StreamHash } from './blake3-stream.ts';
import { encodeChunkMap, encodePackHeader, NONCE_LENGTH, PACK_VERSION, packKey, rfc3339Utc, TAG_LENGTH, u32le, type PackedChunk } from './pack.ts';
import type { PackInfo } from './chunk-index.ts';
import type { GhostsnapRepository } from './repository.ts';
import { newUuid } from './ids.ts';

/** Spool bytes are encrypted and handed to storage in pieces of this size. */
const PIECE = 1024 * 1024;
/** The chunk map is one sealed box built in memory: many tiny chunks close a pack early. */
const MAX_CHUNKS_PER_PACK = 20_000;

export interface StoredPack {
  id: string;
  info: PackInfo;
  chunks: PackedChunk[];
  /** Bytes of the pack file. */
  fileSize: number;
}

export interface PackerStats {
  packs: number;
  chunks: number;
  /** Plaintext bytes of the chunks added. */
  rawBytes: number;
  /** Bytes of the pack files written. */
  packedBytes: number;
}

class Spool {
  size = 0;
  rawSize = 0;
  readonly chunks: PackedChunk[] = [];

  private constructor(
    readonly file: fs.FileHandle,
    readonly hash: StreamHash,
  ) {}

  static async create(dir: string): Promise<Spool> {
    const name = path.join(dir, `.bolt-spool-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const file = await fs.open(name, 'w+', 0o600);
    await fs.unlink(name);
    return new Spool(file, await blake3Stream());
  }

  async append(id: string, zlib: Buffer, rawLength: number): Promise<void> {
    let written = 0;
    while (written < zlib.length) {
      const { bytesWritten } = await this.file.write(zlib, written, zlib.length - written, this.size + written);
      written += bytesWritten;
    }
    this.hash.update(zlib);
    this.chunks.push({ id, offset: this.size, length: zlib.length, uncompressedLength: rawLength });
    this.size += zlib.length;
    this.rawSize += rawLength;
  }
}

/**
 * The spool directory: <cache_dir>/ghostsnap-spool when a cache directory is configured, else
 * ~/.cache/bolt-agent/spool (on disk, unlike a tmpfs /tmp), else the temp directory.
 */
export async function spoolDirectory(cacheDir: string | null): Promise<string> {
  const base = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  const dir = cacheDir ? path.join(cacheDir, 'ghostsnap-spool') : path.join(base, 'bolt-agent', 'spool');
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.access(dir, fs.constants.W_OK);
    return dir;
  } catch {
    return os.tmpdir();
  }
}

export class GhostsnapPacker implements BlobSink {
  private current: Spool | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly uploader: Uploader;
  private readonly pending = new Set<Spool>();
  readonly stats: PackerStats = { packs: 0, chunks: 0, rawBytes: 0, packedBytes: 0 };
  readonly stored: StoredPack[] = [];

  constructor(
    private readonly repo: GhostsnapRepository,
    private readonly packSize: number,
    uploads: number,
    private readonly spoolDir: string,
    /** Called once a pack is stored (before flush() returns). */
    private readonly onStored: (pack: StoredPack) => void = () => {},
  ) {
    this.uploader = new Uploader(repo.storage, uploads);
  }

  /** Runs `task` after every earlier one: the spool is written strictly in order. */
  private serial(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  addDataBlobs(blobs: EncodedBlob[]): Promise<void> {
    return this.serial(async () => {
      for (const b of blobs) {
        if (!b.compressed) throw new Error('ghostsnap chunks must be zlib streams (compute core returned an uncompressed blob)');
        await this.append(b.id.toString('hex'), b.data, b.rawLength);
      }
    });
  }

  /** Adds a chunk that is already a zlib stream (repacking copies chunks without recompressing). */
  addCompressed(id: string, zlib: Buffer, rawLength: number): Promise<void> {
    return this.serial(() => this.append(id, zlib, rawLength));
  }

  private async append(id: string, zlib: Buffer, rawLength: number): Promise<void> {
    this.current ??= await Spool.create(this.spoolDir);
    this.pending.add(this.current);
    await this.current.append(id, zlib, rawLength);
    this.stats.chunks += 1;
    this.stats.rawBytes += rawLength;
    if (this.current.size >= this.packSize || this.current.chunks.length >= MAX_CHUNKS_PER_PACK) await this.finishPack();
  }

  private async finishPack(): Promise<void> {
    const spool = this.current;
    if (!spool || spool.chunks.length === 0) return;
    this.current = undefined;
    const core = this.repo.core;
    const id = newUuid(core);
    const headerBox = await this.repo.sealBox(
      encodePackHeader({
        version: PACK_VERSION,
        packId: id,
        chunkCount: spool.chunks.length,
        uncompressedSize: spool.rawSize,
        compressedSize: spool.size,
        createdAt: rfc3339Utc(new Date()),
        dataChecksum: spool.hash.digestHex(),
      }),
    );
    const mapBox = await this.repo.sealBox(encodeChunkMap(spool.chunks));
    const nonce = core.randomBytes(NONCE_LENGTH);
    const head = [u32le(headerBox.length), headerBox, u32le(mapBox.length), mapBox, nonce];
    const size = head.reduce((n, b) => n + b.length, 0) + spool.size + TAG_LENGTH;
    const key = this.repo.dataKey;
    const stream = (async function* (): AsyncGenerator<Uint8Array> {
      yield* head;
      const aead = core.aeadStream('seal', key, nonce);
      // Both buffers are reused for every piece: storage consumes a stream chunk before it asks
      // for the next (PutBody), and per-piece garbage would pile up in a lazily collecting runtime.
      const piece = Buffer.allocUnsafe(Math.min(PIECE, Math.max(1, spool.size)));
      const sealed = Buffer.allocUnsafe(piece.length);
      for (let pos = 0; pos < spool.size; ) {
        const { bytesRead } = await spool.file.read(piece, 0, Math.min(piece.length, spool.size - pos), pos);
        if (bytesRead === 0) throw new Error('pack spool ended early');
        aead.updateInto(piece.subarray(0, bytesRead), sealed);
        yield sealed.subarray(0, bytesRead);
        pos += bytesRead;
      }
      yield aead.final();
    })();
    const stored: StoredPack = { id, info: { size: spool.size, chunkCount: spool.chunks.length }, chunks: spool.chunks, fileSize: size };
    this.stats.packs += 1;
    this.stats.packedBytes += size;
    await this.uploader.upload(packKey(id), { stream, size }, size, async () => {
      await this.release(spool);
      this.stored.push(stored);
      this.onStored(stored);
    });
  }

  private async release(spool: Spool): Promise<void> {
    if (!this.pending.delete(spool)) return;
    await spool.file.close();
  }

  /** Closes the open pack and waits for every upload; rethrows the first failure. */
  async flush(): Promise<void> {
    await this.serial(() => this.finishPack());
    await this.uploader.drain();
  }

  /** Frees the spool files of packs that will not be stored (after a failure). */
  async discard(): Promise<void> {
    this.current = undefined;
    for (const spool of [...this.pending]) await this.release(spool);
  }
}

