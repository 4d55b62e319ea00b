// restic 0.14 and Azurite. restic 0.14's Azure backend (the old azure-sdk-for-go "storage"
// client) reads only AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY (or AZURE_ACCOUNT_SAS); it has no
// endpoint variable. With the account name "devstoreaccount1" it talks to the storage emulator at
// the fixed address http://127.0.0.1:10000/devstoreaccount1 (path-style, plain HTTP). Our Azurite
// runs on a free port, and 10000 may be taken by a parallel run, so restic runs in its own network
// namespace (`unshare -n`, root only) where 127.0.0.1:10000 is forwarded to this run's Azurite.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AzureServer } from '../../scripts/test-servers.mjs';

const forwarder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'netns-forward.mjs');
/** Where restic 0.14 looks for the emulator when AZURE_ACCOUNT_NAME is devstoreaccount1. */
export const RESTIC_014_EMULATOR_PORT = 10000;

export interface ResticRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The variables restic 0.14 needs for Azurite. */
export function resticAzureEnv(azure: AzureServer): Record<string, string> {
  return { AZURE_ACCOUNT_NAME: azure.accountName, AZURE_ACCOUNT_KEY: azure.accountKey };
}

/** Runs restic against the run's Azurite, e.g. args ['-r', 'azure:container:/repo', 'init']. */
export async function runResticOnAzurite(azure: AzureServer, args: string[], env: Record<string, string> = {}, restic = '/usr/bin/restic'): Promise<ResticRun> {
  const socketPath = path.join(os.tmpdir(), `bolt-azurite-${randomBytes(6).toString('hex')}.sock`);
  const bridge = net.createServer((inside) => {
    const upstream = net.connect(azure.port, azure.host);
    inside.pipe(upstream);
    upstream.pipe(inside);
    inside.on('error', () => upstream.destroy());
    upstream.on('error', () => inside.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    bridge.once('error', reject);
    bridge.listen(socketPath, () => resolve());
  });
  try {
    return await new Promise<ResticRun>((resolve) => {
      execFile(
        'unshare',
        ['-n', process.execPath, forwarder, String(RESTIC_014_EMULATOR_PORT), socketPath, '--', restic, ...args],
        { env: { ...process.env, ...resticAzureEnv(azure), ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  } finally {
    await new Promise<void>((resolve) => bridge.close(() => resolve()));
    await rm(socketPath, { force: true });
  }
}
