// The whole tree type-checks in strict mode (the build emits JavaScript even when it does not).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from './helpers/cli.ts';

it('tsc --noEmit passes', () => {
  const r = spawnSync(path.join(repoRoot, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', 'tsconfig.json'], { cwd: repoRoot, encoding: 'utf8' });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
}, 180_000);
