// The building blocks under the backends: body splitting, the token bucket, the upload slots,
// the retry loop, and connection-string parsing.
import { describe, expect, it } from 'vitest';
import { bodyParts, bodySize, PartBufferPool, throttledPieces } from '../../src/storage/body.ts';
import { parseAzureConnectionString } from '../../src/storage/azure-connection-string.ts';
import { BoundedStorage } from '../../src/storage/bounded-storage.ts';
import { StorageRequestError, type FailureClass, type StorageTarget } from '../../src/storage/errors.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { Retrier, type RetryNotice } from '../../src/storage/retry.ts';
import { Semaphore } from '../../src/util/semaphore.ts';
import { TokenBucket } from '../../src/storage/token-bucket.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

async function collect(parts: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const part of parts) out.push(Buffer.from(part));
  return out;
}

describe('bodyParts', () => {
  it('cuts buffers, buffer lists and streams into parts of the given size', async () => {
    const bytes = Buffer.from(Array.from({ length: 25 }, (_, i) => i));
    const expected = [bytes.subarray(0, 10), bytes.subarray(10, 20), bytes.subarray(20)];
    expect(await collect(bodyParts(bytes, 10, 'k'))).toEqual(expected);
    expect(await collect(bodyParts([bytes.subarray(0, 3), bytes.subarray(3, 17), bytes.subarray(17)], 10, 'k'))).toEqual(expected);
    const stream = (async function* () {
      for (let i = 0; i < 25; i += 4) yield bytes.subarray(i, i + 4);
    })();
    expect(await collect(bodyParts({ stream, size: 25 }, 10, 'k'))).toEqual(expected);
    expect(bodySize([bytes, bytes])).toBe(50);
    expect(await collect(bodyParts(Buffer.alloc(0), 10, 'k'))).toEqual([Buffer.alloc(0)]);
  });

  it('does not read a stream ahead of the part being consumed', async () => {
    let produced = 0;
    const stream = (async function* () {
      for (let i = 0; i < 10; i++) {
        produced += 5;
        yield Buffer.alloc(5);
      }
    })();
    const parts = bodyParts({ stream, size: 50 }, 10, 'k');
    await parts.next();
    expect(produced).toBe(10);
    await parts.next();
    expect(produced).toBe(20);
    await parts.return(undefined);
  });

  it('fails before handing out the last part when the stream is longer than declared', async () => {
    const stream = (async function* () {
      yield Buffer.alloc(10);
      yield Buffer.alloc(1);
    })();
    const parts = bodyParts({ stream, size: 10 }, 100, 'k');
    await expect(parts.next()).rejects.toThrow(/more bytes than its declared size/);
  });
});

