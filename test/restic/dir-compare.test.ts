// In a zone with daylight saving, so that node times carry two offsets (set before any time is
// formatted; each test file runs in its own process).
process.env.TZ = 'Europe/Berlin';

// An unchanged re-run compares each directory with its parent tree in the core instead of
// building a node per entry in JavaScript. The two ways must record exactly the same snapshot:
// every change below is backed up into two repositories, one with the core's comparison and
// one without (BOLT_DIR_COMPARE=0), and the trees and summaries must agree.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import { DIR_ENTRY_DIFFERS, DIR_ENTRY_NOT_IN_PREVIOUS, DIR_ENTRY_SAME, DIR_ENTRY_SAME_DIR, type Core } from '../../src/native/types.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { createResticBackup } from '../../src/formats/restic/create.ts';
import { decodeTree } from '../../src/formats/restic/tree.ts';
import { ComparedParentDir } from '../../src/formats/restic/archive-format.ts';
import { encodeLock } from '../../src/formats/restic/lock-json.ts';
import { goTimeNow } from '../../src/util/go-time.ts';
import { groupNames, userNames } from '../../src/engine/user-names.ts';
import { localZone } from '../../src/util/go-time.ts';
import type { ExcludeRules } from '../../src/engine/exclude.ts';

const PASSWORD = Buffer.from('compare');
let work: string;
let data: string;
let core: Core;
const repos: Record<'core' | 'js', ResticRepository> = {} as Record<'core' | 'js', ResticRepository>;
let xattrs = false;

