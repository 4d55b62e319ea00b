// The scanner behind the progress totals: counts what the backup will read, with the backup's
// excludes and read roots, hard-linked content once, nested targets once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cores } from '../../src/native/index.ts';
import type { Core } from '../../src/native/types.ts';
import { ExcludeMatcher } from '../../src/engine/exclude.ts';
import { scanTotals } from '../../src/engine/scanner.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-scanner-'));
const data = path.join(tmp, 'data');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

beforeAll(() => {
  fs.mkdirSync(path.join(data, 'a', 'deep', 'er'), { recursive: true });
  fs.mkdirSync(path.join(data, 'cache'), { recursive: true });
  fs.writeFileSync(path.join(data, 'one.txt'), 'x'.repeat(100));
  fs.writeFileSync(path.join(data, 'a', 'two.log'), 'y'.repeat(1000));
  fs.writeFileSync(path.join(data, 'a', 'deep', 'er', 'three.bin'), Buffer.alloc(5000, 1));
  fs.linkSync(path.join(data, 'a', 'deep', 'er', 'three.bin'), path.join(data, 'a', 'three-again.bin'));
  fs.writeFileSync(path.join(data, 'cache', 'skip.bin'), Buffer.alloc(7000));
  fs.symlinkSync('one.txt', path.join(data, 'link'));
});

const none = new ExcludeMatcher({ patterns: [], paths: [] });

describe.each(['native', 'portable'] as const)('scanTotals (%s core)', (kind) => {
  let core: Core;
  beforeAll(async () => {
    core = await cores[kind]();
  });

  it('counts regular files (each link) and their bytes (a linked inode once)', async () => {
    expect(await scanTotals(core, { targets: [data], exclude: none })).toEqual({ files: 5, bytes: 100 + 1000 + 5000 + 7000 });
  });

  it('leaves out what the excludes leave out', async () => {
    const exclude = new ExcludeMatcher({ patterns: ['*.log'], paths: [path.join(data, 'cache')] });
    expect(await scanTotals(core, { targets: [data], exclude })).toEqual({ files: 3, bytes: 100 + 5000 });
  });

  it('walks a target inside another target once, and takes single files as targets', async () => {
    const targets = [path.join(data, 'a'), data, path.join(data, 'a', 'deep'), path.join(data, 'one.txt')];
    expect(await scanTotals(core, { targets, exclude: none })).toEqual({ files: 5, bytes: 13100 });
    expect(await scanTotals(core, { targets: [path.join(data, 'one.txt'), path.join(data, 'missing')], exclude: none })).toEqual({ files: 1, bytes: 100 });
  });

  it('reads below a read root (a filesystem snapshot) what is recorded under the original path', async () => {
    const recorded = path.join(tmp, 'recorded');
    const exclude = new ExcludeMatcher({ patterns: [], paths: [path.join(recorded, 'cache')] });
    expect(await scanTotals(core, { targets: [recorded], exclude, readRoots: [{ from: recorded, to: data }] })).toEqual({ files: 4, bytes: 6100 });
  });

  it('stops when aborted', async () => {
    const stop = new AbortController();
    stop.abort();
    expect(await scanTotals(core, { targets: [data], exclude: none, signal: stop.signal })).toEqual({ files: 0, bytes: 0 });
  });
});
