// Big transient buffers (a 16 MiB pack range, encoded segments) become garbage right after use.
// Bun's collector (JavaScriptCore) is slow to notice memory outside its heap, so peak RSS grows
// far beyond what is live; asking it for a collection after each such buffer keeps RSS close to
// the live set. Node (V8) tracks external memory itself: nothing to do there.

interface BunGlobal {
  Bun?: { gc?: (force: boolean) => void };
}

let bytesSinceCollection = 0;
/** Ask for a collection after this many bytes of big buffers were let go. */
const THRESHOLD = 128 * 1024 * 1024;

export function releasedBytes(bytes: number): void {
  const gc = (globalThis as BunGlobal).Bun?.gc;
  if (!gc) return;
  bytesSinceCollection += bytes;
  if (bytesSinceCollection < THRESHOLD) return;
  bytesSinceCollection = 0;
  gc(true);
}
