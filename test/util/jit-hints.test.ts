// keepOutOfTopTier: under Bun, a marked function is never compiled by JavaScriptCore's top tier
// (FTL) however hot it gets, while an identical unmarked one is; elsewhere it does nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { keepOutOfTopTier } from '../../src/util/jit-hints.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const bun = path.join(root, 'node_modules', '.bin', 'bun');

// Two functions with the same body, each run hot enough for the top tier; only `kept` is marked.
const script = (hints: string) => `
import { keepOutOfTopTier } from ${JSON.stringify(hints)};
function work(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i * 31) % 1000003; return s; }
const kept = new Function('return ' + work.toString().replace('work', 'keptWork'))();
const free = new Function('return ' + work.toString().replace('work', 'freeWork'))();
keepOutOfTopTier(kept);
let total = 0;
for (let round = 0; round < 20000; round++) total += kept(500) + free(500);
console.log('total', total);
`;

describe('keepOutOfTopTier', () => {
  test('under Bun, the marked function gets no FTL compilation while its unmarked twin does', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-jit-'));
    try {
      const file = path.join(dir, 'hot.mjs');
      fs.writeFileSync(file, script(path.join(root, 'src', 'util', 'jit-hints.ts')));
      const run = spawnSync(bun, [file], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, BUN_JSC_reportFTLCompileTimes: '1' } });
      expect(run.status, run.stderr).toBe(0);
      const out = run.stdout + run.stderr;
      expect(out).toMatch(/total \d+/);
      const ftl = out.split('\n').filter((line) => / using FTL /.test(line));
      expect(ftl.some((line) => line.includes('freeWork#'))).toBe(true);
      expect(ftl.some((line) => line.includes('keptWork#'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('on Node it is a no-op: the functions still run and are left as they were', () => {
    const f = (a: number) => a + 1;
    expect(() => keepOutOfTopTier(f)).not.toThrow();
    expect(f(1)).toBe(2);
    expect(Object.getOwnPropertyNames(f)).toEqual(Object.getOwnPropertyNames((a: number) => a + 1));
  });
});
