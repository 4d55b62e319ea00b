// The packs a backup has stored but not yet named in an index file, held as columns in the
// core's PackedIndex layout. Held as an object and a 64-digit hex string per blob, the up to
// 25,000 blobs between two index files were ~50k of the ~135k cells every full collection of a
// first backup had to mark.
import type { PackedIndex } from '../../native/types.ts';
import { ID_LENGTH } from './ids.ts';
import type { PackedBlob } from './pack.ts';

const MAX_UINT32 = 0xffff_ffff;

function grown<T extends Uint8Array | Uint32Array | Float64Array>(array: T, needed: number, make: (length: number) => T): T {
  if (needed <= array.length) return array;
  const next = make(Math.max(needed, array.length * 2));
  next.set(array);
  return next;
}

export class PendingIndex {
  private packIds!: Buffer;
  private packBlobCounts!: Uint32Array;
  private packCount!: number;
  private blobIds!: Buffer;
  private types!: Uint8Array;
  private offsets!: Float64Array;
  private lengths!: Uint32Array;
  private uncompressedLengths!: Uint32Array;
  private count!: number;

  constructor() {
    this.reset();
  }

  private reset(): void {
    this.packIds = Buffer.alloc(ID_LENGTH * 16);
    this.packBlobCounts = new Uint32Array(16);
    this.packCount = 0;
    this.blobIds = Buffer.alloc(ID_LENGTH * 1024);
    this.types = new Uint8Array(1024);
    this.offsets = new Float64Array(1024);
    this.lengths = new Uint32Array(1024);
    this.uncompressedLengths = new Uint32Array(1024);
    this.count = 0;
  }

  /** Blobs held. */
  get blobCount(): number {
    return this.count;
  }

  /** One stored pack and its blobs (uncompressedLength 0: stored uncompressed). */
  addPack(packId: Uint8Array, blobs: readonly PackedBlob[]): void {
    if (packId.length !== ID_LENGTH) throw new RangeError(`pack id of ${packId.length} bytes`);
    if (blobs.length === 0) throw new RangeError('a pack holds at least one blob');
    for (const b of blobs) {
      if (b.id.length !== ID_LENGTH) throw new RangeError(`blob id of ${b.id.length} bytes`);
      if (!(Number.isInteger(b.length) && b.length >= 0 && b.length <= MAX_UINT32 && Number.isInteger(b.uncompressedLength) && b.uncompressedLength >= 0 && b.uncompressedLength <= MAX_UINT32)) {
        throw new RangeError(`blob length ${b.length}/${b.uncompressedLength} is not an unsigned 32-bit integer`);
      }
      if (!Number.isSafeInteger(b.offset) || b.offset < 0) throw new RangeError(`blob offset ${b.offset} is not an unsigned integer`);
    }
    const p = this.packCount++;
    this.packIds = grown(this.packIds, (p + 1) * ID_LENGTH, (n) => Buffer.alloc(n));
    this.packBlobCounts = grown(this.packBlobCounts, p + 1, (n) => new Uint32Array(n));
    this.packIds.set(packId, p * ID_LENGTH);
    this.packBlobCounts[p] = blobs.length;
    const end = this.count + blobs.length;
    this.blobIds = grown(this.blobIds, end * ID_LENGTH, (n) => Buffer.alloc(n));
    this.types = grown(this.types, end, (n) => new Uint8Array(n));
    this.offsets = grown(this.offsets, end, (n) => new Float64Array(n));
    this.lengths = grown(this.lengths, end, (n) => new Uint32Array(n));
    this.uncompressedLengths = grown(this.uncompressedLengths, end, (n) => new Uint32Array(n));
    for (const b of blobs) {
      const i = this.count++;
      this.blobIds.set(b.id, i * ID_LENGTH);
      this.types[i] = b.type === 'tree' ? 1 : 0;
      this.offsets[i] = b.offset;
      this.lengths[i] = b.length;
      this.uncompressedLengths[i] = b.uncompressedLength;
    }
  }

  /** What is held, as one index file's content; the builder starts empty again. */
  take(): PackedIndex {
    const taken: PackedIndex = {
      supersedes: Buffer.alloc(0),
      packIds: this.packIds.subarray(0, this.packCount * ID_LENGTH),
      packBlobCounts: this.packBlobCounts.subarray(0, this.packCount),
      blobIds: this.blobIds.subarray(0, this.count * ID_LENGTH),
      types: this.types.subarray(0, this.count),
      offsets: this.offsets.subarray(0, this.count),
      lengths: this.lengths.subarray(0, this.count),
      uncompressedLengths: this.uncompressedLengths.subarray(0, this.count),
    };
    this.reset();
    return taken;
  }
}
