// Shared by the ghostsnap suites: the real ghostsnap binary ($GHOSTSNAP_BIN, else
// ../shared/tools/ghostsnap beside the checkout), bolt-agent with --tool ghostsnap, and the
// fixture repository.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cleanEnv, repoRoot, runCli, type CliResult } from '../helpers/cli.ts';

export const GHOSTSNAP_BIN = process.env['GHOSTSNAP_BIN'] ?? path.resolve(repoRoot, '..', 'shared', 'tools', 'ghostsnap');
if (!fs.existsSync(GHOSTSNAP_BIN)) throw new Error(`the ghostsnap binary is not at ${GHOSTSNAP_BIN} (set GHOSTSNAP_BIN)`);

export const FIXTURE_REPO = path.join(repoRoot, 'test', 'fixtures', 'ghostsnap', 'repo');
export const FIXTURE_PASSWORD = fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'ghostsnap', 'password.txt'), 'utf8');

export interface FixtureEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: string;
  st_mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  sha256?: string;
  link_target?: string;
  xattrs?: Record<string, string>;
  chunks?: string[];
  hardlink_group?: string;
  ghostsnap_hardlink_target?: string;
}

export interface FixtureSnapshot {
  id: string;
  short_id: string;
  tree: string;
  paths: string[];
  hostname: string;
  username: string;
  time: string;
  tags: string[];
  entries: FixtureEntry[];
}

export interface FixtureManifest {
  repository: {
    config_id: string;
    key_file: string;
    index_header: { version: number; chunk_count: number; pack_count: number };
    packs: Record<string, { header: Record<string, unknown>; file_size: number; chunks: { id: string; offset: number; length: number; uncompressed_length: number }[] }>;
  };
  snapshots: FixtureSnapshot[];
}

export const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'ghostsnap', 'manifest.json'), 'utf8')) as FixtureManifest;

/** A writable copy of the fixture repository. */
export function copyFixture(dest: string): string {
  fs.cpSync(FIXTURE_REPO, dest, { recursive: true });
  fs.chmodSync(dest, 0o700);
  for (const f of fs.readdirSync(dest, { recursive: true, withFileTypes: true })) fs.chmodSync(path.join(f.parentPath, f.name), f.isDirectory() ? 0o700 : 0o600);
  return dest;
}

/** Runs the real ghostsnap (quiet, no colours, no backtraces). */
export function ghostsnap(repo: string, password: string, args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(GHOSTSNAP_BIN, ['--password', password, '--repo', repo, ...args], {
    encoding: 'utf8',
    env: { ...cleanEnv({ RUST_BACKTRACE: undefined, NO_COLOR: '1' }), ...env },
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function ghostsnapOk(repo: string, password: string, args: string[], env: Record<string, string> = {}): string {
  const r = ghostsnap(repo, password, args, env);
  if (r.code !== 0) throw new Error(`ghostsnap ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** bolt-agent on a ghostsnap repository; JSON output. */
export function agent(repo: string, passwordFile: string, args: string[], env: Record<string, string> = {}): CliResult {
  return runCli(['--json', '--no-progress', '--tool', 'ghostsnap', '--repo', repo, '--password-file', passwordFile, ...args], { env: { TZ: 'UTC', ...env } });
}

export function agentOk<T = unknown>(repo: string, passwordFile: string, args: string[], env: Record<string, string> = {}): T {
  const r = agent(repo, passwordFile, args, env);
  if (r.code !== 0) throw new Error(`bolt-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface CreateJson {
  backup: { id: string; tree: string; tags: string[]; paths: string[] };
  summary: { files_new: number; files_changed: number; files_unmodified: number; data_added: number; data_blobs: number; total_bytes_processed: number };
  problems: { path: string; error: string }[];
  skipped: { path: string; error: string }[];
}

export interface CheckJson {
  ok: boolean;
  errors: { object: string; message: string; affected_snapshots?: string[]; affected_files?: string[] }[];
  hints: string[];
  blobs_checked: number;
}

/**
 * Waits until the clock is in a later second than files just written: bolt-agent does not trust
 * the timestamps of files changed in the second a backup starts (they are read again next time).
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1100));
}
