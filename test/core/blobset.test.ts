import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import type { BlobSet } from '../../src/native/types.ts';
import { describeEachCore } from './cores.ts';
import { hex, loadVectors } from './vectors.ts';

type IdGen = { gen: string; from: number; count: number; step?: number };
type Op = [name: 'add' | 'has' | 'delete' | 'addMany' | 'deleteEach' | 'hasEach', arg: string | string[] | IdGen, result: boolean | number, sizeAfter: number];

const { scenarios } = loadVectors<{ scenarios: { name: string; ops: Op[] }[] }>('blobset.json');

function ids(arg: string | string[] | IdGen): Buffer[] {
  if (typeof arg === 'string') return [hex(arg)];
  if (Array.isArray(arg)) return arg.map(hex);
  const out: Buffer[] = [];
  const step = arg.step ?? 1;
  for (let k = 0; k < arg.count; k++) out.push(createHash('sha256').update(`blob-${arg.from + k * step}`).digest());
  return out;
}

function apply(set: BlobSet, [name, arg]: Op): boolean | number {
  const list = ids(arg);
  switch (name) {
    case 'add':
      return set.add(list[0]!);
    case 'has':
      return set.has(list[0]!);
    case 'delete':
      return set.delete(list[0]!);
    case 'addMany':
      return set.addMany(Buffer.concat(list));
    case 'deleteEach':
      return list.filter((id) => set.delete(id)).length;
    case 'hasEach':
      return list.filter((id) => set.has(id)).length;
  }
}

describeEachCore('BlobSet', (core) => {
  for (const s of scenarios) {
    it(s.name, () => {
      const set = core().newBlobSet();
      expect(set.size).toBe(0);
      s.ops.forEach((op, i) => {
        expect([i, op[0], apply(set, op)]).toEqual([i, op[0], op[2]]);
        expect([i, op[0], set.size]).toEqual([i, op[0], op[3]]);
      });
    });
  }

  it('sets are independent', () => {
    const a = core().newBlobSet();
    const b = core().newBlobSet();
    a.add(new Uint8Array(32).fill(1));
    expect(b.has(new Uint8Array(32).fill(1))).toBe(false);
  });

  it('rejects ids that are not 32 bytes with EINVAL', () => {
    const set = core().newBlobSet();
    expect(() => set.add(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => set.has(new Uint8Array(33))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => set.addMany(new Uint8Array(65))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
