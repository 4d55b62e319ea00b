// Reading packs. Restore and single chunks use random access: the layout comes from the first
// bytes of the pack, each wanted range of the data box is fetched and decrypted with the raw
// ChaCha20 keystream at its block, and every chunk is decompressed and hashed (BLAKE3 = its id),
// which authenticates it without the box's tag; one damaged chunk does not cost the others.
// Whole-pack verification (check --read-data, prune) streams the file: the tag, the checksum and
// every chunk are verified with memory bounded by the largest chunk.
import type { BlobTarget, Core } from '../../native/types.ts';
import { CorruptDataError } from '../../backup/errors.ts';
import { blake3Stream } from './blake3-stream.ts';
import { releasedBytes } from '../../util/release-memory.ts';
import { decodeChunkMap, decodePackHeader, NONCE_LENGTH, packKey, packLayout, TAG_LENGTH, type PackedChunk, type PackHeader, type PackLayout } from './pack.ts';
import type { GhostsnapRepository } from './repository.ts';

const PROBE_BYTES = 64 * 1024;
/** Chunks closer than this are fetched in one range request… */
const MERGE_GAP = 256 * 1024;
/** …up to this span. */
const MAX_SPAN = 8 * 1024 * 1024;

interface PackStart {
  layout: PackLayout;
  header: PackHeader;
  nonce: Buffer;
}

export interface ChunkRead {
  id: Buffer;
  /** Offset and length of the zlib stream inside the data section. */
  offset: number;
  length: number;
  /** Plaintext length; 0 = unknown. */
  rawLength: number;
  /** Empty: verify only. */
  targets: BlobTarget[];
}

async function readExactly(repo: GhostsnapRepository, key: string, offset: number, length: number, what: string): Promise<Buffer> {
  const bytes = await repo.storage.get(key, { offset, length });
  if (bytes.length !== length) throw new CorruptDataError(`${what}: truncated (wanted ${length} bytes at ${offset}, got ${bytes.length})`, { details: { object: what } });
  return bytes;
}

export class PackReader {
  private readonly starts = new Map<string, Promise<PackStart>>();

  constructor(
    private readonly repo: GhostsnapRepository,
    private readonly core: Core,
  ) {}

  /** Header, layout and data nonce of a pack (cached). */
  start(packId: string): Promise<PackStart> {
    let pending = this.starts.get(packId);
    if (!pending) {
      pending = this.loadStart(packId);
      this.starts.set(packId, pending);
    }
    return pending;
  }

  private async loadStart(packId: string): Promise<PackStart> {
    const key = packKey(packId);
    const what = `pack ${packId}`;
    let prefix = await this.repo.storage.get(key, { offset: 0, length: PROBE_BYTES });
    let layout: PackLayout;
    for (;;) {
      const found = packLayout(prefix, what);
      if (!('need' in found)) {
        layout = found;
        break;
      }
      // A first read shorter than asked for was the whole file.
      if (prefix.length < PROBE_BYTES) throw new CorruptDataError(`${what}: truncated (${prefix.length} bytes)`, { details: { object: what } });
      prefix = Buffer.concat([prefix, await readExactly(this.repo, key, prefix.length, found.need - prefix.length, what)]);
    }
    const headerEnd = layout.headerBox.offset + layout.headerBox.length;
    const headerBytes = headerEnd <= prefix.length ? prefix.subarray(layout.headerBox.offset, headerEnd) : await readExactly(this.repo, key, layout.headerBox.offset, layout.headerBox.length, what);
    const header = decodePackHeader(await this.repo.openBox(headerBytes, `${what} header`), what);
    if (header.packId !== packId) throw new CorruptDataError(`${what}: its header names pack ${header.packId}`, { details: { object: what } });
    const nonce =
      layout.dataStart + NONCE_LENGTH <= prefix.length
        ? Buffer.from(prefix.subarray(layout.dataStart, layout.dataStart + NONCE_LENGTH))
        : await readExactly(this.repo, key, layout.dataStart, NONCE_LENGTH, what);
    return { layout, header, nonce };
  }

  /** The pack's chunk map (read and opened on demand). */
  async chunkMap(packId: string): Promise<PackedChunk[]> {
    const { layout } = await this.start(packId);
    const what = `pack ${packId}`;
    const box = await readExactly(this.repo, packKey(packId), layout.mapBox.offset, layout.mapBox.length, what);
    return decodeChunkMap(await this.repo.openBox(box, `${what} chunk map`), what);
  }

