// Filesystem metadata: sorted raw listings with full lstat, l*xattr, utimensat without
// following symlinks, mknod. Compared with node:fs (bigint stats carry the nanoseconds).
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EntryStat } from '../../src/native/types.ts';
import { nativeCore, tempDir } from './helpers.ts';

const tmp = tempDir('fs');
afterAll(() => tmp.remove());

function expectSameStat(ours: EntryStat | null, path: string | Buffer): void {
  const st = lstatSync(path, { bigint: true });
  expect(ours).not.toBeNull();
  expect(ours).toEqual({
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    allocated: Number(st.blocks) * 512,
    ino: Number(st.ino),
    dev: Number(st.dev),
    nlink: Number(st.nlink),
    rdev: Number(st.rdev),
    atimeSec: Number(st.atimeNs / 1_000_000_000n),
    atimeNsec: Number(st.atimeNs % 1_000_000_000n),
    mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
    mtimeNsec: Number(st.mtimeNs % 1_000_000_000n),
    ctimeSec: Number(st.ctimeNs / 1_000_000_000n),
    ctimeNsec: Number(st.ctimeNs % 1_000_000_000n),
  });
}

describe('readDirs and lstat', () => {
  it('lists entries sorted by raw name bytes with full lstat, raw names included', async () => {
    const core = await nativeCore();
    const dir = join(tmp.dir, 'listing');
    mkdirSync(dir);
    const rawName = Buffer.from([0x7a, 0xc3, 0x28]); // invalid UTF-8
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), rawName]), 'x');
    writeFileSync(join(dir, 'B'), 'bb');
    writeFileSync(join(dir, 'a'), Buffer.alloc(10_000, 1));
    writeFileSync(join(dir, 'ä'), 'umlaut');
    mkdirSync(join(dir, 'sub'));
    symlinkSync('a', join(dir, 'link'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const sparse = join(dir, 'sparse');
    writeFileSync(sparse, '');
    execFileSync('truncate', ['-s', '64M', sparse]);

    const [listing, missing] = await core.readDirs([dir, join(tmp.dir, 'nope')]);
    const names = listing?.entries.map((e) => e.name) ?? [];
    const sorted = [...names].sort(Buffer.compare);
    expect(names.map((n) => n.toString('hex'))).toEqual(sorted.map((n) => n.toString('hex')));
    expect(names.map((n) => n.toString('latin1'))).toEqual(
      ['B', 'a', 'fifo', 'link', 'sparse', 'sub', 'z\xc3(', '\xc3\xa4'].sort((x, y) =>
        Buffer.compare(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1')),
      ),
    );
    for (const e of listing?.entries ?? []) {
      expect(e.error).toBeUndefined();
      expectSameStat(e.stat, Buffer.concat([Buffer.from(`${dir}/`), e.name]));
    }
    const sparseStat = listing?.entries.find((e) => e.name.toString() === 'sparse')?.stat;
    expect(sparseStat?.size).toBe(64 << 20);
    expect(sparseStat?.allocated).toBeLessThan(1 << 20);
    expect(missing?.error?.code).toBe('EIO_READ');
    expect(missing?.entries).toEqual([]);

    // lstat does not follow the link
    expectSameStat(core.lstat(join(dir, 'link')), join(dir, 'link'));
    expect((core.lstat(join(dir, 'link')).mode & 0o170000) === 0o120000).toBe(true);
    expect(() => core.lstat(join(dir, 'nope'))).toThrow(expect.objectContaining({ code: 'EIO_READ' }));
  });
});

describe('xattrs, times, mknod', () => {
  it('sets and lists xattrs without following symlinks', async () => {
    const core = await nativeCore();
    const file = join(tmp.dir, 'xattr-file');
    writeFileSync(file, 'x');
    const link = join(tmp.dir, 'xattr-link');
    symlinkSync(file, link);
    await core.setXattr(file, Buffer.from('user.one'), Buffer.from('1'));
    const big = Buffer.alloc(3000, 0x41);
    await core.setXattr(file, Buffer.from('user.two'), big);
    const got = await core.getXattrs(file);
    expect(got.map((x) => [x.name.toString(), x.value.toString()])).toEqual([
      ['user.one', '1'],
      ['user.two', big.toString()],
    ]);
    expect((await core.getXattrs(link)).filter((x) => x.name.toString().startsWith('user.'))).toEqual([]);
    // user.* attributes are not allowed on symlinks themselves: the link is not followed
    await expect(core.setXattr(link, Buffer.from('user.x'), Buffer.from('y'))).rejects.toMatchObject({
      subject: link,
    });
  });

  it('sets nanosecond times on files and on symlinks themselves', async () => {
    const core = await nativeCore();
    const file = join(tmp.dir, 'times-file');
    writeFileSync(file, 'x');
    const link = join(tmp.dir, 'times-link');
    symlinkSync(file, link);
    await core.setTimes(Buffer.from(tmp.dir), Buffer.from(file), 1_000_000_000, 123_456_789, 1_700_000_000, 987_654_321);
    let st = core.lstat(file);
    expect([st.atimeSec, st.atimeNsec, st.mtimeSec, st.mtimeNsec]).toEqual([1_000_000_000, 123_456_789, 1_700_000_000, 987_654_321]);
    await core.setTimes(Buffer.from(tmp.dir), Buffer.from(link), 1_500_000_000, 1, 1_600_000_000, 2);
    st = core.lstat(link);
    expect([st.mtimeSec, st.mtimeNsec]).toEqual([1_600_000_000, 2]);
    expect(core.lstat(file).mtimeSec).toBe(1_700_000_000);
  });

  it('creates FIFOs and device nodes', async () => {
    const core = await nativeCore();
    const fifo = join(tmp.dir, 'made-fifo');
    await core.mknod(Buffer.from(tmp.dir), Buffer.from(fifo), 0o010644, 0);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    const dev = join(tmp.dir, 'made-null');
    const rdev = (1 << 8) | 3; // makedev(1, 3)
    await core.mknod(Buffer.from(tmp.dir), Buffer.from(dev), 0o020600, rdev);
    const st = core.lstat(dev);
    expect(st.mode & 0o170000).toBe(0o020000);
    expect(st.rdev).toBe(rdev);
    await expect(core.mknod(Buffer.from(tmp.dir), Buffer.from(fifo), 0o010644, 0)).rejects.toMatchObject({ subject: fifo });
  });
});
