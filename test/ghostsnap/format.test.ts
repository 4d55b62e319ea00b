// The format layer against what the real ghostsnap wrote (the fixture and its manifest) and
// against its own encoders: keys, config, index, packs, trees, snapshots, layout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { GhostsnapRepository } from '../../src/formats/ghostsnap/repository.ts';
import { parseKeyFile, encodeKeyFile, kdfProblem, openKeyFile } from '../../src/formats/ghostsnap/keys.ts';
import { decodeConfig, encodeConfig } from '../../src/formats/ghostsnap/repo-config.ts';
import { ChunkIndex } from '../../src/formats/ghostsnap/chunk-index.ts';
import { PackReader, verifyPack } from '../../src/formats/ghostsnap/pack-reader.ts';
import { PostcardReader, PostcardWriter } from '../../src/formats/ghostsnap/postcard.ts';
import { comparePaths, decodeTree, encodeNode, encodeTree, type TreeNode } from '../../src/formats/ghostsnap/tree.ts';
import { decodeSnapshot } from '../../src/formats/ghostsnap/snapshot.ts';
import { joinRelative, relativeTo, snapshotRootOf } from '../../src/formats/ghostsnap/layout.ts';
import { rfc3339Utc } from '../../src/formats/ghostsnap/pack.ts';
import { IndexCommitter } from '../../src/formats/ghostsnap/create.ts';
import { ghostsnapSettings } from '../../src/formats/ghostsnap/settings.ts';
import { copyFixture, FIXTURE_PASSWORD, FIXTURE_REPO, manifest } from './helpers.ts';
import { repoRoot } from '../helpers/cli.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-gs-format-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const crypto = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'ghostsnap', 'crypto-vectors.json'), 'utf8')) as {
  key_file: { data_key_hex: string };
};

async function openFixture() {
  const core = await getCore();
  const storage = new LocalStorage({ root: FIXTURE_REPO, uploadBucket: undefined });
  return { core, repo: await GhostsnapRepository.open(storage, core, Buffer.from(FIXTURE_PASSWORD)) };
}

describe('postcard', () => {
  it('encodes varints as minimal LEB128 and round-trips large values', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [127, '7f'],
      [128, '8001'],
      [300, 'ac02'],
      [2 ** 32, '8080808010'],
    ];
    for (const [n, hex] of cases) expect(new PostcardWriter().varint(n).finish().toString('hex')).toBe(hex);
    const big = Number.MAX_SAFE_INTEGER;
    const r = new PostcardReader(new PostcardWriter().varint(big).string('é').optionString(undefined).finish(), 'test');
    expect(r.varint()).toBe(big);
    expect(r.string()).toBe('é');
    expect(r.optionString()).toBeUndefined();
    r.end();
  });

  it('refuses truncated input and leftovers', () => {
    expect(() => new PostcardReader(Buffer.from([0x80]), 'x').varint()).toThrow(/truncated/);
    const r = new PostcardReader(Buffer.from([1, 2]), 'x');
    r.varint();
    expect(() => r.end()).toThrow(/left over/);
  });
});

