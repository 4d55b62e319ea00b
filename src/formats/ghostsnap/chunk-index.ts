// The single repository index `index/main.idx` (formats/ghostsnap.md §9): postcard IndexData,
// sealed. It maps every stored chunk to its pack (offset and length of its zlib stream inside the
// pack's data section) and lists every pack with the size of that data section.
import { CorruptDataError } from '../../backup/errors.ts';
import { PostcardReader, PostcardWriter } from './postcard.ts';
import { isHex64 } from './ids.ts';

export const INDEX_KEY = 'index/main.idx';
const INDEX_VERSION = 2;

export interface ChunkLocation {
  pack: string;
  offset: number;
  length: number;
}

export interface PackInfo {
  /** Bytes of the pack's data section (the concatenated zlib streams), not of the file. */
  size: number;
  chunkCount: number;
}

export class ChunkIndex {
  readonly chunks = new Map<string, ChunkLocation>();
  readonly packs = new Map<string, PackInfo>();

  get(id: string): ChunkLocation | undefined {
    return this.chunks.get(id);
  }

  has(id: string): boolean {
    return this.chunks.has(id);
  }

  /** Adds a stored pack and its chunks (an existing entry for a chunk is kept). */
  addPack(pack: string, info: PackInfo, chunks: Iterable<[string, { offset: number; length: number }]>): void {
    this.packs.set(pack, info);
    for (const [id, c] of chunks) if (!this.chunks.has(id)) this.chunks.set(id, { pack, offset: c.offset, length: c.length });
  }

  /** Chunk entries per pack. */
  byPack(): Map<string, Map<string, ChunkLocation>> {
    const out = new Map<string, Map<string, ChunkLocation>>();
    for (const [id, loc] of this.chunks) {
      let m = out.get(loc.pack);
      if (!m) out.set(loc.pack, (m = new Map()));
      m.set(id, loc);
    }
    return out;
  }

  encode(): Buffer {
    const w = new PostcardWriter();
    w.varint(INDEX_VERSION).varint(this.chunks.size).varint(this.packs.size);
    w.varint(this.chunks.size);
    for (const [id, loc] of this.chunks) w.string(id).string(loc.pack).varint(loc.offset).varint(loc.length);
    w.varint(this.packs.size);
    for (const [id, info] of this.packs) w.string(id).string(id).varint(info.size).varint(info.chunkCount);
    return w.finish();
  }

  static decode(plain: Buffer): ChunkIndex {
    const what = INDEX_KEY;
    const r = new PostcardReader(plain, what);
    const version = r.varint();
    if (version > INDEX_VERSION) throw new CorruptDataError(`${what}: index version ${version} is newer than ghostsnap's ${INDEX_VERSION}`);
    r.varint(); // chunk_count (informational)
    r.varint(); // pack_count (informational)
    const index = new ChunkIndex();
    const nchunks = r.varint();
    for (let i = 0; i < nchunks; i++) {
      const id = r.string();
      const pack = r.string();
      const offset = r.varint();
      const length = r.varint();
      if (!isHex64(id)) throw new CorruptDataError(`${what}: chunk id ${JSON.stringify(id.slice(0, 80))} is not 64 hex digits`);
      index.chunks.set(id, { pack, offset, length });
    }
    const npacks = r.varint();
    for (let i = 0; i < npacks; i++) {
      const key = r.string();
      const id = r.string();
      const size = r.varint();
      const chunkCount = r.varint();
      index.packs.set(key, { size, chunkCount });
      if (id !== key) throw new CorruptDataError(`${what}: pack entry ${key} names itself ${id}`);
    }
    r.end();
    return index;
  }
}
