// Filesystem metadata through node:fs with bigint stats (nanosecond times where the runtime has
// them).
//
// Runtime limits of this fallback (the native core has none of them):
// * Deno's node:fs decodes names as UTF-8, so names that are not valid UTF-8 come back with
//   U+FFFD and cannot be opened again; its bigint stats carry millisecond mtimes/atimes and
//   whole-second ctimes.
// * `ino`, `dev` and `size` are Numbers: values above 2^53 lose precision.
import { Buffer } from 'node:buffer';
import { lstatSync, type BigIntStats } from 'node:fs';
import { lstat, lutimes, readdir, readlink } from 'node:fs/promises';
import { CoreError } from '../errors.ts';
import type { DirEntry, DirListing, EntryStat, ReadDirsOptions } from '../types.ts';
import { requireInteger } from './bytes.ts';
import { ioError } from './io-error.ts';

const NS_PER_SEC = 1_000_000_000n;
/** lstat calls in flight per directory. */
const STAT_CONCURRENCY = 32;

/** Splits nanoseconds since the epoch into (seconds, 0..999999999), flooring for times before 1970. */
function splitNs(ns: bigint): [number, number] {
  let sec = ns / NS_PER_SEC;
  let rem = ns % NS_PER_SEC;
  if (rem < 0n) {
    rem += NS_PER_SEC;
    sec -= 1n;
  }
  return [Number(sec), Number(rem)];
}

function toEntryStat(s: BigIntStats): EntryStat {
  const [atimeSec, atimeNsec] = splitNs(s.atimeNs);
  const [mtimeSec, mtimeNsec] = splitNs(s.mtimeNs);
  const [ctimeSec, ctimeNsec] = splitNs(s.ctimeNs);
  return {
    mode: Number(s.mode),
    uid: Number(s.uid),
    gid: Number(s.gid),
    size: Number(s.size),
    allocated: Number(s.blocks) * 512,
    ino: Number(s.ino),
    dev: Number(s.dev),
    nlink: Number(s.nlink),
    rdev: Number(s.rdev),
    atimeSec,
    atimeNsec,
    mtimeSec,
    mtimeNsec,
    ctimeSec,
    ctimeNsec,
  };
}

function checkPath(path: unknown): asserts path is string | Buffer {
  if (typeof path !== 'string' && !Buffer.isBuffer(path)) throw new CoreError('EINVAL', 'path must be a string or a Buffer');
}

export function lstatEntry(path: string | Buffer): EntryStat {
  checkPath(path);
  try {
    return toEntryStat(lstatSync(path, { bigint: true }));
  } catch (err) {
    throw ioError('lstat', path, err);
  }
}

function joinName(dir: string | Buffer, name: Buffer): Buffer {
  const d = typeof dir === 'string' ? Buffer.from(dir) : dir;
  return d.byteLength > 0 && d[d.byteLength - 1] === 0x2f ? Buffer.concat([d, name]) : Buffer.concat([d, Buffer.from('/'), name]);
}

async function listOne(path: string | Buffer, options: ReadDirsOptions): Promise<DirListing> {
  let names: Buffer[];
  try {
    names = await readdir(path, { encoding: 'buffer' });
  } catch (err) {
    return { path, entries: [], error: ioError('readdir', path, err).toInfo() };
  }
  names.sort(Buffer.compare);
  const entries: DirEntry[] = new Array<DirEntry>(names.length);
  for (let base = 0; base < names.length; base += STAT_CONCURRENCY) {
    const batch = names.slice(base, base + STAT_CONCURRENCY);
    await Promise.all(
      batch.map(async (name, j) => {
        const full = joinName(path, name);
        try {
          const entry: DirEntry = { name, stat: toEntryStat(await lstat(full, { bigint: true })) };
          // Extended attributes are not available here (node:fs has no xattr API): left out.
          if (options.linkTargets && entry.stat && (entry.stat.mode & 0o170000) === 0o120000) {
            try {
              entry.linkTarget = await readlink(full, { encoding: 'buffer' });
            } catch (err) {
              entry.error = ioError('readlink', full, err).toInfo();
            }
          }
          entries[base + j] = entry;
        } catch (err) {
          entries[base + j] = { name, stat: null, error: ioError('lstat', full, err).toInfo() };
        }
      }),
    );
  }
  return { path, entries };
}

export async function readDirs(paths: (string | Buffer)[], options: ReadDirsOptions = {}): Promise<DirListing[]> {
  if (!Array.isArray(paths)) throw new CoreError('EINVAL', 'readDirs needs an array of paths');
  paths.forEach(checkPath);
  const out: DirListing[] = [];
  for (const p of paths) out.push(await listOne(p, options));
  return out;
}

/**
 * Precision loss: node:fs takes times as floating-point seconds, so what reaches utimensat is
 * rounded — to microseconds on Node, to a fraction of a microsecond on Bun, to milliseconds on
 * Deno. Callers that need exact nanoseconds must use the native core.
 */
export async function setTimes(
  path: string | Buffer,
  atimeSec: number,
  atimeNsec: number,
  mtimeSec: number,
  mtimeNsec: number,
): Promise<void> {
  checkPath(path);
  requireInteger(atimeSec, 'atimeSec', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  requireInteger(mtimeSec, 'mtimeSec', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  requireInteger(atimeNsec, 'atimeNsec', 0, 999_999_999);
  requireInteger(mtimeNsec, 'mtimeNsec', 0, 999_999_999);
  try {
    await lutimes(path, atimeSec + atimeNsec / 1e9, mtimeSec + mtimeNsec / 1e9);
  } catch (err) {
    throw ioError('lutimes', path, err, 'EIO_WRITE');
  }
}
