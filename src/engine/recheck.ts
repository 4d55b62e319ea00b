// After a restore: read a restored file back from disk and check it against the backup, chunk by
// chunk, with the format's chunk hash (restic: SHA-256, ghostsnap: BLAKE3). This catches what the
// restore's own blob verification cannot: a write that did not land, or a file someone changed
// while it was being restored.
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import type { Core, HashAlgorithm } from '../native/types.ts';
import type { RestoreNode } from './restorer.ts';

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** Undefined when the file on disk is exactly the backup's content; else what differs. */
export async function recheckFile(core: Core, node: RestoreNode, hash: HashAlgorithm): Promise<string | undefined> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(node.path, fs.constants.O_RDONLY | O_NOFOLLOW);
  } catch (err) {
    return `cannot read the restored file back: ${(err as Error).message}`;
  }
  try {
    const size = (await handle.stat()).size;
    if (size !== node.size) return `the restored file has ${size} bytes, the backup ${node.size}`;
    const largest = Math.max(0, ...(node.chunks ?? []).map((c) => c.length));
    const buffer = Buffer.allocUnsafe(largest);
    let position = 0;
    for (const [i, chunk] of (node.chunks ?? []).entries()) {
      let filled = 0;
      while (filled < chunk.length) {
        const { bytesRead } = await handle.read(buffer, filled, chunk.length - filled, position + filled);
        if (bytesRead === 0) return `the restored file ends at ${position + filled} bytes, inside chunk ${i + 1}`;
        filled += bytesRead;
      }
      const id = await core.hashAsync(hash, buffer.subarray(0, chunk.length));
      if (!id.equals(chunk.id)) return `the restored content differs from the backup in chunk ${i + 1} (bytes ${position}-${position + chunk.length - 1})`;
      position += chunk.length;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}
