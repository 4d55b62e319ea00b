import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { IndexBlob } from '../../src/formats/restic/index-json.ts';
import { MasterIndex } from '../../src/formats/restic/master-index.ts';

const hexId = (seed: string): string => createHash('sha256').update(seed).digest('hex');

function blobs(pack: string, count: number, type: 'data' | 'tree' = 'data'): IndexBlob[] {
  return Array.from({ length: count }, (_, i) => ({ id: hexId(`${pack}/${i}`), type, offset: i * 100, length: 90 + (i % 7), ...(i % 2 ? { uncompressedLength: 500 + i } : {}) }));
}

describe('MasterIndex', () => {
  it('finds every blob of many packs with its location, by type, across table growth', () => {
    const index = new MasterIndex();
    const packs = Array.from({ length: 40 }, (_, p) => ({ id: hexId(`pack ${p}`), blobs: blobs(`p${p}`, 1000) }));
    for (const pack of packs) index.addPack(pack.id, pack.blobs, 'idx1');
    index.addPack(hexId('tree pack'), blobs('t', 5, 'tree'), 'idx1');
    expect(index.count('data')).toBe(40_000);
    expect(index.count('tree')).toBe(5);
    for (const pack of [packs[0], packs[17], packs[39]]) {
      for (const b of pack!.blobs) {
        expect(index.has('data', b.id)).toBe(true);
        expect(index.has('tree', b.id)).toBe(false);
        expect(index.lookup('data', b.id)).toEqual([{ packId: pack!.id, offset: b.offset, length: b.length, uncompressedLength: b.uncompressedLength ?? 0 }]);
      }
    }
    const b = packs[5]!.blobs[7]!;
    const where = { packId: packs[5]!.id, offset: b.offset, length: b.length, uncompressedLength: b.uncompressedLength ?? 0 };
    expect(index.first('data', b.id)).toEqual(where);
    expect(index.first('data', Buffer.from(b.id, 'hex'))).toEqual(where);
    expect(index.first('tree', b.id)).toBeUndefined();
    expect(index.first('data', Buffer.alloc(31))).toBeUndefined();
    expect(index.has('tree', hexId('t/3'))).toBe(true);
    expect(index.lookup('data', hexId('nothing'))).toEqual([]);
    expect(index.packs.get(packs[3]!.id)).toMatchObject({ blobCount: 1000, type: 'data', indexIds: ['idx1'] });
  });

  it('keeps every location of a duplicate in the order added, the first preferred', () => {
    const index = new MasterIndex();
    const shared: IndexBlob = { id: hexId('shared'), type: 'data', offset: 0, length: 50 };
    index.addPack(hexId('a'), [shared], 'i1');
    index.addPack(hexId('b'), [{ ...shared, offset: 64 }, ...blobs('b', 3)], 'i1');
    index.addPack(hexId('c'), [{ ...shared, offset: 128, uncompressedLength: 90 }], 'i2');
    expect(index.count('data')).toBe(4);
    expect(index.lookup('data', shared.id)).toEqual([
      { packId: hexId('a'), offset: 0, length: 50, uncompressedLength: 0 },
      { packId: hexId('b'), offset: 64, length: 50, uncompressedLength: 0 },
      { packId: hexId('c'), offset: 128, length: 50, uncompressedLength: 90 },
    ]);
    expect(index.first('data', Buffer.from(shared.id, 'hex'))?.packId).toBe(hexId('a'));
    const entries = [...index.entries('data')];
    expect(entries.map(([id]) => id)).toEqual([shared.id, ...blobs('b', 3).map((b) => b.id)]);
    expect(entries[0]![1]).toHaveLength(3);
    expect(index.ids('data')).toEqual(Buffer.from(entries.map(([id]) => id).join(''), 'hex'));
  });

  it('lists a pack named by two index files once, with both index ids', () => {
    const index = new MasterIndex();
    const pack = { id: hexId('p'), blobs: blobs('p', 2) };
    index.addIndex('i1', { packs: [pack] });
    index.addIndex('i2', { packs: [pack] });
    expect(index.packs.get(pack.id)?.indexIds).toEqual(['i1', 'i2']);
    expect(index.lookup('data', pack.blobs[0]!.id)).toHaveLength(1);
    expect([...index.indexIds]).toEqual(['i1', 'i2']);
  });

  it('answers "not found" for ids that are not 64 lower-case hex digits, and refuses to store them or lengths beyond 32 bits', () => {
    const index = new MasterIndex();
    const id = hexId('x');
    index.addPack(hexId('p'), [{ id, type: 'data', offset: 0, length: 40 }], 'i');
    expect(index.has('data', id.toUpperCase())).toBe(false);
    expect(index.has('data', id.slice(0, 62))).toBe(false);
    expect(index.lookup('data', `${id.slice(0, 63)}g`)).toEqual([]);
    expect(() => index.addPack(hexId('q'), [{ id: hexId('ok'), type: 'data', offset: 0, length: 40 }, { id: 'zz', type: 'data', offset: 40, length: 40 }], 'i')).toThrow(/64 lower-case hex/);
    expect(() => index.addPack(hexId('r'), [{ id: hexId('big'), type: 'data', offset: 0, length: 2 ** 32 }], 'i')).toThrow(/32 bits/);
    expect(index.packs.has(hexId('q'))).toBe(false);
    expect(index.has('data', hexId('ok'))).toBe(false);
  });
});

