// The packer's pending index (columns instead of an object and a hex string per blob) and the
// index JSON written from columns: the same bytes as encodeIndex writes for the same content.
import { describe, expect, test } from 'vitest';
import { decodeIndex, encodeIndex, encodePackedIndex, type IndexPack, type ResticIndex } from '../../src/formats/restic/index-json.ts';
import { PendingIndex } from '../../src/formats/restic/pending-index.ts';
import { MasterIndex } from '../../src/formats/restic/master-index.ts';
import type { PackedBlob } from '../../src/formats/restic/pack.ts';
import { FIXTURE_PASSWORD, FIXTURES, manifest } from './helpers/fixtures.ts';
import { ResticRepo } from './helpers/restic-repo.ts';

const random = (n: number) => Math.floor(Math.random() * n);
const hexId = () => Array.from({ length: 64 }, () => '0123456789abcdef'[random(16)]).join('');

/** A pack as the packer hands it over. */
function packedBlobs(pack: IndexPack): PackedBlob[] {
  return pack.blobs.map((b) => ({ type: b.type, id: Buffer.from(b.id, 'hex'), offset: b.offset, length: b.length, uncompressedLength: b.uncompressedLength ?? 0 }));
}

function viaPending(packs: readonly IndexPack[]): Buffer {
  const pending = new PendingIndex();
  for (const p of packs) pending.addPack(Buffer.from(p.id, 'hex'), packedBlobs(p));
  return encodePackedIndex(pending.take());
}

describe('the pending index', () => {
  test('writes what encodeIndex writes, for restic-written index files and random ones', () => {
    let compared = 0;
    for (const version of ['v1', 'v2'] as const) {
      const repo = ResticRepo.open(`${FIXTURES}/${version}`, FIXTURE_PASSWORD);
      for (const id of manifest.repositories[version].index_files) {
        const bytes = repo.readUnpacked('index', id);
        const index = decodeIndex(bytes);
        if (index.supersedes?.length) continue; // a backup's own index files supersede nothing
        expect(viaPending(index.packs).toString()).toBe(bytes.toString());
        compared += 1;
      }
    }
    expect(compared).toBeGreaterThan(2);
    const number = () => [0, 1, 9, 10, 99, 100, 2 ** 31, 2 ** 32 - 1, random(2 ** 32)][random(9)]!;
    for (let round = 0; round < 50; round++) {
      const index: ResticIndex = {
        packs: Array.from({ length: 1 + random(5) }, () => ({
          id: hexId(),
          blobs: Array.from({ length: 1 + random(40) }, () => ({ id: hexId(), type: random(2) ? ('data' as const) : ('tree' as const), offset: number(), length: number(), ...(random(2) ? { uncompressedLength: Math.max(1, number()) } : {}) })),
        })),
      };
      expect(viaPending(index.packs).toString()).toBe(encodeIndex(index).toString());
    }
  });

  test('holds many packs across growth, and starts empty again once taken', () => {
    const pending = new PendingIndex();
    const packs: IndexPack[] = Array.from({ length: 60 }, (_, p) => ({
      id: hexId(),
      blobs: Array.from({ length: 1 + (p % 97) }, (_, b) => ({ id: hexId(), type: p % 2 ? ('tree' as const) : ('data' as const), offset: b * 1000, length: 1000, ...(b % 3 ? { uncompressedLength: 4000 + b } : {}) })),
    }));
    for (const p of packs) pending.addPack(Buffer.from(p.id, 'hex'), packedBlobs(p));
    const blobs = packs.reduce((n, p) => n + p.blobs.length, 0);
    expect(pending.blobCount).toBe(blobs);
    const taken = pending.take();
    expect(Array.from(taken.packBlobCounts)).toEqual(packs.map((p) => p.blobs.length));
    expect(decodeIndex(encodePackedIndex(taken))).toEqual({ packs });
    expect(pending.blobCount).toBe(0);
    expect(encodePackedIndex(pending.take()).toString()).toBe('{"packs":[]}\n');
    // What was taken stays as it was when the builder is used again.
    pending.addPack(Buffer.from(hexId(), 'hex'), packedBlobs({ id: hexId(), blobs: [{ id: hexId(), type: 'data', offset: 7, length: 8 }] }));
    expect(decodeIndex(encodePackedIndex(taken))).toEqual({ packs });
  });

  test('refuses what an index file cannot hold', () => {
    const pending = new PendingIndex();
    const blob = (over: Partial<PackedBlob>): PackedBlob[] => [{ type: 'data', id: Buffer.alloc(32, 1), offset: 0, length: 10, uncompressedLength: 0, ...over }];
    const pack = Buffer.alloc(32, 2);
    expect(() => pending.addPack(Buffer.alloc(31), blob({}))).toThrow(/pack id of 31 bytes/);
    expect(() => pending.addPack(pack, [])).toThrow(/at least one blob/);
    expect(() => pending.addPack(pack, blob({ id: Buffer.alloc(16) }))).toThrow(/blob id of 16 bytes/);
    expect(() => pending.addPack(pack, blob({ length: 2 ** 32 }))).toThrow(/not an unsigned 32-bit integer/);
    expect(() => pending.addPack(pack, blob({ uncompressedLength: -1 }))).toThrow(/not an unsigned 32-bit integer/);
    expect(() => pending.addPack(pack, blob({ length: 2.5 }))).toThrow(/not an unsigned 32-bit integer/);
    expect(() => pending.addPack(pack, blob({ offset: 1.5 }))).toThrow(/offset 1.5/);
    expect(pending.blobCount).toBe(0);
  });

  test('reaches the master index as addPack would put it, the written file not counted as loaded', () => {
    const packs: IndexPack[] = [
      { id: hexId(), blobs: [{ id: hexId(), type: 'data', offset: 0, length: 40, uncompressedLength: 100 }, { id: hexId(), type: 'data', offset: 40, length: 32 }] },
      { id: hexId(), blobs: [{ id: hexId(), type: 'tree', offset: 0, length: 90, uncompressedLength: 300 }] },
    ];
    const viaObjects = new MasterIndex();
    for (const p of packs) viaObjects.addPack(p.id, p.blobs, 'written');
    const pending = new PendingIndex();
    for (const p of packs) pending.addPack(Buffer.from(p.id, 'hex'), packedBlobs(p));
    const viaColumns = new MasterIndex();
    viaColumns.addPackedPacks('written', pending.take());
    expect([...viaColumns.indexIds]).toEqual([]);
    expect([...viaColumns.packs]).toEqual([...viaObjects.packs]);
    for (const p of packs) for (const b of p.blobs) expect(viaColumns.lookup(b.type, b.id)).toEqual(viaObjects.lookup(b.type, b.id));
  });
});
