// storage.secondary: local → MinIO and MinIO → Azure. A run interrupted half way leaves only whole,
// verified objects; a second run continues; mutable objects are compared by content; the check
// and the lag report see what is missing or different.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/backup/errors.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import { replicate, secondaryLag, verifySecondary } from '../../src/storage/replicate.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { backendFixture, listKeys, patternBytes, sha256, type BackendFixture, type BackendName } from './helpers.ts';

const MiB = 1024 * 1024;

/** A repository-shaped set of objects: what a backup leaves on the primary. */
function repositoryObjects(): Map<string, Buffer> {
  const objects = new Map<string, Buffer>();
  objects.set('config', patternBytes(180, 1));
  objects.set('keys/4f1c0a', patternBytes(460, 2));
  for (let i = 0; i < 16; i++) {
    const id = sha256(Buffer.from(`pack ${i}`));
    objects.set(`data/${id.slice(0, 2)}/${id}`, patternBytes(20_000 + i * 37_000, 10 + i));
  }
  objects.set('data/ff/ffbig', patternBytes(12 * MiB, 99));
  objects.set('index/main.idx', patternBytes(5000, 3));
  objects.set('index/aa11', patternBytes(3000, 4));
  objects.set('snapshots/bb22', patternBytes(700, 5));
  return objects;
}

/** A primary whose stream of `key` calls `trigger` after `afterBytes` bytes (an interruption mid-object). */
function interruptingReads(inner: Storage, key: string, afterBytes: number, trigger: () => void): Storage {
  return {
    get location() {
      return inner.location;
    },
    get kind() {
      return inner.kind;
    },
    list: (prefix) => inner.list(prefix),
    stat: (k) => inner.stat(k),
    get: (k, range) => inner.get(k, range),
    put: (k, body, options) => inner.put(k, body, options),
    delete: (k) => inner.delete(k),
    close: () => inner.close(),
    getStream: async (k) => {
      const stream = await inner.getStream(k);
      if (k !== key) return stream;
      return (async function* () {
        let seen = 0;
        for await (const chunk of stream) {
          seen += chunk.byteLength;
          if (seen > afterBytes) trigger();
          yield chunk;
        }
      })();
    },
  };
}

const pairs: [BackendName, BackendName][] = [
  ['local', 'minio'],
  ['s3', 'azure'],
];

describe.each(pairs)('replication %s → %s', (from, to) => {
  const fixtures: BackendFixture[] = [];
  let primary: Storage;
  let secondary: Storage;
  const objects = repositoryObjects();
  const replicated = [...objects.keys()];

  beforeAll(async () => {
    const performance = { chunk_size: '5MiB', parallel_uploads: 4 };
    const [p, s] = await Promise.all([backendFixture(from, { performance }), backendFixture(to, { performance })]);
    fixtures.push(p, s);
    primary = await openStorage(p.repository, p.config, { create: true });
    secondary = await openStorage(s.repository, s.config);
    await Promise.all([...objects].map(([key, bytes]) => primary.put(key, bytes)));
    await primary.put('locks/cc33', Buffer.from('a lock of a running backup'));
  });

  afterAll(async () => {
    await primary?.close();
    await secondary?.close();
    await Promise.all(fixtures.map((f) => f.cleanup()));
  });

  it('stops when interrupted, leaving only whole objects, and a second run continues', async () => {
    const abort = new AbortController();
    let done = 0;
    const first = await replicate(primary, secondary, {
      signal: abort.signal,
      concurrency: 2,
      onProgress: () => {
        if (++done === 8) abort.abort();
      },
    }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(BackupError);
    expect((first as BackupError).kind).toBe('Interrupted');

    const present = await listKeys(secondary, '');
    expect(present.length).toBeGreaterThanOrEqual(8);
    expect(present.length).toBeLessThan(replicated.length);
    for (const key of present) expect(sha256(await secondary.get(key))).toBe(sha256(objects.get(key) ?? Buffer.alloc(0)));
    // The order keeps the secondary a repository: nothing that refers to packs before the packs.
    expect(present).toContain('config');
    expect(present.filter((k) => k.startsWith('snapshots/'))).toEqual([]);

    const lag = await secondaryLag(primary, secondary);
    expect(lag.missingObjects).toBe(replicated.length - present.length);
    expect(lag.missingBytes).toBe(replicated.filter((k) => !present.includes(k)).reduce((n, k) => n + (objects.get(k)?.byteLength ?? 0), 0));
    expect(lag.newestMissingAgeMs).toBeGreaterThanOrEqual(0);
    expect(lag.oldestMissingAgeMs).toBeGreaterThanOrEqual(lag.newestMissingAgeMs ?? 0);
    expect((await verifySecondary(primary, secondary)).missing).toHaveLength(replicated.length - present.length);

    const second = await replicate(primary, secondary);
    expect(second.copied).toBe(replicated.length - present.length);
    expect(second.upToDate).toBe(present.length);
    expect(await listKeys(secondary, '')).toEqual([...replicated].sort());
    expect(await listKeys(secondary, 'locks/')).toEqual([]);
    const check = await verifySecondary(primary, secondary, { readData: true });
    expect(check).toMatchObject({ ok: true, checked: replicated.length, missing: [], sizeMismatch: [], contentMismatch: [] });
    expect(await secondaryLag(primary, secondary)).toEqual({ missingObjects: 0, missingBytes: 0, newestMissingAgeMs: undefined, oldestMissingAgeMs: undefined });
  });

  it('never leaves a partly copied large object when interrupted inside it', async () => {
    await secondary.delete('data/ff/ffbig');
    const abort = new AbortController();
    const source = interruptingReads(primary, 'data/ff/ffbig', 6 * MiB, () => abort.abort());
    await expect(replicate(source, secondary, { signal: abort.signal })).rejects.toMatchObject({ kind: 'Interrupted' });
    expect(await secondary.stat('data/ff/ffbig')).toBeNull();
    const resumed = await replicate(primary, secondary);
    expect(resumed).toMatchObject({ copied: 1, updated: 0, bytes: 12 * MiB });
    expect(sha256(await secondary.get('data/ff/ffbig'))).toBe(sha256(objects.get('data/ff/ffbig') ?? Buffer.alloc(0)));
  });

  it('updates mutable objects by content and copies new ones; the check finds damage', async () => {
    // Same size, other bytes: only a content comparison can tell.
    const newIndex = patternBytes(5000, 33);
    await primary.put('index/main.idx', newIndex);
    await primary.put('snapshots/dd44', patternBytes(900, 6));
    const result = await replicate(primary, secondary);
    expect(result).toMatchObject({ copied: 1, updated: 1 });
    expect(sha256(await secondary.get('index/main.idx'))).toBe(sha256(newIndex));

    const victim = [...objects.keys()].find((k) => k.startsWith('data/') && k !== 'data/ff/ffbig') ?? '';
    const original = objects.get(victim) ?? Buffer.alloc(0);
    const damaged = Buffer.from(original);
    const middle = damaged.length >> 1;
    damaged.writeUInt8((damaged.readUInt8(middle) ^ 0xff) & 0xff, middle);
    await secondary.put(victim, damaged);
    await secondary.delete('index/aa11');
    await secondary.put('snapshots/only-here', Buffer.from('x'));

    const quick = await verifySecondary(primary, secondary);
    expect(quick).toMatchObject({ ok: false, missing: ['index/aa11'], contentMismatch: [], extra: ['snapshots/only-here'] });
    const deep = await verifySecondary(primary, secondary, { readData: true });
    expect(deep).toMatchObject({ ok: false, missing: ['index/aa11'], contentMismatch: [victim] });
  });
});
