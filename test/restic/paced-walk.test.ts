// A backup on Bun paces full collections by the entries it handles. Entries settled without a
// read (a changed directory's unchanged files, entries kept from the compared tree) count too:
// once their directory is finished its listing and the previous tree are garbage, and a run
// through one large changed directory must not carry them to the next timed collection.
// Here a stand-in for Bun.gc records the collections (this file runs in its own process).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { getCore } from '../../src/native/index.ts';
import type { Core } from '../../src/native/types.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { createResticBackup } from '../../src/formats/restic/create.ts';
import { ComparedParentDir } from '../../src/formats/restic/archive-format.ts';

type Holder = { Bun?: { gc?: (force: boolean) => void } };
const holder = globalThis as Holder;

let work: string;
let data: string;
let core: Core;
let repo: ResticRepository;
// An entry settled without a read counts for half of one read: 4200 bring one collection.
const FILES = 4200;

async function backup(): Promise<void> {
  await createResticBackup(repo, core, { compression: { kind: 'none' }, packSize: 4 * 1024 * 1024, threads: 2, uploads: 2 }, { paths: [data] });
}

/** One backup after a change to one file of the large directory: what happened, in order. */
async function eventsOfChangedRun(dirCompare: '0' | '1', change: string): Promise<string[]> {
  const events: string[] = [];
  const saved = { compare: process.env.BOLT_DIR_COMPARE, interval: process.env.BOLT_GC_INTERVAL_MS };
  process.env.BOLT_DIR_COMPARE = dirCompare;
  // No timed collection during the test: only the first one and those entries bring.
  process.env.BOLT_GC_INTERVAL_MS = '600000';
  fs.appendFileSync(path.join(data, 'big', change), 'changed\n');
  const originalKept = ComparedParentDir.prototype.kept;
  const kept = vi.spyOn(ComparedParentDir.prototype, 'kept').mockImplementation(function (this: ComparedParentDir, mask: Uint8Array) {
    events.push('kept');
    return originalKept.call(this, mask);
  });
  holder.Bun = { gc: () => events.push('gc') };
  try {
    await backup();
  } finally {
    delete holder.Bun;
    kept.mockRestore();
    for (const [key, value] of [['BOLT_DIR_COMPARE', saved.compare], ['BOLT_GC_INTERVAL_MS', saved.interval]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  return events;
}
beforeAll(async () => {
  core = await getCore();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-paced-'));
  data = path.join(work, 'data');
  fs.mkdirSync(path.join(data, 'big'), { recursive: true });
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(data, 'big', `f${String(i).padStart(4, '0')}`), `file ${i}\n`);
  repo = await ResticRepository.init(new LocalStorage({ root: path.join(work, 'repo'), uploadBucket: undefined }), core, Buffer.from('paced'), {
    scrypt: { N: 1024, r: 8, p: 1 },
  });
  await backup();
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('full collections paced by entries settled without a read', () => {
  it('a changed directory built from the comparison: one collection after its tree is written, for the entries it kept', async () => {
    const events = await eventsOfChangedRun('1', 'f0010');
    // two before the walk (after the index is read, and as the paced run starts), the
    // directory's kept entries, the one they bring
    expect(events).toEqual(['gc', 'gc', 'kept', 'gc']);
  });

  it('a changed directory the JavaScript walk rebuilds: its unchanged files bring one too', async () => {
    const events = await eventsOfChangedRun('0', 'f0020');
    expect(events.filter((e) => e === 'kept')).toEqual([]);
    expect(events).toEqual(['gc', 'gc', 'gc']);
  });
});