describe('the fixture written by ghostsnap', () => {
  it('opens with the password and yields the data key of the crypto vectors', async () => {
    const { repo } = await openFixture();
    expect(repo.dataKey.toString('hex')).toBe(crypto.key_file.data_key_hex);
    expect(repo.config.id).toBe(manifest.repository.config_id);
    expect(repo.keyName).toBe(manifest.repository.key_file);
  });

  it('re-encodes config and key file byte for byte', () => {
    const configBytes = fs.readFileSync(path.join(FIXTURE_REPO, 'config'));
    expect(encodeConfig(decodeConfig(configBytes, 'fixture')).equals(configBytes)).toBe(true);
    const keyBytes = fs.readFileSync(path.join(FIXTURE_REPO, 'keys', manifest.repository.key_file));
    expect(encodeKeyFile(parseKeyFile(keyBytes, 'k')).equals(keyBytes)).toBe(true);
  });

  it('decodes the index exactly as the manifest says, and re-encodes it to the same bytes', async () => {
    const { repo } = await openFixture();
    const plain = await repo.openBox(fs.readFileSync(path.join(FIXTURE_REPO, 'index', 'main.idx')), 'index');
    const index = ChunkIndex.decode(plain);
    expect(index.chunks.size).toBe(manifest.repository.index_header.chunk_count);
    expect(index.packs.size).toBe(manifest.repository.index_header.pack_count);
    for (const [packId, pack] of Object.entries(manifest.repository.packs)) {
      expect(index.packs.get(packId)).toEqual({ size: pack.header['compressed_size'], chunkCount: pack.header['chunk_count'] });
      for (const c of pack.chunks) expect(index.get(c.id)).toEqual({ pack: packId, offset: c.offset, length: c.length });
    }
    // Same entries in the same order give the same bytes (postcard is canonical).
    expect(index.encode().equals(plain)).toBe(true);
  });

  it('reads every pack header and chunk map, and verifies every pack completely', async () => {
    const { core, repo } = await openFixture();
    const reader = new PackReader(repo, core);
    for (const [packId, pack] of Object.entries(manifest.repository.packs)) {
      const { header } = await reader.start(packId);
      expect({
        version: header.version,
        pack_id: header.packId,
        chunk_count: header.chunkCount,
        uncompressed_size: header.uncompressedSize,
        compressed_size: header.compressedSize,
        created_at: header.createdAt,
        data_checksum: header.dataChecksum,
      }).toEqual(pack.header);
      const map = await reader.chunkMap(packId);
      expect(map.map((c) => ({ id: c.id, offset: c.offset, length: c.length, uncompressed_length: c.uncompressedLength }))).toEqual(pack.chunks);
      const v = await verifyPack(repo, core, packId);
      expect(v.errors).toEqual([]);
      expect(v.badChunks.size).toBe(0);
      expect(v.size).toBe(pack.file_size);
    }
  });

  it('decodes both trees: every manifest entry with its type, st_mode, size, mtime, chunks, target, xattrs and hard link', async () => {
    const { repo } = await openFixture();
    for (const s of manifest.snapshots) {
      const snapshot = decodeSnapshot(await repo.readSnapshotPlain(s.id), s.id);
      expect(snapshot).toMatchObject({ id: s.id, tree: s.tree, paths: s.paths, hostname: s.hostname, username: s.username, time: s.time, tags: s.tags });
      const nodes = decodeTree(await repo.readTreePlain(s.tree), s.tree);
      const byPath = new Map(nodes.map((n) => [n.path.toString('utf8'), n]));
      expect([...byPath.keys()].sort()).toEqual(s.entries.map((e) => e.path).sort());
      for (const e of s.entries) {
        const n = byPath.get(e.path) as TreeNode;
        expect(n.type).toBe({ file: 'File', dir: 'Directory', symlink: 'Symlink' }[e.type]);
        expect([n.mode, n.uid, n.gid, n.mtime, n.size]).toEqual([e.st_mode, e.uid, e.gid, e.mtime, e.size]);
        expect(n.chunks.map((c) => c.id)).toEqual(e.chunks ?? []);
        if (e.link_target) expect(n.linkTarget?.toString()).toBe(e.link_target);
        for (const [name, value] of Object.entries(e.xattrs ?? {})) expect(n.xattrs.find((x) => x.name.toString() === name)?.value.toString()).toBe(value);
        expect(n.hardlinkTarget?.toString()).toBe(e.ghostsnap_hardlink_target);
      }
    }
  });

  it('refuses a tree whose bytes do not hash to its name', async () => {
    const copy = copyFixture(path.join(tmp, 'renamed-tree'));
    const [a, b] = manifest.snapshots.map((s) => s.tree) as [string, string];
    fs.copyFileSync(path.join(copy, 'data', b), path.join(copy, 'data', a));
    const core = await getCore();
    const repo = await GhostsnapRepository.open(new LocalStorage({ root: copy, uploadBucket: undefined }), core, Buffer.from(FIXTURE_PASSWORD));
    await expect(repo.readTreePlain(a)).rejects.toThrow(/does not match its name/);
  });
});

