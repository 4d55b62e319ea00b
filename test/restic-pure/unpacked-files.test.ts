// Snapshot, index and lock JSON: byte-identical with what restic wrote, accepted by restic when
// we write them, and errors that name the offending field.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CorruptDataError } from '../../src/backup/errors.ts';
import { parseRfc3339 } from '../../src/util/go-time.ts';
import { decodeIndex, encodeIndex, type ResticIndex } from '../../src/formats/restic/index-json.ts';
import { decodeLock, encodeLock } from '../../src/formats/restic/lock-json.ts';
import { decodeSnapshot, encodeSnapshot, type ResticSnapshot } from '../../src/formats/restic/snapshot.ts';
import { cryptoVectors, FIXTURE_PASSWORD, FIXTURES, manifest } from './helpers/fixtures.ts';
import { restic, resticStatus, scratchDir, type ResticEnv } from './helpers/restic-cli.ts';
import { ResticRepo } from './helpers/restic-repo.ts';

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('restic-written snapshots and index files', () => {
  for (const version of ['v1', 'v2'] as const) {
    test(`${version}: snapshots re-encode byte for byte and match the manifest`, () => {
      const repo = ResticRepo.open(`${FIXTURES}/${version}`, FIXTURE_PASSWORD);
      const m = manifest.repositories[version];
      for (const expected of m.snapshots) {
        const bytes = repo.readUnpacked('snapshots', expected.id);
        const s = decodeSnapshot(bytes);
        expect(encodeSnapshot(s).toString('utf8')).toBe(bytes.toString('utf8'));
        expect(s.time).toEqual(parseRfc3339(expected.time));
        expect(s.tree).toBe(expected.tree);
        expect(s.paths).toEqual(expected.paths);
        expect(s.hostname).toBe(expected.hostname);
        expect(s.username).toBe(expected.username);
        expect(s.parent ?? null).toBe(expected.parent);
        expect(s.tags ?? []).toEqual(expected.tags);
      }
    });

    test(`${version}: index files re-encode byte for byte and agree with the pack headers`, () => {
      const repo = ResticRepo.open(`${FIXTURES}/${version}`, FIXTURE_PASSWORD);
      const m = manifest.repositories[version];
      expect(repo.list('index').sort()).toEqual([...m.index_files].sort());
      let blobs = 0;
      for (const id of m.index_files) {
        const bytes = repo.readUnpacked('index', id);
        const index = decodeIndex(bytes);
        expect(encodeIndex(index).toString('utf8')).toBe(bytes.toString('utf8'));
        expect(index.legacy).toBeUndefined();
        for (const pack of index.packs) {
          const header = repo.packHeader(pack.id);
          for (const blob of pack.blobs) {
            const entry = header.find((e) => e.id === blob.id)!;
            expect(entry).toBeDefined();
            expect(blob.length).toBe(entry.length);
            expect(blob.uncompressedLength ?? 0).toBe(entry.uncompressedLength);
            expect(blob.type).toBe(entry.type === 0 || entry.type === 2 ? 'data' : 'tree');
            expect(m.packs[pack.id]!.find((b) => b.id === blob.id)!.offset).toBe(blob.offset);
            blobs++;
          }
        }
      }
      expect(blobs).toBe(Object.values(m.packs).flat().length);
    });
  }

  test('crypto-vectors tiny_repository and unpacked_v2 (accepted by restic) round-trip', () => {
    for (const json of [cryptoVectors.tiny_repository.snapshot_plaintext_utf8, cryptoVectors.unpacked_v2.json_utf8]) {
      expect(encodeSnapshot(decodeSnapshot(Buffer.from(json))).toString('utf8')).toBe(json);
    }
    const index = cryptoVectors.tiny_repository.index_plaintext_utf8;
    expect(encodeIndex(decodeIndex(Buffer.from(index))).toString('utf8')).toBe(index);
  });

  test('the snapshot examples of formats/restic.md §8 and the lock of §9.1', () => {
    const second =
      '{"time":"2024-01-16T10:00:00Z","parent":"ebe7ffcbd570f0342f73409f521a29ec6bde896a856547c28ec84fefebba1172","tree":"93c2920f714789fcd2ff419531d5bd9a27fbcdd0bf92cb2798cc11a1c76184aa","paths":["/srv/fixture/data"],"hostname":"fixture-host","username":"root","tags":["second","changed"]}';
    expect(encodeSnapshot(decodeSnapshot(Buffer.from(second))).toString()).toBe(second);
    const lock = '{"time":"2026-11-25T03:20:56.745449165Z","exclusive":false,"hostname":"vm","username":"root","pid":23640}';
    const decoded = decodeLock(Buffer.from(lock));
    expect(decoded).toEqual({ time: parseRfc3339('2026-11-25T03:20:56.745449165Z'), exclusive: false, hostname: 'vm', username: 'root', pid: 23640 });
    expect(encodeLock(decoded).toString()).toBe(lock);
  });
});

