// How a restore plans its pack reads: each blob of a pack once, with every place it goes to.
import { describe, expect, it } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import { Restorer, type BlobPlace, type BlobRead, type RestoreNode, type RestoreSource } from '../../src/engine/restorer.ts';

const id = (byte: number): Buffer => Buffer.alloc(32, byte);
const T = { sec: 0, nsec: 0 };

function file(name: string, chunks: { id: Buffer; length: number }[]): RestoreNode {
  const size = chunks.reduce((n, c) => n + c.length, 0);
  return { path: Buffer.from(`/nowhere/${name}`), displayPath: `/${name}`, kind: 'file', mode: 0o644, uid: 0, gid: 0, atime: T, mtime: T, xattrs: [], size, chunks };
}

/** A source over fixed places; records the reads. */
function source(nodes: RestoreNode[], places: Map<string, BlobPlace>, reads: { pack: string; blobs: BlobRead[] }[]): RestoreSource {
  return {
    async *nodes() {
      yield* nodes;
    },
    locate: (blob) => places.get(blob.toString('hex')),
    readBlobs: async (pack, blobs) => {
      reads.push({ pack, blobs });
      return blobs.map(() => null);
    },
  };
}

describe('restore planning', () => {
  it('reads a blob two files share once, and keeps apart two ids a damaged index puts at one offset', async () => {
    const place = (offset: number): BlobPlace => ({ pack: 'p', offset, length: 36, rawLength: 4, compressed: false });
    // 0x0a and 0x0b: the same offset (damaged index); 0x0c: a blob both files use.
    const places = new Map([
      [id(0x0a).toString('hex'), place(0)],
      [id(0x0b).toString('hex'), place(0)],
      [id(0x0c).toString('hex'), place(100)],
    ]);
    const nodes = [file('one', [{ id: id(0x0a), length: 4 }, { id: id(0x0c), length: 4 }]), file('two', [{ id: id(0x0c), length: 4 }, { id: id(0x0b), length: 4 }])];
    const reads: { pack: string; blobs: BlobRead[] }[] = [];
    const restorer = new Restorer(await getCore(), source(nodes, places, reads), { verifyOnly: true });
    const { counters, problems } = await restorer.run();
    expect(problems).toEqual([]);
    expect(counters.files).toBe(2);
    const read = reads.flatMap((r) => r.blobs);
    expect(read.map((b) => b.id[0]).sort()).toEqual([0x0a, 0x0b, 0x0c]);
    expect(counters.bytes).toBe(16);
  });
});

describe('restore concurrency', () => {
  it('reads the batches of one pack of many small files side by side, each blob once', async () => {
    // 600 one-blob files in a single pack: five batches of at most 128 files.
    const places = new Map<string, BlobPlace>();
    const nodes: RestoreNode[] = [];
    for (let i = 0; i < 600; i++) {
      const blob = Buffer.alloc(32);
      blob.writeUInt32BE(i + 1);
      places.set(blob.toString('hex'), { pack: 'only', offset: 100 * i, length: 36, rawLength: 4, compressed: false });
      nodes.push(file(`f${i}`, [{ id: blob, length: 4 }]));
    }
    let inFlight = 0;
    let most = 0;
    const read: number[] = [];
    const slow: RestoreSource = {
      ...source(nodes, places, []),
      readBlobs: async (_pack, blobs) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
        for (const b of blobs) read.push(b.id.readUInt32BE(0));
        return blobs.map(() => null);
      },
    };
    const { counters, problems } = await new Restorer(await getCore(), slow, { verifyOnly: true, packConcurrency: 3 }).run();
    expect(problems).toEqual([]);
    expect(counters.files).toBe(600);
    // With one pack per worker these five batches ran one after another.
    expect(most).toBe(3);
    expect(read.sort((a, b) => a - b)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });
});

describe('restore totals', () => {
  it('are counted (a walk of every tree) only for a display that shows them', async () => {
    const { noProgress } = await import('../../src/observe/progress.ts');
    const places = new Map([[id(0x01).toString('hex'), { pack: 'p', offset: 0, length: 36, rawLength: 4, compressed: false }]]);
    const run = async (progress: import('../../src/observe/progress.ts').ProgressSink | undefined) => {
      let counted = 0;
      const counting: RestoreSource = { ...source([file('one', [{ id: id(0x01), length: 4 }])], places, []), totals: async () => (counted++, { files: 1, bytes: 4 }) };
      await new Restorer(await getCore(), counting, { verifyOnly: true, ...(progress ? { progress } : {}) }).run();
      return counted;
    };
    expect(await run({ update() {}, done() {} })).toBe(1);
    expect(await run(noProgress)).toBe(0);
    expect(await run({ wantsTotals: false, update() {}, done() {} })).toBe(0);
    expect(await run(undefined)).toBe(0);
  });
});
