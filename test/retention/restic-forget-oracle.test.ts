// The real restic 0.14 as the oracle for forget: 200 snapshots written by `restic backup --time`
// over three years, on two hosts, two path sets, with tags and in three time zones (one with
// DST), then several policies decided by restic and by us.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RetentionSnapshot } from '../../src/backup/retention/retention-snapshot.ts';
import { resticAsync, scratchDir, type ResticEnv } from '../restic-pure/helpers/restic-cli.ts';
import { ResticRepo } from '../restic-pure/helpers/restic-repo.ts';
import { loadRetentionSnapshots, ourDecision, resticDecision } from './helpers/forget-oracle.ts';

const SNAPSHOTS = 200;
const ZONES = ['UTC', 'Asia/Kolkata', 'America/New_York'];
const TAG_SETS = [[], [], ['daily'], ['daily', 'a'], ['b', 'a'], ['c']];

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be reproduced. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Local wall-clock times spread over three years, some clustered within a day or an hour. */
interface Planned {
  local: string;
  zone: string;
  host: string;
  src: string;
  tags: string[];
}

function plan(): Planned[] {
  const next = random(20240601);
  const start = Date.UTC(2022, 11, 20, 8, 0, 0); // crosses new year (ISO week 52/53 edges)
  const span = 3 * 365 * 86_400_000;
  const seen = new Set<string>();
  const out: Planned[] = [];
  while (out.length < SNAPSHOTS) {
    const clustered: boolean = out.length > 0 && next() < 0.3;
    const base: number = clustered ? Date.parse(out[out.length - 1]!.local + 'Z') + Math.floor(next() * 5 * 3600_000) : start + Math.floor(next() * span);
    const local = new Date(Math.floor(base / 1000) * 1000).toISOString().slice(0, 19);
    if (seen.has(local)) continue; // equal times make restic's order undefined
    seen.add(local);
    out.push({
      local,
      zone: ZONES[Math.floor(next() * ZONES.length)]!,
      host: next() < 0.7 ? 'h1' : 'h2',
      src: next() < 0.75 ? 'a' : 'b',
      tags: TAG_SETS[Math.floor(next() * TAG_SETS.length)]!,
    });
  }
  return out;
}

const POLICIES: string[][] = [
  ['--keep-last', '5'],
  ['--keep-daily', '10', '--keep-weekly', '6', '--keep-monthly', '12', '--keep-yearly', '3'],
  ['--keep-hourly', '30', '--keep-daily', '14'],
  ['--keep-within', '2m', '--keep-monthly', '6'],
  ['--keep-within', '1y2m3d4h', '--keep-daily', '7', '--group-by', 'paths'],
  ['--keep-within-hourly', '2d', '--keep-within-daily', '30d', '--keep-within-weekly', '3m', '--keep-within-monthly', '1y', '--keep-within-yearly', '3y'],
  ['--keep-tag', 'daily', '--keep-last', '3', '--group-by', 'host,paths,tags'],
  ['--keep-tag', 'a,b', '--keep-tag', 'c', '--keep-weekly', '4'],
  ['--keep-weekly', '8', '--group-by', 'host'],
  ['--keep-monthly', '4', '--keep-hourly', '3', '--group-by', ''],
  ['--keep-yearly', '2', '--keep-last', '2', '--host', 'h2'],
];

describe('restic forget: our decisions equal restic 0.14 on 200 restic-made snapshots', () => {
  const scratch = scratchDir('restic-forget-oracle-');
  let env: ResticEnv;
  let snapshots: RetentionSnapshot[];

  beforeAll(async () => {
    env = { repo: join(scratch.dir, 'repo'), password: 'oracle', cacheDir: join(scratch.dir, 'cache') };
    const repo = ResticRepo.create(env.repo, env.password, { version: 2, polynomial: '2e971b4527edad' });
    for (const src of ['a', 'b']) {
      mkdirSync(join(scratch.dir, src));
      writeFileSync(join(scratch.dir, src, 'f'), src);
    }
    const started = Date.now();
    // a few at a time: each run mostly waits on restic's lock check, and backups share locks
    const queue = plan();
    const worker = async (): Promise<void> => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        const args = ['backup', '--quiet', '--host', s.host, '--time', s.local.replace('T', ' '), join(scratch.dir, s.src)];
        for (const tag of s.tags) args.push('--tag', tag);
        await resticAsync(env, args, { TZ: s.zone });
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    console.log(`${SNAPSHOTS} restic backups took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    snapshots = loadRetentionSnapshots(repo);
  }, 600_000);
  afterAll(() => scratch.remove());

  test('the repository holds the planned snapshots in three offsets', () => {
    expect(snapshots.length).toBe(SNAPSHOTS);
    const offsets = new Set(snapshots.map((s) => s.time.offsetMinutes));
    expect([...offsets].sort((a, b) => a - b)).toEqual([-300, -240, 0, 330]);
  });

  for (const args of POLICIES) {
    test(`forget ${args.join(' ')}`, () => {
      const theirs = resticDecision(env, args);
      const ours = ourDecision(snapshots, args);
      expect(theirs.length).toBeGreaterThan(0);
      expect(ours).toEqual(theirs);
      // the policy must actually decide something both ways
      expect(theirs.some((g) => g.remove.length > 0)).toBe(true);
    });
  }
});
