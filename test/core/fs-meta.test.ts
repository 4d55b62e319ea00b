import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EntryStat } from '../../src/native/types.ts';
import { describeEachCore } from './cores.ts';
import { ERRNO_ENOENT } from './errno.ts';

const root = mkdtempSync(join(tmpdir(), 'bolt-fsmeta-'));
const dir = join(root, 'tree');
const rawNames = [Buffer.from('b.txt'), Buffer.from('B'), Buffer.from('ä'), Buffer.from([0x61, 0xff, 0x62]), Buffer.from('0'), Buffer.from('link'), Buffer.from('sub'), Buffer.from('fifo')];

beforeAll(() => {
  mkdirSync(dir);
  const p = (name: string | Buffer): Buffer => Buffer.concat([Buffer.from(dir + '/'), Buffer.from(name)]);
  writeFileSync(p('b.txt'), 'hello');
  writeFileSync(p('B'), Buffer.alloc(70000, 1));
  writeFileSync(p('ä'), '');
  writeFileSync(p(Buffer.from([0x61, 0xff, 0x62])), 'raw name');
  writeFileSync(p('0'), 'zero');
  symlinkSync('b.txt', p('link'));
  mkdirSync(p('sub'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  execFileSync('touch', ['-h', '-d', '@-1.25', join(dir, '0')]);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** GNU stat's view of every entry of `dir` (the independent oracle), keyed by raw name (hex). */
function statOracle(directory: string): Map<string, EntryStat> {
  const fmt = '%f %u %g %s %b %i %d %h %t %T %.9X %.9Y %.9Z %n\\0';
  const out = execFileSync('sh', ['-c', `cd "$1" && stat --printf '${fmt}' -- * .[!.]* 2>/dev/null; true`, 'sh', directory]);
  const map = new Map<string, EntryStat>();
  let start = 0;
  for (let end = out.indexOf(0, start); end >= 0; start = end + 1, end = out.indexOf(0, start)) {
    const rec = out.subarray(start, end);
    let cut = 0;
    for (let i = 0, spaces = 0; i < rec.length; i++) if (rec[i] === 0x20 && ++spaces === 13) { cut = i; break; }
    const f = rec.subarray(0, cut).toString().split(' ');
    const name = rec.subarray(cut + 1);
    const time = (s: string): [number, number] => {
      // GNU stat prints -1.25 s as "-1.250000000"; EntryStat floors: (-2, 750000000).
      const [sec, frac] = s.replace('-', '').split('.') as [string, string];
      const total = BigInt(sec) * 1_000_000_000n + BigInt(frac);
      const signed = s.startsWith('-') ? -total : total;
      const floorSec = signed >= 0n ? signed / 1_000_000_000n : -((-signed + 999_999_999n) / 1_000_000_000n);
      return [Number(floorSec), Number(signed - floorSec * 1_000_000_000n)];
    };
    const [as, an] = time(f[10]!);
    const [ms, mn] = time(f[11]!);
    const [cs, cn] = time(f[12]!);
    map.set(name.toString('hex'), {
      mode: parseInt(f[0]!, 16),
      uid: Number(f[1]),
      gid: Number(f[2]),
      size: Number(f[3]),
      allocated: Number(f[4]) * 512,
      ino: Number(f[5]),
      dev: Number(f[6]),
      nlink: Number(f[7]),
      rdev: parseInt(f[8]!, 16) * 256 + parseInt(f[9]!, 16),
      atimeSec: as,
      atimeNsec: an,
      mtimeSec: ms,
      mtimeNsec: mn,
      ctimeSec: cs,
      ctimeNsec: cn,
    });
  }
  return map;
}

describeEachCore('filesystem metadata', (core, name) => {
  it('readDirs lists raw names sorted by bytes, with the stats GNU stat reports', async () => {
    const oracle = statOracle(dir);
    const [listing, missing] = await core().readDirs([dir, join(root, 'missing')]);
    expect(listing?.error).toBeUndefined();
    const want = [...rawNames].sort(Buffer.compare).map((n) => n.toString('hex'));
    expect(listing?.entries.map((e) => e.name.toString('hex'))).toEqual(want);
    for (const e of listing!.entries) {
      expect(e.error).toBeUndefined();
      expect({ name: e.name.toString('hex'), ...e.stat }).toEqual({ name: e.name.toString('hex'), ...oracle.get(e.name.toString('hex')) });
    }
    expect(missing?.error?.code).toBe('EIO_READ');
    expect(missing?.error?.message).toMatch(ERRNO_ENOENT);
    expect(missing?.entries).toEqual([]);
  });

  it('readDirs accepts Buffer paths', async () => {
    const [listing] = await core().readDirs([Buffer.from(dir)]);
    expect(listing?.entries.length).toBe(rawNames.length);
  });

  it('lstat does not follow symlinks and floors times before 1970', () => {
    const link = core().lstat(join(dir, 'link'));
    expect(link.mode & 0o170000).toBe(0o120000);
    expect(link.size).toBe('b.txt'.length);
    const fifo = core().lstat(join(dir, 'fifo'));
    expect(fifo.mode & 0o170000).toBe(0o010000);
    const old = core().lstat(join(dir, '0'));
    expect([old.mtimeSec, old.mtimeNsec]).toEqual([-2, 750_000_000]);
  });

  it('lstat of a missing path throws EIO_READ naming the path', () => {
    const p = join(root, 'nope');
    expect(() => core().lstat(p)).toThrow(expect.objectContaining({ code: 'EIO_READ', subject: p }));
  });

  it('setTimes sets the times of a link itself, not of its target', async () => {
    const before = statOracle(dir).get(Buffer.from('b.txt').toString('hex'))!;
    await core().setTimes(Buffer.from(dir), Buffer.from(join(dir, 'link')), 1_600_000_000, 123_456_789, 1_500_000_000, 987_654_321);
    await core().setTimes(Buffer.from(dir), Buffer.from(join(dir, 'sub')), 1_000_000_000, 999_999_999, 1_000_000_001, 1);
    const after = statOracle(dir);
    const link = after.get(Buffer.from('link').toString('hex'))!;
    const sub = after.get(Buffer.from('sub').toString('hex'))!;
    // The portable core passes times through node:fs as floating-point seconds (documented):
    // on Node that keeps microseconds. The native core must be exact.
    const tolerance = name === 'portable' ? 1000 : 0;
    const ns = (s: number, n: number): number => s * 1e9 + n;
    expect(Math.abs(ns(link.atimeSec, link.atimeNsec) - ns(1_600_000_000, 123_456_789))).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(ns(link.mtimeSec, link.mtimeNsec) - ns(1_500_000_000, 987_654_321))).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(ns(sub.mtimeSec, sub.mtimeNsec) - ns(1_000_000_001, 1))).toBeLessThanOrEqual(tolerance);
    const t = after.get(Buffer.from('b.txt').toString('hex'))!;
    expect([t.mtimeSec, t.mtimeNsec]).toEqual([before.mtimeSec, before.mtimeNsec]);
    await expect(core().setTimes(Buffer.from(dir), Buffer.from(join(dir, 'sub')), 1, 1_000_000_000, 1, 0)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(core().setTimes(Buffer.from(root), Buffer.from(join(root, 'nope')), 1, 0, 1, 0)).rejects.toMatchObject({ code: 'EIO_WRITE' });
  });

  it('createFiles makes new files, never opening what stands at their names; finishFiles sets metadata and closes', async () => {
    const work = join(root, `restore-${name}`);
    mkdirSync(work);
    const at = (n: string): Buffer => Buffer.from(join(work, n));
    writeFileSync(at('target'), 'outside');
    symlinkSync(join(work, 'target'), at('link'));
    mkdirSync(at('dir'));
    writeFileSync(at('old'), 'x'.repeat(100));
    // A hard link to a file that is not restored, and a FIFO: replaced, never written into.
    writeFileSync(at('other-name'), 'not restored');
    execFileSync('ln', [join(work, 'other-name'), join(work, 'linked')]);
    execFileSync('mkfifo', [join(work, 'fifo')]);
    const created = await core().createFiles(Buffer.from(work), [at('new'), at('old'), at('link'), at('dir'), at('missing/x'), at('linked'), at('fifo')]);
    const [fresh, old, link, directory, missing, linked, fifo] = created;
    expect(fresh?.fd).toBeGreaterThanOrEqual(0);
    expect(old?.fd).toBeGreaterThanOrEqual(0);
    expect(statSync(at('old')).size).toBe(0);
    expect(link?.fd).toBeGreaterThanOrEqual(0);
    expect(lstatSync(at('link')).isFile()).toBe(true);
    expect(directory).toMatchObject({ fd: -1, errno: osConstants.errno.EISDIR });
    expect(missing).toMatchObject({ fd: -1, errno: osConstants.errno.ENOENT });
    expect(missing?.message).toBeTruthy();
    expect(readFileSync(at('target'), 'utf8')).toBe('outside');
    writeSync(linked!.fd, 'restored');
    expect(readFileSync(at('other-name'), 'utf8')).toBe('not restored');
    expect(statSync(at('other-name')).nlink).toBe(1);
    expect(lstatSync(at('fifo')).isFile()).toBe(true);
    for (const c of [link, linked, fifo]) closeSync(c!.fd);

    writeSync(fresh!.fd, 'restored');
    symlinkSync(join(work, 'target'), at('link2'));
    const times = { atimeSec: 1_500_000_000, atimeNsec: 5, mtimeSec: 1_600_000_000, mtimeNsec: 123_456_789 };
    const problems = await core().finishFiles(Buffer.from(work), [
      { path: at('new'), fd: fresh!.fd, mode: 0o640, xattrs: [], ...times },
      { path: at('link2'), fd: -1, xattrs: [], ...times },
      { path: at('gone'), fd: -1, mode: 0o600, xattrs: [], ...times },
      { path: at('old'), fd: old!.fd, mode: 0o604, xattrs: [], ...times },
    ]);
    expect(problems[0]).toEqual([]);
    expect(problems[1]).toEqual([]);
    expect(problems[2]?.map((m) => m.split(':')[0])).toEqual(['cannot set metadata']);
    expect(problems[3]).toEqual([]);
    // Handed-over descriptors are closed.
    expect(() => fstatSync(fresh!.fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    const st = statSync(at('new'), { bigint: true });
    expect(readFileSync(at('new'), 'utf8')).toBe('restored');
    expect(Number(st.mode & 0o7777n)).toBe(0o640);
    const tolerance = name === 'portable' ? 1000n : 0n;
    const diff = st.mtimeNs - 1_600_000_000_123_456_789n;
    expect(diff < 0n ? -diff : diff).toBeLessThanOrEqual(tolerance);
    // The link itself got the times; its target did not.
    expect(Math.round(lstatSync(at('link2')).mtimeMs)).toBe(1_600_000_000_123);
    expect(Math.round(statSync(at('target')).mtimeMs)).not.toBe(1_600_000_000_123);
  });

  it('makeDirs and makeSymlinks make entries in order, never inside a symlink or a file', async () => {
    const work = join(root, `make-${name}`);
    mkdirSync(work);
    const at = (n: string | Buffer): Buffer => Buffer.concat([Buffer.from(`${work}/`), Buffer.from(n)]);
    const outside = join(root, `outside-${name}`);
    mkdirSync(outside);
    symlinkSync(outside, at('link'));
    writeFileSync(at('file'), 'x');
    mkdirSync(at('exists'));
    const rawName = Buffer.from([0x64, 0xff]);
    const dirs = await core().makeDirs(Buffer.from(work), [at('a'), at('a/b'), at(Buffer.concat([Buffer.from('a/b/'), rawName])), at('link/in'), at('file/in'), at('exists'), at('gone/in'), at('a/c')]);
    expect(dirs.map((d) => d.errno)).toEqual([0, 0, 0, osConstants.errno.ENOTDIR, osConstants.errno.ENOTDIR, osConstants.errno.EEXIST, osConstants.errno.ENOENT, 0]);
    expect(dirs[3]?.message).toBeTruthy();
    expect(statSync(at(Buffer.concat([Buffer.from('a/b/'), rawName]))).isDirectory()).toBe(true);
    expect(statSync(at('a/b')).mode & 0o7777).toBe(0o700);
    const links = await core().makeSymlinks(Buffer.from(work), [at('a/l1'), at('a/b/l2'), at('link/l3'), at('a/l1')], [Buffer.from('../file'), rawName, Buffer.from('x'), Buffer.from('y')]);
    expect(links.map((l) => l.errno)).toEqual([0, 0, osConstants.errno.ENOTDIR, osConstants.errno.EEXIST]);
    expect(readFileSync(at('a/l1'), 'utf8')).toBe('x');
    expect(Buffer.from(execFileSync('readlink', ['-n', '--', at('a/b/l2').toString('latin1')], { encoding: 'buffer' }))).toEqual(rawName);
    // Nothing was made through the symlink.
    expect(execFileSync('ls', ['-A', outside]).toString()).toBe('');
    await expect(core().makeSymlinks(Buffer.from(work), [at('a/l4')], [])).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('the restore calls stay beneath their root: a symlink or a file on the way fails the entry, nothing outside is touched', async () => {
    const work = join(root, `beneath-${name}`);
    const outside = join(root, `beneath-outside-${name}`);
    mkdirSync(join(work, 'real'), { recursive: true });
    mkdirSync(outside, { mode: 0o700 });
    writeFileSync(join(outside, 'precious'), 'keep', { mode: 0o600 });
    symlinkSync(outside, join(work, 'escape'));
    writeFileSync(join(work, 'file'), 'x');
    const target = Buffer.from(work);
    const at = (n: string): Buffer => Buffer.from(`${work}/${n}`);
    const untouched = (): void => {
      expect(execFileSync('ls', ['-A', outside]).toString()).toBe('precious\n');
      expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep');
      expect(statSync(join(outside, 'precious')).mode & 0o7777).toBe(0o600);
      expect(statSync(outside).mode & 0o7777).toBe(0o700);
    };
    const ENOTDIR = osConstants.errno.ENOTDIR;
    const created = await core().createFiles(target, [at('escape/precious'), at('escape/new'), at('file/x'), at('real/ok')]);
    expect(created.map((c) => c.errno)).toEqual([ENOTDIR, ENOTDIR, ENOTDIR, 0]);
    expect(created[0]?.message).toMatch(/escape: not a directory beneath the restore target/);
    closeSync(created[3]!.fd);
    expect((await core().makeDirs(target, [at('escape/d')]))[0]?.errno).toBe(ENOTDIR);
    expect((await core().makeSymlinks(target, [at('escape/l')], [Buffer.from('x')]))[0]?.errno).toBe(ENOTDIR);
    const times = { atimeSec: 1, atimeNsec: 0, mtimeSec: 1, mtimeNsec: 0 };
    const [throughLink, linkItself] = await core().finishFiles(target, [
      { path: at('escape/precious'), fd: -1, mode: 0o666, xattrs: [], ...times },
      // a symlink where a directory was restored: its mode is not set through it
      { path: at('escape'), fd: -1, mode: 0o777, xattrs: [], ...times },
    ]);
    expect(throughLink).toEqual([expect.stringMatching(/^cannot set metadata: .*not a directory beneath the restore target/)]);
    // Something else in the place of a restored entry gets none of its metadata.
    writeFileSync(join(work, 'was-a-dir'), 'mine', { mode: 0o644 });
    mkdirSync(join(work, 'was-a-file'));
    const [dirSwapped, fileSwapped] = await core().finishFiles(target, [
      { path: at('was-a-dir'), fd: -1, mode: 0o2775, kind: 0o040000, xattrs: [], ...times },
      { path: at('was-a-file'), fd: -1, mode: 0o4755, kind: 0o010000, xattrs: [], ...times },
    ]);
    expect(dirSwapped).toEqual([expect.stringMatching(/^cannot set metadata: /)]);
    expect(fileSwapped).toEqual([expect.stringMatching(/^cannot set metadata: /)]);
    expect(statSync(join(work, 'was-a-dir')).mode & 0o7777).toBe(0o644);
    expect(statSync(join(work, 'was-a-file')).mode & 0o7777).not.toBe(0o4755);
    expect(linkItself).toEqual([expect.stringMatching(/^cannot set metadata: .*symlink/)]);
    await expect(core().setTimes(target, at('escape/precious'), 1, 0, 1, 0)).rejects.toThrow(/not a directory beneath the restore target/);
    await expect(core().removeEntry(target, at('escape/precious'))).rejects.toThrow(/not a directory beneath the restore target/);
    await expect(core().linkEntry(target, at('real/ok'), at('escape/hard'))).rejects.toThrow(/not a directory beneath the restore target/);
    await expect(core().linkEntry(target, at('escape/precious'), at('real/hard'))).rejects.toThrow(/not a directory beneath the restore target/);
    // Paths that are not below the root at all.
    expect((await core().createFiles(target, [Buffer.from(join(outside, 'x')), at('real/../../x')]))[0]?.errno).toBe(osConstants.errno.EINVAL);
    expect((await core().makeDirs(target, [at('real/../../x')]))[0]?.errno).toBe(osConstants.errno.EINVAL);
    untouched();
    // Removing a symlink, or a directory holding one, removes the link, never what it points to.
    mkdirSync(join(work, 'tree/deep'), { recursive: true });
    symlinkSync(outside, join(work, 'tree/deep/out'));
    // Only when asked to: a directory may have been swapped in where a file was seen.
    await expect(core().removeEntry(target, at('tree'))).rejects.toThrow(/directory|EISDIR/i);
    expect(existsSync(join(work, 'tree/deep'))).toBe(true);
    await core().removeEntry(target, at('tree'), { directories: true });
    await core().removeEntry(target, at('escape'));
    await core().removeEntry(target, at('never-there'));
    expect(existsSync(join(work, 'tree')) || existsSync(join(work, 'escape'))).toBe(false);
    untouched();
    // What is beneath the root works as before.
    await core().linkEntry(target, at('real/ok'), at('real/ok2'));
    expect(statSync(join(work, 'real/ok2')).nlink).toBe(2);
    await core().setTimes(target, at('real/ok'), 1_000_000_000, 0, 1_000_000_000, 0);
    expect(statSync(join(work, 'real/ok')).mtimeMs).toBe(1_000_000_000_000);
  });

  if (name === 'portable') {
    it('xattrs and mknod are EUNSUPPORTED', async () => {
      await expect(core().getXattrs(join(dir, 'b.txt'))).rejects.toMatchObject({ code: 'EUNSUPPORTED' });
      await expect(core().setXattr(join(dir, 'b.txt'), Buffer.from('user.a'), Buffer.from('v'))).rejects.toMatchObject({ code: 'EUNSUPPORTED' });
      await expect(core().mknod(Buffer.from(dir), Buffer.from(join(dir, 'fifo2')), 0o010644, 0)).rejects.toMatchObject({ code: 'EUNSUPPORTED' });
    });
  } else {
    it('setXattr/getXattrs round-trip raw bytes; mknod makes a FIFO', async () => {
      const f = join(dir, 'b.txt');
      await core().setXattr(f, Buffer.from('user.bolt'), Buffer.from([0, 1, 255]));
      const xs = await core().getXattrs(f);
      expect(xs.map((x) => [x.name.toString(), x.value.toString('hex')])).toContainEqual(['user.bolt', '0001ff']);
      await core().mknod(Buffer.from(dir), Buffer.from(join(dir, 'fifo2')), 0o010644, 0);
      expect(core().lstat(join(dir, 'fifo2')).mode).toBe(0o010000 | (0o644 & ~process.umask()));
      rmSync(join(dir, 'fifo2'));
    });
  }
});
