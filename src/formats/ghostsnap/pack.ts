// Pack files `data/<uuid>.pack` (formats/ghostsnap.md §8):
//   u32le LH | seal(header) | u32le LC | seal(chunk map) | seal(DATA) to the end,
// DATA being the chunks' zlib streams back to back. The data section is one AEAD box; readers
// that need a single chunk decrypt its bytes with the raw ChaCha20 keystream (block 1 + offset/64)
// and trust the chunk's BLAKE3 instead of the box's tag.
import { CorruptDataError } from '../../backup/errors.ts';
import { PostcardReader, PostcardWriter } from './postcard.ts';
import { isHex64 } from './ids.ts';

export const PACK_VERSION = 2;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;
const SEAL_OVERHEAD = NONCE_LENGTH + TAG_LENGTH;

export function packKey(id: string): string {
  return `data/${id}.pack`;
}

export interface PackHeader {
  version: number;
  packId: string;
  chunkCount: number;
  uncompressedSize: number;
  compressedSize: number;
  createdAt: string;
  dataChecksum: string | undefined;
}

export interface PackedChunk {
  id: string;
  offset: number;
  length: number;
  uncompressedLength: number;
}

export function encodePackHeader(h: PackHeader): Buffer {
  return new PostcardWriter()
    .varint(h.version)
    .string(h.packId)
    .varint(h.chunkCount)
    .varint(h.uncompressedSize)
    .varint(h.compressedSize)
    .string(h.createdAt)
    .optionString(h.dataChecksum)
    .finish();
}

export function decodePackHeader(plain: Buffer, what: string): PackHeader {
  const r = new PostcardReader(plain, `${what} header`);
  const h: PackHeader = {
    version: r.varint(),
    packId: r.string(),
    chunkCount: r.varint(),
    uncompressedSize: r.varint(),
    compressedSize: r.varint(),
    createdAt: r.string(),
    dataChecksum: r.optionString(),
  };
  r.end();
  return h;
}

export function encodeChunkMap(chunks: readonly PackedChunk[]): Buffer {
  const w = new PostcardWriter().varint(chunks.length);
  for (const c of chunks) w.string(c.id).string(c.id).varint(c.offset).varint(c.length).varint(c.uncompressedLength);
  return w.finish();
}

export function decodeChunkMap(plain: Buffer, what: string): PackedChunk[] {
  const r = new PostcardReader(plain, `${what} chunk map`);
  const n = r.varint();
  const out: PackedChunk[] = [];
  for (let i = 0; i < n; i++) {
    const key = r.string();
    const id = r.string();
    const offset = r.varint();
    const length = r.varint();
    const uncompressedLength = r.varint();
    if (!isHex64(key) || id !== key) throw new CorruptDataError(`${what} chunk map: entry ${JSON.stringify(key.slice(0, 80))} is not a chunk id`);
    out.push({ id, offset, length, uncompressedLength });
  }
  r.end();
  return out.sort((a, b) => a.offset - b.offset);
}

/** Where the sections of a pack lie, learnt from its first bytes. */
export interface PackLayout {
  headerBox: { offset: number; length: number };
  mapBox: { offset: number; length: number };
  /** Start of the data box (its 12-byte nonce). */
  dataStart: number;
}

/**
 * Header and chunk map are small (ghostsnap closes a pack every 100 files); lengths beyond this
 * are damage and must not make a reader buffer a whole file.
 */
const MAX_DATA_START = 64 * 1024 * 1024;

/** The layout from a prefix of the pack, or how many bytes it takes when `prefix` is too short. */
export function packLayout(prefix: Buffer, what: string): PackLayout | { need: number } {
  if (prefix.length < 4) return { need: 4 };
  const lh = prefix.readUInt32LE(0);
  const mapAt = 4 + lh;
  if (lh < SEAL_OVERHEAD || mapAt > MAX_DATA_START) throw new CorruptDataError(`${what}: header length ${lh} is impossible (damaged)`, { details: { object: what } });
  if (prefix.length < mapAt + 4) return { need: mapAt + 4 };
  const lc = prefix.readUInt32LE(mapAt);
  const dataStart = mapAt + 4 + lc;
  if (lc < SEAL_OVERHEAD || dataStart > MAX_DATA_START) throw new CorruptDataError(`${what}: chunk map length ${lc} is impossible (damaged)`, { details: { object: what } });
  return { headerBox: { offset: 4, length: lh }, mapBox: { offset: mapAt + 4, length: lc }, dataStart };
}

/** u32le length prefixes for the header and the map. */
export function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** chrono's RFC 3339 with AutoSi fraction digits (0, 3, 6 or 9), UTC "Z". */
export function rfc3339Utc(date: Date, nanos?: number): string {
  const base = date.toISOString().slice(0, 19);
  const ns = nanos ?? (date.getTime() % 1000) * 1e6;
  if (ns === 0) return `${base}Z`;
  const digits = ns % 1e6 === 0 ? 3 : ns % 1e3 === 0 ? 6 : 9;
  return `${base}.${String(ns).padStart(9, '0').slice(0, digits)}Z`;
}
