// Real inotify and real Bolt-state watching: the tree watcher (recursive, new directories,
// excludes, the watch budget), the Bolt state trigger (containers and volumes created, restarted,
// removed) and the snapshot trigger (new snapshots, catch-up from the seen list).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/scheduler/clock.ts';
import { TreeWatcher, type WatchLimitReason } from '../../src/scheduler/tree-watcher.ts';
import { BoltStateTrigger } from '../../src/scheduler/bolt-state-trigger.ts';
import { SnapshotTrigger } from '../../src/scheduler/snapshot-trigger.ts';
import { FileTrigger } from '../../src/scheduler/file-trigger.ts';
import type { RunRequest } from '../../src/scheduler/triggers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-watch-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quick = { debounceMs: 150, minIntervalMs: 0, maxWaitMs: 1000 };

function mkdirs(root: string, count: number): void {
  for (let i = 0; i < count; i++) fs.mkdirSync(path.join(root, `d${i % 10}`, `e${i}`), { recursive: true });
}

describe('tree watcher (inotify)', () => {
  it('sees changes deep in the tree, in directories created later, and not in ignored ones', async () => {
    const root = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(root, 'a', 'b', 'c'), { recursive: true });
    fs.mkdirSync(path.join(root, 'skip'), { recursive: true });
    const changes: string[] = [];
    const watcher = new TreeWatcher({ budget: 100, ignore: (p) => p.startsWith(path.join(root, 'skip')), onChange: (p) => changes.push(p), onLimit: () => {} });
    cleanups.push(() => watcher.close());
    const coverage = await watcher.add([root]);
    expect(coverage).toEqual({ watched: 4, unwatched: 0, limitedBy: undefined });

    fs.writeFileSync(path.join(root, 'a', 'b', 'c', 'deep.txt'), 'x');
    await until('deep change', () => changes.includes(path.join(root, 'a', 'b', 'c', 'deep.txt')));

    fs.writeFileSync(path.join(root, 'skip', 'ignored.txt'), 'x');
    fs.mkdirSync(path.join(root, 'new', 'inner'), { recursive: true });
    await until('new directory watched', () => watcher.watches(path.join(root, 'new', 'inner')));
    fs.writeFileSync(path.join(root, 'new', 'inner', 'later.txt'), 'x');
    await until('change in new directory', () => changes.includes(path.join(root, 'new', 'inner', 'later.txt')));
    expect(changes.some((c) => c.includes(`${path.sep}skip`))).toBe(false);

    fs.rmSync(path.join(root, 'new'), { recursive: true });
    await until('removed directory dropped', () => !watcher.watches(path.join(root, 'new', 'inner')));
  });

  it('stops at its budget, shallow directories first, and says how much is not covered', async () => {
    const root = path.join(tmp, 'budget');
    mkdirs(root, 40);
    const limits: WatchLimitReason[] = [];
    const watcher = new TreeWatcher({ budget: 12, ignore: () => false, onChange: () => {}, onLimit: (r) => limits.push(r) });
    cleanups.push(() => watcher.close());
    const coverage = await watcher.add([root]);
    expect(coverage).toEqual({ watched: 12, unwatched: 51 - 12, limitedBy: 'budget' });
    expect(limits).toEqual(['budget']);
    for (let i = 0; i < 10; i++) expect(watcher.watches(path.join(root, `d${i}`))).toBe(true);
  });

  it('explains the limit in the on_file_changes trigger, with the sysctl to raise', async () => {
    const root = path.join(tmp, 'trigger-budget');
    mkdirs(root, 30);
    let message: string | undefined;
    const trigger = new FileTrigger({
      roots: [root],
      ignore: () => false,
      times: quick,
      clock: systemClock,
      fire: () => {},
      onCoverage: (_c, m) => (message = m),
      env: { BOLT_AGENT_MAX_WATCHES: '5' },
    });
    cleanups.push(() => trigger.disarm());
    const coverage = await trigger.arm();
    expect(coverage.watched).toBe(5);
    expect(message).toContain(`watching 5 of 41 directories below ${root}`);
    expect(message).toContain("bolt-agent's watch budget of 5 is used up (BOLT_AGENT_MAX_WATCHES)");
    expect(message).toMatch(/sysctl -w fs\.inotify\.max_user_watches=\d+/);
  });

  it('debounces a burst of file changes into one run request', async () => {
    const root = path.join(tmp, 'burst');
    fs.mkdirSync(path.join(root, 'x'), { recursive: true });
    const fired: RunRequest[] = [];
    const trigger = new FileTrigger({ roots: [root], ignore: () => false, times: quick, clock: systemClock, fire: (r) => fired.push(r), onCoverage: () => {} });
    cleanups.push(() => trigger.disarm());
    await trigger.arm();
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(root, 'x', `f${i}`), String(i));
    await until('fired', () => fired.length > 0);
    await sleep(400);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({ trigger: 'on_file_changes', scope: { kind: 'configured' } });
    expect(fired[0]?.reason).toMatch(/^\d+ changes below the include paths/);
  });
});

function boltRoot(name: string) {
  const root = path.join(tmp, name);
  fs.mkdirSync(path.join(root, 'containers'), { recursive: true });
  fs.mkdirSync(path.join(root, 'volumes'), { recursive: true });
  const volume = (v: string) => {
    fs.mkdirSync(path.join(root, 'volumes', v), { recursive: true });
    fs.writeFileSync(path.join(root, 'volumes', `${v}.json`), JSON.stringify({ name: v, driver: 'local' }));
  };
  return { root, volume };
}

