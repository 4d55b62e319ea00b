// A backup starts reading, chunking and packing during its lock's re-check pause, before it knows
// it holds the lock: packs finished then wait in the spool and reach the repository only once the
// lock is granted; if it is not, they are deleted and the repository is as before.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import type { Core } from '../../src/native/types.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { createResticBackup } from '../../src/formats/restic/create.ts';
import { Packer } from '../../src/formats/restic/packer.ts';
import { checkResticRepository } from '../../src/formats/restic/check.ts';
import { encodeLock } from '../../src/formats/restic/lock-json.ts';
import { goTimeNow } from '../../src/util/go-time.ts';

const PASSWORD = Buffer.from('create-lock');
const FILES = 12;
// Packs of 1 MiB and enough upload slots that the packs held during the pause do not stall the
// walk before the test has seen several of them finished.
const settings = { compression: { kind: 'none' as const }, packSize: 1024 * 1024, threads: 2, uploads: 8 };
let work: string;
let data: string;
let core: Core;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-create-lock-'));
  core = await getCore();
  data = path.join(work, 'data');
  fs.mkdirSync(data);
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(data, `f${i}.bin`), crypto.randomBytes(1024 * 1024 + 1000 * i));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface Recorder {
  events: string[];
  /** Files the core has read and chunked so far. */
  filesRead: number;
}

/** The core, recording when it has read files. */
function readingCore(recorder: Recorder): Core {
  return new Proxy(core, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (key !== 'processFiles') return fn;
      return async (...args: unknown[]) => {
        const results = (await fn(...args)) as unknown[];
        recorder.filesRead += results.length;
        recorder.events.push('read files');
        return results;
      };
    },
  });
}

/**
 * Local storage recording lock writes, lock listings and stored packs and index files. The
 * second listing of locks (the re-check after the pause) waits until `FILES / 3` files are read,
 * then runs `beforeRecheck`.
 */
function recordingStorage(root: string, recorder: Recorder, beforeRecheck: () => Promise<void> = async () => {}): Storage {
  const inner = new LocalStorage({ root });
  let listings = 0;
  const stored = (key: string) => {
    if (key.startsWith('data/') || key.startsWith('index/') || key.startsWith('snapshots/')) recorder.events.push(`store ${key.split('/')[0]}`);
    if (key.startsWith('locks/')) recorder.events.push('write lock');
  };
  return new Proxy(inner, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (key === 'list') {
        return async function* (prefix: string) {
          if (prefix.startsWith('locks')) {
            listings += 1;
            if (listings === 2) {
              const deadline = Date.now() + 20_000;
              while (recorder.filesRead < FILES / 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
              await beforeRecheck();
            }
            recorder.events.push('list locks');
          }
          yield* fn(prefix) as AsyncIterable<unknown>;
        };
      }
      if (key === 'put' || key === 'adoptFile') {
        return (...args: unknown[]) => {
          stored(String(key === 'put' ? args[0] : args[1]));
          return fn(...args);
        };
      }
      return fn;
    },
  });
}

