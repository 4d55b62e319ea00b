// A backup walks its paths a second time to learn totals (files, bytes) for an ETA, but only for
// a progress sink that shows them: the daemon's log lines do not, so they do not pay for it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import type { Core } from '../../src/native/types.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { createResticBackup } from '../../src/formats/restic/create.ts';
import type { ProgressSink, ProgressState } from '../../src/observe/progress.ts';

const PASSWORD = Buffer.from('totals');
let work: string;
let data: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-totals-'));
  data = path.join(work, 'data');
  for (let d = 0; d < 6; d++) {
    fs.mkdirSync(path.join(data, `dir${d}`, 'sub'), { recursive: true });
    for (let f = 0; f < 5; f++) fs.writeFileSync(path.join(data, `dir${d}`, 'sub', `f${f}`), `file ${d}/${f}\n`);
  }
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** The core, counting how often each directory is listed. */
function countingCore(core: Core, listed: Map<string, number>): Core {
  return new Proxy(core, {
    get(target, key) {
      if (key === 'readDirs') {
        return (paths: (string | Buffer)[], options: unknown) => {
          for (const p of paths) listed.set(p.toString(), (listed.get(p.toString()) ?? 0) + 1);
          return (target.readDirs as (p: unknown, o: unknown) => unknown)(paths, options);
        };
      }
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function backup(name: string, progress: ProgressSink): Promise<{ listed: Map<string, number>; states: ProgressState[] }> {
  const listed = new Map<string, number>();
  const core = countingCore(await getCore(), listed);
  const repo = await ResticRepository.init(new LocalStorage({ root: path.join(work, name), uploadBucket: undefined }), core, PASSWORD, { scrypt: { N: 1024, r: 8, p: 1 } });
  const states: ProgressState[] = [];
  const sink: ProgressSink = { ...progress, update: (s) => (states.push(s), progress.update(s)) };
  await createResticBackup(repo, core, { compression: { kind: 'none' }, packSize: 4 * 1024 * 1024, threads: 2, uploads: 2 }, { paths: [data], progress: sink });
  return { listed, states };
}

describe('totals for the progress display', () => {
  it('a sink that shows totals gets them, at the cost of listing the paths twice', async () => {
    const { listed, states } = await backup('shown', { update() {}, done() {} });
    expect(listed.get(path.join(data, 'dir0', 'sub'))).toBeGreaterThanOrEqual(1);
    // the scanner lists the backup's root at once, beside the walk
    expect(listed.get(data)).toBe(2);
    expect(states.length).toBeGreaterThan(0);
  });

  it('a sink that never shows them (wantsTotals: false) gets every directory listed once', async () => {
    const { listed, states } = await backup('log-only', { wantsTotals: false, update() {}, done() {} });
    expect(listed.size).toBe(1 + 6 * 2);
    expect([...listed.values()].every((n) => n === 1)).toBe(true);
    expect(states.every((s) => s.files_total === undefined && s.bytes_total === undefined)).toBe(true);
  });
});
