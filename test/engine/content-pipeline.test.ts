// The content pipeline keeps the core's threads fed: small files travel in batches, with two
// batches more in flight than compute threads (the next one waits in the core while the
// JavaScript thread takes a result), while segments of large files stay at one per thread (each
// fills a read buffer of up to 16 MiB). Every file comes back with its chunks all the same.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import type { Core, EncodedBlob, FileSegmentRequest } from '../../src/native/types.ts';
import { ContentPipeline, type FileContent, type FileReadError } from '../../src/engine/content-pipeline.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-content-pipeline-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface Concurrency {
  now: { small: number; large: number };
  max: { small: number; large: number };
}

/** The core, recording how many processFiles calls of each kind run at once. */
function recordingCore(core: Core, seen: Concurrency): Core {
  return new Proxy(core, {
    get(target, key) {
      if (key === 'processFiles') {
        return async (requests: FileSegmentRequest[], params: unknown) => {
          const kind = requests.some((r) => r.maxBytes > 0) ? 'large' : 'small';
          seen.now[kind] += 1;
          seen.max[kind] = Math.max(seen.max[kind], seen.now[kind]);
          try {
            // Long enough that the pipeline could start more calls if it wanted to.
            await new Promise((r) => setTimeout(r, 20));
            return await (target.processFiles as (r: unknown, p: unknown) => Promise<unknown>)(requests, params);
          } finally {
            seen.now[kind] -= 1;
          }
        };
      }
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('content pipeline', () => {
  it('keeps threads + 2 batches of small files in flight, and one large-file segment per thread', async () => {
    const core = await getCore();
    const seen: Concurrency = { now: { small: 0, large: 0 }, max: { small: 0, large: 0 } };
    const stored: EncodedBlob[] = [];
    const threads = 2;
    const pipeline = new ContentPipeline(
      recordingCore(core, seen),
      { chunker: { kind: 'fastcdc', minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 }, hash: 'sha256', compression: { kind: 'none' }, seal: { kind: 'none' }, known: core.newBlobSet() },
      { addDataBlobs: async (blobs) => void stored.push(...blobs) },
      { threads, batchFiles: 4, smallFileLimit: 64 * 1024, segmentBytes: 256 * 1024 },
    );
    const files: { file: string; bytes: Buffer }[] = [];
    for (let i = 0; i < 40; i++) files.push({ file: path.join(work, `small-${i}`), bytes: randomBytes(1000 + i * 100) });
    for (let i = 0; i < 6; i++) files.push({ file: path.join(work, `large-${i}`), bytes: randomBytes(1024 * 1024) });
    for (const f of files) fs.writeFileSync(f.file, f.bytes);

    const results = await Promise.all(files.map((f) => pipeline.read(Buffer.from(f.file), f.bytes.length)));
    expect(seen.max.small).toBe(threads + 2);
    expect(seen.max.large).toBe(threads);
    results.forEach((r: FileContent | FileReadError, i) => {
      expect('error' in r ? r.error : undefined).toBeUndefined();
      expect((r as FileContent).size).toBe(files[i]!.bytes.length);
    });
    expect(stored.reduce((n, b) => n + b.rawLength, 0)).toBe(files.reduce((n, f) => n + f.bytes.length, 0));
  });
});
