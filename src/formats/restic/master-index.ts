// All index files merged (formats/restic.md §6.2): (type, id) → locations, and what each
// indexed pack holds. Duplicates (the same blob in several packs) keep every location.
//
// Blob locations live in typed arrays, not in one object and one hex string per blob: a
// repository of 57k blobs took ~25 MB of JavaScript heap that way (and the collector's slack on
// top of it), ~4 MB this way. Locations are built as objects only when asked for.
import type { BlobType, IndexBlob, ResticIndex } from './index-json.ts';
import { headerEntrySize, packSize } from './pack.ts';
import type { PackedIndex } from '../../native/types.ts';

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

const ID_BYTES = 32;
const NONE = -1;
const FIRST_ROW_BYTES = 52;

/** Hex digit values by char code; 255 for anything else. */
const HEX_VALUE = (() => {
  const table = new Uint8Array(128).fill(255);
  for (let i = 0; i < 10; i++) table[48 + i] = i;
  for (let i = 0; i < 6; i++) table[97 + i] = 10 + i;
  return table;
})();

/** `hex` as 32 bytes into `out`; false when it is not 64 lower-case hex digits. */
function parseHexId(hex: string, out: Uint8Array): boolean {
  if (hex.length !== ID_BYTES * 2) return false;
  for (let i = 0; i < ID_BYTES; i++) {
    const hi = HEX_VALUE[hex.charCodeAt(2 * i)] ?? 255;
    const lo = HEX_VALUE[hex.charCodeAt(2 * i + 1)] ?? 255;
    if (hi === 255 || lo === 255) return false;
    out[i] = (hi << 4) | lo;
  }
  return true;
}

/**
 * The locations of one blob type. Each location is a row of parallel arrays; the first row of an
 * id is found through an open-addressing hash table (ids are SHA-256 hashes: their first four
 * bytes are a uniform hash), further rows of the same id are chained through `next`.
 */
class LocationTable {
  private ids = new Uint8Array(0);
  private pack = new Uint32Array(0);
  private offset = new Float64Array(0);
  private length = new Uint32Array(0);
  private uncompressed = new Uint32Array(0);
  private next = new Int32Array(0);
  /** Last row of each chain for a first row (so a duplicate is appended in O(1)); NONE for the others. */
  private tail = new Int32Array(0);
  private rows = 0;
  private slots = new Int32Array(16).fill(NONE);
  /** Distinct ids. */
  size = 0;

