// Backpressure: 300 MiB of stream bodies handed to put() all at once, through a proxy that lets
// only 20 MiB/s reach MinIO. Only parallel_uploads puts run; the rest wait without reading their
// bodies, and running puts read theirs only as fast as the remote takes them, so the process's
// memory stays far below the data in flight.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BoundedStorage } from '../../src/storage/bounded-storage.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { FaultProxy } from '../setup/fault-proxy.ts';
import { backendFixture, patternBytes, testServers, type BackendFixture } from './helpers.ts';

const MiB = 1024 * 1024;
let proxy: FaultProxy;
let fixture: BackendFixture;
let storage: Storage;

beforeAll(async () => {
  const servers = testServers();
  proxy = await FaultProxy.start({ host: servers.s3.host, port: servers.s3.port }, { uploadRate: 20 * MiB });
  fixture = await backendFixture('s3', { endpoint: proxy.endpoint, performance: { parallel_uploads: 4, chunk_size: '5MiB' } });
  storage = await openStorage(fixture.repository, fixture.config);
});

afterAll(async () => {
  await storage?.close();
  await proxy?.close();
  await fixture?.cleanup();
});

it('keeps memory bounded while 300 MiB go through a throttled link with parallel_uploads 4', async () => {
  const objects = 30;
  const size = 10 * MiB;
  const piece = patternBytes(256 * 1024, 9);
  let reading = 0;
  let maxReading = 0;
  const body = (i: number) => ({
    size,
    stream: (async function* () {
      reading++;
      maxReading = Math.max(maxReading, reading);
      try {
        for (let offset = 0; offset < size; offset += piece.byteLength) {
          // A fresh buffer per piece, as a real producer (packer, file reader) would make.
          const out = Buffer.allocUnsafe(piece.byteLength);
          piece.copy(out);
          out.writeUInt32LE(i, 0);
          yield out;
        }
      } finally {
        reading--;
      }
    })(),
  });

  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  let maxWaiting = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
    maxWaiting = Math.max(maxWaiting, (storage as BoundedStorage).uploads.waiting);
  }, 20);
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: objects }, (_, i) => storage.put(`data/ee/pack-${String(i).padStart(2, '0')}`, body(i))));
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - started) / 1000;
  const total = objects * size;
  const growth = (peak - baseline) / MiB;
  console.info(
    `[measure] backpressure: ${total / MiB} MiB through a 20 MiB/s proxy in ${seconds.toFixed(1)} s ` +
      `(${(total / MiB / seconds).toFixed(1)} MiB/s), peak RSS ${(peak / MiB).toFixed(0)} MiB, ` +
      `growth over baseline ${growth.toFixed(0)} MiB, at most ${maxReading} bodies read at once`,
  );

  // The link really was the bottleneck: the test measured a slow remote, not a fast one.
  expect(seconds).toBeGreaterThan((total / (20 * MiB)) * 0.9);
  expect(maxReading).toBeLessThanOrEqual(4);
  expect(maxWaiting).toBeGreaterThanOrEqual(objects - 4 - 1);
  // Four uploads hold one 5 MiB part each (20 MiB); V8 frees large buffers lazily, so up to about
  // 64 MiB of garbage comes on top (measured: ~100 MiB). Unbounded buffering would need 300 MiB.
  expect(growth).toBeLessThan(150);
  for (let i = 0; i < objects; i += 7) expect((await storage.stat(`data/ee/pack-${String(i).padStart(2, '0')}`))?.size).toBe(size);
  await Promise.all(Array.from({ length: objects }, (_, i) => storage.delete(`data/ee/pack-${String(i).padStart(2, '0')}`)));
}, 90_000);
