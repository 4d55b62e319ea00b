// The real restic binaries, the oracles of the restic format: Debian's 0.14 and 0.18.1 (built
// by `npm test` into the tool cache).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RESTIC_014 = '/usr/bin/restic';
export const RESTIC_018 = path.join(process.env['BOLT_AGENT_TOOL_CACHE'] ?? path.join(os.homedir(), '.cache', 'bolt-agent-ci', 'bin'), 'restic-0.18.1');

export const RESTIC_VERSIONS = [
  { name: 'restic 0.14', bin: RESTIC_014 },
  { name: 'restic 0.18.1', bin: RESTIC_018 },
] as const;

export interface ResticRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs restic on a repository; fails loudly when the binary is missing (never skips). */
export function restic(bin: string, repo: string, password: string, args: string[], extraEnv: Record<string, string> = {}): ResticRun {
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`npm test\` (it installs restic 0.14 and builds 0.18.1)`);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'restic-cache-'));
  try {
    const r = spawnSync(bin, ['-r', repo, ...args], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', TZ: process.env['TZ'] ?? '', RESTIC_PASSWORD: password, RESTIC_CACHE_DIR: cache, ...extraEnv },
      maxBuffer: 256 * 1024 * 1024,
      timeout: 300_000,
    });
    if (r.error) throw r.error;
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

/** Like restic() but throws with restic's output when it fails. */
export function resticOk(bin: string, repo: string, password: string, args: string[], extraEnv: Record<string, string> = {}): string {
  const r = restic(bin, repo, password, args, extraEnv);
  if (r.code !== 0) throw new Error(`restic ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}
