// Trees `data/<blake3>` (formats/ghostsnap.md §10): one flat JSON document per snapshot,
// {"nodes":[…]}, each node named by its path relative to the snapshot root ("" is the root).
//
// ghostsnap's own fields are written exactly as it writes them. What ghostsnap cannot represent
// goes into one extra object per node, "bolt", which ghostsnap ignores (unknown keys are skipped):
//   path_raw / link_target_raw / hardlink_target_raw   exact bytes (hex) when the UTF-8 text
//                                                      would be lossy (ghostsnap stores U+FFFD)
//   xattr_raw      [[name hex, value hex], …]           xattrs whose names are not UTF-8
//   mtime_nsec     the sub-second part of the mtime (ghostsnap keeps whole seconds)
//   ctime, ino     [sec, nsec] and inode: what change detection needs (absent when the file
//                  changed in the second the backup started, so it is read again next time)
import { CorruptDataError } from '../../backup/errors.ts';
import type { Xattr } from '../../native/types.ts';

export type NodeType = 'File' | 'Directory' | 'Symlink';

export interface ChunkRef {
  id: string;
  /** Plaintext length. */
  length: number;
}

export interface ChangeStamp {
  ctimeSec: number;
  ctimeNsec: number;
  ino: number;
}

export interface TreeNode {
  /** Path relative to the snapshot root, exact bytes ("" is the root). */
  path: Buffer;
  /** The path as ghostsnap sees it (lossy where the bytes are not UTF-8). */
  name: string;
  type: NodeType;
  /** Full st_mode, type bits included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  mtimeNsec: number;
  linkTarget?: Buffer;
  chunks: ChunkRef[];
  xattrs: Xattr[];
  inode?: number;
  nlink?: number;
  /** Of a hard-link follower: the path of the node holding the content. */
  hardlinkTarget?: Buffer;
  stamp?: ChangeStamp;
}

const NODE_TYPES: ReadonlySet<string> = new Set(['File', 'Directory', 'Symlink']);

/** The UTF-8 text ghostsnap would store for these bytes, and whether it is exact. */
export function textOf(bytes: Buffer): { text: string; exact: boolean } {
  const text = bytes.toString('utf8');
  return { text, exact: Buffer.from(text, 'utf8').equals(bytes) };
}

/** One node as compact JSON, keys in ghostsnap's order. */
export function encodeNode(n: TreeNode): string {
  const name = textOf(n.path);
  const o: Record<string, unknown> = {
    name: name.text,
    node_type: n.type,
    mode: n.mode,
    uid: n.uid,
    gid: n.gid,
    size: n.size,
    mtime: n.mtime,
  };
  const ext: Record<string, unknown> = {};
  if (!name.exact) ext['path_raw'] = n.path.toString('hex');
  if (n.linkTarget) {
    const target = textOf(n.linkTarget);
    o['link_target'] = target.text;
    if (!target.exact) ext['link_target_raw'] = n.linkTarget.toString('hex');
  }
  o['subtree_id'] = null;
  o['chunks'] = n.chunks.map((c) => ({ id: c.id, offset: 0, length: c.length }));
  const utf8Xattrs: Record<string, number[]> = {};
  const rawXattrs: [string, string][] = [];
  for (const x of n.xattrs) {
    const xn = textOf(x.name);
    if (xn.exact && !(xn.text in utf8Xattrs)) utf8Xattrs[xn.text] = [...x.value];
    else rawXattrs.push([x.name.toString('hex'), x.value.toString('hex')]);
  }
  if (Object.keys(utf8Xattrs).length) o['xattr'] = utf8Xattrs;
  if (rawXattrs.length) ext['xattr_raw'] = rawXattrs;
  if (n.inode !== undefined && n.nlink !== undefined) {
    o['inode'] = n.inode;
    o['nlink'] = n.nlink;
  }
  if (n.hardlinkTarget) {
    const target = textOf(n.hardlinkTarget);
    o['hardlink_target'] = target.text;
    if (!target.exact) ext['hardlink_target_raw'] = n.hardlinkTarget.toString('hex');
  }
  if (n.mtimeNsec) ext['mtime_nsec'] = n.mtimeNsec;
  if (n.stamp) {
    ext['ctime'] = [n.stamp.ctimeSec, n.stamp.ctimeNsec];
    ext['ino'] = n.stamp.ino;
  }
  if (Object.keys(ext).length) o['bolt'] = ext;
  return JSON.stringify(o);
}

export function encodeTree(nodeJson: readonly string[]): Buffer {
  return Buffer.from(`{"nodes":[${nodeJson.join(',')}]}`);
}

