// createFiles/finishFiles of the portable core, from node:fs: the same results as the native
// batch calls, one libuv request per step instead of one crossing per batch.
import fs, { constants, promises as fsp } from 'node:fs';
import os from 'node:os';
import { CoreError } from '../errors.ts';
import { promisify } from 'node:util';
import type { CreatedFile, FinishRequest, MadeEntry } from '../types.ts';

// O_NONBLOCK: a FIFO in the way fails with ENXIO instead of blocking (no effect on files).
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
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

export function createFiles(paths: Buffer[]): Promise<CreatedFile[]> {
  return Promise.all(
    paths.map(async (path): Promise<CreatedFile> => {
      try {
        return { fd: await open(path, CREATE_FLAGS, 0o600), errno: 0 };
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

export async function finishOne(r: FinishRequest): Promise<string[]> {
  const problems: string[] = [];
  const byFd = r.fd >= 0;
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

export function finishFiles(requests: FinishRequest[]): Promise<string[][]> {
  return Promise.all(requests.map(finishOne));
}

/**
 * makeDirs/makeSymlinks: the parent checked with lstat (a real directory, never a symlink), then
 * the entry made; the native core opens the parent with O_NOFOLLOW instead.
 */
export async function makeEntries(paths: Buffer[], targets?: Buffer[]): Promise<MadeEntry[]> {
  if (targets && targets.length !== paths.length) throw new CoreError('EINVAL', 'makeEntries: one link target per path');
  const made: MadeEntry[] = [];
  for (const [i, path] of paths.entries()) {
    try {
      const slash = path.lastIndexOf(0x2f);
      if (slash < 0) throw Object.assign(new Error(`${path.toString()} is not an absolute path`), { code: 'EINVAL' });
      const parent = await fsp.lstat(slash === 0 ? '/' : path.subarray(0, slash));
      // ENOTDIR for a symlink too, as open(O_DIRECTORY | O_NOFOLLOW) answers the native core.
      if (!parent.isDirectory()) throw Object.assign(new Error(`parent of ${path.toString()} is not a directory`), { code: 'ENOTDIR' });
      const target = targets?.[i];
      if (target) await fsp.symlink(target, path);
      else await fsp.mkdir(path, { mode: 0o700 });
      made.push({ errno: 0 });
    } catch (err) {
      made.push({ errno: errnoOf(err), message: reason(err) });
    }
  }
  return made;
}
