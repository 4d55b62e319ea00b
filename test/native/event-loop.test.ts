// processFiles runs off the JavaScript thread: a 10 ms timer keeps firing within 20 ms while a
// 1 GiB file is chunked, hashed and encoded.
//
// The machine is a shared 2-CPU VM: the OS sometimes leaves the runnable JS thread waiting for a
// CPU, and the hypervisor sometimes stops a virtual CPU ("steal"); an idle Node process shows
// such gaps too. The kernel reports both (/proc/<pid>/task/<tid>/schedstat: run-queue wait;
// /proc/stat: steal), so each timer gap is judged without them: what is left is time the event
// loop was busy or blocked. The main thread's own CPU time over the call is checked too. A run
// disturbed in a way the kernel does not report is repeated (up to three runs).
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Core } from '../../src/native/types.ts';
import { nativeCore, tempDir } from './helpers.ts';

const tmp = tempDir('event-loop');
afterAll(() => tmp.remove());

const GiB = 1 << 30;
const TICK_MS = 10; // USER_HZ = 100 for /proc/stat

/** [on-CPU ms, run-queue wait ms] of this process's main (event loop) thread. */
function mainThreadSched(): [number, number] {
  const [run, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
  return [(run ?? 0) / 1e6, (wait ?? 0) / 1e6];
}

/** Time the hypervisor took from this VM's CPUs, in ms (summed over CPUs). */
function stealMs(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]?.trim().split(/\s+/) ?? [];
  return Number(fields[8] ?? 0) * TICK_MS;
}

interface Run {
  elapsed: number;
  mainCpu: number;
  ticks: number;
  /** The gap with the most unexplained time. */
  worst: { wall: number; excused: number };
}

async function oneRun(core: Core, path: string): Promise<Run> {
  const gaps: { wall: number; excused: number }[] = [];
  let last = performance.now();
  let lastSched = mainThreadSched();
  let lastSteal = stealMs();
  const timer = setInterval(() => {
    const now = performance.now();
    const sched = mainThreadSched();
    const steal = stealMs();
    gaps.push({ wall: now - last, excused: sched[1] - lastSched[1] + (steal - lastSteal) });
    last = now;
    lastSched = sched;
    lastSteal = steal;
  }, 10);
  const startSched = mainThreadSched();
  const started = performance.now();
  let result;
  try {
    [result] = await core.processFiles([{ path, offset: 0, maxBytes: 0 }], {
      chunker: { kind: 'rabin', polynomial: '3da3358b4dc173' },
      hash: 'sha256',
      compression: { kind: 'zstd', level: 1 },
      seal: { kind: 'restic', key: randomBytes(64) },
      known: core.newBlobSet(),
    });
  } finally {
    clearInterval(timer);
  }
  const elapsed = performance.now() - started;
  expect(result?.error).toBeUndefined();
  expect(result?.nextOffset).toBe(GiB);
  expect(result?.eof).toBe(true);
  expect(result?.chunks.reduce((s, c) => s + c.length, 0)).toBe(GiB);
  const unexplained = (g: { wall: number; excused: number }) => g.wall - Math.min(g.excused, g.wall);
  const worst = gaps.reduce((w, g) => (unexplained(g) > unexplained(w) ? g : w), { wall: 0, excused: 0 });
  return { elapsed, mainCpu: mainThreadSched()[0] - startSched[0], ticks: gaps.length, worst };
}

describe('event loop', () => {
  it('keeps a 10 ms interval within 20 ms while processFiles works through 1 GiB', async () => {
    const core = await nativeCore();
    const path = join(tmp.dir, 'one-gib.bin');
    // 64 copies of a 16 MiB random block: real work for the chunker and hashes, while dedup
    // keeps the encoded output small.
    const block = randomBytes(16 << 20);
    const fd = openSync(path, 'w');
    for (let written = 0; written < GiB; written += block.length) writeSync(fd, block);
    closeSync(fd);

    let run: Run | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      run = await oneRun(core, path);
      const summary = `elapsed ${run.elapsed.toFixed(0)} ms, main thread CPU ${run.mainCpu.toFixed(0)} ms, ${run.ticks} ticks`;
      // the work took long enough for the measurement to mean something, and was not done here
      expect(run.elapsed, summary).toBeGreaterThan(200);
      expect(run.mainCpu, summary).toBeLessThan(run.elapsed * 0.1);
      expect(run.ticks, summary).toBeGreaterThan(run.elapsed / 100);
      if (run.worst.wall - run.worst.excused <= 20) break;
    }
    const w = run?.worst ?? { wall: Infinity, excused: 0 };
    expect(w.wall - Math.min(w.excused, w.wall), `worst gap ${w.wall.toFixed(1)} ms, ${w.excused.toFixed(1)} ms of it waiting for a CPU or stolen`).toBeLessThanOrEqual(20);
  });
});