describe('keys', () => {
  it('bounds the KDF parameters before deriving anything', () => {
    const ok = { algorithm: 'argon2id', iterations: 1, memory: 65536, parallelism: 4, salt: new Array(32).fill(7) };
    expect(kdfProblem(ok)).toBeUndefined();
    expect(kdfProblem({ ...ok, memory: 2 ** 30 })).toMatch(/1 TiB/);
    expect(kdfProblem({ ...ok, iterations: 0 })).toMatch(/iterations/);
    expect(kdfProblem({ ...ok, parallelism: 1000 })).toMatch(/parallelism/);
    expect(kdfProblem({ ...ok, salt: [1, 2] })).toMatch(/salt/);
    expect(kdfProblem({ ...ok, algorithm: 'scrypt' })).toMatch(/argon2id/);
  });

  it('opens key files with other Argon2 parameters (m=8192, t=2, p=1), as ghostsnap does', async () => {
    const core = await getCore();
    const storage = new LocalStorage({ root: path.join(tmp, 'cheap-kdf'), uploadBucket: undefined });
    await storage.createContainer();
    const kdf = { algorithm: 'argon2id', iterations: 2, memory: 8192, parallelism: 1, salt: [...core.randomBytes(16)] };
    const created = await GhostsnapRepository.init(storage, core, Buffer.from('pw'), { kdf });
    const keyBytes = await storage.get(`keys/${created.keyName}`);
    expect(await openKeyFile(core, Buffer.from('pw'), parseKeyFile(keyBytes, 'k'))).toEqual(created.dataKey);
    expect(await openKeyFile(core, Buffer.from('other'), parseKeyFile(keyBytes, 'k'))).toBeUndefined();
  });
});

describe('trees', () => {
  const base: TreeNode = { path: Buffer.from('a'), name: 'a', type: 'File', mode: 0o100644, uid: 0, gid: 0, size: 3, mtime: 1700000000, mtimeNsec: 5, chunks: [{ id: 'ab'.repeat(32), length: 3 }], xattrs: [] };

  it('keeps non-UTF-8 names, targets and xattr names exactly, next to the lossy text ghostsnap reads', () => {
    const raw = Buffer.from([0x64, 0x69, 0x72, 0xff, 0x2f, 0x66, 0xfe]);
    const node: TreeNode = {
      ...base,
      path: raw,
      type: 'Symlink',
      size: 0,
      chunks: [],
      linkTarget: Buffer.from([0x74, 0x80]),
      xattrs: [
        { name: Buffer.from('user.ok'), value: Buffer.from('v') },
        { name: Buffer.from([0x75, 0x2e, 0xff]), value: Buffer.from([1, 2]) },
      ],
    };
    const json = encodeNode(node);
    const parsed = JSON.parse(json) as Record<string, unknown>;
    expect(parsed['name']).toBe('dir\ufffd/f\ufffd');
    expect(parsed['link_target']).toBe('t\ufffd');
    expect(parsed['xattr']).toEqual({ 'user.ok': [118] });
    const [back] = decodeTree(encodeTree([json]), 't');
    expect(back?.path.equals(raw)).toBe(true);
    expect(back?.linkTarget?.equals(Buffer.from([0x74, 0x80]))).toBe(true);
    expect(back?.xattrs.map((x) => x.name.toString('hex'))).toEqual(['757365722e6f6b', '752eff']);
  });

  it('writes ghostsnap keys in its order and omits the extension when nothing needs it', () => {
    const json = encodeNode({ ...base, mtimeNsec: 0 });
    expect(json).toBe(`{"name":"a","node_type":"File","mode":33188,"uid":0,"gid":0,"size":3,"mtime":1700000000,"subtree_id":null,"chunks":[{"id":"${'ab'.repeat(32)}","offset":0,"length":3}]}`);
    const stamped = JSON.parse(encodeNode({ ...base, stamp: { ctimeSec: 1, ctimeNsec: 2, ino: 3 } })) as { bolt: unknown };
    expect(stamped.bolt).toEqual({ mtime_nsec: 5, ctime: [1, 2], ino: 3 });
  });

  it('refuses node types ghostsnap does not know', () => {
    expect(() => decodeTree(Buffer.from('{"nodes":[{"name":"x","node_type":"Fifo","mode":0,"uid":0,"gid":0,"size":0,"mtime":0}]}'), 't')).toThrow(/node_type/);
  });

  it('orders paths depth first', () => {
    const names = ['a-b', 'a/b', 'a', '', 'a/b/c', 'b'].map((s) => Buffer.from(s));
    expect(names.sort(comparePaths).map((b) => b.toString())).toEqual(['', 'a', 'a/b', 'a/b/c', 'a-b', 'b']);
  });
});

