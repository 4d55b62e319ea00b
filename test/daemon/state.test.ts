// The state file and the host-wide locks across real processes: concurrent updates lose nothing,
// a crash mid-write leaves a readable file, a damaged file is kept aside, a lock whose holder
// died is taken over, a live one is waited for.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';
import { StateStore } from '../../src/scheduler/state.ts';
import { FileLock, lockHolder, LockBusyError } from '../../src/scheduler/file-lock.ts';
import { stateDir } from '../../src/scheduler/locations.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-state-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const built = (module: string) => JSON.stringify(path.join(repoRoot, 'build', 'node', 'src', 'scheduler', `${module}.js`));

function nodeScript(code: string): ReturnType<typeof spawn> {
  return spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'pipe'] });
}

describe('state file', () => {
  it('keeps every update when four processes update it at once', async () => {
    const dir = path.join(tmp, 'concurrent');
    const code = `
      import { StateStore } from ${built('state')};
      const store = new StateStore(${JSON.stringify(dir)});
      for (let i = 0; i < 25; i++) await store.update((s) => { s.totals.errors += 1; });
    `;
    const children = Array.from({ length: 4 }, () => nodeScript(code));
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((resolve) => c.on('exit', resolve))));
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(new StateStore(dir).read().totals.errors).toBe(100);
    expect(fs.readdirSync(dir).sort()).toEqual(['state.json']);
  });

  it('keeps a damaged file aside and starts empty, with a warning', () => {
    const dir = path.join(tmp, 'damaged');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'state.json'), '{"version": 1, "triggers": {');
    const warnings: string[] = [];
    const state = new StateStore(dir, (m) => warnings.push(m)).read();
    expect(state.triggers).toEqual({});
    expect(warnings[0]).toMatch(/could not be read .* kept as .*state\.json\.damaged-\d+/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('state.json.damaged-'))).toHaveLength(1);
  });

  it('is found in BOLT_AGENT_STATE_DIR, else the per-user state directory for non-root', () => {
    expect(stateDir({ BOLT_AGENT_STATE_DIR: '/srv/x' })).toBe('/srv/x');
    if (process.getuid?.() !== 0) expect(stateDir({ XDG_STATE_HOME: '/home/u/.state' })).toBe('/home/u/.state/bolt-agent');
    else expect(['/var/lib/bolt-agent', path.join(os.homedir(), '.local', 'state', 'bolt-agent')]).toContain(stateDir({}));
  });
});

describe('host-wide locks', () => {
  it('takes over the lock of a process that died, and refuses or waits for a live holder', async () => {
    const file = path.join(tmp, 'locks', 'run.lock');
    // A holder that is killed without releasing.
    const holder = nodeScript(`
      import { FileLock } from ${built('file-lock')};
      FileLock.tryAcquire(${JSON.stringify(file)}, 'backup (daily)');
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);
    `);
    await new Promise<void>((resolve) => holder.stdout?.once('data', () => resolve()));
    expect(lockHolder(file)).toMatchObject({ pid: holder.pid, purpose: 'backup (daily)', stale: false });
    await expect(FileLock.acquire(file, 'test')).rejects.toBeInstanceOf(LockBusyError);

    const waited: number[] = [];
    const waiting = FileLock.acquire(file, 'test', { wait: true, pollMs: 20, onWait: (h) => waited.push(h.pid) });
    await new Promise((r) => setTimeout(r, 100));
    holder.kill('SIGKILL');
    const lock = await waiting;
    expect(waited).toEqual([holder.pid]);
    expect(lockHolder(file)).toMatchObject({ pid: process.pid, purpose: 'test', stale: false });
    lock.release();
    expect(fs.existsSync(file)).toBe(false);
  });

  it('recognises a reused pid as a different process', () => {
    const file = path.join(tmp, 'locks', 'reused.lock');
    // Our own pid with another start time: the holder that wrote it is gone.
    fs.writeFileSync(file, JSON.stringify({ pid: process.pid, hostname: os.hostname(), since: new Date().toISOString(), purpose: 'old', process_start: '1', token: 'x' }));
    expect(lockHolder(file)?.stale).toBe(true);
    const lock = FileLock.tryAcquire(file, 'new');
    expect(lock).toBeInstanceOf(FileLock);
    (lock as FileLock).release();
  });

  it('gives a lock to exactly one of many processes racing for a stale one', async () => {
    const file = path.join(tmp, 'locks', 'race.lock');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    fs.writeFileSync(file, JSON.stringify({ pid: dead, hostname: os.hostname(), since: new Date().toISOString(), purpose: 'dead', token: 'y' }));
    const racers = Array.from({ length: 6 }, () =>
      nodeScript(`
        import { FileLock } from ${built('file-lock')};
        const r = FileLock.tryAcquire(${JSON.stringify(file)}, 'racer');
        process.stdout.write(r instanceof FileLock ? 'won' : 'lost');
        setTimeout(() => {}, 500);
      `),
    );
    const results = await Promise.all(
      racers.map(
        (c) =>
          new Promise<string>((resolve) => {
            let out = '';
            c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
            c.on('exit', () => resolve(out));
          }),
      ),
    );
    expect(results.filter((r) => r === 'won')).toHaveLength(1);
    expect(results.filter((r) => r === 'lost')).toHaveLength(5);
  });
});