describe('index files decoded by the core into arrays', () => {
  /** Everything a MasterIndex answers, to compare two of them. */
  function contents(index: MasterIndex) {
    return {
      data: [...index.entries('data')],
      tree: [...index.entries('tree')],
      packs: [...index.packs.entries()].sort(([a], [b]) => a.localeCompare(b)),
      indexIds: [...index.indexIds],
    };
  }

  it('build the same index as the JavaScript decoder, also across files that name a pack twice', async () => {
    const { getCore } = await import('../../src/native/index.ts');
    const { decodeIndex, encodeIndex } = await import('../../src/formats/restic/index-json.ts');
    const core = await getCore();
    if (!core.decodeIndex) throw new Error('the native core decodes index files');
    const shared = { id: hexId('shared pack'), blobs: blobs('s', 3) };
    const files = [
      { supersedes: [hexId('old index')], packs: [{ id: hexId('p1'), blobs: blobs('p1', 300) }, { id: hexId('t1'), blobs: blobs('t1', 20, 'tree') }, shared] },
      { packs: [shared, { id: hexId('mixed'), blobs: [...blobs('m', 4), ...blobs('mt', 2, 'tree')] }, { id: hexId('dup'), blobs: blobs('p1', 2) }] },
      { packs: [] },
    ];
    const viaJs = new MasterIndex();
    const viaCore = new MasterIndex();
    for (const [i, file] of files.entries()) {
      const json = encodeIndex(file);
      viaJs.addIndex(`idx${i}`, decodeIndex(json));
      const packed = await core.decodeIndex(json);
      expect(packed).not.toBeNull();
      viaCore.addPackedIndex(`idx${i}`, packed!);
    }
    expect(contents(viaCore)).toEqual(contents(viaJs));
    expect(viaCore.packs.get(hexId('mixed'))?.type).toBe('mixed');
    expect(viaCore.packs.get(shared.id)?.indexIds).toEqual(['idx0', 'idx1']);
    expect(viaCore.lookup('data', hexId('p1/1'))).toHaveLength(2);
  });

  it('leave forms restic reads but the arrays do not cover to the JavaScript decoder', async () => {
    const { getCore } = await import('../../src/native/index.ts');
    const core = await getCore();
    const pack = `{"id":"${hexId('p')}","blobs":[{"id":"${hexId('b')}","type":"data","offset":0,"length":9}]}`;
    expect(await core.decodeIndex!(Buffer.from(`{"packs":[${pack}]}`))).not.toBeNull();
    for (const other of [`[${pack}]`, `{"Packs":[${pack}]}`, `{"packs":[${pack.replace('"data"', '"index"')}]}`, `{"packs":[${pack.replace(hexId('b'), hexId('b').toUpperCase())}]}`, '{"packs":'])
      expect(await core.decodeIndex!(Buffer.from(other))).toBeNull();
  });
});
