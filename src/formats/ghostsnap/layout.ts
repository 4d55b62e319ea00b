// How several include paths share one flat ghostsnap tree: every node is named relative to one
// snapshot root — the single path itself (a directory), the directory holding a single file, or
// the deepest directory that contains all paths. ghostsnap names nodes relative to each path
// instead, so `backup /a/x /b/x` gives two trees' worth of colliding names; with a common root
// they are "a/x/…" and "b/x/…". See docs/GHOSTSNAP.md.
import path from 'node:path';
import type { Core } from '../../native/types.ts';

const SLASH = 0x2f;

/** The snapshot root for absolute, normalised targets. */
export function snapshotRootOf(targets: readonly string[], core: Core): string {
  if (targets.length === 1) {
    const only = targets[0] as string;
    try {
      if ((core.lstat(only).mode & 0o170000) === 0o040000) return only;
    } catch {
      return only; // the walk reports the missing path
    }
    return path.dirname(only);
  }
  const split = targets.map((t) => t.split('/').filter(Boolean));
  const first = split[0] ?? [];
  let common = 0;
  while (common < first.length && split.every((parts) => parts[common] === first[common])) common += 1;
  return `/${first.slice(0, common).join('/')}`;
}

/** `p` relative to `root` ("" for the root itself), or undefined when `p` is not inside it. */
export function relativeTo(root: Buffer, p: Buffer): Buffer | undefined {
  if (p.equals(root)) return Buffer.alloc(0);
  if (root.length === 1 && root[0] === SLASH) return p[0] === SLASH ? p.subarray(1) : undefined;
  if (p.length > root.length && p[root.length] === SLASH && p.subarray(0, root.length).equals(root)) return p.subarray(root.length + 1);
  return undefined;
}

/** `root` joined with a relative path ("" gives the root). */
export function joinRelative(root: Buffer, rel: Buffer): Buffer {
  if (rel.length === 0) return root;
  if (root.length === 1 && root[0] === SLASH) return Buffer.concat([root, rel]);
  return Buffer.concat([root, Buffer.of(SLASH), rel]);
}
