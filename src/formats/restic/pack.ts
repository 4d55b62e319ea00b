// Pack files (formats/restic.md §5): sealed blobs back to back, then the sealed header, then
// the header's length as uint32 LE.
import { CorruptDataError } from '../../backup/errors.ts';
import type { BlobType } from './index-json.ts';

export interface PackedBlob {
  type: BlobType;
  id: Buffer;
  offset: number;
  /** Sealed length in the pack. */
  length: number;
  /** Plaintext length when the blob is compressed; 0 when it is not. */
  uncompressedLength: number;
}

export const SEAL_OVERHEAD = 32;
export const HEADER_LENGTH_SIZE = 4;
const ENTRY_PLAIN = 37;
const ENTRY_COMPRESSED = 41;
/** restic caps the header length it reads (§5.3). */
export const MAX_HEADER_LENGTH = 16 * 1024 * 1024;

export function headerEntrySize(blob: Pick<PackedBlob, 'uncompressedLength'>): number {
  return blob.uncompressedLength > 0 ? ENTRY_COMPRESSED : ENTRY_PLAIN;
}

/** Size of the whole pack file holding these blobs (check compares it with the file size). */
export function packSize(blobs: readonly Pick<PackedBlob, 'length' | 'uncompressedLength'>[]): number {
  let size = SEAL_OVERHEAD + HEADER_LENGTH_SIZE;
  for (const b of blobs) size += b.length + headerEntrySize(b);
  return size;
}

export function encodePackHeader(blobs: readonly PackedBlob[]): Buffer {
  const out = Buffer.alloc(blobs.reduce((n, b) => n + headerEntrySize(b), 0));
  let pos = 0;
  for (const b of blobs) {
    const compressed = b.uncompressedLength > 0;
    out[pos] = (b.type === 'tree' ? 1 : 0) + (compressed ? 2 : 0);
    out.writeUInt32LE(b.length, pos + 1);
    pos += 5;
    if (compressed) {
      out.writeUInt32LE(b.uncompressedLength, pos);
      pos += 4;
    }
    b.id.copy(out, pos);
    pos += 32;
  }
  return out;
}

/** Parses an opened header; blob offsets follow from the lengths (blobs start at 0, back to back). */
export function decodePackHeader(header: Uint8Array, packName: string): PackedBlob[] {
  const buf = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  const blobs: PackedBlob[] = [];
  let pos = 0;
  let offset = 0;
  while (pos < buf.length) {
    const t = buf[pos] ?? 255;
    if (t > 3) throw new CorruptDataError(`pack ${packName}: header entry ${blobs.length} has unknown type ${t}`);
    const compressed = t >= 2;
    const size = compressed ? ENTRY_COMPRESSED : ENTRY_PLAIN;
    if (pos + size > buf.length) throw new CorruptDataError(`pack ${packName}: header is truncated`);
    const length = buf.readUInt32LE(pos + 1);
    const uncompressedLength = compressed ? buf.readUInt32LE(pos + 5) : 0;
    const id = Buffer.from(buf.subarray(pos + size - 32, pos + size));
    blobs.push({ type: t % 2 === 1 ? 'tree' : 'data', id, offset, length, uncompressedLength });
    offset += length;
    pos += size;
  }
  return blobs;
}

/** Where the sealed header sits, from the pack's last 4 bytes. */
export function headerLocation(packLength: number, tail: Uint8Array, packName: string): { offset: number; length: number } {
  if (packLength < SEAL_OVERHEAD + HEADER_LENGTH_SIZE) throw new CorruptDataError(`pack ${packName}: file too short (${packLength} bytes)`);
  const hlen = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength).readUInt32LE(tail.byteLength - 4);
  if (hlen < SEAL_OVERHEAD || hlen > packLength - HEADER_LENGTH_SIZE || hlen > MAX_HEADER_LENGTH) {
    throw new CorruptDataError(`pack ${packName}: invalid header length ${hlen} for a ${packLength}-byte file`);
  }
  return { offset: packLength - HEADER_LENGTH_SIZE - hlen, length: hlen };
}
