// SIGTERM (and SIGINT) at random points of ten daemon runs — while starting, uploading, applying
// retention or copying to the secondary: every time the daemon exits 0 without leaving a lock,
// and afterwards both repositories check clean with bolt-agent and with restic. The primary is
// on S3 (MinIO) behind a proxy that uploads at 6 MiB/s, so a signal often lands mid-upload.
import crypto from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESTIC_014, restic } from '../helpers/restic.ts';
import { makeSite, PASSWORD, startDaemon, type DaemonProcess } from './helpers/daemon-process.ts';
import { slowS3, type SlowS3 } from './helpers/slow-s3.ts';
import { StateStore, type RunRecord } from '../../src/scheduler/state.ts';
import { rawS3, testServers } from '../storage/helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-sigterm-'));
const started: DaemonProcess[] = [];
let s3: SlowS3 | undefined;
afterAll(async () => {
  await Promise.all(started.map((d) => d.stop('SIGKILL')));
  await s3?.proxy.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A small deterministic generator, so a failing sequence of kill points can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Lock objects in the S3 repository (listed directly on MinIO). */
async function proxiedLocks(target: SlowS3): Promise<string[]> {
  const client = rawS3(testServers());
  try {
    const [bucket, ...prefix] = target.resticRepository.replace(/^s3:https?:\/\/[^/]+\//, '').split('/');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix.join('/')}/locks/` }));
    return (listed.Contents ?? []).map((o) => o.Key ?? '');
  } finally {
    client.destroy();
  }
}

describe('shutdown during backups', () => {
  it('exits 0 and leaves consistent repositories when signalled at random points of 10 runs', async () => {
    s3 = await slowS3('sigterm', {});
    const site = await makeSite(path.join(tmp, 'site'), { repository: s3.repository, storageLines: s3.storageLines });
    s3.proxy.setPlan({ uploadRate: 6 * 1024 * 1024 });
    const data = path.join(site.dir, 'data');
    const secondary = path.join(site.dir, 'secondary');
    fs.mkdirSync(data);
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(data, `base-${i}.bin`), crypto.randomBytes(1024 * 1024));
    const config = site.boltfile([
      '[backups.triggers]',
      'daily = "02:00"',
      '[backups.retention]',
      'keep_last = 3',
      '[backups.include]',
      `custom_paths = [${JSON.stringify(data)}]`,
      '[backups.storage]',
      `secondary = ${JSON.stringify(secondary)}`,
    ]);
    const proxied = s3;
    const store = new StateStore(site.stateDir);
    const seed = Number(process.env['BOLT_SIGTERM_SEED'] ?? Date.now() % 100000);
    const random = prng(seed);
    const stages: string[] = [];
    const timings: number[] = [];

    for (let i = 0; i < 10; i++) {
      fs.writeFileSync(path.join(data, `new-${i}.bin`), crypto.randomBytes(2 * 1024 * 1024));
      // The daemon was away for two days: the daily run is caught up as soon as it starts.
      await store.update((s) => {
        s.triggers.daily = { ...s.triggers.daily, armed_at: new Date(Date.now() - 10 * 86_400_000).toISOString(), last_occurrence: new Date(Date.now() - 2 * 86_400_000).toISOString() };
      });
      const d = startDaemon(['--config', config, 'daemon', '--listen', 'off'], site.env);
      started.push(d);
      await d.waitFor(/daemon starting/);
      const delay = Math.floor(random() * 2000);
      await new Promise((r) => setTimeout(r, delay));
      const signal = i % 2 === 0 ? 'SIGTERM' : 'SIGINT';
      const signalled = Date.now();
      const code = await d.stop(signal);
      timings.push(Date.now() - signalled);
      const context = `run ${i} (seed ${seed}, ${signal} after ${delay} ms)\n--- stdout\n${d.stdout()}\n--- stderr\n${d.stderr()}`;
      expect(code, context).toBe(0);
      expect(d.stdout(), context).toMatch(/stopped\n$/);
      expect(await proxiedLocks(proxied), context).toEqual([]);
      if (fs.existsSync(path.join(secondary, 'locks'))) expect(fs.readdirSync(path.join(secondary, 'locks')), context).toEqual([]);
      expect(fs.existsSync(path.join(site.stateDir, 'run.lock')), context).toBe(false);
      expect(fs.existsSync(path.join(site.stateDir, 'daemon.lock')), context).toBe(false);
      const last: RunRecord | undefined = store.read().last_run;
      stages.push(d.stdout().includes('backup started') ? `${last?.result}${last?.error ? `@${last.error.stage}` : ''}` : 'before-run');
    }

    // A run that is let finish afterwards works on what the interrupted ones left.
    await store.update((s) => {
      s.triggers.daily = { ...s.triggers.daily, last_occurrence: new Date(Date.now() - 2 * 86_400_000).toISOString() };
    });
    const final = startDaemon(['--config', config, 'daemon', '--listen', 'off'], site.env);
    started.push(final);
    await final.waitFor(/backup finished/, 90_000);
    expect(await final.stop()).toBe(0);
    expect(store.read().last_run?.result).toBe('success');

    const ours = await site.agentAsync(['--json', '--config', config, 'backup', 'check', '--read-data']);
    expect(ours.code, `${stages.join(', ')}\n${ours.stdout}${ours.stderr}`).toBe(0);
    expect((JSON.parse(ours.stdout) as { ok: boolean }).ok).toBe(true);
    for (const [repo, env] of [[proxied.resticRepository, proxied.resticEnv], [secondary, {}]] as const) {
      const r = restic(RESTIC_014, repo, PASSWORD, ['check', '--read-data'], env);
      expect(r.code, `restic check ${repo} after ${stages.join(', ')}:\n${r.stdout}${r.stderr}`).toBe(0);
    }
    const list = await site.agentAsync(['--json', '--config', config, 'backup', 'list']);
    expect((JSON.parse(list.stdout) as unknown[]).length).toBeLessThanOrEqual(3);
    console.log(`interrupted at: ${stages.join(', ')} (seed ${seed}); ms from signal to exit: ${timings.join(', ')}`);
  });
});
