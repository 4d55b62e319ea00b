// restic index files (formats/restic.md §6): which blobs live in which pack, at which offset.
// Compact JSON with one trailing newline (Go's json.Encoder).

import {
  asObject,
  optionalArray,
  parseGoJson,
  readId,
  readString,
  readUint,
  schemaError,
  type JsonValue,
} from './go-json-parse.ts';
import { Utf8Sink } from '../../util/utf8-sink.ts';
import type { PackedIndex } from '../../native/types.ts';
import { ID_LENGTH } from './ids.ts';

export type BlobType = 'data' | 'tree';

export interface IndexBlob {
  id: string;
  type: BlobType;
  offset: number;
  /** Length in the pack (sealed: IV + payload + MAC). */
  length: number;
  /** Plaintext length of a compressed blob; absent for an uncompressed one. */
  uncompressedLength?: number;
}

export interface IndexPack {
  id: string;
  blobs: IndexBlob[];
}

export interface ResticIndex {
  /** IDs of index files this one replaces (informational; omitted when empty). */
  supersedes?: string[];
  packs: IndexPack[];
  /**
   * Set by decodeIndex for the legacy format (a bare array of packs), which restic 0.14 still
   * reads. Never written.
   */
  legacy?: boolean;
}

const ID_PATTERN = /^[0-9a-f]{64}$/;

/**
 * The index JSON restic writes, with its trailing newline, written straight into one buffer: a
 * first backup writes an index of 50k blobs, and composing it from a string per member made
 * ~400k strings (+60 MB RSS, ~250 ms of the JavaScript thread at the backup's peak).
 */
