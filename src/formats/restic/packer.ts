// Collects sealed blobs into packs (formats/restic.md §5.5): one open pack per blob type, closed
// when it reaches the target size, uploaded in the background. Uploaded packs are written to
// index files (§6) in batches; nothing references a pack before it is stored (§1.3).
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EncodedBlob, FinishedPack, PackWriter } from '../../native/types.ts';
import { CoreError } from '../../native/errors.ts';
import type { BlobSink } from '../../engine/content-pipeline.ts';
import { Uploader } from '../../engine/uploader.ts';
import { PackSpool } from '../../engine/pack-spool.ts';
import { Semaphore } from '../../engine/concurrency.ts';
import { encodePackHeader, SEAL_OVERHEAD, type PackedBlob } from './pack.ts';
import { encodePackedIndex, type BlobType, type IndexPack } from './index-json.ts';
import { PendingIndex } from './pending-index.ts';
import { objectKey, type ResticRepository } from './repository.ts';
import { idToHex } from './ids.ts';
import type { MasterIndex } from './master-index.ts';

/**
 * restic 0.14 writes an index file at 150,000 blobs (v2) or after 10 minutes; we write one every
 * 25,000 blobs. What is pending until then (an entry per blob) and the writing itself (JSON,
 * compressed, sealed) are held at once: at 50,000 blobs that write coincided with the large
 * files of a first backup of /usr and made its peak (184-213 MB; 165 MB at 25,000, same time).
 */
const INDEX_MAX_BLOBS = 25_000;
const INDEX_MAX_AGE_MS = 10 * 60 * 1000;
/** Trees: small, highly compressible, written one by one (data blobs use the configured compression). */
const TREE_ZSTD_LEVEL = 3;

interface OpenPack {
  blobs: PackedBlob[];
  /** Created with the first blob. */
  spool: Promise<PackSpool> | undefined;
  size: number;
}

export interface PackerStats {
  packs: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Plaintext bytes of the blobs added. */
  dataAdded: number;
  /** Bytes written into pack files (blobs + headers). */
  dataAddedPacked: number;
}

export class Packer implements BlobSink {
  private readonly open: Record<BlobType, OpenPack> = { data: emptyPack(), tree: emptyPack() };
  private readonly uploader: Uploader;
  private readonly pendingIndex = new PendingIndex();
  private pendingIndexSince = Date.now();
  private indexWrites: Promise<void> = Promise.resolve();
  /** Tree blobs stored in this run (dedup across directories). */
  private readonly treesSeen = new Set<string>();
  readonly writtenIndexIds: string[] = [];
  readonly stats: PackerStats = { packs: 0, dataBlobs: 0, treeBlobs: 0, dataAdded: 0, dataAddedPacked: 0 };

  /**
   * With `writeIndex: false`, the packs stored so far (the caller indexes them). Empty otherwise:
   * held for a whole backup, their entries were ~8 MB of the heap at its end (57k blobs).
   */
  readonly uploadedPacks: IndexPack[] = [];
  private readonly writesIndex: boolean;
  /** An index file is written once this many blobs are stored and not yet in one. */
  private readonly indexMaxBlobs: number;

  /**
   * Packs assembled in the native core (the pipeline appends new blobs to them directly), or
   * undefined: then packs are built here, through spool files.
   */
  private native: { writers: Record<BlobType, PackWriter>; ownDir: string | undefined } | undefined;

