// The progress bar on a real terminal (tmux): it redraws in place with bytes, files, rate and
// elapsed time or percentage and ETA, ends on its own line before the result, puts other output
// (an interrupt notice, an error) above itself, and always gives the cursor back. Without a
// terminal the same operation prints plain lines or NDJSON events.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';
import { makeSite, type Site } from '../daemon/helpers/daemon-process.ts';
import { slowS3, type SlowS3 } from '../daemon/helpers/slow-s3.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-tty-'));
const sessions: string[] = [];
const MiB = 1024 * 1024;
let s3: SlowS3;
let site: Site;
let data = '';
let config = '';
let agent = '';

// The repository is on S3 (MinIO) behind a proxy that paces the transfer, so operations last a
// few seconds on a real, slow network.
beforeAll(async () => {
  s3 = await slowS3('tty', {});
  site = await makeSite(path.join(tmp, 'site'), { repository: s3.repository, storageLines: s3.storageLines });
  data = path.join(site.dir, 'data');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'small.txt'), 'small\n');
  config = site.boltfile(['[backups.include]', `custom_paths = [${JSON.stringify(data)}]`, '[backups.restic]', 'pack_size = "4MiB"']);
  agent = `node ${JSON.stringify(path.join(repoRoot, 'bin', 'bolt-agent.js'))} --config ${JSON.stringify(config)}`;
});
afterAll(async () => {
  for (const s of sessions) spawnSync('tmux', ['kill-session', '-t', s]);
  await s3?.proxy.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Starts `commands` in a detached 100x24 tmux session; the pane stays open afterwards. */
function tmux(name: string, commands: string[]): string {
  const session = `bolt-${name}-${process.pid}`;
  const script = path.join(tmp, `${name}.sh`);
  const env = Object.entries(site.env).map(([k, v]) => `export ${k}=${JSON.stringify(v)}`);
  fs.writeFileSync(script, ['#!/bin/sh', `cd ${JSON.stringify(repoRoot)}`, ...env, ...commands, 'sleep 120', ''].join('\n'), { mode: 0o755 });
  execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '100', '-y', '24', script]);
  sessions.push(session);
  return session;
}

function capture(session: string): string[] {
  return execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l, i, all) => l !== '' || all.slice(i).some((x) => x.trim() !== ''));
}

function cursorVisible(session: string): boolean {
  return execFileSync('tmux', ['display', '-p', '-t', session, '#{cursor_flag}'], { encoding: 'utf8' }).trim() === '1';
}

