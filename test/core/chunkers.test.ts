import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { ChunkerSpec, Core, HashAlgorithm } from '../../src/native/types.ts';
import { describeEachCore } from './cores.ts';
import { inputOf, type DescribedInput } from './inputs.ts';
import { hex, loadVectors, toHex } from './vectors.ts';

interface ChunkVector {
  name: string;
  source: string;
  input: DescribedInput;
  lengths: number[];
  ids?: string[];
}
interface ResticChunkerVectors {
  vectors: (ChunkVector & { polynomial: string })[];
  invalid_polynomials: string[];
}
interface GhostsnapChunkerVectors {
  vectors: (ChunkVector & { params: { minSize: number; avgSize: number; maxSize: number } })[];
  invalid_params: { minSize: number; avgSize: number; maxSize: number }[];
}

const restic = loadVectors<ResticChunkerVectors>('restic-chunker.json');
const ghostsnap = loadVectors<GhostsnapChunkerVectors>('ghostsnap-chunker.json');

const tmp = mkdtempSync(join(tmpdir(), 'bolt-chunkers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function idsOf(core: Core, algo: HashAlgorithm, data: Buffer, lengths: number[]): string[] {
  const ids: string[] = [];
  let pos = 0;
  for (const n of lengths) {
    ids.push(toHex(core.hash(algo, data.subarray(pos, pos + n))));
    pos += n;
  }
  return ids;
}

/** Streams `data` from a file through processFiles in segments of at least `maxBytes`. */
async function streamedChunks(core: Core, spec: ChunkerSpec, algo: HashAlgorithm, data: Buffer, maxBytes: number, knownIds: string[]) {
  const path = join(tmp, `input-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, data);
  const known = core.newBlobSet();
  for (const id of knownIds) known.add(hex(id));
  const lengths: number[] = [];
  const ids: string[] = [];
  let offset = 0;
  for (;;) {
    const [res] = await core.processFiles([{ path, offset, maxBytes }], {
      chunker: spec,
      hash: algo,
      compression: { kind: 'none' },
      seal: { kind: 'none' },
      known,
    });
    expect(res?.error).toBeUndefined();
    expect(res?.blobs).toEqual([]);
    for (const c of res!.chunks) {
      lengths.push(c.length);
      ids.push(toHex(c.id));
    }
    expect(res!.nextOffset).toBe(offset + res!.chunks.reduce((s, c) => s + c.length, 0));
    offset = res!.nextOffset;
    if (res!.eof) break;
  }
  rmSync(path);
  return { lengths, ids, offset };
}

describeEachCore('restic Rabin chunker', (core) => {
  for (const v of restic.vectors) {
    it(`${v.name} (${v.source.split(' ')[0]})`, () => {
      const data = inputOf(v.input);
      const spec: ChunkerSpec = { kind: 'rabin', polynomial: v.polynomial };
      expect(core().chunkBuffer(spec, data)).toEqual(v.lengths);
      if (v.ids !== undefined) expect(idsOf(core(), 'sha256', data, v.lengths)).toEqual(v.ids);
    });
  }

  it('processFiles streams mixed-15MiB in segments exactly as restic cut it', async () => {
    const v = restic.vectors.find((x) => x.name === 'mixed-15MiB / 3da3358b4dc173')!;
    const data = inputOf(v.input);
    const got = await streamedChunks(core(), { kind: 'rabin', polynomial: v.polynomial }, 'sha256', data, 3 << 20, v.ids!);
    expect(got.lengths).toEqual(v.lengths);
    expect(got.ids).toEqual(v.ids);
    expect(got.offset).toBe(data.length);
  });

  for (const p of restic.invalid_polynomials) {
    it(`rejects polynomial ${JSON.stringify(p)} with EINVAL`, async () => {
      expect(() => core().chunkBuffer({ kind: 'rabin', polynomial: p }, new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      await expect(
        core().processFiles([{ path: '/nonexistent', offset: 0, maxBytes: 0 }], {
          chunker: { kind: 'rabin', polynomial: p },
          hash: 'sha256',
          compression: { kind: 'none' },
          seal: { kind: 'none' },
        }),
      ).rejects.toMatchObject({ code: 'EINVAL' });
    });
  }

  it('an empty buffer has no chunks', () => {
    expect(core().chunkBuffer({ kind: 'rabin', polynomial: '3da3358b4dc173' }, new Uint8Array(0))).toEqual([]);
  });
});

describeEachCore('ghostsnap FastCDC chunker', (core) => {
  for (const v of ghostsnap.vectors) {
    it(`${v.name} ${v.params.minSize}/${v.params.avgSize}/${v.params.maxSize} (${v.source.split(' ')[0]})`, () => {
      const data = inputOf(v.input);
      const spec: ChunkerSpec = { kind: 'fastcdc', ...v.params };
      expect(core().chunkBuffer(spec, data)).toEqual(v.lengths);
      if (v.ids !== undefined) expect(idsOf(core(), 'blake3', data, v.lengths)).toEqual(v.ids);
    });
  }

  it('processFiles streams random-40MiB exactly as ghostsnap cut it', async () => {
    const v = ghostsnap.vectors.find((x) => x.name === 'random-40MiB')!;
    const data = inputOf(v.input);
    const got = await streamedChunks(core(), { kind: 'fastcdc', ...v.params }, 'blake3', data, 10 << 20, v.ids!);
    expect(got.lengths).toEqual(v.lengths);
    expect(got.ids).toEqual(v.ids);
  });

  for (const p of ghostsnap.invalid_params) {
    it(`rejects sizes ${p.minSize}/${p.avgSize}/${p.maxSize} with EINVAL`, () => {
      expect(() => core().chunkBuffer({ kind: 'fastcdc', ...p }, new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    });
  }

  it('rejects an unknown chunker kind with EINVAL', () => {
    expect(() => core().chunkBuffer({ kind: 'buzhash' } as unknown as ChunkerSpec, new Uint8Array(1))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
  });
});
