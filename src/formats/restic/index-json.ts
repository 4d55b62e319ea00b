// restic index files (formats/restic.md §6): which blobs live in which pack, at which offset.
// Compact JSON with one trailing newline (Go's json.Encoder).

import { goJsonArray, goJsonInteger, goJsonObject, goJsonString, omitEmpty } from './go-json.ts';
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

function idJson(id: string, what: string): string {
  if (!ID_PATTERN.test(id)) throw new RangeError(`${what}: not a lower-case 64-digit hex ID: ${JSON.stringify(id)}`);
  return goJsonString(id);
}

function uintJson(value: number, what: string): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what}: not an unsigned integer: ${value}`);
  return goJsonInteger(value);
}

/** The index JSON restic writes, with its trailing newline. */
export function encodeIndex(index: ResticIndex): Buffer {
  const packs = index.packs.map((pack, p) => {
    const at = `index pack ${p}`;
    if (pack.blobs.length === 0) throw new RangeError(`${at}: a pack holds at least one blob`);
    return goJsonObject([
      ['id', idJson(pack.id, `${at} id`)],
      [
        'blobs',
        goJsonArray(
          pack.blobs.map((blob, b) => {
            const bat = `${at} blob ${b}`;
            if (blob.type !== 'data' && blob.type !== 'tree') throw new RangeError(`${bat}: unknown type ${JSON.stringify(blob.type)}`);
            if (blob.uncompressedLength === 0) {
              throw new RangeError(`${bat}: uncompressed_length 0 would mark an empty blob as compressed`);
            }
            return goJsonObject([
              ['id', idJson(blob.id, `${bat} id`)],
              ['type', goJsonString(blob.type)],
              ['offset', uintJson(blob.offset, `${bat} offset`)],
              ['length', uintJson(blob.length, `${bat} length`)],
              ['uncompressed_length', omitEmpty(blob.uncompressedLength, (v) => uintJson(v, `${bat} uncompressed_length`))],
            ]);
          }),
        ),
      ],
    ]);
  });
  return Buffer.from(
    goJsonObject([
      ['supersedes', omitEmpty(index.supersedes, (ids) => goJsonArray(ids.map((id) => idJson(id, 'index supersedes'))))],
      ['packs', goJsonArray(packs)],
    ]) + '\n',
    'utf8',
  );
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
        length: readUint(blob.field('length'), `${bat}.length`, 64),
      };
      const uncompressed = readUint(blob.field('uncompressed_length'), `${bat}.uncompressed_length`, 64);
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