  private hashAt(bytes: Uint8Array, at: number): number {
    return ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) >>> 0;
  }

  private sameId(row: number, id: Uint8Array, at: number): boolean {
    const base = row * ID_BYTES;
    for (let i = 0; i < ID_BYTES; i++) if (this.ids[base + i] !== id[at + i]) return false;
    return true;
  }

  /** The first row of the id at `id[at..at+32]`, or NONE. */
  head(id: Uint8Array, at = 0): number {
    const mask = this.slots.length - 1;
    for (let s = this.hashAt(id, at) & mask; ; s = (s + 1) & mask) {
      const row = this.slots[s] as number;
      if (row === NONE || this.sameId(row, id, at)) return row;
    }
  }

  private growRows(): void {
    const capacity = Math.max(1024, this.rows * 2);
    const grow = <T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(old: T, make: (n: number) => T, width = 1): T => {
      const fresh = make(capacity * width);
      fresh.set(old);
      return fresh;
    };
    this.ids = grow(this.ids, (n) => new Uint8Array(n), ID_BYTES);
    this.pack = grow(this.pack, (n) => new Uint32Array(n));
    this.offset = grow(this.offset, (n) => new Float64Array(n));
    this.length = grow(this.length, (n) => new Uint32Array(n));
    this.uncompressed = grow(this.uncompressed, (n) => new Uint32Array(n));
    this.next = grow(this.next, (n) => new Int32Array(n));
    this.tail = grow(this.tail, (n) => new Int32Array(n));
  }

  private growSlots(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(NONE);
    const mask = slots.length - 1;
    for (const row of this.slots) {
      if (row === NONE) continue;
      let s = this.hashAt(this.ids, row * ID_BYTES) & mask;
      while (slots[s] !== NONE) s = (s + 1) & mask;
      slots[s] = row;
    }
    this.slots = slots;
  }

  add(id: Uint8Array, packIndex: number, offset: number, length: number, uncompressedLength: number): void {
    if (this.rows * ID_BYTES === this.ids.length) this.growRows();
    const row = this.rows++;
    this.ids.set(id.subarray(0, ID_BYTES), row * ID_BYTES);
    this.pack[row] = packIndex;
    this.offset[row] = offset;
    this.length[row] = length;
    this.uncompressed[row] = uncompressedLength;
    this.next[row] = NONE;
    const first = this.head(id);
    if (first !== NONE) {
      this.next[this.tail[first] as number] = row;
      this.tail[first] = row;
      this.tail[row] = NONE;
      return;
    }
    this.tail[row] = row;
    if ((this.size + 1) * 2 > this.slots.length) this.growSlots();
    const mask = this.slots.length - 1;
    let s = this.hashAt(id, 0) & mask;
    while (this.slots[s] !== NONE) s = (s + 1) & mask;
    this.slots[s] = row;
    this.size += 1;
  }

  location(row: number, packIds: readonly string[]): BlobLocation {
    return { packId: packIds[this.pack[row] as number] as string, offset: this.offset[row] as number, length: this.length[row] as number, uncompressedLength: this.uncompressed[row] as number };
  }

  locations(first: number, packIds: readonly string[]): BlobLocation[] {
    const out: BlobLocation[] = [];
    for (let row = first; row !== NONE; row = this.next[row] as number) out.push(this.location(row, packIds));
    return out;
  }

  /** First rows in the order their ids were first added. */
  *heads(): IterableIterator<number> {
    for (let row = 0; row < this.rows; row++) if (this.tail[row] !== NONE) yield row;
  }

  idHex(row: number): string {
    return Buffer.from(this.ids.buffer, this.ids.byteOffset + row * ID_BYTES, ID_BYTES).toString('hex');
  }

  /**
   * The first location of every id as rows of 52 bytes: id, pack number (u32), offset (f64),
   * length and uncompressed length (u32 each), little-endian (native/src/restore.rs).
   */
  firstRows(): Buffer {
    const out = Buffer.allocUnsafe(this.size * FIRST_ROW_BYTES);
    let at = 0;
    for (const row of this.heads()) {
      out.set(this.ids.subarray(row * ID_BYTES, (row + 1) * ID_BYTES), at);
      out.writeUInt32LE(this.pack[row] as number, at + 32);
      out.writeDoubleLE(this.offset[row] as number, at + 36);
      out.writeUInt32LE(this.length[row] as number, at + 44);
      out.writeUInt32LE(this.uncompressed[row] as number, at + 48);
      at += FIRST_ROW_BYTES;
    }
    return out;
  }

  /** Every distinct id, 32 bytes each, concatenated. */
  distinctIds(): Buffer {
    const out = Buffer.allocUnsafe(this.size * ID_BYTES);
    let at = 0;
    for (const row of this.heads()) {
      out.set(this.ids.subarray(row * ID_BYTES, (row + 1) * ID_BYTES), at);
      at += ID_BYTES;
    }
    return out;
  }
}

export class MasterIndex {
  private readonly tables: Record<BlobType, LocationTable> = { data: new LocationTable(), tree: new LocationTable() };
  /** Pack ids by the number the tables store. */
  private readonly packIds: string[] = [];
  readonly packs = new Map<string, PackInfo>();
  readonly indexIds = new Set<string>();
  private readonly scratch = new Uint8Array(ID_BYTES);

  addIndex(indexId: string, index: ResticIndex): void {
    this.indexIds.add(indexId);
    for (const pack of index.packs) this.addPack(pack.id, pack.blobs, indexId);
  }

  addPack(packId: string, blobs: readonly IndexBlob[], indexId: string): void {
    // Checked before anything is recorded (index-json's decoder and the packer only hand over
    // 64-digit lower-case hex ids and 32-bit lengths).
    const ids = new Uint8Array(blobs.length * ID_BYTES);
    for (const [i, b] of blobs.entries()) {
      if (!parseHexId(b.id, ids.subarray(i * ID_BYTES))) throw new RangeError(`blob id ${JSON.stringify(b.id)} is not 64 lower-case hex digits`);
      // The tables hold lengths in 32 bits, as a pack's header does (index-json refuses more).
      if (b.length > 0xffff_ffff || (b.uncompressedLength ?? 0) > 0xffff_ffff) throw new RangeError(`blob ${b.id}: length ${b.length}/${b.uncompressedLength ?? 0} does not fit in 32 bits`);
    }
    const packIndex = this.registerPack(packId, indexId, blobs.length, (i) => blobs[i]!.type, (i) => blobs[i]!.length, (i) => blobs[i]!.uncompressedLength ?? 0);
    if (packIndex === undefined) return;
    for (const [i, b] of blobs.entries()) this.tables[b.type].add(ids.subarray(i * ID_BYTES), packIndex, b.offset, b.length, b.uncompressedLength ?? 0);
  }

