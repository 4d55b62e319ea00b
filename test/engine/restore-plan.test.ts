// How a restore plans its pack reads: each blob of a pack once, with every place it goes to.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

describe('files a batch holds whole', () => {
  const content = (blob: Buffer): Buffer => Buffer.alloc(4, blob[0]);

  /** Writes what each blob stands for; new files as the core would (created, written, finished). */
  function writingSource(nodes: RestoreNode[], places: Map<string, BlobPlace>, calls: string[], newFiles: 'yes' | 'declines'): RestoreSource {
    return {
      ...source(nodes, places, []),
      readBlobs: async (pack, blobs) => {
        calls.push(`readBlobs ${pack} ${blobs.length}`);
        for (const b of blobs) for (const t of b.targets) fs.writeSync(t.fd, content(b.id), 0, 4, t.position);
        return blobs.map(() => null);
      },
      readBlobsIntoNewFiles: async (pack, blobs, files) => {
        calls.push(`new ${pack} ${files.map((f) => path.basename(f.path.toString())).join(',')}`);
        if (newFiles === 'declines') return undefined;
        const fds = files.map((f) => fs.openSync(f.path, 'w'));
        for (const b of blobs) for (const t of b.targets) fs.writeSync('file' in t ? (fds[t.file] as number) : t.fd, content(b.id), 0, 4, t.position);
        fds.forEach((fd) => fs.closeSync(fd));
        return { errors: blobs.map(() => null), files: files.map((f) => ({ errno: 0, problems: f.path.toString().endsWith('two') ? ['cannot set mode: test'] : [] })) };
      },
    };
  }

  it('are created, written and finished in the read; a file across two packs the ordinary way; a declined read falls back', async () => {
    for (const mode of ['yes', 'declines'] as const) {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-whole-'));
      const at = (name: string, chunks: { id: Buffer; length: number }[]): RestoreNode => ({ ...file(name, chunks), path: Buffer.from(path.join(root, name)) });
      const places = new Map([
        [id(0x01).toString('hex'), { pack: 'a', offset: 0, length: 36, rawLength: 4, compressed: false }],
        [id(0x02).toString('hex'), { pack: 'a', offset: 100, length: 36, rawLength: 4, compressed: false }],
        [id(0x03).toString('hex'), { pack: 'a', offset: 200, length: 36, rawLength: 4, compressed: false }],
        [id(0x04).toString('hex'), { pack: 'b', offset: 0, length: 36, rawLength: 4, compressed: false }],
      ]);
      const nodes = [at('one', [{ id: id(0x01), length: 4 }]), at('two', [{ id: id(0x02), length: 4 }, { id: id(0x01), length: 4 }]), at('big', [{ id: id(0x03), length: 4 }, { id: id(0x04), length: 4 }])];
      const calls: string[] = [];
      const { counters, problems } = await new Restorer(await getCore(), writingSource(nodes, places, calls, mode), { verifyOnly: false, root }).run();
      expect(counters.files).toBe(3);
      expect(fs.readFileSync(path.join(root, 'one'))).toEqual(Buffer.alloc(4, 1));
      expect(fs.readFileSync(path.join(root, 'two'))).toEqual(Buffer.concat([Buffer.alloc(4, 2), Buffer.alloc(4, 1)]));
      expect(fs.readFileSync(path.join(root, 'big'))).toEqual(Buffer.concat([Buffer.alloc(4, 3), Buffer.alloc(4, 4)]));
      if (mode === 'yes') {
        // "big" has bytes in pack b too: opened first, its pack-a blob written through its descriptor.
        expect(calls.sort()).toEqual(['new a one,two', 'readBlobs b 1']);
        expect(problems).toEqual([{ path: '/two', error: 'cannot set mode: test' }]);
      } else {
        expect(calls.sort()).toEqual(['new a one,two', 'readBlobs a 3', 'readBlobs b 1']);
        expect(problems).toEqual([]);
      }
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