/** Screen captures every 150 ms until one has `count` lines matching `done`. */
async function framesUntil(session: string, done: RegExp, timeoutMs = 60_000, count = 1): Promise<string[][]> {
  const frames: string[][] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frame = capture(session);
    frames.push(frame);
    if (frame.filter((l) => done.test(l)).length >= count) return frames;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${done}:\n${frame.join('\n')}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

// Before the scan has counted the files: no totals and the elapsed time; after: a bar, totals
// and the ETA (or the elapsed time again at 100%, while the upload is still going).
const BAR_RUNNING = /^backup (?:\[[█░]{24}\] +\d+% )? {1,2}[\d.]+ (?:B|KiB|MiB)(?:\/[\d.]+ (?:B|KiB|MiB))? {2}\d+(?:\/\d+)? files {2}[\d.]+ (?:B|KiB|MiB)\/s {2}(\d+s elapsed|ETA \d+s)/;

describe('progress on a terminal', () => {
  it('renders a live bar for create and check --read-data and ends it cleanly', async () => {
    s3.proxy.setPlan({ uploadRate: 2 * MiB });
    fs.writeFileSync(path.join(data, 'big.bin'), crypto.randomBytes(6 * MiB));
    const session = tmux('bar', [`${agent} backup create`, 'echo "EXIT=$?"', `${agent} backup check --read-data`, 'echo "EXIT=$?"']);
    const frames = await framesUntil(session, /^EXIT=\d+$/, 60_000, 2);
    const running = frames.flatMap((f) => f.map((l) => BAR_RUNNING.exec(l)?.[1]).filter((e): e is string => e !== undefined));
    // Redrawn while the throttled upload waits: the elapsed time moves.
    expect(new Set(running).size, [...new Set(frames.flat())].slice(-40).join('\n')).toBeGreaterThanOrEqual(2);
    const screen = capture(session);
    const text = screen.join('\n');
    expect(screen.filter((l) => l.startsWith('EXIT='))).toEqual(['EXIT=0', 'EXIT=0']);
    // One bar line per operation, redrawn in place, each followed by the command's own output.
    const bars = screen.filter((l) => /^(backup|check) .* in \d+s$/.test(l));
    expect(bars, text).toHaveLength(2);
    expect(bars[0]).toMatch(/^backup \[█{24}\] 100% {2}6\.00 MiB\/6\.00 MiB {2}2\/2 files {2}[\d.]+ (KiB|MiB)\/s {2}in \d+s$/);
    expect(bars[1]).toMatch(/^check read data \[█{24}\] 100% {2}[\d.]+ (B|KiB|MiB) {2}\d+\/\d+ objects {2}[\d.]+ (B|KiB|MiB)\/s {2}in \d+s$/);
    expect(screen[screen.indexOf(bars[0] as string) + 1]).toMatch(/^Files: +2 new/);
    expect(text).toMatch(/backup [0-9a-f]{8} saved\nEXIT=0/);
    expect(cursorVisible(session)).toBe(true);
  });

  it('puts the interrupt notice above the bar, the error below it, and restores the cursor', async () => {
    // check --read-data downloads two packs at a time at 4 MiB/s and stops between packs: give
    // it more packs than that (4 MiB each), uploaded at full speed.
    s3.proxy.setPlan({});
    const extra = path.join(site.dir, 'extra');
    fs.mkdirSync(extra);
    fs.writeFileSync(path.join(extra, 'more.bin'), crypto.randomBytes(10 * MiB));
    expect((await site.agentAsync(['--config', config, 'backup', 'create', '--include', extra])).code).toBe(0);
    s3.proxy.setPlan({ downloadRate: 4 * MiB });
    const session = tmux('interrupt', [`${agent} backup check --read-data & pid=$!`, 'echo "PID=$pid"', 'wait $pid', 'echo "EXIT=$?"']);
    const frames = await framesUntil(session, /^check read data \[/);
    const pid = Number(frames.flat().find((l) => l.startsWith('PID='))?.slice(4));
    process.kill(pid, 'SIGINT');
    await framesUntil(session, /^EXIT=\d+$/);
    const screen = capture(session);
    const at = (re: RegExp) => screen.findIndex((l) => re.test(l));
    const notice = at(/^SIGINT: stopping at the next safe point/);
    const bar = at(/^check read data \[[█░]{24}\] +\d+% /);
    const error = at(/^error: interrupted by SIGINT$/);
    expect(notice, screen.join('\n')).toBeGreaterThan(0);
    expect(bar, screen.join('\n')).toBeGreaterThan(notice);
    expect(error, screen.join('\n')).toBeGreaterThan(bar);
    expect(screen[at(/^EXIT=/)]).toBe('EXIT=1');
    expect(cursorVisible(session)).toBe(true);
  });
});

describe('progress without a terminal', () => {
  it('prints NDJSON events with --json, plain lines with --progress, and nothing with --no-progress', async () => {
    s3.proxy.setPlan({ uploadRate: 2 * MiB });
    fs.writeFileSync(path.join(data, 'big.bin'), crypto.randomBytes(3 * MiB));
    const json = await site.agentAsync(['--json', '--config', config, 'backup', 'create']);
    expect(json.code).toBe(0);
    const events = json.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string; operation: string; bytes_done: number; elapsed_ms: number; bytes_per_second: number });
    expect(events.at(-1)).toMatchObject({ event: 'done', operation: 'backup', bytes_done: 3 * MiB + 6, bytes_total: 3 * MiB + 6, files_total: 2 });
    // The scanner's totals reach the running events (the throttled upload keeps the run going
    // long after the two files were counted).
    expect(events.filter((e) => e.event === 'progress').some((e) => (e as { bytes_total?: number }).bytes_total === 3 * MiB + 6)).toBe(true);
    expect(events.filter((e) => e.event === 'progress').length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)?.elapsed_ms).toBeGreaterThan(1000);

    fs.writeFileSync(path.join(data, 'big.bin'), crypto.randomBytes(3 * MiB));
    const lines = await site.agentAsync(['--config', config, 'backup', 'create', '--progress']);
    expect(lines.code).toBe(0);
    expect(lines.stderr).toMatch(/^\[backup\] (\d+% {2})?[\d.]+ (KiB|MiB)(\/[\d.]+ (KiB|MiB))? {2}\d+(\/\d+)? files {2}[\d.]+ (B|KiB|MiB)\/s {2}(\d+s elapsed|ETA \d+s)/m);
    expect(lines.stderr).toMatch(/^\[backup\] 100% {2}3\.00 MiB\/3\.00 MiB {2}2\/2 files {2}[\d.]+ (KiB|MiB)\/s {2}in \d+s$/m);

    fs.writeFileSync(path.join(data, 'big.bin'), crypto.randomBytes(MiB));
    const quiet = await site.agentAsync(['--json', '--no-progress', '--config', config, 'backup', 'create']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');

    // A restore counts first, then every event carries the totals (downloads paced so that
    // the timer fires while it runs).
    s3.proxy.setPlan({ downloadRate: 512 * 1024 });
    const restored = await site.agentAsync(['--json', '--config', config, 'backup', 'restore', 'latest', '--target', path.join(tmp, 'restored')]);
    expect(restored.code, restored.stderr).toBe(0);
    const restoreEvents = restored.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string; operation: string; phase?: string; files_total?: number; bytes_total?: number });
    expect(restoreEvents[0]).toMatchObject({ event: 'progress', operation: 'restore', phase: 'counting' });
    const restoring = restoreEvents.filter((e) => e.event === 'progress' && e.phase === undefined);
    expect(restoring.length).toBeGreaterThanOrEqual(1);
    for (const e of restoring) expect(e).toMatchObject({ files_total: 2, bytes_total: MiB + 6 });
    expect(restoreEvents.at(-1)).toMatchObject({ event: 'done', operation: 'restore', files_done: 2, bytes_done: MiB + 6 });
    s3.proxy.setPlan({});
  });
});
