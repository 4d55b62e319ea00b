// Runs bolt-agent as a user would: the Node build (bin/bolt-agent.js, built by `npm test`), or
// the single binary / Deno when asked.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const binaryPath = path.join(repoRoot, 'build', 'bolt-agent');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Runtime = 'node' | 'bun-binary' | 'deno';

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  runtime?: Runtime;
  input?: string;
  timeoutMs?: number;
}

/** Environment without the caller's BOLT_/RESTIC_/GHOSTSNAP_ settings, so tests see only what they set. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(BOLT_BACKUP_|BOLT_AGENT_CONFIG|RESTIC_|GHOSTSNAP_|AWS_|AZURE_)/.test(k)) env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function runCli(args: string[], options: CliOptions = {}): CliResult {
  const runtime = options.runtime ?? 'node';
  const [cmd, prefix] =
    runtime === 'node'
      ? [process.execPath, [path.join(repoRoot, 'bin', 'bolt-agent.js')]]
      : runtime === 'bun-binary'
        ? [binaryPath, []]
        : [path.join(repoRoot, 'node_modules', '.bin', 'deno'), ['run', '-A', path.join(repoRoot, 'src', 'cli', 'entry.ts')]];
  const result = spawnSync(cmd, [...prefix, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: cleanEnv(options.env),
    encoding: 'utf8',
    input: options.input,
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}
