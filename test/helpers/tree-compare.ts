// Compares two directory trees the way a user would after a restore: names (raw bytes), types,
// content, permission bits, owner, mtime (ns), symlink targets, xattrs, device numbers and which
// names are hard links of one another.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';

export interface EntryInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  size: number;
  sha?: string;
  link?: string;
  rdev?: number;
  xattrs: Record<string, string>;
  /** Index of the hard-link group (names sharing an inode), or -1. */
  linkGroup: number;
}

function xattrsOf(p: Buffer): Record<string, string> {
  const r = spawnSync('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--', p.toString('latin1')], { encoding: 'latin1' });
  const out: Record<string, string> = {};
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line.trim());
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

/** Every entry below `root` (relative raw path as latin1 key), with metadata. */
export function describeTree(root: string, options: { xattrs?: boolean; skipMtimeOfRoot?: boolean } = {}): Map<string, EntryInfo> {
  const entries = new Map<string, EntryInfo>();
  const inodes = new Map<string, number>();
  let groups = 0;
  const walk = (dir: Buffer, rel: string): void => {
    for (const name of fs.readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const p = Buffer.concat([dir, Buffer.from('/'), name]);
      const key = rel ? `${rel}/${name.toString('latin1')}` : name.toString('latin1');
      const st = fs.lstatSync(p, { bigint: true });
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev' : st.isBlockDevice() ? 'dev' : 'socket';
      let linkGroup = -1;
      if (type === 'file' && st.nlink > 1n) {
        const ino = `${st.dev}:${st.ino}`;
        if (!inodes.has(ino)) inodes.set(ino, groups++);
        linkGroup = inodes.get(ino) ?? -1;
      }
      const info: EntryInfo = {
        type,
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtimeNs: st.mtimeNs,
        size: type === 'file' ? Number(st.size) : 0,
        xattrs: options.xattrs === false || type === 'symlink' ? {} : xattrsOf(p),
        linkGroup,
      };
      if (type === 'file') info.sha = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      if (type === 'symlink') info.link = fs.readlinkSync(p, { encoding: 'buffer' }).toString('hex');
      if (type === 'chardev' || type === 'dev') info.rdev = Number(st.rdev);
      entries.set(key, info);
      if (type === 'dir') walk(p, key);
    }
  };
  walk(Buffer.from(path.resolve(root)), '');
  // A link group only means something when several of its names are in this tree.
  const members = new Map<number, number>();
  for (const e of entries.values()) if (e.linkGroup >= 0) members.set(e.linkGroup, (members.get(e.linkGroup) ?? 0) + 1);
  for (const e of entries.values()) if (e.linkGroup >= 0 && (members.get(e.linkGroup) ?? 0) < 2) e.linkGroup = -1;
  return entries;
}

/** Differences between two trees (empty when identical). Symlink mode bits are not compared. */
export function diffTrees(expected: Map<string, EntryInfo>, actual: Map<string, EntryInfo>, ignore: { mtimeOfDirs?: boolean } = {}): string[] {
  const out: string[] = [];
  for (const [key, e] of expected) {
    const a = actual.get(key);
    const name = JSON.stringify(Buffer.from(key, 'latin1').toString('utf8'));
    if (!a) {
      out.push(`missing ${name}`);
      continue;
    }
    const fields: (keyof EntryInfo)[] = ['type', 'uid', 'gid', 'size', 'sha', 'link', 'rdev', 'linkGroup'];
    if (e.type !== 'symlink') fields.push('mode');
    if (!(ignore.mtimeOfDirs && e.type === 'dir')) fields.push('mtimeNs');
    for (const f of fields) {
      if (String(e[f]) !== String(a[f])) out.push(`${name}: ${f} ${String(a[f])} != ${String(e[f])}`);
    }
    if (JSON.stringify(e.xattrs) !== JSON.stringify(a.xattrs)) out.push(`${name}: xattrs ${JSON.stringify(a.xattrs)} != ${JSON.stringify(e.xattrs)}`);
  }
  for (const key of actual.keys()) if (!expected.has(key)) out.push(`unexpected ${JSON.stringify(Buffer.from(key, 'latin1').toString('utf8'))}`);
  return out;
}