describe('bodyParts from a file', () => {
  it('reads a file body straight into parts, and refuses a file shorter or longer than declared', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-body-'));
    try {
      const file = path.join(dir, 'pack');
      const bytes = Buffer.from(Array.from({ length: 25 }, (_, i) => i));
      await writeFile(file, bytes);
      expect(await collect(bodyParts({ file, size: 25 }, 10, 'k'))).toEqual([bytes.subarray(0, 10), bytes.subarray(10, 20), bytes.subarray(20)]);
      await expect(collect(bodyParts({ file, size: 30 }, 10, 'k'))).rejects.toThrow(/fewer bytes than its declared size/);
      await expect(collect(bodyParts({ file, size: 20 }, 10, 'k'))).rejects.toThrow(/more bytes than its declared size/);
      const empty = path.join(dir, 'empty');
      await writeFile(empty, '');
      expect(await collect(bodyParts({ file: empty, size: 0 }, 10, 'k'))).toEqual([Buffer.alloc(0)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('with a pool, each part buffer is reused once the part is consumed', async () => {
    const pool = new PartBufferPool(10, 2);
    const stream = (async function* () {
      for (let i = 0; i < 40; i += 5) yield Buffer.alloc(5, i);
    })();
    const seen = new Set<ArrayBufferLike>();
    const contents: Buffer[] = [];
    for await (const part of bodyParts({ stream, size: 40 }, 10, 'k', pool)) {
      seen.add(part.buffer);
      contents.push(Buffer.from(part));
    }
    // Four parts, one buffer: the next part is filled only after the previous was consumed.
    expect(contents.map((c) => [c[0], c[9]])).toEqual([[0, 5], [10, 15], [20, 25], [30, 35]]);
    expect(seen.size).toBe(1);
    // An early stop hands the part back too.
    const parts = bodyParts({ stream: (async function* () { yield Buffer.alloc(30); })(), size: 30 }, 10, 'k', pool);
    const first = await parts.next();
    await parts.return(undefined);
    expect(seen.has((first.value as Buffer).buffer)).toBe(true);
  });
});

describe('TokenBucket', () => {
  it('paces takes to the rate after a small burst', async () => {
    const bucket = new TokenBucket(1024 * 1024);
    const started = performance.now();
    for (let i = 0; i < 8; i++) await bucket.take(64 * 1024);
    const seconds = (performance.now() - started) / 1000;
    // 512 KiB at 1 MiB/s, less the 1/20 s burst.
    expect(seconds).toBeGreaterThan(0.4);
    expect(seconds).toBeLessThan(0.6);
  });

  it('cuts parts into slices of about 50 ms of traffic', async () => {
    const bucket = new TokenBucket(200 * 1024);
    const pieces = await collect(throttledPieces(Buffer.alloc(30 * 1024), bucket));
    expect(pieces.map((p) => p.byteLength)).toEqual([10240, 10240, 10240]);
    expect(await collect(throttledPieces(Buffer.alloc(5), undefined))).toHaveLength(1);
  });
});

describe('Semaphore and BoundedStorage', () => {
  it('runs at most N puts at once and queues the rest in order', async () => {
    const slots = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        slots.run(async () => {
          running++;
          peak = Math.max(peak, running);
          order.push(i);
          await new Promise((r) => setTimeout(r, 10));
          running--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('does not start reading a waiting put\'s stream body', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bolt-bounded-'));
    try {
      const storage = new BoundedStorage(new LocalStorage({ root: dir, uploadBucket: undefined }), 1);
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => (release = r));
      const started: number[] = [];
      const body = (i: number) => ({
        size: 3,
        stream: (async function* () {
          started.push(i);
          if (i === 0) await gate;
          yield Buffer.from('abc');
        })(),
      });
      const puts = [0, 1, 2].map((i) => storage.put(`k${i}`, body(i)));
      await new Promise((r) => setTimeout(r, 50));
      expect(started).toEqual([0]);
      expect(storage.uploads).toEqual({ running: 1, waiting: 2 });
      release();
      await Promise.all(puts);
      expect(started).toEqual([0, 1, 2]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Retrier', () => {
  const target: StorageTarget = { kind: 's3', endpoint: 'http://example.invalid', container: 'b' };
  const failure = (f: FailureClass) => new StorageRequestError(target, 'put', 'k', { failure: f, reason: f });
  const translate = (err: unknown) => (err instanceof StorageRequestError ? err : failure('fatal'));

  it('retries transient failures with growing, jittered delays', async () => {
    const notices: RetryNotice[] = [];
    const retrier = new Retrier({ retries: 3, baseDelayMs: 10, maxDelayMs: 1000 }, (n) => notices.push(n));
    let calls = 0;
    const value = await retrier.run('put', 'k', async () => {
      if (++calls < 3) throw failure(calls === 1 ? 'transient' : 'unreachable');
      return 'done';
    }, translate);
    expect(value).toBe('done');
    expect(notices.map((n) => n.retry)).toEqual([1, 2]);
    expect(notices[0]?.delayMs).toBeGreaterThanOrEqual(5);
    expect(notices[0]?.delayMs).toBeLessThanOrEqual(10);
    expect(notices[1]?.delayMs).toBeGreaterThanOrEqual(10);
    expect(notices[1]?.delayMs).toBeLessThanOrEqual(20);
    for (let n = 1; n <= 20; n++) expect(retrier.delayFor(n)).toBeLessThanOrEqual(1000);
  });

  it('does not retry authentication, not-found or precondition failures', async () => {
    const retrier = new Retrier({ retries: 5, baseDelayMs: 1, maxDelayMs: 1 });
    for (const f of ['auth', 'not-found', 'precondition', 'missing-container', 'tls', 'fatal'] as const) {
      let calls = 0;
      const err = await retrier.run('put', 'k', async () => {
        calls++;
        throw failure(f);
      }, translate).catch((e: StorageRequestError) => e);
      expect(calls).toBe(1);
      expect(err.details.attempts).toBe(1);
    }
  });

  it('gives up after the configured retries and says how many attempts it made', async () => {
    const retrier = new Retrier({ retries: 2, baseDelayMs: 1, maxDelayMs: 2 });
    let calls = 0;
    const err = await retrier.run('get', 'k', async () => {
      calls++;
      throw failure('transient');
    }, translate).catch((e: StorageRequestError) => e);
    expect(calls).toBe(3);
    expect(err.details.attempts).toBe(3);
    expect(err.kind).toBe('StorageError');
  });
});

describe('Azure connection strings', () => {
  it('reads account, key, endpoint and SAS forms', () => {
    expect(parseAzureConnectionString('DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net')).toEqual({
      blobEndpoint: 'https://acct.blob.core.windows.net',
      accountName: 'acct',
      accountKey: 'a2V5',
    });
    expect(parseAzureConnectionString('BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;SharedAccessSignature=sv=2020&sig=x')).toEqual({
      blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
      sas: 'sv=2020&sig=x',
    });
    expect(parseAzureConnectionString('UseDevelopmentStorage=true')).toMatchObject({ accountName: 'devstoreaccount1', blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1' });
    expect(() => parseAzureConnectionString('AccountName=acct')).toThrow(/AccountKey/);
    expect(() => parseAzureConnectionString('nonsense')).toThrow(/AccountName/);
  });
});
