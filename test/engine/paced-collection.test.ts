// The paced collector asks Bun for collections only while a long operation runs: young-generation
// ones often, full ones at the interval.
import { afterEach, describe, expect, test } from 'vitest';
import { finishedEntries, handledEntries, releasedBytes, runtimeCollector, withPacedCollection } from '../../src/util/release-memory.ts';

type Holder = { Bun?: { gc?: (force: boolean) => void } };
const holder = globalThis as Holder;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('withPacedCollection', () => {
  const saved = { bun: holder.Bun, env: process.env.BOLT_GC_INTERVAL_MS };
  afterEach(() => {
    if (saved.bun === undefined) delete holder.Bun;
    else holder.Bun = saved.bun;
    if (saved.env === undefined) delete process.env.BOLT_GC_INTERVAL_MS;
    else process.env.BOLT_GC_INTERVAL_MS = saved.env;
  });

  test('collects at the interval while the work runs, and stops with it (also when it fails)', async () => {
    const calls: boolean[] = [];
    holder.Bun = { gc: (force) => calls.push(force) };
    process.env.BOLT_GC_INTERVAL_MS = '20';
    await expect(withPacedCollection(async () => (await sleep(130), 'done'))).resolves.toBe('done');
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.every((force) => force)).toBe(true);
    const after = calls.length;
    await sleep(80);
    expect(calls.length).toBe(after);

    await expect(withPacedCollection(async () => (await sleep(60), Promise.reject(new Error('boom'))))).rejects.toThrow('boom');
    const afterFailure = calls.length;
    expect(afterFailure).toBeGreaterThan(after);
    await sleep(80);
    expect(calls.length).toBe(afterFailure);
  });

  test('with a young-generation collector: a full collection first, young ones every 25 ms, a full one per interval', async () => {
    const calls: string[] = [];
    process.env.BOLT_GC_INTERVAL_MS = '100';
    const collector = { full: () => calls.push('full'), young: () => calls.push('young') };
    await withPacedCollection(() => sleep(330), collector);
    const full = calls.filter((c) => c === 'full').length;
    const young = calls.filter((c) => c === 'young').length;
    expect(full).toBeGreaterThanOrEqual(3);
    expect(full).toBeLessThanOrEqual(5);
    expect(young).toBeGreaterThan(full);
    // what the preparation left goes before the work starts, then the work's young objects
    expect(calls.slice(0, 2)).toEqual(['full', 'young']);
    const after = calls.length;
    await sleep(60);
    expect(calls.length).toBe(after);
  });

  test('a longer young interval passed by the caller gives fewer young collections in the same time', async () => {
    process.env.BOLT_GC_INTERVAL_MS = '10000';
    const count = async (youngIntervalMs?: number) => {
      let young = 0;
      const collector = { full: () => undefined, young: () => void young++ };
      await withPacedCollection(() => sleep(420), collector, youngIntervalMs);
      return young;
    };
    const byDefault = await count();
    const slower = await count(100);
    expect(byDefault).toBeGreaterThanOrEqual(8);
    expect(slower).toBeGreaterThanOrEqual(2);
    expect(slower).toBeLessThanOrEqual(5);
    expect(byDefault).toBeGreaterThan(2 * slower);
  });

  test('entries handled bring a full collection every 2048 however little time passed, and reset the interval', async () => {
    const calls: string[] = [];
    process.env.BOLT_GC_INTERVAL_MS = '10000';
    const collector = { full: () => calls.push('full'), young: () => calls.push('young') };
    handledEntries(10_000); // outside a paced run: nothing
    expect(calls).toEqual([]);
    await withPacedCollection(async () => {
      expect(calls).toEqual(['full']);
      handledEntries(2047);
      expect(calls.filter((c) => c === 'full')).toHaveLength(1);
      handledEntries();
      expect(calls.filter((c) => c === 'full')).toHaveLength(2);
      for (let i = 0; i < 3 * 2048; i++) handledEntries();
      expect(calls.filter((c) => c === 'full')).toHaveLength(5);
    }, collector);
    handledEntries(10_000); // after it: nothing
    expect(calls.filter((c) => c === 'full')).toHaveLength(5);

    // A full collection by entries restarts the interval: the timer's next one comes a whole
    // interval later, not right after.
    const timed: string[] = [];
    // Without the restart the timer's full collection comes at 1000 ms, with it at ~1400: the
    // run ends at ~1200, 200 ms from either.
    process.env.BOLT_GC_INTERVAL_MS = '1000';
    await withPacedCollection(async () => {
      await sleep(400);
      handledEntries(2048);
      await sleep(800);
    }, { full: () => timed.push('full'), young: () => timed.push('young') });
    expect(timed.filter((c) => c === 'full')).toHaveLength(2);

    // Two runs at once (a daemon), the first ending first: entries feed the one still running,
    // and nothing once both ended.
    const first: string[] = [];
    const second: string[] = [];
    process.env.BOLT_GC_INTERVAL_MS = '10000';
    let endFirst!: () => void;
    const one = withPacedCollection(() => new Promise<void>((resolve) => (endFirst = resolve)), { full: () => first.push('full') });
    await sleep(10);
    let endSecond!: () => void;
    const two = withPacedCollection(() => new Promise<void>((resolve) => (endSecond = resolve)), { full: () => second.push('full') });
    await sleep(10);
    endFirst();
    await one;
    handledEntries(2048);
    expect([first.length, second.length]).toEqual([1, 2]);
    endSecond();
    await two;
    handledEntries(2048);
    expect([first.length, second.length]).toEqual([1, 2]);
  });

  test('entries of a finished directory count for half, their collection on the next turn, once however many cross the line', async () => {
    const calls: string[] = [];
    process.env.BOLT_GC_INTERVAL_MS = '10000';
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    const fulls = () => calls.filter((c) => c === 'full').length;
    finishedEntries(10_000); // outside a paced run: nothing
    await nextTurn();
    expect(calls).toEqual([]);
    await withPacedCollection(async () => {
      expect(fulls()).toBe(1);
      finishedEntries(4095);
      await nextTurn();
      expect(fulls()).toBe(1);
      finishedEntries(1);
      finishedEntries(10_000); // the same turn: still one collection
      expect(fulls()).toBe(1); // not while the caller still holds the directory
      await nextTurn();
      expect(fulls()).toBe(2);
      await nextTurn();
      expect(fulls()).toBe(2);
      // a collection by entries read before the turn ends makes the due one moot
      finishedEntries(4096);
      handledEntries(1);
      expect(fulls()).toBe(3);
      await nextTurn();
      expect(fulls()).toBe(3);
      // entries read and entries finished add up
      handledEntries(1000);
      finishedEntries(2096);
      await nextTurn();
      expect(fulls()).toBe(4);
    }, { full: () => calls.push('full') });
    // due as the run ends: nothing after it
    let end!: () => void;
    const run = withPacedCollection(() => new Promise<void>((resolve) => (end = resolve)), { full: () => calls.push('full') });
    await nextTurn();
    expect(fulls()).toBe(5);
    finishedEntries(4096);
    end();
    await run;
    await nextTurn();
    expect(fulls()).toBe(5);
  });

  test('on a runtime without bun:jsc (a stand-in Bun here) only full collections are paced', async () => {
    const calls: boolean[] = [];
    holder.Bun = { gc: (force) => calls.push(force) };
    const collector = await runtimeCollector();
    expect(collector?.young).toBeUndefined();
    collector?.full();
    expect(calls).toEqual([true]);
    delete holder.Bun;
    expect(await runtimeCollector()).toBeUndefined();
  });

  test('BOLT_GC_INTERVAL_MS=0 and runtimes without Bun.gc (Node, Deno) leave the collector alone', async () => {
    const calls: boolean[] = [];
    holder.Bun = { gc: (force) => calls.push(force) };
    process.env.BOLT_GC_INTERVAL_MS = '0';
    await withPacedCollection(() => sleep(60));
    expect(calls).toEqual([]);

    delete holder.Bun;
    process.env.BOLT_GC_INTERVAL_MS = '10';
    await expect(withPacedCollection(async () => (await sleep(30), 7))).resolves.toBe(7);
  });

  test('releasedBytes asks for one collection per 128 MiB let go', () => {
    const calls: boolean[] = [];
    holder.Bun = { gc: (force) => calls.push(force) };
    for (let i = 0; i < 15; i++) releasedBytes(16 * 1024 * 1024);
    expect(calls).toEqual([true]);
  });
});
