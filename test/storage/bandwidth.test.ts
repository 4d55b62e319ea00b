// performance.bandwidth_limit: one token bucket for every upload of the process, so N MiB at a
// limit of L MiB/s take N/L seconds (within 10 %) however many uploads and storages share it.
// Also measures plain upload throughput (MinIO on loopback vs local disk) for the report.
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { backendFixture, patternBytes, type BackendFixture } from './helpers.ts';

const MiB = 1024 * 1024;

describe('bandwidth limit and throughput', () => {
  const fixtures: BackendFixture[] = [];
  const storages: Storage[] = [];

  afterAll(async () => {
    await Promise.all(storages.map((s) => s.close()));
    await Promise.all(fixtures.map((f) => f.cleanup()));
  });

  async function open(backend: 'local' | 's3', performance: Record<string, unknown>): Promise<Storage> {
    const fixture = await backendFixture(backend, { performance });
    fixtures.push(fixture);
    const storage = await openStorage(fixture.repository, fixture.config);
    storages.push(storage);
    return storage;
  }

  it('holds N MiB at limit L to N/L seconds over parallel uploads to two storages', async () => {
    const limit = 8 * MiB;
    const performance = { bandwidth_limit: '8MiB/s', parallel_uploads: 4, chunk_size: '5MiB' };
    const [s3, local] = await Promise.all([open('s3', performance), open('local', performance)]);
    const object = patternBytes(4 * MiB, 7);
    const total = 6 * object.byteLength;
    const started = performance_now();
    await Promise.all([
      ...[0, 1, 2].map((i) => s3.put(`data/aa/limited-${i}`, object)),
      ...[0, 1, 2].map((i) => local.put(`data/aa/limited-${i}`, object)),
    ]);
    const seconds = (performance_now() - started) / 1000;
    const expected = total / limit;
    console.info(`[measure] bandwidth limit: ${total / MiB} MiB at ${limit / MiB} MiB/s took ${seconds.toFixed(2)} s (expected ${expected.toFixed(2)} s, ratio ${(seconds / expected).toFixed(3)})`);
    expect(seconds).toBeGreaterThanOrEqual(expected * 0.9);
    expect(seconds).toBeLessThanOrEqual(expected * 1.1);
    expect((await s3.stat('data/aa/limited-2'))?.size).toBe(object.byteLength);
    expect((await local.stat('data/aa/limited-2'))?.size).toBe(object.byteLength);
  });

  it('measures upload throughput of 16 MiB objects with parallel_uploads 4: MinIO on loopback vs local disk', async () => {
    const object = patternBytes(16 * MiB, 8);
    const count = 8;
    const results: Record<string, number> = {};
    for (const backend of ['local', 's3'] as const) {
      const storage = await open(backend, { parallel_uploads: 4 });
      const started = performance_now();
      await Promise.all(Array.from({ length: count }, (_, i) => storage.put(`data/bb/pack-${i}`, object)));
      const seconds = (performance_now() - started) / 1000;
      results[backend] = (count * object.byteLength) / MiB / seconds;
      for (let i = 0; i < count; i++) expect((await storage.stat(`data/bb/pack-${i}`))?.size).toBe(object.byteLength);
      for (let i = 0; i < count; i++) await storage.delete(`data/bb/pack-${i}`);
    }
    console.info(`[measure] upload throughput, ${count} x 16 MiB, parallel_uploads 4: local disk ${results.local?.toFixed(0)} MiB/s, MinIO (S3 SDK, loopback) ${results.s3?.toFixed(0)} MiB/s`);
  });
});

function performance_now(): number {
  return performance.now();
}