function files(root: string, dir: string): string[] {
  const at = path.join(root, dir);
  return fs.existsSync(at) ? fs.readdirSync(at, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort() : [];
}

describe('a backup during its lock pause', () => {
  it('reads and packs while the lock is confirmed, and stores packs only once it is granted', async () => {
    const root = path.join(work, 'granted');
    await ResticRepository.init(new LocalStorage({ root }), core, PASSWORD, { version: 2 });
    const recorder: Recorder = { events: [], filesRead: 0 };
    const repo = await ResticRepository.open(recordingStorage(root, recorder), readingCore(recorder), PASSWORD);
    const result = await createResticBackup(repo, readingCore(recorder), settings, { paths: [data] });
    expect(result.problems).toEqual([]);
    expect(result.summary.files_new).toBe(FILES);

    const { events } = recorder;
    const written = events.indexOf('write lock');
    const recheck = events.indexOf('list locks', events.indexOf('list locks') + 1);
    expect(written).toBeGreaterThanOrEqual(0);
    expect(recheck).toBeGreaterThan(written);
    // Files were read between our lock file and the re-check, enough for several packs...
    const readInPause = events.slice(written, recheck).filter((e) => e === 'read files').length;
    expect(readInPause).toBeGreaterThan(0);
    expect(recorder.filesRead).toBe(FILES);
    // ...and nothing was stored before the re-check.
    expect(events.slice(0, recheck).filter((e) => e.startsWith('store'))).toEqual([]);
    expect(events.slice(recheck).filter((e) => e === 'store data').length).toBeGreaterThanOrEqual(4);

    const report = await checkResticRepository(await ResticRepository.open(new LocalStorage({ root }), core, PASSWORD), core, { readData: true });
    expect(report.errors).toEqual([]);
    expect(files(root, '.tmp').filter((f) => f.startsWith('pack-'))).toEqual([]);
  });

  it('deletes the packs it spooled when the lock is not granted, and stores nothing', async () => {
    const root = path.join(work, 'refused');
    await ResticRepository.init(new LocalStorage({ root }), core, PASSWORD, { version: 2 });
    const before = { data: files(root, 'data'), index: files(root, 'index'), snapshots: files(root, 'snapshots') };
    const recorder: Recorder = { events: [], filesRead: 0 };
    let rival: string | undefined;
    const plain = await ResticRepository.open(new LocalStorage({ root }), core, PASSWORD);
    const repo = await ResticRepository.open(
      recordingStorage(root, recorder, async () => {
        rival = await plain.writeUnpacked('locks', encodeLock({ time: goTimeNow(), exclusive: true, hostname: os.hostname(), username: 'rival', pid: process.pid }));
      }),
      readingCore(recorder),
      PASSWORD,
    );
    try {
      await expect(createResticBackup(repo, readingCore(recorder), settings, { paths: [data] })).rejects.toThrow(/locked/);
      expect(recorder.filesRead).toBeGreaterThanOrEqual(FILES / 3);
      expect(recorder.events.filter((e) => e.startsWith('store'))).toEqual([]);
      expect({ data: files(root, 'data'), index: files(root, 'index'), snapshots: files(root, 'snapshots') }).toEqual(before);
      expect(files(root, '.tmp')).toEqual([]);
      expect(files(root, 'locks')).toEqual([rival]);
    } finally {
      if (rival) await plain.removeFile('locks', rival);
    }
  });
});

describe('packs held until a gate opens', () => {
  const kinds = {
    // Packs built in JavaScript through spool files (the portable core's way).
    spool: (repo: ResticRepository) => repo.index().then((index) => new Packer(repo, index, 64, 4)),
    // Packs the core's pack writer assembles.
    'core writer': (repo: ResticRepository) => repo.index().then((index) => Packer.open(repo, index, 64, 4)),
  };

  async function packerWithBlobs(kind: keyof typeof kinds, name: string, gate: Promise<void>) {
    const root = path.join(work, `held-${kind.replace(' ', '-')}-${name}`);
    const repo = await ResticRepository.init(new LocalStorage({ root }), core, PASSWORD, { version: 2 });
    const packer = await kinds[kind](repo);
    packer.holdStoresUntil(gate);
    // Packs of 64 bytes: each blob closes one, and three fit in the four upload slots.
    for (let i = 0; i < 3; i++) {
      const content = Buffer.from(`held blob ${i} `.repeat(8));
      await packer.addDataBlobs([{ chunkIndex: 0, id: core.hash('sha256', content), rawLength: content.length, compressed: false, data: core.seal(repo.seal, content) }]);
    }
    await new Promise((r) => setTimeout(r, 100));
    return { root, packer };
  }

  it('core writer: abandoning right after a refusal waits for the collections still holding packs', async () => {
    const root = path.join(work, 'held-abandon');
    const repo = await ResticRepository.init(new LocalStorage({ root }), core, PASSWORD, { version: 2 });
    // One upload slot: the first pack's upload waits for the gate, and every later pack waits
    // for the slot, or, taken by a collection with the first, for the first to be published.
    const packer = await Packer.open(repo, await repo.index(), 64, 1);
    let refuse: (e: Error) => void = () => {};
    packer.holdStoresUntil(new Promise<void>((_, reject) => (refuse = reject)));
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      const content = Buffer.from(`abandoned blob ${i} `.repeat(8));
      pending.push(packer.addDataBlobs([{ chunkIndex: 0, id: core.hash('sha256', content), rawLength: content.length, compressed: false, data: core.seal(repo.seal, content) }]).catch((e: unknown) => e));
    }
    pending.push(packer.flushPacks().catch((e: unknown) => e));
    // Every pack synced and taken: the spool holds all six, nothing is stored.
    for (let waited = 0; files(root, '.tmp').length < 6 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    expect(files(root, '.tmp').filter((f) => f.startsWith('pack-'))).toHaveLength(6);
    refuse(new Error('not granted'));
    await packer.abandon();
    expect(files(root, '.tmp')).toEqual([]);
    expect(files(root, 'data')).toEqual([]);
    const outcomes = await Promise.all(pending);
    expect(outcomes.some((o) => o instanceof Error && o.message === 'not granted')).toBe(true);
  });

  for (const kind of Object.keys(kinds) as (keyof typeof kinds)[]) {
    it(`${kind}: finished packs wait in the spool, and are stored and indexed once it opens`, async () => {
      let open = () => {};
      const { root, packer } = await packerWithBlobs(kind, 'open', new Promise<void>((resolve) => (open = resolve)));
      // Each pack sits in the spool (the core writer's last may still be open).
      expect(files(root, '.tmp').length).toBeGreaterThanOrEqual(3);
      expect(files(root, 'data')).toEqual([]);
      expect(files(root, 'index')).toEqual([]);
      open();
      await packer.flush();
      expect(files(root, 'data')).toHaveLength(3);
      expect(files(root, 'index')).toHaveLength(1);
      const report = await checkResticRepository(await ResticRepository.open(new LocalStorage({ root }), core, PASSWORD), core, { readData: true });
      expect(report.errors).toEqual([]);
    });

    it(`${kind}: when it fails, the spooled packs are deleted and the failure surfaces`, async () => {
      let fail: (e: Error) => void = () => {};
      const { root, packer } = await packerWithBlobs(kind, 'fail', new Promise<void>((_, reject) => (fail = reject)));
      fail(new Error('not granted'));
      await expect(packer.flush()).rejects.toThrow('not granted');
      await packer.abandon();
      expect(files(root, 'data')).toEqual([]);
      expect(files(root, 'index')).toEqual([]);
      expect(files(root, '.tmp')).toEqual([]);
    });
  }
});