describe('encoding rules', () => {
  const base: ResticSnapshot = {
    time: parseRfc3339('2024-01-02T03:04:05.5+05:30'),
    tree: 'a'.repeat(64),
    paths: ['/b', '/a'],
  };

  test('snapshot: key order, omitempty, uid/gid omitted when 0, tags in given order, summary', () => {
    expect(encodeSnapshot({ ...base, uid: 0, gid: 0, tags: [], excludes: [] }).toString()).toBe(
      `{"time":"2024-01-02T03:04:05.5+05:30","tree":"${'a'.repeat(64)}","paths":["/b","/a"]}`,
    );
    const full: ResticSnapshot = {
      ...base,
      parent: 'b'.repeat(64),
      hostname: 'h<1>',
      username: 'u',
      uid: 1000,
      gid: 1001,
      excludes: ['*.tmp'],
      tags: ['z', 'a'],
      original: 'c'.repeat(64),
      programVersion: 'bolt-agent 0.1.0',
      summary: {
        backupStart: parseRfc3339('2024-01-02T03:04:05Z'),
        backupEnd: parseRfc3339('2024-01-02T03:05:05.25Z'),
        filesNew: 1,
        filesChanged: 2,
        filesUnmodified: 3,
        dirsNew: 4,
        dirsChanged: 5,
        dirsUnmodified: 6,
        dataBlobs: 7,
        treeBlobs: 8,
        dataAdded: 9,
        dataAddedPacked: 10,
        totalFilesProcessed: 11,
        totalBytesProcessed: 0,
      },
    };
    const json = encodeSnapshot(full).toString();
    expect(json).toBe(
      `{"time":"2024-01-02T03:04:05.5+05:30","parent":"${'b'.repeat(64)}","tree":"${'a'.repeat(64)}","paths":["/b","/a"],"hostname":"h\\u003c1\\u003e","username":"u","uid":1000,"gid":1001,"excludes":["*.tmp"],"tags":["z","a"],"original":"${'c'.repeat(64)}","program_version":"bolt-agent 0.1.0","summary":{"backup_start":"2024-01-02T03:04:05Z","backup_end":"2024-01-02T03:05:05.25Z","files_new":1,"files_changed":2,"files_unmodified":3,"dirs_new":4,"dirs_changed":5,"dirs_unmodified":6,"data_blobs":7,"tree_blobs":8,"data_added":9,"data_added_packed":10,"total_files_processed":11,"total_bytes_processed":0}}`,
    );
    expect(decodeSnapshot(Buffer.from(json))).toEqual(full);
    expect(() => encodeSnapshot({ ...base, paths: [] })).toThrow(/paths/);
    expect(() => encodeSnapshot({ ...base, tree: 'A'.repeat(64) })).toThrow(/snapshot tree/);
    expect(() => encodeSnapshot({ ...base, uid: -1 })).toThrow(/snapshot uid/);
  });

  test('snapshot: an explicit empty tag list is kept apart from none on read', () => {
    const withEmpty = decodeSnapshot(Buffer.from(`{"time":"2024-01-01T00:00:00Z","tree":"${'a'.repeat(64)}","paths":["/x"],"tags":[]}`));
    const without = decodeSnapshot(Buffer.from(`{"time":"2024-01-01T00:00:00Z","tree":"${'a'.repeat(64)}","paths":["/x"],"tags":null}`));
    expect(withEmpty.tags).toEqual([]);
    expect(without.tags).toBeUndefined();
  });

  test('index: uncompressed_length only for compressed blobs, supersedes first, newline at the end', () => {
    const index: ResticIndex = {
      supersedes: ['d'.repeat(64)],
      packs: [
        {
          id: 'e'.repeat(64),
          blobs: [
            { id: 'f'.repeat(64), type: 'tree', offset: 846, length: 266, uncompressedLength: 352 },
            { id: '0'.repeat(64), type: 'data', offset: 0, length: 846 },
          ],
        },
      ],
    };
    const json = encodeIndex(index).toString();
    expect(json).toBe(
      `{"supersedes":["${'d'.repeat(64)}"],"packs":[{"id":"${'e'.repeat(64)}","blobs":[{"id":"${'f'.repeat(64)}","type":"tree","offset":846,"length":266,"uncompressed_length":352},{"id":"${'0'.repeat(64)}","type":"data","offset":0,"length":846}]}]}\n`,
    );
    expect(decodeIndex(Buffer.from(json))).toEqual(index);
    expect(encodeIndex({ supersedes: [], packs: [] }).toString()).toBe('{"packs":[]}\n');
    // Written byte by byte: any index equals what a JSON encoder writes for the same fields in
    // Go's order (numbers of every length up to 2^53 - 1, optional members present and absent).
    const random = (n: number) => Math.floor(Math.random() * n);
    const hexId = () => Array.from({ length: 64 }, () => '0123456789abcdef'[random(16)]).join('');
    const number = () => [0, 1, 9, 10, 99, 100, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER, random(10 ** random(16))][random(10)]!;
    for (let round = 0; round < 50; round++) {
      const many: ResticIndex = {
        ...(round % 3 === 0 ? { supersedes: Array.from({ length: 1 + random(3) }, hexId) } : {}),
        packs: Array.from({ length: random(4) }, () => ({
          id: hexId(),
          blobs: Array.from({ length: 1 + random(5) }, () => ({ id: hexId(), type: random(2) ? ('data' as const) : ('tree' as const), offset: number(), length: number(), ...(random(2) ? { uncompressedLength: Math.max(1, number()) } : {}) })),
        })),
      };
      const viaJson = JSON.stringify({
        ...(many.supersedes ? { supersedes: many.supersedes } : {}),
        packs: many.packs.map((p) => ({ id: p.id, blobs: p.blobs.map((b) => ({ id: b.id, type: b.type, offset: b.offset, length: b.length, ...(b.uncompressedLength !== undefined ? { uncompressed_length: b.uncompressedLength } : {}) })) })),
      });
      expect(encodeIndex(many).toString()).toBe(viaJson + '\n');
      // Reading back takes offsets and lengths of 32 bits only (packs are smaller than 4 GiB).
      const fits = many.packs.every((p) => p.blobs.every((b) => Math.max(b.offset, b.length, b.uncompressedLength ?? 0) < 2 ** 32));
      if (fits) expect(decodeIndex(encodeIndex(many))).toEqual(many);
    }
    expect(() => encodeIndex({ packs: [{ id: 'E'.repeat(64), blobs: [{ id: '0'.repeat(64), type: 'data', offset: 0, length: 1 }] }] })).toThrow(/not a lower-case 64-digit hex ID/);
    expect(() => encodeIndex({ packs: [{ id: 'e'.repeat(64), blobs: [{ id: '0'.repeat(64), type: 'data', offset: -1, length: 1 }] }] })).toThrow(/offset: not an unsigned integer/);
    expect(() => encodeIndex({ packs: [{ id: 'e'.repeat(64), blobs: [{ id: '0'.repeat(64), type: 'data', offset: 0, length: 1.5 }] }] })).toThrow(/length: not an unsigned integer/);
    expect(() => encodeIndex({ packs: [{ id: 'e'.repeat(64), blobs: [] }] })).toThrow(/at least one blob/);
    expect(() => encodeIndex({ packs: [{ id: 'e'.repeat(64), blobs: [{ id: '0'.repeat(64), type: 'data', offset: 0, length: 32, uncompressedLength: 0 }] }] })).toThrow(/uncompressed_length 0/);
    // What JSON.parse reads differently from Go takes the exact path: keys matched without
    // case, null as the zero value, numbers Go refuses for an integer field.
    const blob = { id: '0'.repeat(64), type: 'data' as const, offset: 5, length: 7 };
    expect(decodeIndex(Buffer.from(`{"Packs":[{"ID":"${'e'.repeat(64)}","Blobs":[{"Id":"${blob.id}","TYPE":"data","Offset":5,"length":7,"uncompressed_length":null}]}]}`))).toEqual({ packs: [{ id: 'e'.repeat(64), blobs: [blob] }] });
    expect(decodeIndex(Buffer.from(`{"packs":[{"id":"${'e'.repeat(64)}","blobs":null}],"supersedes":null}`))).toEqual({ packs: [{ id: 'e'.repeat(64), blobs: [] }] });
    expect(() => decodeIndex(Buffer.from(`{"packs":[{"id":"${'e'.repeat(64)}","blobs":[{"id":"${blob.id}","type":"data","offset":1e3,"length":7}]}]}`))).toThrow(CorruptDataError);
    expect(() => decodeIndex(Buffer.from(`{"packs":[{"id":"${'e'.repeat(64)}","blobs":[{"id":"${blob.id}","type":"data","offset":5.0,"length":7}]}]}`))).toThrow(CorruptDataError);
    // the legacy format: a bare array of packs
    const legacy = decodeIndex(Buffer.from(`[{"id":"${'e'.repeat(64)}","blobs":[{"id":"${'0'.repeat(64)}","type":"data","offset":0,"length":40}]}]`));
    expect(legacy.legacy).toBe(true);
    expect(legacy.packs[0]!.blobs[0]!.length).toBe(40);
  });

  test('lock: uid and gid omitted when 0', () => {
    const t = parseRfc3339('2024-01-02T03:04:05.000000001Z');
    expect(encodeLock({ time: t, exclusive: true, hostname: 'h', username: 'u', pid: 7, uid: 0, gid: 0 }).toString()).toBe(
      '{"time":"2024-01-02T03:04:05.000000001Z","exclusive":true,"hostname":"h","username":"u","pid":7}',
    );
    const json = encodeLock({ time: t, exclusive: false, hostname: 'h', username: 'u', pid: 7, uid: 1000, gid: 1000 }).toString();
    expect(json).toBe('{"time":"2024-01-02T03:04:05.000000001Z","exclusive":false,"hostname":"h","username":"u","pid":7,"uid":1000,"gid":1000}');
    expect(decodeLock(Buffer.from(json)).uid).toBe(1000);
  });

  test('decode errors are CorruptDataError naming the field', () => {
    const id = 'a'.repeat(64);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => decodeSnapshot(Buffer.from(`{"tree":"${id}","paths":["/"]}`)), /^snapshot\.time: missing$/],
      [() => decodeSnapshot(Buffer.from(`{"time":"2024-01-01T00:00:00Z","paths":["/"]}`)), /^snapshot\.tree: expected an ID of 64 hex digits, got nothing$/],
      [() => decodeSnapshot(Buffer.from(`{"time":"2024-01-01T00:00:00Z","tree":"${id}"}`)), /^snapshot\.paths: missing or empty$/],
      [() => decodeSnapshot(Buffer.from(`{"time":"yesterday","tree":"${id}","paths":["/"]}`)), /^snapshot\.time: invalid RFC 3339 time "yesterday"/],
      [() => decodeSnapshot(Buffer.from(`{"time":"2024-01-01T00:00:00Z","tree":"${id}","paths":["/",3]}`)), /^snapshot\.paths\[1\]: expected a string, got number 3$/],
      [() => decodeSnapshot(Buffer.from(`{"time":"2024-01-01T00:00:00Z","tree":"${id}","paths":["/"],"uid":-5}`)), /^snapshot\.uid: expected an unsigned integer/],
      [() => decodeSnapshot(Buffer.from(`{"time":"2024-01-01T00:00:00Z","tree":"${id}","paths":["/"],"summary":{"files_new":"x"}}`)), /^snapshot\.summary\.files_new: expected an unsigned integer/],
      [() => decodeSnapshot(Buffer.from('[]')), /^snapshot: expected an object, got array$/],
      [() => decodeIndex(Buffer.from(`{"packs":[{"id":"${id}","blobs":[{"id":"${id}","type":"blob","offset":0,"length":1}]}]}`)), /^index\.packs\[0\]\.blobs\[0\]\.type: unknown blob type "blob"$/],
      [() => decodeIndex(Buffer.from(`{"packs":[{"id":"xyz","blobs":[]}]}`)), /^index\.packs\[0\]\.id: expected an ID/],
      [() => decodeIndex(Buffer.from(`{"packs":[{"id":"${id}","blobs":[{"id":"${id}","type":"data","offset":-1,"length":1}]}]}`)), /^index\.packs\[0\]\.blobs\[0\]\.offset/],
      [() => decodeIndex(Buffer.from(`{"packs":[{"id":"${id}","blobs":[{"id":"${id}","type":"data","offset":0,"length":4294967296}]}]}`)), /^index\.packs\[0\]\.blobs\[0\]\.length: number 4294967296 does not fit in 32 bits$/],
      [() => decodeIndex(Buffer.from(`{"packs":[{"id":"${id}","blobs":[{"id":"${id}","type":"data","offset":0,"length":9,"uncompressed_length":4294967296}]}]}`)), /uncompressed_length: number 4294967296 does not fit in 32 bits$/],
      [() => decodeIndex(Buffer.from('"x"')), /^index: expected an object, got string "x"$/],
      [() => decodeLock(Buffer.from('{"exclusive":true}')), /^lock\.time: missing$/],
      [() => decodeLock(Buffer.from('{"time":"2024-01-01T00:00:00Z","exclusive":"yes"}')), /^lock\.exclusive: expected true or false/],
      [() => decodeLock(Buffer.from('{"time":"2024-01-01T00:00:00Z","pid":1.5}')), /^lock\.pid: expected an integer/],
    ];
    for (const [fn, message] of cases) {
      const err = errorOf(fn);
      expect(err).toBeInstanceOf(CorruptDataError);
      expect(err.message).toMatch(message);
    }
  });
});