/** The core, counting the directories the walk lists itself, and the calls that list them. */
function countingCore(target: Core, counter: { listed: number; calls: number }): Core {
  return new Proxy(target, {
    get(t, key) {
      if (key === 'readDirs') {
        return (paths: (string | Buffer)[], options: unknown) => {
          counter.listed += paths.length;
          counter.calls += 1;
          return (t.readDirs as (p: unknown, o: unknown) => unknown)(paths, options);
        };
      }
      const value = Reflect.get(t, key) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}

interface Outcome {
  tree: string;
  summary: Record<string, unknown>;
  listed: number;
  calls: number;
}

async function backup(kind: 'core' | 'js', exclude?: ExcludeRules): Promise<Outcome> {
  const counter = { listed: 0, calls: 0 };
  const saved = process.env.BOLT_DIR_COMPARE;
  process.env.BOLT_DIR_COMPARE = kind === 'core' ? '1' : '0';
  try {
    const result = await createResticBackup(
      repos[kind],
      countingCore(core, counter),
      { compression: { kind: 'none' }, packSize: 4 * 1024 * 1024, threads: 2, uploads: 2 },
      { paths: [data], ...(exclude ? { exclude } : {}) },
    );
    const { backup_start: _s, backup_end: _e, ...summary } = result.summary as unknown as Record<string, unknown>;
    return { tree: result.backup.tree as string, summary, listed: counter.listed, calls: counter.calls };
  } finally {
    if (saved === undefined) delete process.env.BOLT_DIR_COMPARE;
    else process.env.BOLT_DIR_COMPARE = saved;
  }
}

/** Both repositories back up the data; they must record the same. */
async function both(exclude?: ExcludeRules): Promise<{ core: Outcome; js: Outcome }> {
  const js = await backup('js', exclude);
  const viaCore = await backup('core', exclude);
  expect(viaCore.tree).toBe(js.tree);
  expect(viaCore.summary).toEqual(js.summary);
  return { core: viaCore, js };
}

async function rootTree(repo: ResticRepository): Promise<Buffer> {
  const ids = await repo.list('snapshots');
  const snapshots = await Promise.all(ids.map(async (id) => JSON.parse((await repo.readUnpacked('snapshots', id)).toString()) as { time: string; tree: string }));
  snapshots.sort((a, b) => a.time.localeCompare(b.time));
  // The snapshot's tree is "/": follow the data directory's path down to its own tree.
  let tree = await repo.loadBlob('tree', snapshots.at(-1)!.tree);
  for (const part of data.split('/').filter(Boolean)) {
    const node = decodeTree(tree).find((n) => n.name.toString() === part);
    tree = await repo.loadBlob('tree', node!.subtree!);
  }
  return tree;
}

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function write(rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(data, rel)), { recursive: true });
  fs.writeFileSync(path.join(data, rel), text);
}

beforeAll(async () => {
  core = await getCore();
  // Directly below "/" where it can be: a snapshot records the directories leading to its
  // paths, and those of os.tmpdir() change whenever another test creates something there.
  work = fs.mkdtempSync(isWritable('/') ? '/bolt-dircmp-' : path.join(os.tmpdir(), 'bolt-dircmp-'));
  data = path.join(work, 'data');
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      for (let f = 0; f < 4; f++) write(`a${a}/b${b}/f${f}.txt`, `file ${a}/${b}/${f}\n`.repeat(f * 50));
      write(`a${a}/b${b}/c/deep.txt`, `deep ${a}/${b}\n`);
    }
    write(`a${a}/top.txt`, `top ${a}\n`);
  }
  write('empty', '');
  write('winter.txt', 'January\n');
  write('summer.txt', 'July\n');
  fs.utimesSync(path.join(data, 'winter.txt'), new Date('2021-01-15T12:00:00Z'), new Date('2021-01-15T12:00:00Z'));
  fs.utimesSync(path.join(data, 'summer.txt'), new Date('2021-07-15T12:00:00Z'), new Date('2021-07-15T12:00:00Z'));
  write('odd names/Q&A <1>.txt', 'escaped by Go\n');
  write('odd names/café.txt', 'not plain ASCII\n');
  fs.symlinkSync('a0/top.txt', path.join(data, 'link'));
  fs.linkSync(path.join(data, 'a1/top.txt'), path.join(data, 'hardlink'));
  execFileSync('mkfifo', [path.join(data, 'fifo')]);
  try {
    await core.setXattr(path.join(data, 'a2/top.txt'), Buffer.from('user.note'), Buffer.from('v1'));
    xattrs = true;
  } catch {
    xattrs = false; // the file system of os.tmpdir() has no user xattrs
  }
  for (const kind of ['core', 'js'] as const) {
    repos[kind] = await ResticRepository.init(new LocalStorage({ root: path.join(work, `repo-${kind}`), uploadBucket: undefined }), core, PASSWORD, {
      scrypt: { N: 1024, r: 8, p: 1 },
    });
  }
  await both();
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('unchanged directories compared in the core', () => {
  it('an unchanged re-run lists nothing in JavaScript (but the directories that the core cannot compare) and keeps the tree', async () => {
    const first = await backup('js');
    const { core: viaCore, js } = await both();
    expect(viaCore.tree).toBe(first.tree);
    // "odd names" holds names the core leaves to the walk; its parent is rebuilt from a listing
    // (and compared again), everything else is settled by the comparison
    expect(viaCore.listed).toBeLessThanOrEqual(2);
    expect(js.listed).toBeGreaterThan(15);
    // without the comparison a directory's subdirectories are listed in one call
    expect(js.calls).toBeLessThan(js.listed - 5);
    expect(viaCore.summary['files_unmodified']).toBe(js.summary['files_unmodified']);
    expect(viaCore.summary['dirs_changed']).toBe(0);
    // the zone has daylight saving: winter and summer times carry different offsets
    const nodes = decodeTree(await rootTree(repos.core));
    expect(nodes.find((n) => n.name.toString() === 'winter.txt')?.mtime.offsetMinutes).toBe(60);
    expect(nodes.find((n) => n.name.toString() === 'summer.txt')?.mtime.offsetMinutes).toBe(120);
  });

  const changes: [string, () => void | Promise<void>][] = [
    ['a deep file gets a new mtime', () => fs.utimesSync(path.join(data, 'a1/b2/c/deep.txt'), new Date(1_600_000_000_000), new Date(1_600_000_000_000))],
    ['a file is chmod-ed', () => fs.chmodSync(path.join(data, 'a0/b1/f2.txt'), 0o600)],
    ['only a ctime changes (chown to the same owner)', () => {
      const st = fs.statSync(path.join(data, 'a2/b0/f1.txt'));
      fs.chownSync(path.join(data, 'a2/b0/f1.txt'), st.uid, st.gid);
    }],
    ['a file is rewritten with the same size and mtime', () => {
      const p = path.join(data, 'a2/b2/f3.txt');
      const st = fs.statSync(p);
      fs.writeFileSync(p, fs.readFileSync(p, 'utf8').toUpperCase());
      fs.utimesSync(p, st.atime, st.mtime);
    }],
    ['a symlink points elsewhere', () => {
      fs.unlinkSync(path.join(data, 'link'));
      fs.symlinkSync('a1/top.txt', path.join(data, 'link'));
    }],
    ['a file is added and another removed', () => {
      write('a0/b0/new.txt', 'new\n');
      fs.unlinkSync(path.join(data, 'a1/b1/f0.txt'));
    }],
    ['a file becomes a directory', () => {
      fs.unlinkSync(path.join(data, 'a2/b1/f2.txt'));
      write('a2/b1/f2.txt/inside', 'now a directory\n');
    }],
    ['a directory is emptied', () => fs.rmSync(path.join(data, 'a0/b2/c'), { recursive: true })],
    ['an xattr changes', async () => {
      if (xattrs) await core.setXattr(path.join(data, 'a2/top.txt'), Buffer.from('user.note'), Buffer.from('v2'));
      else fs.utimesSync(path.join(data, 'a2/top.txt'), new Date(1_500_000_000_000), new Date(1_500_000_000_000));
    }],
  ];
  for (const [what, change] of changes) {
    it(`${what}: the same tree both ways, and a new one`, async () => {
      const before = await backup('js');
      await change();
      const { core: viaCore } = await both();
      expect(viaCore.tree).not.toBe(before.tree);
      // and the next run is unchanged again, settled by the comparison
      const again = await both();
      expect(again.core.tree).toBe(viaCore.tree);
      expect(again.core.listed).toBeLessThanOrEqual(2);
    });
  }

  describe('with excludes', () => {
    afterEach(() => fs.rmSync(path.join(data, 'a1/b0/skip.tmp'), { force: true }));

    it('an excluded path above the target drops everything below it, also from unchanged directories', async () => {
      await both();
      for (const above of [data, work]) {
        const { js } = await both({ patterns: [], paths: [above] });
        expect(js.summary['files_unmodified']).toBe(0);
        expect(js.summary['files_new']).toBe(0);
      }
      await both(); // both repositories' latest snapshot holds everything again
    });

    it('entries excluded now are dropped, and the next run with the same rules is settled by the comparison', async () => {
      const rules: ExcludeRules = { patterns: ['*.tmp', 'f3.txt'], paths: [path.join(data, 'a0/top.txt')] };
      write('a1/b0/skip.tmp', 'excluded\n');
      const before = await backup('js');
      const { core: viaCore, js } = await both(rules);
      expect(viaCore.tree).not.toBe(before.tree);
      expect(js.summary['files_unmodified']).toBeLessThan(before.summary['files_unmodified'] as number);
      const again = await both(rules);
      expect(again.core.tree).toBe(viaCore.tree);
      expect(again.core.listed).toBeLessThanOrEqual(2);
    });
  });
});

describe('a large changed directory built from what the core compared', () => {
  // From 256 entries a changed directory comes back with its listing and previous tree: the
  // walk builds it from them (not listed again in JavaScript), entries found the same keep
  // their previous node's JSON, and the tree must be the one the JavaScript walk builds.
  const big = (name = '') => path.join(data, 'big', name);
  beforeAll(async () => {
    for (let i = 0; i < 300; i++) write(`big/f${String(i).padStart(3, '0')}.txt`, `big ${i}\n`.repeat(i % 7));
    write('big/sub/inner.txt', 'inner\n');
    fs.symlinkSync('f001.txt', big('link'));
    fs.linkSync(big('f002.txt'), big('f002-hardlink'));
    execFileSync('mkfifo', [big('fifo')]);
    if (xattrs) await core.setXattr(big('f003.txt'), Buffer.from('user.note'), Buffer.from('kept'));
    await both();
  });

  // The most directories the JavaScript walk may list: "odd names" and the data directory above
  // it (see the first test), never "big" when it changed itself; a change only below it leaves
  // "big" the same, so it is listed (with its changed subdirectory) to be rebuilt the ordinary way.
  const changes: [string, () => void | Promise<void>, number][] = [
    ['a file grows', () => fs.appendFileSync(big('f010.txt'), 'more\n'), 2],
    ['files are added, removed and chmod-ed, a symlink turned', () => {
      write('big/zz-new.txt', 'new\n');
      fs.unlinkSync(big('f020.txt'));
      fs.chmodSync(big('f030.txt'), 0o600);
      fs.unlinkSync(big('link'));
      fs.symlinkSync('f004.txt', big('link'));
    }, 2],
    ['only the subdirectory below changes', () => fs.appendFileSync(big('sub/inner.txt'), 'inner again\n'), 4],
    ['a hard-linked file changes through its other name', () => fs.appendFileSync(big('f002-hardlink'), 'linked\n'), 2],
    ['an xattr changes', async () => {
      if (xattrs) await core.setXattr(big('f003.txt'), Buffer.from('user.note'), Buffer.from('changed'));
      else fs.utimesSync(big('f003.txt'), new Date(1_400_000_000_000), new Date(1_400_000_000_000));
    }, 2],
  ];
  for (const [what, change, mostListed] of changes) {
    it(`${what}: the same tree as the JavaScript walk, listing at most ${mostListed} directories`, async () => {
      const before = await backup('js');
      await change();
      // Entries found the same are kept without an object each: their JSON comes from the listing's spans.
      const kept = vi.spyOn(ComparedParentDir.prototype, 'kept');
      const { core: viaCore, js } = await both();
      const keptPerCall = kept.mock.calls.map(([mask]) => mask.reduce((n, b) => n + b, 0));
      kept.mockRestore();
      if (what !== 'only the subdirectory below changes') expect(Math.max(0, ...keptPerCall)).toBeGreaterThanOrEqual(290);
      else expect(keptPerCall).toEqual([]);
      expect(viaCore.tree).not.toBe(before.tree);
      expect(viaCore.listed).toBeLessThanOrEqual(mostListed);
      expect(js.listed).toBeGreaterThan(viaCore.listed);
      const again = await both();
      expect(again.core.tree).toBe(viaCore.tree);
      expect(again.core.listed).toBeLessThanOrEqual(2);
    });
  }

  it('restic reads the tree the comparison built', async () => {
    await backup('js');
    fs.appendFileSync(big('f100.txt'), 'for restic\n');
    await both();
    const bigNode = decodeTree(await rootTree(repos.core)).find((n) => n.name.toString() === 'big');
    const nodes = decodeTree(await repos.core.loadBlob('tree', bigNode!.subtree!));
    expect(nodes.length).toBe(fs.readdirSync(big()).length);
    expect(nodes.find((n) => n.name.toString() === 'f100.txt')?.size).toBe(fs.statSync(big('f100.txt')).size);
    expect(nodes.find((n) => n.name.toString() === 'link')?.linkTarget?.toString()).toBe(fs.readlinkSync(big('link')));
  });
});

describe('comparing while the lock is confirmed', () => {
  it('a backup that loses the race for the lock during its pause has written nothing', async () => {
    const root = path.join(work, 'repo-core');
    const files = (dir: string) => (fs.existsSync(path.join(root, dir)) ? fs.readdirSync(path.join(root, dir), { recursive: true }).sort() : []);
    const before = { data: files('data'), snapshots: files('snapshots'), index: files('index') };
    write('a0/during-the-race.txt', 'new data the walk would store\n'.repeat(1000));
    let rival: string | undefined;
    try {
      // Called once the index is read: our lock file is written and the walk is being prepared
      // (comparisons started) while the lock is confirmed; another exclusive lock appears now.
      const backup = createResticBackup(repos.core, core, { compression: { kind: 'none' }, packSize: 4 * 1024 * 1024, threads: 2, uploads: 2 }, { paths: [data] }, () => {
        rival ??= 'pending';
        void repos.core
          .writeUnpacked('locks', encodeLock({ time: goTimeNow(), exclusive: true, hostname: os.hostname(), username: 'rival', pid: process.pid }))
          .then((id) => (rival = id));
      });
      await expect(backup).rejects.toThrow(/locked/);
      expect({ data: files('data'), snapshots: files('snapshots'), index: files('index') }).toEqual(before);
      expect(files('locks')).toEqual([rival]);
    } finally {
      if (rival && rival !== 'pending') await repos.core.removeFile('locks', rival);
      fs.rmSync(path.join(data, 'a0/during-the-race.txt'), { force: true });
    }
  });
});

describe('the core comparer', () => {
  function comparer(known = core.newBlobSet()) {
    return core.newDirComparer!({ zone: localZone(), users: userNames(), groups: groupNames(), known });
  }

  async function knownBlobs(repo: ResticRepository) {
    const known = core.newBlobSet();
    known.addMany((await repo.index()).ids('data'));
    return known;
  }

  it('says which entries match, which are new and which differ', async () => {
    await both();
    const tree = await rootTree(repos.core);
    const c = comparer(await knownBlobs(repos.core));
    const [same] = await c.compare([Buffer.from(data)], [{ plaintext: tree }]);
    expect(same!.error).toBeUndefined();
    const names = (r: typeof same) => {
      const out: Record<string, number> = {};
      for (let i = 0, start = 0; i < r!.status.length; i++) {
        const end = r!.ends.readUInt32LE(i * 4);
        out[r!.names.toString('utf8', start, end)] = r!.status[i]!;
        start = end;
      }
      return out;
    };
    const before = names(same);
    expect(before['a0']).toBe(DIR_ENTRY_SAME_DIR);
    expect(before['empty']).toBe(DIR_ENTRY_SAME);
    expect(before['fifo']).toBe(DIR_ENTRY_SAME);
    expect(before['link']).toBe(DIR_ENTRY_SAME);
    expect(same!.subtrees.length).toBe(32 * Object.values(before).filter((s) => s === DIR_ENTRY_SAME_DIR).length);

    write('added', 'new\n');
    fs.chmodSync(path.join(data, 'empty'), 0o640);
    try {
      const [changed] = await c.compare([Buffer.from(data)], [{ plaintext: tree }]);
      const after = names(changed);
      expect(changed!.same).toBe(false);
      expect(after['added']).toBe(DIR_ENTRY_NOT_IN_PREVIOUS);
      expect(after['empty']).toBe(DIR_ENTRY_DIFFERS);
      expect(after['a0']).toBe(DIR_ENTRY_SAME_DIR);
    } finally {
      fs.rmSync(path.join(data, 'added'));
    }
  });

  it('compares device ids as the walk records them: a read root\'s device mapped to the live one', async () => {
    await both();
    const tree = await rootTree(repos.core);
    const known = await knownBlobs(repos.core);
    const dev = fs.lstatSync(path.join(data, 'empty')).dev;
    // The previous tree as a backup of the live path recorded it, on device `live`; the directory
    // is now read on device `dev` (a snapshot's).
    const live = dev + 1000;
    const moved = Buffer.from(tree.toString().replaceAll(`"device_id":${dev},`, `"device_id":${live},`));
    expect(moved.equals(tree)).toBe(false);
    const statusOf = async (c: ReturnType<typeof comparer>) => {
      const [r] = await c.compare([Buffer.from(data)], [{ plaintext: moved }]);
      for (let i = 0, start = 0; i < r!.status.length; i++) {
        const end = r!.ends.readUInt32LE(i * 4);
        if (r!.names.toString('utf8', start, end) === 'empty') return { same: r!.same, empty: r!.status[i] };
        start = end;
      }
      return { same: r!.same, empty: undefined };
    };
    expect(await statusOf(comparer(known))).toEqual({ same: false, empty: DIR_ENTRY_DIFFERS });
    const mapped = core.newDirComparer!({ zone: localZone(), users: userNames(), groups: groupNames(), known, devices: new Map([[dev, live]]) });
    expect(await statusOf(mapped)).toEqual({ same: true, empty: DIR_ENTRY_SAME });
  });

  it('any field of a previous node that the walk would record differently makes that entry differ', async () => {
    await both();
    const tree = await rootTree(repos.core);
    const known = await knownBlobs(repos.core);
    type Node = Record<string, unknown> & { name: string };
    const doc = JSON.parse(tree.toString()) as { nodes: Node[] };
    const statusOf = async (bytes: Buffer, name: string, c = comparer(known)): Promise<number | undefined> => {
      const [r] = await c.compare([Buffer.from(data)], [{ plaintext: bytes }]);
      expect(r!.error).toBeUndefined();
      for (let i = 0, start = 0; i < r!.status.length; i++) {
        const end = r!.ends.readUInt32LE(i * 4);
        if (r!.names.toString('utf8', start, end) === name) return r!.status[i];
        start = end;
      }
      return undefined;
    };
    const variant = (name: string, change: (n: Node) => void): Buffer => {
      const copy = structuredClone(doc);
      change(copy.nodes.find((n) => n.name === name)!);
      return Buffer.from(JSON.stringify(copy));
    };
    const cases: [string, string, (n: Node) => void][] = [
      ['mode', 'empty', (n) => (n['mode'] = ((n['mode'] as number) ?? 0) ^ 0o100)],
      ['uid', 'empty', (n) => (n['uid'] = (n['uid'] as number) + 1)],
      ['gid', 'empty', (n) => (n['gid'] = (n['gid'] as number) + 1)],
      ['user', 'empty', (n) => (n['user'] = 'someone-else')],
      ['group', 'empty', (n) => (n['group'] = 'others')],
      ['inode', 'empty', (n) => (n['inode'] = (n['inode'] as number) + 1)],
      ['device_id', 'empty', (n) => (n['device_id'] = ((n['device_id'] as number) ?? 0) + 1)],
      ['links', 'empty', (n) => (n['links'] = ((n['links'] as number) ?? 0) + 1)],
      ['size', 'empty', (n) => (n['size'] = 1)],
      ['mtime', 'empty', (n) => (n['mtime'] = '2001-01-01T00:00:00Z')],
      ['atime', 'empty', (n) => (n['atime'] = '2001-01-01T00:00:00Z')],
      ['ctime', 'empty', (n) => (n['ctime'] = '2001-01-01T00:00:00Z')],
      ['error', 'empty', (n) => (n['error'] = 'could not read')],
      ['content not indexed', 'empty', (n) => (n['content'] = ['00'.repeat(32)])],
      ['content missing', 'empty', (n) => delete n['content']],
      ['xattrs', 'empty', (n) => (n['extended_attributes'] = [{ name: 'user.x', value: 'eA==' }])],
      ['device', 'fifo', (n) => (n['device'] = 5)],
      ['content of a fifo', 'fifo', (n) => (n['content'] = [])],
      ['link target', 'link', (n) => (n['linktarget'] = 'elsewhere')],
      ['raw link target', 'link', (n) => (n['linktarget_raw'] = Buffer.from('elsewhere').toString('base64'))],
      ['type', 'a0', (n) => (n['type'] = 'file')],
      ['subtree', 'a0', (n) => (n['subtree'] = 'not an id')],
    ];
    expect(await statusOf(tree, 'empty')).toBe(DIR_ENTRY_SAME);
    expect(await statusOf(Buffer.from(JSON.stringify(doc)), 'link')).toBe(DIR_ENTRY_SAME);
    for (const [field, name, change] of cases) expect([field, await statusOf(variant(name, change), name)]).toEqual([field, DIR_ENTRY_DIFFERS]);
    // node times carry the host's UTC offset: the same instant written in another zone differs
    const shifted = { ...localZone(), offsets: localZone().offsets.map((o) => o + 60) };
    const elsewhere = core.newDirComparer!({ zone: shifted, users: userNames(), groups: groupNames(), known });
    expect(await statusOf(tree, 'empty', elsewhere)).toBe(DIR_ENTRY_DIFFERS);
  });

  it('reads a tree from its local pack file itself, and refuses one that does not hash to its id', async () => {
    await both();
    const repo = repos.core;
    const tree = await rootTree(repo);
    const id = (await core.hashAsync('sha256', tree)).toString('hex');
    const loc = (await repo.index()).first('tree', id)!;
    const source = { file: path.join(work, 'repo-core', 'data', loc.packId.slice(0, 2), loc.packId), offset: loc.offset, length: loc.length, uncompressedLength: loc.uncompressedLength, id: Buffer.from(id, 'hex') };
    const known = await knownBlobs(repo);
    const withKey = core.newDirComparer!({ zone: localZone(), users: userNames(), groups: groupNames(), known, seal: repo.seal });
    const [fromFile, fromBytes] = await withKey.compare([Buffer.from(data), Buffer.from(data)], [source, { plaintext: tree }]);
    expect(fromFile!.error).toBeUndefined();
    expect(fromFile!.same).toBe(true);
    expect(fromFile!.status).toEqual(fromBytes!.status);
    expect(fromFile!.subtrees).toEqual(fromBytes!.subtrees);
    const [wrongId] = await withKey.compare([Buffer.from(data)], [{ ...source, id: Buffer.alloc(32, 7) }]);
    expect(wrongId!.error?.message).toMatch(/does not hash/);
    const [wrongRange] = await withKey.compare([Buffer.from(data)], [{ ...source, offset: source.offset + 1 }]);
    expect(wrongRange!.error).toBeDefined();
    const [noKey] = await comparer(known).compare([Buffer.from(data)], [source]);
    expect(noKey!.error?.message).toMatch(/key/);
  });

  it('a file whose content is no longer indexed differs; a tree it cannot read is not compared', async () => {
    const tree = await rootTree(repos.core);
    const [unknownContent] = await comparer().compare([Buffer.from(data)], [{ plaintext: tree }]);
    expect(unknownContent!.same).toBe(false);
    const withUnknownKey = Buffer.from(tree.toString().replace('"name":', '"Name2":1,"name":'));
    const [notCompared] = await comparer(await knownBlobs(repos.core)).compare([Buffer.from(data)], [{ plaintext: withUnknownKey }]);
    expect(notCompared!.error).toBeDefined();
    const [missingDir] = await comparer().compare([Buffer.from(path.join(work, 'gone'))], [{ plaintext: tree }]);
    expect(missingDir!.error?.message).toMatch(/cannot open directory/);
  });
});