  /** An index file the core decoded into arrays (core.decodeIndex): the same as addIndex, without a string per blob. */
  addPackedIndex(indexId: string, index: PackedIndex): void {
    this.indexIds.add(indexId);
    this.addPackedPacks(indexId, index);
  }

  /** The packs of an index file in columns, named by `indexId` (which is not counted as loaded: addPack's way, for the files a backup writes). */
  addPackedPacks(indexId: string, index: PackedIndex): void {
    const typeAt = (b: number): BlobType => (index.types[b] === 1 ? 'tree' : 'data');
    let first = 0;
    for (const [p, count] of index.packBlobCounts.entries()) {
      const at = first;
      first += count;
      const packId = index.packIds.toString('hex', p * ID_BYTES, (p + 1) * ID_BYTES);
      const packIndex = this.registerPack(packId, indexId, count, (i) => typeAt(at + i), (i) => index.lengths[at + i] as number, (i) => index.uncompressedLengths[at + i] as number);
      if (packIndex === undefined) continue;
      for (let b = at; b < at + count; b++) {
        this.tables[typeAt(b)].add(index.blobIds.subarray(b * ID_BYTES, (b + 1) * ID_BYTES), packIndex, index.offsets[b] as number, index.lengths[b] as number, index.uncompressedLengths[b] as number);
      }
    }
  }

  /**
   * Records a pack named by the index file `indexId` and returns the number the tables store
   * for it, or undefined when an earlier index file named it (its blobs are in the tables).
   */
  private registerPack(packId: string, indexId: string, count: number, typeAt: (i: number) => BlobType, lengthAt: (i: number) => number, uncompressedAt: (i: number) => number): number | undefined {
    const existing = this.packs.get(packId);
    if (existing) {
      if (!existing.indexIds.includes(indexId)) existing.indexIds.push(indexId);
      return undefined;
    }
    let size = packSize([]);
    let type: BlobType | 'mixed' = count > 0 ? typeAt(0) : 'data';
    for (let i = 0; i < count; i++) {
      size += lengthAt(i) + headerEntrySize({ uncompressedLength: uncompressedAt(i) });
      if (typeAt(i) !== type) type = 'mixed';
    }
    this.packs.set(packId, { indexIds: [indexId], blobCount: count, size, type });
    return this.packIds.push(packId) - 1;
  }

  /** An id as the tables hold it (32 bytes), from hex or bytes; undefined when it cannot be one. */
  private key(id: string | Uint8Array): Uint8Array | undefined {
    if (typeof id !== 'string') return id.length === ID_BYTES ? id : undefined;
    return parseHexId(id, this.scratch) ? this.scratch : undefined;
  }

  /** The first row of a blob's locations, or NONE. */
  private row(type: BlobType, id: string | Uint8Array): number {
    const key = this.key(id);
    return key ? this.tables[type].head(key) : NONE;
  }

  has(type: BlobType, id: string): boolean {
    return this.row(type, id) !== NONE;
  }

  /** Every known location of a blob (first = preferred). */
  lookup(type: BlobType, id: string): BlobLocation[] {
    const row = this.row(type, id);
    return row === NONE ? [] : this.tables[type].locations(row, this.packIds);
  }

  /**
   * The preferred location of a blob, by hex id or by its 32 bytes (a restore plans ~60k of
   * these: no hex round trip, no array).
   */
  first(type: BlobType, id: string | Uint8Array): BlobLocation | undefined {
    const row = this.row(type, id);
    return row === NONE ? undefined : this.tables[type].location(row, this.packIds);
  }

  count(type: BlobType): number {
    return this.tables[type].size;
  }

  *entries(type: BlobType): IterableIterator<[string, BlobLocation[]]> {
    const table = this.tables[type];
    for (const row of table.heads()) yield [table.idHex(row), table.locations(row, this.packIds)];
  }

  /** The first location of each blob of one type in rows (LocationTable.firstRows), packs numbered as in packList(). */
  firstRows(type: BlobType): Buffer {
    return this.tables[type].firstRows();
  }

  /** Pack ids by the number firstRows gives them. */
  packList(): readonly string[] {
    return this.packIds;
  }

  /** The distinct ids of one type, 32 bytes each, concatenated (to seed a core BlobSet). */
  ids(type: BlobType): Buffer {
    return this.tables[type].distinctIds();
  }
}
