// Unpacked files: index, snapshot and lock files (formats/restic.md §4.1). v1: the JSON itself;
// v2 writes 0x02 || zstd(json) and reads either that or plain JSON.
import type { Core } from '../../native/types.ts';
import { CorruptDataError } from '../../backup/errors.ts';

const COMPRESSED = 0x02;
/** Upper bound for a decompressed unpacked file (restic keeps index files well below this). */
const MAX_UNPACKED = 1 << 30;

/** Compressed on a core thread: an index file's JSON is megabytes (~25 ms on the JavaScript thread). */
export async function encodeUnpacked(core: Core, version: 1 | 2, json: Uint8Array, level = 3): Promise<Buffer> {
  if (version === 1) return Buffer.from(json);
  const frame = await core.compressAsync({ kind: 'zstd', level }, json);
  return Buffer.concat([Buffer.of(COMPRESSED), frame]);
}

export async function decodeUnpacked(core: Core, version: 1 | 2, plaintext: Buffer, what: string): Promise<Buffer> {
  const first = plaintext[0];
  if (first === 0x7b || first === 0x5b) return plaintext;
  if (version === 2 && first === COMPRESSED) {
    try {
      return await core.decompressAsync('zstd', plaintext.subarray(1), -1, MAX_UNPACKED);
    } catch (err) {
      throw new CorruptDataError(`${what}: invalid zstd data: ${(err as Error).message}`, { cause: err });
    }
  }
  throw new CorruptDataError(`${what}: unknown encoding byte 0x${(first ?? 0).toString(16).padStart(2, '0')} for a version ${version} repository`);
}