function hexBytes(value: unknown): Buffer | undefined {
  return typeof value === 'string' && /^(?:[0-9a-f]{2})*$/.test(value) ? Buffer.from(value, 'hex') : undefined;
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Decodes a tree; `what` names it in errors. Unknown keys are ignored, as ghostsnap does. */
export function decodeTree(plain: Buffer, what: string): TreeNode[] {
  let json: unknown;
  try {
    json = JSON.parse(plain.toString('utf8'));
  } catch (err) {
    throw new CorruptDataError(`${what}: not JSON (${(err as Error).message})`);
  }
  const list = (json as { nodes?: unknown })?.nodes;
  if (!Array.isArray(list)) throw new CorruptDataError(`${what}: no "nodes" array`);
  return list.map((raw, i) => decodeNode(raw, `${what} node ${i}`));
}

function decodeNode(raw: unknown, what: string): TreeNode {
  if (typeof raw !== 'object' || raw === null) throw new CorruptDataError(`${what}: not an object`);
  const o = raw as Record<string, unknown>;
  const ext = (typeof o['bolt'] === 'object' && o['bolt'] !== null ? o['bolt'] : {}) as Record<string, unknown>;
  if (typeof o['name'] !== 'string') throw new CorruptDataError(`${what}: no name`);
  if (typeof o['node_type'] !== 'string' || !NODE_TYPES.has(o['node_type'])) throw new CorruptDataError(`${what} (${o['name']}): node_type ${JSON.stringify(o['node_type'])} is not File, Directory or Symlink`);
  for (const k of ['mode', 'uid', 'gid', 'size'] as const) if (!isUint(o[k])) throw new CorruptDataError(`${what} (${o['name']}): ${k} is not a whole number`);
  if (typeof o['mtime'] !== 'number' || !Number.isSafeInteger(o['mtime'])) throw new CorruptDataError(`${what} (${o['name']}): mtime is not a whole number`);
  const chunksRaw = o['chunks'] ?? [];
  if (!Array.isArray(chunksRaw)) throw new CorruptDataError(`${what} (${o['name']}): chunks is not an array`);
  const chunks: ChunkRef[] = chunksRaw.map((c: unknown) => {
    const cr = c as Record<string, unknown>;
    if (typeof cr?.['id'] !== 'string' || !/^[0-9a-f]{64}$/.test(cr['id']) || !isUint(cr['length'])) throw new CorruptDataError(`${what} (${o['name']}): malformed chunk reference`);
    return { id: cr['id'], length: cr['length'] };
  });
  const xattrs: Xattr[] = [];
  if (typeof o['xattr'] === 'object' && o['xattr'] !== null) {
    for (const [name, value] of Object.entries(o['xattr'] as Record<string, unknown>)) {
      if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) xattrs.push({ name: Buffer.from(name, 'utf8'), value: Buffer.from(value as number[]) });
    }
  }
  if (Array.isArray(ext['xattr_raw'])) {
    for (const pair of ext['xattr_raw'] as unknown[]) {
      const name = Array.isArray(pair) ? hexBytes(pair[0]) : undefined;
      const value = Array.isArray(pair) ? hexBytes(pair[1]) : undefined;
      if (name && value) xattrs.push({ name, value });
    }
  }
  const node: TreeNode = {
    path: hexBytes(ext['path_raw']) ?? Buffer.from(o['name'], 'utf8'),
    name: o['name'],
    type: o['node_type'] as NodeType,
    mode: o['mode'] as number,
    uid: o['uid'] as number,
    gid: o['gid'] as number,
    size: o['size'] as number,
    mtime: o['mtime'],
    mtimeNsec: isUint(ext['mtime_nsec']) && ext['mtime_nsec'] < 1e9 ? ext['mtime_nsec'] : 0,
    chunks,
    xattrs,
  };
  if (typeof o['link_target'] === 'string') node.linkTarget = hexBytes(ext['link_target_raw']) ?? Buffer.from(o['link_target'], 'utf8');
  if (isUint(o['inode'])) node.inode = o['inode'];
  if (isUint(o['nlink'])) node.nlink = o['nlink'];
  if (typeof o['hardlink_target'] === 'string') node.hardlinkTarget = hexBytes(ext['hardlink_target_raw']) ?? Buffer.from(o['hardlink_target'], 'utf8');
  const ctime = ext['ctime'];
  if (Array.isArray(ctime) && isUint(ctime[0]) && isUint(ctime[1]) && isUint(ext['ino'])) node.stamp = { ctimeSec: ctime[0], ctimeNsec: ctime[1], ino: ext['ino'] };
  return node;
}

/** Why a node path must not be restored (it could leave the target), or undefined. */
export function pathProblem(p: Buffer): string | undefined {
  if (p.length === 0) return undefined;
  if (p[0] === 0x2f) return 'absolute path';
  if (p.includes(0)) return 'NUL byte in the name';
  for (const part of p.toString('latin1').split('/')) {
    if (part === '' || part === '.' || part === '..') return `path component ${JSON.stringify(part)}`;
  }
  return undefined;
}

/** Depth-first order on raw paths: a directory right before its contents. */
export function comparePaths(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x === y) continue;
    // "/" sorts before every other byte, so "a/b" comes right after "a" and before "a-b".
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    return x - y;
  }
  return a.length - b.length;
}
