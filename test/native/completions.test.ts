// The core settles every job's promise through one threadsafe function per JavaScript thread
// (native/src/pool.rs), which keeps the event loop alive only while jobs are pending. Checked in
// a child process under each runtime the agent runs on: the exit behaviour is the runtime's.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const addon = join(repoRoot, 'native', 'bolt-native.node');
const tmp = tempDir('completions');
afterAll(() => tmp.remove());

const RUNTIMES: [string, string[]][] = [
  ['node', [process.execPath]],
  ['bun', [join(repoRoot, 'node_modules', '.bin', 'bun')]],
  ['deno', [join(repoRoot, 'node_modules', '.bin', 'deno'), 'run', '--allow-read', '--allow-ffi', '--allow-env']],
];

function run(runtime: string[], script: string): { code: number | null; stdout: string; stderr: string } {
  const file = join(tmp.dir, `script-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  const [cmd, ...args] = runtime as [string, ...string[]];
  const result = spawnSync(cmd, [...args, file], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const load = `import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
const raw = createRequire(import.meta.url)(${JSON.stringify(addon)});
`;

describe.each(RUNTIMES)('core job completions under %s', (_name, runtime) => {
  it('settles thousands of jobs in flight at once, each with its own value or error', () => {
    const { code, stdout, stderr } = run(
      runtime,
      `${load}
const inputs = Array.from({ length: 3000 }, (_, i) => Buffer.from('input ' + i));
const results = await Promise.all(inputs.map((b, i) => i % 3 === 2
  ? raw.decompressAsync('zstd', b, 10, null).then(() => 'resolved', (e) => 'rejected ' + e.message.includes('zstd'))
  : raw.hashAsync('sha256', [b]).then((h) => h.equals(createHash('sha256').update(b).digest()))));
const counts = {};
for (const r of results) counts[r] = (counts[r] ?? 0) + 1;
console.log(JSON.stringify(counts));
`,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ true: 2000, 'rejected true': 1000 });
  });

  it('keeps the process alive until a job nobody awaits settles, then lets it exit', () => {
    const { code, stdout } = run(
      runtime,
      `${load}
const started = Date.now();
raw.scrypt(Buffer.from('pw'), Buffer.alloc(32), 1 << 14, 8, 2, 32).then((k) => console.log('settled', k.length));
console.log('fired');
`,
    );
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toEqual(['fired', 'settled 32']);
  });

  it('drops the completion of a job whose worker thread was terminated, and goes on', () => {
    const { code, stdout, stderr } = run(
      runtime,
      `${load}
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
if (isMainThread) {
  for (let i = 0; i < 3; i++) {
    const w = new Worker(new URL(import.meta.url));
    await new Promise((resolve) => w.once('message', resolve));
    await w.terminate();
  }
  const again = await raw.hashAsync('sha256', [Buffer.from('after')]);
  // Long enough for the terminated workers' jobs to finish and try to settle.
  await new Promise((r) => setTimeout(r, 800));
  console.log(again.equals(createHash('sha256').update('after').digest()) ? 'ok' : 'wrong');
} else {
  const job = raw.scrypt(Buffer.from('pw'), Buffer.alloc(32), 1 << 15, 8, 2, 32);
  parentPort.postMessage('started');
  await job;
}
`,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim()).toBe('ok');
  });
});
