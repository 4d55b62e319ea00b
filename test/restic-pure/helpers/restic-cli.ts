// Running the real restic 0.14 (/usr/bin/restic) against a scratch repository in tests.

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RESTIC = '/usr/bin/restic';

export interface ResticEnv {
  repo: string;
  password: string;
  cacheDir: string;
}

export function resticEnv(env: ResticEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: env.cacheDir,
    RESTIC_REPOSITORY: env.repo,
    RESTIC_PASSWORD: env.password,
    RESTIC_CACHE_DIR: env.cacheDir,
    TZ: 'UTC',
    ...extra,
  };
}

/** Runs restic and returns stdout; throws with stderr when it exits non-zero. */
export function restic(env: ResticEnv, args: string[], extraEnv: Record<string, string> = {}): string {
  return execFileSync(RESTIC, args, { env: resticEnv(env, extraEnv), maxBuffer: 256 * 1024 * 1024 }).toString('utf8');
}

/** Like restic(), without blocking: most of a short restic run is its 200 ms lock wait. */
export async function resticAsync(env: ResticEnv, args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  const { stdout } = await promisify(execFile)(RESTIC, args, { env: resticEnv(env, extraEnv), maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

/** Runs restic and returns its exit status and output without throwing. */
export function resticStatus(env: ResticEnv, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(RESTIC, args, { env: resticEnv(env), maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** A fresh temporary folder; remove it with the returned function. */
export function scratchDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