describe('restic 0.14 reads what we write and writes what we read', () => {
  const scratch = scratchDir('restic-unpacked-');
  let env: ResticEnv;
  let repo: ResticRepo;

  beforeAll(() => {
    const dir = join(scratch.dir, 'repo');
    execFileSync('cp', ['-r', `${FIXTURES}/v2`, dir]);
    env = { repo: dir, password: FIXTURE_PASSWORD, cacheDir: join(scratch.dir, 'cache') };
    repo = ResticRepo.open(dir, FIXTURE_PASSWORD);
  });
  afterAll(() => scratch.remove());

  test('our snapshot with every field, summary and program_version: listed, checked, restorable', () => {
    const fixture = manifest.repositories.v2.snapshots[1]!;
    const ours: ResticSnapshot = {
      time: parseRfc3339('2024-02-01T12:00:00.123456789+05:30'),
      parent: fixture.id,
      tree: fixture.tree,
      paths: ['/srv/fixture/data'],
      hostname: 'bolt-host',
      username: 'bolt',
      uid: 1000,
      gid: 1000,
      excludes: ['*.tmp'],
      tags: ['b', 'a'],
      original: fixture.id,
      programVersion: 'bolt-agent 0.1.0',
      summary: {
        backupStart: parseRfc3339('2024-02-01T06:29:00Z'),
        backupEnd: parseRfc3339('2024-02-01T06:30:00Z'),
        filesNew: 0,
        filesChanged: 0,
        filesUnmodified: 8,
        dirsNew: 0,
        dirsChanged: 0,
        dirsUnmodified: 3,
        dataBlobs: 0,
        treeBlobs: 0,
        dataAdded: 0,
        dataAddedPacked: 0,
        totalFilesProcessed: 8,
        totalBytesProcessed: 6342946,
      },
    };
    const id = repo.writeUnpacked('snapshots', encodeSnapshot(ours));
    const listed = JSON.parse(restic(env, ['snapshots', '--json', '--no-lock'])) as Array<Record<string, unknown>>;
    const mine = listed.find((s) => s.id === id)!;
    expect(mine).toMatchObject({
      time: '2024-02-01T12:00:00.123456789+05:30',
      parent: fixture.id,
      tree: fixture.tree,
      hostname: 'bolt-host',
      username: 'bolt',
      uid: 1000,
      gid: 1000,
      excludes: ['*.tmp'],
      tags: ['b', 'a'],
      original: fixture.id,
    });
    // restic prints the file as it decoded it; unknown fields (summary, program_version) are dropped
    const catted = restic(env, ['cat', 'snapshot', id, '--no-lock']);
    expect(JSON.parse(catted).summary).toBeUndefined();
    expect(restic(env, ['ls', '--no-lock', id.slice(0, 8)])).toContain('/srv/fixture/data/hello.txt');
    const check = resticStatus(env, ['check']);
    expect(check.status, check.stderr).toBe(0);
  });

  test('our exclusive lock blocks restic; restic reads its fields', () => {
    const lock = { time: parseRfc3339('2024-02-01T12:00:00.5Z'), exclusive: true, hostname: 'other-host', username: 'bolt', pid: 424242, uid: 1000, gid: 1000 };
    const id = repo.writeUnpacked('locks', encodeLock(lock));
    try {
      const blocked = resticStatus(env, ['snapshots']);
      expect(blocked.status).not.toBe(0);
      expect(blocked.stderr).toMatch(/locked exclusively by PID 424242 on other-host by bolt \(UID 1000, GID 1000\)/);
      expect(JSON.parse(restic(env, ['cat', 'lock', id, '--no-lock']))).toMatchObject({ exclusive: true, hostname: 'other-host', pid: 424242 });
    } finally {
      execFileSync('rm', ['-f', join(env.repo, 'locks', id)]);
    }
  });

  test('index files restic rewrites on prune (with supersedes) re-encode byte for byte', () => {
    const before = new Set(repo.list('index'));
    restic(env, ['forget', '--keep-last', '1', '--prune']);
    const fresh = new ResticRepo(env.repo, repo.key).list('index').filter((id) => !before.has(id));
    expect(fresh.length).toBeGreaterThan(0);
    let superseding = 0;
    for (const id of fresh) {
      const bytes = new ResticRepo(env.repo, repo.key).readUnpacked('index', id);
      const index = decodeIndex(bytes);
      expect(encodeIndex(index).toString()).toBe(bytes.toString());
      if (index.supersedes) superseding++;
    }
    expect(superseding).toBeGreaterThan(0);
  });
});