  /**
   * Reads chunks of one pack (sorted by offset), verifies each (zlib, length, BLAKE3) and writes
   * it to its targets. One error (or null) per chunk.
   */
  async readChunks(packId: string, chunks: readonly ChunkRead[]): Promise<(string | null)[]> {
    const errors: (string | null)[] = new Array(chunks.length).fill(null);
    let start: PackStart;
    try {
      start = await this.start(packId);
    } catch (err) {
      return errors.map(() => (err as Error).message);
    }
    const dataSize = start.header.compressedSize;
    let i = 0;
    while (i < chunks.length) {
      const first = chunks[i] as ChunkRead;
      let end = i + 1;
      let spanEnd = first.offset + first.length;
      while (end < chunks.length) {
        const next = chunks[end] as ChunkRead;
        if (next.offset - spanEnd > MERGE_GAP || next.offset + next.length - first.offset > MAX_SPAN) break;
        spanEnd = Math.max(spanEnd, next.offset + next.length);
        end += 1;
      }
      const span = chunks.slice(i, end);
      try {
        if (spanEnd > dataSize) throw new CorruptDataError(`chunk range ends at ${spanEnd}, beyond the pack's ${dataSize}-byte data section`);
        // The keystream starts at block 1 (block 0 keys Poly1305); align the range to 64 bytes.
        const from = first.offset - (first.offset % 64);
        const cipher = await readExactly(this.repo, packKey(packId), start.layout.dataStart + NONCE_LENGTH + from, spanEnd - from, `pack ${packId}`);
        const plain = this.core.chacha20Xor(this.repo.dataKey, start.nonce, 1 + from / 64, cipher);
        const result = await this.core.decodeBlobs({
          data: plain,
          blobs: span.map((c) => ({ offset: c.offset - from, length: c.length, rawLength: c.rawLength, compressed: true, id: c.id, targets: c.targets })),
          seal: { kind: 'none' },
          codec: 'zlib',
          hash: 'blake3',
        });
        result.errors.forEach((e, k) => {
          if (e) errors[i + k] = e.message;
        });
        releasedBytes(cipher.length + plain.length);
      } catch (err) {
        for (let k = i; k < end; k++) errors[k] = (err as Error).message;
      }
      i = end;
    }
    return errors;
  }
}

export interface PackVerification {
  /** Bytes of the pack file. */
  size: number;
  header?: PackHeader;
  chunks: PackedChunk[];
  /** Problems of the pack as a whole (layout, header, map, tag, checksum). */
  errors: string[];
  /** Chunks whose bytes do not decode to their id: id → message. */
  badChunks: Map<string, string>;
  /** Verified chunks' zlib streams, when asked for (prune copies them). */
  kept: Map<string, { zlib: Buffer; rawLength: number }>;
}

/**
 * Streams a whole pack and verifies everything: layout, header (pack id), chunk map, the data
 * box's tag, data_checksum, and every chunk (zlib, length, BLAKE3). `keep` selects chunks whose
 * verified zlib bytes are returned. Memory: one piece plus the largest chunk.
 */