describe('layout of several paths', () => {
  it('uses the deepest common directory, the path itself, or a single file’s directory', async () => {
    const core = await getCore();
    const dir = fs.mkdtempSync(path.join(tmp, 'layout-'));
    fs.mkdirSync(path.join(dir, 'x', 'a'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'y'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'y', 'f'), '');
    expect(snapshotRootOf([path.join(dir, 'x', 'a'), path.join(dir, 'y')], core)).toBe(dir);
    expect(snapshotRootOf([path.join(dir, 'x'), path.join(dir, 'x', 'a')], core)).toBe(path.join(dir, 'x'));
    expect(snapshotRootOf([path.join(dir, 'x')], core)).toBe(path.join(dir, 'x'));
    expect(snapshotRootOf([path.join(dir, 'y', 'f')], core)).toBe(path.join(dir, 'y'));
    expect(snapshotRootOf(['/etc', '/home'], core)).toBe('/');
    expect(relativeTo(Buffer.from('/'), Buffer.from('/etc/x'))?.toString()).toBe('etc/x');
    expect(relativeTo(Buffer.from('/a'), Buffer.from('/ab'))).toBeUndefined();
    expect(joinRelative(Buffer.from('/a'), Buffer.alloc(0)).toString()).toBe('/a');
  });

  it('formats times as chrono does (0, 3, 6 or 9 fraction digits)', () => {
    expect(rfc3339Utc(new Date(Date.UTC(2024, 0, 2, 3, 4, 5)))).toBe('2024-01-02T03:04:05Z');
    expect(rfc3339Utc(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 120)))).toBe('2024-01-02T03:04:05.120Z');
  });
});

describe('index commits', () => {
  it('merge when another writer replaced the index after we read it', async () => {
    const core = await getCore();
    const storage = new LocalStorage({ root: path.join(tmp, 'merge'), uploadBucket: undefined });
    await storage.createContainer();
    const repo = await GhostsnapRepository.init(storage, core, Buffer.from('pw'), { kdf: { algorithm: 'argon2id', iterations: 1, memory: 8192, parallelism: 1, salt: new Array(16).fill(1) } });
    const empty = await repo.loadIndex();
    expect(empty.etag).toBeUndefined();
    const chunk = (n: number) => String(n).padStart(2, '0').repeat(32);
    const ours = { id: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', info: { size: 10, chunkCount: 1 }, chunks: [{ id: chunk(1), offset: 0, length: 10, uncompressedLength: 4 }], fileSize: 100 };
    const committer = new IndexCommitter(repo, empty.index, empty.etag, () => [ours]);
    // Another writer gets there first.
    const theirs = new ChunkIndex();
    theirs.addPack('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', { size: 20, chunkCount: 1 }, [[chunk(2), { offset: 0, length: 20 }]]);
    await repo.saveIndex(theirs, undefined);
    await committer.commit();
    const merged = (await repo.loadIndex()).index;
    expect([...merged.packs.keys()].sort()).toEqual([ours.id, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb']);
    expect(merged.get(chunk(1))?.pack).toBe(ours.id);
    expect(merged.get(chunk(2))?.pack).toBe('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
    // A stale version loses outright.
    await expect(repo.saveIndex(new ChunkIndex(), empty.etag)).rejects.toThrow();
  });
});

describe('settings', () => {
  it('maps ghostsnap.* to the chunker, zlib level and pack size, and refuses what ghostsnap cannot read', () => {
    expect(ghostsnapSettings({}, 2)).toMatchObject({ chunker: { kind: 'fastcdc', minSize: 1048576, avgSize: 4194304, maxSize: 16777216 }, zlibLevel: 6, packSize: 16 * 1024 * 1024 });
    expect(ghostsnapSettings({ ghostsnap: { chunk_size: '1MiB', compression: 'zlib:9', pack_size: '8MiB' } }, 2)).toMatchObject({
      chunker: { minSize: 262144, avgSize: 1048576, maxSize: 4194304 },
      zlibLevel: 9,
      packSize: 8 * 1024 * 1024,
    });
    expect(ghostsnapSettings({ performance: { compression: 'max' } }, 2).zlibLevel).toBe(9);
    expect(() => ghostsnapSettings({ ghostsnap: { chunk_size: '8MiB' } }, 2)).toThrow(/256B to 4MiB/);
    expect(() => ghostsnapSettings({ ghostsnap: { compression: 'zstd:3' } }, 2)).toThrow(/zlib/);
    expect(() => ghostsnapSettings({ ghostsnap: { pack_size: '1GiB' } }, 2)).toThrow(/pack_size/);
  });
});
