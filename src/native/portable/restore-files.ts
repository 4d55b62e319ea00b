// The restore calls of the portable core, from node:fs: the same results as the native batch
// calls, one libuv request per step instead of one crossing per batch. node:fs has no openat,
// so each entry's parent is checked with lstat, component by component from the restore
// target, before the path is used: what the native core refuses is refused here too, but a
// directory swapped for a symlink between the check and the use is not caught (see types.ts).
import fs, { constants, promises as fsp } from 'node:fs';
import os from 'node:os';
import { CoreError } from '../errors.ts';
import { promisify } from 'node:util';
import type { CreatedFile, FinishRequest, MadeEntry } from '../types.ts';

// O_EXCL: always a new inode, never what someone placed at the name (a device, a hard link).
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
const open = promisify(fs.open);
const fchown = promisify(fs.fchown);
const fchmod = promisify(fs.fchmod);
const futimes = promisify(fs.futimes);
const close = promisify(fs.close);

function errnoOf(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  const value = typeof code === 'string' ? (os.constants.errno as Record<string, number | undefined>)[code] : undefined;
  return value ?? os.constants.errno.EIO;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * Throws unless `path` is below `root` and every directory between them is a real directory
 * (ENOTDIR, as the native core answers, when one is a symlink or a file). `checked`: directories
 * one batch call found so already (its files mostly share them), not looked at again.
 */
export async function checkBeneath(root: Buffer, path: Buffer, checked?: Set<string>): Promise<void> {
  const base = root.length > 1 && root[root.length - 1] === 0x2f ? root.subarray(0, root.length - 1) : root;
  const inside = base.length === 1 && base[0] === 0x2f ? 0 : base.length;
  if (path.equals(base)) return; // the root itself: as given
  if (path.length <= inside + 1 || !path.subarray(0, inside).equals(inside === 0 ? Buffer.alloc(0) : base) || path[inside] !== 0x2f) {
    throw withCode(`${path.toString()} is outside the restore target`, 'EINVAL');
  }
  const parts = path.subarray(inside + 1).toString('latin1').split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw withCode(`${path.toString()} names no entry beneath the restore target`, 'EINVAL');
  let at = inside;
  for (const part of parts.slice(0, -1)) {
    at += 1 + Buffer.byteLength(part, 'latin1');
    const dir = path.subarray(0, at);
    const key = dir.toString('latin1');
    if (checked?.has(key)) continue;
    const st = await fsp.lstat(dir);
    if (!st.isDirectory()) throw withCode(`${dir.toString()}: not a directory beneath the restore target (a symlink or a file is in the way); not followed`, 'ENOTDIR');
    checked?.add(key);
  }
}

/** A new inode at `path` (O_EXCL): what stands there is unlinked first, never opened (EISDIR for a directory). */
async function createNew(path: Buffer): Promise<number> {
  try {
    return await open(path, CREATE_FLAGS, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if ((await fsp.lstat(path)).isDirectory()) throw withCode(`${path.toString()} is a directory`, 'EISDIR');
  await fsp.unlink(path);
  return open(path, CREATE_FLAGS, 0o600);
}

export function createFiles(root: Buffer, paths: Buffer[]): Promise<CreatedFile[]> {
  const checked = new Set<string>();
  return Promise.all(
    paths.map(async (path): Promise<CreatedFile> => {
      try {
        await checkBeneath(root, path, checked);
        return { fd: await createNew(path), errno: 0 };
      } catch (err) {
        return { fd: -1, errno: errnoOf(err), message: reason(err) };
      }
    }),
  );
}

async function attempt(what: string, problems: string[], step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (err) {
    problems.push(`${what}: ${reason(err)}`);
  }
}

export async function finishOne(root: Buffer, r: FinishRequest): Promise<string[]> {
  const problems: string[] = [];
  const byFd = r.fd >= 0;
  if (!byFd) {
    // As the native core answers: an entry that is not there, or a symlink where one with a
    // mode was restored, gets nothing set.
    try {
      await checkBeneath(root, r.path);
      const st = await fsp.lstat(r.path);
      const found = st.mode & constants.S_IFMT;
      const expected = r.kind ?? (r.mode !== undefined ? undefined : constants.S_IFLNK);
      if (expected === undefined ? found === constants.S_IFLNK : found !== expected) {
        return [`cannot set metadata: ${found === constants.S_IFLNK ? 'a symlink' : 'something of another type'} is in its place (not changed)`];
      }
    } catch (err) {
      return [`cannot set metadata: ${reason(err)}`];
    }
  }
  const { owner, mode } = r;
  if (owner) await attempt('cannot set owner', problems, () => (byFd ? fchown(r.fd, owner.uid, owner.gid) : fsp.lchown(r.path, owner.uid, owner.gid)));
  if (mode !== undefined) await attempt('cannot set mode', problems, () => (byFd ? fchmod(r.fd, mode) : fsp.chmod(r.path, mode)));
  for (const x of r.xattrs) problems.push(`cannot set extended attribute ${x.name.toString()}: not available in the portable core`);
  // node:fs takes seconds as a double: nanoseconds are rounded here (the native core keeps them).
  const atime = r.atimeSec + r.atimeNsec / 1e9;
  const mtime = r.mtimeSec + r.mtimeNsec / 1e9;
  await attempt('cannot set times', problems, () => (byFd ? futimes(r.fd, atime, mtime) : fsp.lutimes(r.path, atime, mtime)));
  if (byFd) await attempt('cannot close (the data may not all be written)', problems, () => close(r.fd));
  return problems;
}

export function finishFiles(root: Buffer, requests: FinishRequest[]): Promise<string[][]> {
  return Promise.all(requests.map((r) => finishOne(root, r)));
}

export async function removeEntry(root: Buffer, path: Buffer, options: { directories?: boolean } = {}): Promise<void> {
  await checkBeneath(root, path);
  // fs.rm removes a symlink itself, never what it points to.
  if (options.directories) await fsp.rm(path, { recursive: true, force: true });
  else await fsp.unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

export async function linkEntry(root: Buffer, existing: Buffer, path: Buffer): Promise<void> {
  await checkBeneath(root, existing);
  await checkBeneath(root, path);
  await fsp.link(existing, path);
}

/** makeDirs/makeSymlinks: the parents checked (checkBeneath), then the entry made. */
export async function makeEntries(root: Buffer, paths: Buffer[], targets?: Buffer[]): Promise<MadeEntry[]> {
  if (targets && targets.length !== paths.length) throw new CoreError('EINVAL', 'makeEntries: one link target per path');
  const made: MadeEntry[] = [];
  const checked = new Set<string>();
  for (const [i, path] of paths.entries()) {
    try {
      await checkBeneath(root, path, checked);
      const target = targets?.[i];
      if (target) await fsp.symlink(target, path);
      else {
        await fsp.mkdir(path, { mode: 0o700 });
        checked.add(path.toString('latin1')); // made here: a real directory
      }
      made.push({ errno: 0 });
    } catch (err) {
      made.push({ errno: errnoOf(err), message: reason(err) });
    }
  }
  return made;
}
