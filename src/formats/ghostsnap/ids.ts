// ghostsnap's identifiers (formats/ghostsnap.md §5): random v4 UUIDs name packs, snapshots, key
// files and the repository; BLAKE3 hex names chunks and trees.
import type { Core } from '../../native/types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export function newUuid(core: Core): string {
  const b = core.randomBytes(16);
  b[6] = ((b[6] as number) & 0x0f) | 0x40;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

export function isHex64(text: string): boolean {
  return HEX64.test(text);
}
