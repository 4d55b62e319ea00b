// Paths as raw bytes (names need not be UTF-8).

/** `dir` + "/" + `name` in one allocation; the root "/" gives "/name" (so does "", a restore's root). */
export function joinRawPath(dir: Buffer, name: Buffer): Buffer {
  const root = dir.length === 1 && dir[0] === 0x2f;
  const prefix = root ? 0 : dir.length;
  const out = Buffer.allocUnsafe(prefix + 1 + name.length);
  dir.copy(out, 0, 0, prefix);
  out[prefix] = 0x2f;
  name.copy(out, prefix + 1);
  return out;
}
