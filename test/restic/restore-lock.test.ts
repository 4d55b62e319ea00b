// A restore reads the snapshots and the index during its lock's re-check pause instead of after
// it, and uses them only once the lock is granted: a rival exclusive lock that appears in the
// pause makes the restore refuse, and nothing is restored.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import type { Core } from '../../src/native/types.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { ResticBackend } from '../../src/formats/restic/backend.ts';
import { createResticBackup } from '../../src/formats/restic/create.ts';
import { encodeLock } from '../../src/formats/restic/lock-json.ts';
import { goTimeNow } from '../../src/util/go-time.ts';

const PASSWORD = Buffer.from('restore-lock');
const settings = { compression: { kind: 'none' as const }, packSize: 4 * 1024 * 1024, threads: 2, uploads: 2 };
let work: string;
let core: Core;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-restore-lock-'));
  core = await getCore();
  const data = path.join(work, 'data');
  fs.mkdirSync(path.join(data, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(data, 'a.txt'), 'a\n');
  fs.writeFileSync(path.join(data, 'sub', 'b.txt'), 'b\n'.repeat(1000));
  const repo = await ResticRepository.init(new LocalStorage({ root: path.join(work, 'repo') }), core, PASSWORD, { version: 2 });
  await createResticBackup(repo, core, settings, { paths: [data] });
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Local storage recording, in order, the lock files written, lock listings and index reads. */
function recordingStorage(events: string[], onIndexRead?: () => Promise<void>): Storage {
  const inner = new LocalStorage({ root: path.join(work, 'repo') });
  return new Proxy(inner, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (key === 'list') {
        return (prefix: string) => {
          if (prefix.startsWith('locks')) events.push('list locks');
          return fn(prefix);
        };
      }
      if (key === 'put') {
        return (k: string, ...rest: unknown[]) => {
          if (k.startsWith('locks/')) events.push('write lock');
          return fn(k, ...rest);
        };
      }
      if (key === 'get') {
        return async (k: string, ...rest: unknown[]) => {
          if (k.startsWith('index/')) {
            events.push('read index');
            await onIndexRead?.();
          }
          return fn(k, ...rest);
        };
      }
      return fn;
    },
  });
}

describe('restore and its lock', () => {
  it('reads the index during the re-check pause and restores once the lock is granted', async () => {
    const events: string[] = [];
    const repo = await ResticRepository.open(recordingStorage(events), core, PASSWORD);
    const target = path.join(work, 'restored');
    const result = await ResticBackend.fromRepository(repo, core, settings).restoreBackup('latest', { target });
    expect(result.problems).toEqual([]);
    const written = events.indexOf('write lock');
    expect(written).toBeGreaterThanOrEqual(0);
    const recheck = events.indexOf('list locks', written);
    const indexRead = events.indexOf('read index', written);
    expect(indexRead).toBeGreaterThan(written);
    expect(indexRead).toBeLessThan(recheck);
    const restored = fs.readdirSync(target, { recursive: true }).map(String).find((f) => f.endsWith('b.txt'));
    expect(fs.readFileSync(path.join(target, restored as string), 'utf8')).toBe('b\n'.repeat(1000));
  });

  it('refuses when a rival exclusive lock appears during the pause, and restores nothing', async () => {
    const events: string[] = [];
    let rival: string | undefined;
    let repo: ResticRepository | undefined;
    repo = await ResticRepository.open(
      recordingStorage(events, async () => {
        if (rival || !repo) return;
        rival = await repo.writeUnpacked('locks', encodeLock({ time: goTimeNow(), exclusive: true, hostname: os.hostname(), username: 'rival', pid: process.pid }));
      }),
      core,
      PASSWORD,
    );
    const target = path.join(work, 'refused');
    try {
      await expect(ResticBackend.fromRepository(repo, core, settings).restoreBackup('latest', { target })).rejects.toThrow(/locked/);
      expect(rival).toBeDefined();
      expect(fs.existsSync(target) ? fs.readdirSync(target) : []).toEqual([]);
    } finally {
      if (rival) await repo.removeFile('locks', rival);
    }
  });
});