export function encodeIndex(index: ResticIndex): Buffer {
  const supersedes = index.supersedes ?? [];
  let size = 32 + supersedes.length * 67;
  // A blob's entry is at most ~180 bytes (its id, three 16-digit numbers, member names).
  for (const pack of index.packs) size += 80 + pack.blobs.length * 180;
  const out = new Utf8Sink(size);
  const id = (value: string, what: string): void => {
    if (!ID_PATTERN.test(value)) throw new RangeError(`${what}: not a lower-case 64-digit hex ID: ${JSON.stringify(value)}`);
    out.quoted(value);
  };
  const uint = (value: number, at: string, blob: number, field: string): void => {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${at} blob ${blob} ${field}: not an unsigned integer: ${value}`);
    out.uint(value);
  };
  out.ascii('{');
  if (supersedes.length > 0) {
    out.ascii('"supersedes":[');
    supersedes.forEach((value, i) => {
      if (i > 0) out.byte(0x2c);
      id(value, 'index supersedes');
    });
    out.ascii('],');
  }
  out.ascii('"packs":[');
  index.packs.forEach((pack, p) => {
    const at = `index pack ${p}`;
    if (pack.blobs.length === 0) throw new RangeError(`${at}: a pack holds at least one blob`);
    if (p > 0) out.byte(0x2c);
    out.ascii('{"id":');
    id(pack.id, `${at} id`);
    out.ascii(',"blobs":[');
    pack.blobs.forEach((blob, b) => {
      if (blob.type !== 'data' && blob.type !== 'tree') throw new RangeError(`${at} blob ${b}: unknown type ${JSON.stringify(blob.type)}`);
      if (blob.uncompressedLength === 0) throw new RangeError(`${at} blob ${b}: uncompressed_length 0 would mark an empty blob as compressed`);
      out.ascii(b > 0 ? ',{"id":' : '{"id":');
      id(blob.id, `${at} blob ${b} id`);
      out.ascii(blob.type === 'data' ? ',"type":"data","offset":' : ',"type":"tree","offset":');
      uint(blob.offset, at, b, 'offset');
      out.ascii(',"length":');
      uint(blob.length, at, b, 'length');
      if (blob.uncompressedLength !== undefined) {
        out.ascii(',"uncompressed_length":');
        uint(blob.uncompressedLength, at, b, 'uncompressed_length');
      }
      out.byte(0x7d);
    });
    out.ascii(']}');
  });
  out.ascii(']}\n');
  return out.bytes();
}

/**
 * The same JSON as encodeIndex for an index held as columns (the core's decodeIndex layout, and
 * the packer's PendingIndex): no object or hex string per blob. An uncompressed length of 0 means
 * the blob is stored uncompressed (the member is left out).
 */
export function encodePackedIndex(index: PackedIndex): Buffer {
  const packs = index.packBlobCounts.length;
  const blobs = index.types.length;
  const superseded = index.supersedes.length / ID_LENGTH;
  const out = new Utf8Sink(32 + superseded * 67 + packs * 80 + blobs * 180);
  out.ascii('{');
  if (superseded > 0) {
    out.ascii('"supersedes":[');
    for (let i = 0; i < superseded; i++) {
      if (i > 0) out.byte(0x2c);
      out.quotedHex(index.supersedes, i * ID_LENGTH, ID_LENGTH);
    }
    out.ascii('],');
  }
  out.ascii('"packs":[');
  let b = 0;
  for (let p = 0; p < packs; p++) {
    const count = index.packBlobCounts[p]!;
    if (count === 0) throw new RangeError(`index pack ${p}: a pack holds at least one blob`);
    if (p > 0) out.byte(0x2c);
    out.ascii('{"id":');
    out.quotedHex(index.packIds, p * ID_LENGTH, ID_LENGTH);
    out.ascii(',"blobs":[');
    for (const end = b + count; b < end; b++) {
      out.ascii(b > end - count ? ',{"id":' : '{"id":');
      out.quotedHex(index.blobIds, b * ID_LENGTH, ID_LENGTH);
      out.ascii(index.types[b] === 1 ? ',"type":"tree","offset":' : ',"type":"data","offset":');
      out.uint(index.offsets[b]!);
      out.ascii(',"length":');
      out.uint(index.lengths[b]!);
      const uncompressed = index.uncompressedLengths[b]!;
      if (uncompressed > 0) {
        out.ascii(',"uncompressed_length":');
        out.uint(uncompressed);
      }
      out.byte(0x7d);
    }
    out.ascii(']}');
  }
  out.ascii(']}\n');
  return out.bytes();
}

function decodePack(value: JsonValue, at: string): IndexPack {
  const obj = asObject(value, at);
  const blobs = optionalArray(obj.field('blobs'), `${at}.blobs`) ?? [];
  return {
    id: readId(obj.field('id'), `${at}.id`),
    blobs: blobs.map((item, i) => {
      const bat = `${at}.blobs[${i}]`;
      const blob = asObject(item, bat);
      const type = readString(blob.field('type'), `${bat}.type`);
      if (type !== 'data' && type !== 'tree') throw schemaError(`${bat}.type`, `unknown blob type ${JSON.stringify(type)}`);
      const decoded: IndexBlob = {
        id: readId(blob.field('id'), `${bat}.id`),
        type,
        offset: readUint(blob.field('offset'), `${bat}.offset`, 64),
        // A pack's header records both lengths in 32 bits (§5); larger ones describe no blob.
        length: readUint(blob.field('length'), `${bat}.length`, 32),
      };
      const uncompressed = readUint(blob.field('uncompressed_length'), `${bat}.uncompressed_length`, 32);
      if (uncompressed !== 0) decoded.uncompressedLength = uncompressed;
      return decoded;
    }),
  };
}

/**
 * Decodes an index file's JSON (after decryption and decompression): the current object form
 * or the legacy array form. Errors are CorruptDataError naming the field.
 */
export function decodeIndex(bytes: Uint8Array): ResticIndex {
  return decodeIndexFast(bytes) ?? decodeIndexExact(bytes);
}

const PACK_KEYS: ReadonlySet<string> = new Set(['id', 'blobs']);
const BLOB_KEYS: ReadonlySet<string> = new Set(['id', 'type', 'offset', 'length', 'uncompressed_length']);
/** Numbers that JSON.parse reads but Go refuses for an integer field, or rounds: exact parser. */
const AWKWARD_NUMBER = /[:,[]\s*-?\d*[.eE]|[:,[]\s*-?\d{16,}/;

const MAX_UINT32 = 0xffff_ffff;

function uintValue(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/**
 * The common case through the engine's JSON.parse: index files as restic and we write them
 * (exact lower-case keys, no nulls, integers below 2^53). Anything else returns undefined and
 * goes through the exact Go-compatible parser, which also words the errors.
 */
function decodeIndexFast(bytes: Uint8Array): ResticIndex | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (AWKWARD_NUMBER.test(text)) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const root = doc as Record<string, unknown>;
  for (const key in root) if (key !== 'packs' && key !== 'supersedes') return undefined;
  const index: ResticIndex = { packs: [] };
  const supersedes = root['supersedes'];
  if (supersedes !== undefined) {
    if (!Array.isArray(supersedes)) return undefined;
    for (const id of supersedes as unknown[]) if (typeof id !== 'string' || !ID_PATTERN.test(id)) return undefined;
    if (supersedes.length > 0) index.supersedes = supersedes as string[];
  }
  const packs = root['packs'];
  if (packs === undefined) return index;
  if (!Array.isArray(packs)) return undefined;
  for (const rawPack of packs as unknown[]) {
    if (typeof rawPack !== 'object' || rawPack === null || Array.isArray(rawPack)) return undefined;
    const pack = rawPack as Record<string, unknown>;
    for (const key in pack) if (!PACK_KEYS.has(key)) return undefined;
    const id = pack['id'];
    const rawBlobs = pack['blobs'];
    if (typeof id !== 'string' || !ID_PATTERN.test(id) || !Array.isArray(rawBlobs)) return undefined;
    const blobs: IndexBlob[] = new Array<IndexBlob>(rawBlobs.length);
    for (let i = 0; i < rawBlobs.length; i++) {
      const rawBlob: unknown = rawBlobs[i];
      if (typeof rawBlob !== 'object' || rawBlob === null || Array.isArray(rawBlob)) return undefined;
      const b = rawBlob as Record<string, unknown>;
      for (const key in b) if (!BLOB_KEYS.has(key)) return undefined;
      const blobId = b['id'];
      const type = b['type'];
      const offset = uintValue(b['offset'] ?? 0);
      const length = uintValue(b['length'] ?? 0);
      const uncompressed = uintValue(b['uncompressed_length'] ?? 0);
      if (typeof blobId !== 'string' || !ID_PATTERN.test(blobId) || (type !== 'data' && type !== 'tree')) return undefined;
      if (offset === undefined || length === undefined || uncompressed === undefined) return undefined;
      if (length > MAX_UINT32 || uncompressed > MAX_UINT32) return undefined; // the exact decoder words the error
      blobs[i] = uncompressed === 0 ? { id: blobId, type, offset, length } : { id: blobId, type, offset, length, uncompressedLength: uncompressed };
    }
    index.packs.push({ id, blobs });
  }
  return index;
}

function decodeIndexExact(bytes: Uint8Array): ResticIndex {
  const root = parseGoJson(bytes, 'index');
  if (Array.isArray(root)) return { packs: root.map((p, i) => decodePack(p, `index[${i}]`)), legacy: true };
  const obj = asObject(root, 'index');
  const index: ResticIndex = {
    packs: (optionalArray(obj.field('packs'), 'index.packs') ?? []).map((p, i) => decodePack(p, `index.packs[${i}]`)),
  };
  const supersedes = optionalArray(obj.field('supersedes'), 'index.supersedes');
  if (supersedes && supersedes.length > 0) index.supersedes = supersedes.map((id, i) => readId(id, `index.supersedes[${i}]`));
  return index;
}