export async function verifyPack(repo: GhostsnapRepository, core: Core, packId: string, keep: ReadonlySet<string> = new Set()): Promise<PackVerification> {
  const what = `pack ${packId}`;
  const result: PackVerification = { size: 0, chunks: [], errors: [], badChunks: new Map(), kept: new Map() };
  let stream: AsyncIterable<Uint8Array>;
  try {
    stream = await repo.storage.getStream(packKey(packId));
  } catch (err) {
    result.errors.push(`cannot be read: ${(err as Error).message}`);
    return result;
  }
  const iterator = stream[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  let done = false;
  /** Fills `pending` to at least n bytes (fewer at the end of the file). */
  const fill = async (n: number): Promise<void> => {
    const parts = [pending];
    let have = pending.length;
    while (have < n && !done) {
      const next = await iterator.next();
      if (next.done) {
        done = true;
        break;
      }
      const b = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      parts.push(b);
      have += b.length;
      result.size += b.length;
    }
    if (parts.length > 1) pending = Buffer.concat(parts);
  };
  try {
    await fill(PROBE_BYTES);
    let layout = packLayout(pending, what);
    while ('need' in layout) {
      const need = layout.need;
      await fill(need);
      if (pending.length < need) throw new CorruptDataError(`${what}: truncated inside its header (${pending.length} bytes)`);
      layout = packLayout(pending, what);
    }
    await fill(layout.dataStart + NONCE_LENGTH);
    if (pending.length < layout.dataStart + NONCE_LENGTH) throw new CorruptDataError(`${what}: truncated before its data section`);
    const header = decodePackHeader(await repo.openBox(pending.subarray(layout.headerBox.offset, layout.headerBox.offset + layout.headerBox.length), `${what} header`), what);
    result.header = header;
    if (header.packId !== packId) result.errors.push(`its header names pack ${header.packId}`);
    const chunks = decodeChunkMap(await repo.openBox(pending.subarray(layout.mapBox.offset, layout.mapBox.offset + layout.mapBox.length), `${what} chunk map`), what);
    result.chunks = chunks;
    const nonce = Buffer.from(pending.subarray(layout.dataStart, layout.dataStart + NONCE_LENGTH));
    pending = pending.subarray(layout.dataStart + NONCE_LENGTH);

    const aead = core.aeadStream('open', repo.dataKey, nonce);
    const hash = await blake3Stream();
    // Plaintext not yet consumed by a chunk, starting at data offset `base`.
    let plain: Buffer[] = [];
    let plainLength = 0;
    let base = 0;
    let dataLength = 0;
    let next = 0;
    let previousEnd = 0;
    const decodeReady = async (final: boolean): Promise<void> => {
      const ready: PackedChunk[] = [];
      while (next < chunks.length) {
        const c = chunks[next] as PackedChunk;
        if (c.offset < previousEnd) {
          result.badChunks.set(c.id, `overlaps the chunk before it in the pack`);
          next += 1;
          continue;
        }
        if (c.offset + c.length > base + plainLength) {
          if (final) {
            result.badChunks.set(c.id, `runs past the end of the data section`);
            next += 1;
            continue;
          }
          break;
        }
        ready.push(c);
        previousEnd = c.offset + c.length;
        next += 1;
      }
      if (ready.length === 0) return;
      const region = plain.length === 1 ? (plain[0] as Buffer) : Buffer.concat(plain);
      const decoded = await core.decodeBlobs({
        data: region,
        blobs: ready.map((c) => ({ offset: c.offset - base, length: c.length, rawLength: c.uncompressedLength, compressed: true, id: Buffer.from(c.id, 'hex'), targets: [] })),
        seal: { kind: 'none' },
        codec: 'zlib',
        hash: 'blake3',
      });
      ready.forEach((c, k) => {
        const e = decoded.errors[k];
        if (e) result.badChunks.set(c.id, e.message);
        else if (keep.has(c.id)) result.kept.set(c.id, { zlib: Buffer.from(region.subarray(c.offset - base, c.offset - base + c.length)), rawLength: c.uncompressedLength });
      });
      // Drop what no later chunk needs.
      const consumed = Math.min(previousEnd - base, region.length);
      plain = consumed < region.length ? [region.subarray(consumed)] : [];
      plainLength = region.length - consumed;
      base += consumed;
    };
    for (;;) {
      // Everything but the last TAG_LENGTH bytes is ciphertext.
      if (pending.length > TAG_LENGTH) {
        const cipher = pending.subarray(0, pending.length - TAG_LENGTH);
        pending = Buffer.from(pending.subarray(pending.length - TAG_LENGTH));
        const p = aead.update(cipher);
        hash.update(p);
        plain.push(p);
        plainLength += p.length;
        dataLength += p.length;
        await decodeReady(false);
      }
      if (done) break;
      await fill(pending.length + 1024 * 1024);
    }
    if (pending.length < TAG_LENGTH) throw new CorruptDataError(`${what}: truncated (no room for the data section's tag)`);
    await decodeReady(true);
    try {
      aead.final(pending);
    } catch {
      result.errors.push('the data section fails authentication (damaged; ghostsnap refuses every chunk of this pack)');
    }
    if (dataLength !== header.compressedSize) result.errors.push(`data section has ${dataLength} bytes, the header says ${header.compressedSize}`);
    if (header.dataChecksum !== undefined && hash.digestHex() !== header.dataChecksum) result.errors.push('data_checksum does not match the data section');
  } catch (err) {
    result.errors.push((err as Error).message);
  } finally {
    await iterator.return?.();
  }
  return result;
}
