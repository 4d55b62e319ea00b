// A restore runs as root into directories others may write in (a container's volume). Someone
// who can write there can swap a directory the restore has already made or checked for a
// symlink to anywhere, between that check and the files written below it. Nothing may then be
// written, removed or given metadata outside the target: every entry is reached from a
// descriptor of the target, no symlink followed (native/src/beneath.rs). Here the swap is made
// at the worst moment on purpose: after the directories are made, before the first file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import type { Core, ResticRestore } from '../../src/native/types.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { ResticBackend } from '../../src/formats/restic/backend.ts';
import { createResticBackup } from '../../src/formats/restic/create.ts';
import { coreRestoreFor, IncludeFilter, ResticRestoreSource } from '../../src/formats/restic/restore-source.ts';
import { findSnapshot, loadSnapshots } from '../../src/formats/restic/snapshots.ts';
import { Restorer } from '../../src/engine/restorer.ts';
import type { FileProblem } from '../../src/backup/types.ts';

const PASSWORD = Buffer.from('restore-beneath');
const settings = { compression: { kind: 'none' as const }, packSize: 4 * 1024 * 1024, threads: 2, uploads: 2 };
let work: string;
let data: string;
let core: Core;
let repo: ResticRepository;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-restore-beneath-'));
  core = await getCore();
  data = path.join(work, 'data');
  fs.mkdirSync(path.join(data, 'd', 'sub'), { recursive: true });
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(data, 'd', `f${i}`), `file ${i}\n`.repeat(100 * (i + 1)));
  fs.writeFileSync(path.join(data, 'd', 'sub', 'g'), 'below\n');
  fs.symlinkSync('f0', path.join(data, 'd', 'link'));
  fs.writeFileSync(path.join(data, 'top'), 'top\n');
  fs.chmodSync(path.join(data, 'd'), 0o755);
  repo = await ResticRepository.init(new LocalStorage({ root: path.join(work, 'repo') }), core, PASSWORD, { version: 2, scrypt: { N: 1024, r: 8, p: 1 } });
  await createResticBackup(repo, core, settings, { paths: [data] });
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/**
 * The core, but the first time the restore is about to write a file (the core's own batch, or
 * createFiles for the walk's files) `swap` runs first.
 */
function swappingCore(swap: () => void): Core {
  let swapped = false;
  const once = () => {
    if (!swapped) swap();
    swapped = true;
  };
  return new Proxy(core, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof value !== 'function') return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (key === 'createFiles') {
        return (...args: unknown[]) => {
          once();
          return fn(...args);
        };
      }
      if (key === 'decodeBlobs') {
        // With `files`, the call creates them itself.
        return (request: { files?: unknown[] }) => {
          if (request.files?.length) once();
          return fn(request);
        };
      }
      if (key === 'newResticRestore') {
        return (...args: unknown[]) => {
          const restore = fn(...args) as ResticRestore;
          return {
            ...restore,
            runBatch: (...batch: Parameters<ResticRestore['runBatch']>) => {
              once();
              return restore.runBatch(...batch);
            },
            planWindow: (...plan: Parameters<ResticRestore['planWindow']>) => {
              // Empty files are created while the window is planned.
              once();
              return restore.planWindow(...plan);
            },
          } satisfies ResticRestore;
        };
      }
      return fn;
    },
  });
}

function listing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

describe('a directory swapped for a symlink during a restore', () => {
  // The core's restore (local repository), and the walk's own file writes (with --recheck).
  for (const recheck of [false, true]) {
    it(`${recheck ? 'files written by the walk (--recheck)' : 'files written by the core'}: nothing is written, removed or changed outside the target`, async () => {
      const target = path.join(work, `target-${recheck ? 'walk' : 'core'}`);
      const outside = path.join(work, `outside-${recheck ? 'walk' : 'core'}`);
      fs.mkdirSync(outside);
      fs.chmodSync(outside, 0o700);
      // What the restore would overwrite, remove or chmod if it followed the symlink.
      fs.writeFileSync(path.join(outside, 'f0'), 'precious\n');
      fs.mkdirSync(path.join(outside, 'sub'));
      fs.writeFileSync(path.join(outside, 'sub', 'g'), 'precious too\n');
      const restoredDir = path.join(target, data, 'd');
      const before = { mode: fs.statSync(outside).mode, mtime: fs.statSync(outside).mtimeMs };
      const swap = () => {
        fs.renameSync(restoredDir, `${restoredDir}-moved`);
        fs.symlinkSync(outside, restoredDir);
      };
      const result = await ResticBackend.fromRepository(repo, swappingCore(swap), settings).restoreBackup('latest', { target, ...(recheck ? { recheck: true } : {}) });

      expect(listing(outside)).toEqual(['f0', 'sub']);
      expect(fs.readFileSync(path.join(outside, 'f0'), 'utf8')).toBe('precious\n');
      expect(fs.readFileSync(path.join(outside, 'sub', 'g'), 'utf8')).toBe('precious too\n');
      expect(fs.statSync(outside).mode).toBe(before.mode);
      expect(fs.statSync(outside).mtimeMs).toBe(before.mtime);
      // The swapped directory's entries are reported, not restored; the symlink stays as it was.
      expect(fs.readlinkSync(restoredDir)).toBe(outside);
      const problems = result.problems.map((p) => `${p.path}: ${p.error}`).join('\n');
      // (the walk may notice the symlink first: a directory whose files are still to come is
      // looked at again before they are handed to the core)
      for (const name of ['f0', 'f4']) expect(problems).toMatch(new RegExp(`d/${name}: .*(not a directory beneath the restore target|is not a directory)`));
      expect(problems).toMatch(/d\/sub\/g: .*not a directory beneath the restore target/);
      expect(problems).toMatch(/d: cannot set metadata: the directory restored here was replaced by something else/);
      // What lies outside the swapped directory is restored as usual.
      expect(fs.readFileSync(path.join(target, data, 'top'), 'utf8')).toBe('top\n');
    });
  }
});

describe('a restore root below the directory it is confined to', () => {
  // `backup copy` restores a ghostsnap backup's original layout below its target: the
  // directories between the two are made by the restore too, and one that is already a
  // symlink (someone placed it) is not followed.
  it('a symlink between them: nothing is written outside, and the entries are reported', async () => {
    const confine = path.join(work, 'confined');
    const outside = path.join(work, 'outside-confined');
    fs.mkdirSync(confine);
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(confine, 'layout'));
    const root = path.join(confine, 'layout', 'below');
    const { snapshots } = await loadSnapshots(repo);
    const snapshot = findSnapshot(snapshots, 'latest').snapshot;
    const index = await repo.index();
    const problems: FileProblem[] = [];
    const native = coreRestoreFor(repo, core, index, { root: confine });
    const source = new ResticRestoreSource(repo, core, index, snapshot.tree as string, root, new IncludeFilter([]), problems, native);
    await expect(new Restorer(core, source, { verifyOnly: false, root, confine }).run()).rejects.toThrow(/layout: not a directory beneath the restore target/);
    expect(listing(outside)).toEqual([]);
  });
});