describe('Bolt state trigger', () => {
  function arm(root: string) {
    const fired: RunRequest[] = [];
    const logs: string[] = [];
    const trigger = new BoltStateTrigger({ root, clock: systemClock, times: quick, fire: (r) => fired.push(r), log: (m) => logs.push(m), rescanMs: 60_000 });
    trigger.arm();
    cleanups.push(() => trigger.disarm());
    return { fired, logs };
  }

  it('backs up the volumes of a created, restarted and removed container', async () => {
    const { root, volume } = boltRoot('bolt-a');
    volume('db-data');
    volume('web-cache');
    volume('other');
    const { fired } = arm(root);

    // A container described by a JSON file naming its volume as "name:/mount".
    fs.writeFileSync(path.join(root, 'containers', 'db.json'), JSON.stringify({ name: 'db', mounts: ['db-data:/var/lib/postgresql/data'] }));
    await until('created', () => fired[0]);
    expect(fired[0]).toEqual({
      trigger: 'on_container_changes',
      scope: { kind: 'paths', paths: [path.join(root, 'volumes', 'db-data'), path.join(root, 'volumes', 'db-data.json')] },
      reason: 'container db created',
      tags: ['bolt.volume=db-data'],
    });

    // A container directory whose state file changes on restart; its volume is named after it.
    fs.mkdirSync(path.join(root, 'containers', 'web'));
    fs.writeFileSync(path.join(root, 'containers', 'web', 'state.json'), JSON.stringify({ status: 'running', started: 1 }));
    await until('web created', () => fired[1]);
    expect(fired[1]?.scope).toEqual({ kind: 'paths', paths: [path.join(root, 'volumes', 'web-cache'), path.join(root, 'volumes', 'web-cache.json')] });
    await sleep(50);
    fs.writeFileSync(path.join(root, 'containers', 'web', 'state.json'), JSON.stringify({ status: 'running', started: 2, restarts: 1 }));
    await until('web restarted', () => fired[2]);
    expect(fired[2]?.reason).toBe('container web changed');

    // Removed: its JSON is gone, the volumes remembered from before are backed up.
    fs.rmSync(path.join(root, 'containers', 'db.json'));
    await until('db removed', () => fired[3]);
    expect(fired[3]).toMatchObject({ reason: 'container db removed', tags: ['bolt.volume=db-data'] });
    expect(fired).toHaveLength(4);
  });

  it('backs up a created or changed volume, and skips a removed one', async () => {
    const { root, volume } = boltRoot('bolt-b');
    const { fired, logs } = arm(root);
    volume('uploads');
    await until('volume created', () => fired[0]);
    expect(fired[0]).toMatchObject({ reason: 'volume uploads created', tags: ['bolt.volume=uploads'] });
    fs.rmSync(path.join(root, 'volumes', 'uploads'), { recursive: true });
    fs.rmSync(path.join(root, 'volumes', 'uploads.json'));
    await until('removal noted', () => logs.find((l) => l.includes('volume uploads removed')));
    expect(logs.at(-1)).toContain('no existing volume is affected');
    expect(fired).toHaveLength(1);
  });

  it('coalesces several changes within the debounce time into one request', async () => {
    const { root, volume } = boltRoot('bolt-c');
    volume('a');
    volume('b');
    const { fired } = arm(root);
    fs.writeFileSync(path.join(root, 'containers', 'a.json'), '{"volumes":["a"]}');
    fs.writeFileSync(path.join(root, 'containers', 'b.json'), '{"volumes":["b"]}');
    await until('fired', () => fired[0]);
    await sleep(300);
    expect(fired).toHaveLength(1);
    expect(fired[0]?.tags).toEqual(['bolt.volume=a', 'bolt.volume=b']);
  });
});

describe('snapshot trigger', () => {
  it('backs up new snapshots, takes existing ones as seen at first arm, and catches up after a restart', async () => {
    const dir = path.join(tmp, 'snapshots');
    fs.mkdirSync(path.join(dir, 'old-1'), { recursive: true });
    const fired: RunRequest[] = [];
    let seen: string[] = [];
    const make = () =>
      new SnapshotTrigger({ dir, clock: systemClock, times: quick, fire: (r) => fired.push(r), onSeen: (names) => (seen = names), rescanMs: 60_000 });
    const first = make();
    first.arm(undefined);
    expect(seen).toEqual(['old-1']);
    fs.mkdirSync(path.join(dir, 'snap-2'));
    fs.writeFileSync(path.join(dir, 'snap-2', 'file'), 'x');
    await until('snapshot fired', () => fired[0]);
    expect(fired[0]).toEqual({ trigger: 'after_snapshot', scope: { kind: 'paths', paths: [path.join(dir, 'snap-2')] }, reason: 'new snapshot snap-2', tags: ['bolt.snapshot=snap-2'] });
    first.finished([path.join(dir, 'snap-2')], false);
    expect(seen).toEqual(['old-1', 'snap-2']);
    first.disarm();

    // Taken while the daemon was down: found at the next start.
    fs.mkdirSync(path.join(dir, 'snap-3'));
    const second = make();
    cleanups.push(() => second.disarm());
    second.arm(seen);
    await until('catch-up fired', () => fired[1]);
    expect(fired[1]?.scope).toEqual({ kind: 'paths', paths: [path.join(dir, 'snap-3')] });
    // An interrupted run leaves the snapshot unseen, so the next start backs it up again.
    second.finished([path.join(dir, 'snap-3')], true);
    expect(seen).toEqual(['old-1', 'snap-2']);
  });
});
