// A 2 GiB backup to a throttled S3 server keeps peak RSS under 300 MB (issue #5): the packer
// waits for upload slots instead of piling finished packs up in memory. The single binary (what
// users run) backs up 2 GiB of incompressible data into MinIO through a proxy that lets 128 MiB/s
// through; GNU time reports its peak RSS. The run must take at least as long as the throttle
// allows, or the proxy did not hold it back and the test proves nothing.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { binaryPath, cleanEnv } from '../helpers/cli.ts';
import { RESTIC_014, resticOk } from '../helpers/restic.ts';
import { FaultProxy } from '../setup/fault-proxy.ts';
import { backendFixture, testServers, type BackendFixture } from './helpers.ts';

const MiB = 1024 * 1024;
const RATE = 128 * MiB;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-backup-memory-'));
const data = path.join(tmp, 'data');
const PASSWORD = 'memory-password';
let proxy: FaultProxy;
let fixture: BackendFixture;
let configFile = '';

beforeAll(async () => {
  fs.mkdirSync(data);
  // 4 x 512 MiB of random bytes (incompressible: 2 GiB reach the server).
  for (let f = 0; f < 4; f++) {
    const fd = fs.openSync(path.join(data, `volume-${f}.img`), 'w');
    for (let i = 0; i < 64; i++) fs.writeSync(fd, crypto.randomBytes(8 * MiB));
    fs.closeSync(fd);
  }
  const servers = testServers();
  proxy = await FaultProxy.start({ host: servers.s3.host, port: servers.s3.port }, { uploadRate: RATE });
  fixture = await backendFixture('s3', { endpoint: proxy.endpoint, performance: { parallel_uploads: 4 } });
  fs.writeFileSync(path.join(tmp, 'password'), PASSWORD);
  configFile = path.join(tmp, 'config.yaml');
  fs.writeFileSync(
    configFile,
    stringify({ ...fixture.config, tool: 'restic', repository: fixture.repository, password_file: path.join(tmp, 'password'), include: { container_volumes: false, bolt_config: false } }),
  );
});

afterAll(async () => {
  await proxy?.close();
  await fixture?.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

// Asynchronous on purpose: the throttling proxy lives in this process, so a blocking spawn
// would stall it.
function agent(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M', binaryPath, '--config', configFile, '--no-progress', ...args], { env: cleanEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

it('backs up 2 GiB through a 128 MiB/s link with peak RSS under 300 MB, and restic checks the result', async () => {
  const init = await agent(['backup', 'init', fixture.repository]);
  expect(init.status, init.stderr).toBe(0);
  const started = Date.now();
  const run = await agent(['--json', 'backup', 'create', '--include', data]);
  const seconds = (Date.now() - started) / 1000;
  expect(run.status, run.stderr).toBe(0);
  const peakKb = Number(/PEAK_RSS_KB=(\d+)/.exec(run.stderr)?.[1]);
  const summary = (JSON.parse(run.stdout) as { summary: { data_added_packed: number } }).summary;
  expect(summary.data_added_packed).toBeGreaterThan(2048 * MiB);
  expect(seconds).toBeGreaterThanOrEqual((summary.data_added_packed / RATE) * 0.9);
  expect(peakKb * 1024).toBeLessThan(300 * 1000 * 1000);
  console.log(`2 GiB backup through ${RATE / MiB} MiB/s: ${seconds.toFixed(1)} s, peak RSS ${(peakKb / 1024).toFixed(0)} MiB`);

  const servers = testServers();
  // Straight to the server: a synchronous restic run would stall the proxy in this process.
  resticOk(RESTIC_014, fixture.repository.replace(proxy.endpoint, servers.s3.endpoint), PASSWORD, ['check'], { AWS_ACCESS_KEY_ID: servers.s3.accessKey, AWS_SECRET_ACCESS_KEY: servers.s3.secretKey });
}, 400_000);