  /** Finished packs wait for this before they are stored (and so indexed): see holdStoresUntil(). */
  private held: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: ResticRepository,
    private readonly index: MasterIndex,
    private readonly packSize: number,
    uploadConcurrency: number,
    options: { writeIndex?: boolean; indexMaxBlobs?: number } = {},
  ) {
    this.uploader = new Uploader(repo.storage, uploadConcurrency);
    this.writesIndex = options.writeIndex ?? true;
    this.indexMaxBlobs = options.indexMaxBlobs ?? INDEX_MAX_BLOBS;
  }

  /** A packer that uses the core's pack writer when the core has one. */
  static async open(repo: ResticRepository, index: MasterIndex, packSize: number, uploadConcurrency: number, options: { writeIndex?: boolean; indexMaxBlobs?: number } = {}): Promise<Packer> {
    const packer = new Packer(repo, index, packSize, uploadConcurrency, options);
    const core = repo.core;
    if (core.newPackWriter) {
      const storage = repo.storage;
      const ownDir = storage.spoolDirectory ? undefined : await fsp.mkdtemp(path.join(os.tmpdir(), 'bolt-agent-packs-'));
      // A local repository keeps the pack files where they are written: their pages are dropped
      // from the page cache once synced and hashed, so a backup does not push the host's cached
      // files out (and, in a VM, its writes reuse pages instead of faulting in new ones: first
      // backup ~1.5 CPU-s less for 1 GB written). Spool files of remote repositories are read
      // again for the upload and deleted, which frees their pages anyway.
      const dir = ownDir ?? (await (storage.spoolDirectory as () => Promise<string>)());
      const writer = (blobType: BlobType) => (core.newPackWriter as NonNullable<typeof core.newPackWriter>)({ dir, blobType, targetSize: packSize, seal: repo.seal, dropCached: ownDir === undefined });
      packer.native = { writers: { data: writer('data'), tree: writer('tree') }, ownDir };
    }
    return packer;
  }

  /**
   * Packs finished before `gate` resolves stay in the spool until it does; if it rejects they are
   * deleted there and the backup fails. A backup starts reading and packing during its lock's
   * re-check pause, before it knows it holds the lock: nothing may reach the repository then.
   */
  holdStoresUntil(gate: Promise<void>): void {
    gate.catch(() => {}); // surfaces through the stores waiting for it
    this.held = gate;
  }

  /** The writer the file pipeline appends new data blobs to (PipelineParams.packWriter). */
  get pipelineWriter(): PackWriter | undefined {
    return this.native?.writers.data;
  }

  /**
   * Publishes and indexes the packs the core's writers finished (`wait`: all of them, after
   * close()); surfaces a writer's failure.
   */
  private collectNative(wait = false): Promise<void> {
    const collecting = this.collectNativeNow(wait);
    this.collecting.add(collecting);
    collecting.then(
      () => this.collecting.delete(collecting),
      () => this.collecting.delete(collecting),
    );
    return collecting;
  }

  /** collectNative calls not settled yet (abandon waits for them: they hold packs taken from the core). */
  private readonly collecting = new Set<Promise<void>>();

  private async collectNativeNow(wait: boolean): Promise<void> {
    const native = this.native;
    if (!native) return;
    for (const type of ['data', 'tree'] as const) {
      const writer = native.writers[type];
      const failure = writer.failure();
      if (failure) throw CoreError.from(failure);
      const finished = writer.takeFinished(wait);
      try {
        while (finished.length) await this.publishFinished(type, finished[0] as FinishedPack).then(() => finished.shift());
      } catch (err) {
        // Packs not handed to the uploader would otherwise stay behind in the temporary folder.
        await Promise.all(finished.map((p) => fsp.rm(p.path, { force: true })));
        throw err;
      }
    }
  }

  private async publishFinished(type: BlobType, pack: FinishedPack): Promise<void> {
    const packId = idToHex(pack.id);
    const key = objectKey('data', packId);
    const storage = this.repo.storage;
    this.stats.packs += 1;
    this.stats.dataAddedPacked += pack.size;
    const blobs: PackedBlob[] = pack.blobs.map((b) => ({ type, id: b.id, offset: b.offset, length: b.length, uncompressedLength: b.uncompressedLength }));
    await this.uploader.run(
      async () => {
        try {
          await this.held;
          if (storage.adoptFile) await storage.adoptFile(pack.path, key);
          else await storage.put(key, { file: pack.path, size: pack.size });
        } finally {
          await fsp.rm(pack.path, { force: true });
        }
      },
      pack.size,
      () => this.packStored(packId, blobs),
    );
  }

  /** Adds a blob that is already sealed (repacking copies blobs without re-encrypting them). */
  async addSealed(type: BlobType, id: Buffer, sealed: Buffer, uncompressedLength: number): Promise<void> {
    if (type === 'data') this.stats.dataBlobs += 1;
    else this.stats.treeBlobs += 1;
    if (this.native) {
      this.native.writers[type].add(id, sealed, uncompressedLength);
      return this.collectNative();
    }
    await this.add(type, { id: Buffer.from(id), data: Buffer.from(sealed), uncompressedLength });
  }

  async addDataBlobs(blobs: EncodedBlob[]): Promise<void> {
    for (const b of blobs) {
      this.stats.dataBlobs += 1;
      this.stats.dataAdded += b.rawLength;
    }
    if (this.native) {
      // The pipeline appended them to the core's writer already (storedLength set).
      for (const b of blobs) if (b.storedLength === undefined) this.native.writers.data.add(b.id, b.data, b.compressed ? b.rawLength : 0);
      return this.collectNative();
    }
    // One locked section and one write per pack for the whole batch: small files arrive one
    // blob each, and per-blob promises and writes cost more than the blobs.
    await this.adding.data.run(() => this.addManyInOrder('data', blobs.map((b) => ({ id: b.id, data: b.data, uncompressedLength: b.compressed ? b.rawLength : 0 }))));
  }

  /** Stores a tree blob unless it is already in the repository or was stored in this run. */
  async addTree(id: string, plaintext: Buffer): Promise<void> {
    if (this.treesSeen.has(id) || this.index.has('tree', id)) return;
    this.treesSeen.add(id);
    const compressed = this.repo.version === 2 && plaintext.length > 0;
    this.stats.treeBlobs += 1;
    this.stats.dataAdded += plaintext.length;
    if (this.native) {
      await this.native.writers.tree.encodeAndAdd(Buffer.from(id, 'hex'), plaintext, compressed ? TREE_ZSTD_LEVEL : undefined);
      return this.collectNative();
    }
    const payload = compressed ? await this.repo.core.compressAsync({ kind: 'zstd', level: TREE_ZSTD_LEVEL }, plaintext) : plaintext;
    const sealed = await this.repo.core.sealAsync(this.repo.seal, payload);
    await this.add('tree', { id: Buffer.from(id, 'hex'), data: sealed, uncompressedLength: compressed ? plaintext.length : 0 });
  }

  /** One blob at a time per pack type: offsets in the header must follow the write order. */
  private readonly adding: Record<BlobType, Semaphore> = { data: new Semaphore(1), tree: new Semaphore(1) };

  private add(type: BlobType, blob: { id: Buffer; data: Buffer; uncompressedLength: number }): Promise<void> {
    return this.adding[type].run(() => this.addInOrder(type, blob));
  }

  private addInOrder(type: BlobType, blob: { id: Buffer; data: Buffer; uncompressedLength: number }): Promise<void> {
    return this.addManyInOrder(type, [blob]);
  }

  /** Appends blobs in order, closing a pack whenever it reaches the target size. */
  private async addManyInOrder(type: BlobType, blobs: { id: Buffer; data: Buffer; uncompressedLength: number }[]): Promise<void> {
    let i = 0;
    while (i < blobs.length) {
      const pack = this.open[type];
      pack.spool ??= PackSpool.open(this.repo.storage);
      const parts: Buffer[] = [];
      let full = false;
      while (i < blobs.length && !full) {
        const blob = blobs[i++] as { id: Buffer; data: Buffer; uncompressedLength: number };
        pack.blobs.push({ type, id: blob.id, offset: pack.size, length: blob.data.length, uncompressedLength: blob.uncompressedLength });
        pack.size += blob.data.length;
        parts.push(blob.data);
        full = pack.size >= this.packSize;
      }
      const spool = await pack.spool;
      if (full) this.open[type] = emptyPack();
      await spool.append(parts);
      if (full) await this.finishPack(pack, spool);
    }
  }

  private async finishPack(pack: OpenPack, spool: PackSpool): Promise<void> {
    const header = await this.repo.core.sealAsync(this.repo.seal, encodePackHeader(pack.blobs));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.length, 0);
    await spool.append([header, length]);
    let packId: string;
    try {
      packId = await spool.finish();
    } catch (err) {
      await spool.discard();
      throw err;
    }
    this.stats.packs += 1;
    this.stats.dataAddedPacked += spool.size;
    const key = objectKey('data', packId);
    await this.uploader.run(
      () => this.held.then(() => spool.publish(key)).catch(async (err: unknown) => {
        await spool.discard();
        throw err;
      }),
      spool.size,
      () => this.packStored(packId, pack.blobs),
    );
  }

  private closeOpen(type: BlobType): Promise<void> {
    return this.adding[type].run(async () => {
      const pack = this.open[type];
      if (pack.blobs.length === 0 || !pack.spool) return;
      this.open[type] = emptyPack();
      await this.finishPack(pack, await pack.spool);
    });
  }

  private packStored(packId: string, blobs: PackedBlob[]): void {
    if (!this.writesIndex) {
      this.uploadedPacks.push({
        id: packId,
        blobs: blobs.map((b) => ({
          id: idToHex(b.id),
          type: b.type,
          offset: b.offset,
          length: b.length,
          ...(b.uncompressedLength > 0 ? { uncompressedLength: b.uncompressedLength } : {}),
        })),
      });
      return;
    }
    this.pendingIndex.addPack(Buffer.from(packId, 'hex'), blobs);
    if (this.pendingIndex.blobCount >= this.indexMaxBlobs || Date.now() - this.pendingIndexSince > INDEX_MAX_AGE_MS) this.writeIndex();
  }

  private writeIndex(): void {
    if (this.pendingIndex.blobCount === 0) return;
    const packs = this.pendingIndex.take();
    this.pendingIndexSince = Date.now();
    this.indexWrites = this.indexWrites.then(async () => {
      const id = await this.repo.writeUnpacked('index', encodePackedIndex(packs));
      this.writtenIndexIds.push(id);
      this.index.addPackedPacks(id, packs);
    });
  }

  /** Closes the open packs and waits for every upload. */
  async flushPacks(): Promise<void> {
    if (this.native) {
      this.native.writers.data.close();
      this.native.writers.tree.close();
      await this.collectNative(true);
    } else {
      await this.closeOpen('data');
      await this.closeOpen('tree');
    }
    await this.uploader.drain();
    if (this.native?.ownDir) await fsp.rm(this.native.ownDir, { recursive: true, force: true });
  }

  /**
   * Removes the spool files of packs that will not be finished (after a failure, or when the lock
   * was refused). Packs the core's writers finished were taken by collections still waiting for
   * an upload slot, or sit in uploads waiting for the lock: those delete their files as they
   * settle (refused, or stored), and are waited for first. Returning earlier left them in the
   * spool when the process ended.
   */
  async abandon(): Promise<void> {
    while (this.collecting.size) await Promise.allSettled([...this.collecting]);
    await this.uploader.drain().catch(() => {});
    if (this.native) {
      this.native.writers.data.discard();
      this.native.writers.tree.discard();
      if (this.native.ownDir) await fsp.rm(this.native.ownDir, { recursive: true, force: true });
    }
    for (const type of ['data', 'tree'] as const) {
      const spool = this.open[type].spool;
      this.open[type] = emptyPack();
      if (spool) await (await spool.catch(() => undefined))?.discard();
    }
  }

  /** Closes the open packs, waits for every upload, and writes the remaining index. */
  async flush(): Promise<void> {
    await this.flushPacks();
    this.writeIndex();
    await this.indexWrites;
  }


}

function emptyPack(): OpenPack {
  return { blobs: [], spool: undefined, size: 0 };
}

/** Plaintext length of a blob from its index entry. */
export function plainLength(length: number, uncompressedLength: number): number {
  return uncompressedLength > 0 ? uncompressedLength : length - SEAL_OVERHEAD;
}
