// All index files merged (formats/restic.md §6.2): (type, id) → locations, and what each
// indexed pack holds. Duplicates (the same blob in several packs) keep every location.
import type { BlobType, IndexBlob, ResticIndex } from './index-json.ts';
import { packSize } from './pack.ts';

export interface BlobLocation {
  packId: string;
  offset: number;
  length: number;
  /** 0 when the blob is not compressed. */
  uncompressedLength: number;
}

export interface PackInfo {
  /** Index files that list the pack. */
  indexIds: string[];
  blobCount: number;
  /** Size the pack file must have, computed from its blobs. */
  size: number;
  type: BlobType | 'mixed';
}

type Slot = BlobLocation | BlobLocation[];

export class MasterIndex {
  private readonly blobs: Record<BlobType, Map<string, Slot>> = { data: new Map(), tree: new Map() };
  readonly packs = new Map<string, PackInfo>();
  readonly indexIds = new Set<string>();

  addIndex(indexId: string, index: ResticIndex): void {
    this.indexIds.add(indexId);
    for (const pack of index.packs) this.addPack(pack.id, pack.blobs, indexId);
  }

  addPack(packId: string, blobs: readonly IndexBlob[], indexId: string): void {
    const existing = this.packs.get(packId);
    if (existing) {
      if (!existing.indexIds.includes(indexId)) existing.indexIds.push(indexId);
      return;
    }
    const types = new Set(blobs.map((b) => b.type));
    this.packs.set(packId, {
      indexIds: [indexId],
      blobCount: blobs.length,
      size: packSize(blobs.map((b) => ({ length: b.length, uncompressedLength: b.uncompressedLength ?? 0 }))),
      type: types.size === 1 ? (blobs[0]?.type ?? 'data') : 'mixed',
    });
    for (const b of blobs) {
      const location: BlobLocation = { packId, offset: b.offset, length: b.length, uncompressedLength: b.uncompressedLength ?? 0 };
      const map = this.blobs[b.type];
      const slot = map.get(b.id);
      if (slot === undefined) map.set(b.id, location);
      else if (Array.isArray(slot)) slot.push(location);
      else map.set(b.id, [slot, location]);
    }
  }

  has(type: BlobType, id: string): boolean {
    return this.blobs[type].has(id);
  }

  /** Every known location of a blob (first = preferred). */
  lookup(type: BlobType, id: string): BlobLocation[] {
    const slot = this.blobs[type].get(id);
    if (slot === undefined) return [];
    return Array.isArray(slot) ? slot : [slot];
  }

  count(type: BlobType): number {
    return this.blobs[type].size;
  }

  *entries(type: BlobType): IterableIterator<[string, BlobLocation[]]> {
    for (const [id, slot] of this.blobs[type]) yield [id, Array.isArray(slot) ? slot : [slot]];
  }
}
