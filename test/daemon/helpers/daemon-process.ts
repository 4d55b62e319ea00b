// A bolt-agent daemon as systemd would run it: the Node build in its own process, its log lines
// collected, stopped with SIGTERM. Plus the small setup every daemon test needs: a password, a
// repository and a Boltfile.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cleanEnv, repoRoot, runCli } from '../../helpers/cli.ts';

export interface DaemonProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first match of `pattern` in stdout+stderr (checked as output arrives). */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  /** SIGTERM (or `signal`), then the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
  exited: Promise<number | null>;
}

export function startDaemon(args: string[], env: Record<string, string | undefined>, wrap: string[] = []): DaemonProcess {
  const command = [process.execPath, path.join(repoRoot, 'bin', 'bolt-agent.js'), ...args];
  const [cmd, ...rest] = wrap.length ? [...wrap, ...command] : command;
  const child = spawn(cmd as string, rest, { cwd: repoRoot, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      const m = (out + err).match(w.pattern);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    check();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const m = (out + err).match(pattern);
        if (m) return resolve(m);
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}\n--- stdout\n${out}\n--- stderr\n${err}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (match) => {
            clearTimeout(timer);
            resolve(match);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`daemon exited (${code}) before ${pattern}\n--- stdout\n${out}\n--- stderr\n${err}`));
        });
      }),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export const PASSWORD = 'daemon-test-password';

export interface Site {
  dir: string;
  passwordFile: string;
  /** The repository string (a local path unless the site was made on other storage). */
  repo: string;
  stateDir: string;
  env: Record<string, string>;
  /** Writes <dir>/<name> with a [backups] table made of `lines` (plus the storage settings) and returns its path. */
  boltfile: (lines: string[], name?: string) => string;
  agent: (args: string[], extraEnv?: Record<string, string>) => ReturnType<typeof runCli>;
  /** Like agent, without blocking this process (needed when it hosts a proxy the command goes through). */
  agentAsync: (args: string[], extraEnv?: Record<string, string>) => Promise<ReturnType<typeof runCli>>;
}

export interface SiteOptions {
  init?: boolean;
  /** Another repository string (remote storage) … */
  repository?: string;
  /** … and the TOML tables that reach it, appended to every Boltfile. */
  storageLines?: string[];
}

/** Runs the Node build of bolt-agent asynchronously. */
export function runCliAsync(args: string[], env: Record<string, string | undefined>): Promise<ReturnType<typeof runCli>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'bolt-agent.js'), ...args], { cwd: repoRoot, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A temporary site with a password file, an initialised repository and a state directory. */
export async function makeSite(dir: string, options: SiteOptions = {}): Promise<Site> {
  fs.mkdirSync(dir, { recursive: true });
  const passwordFile = path.join(dir, 'password');
  fs.writeFileSync(passwordFile, PASSWORD);
  const repo = options.repository ?? path.join(dir, 'repo');
  const stateDir = path.join(dir, 'state');
  const env = { BOLT_AGENT_STATE_DIR: stateDir, BOLT_AGENT_BOLT_ROOT: path.join(dir, 'bolt'), TZ: 'UTC' };
  const site: Site = {
    dir,
    passwordFile,
    repo,
    stateDir,
    env,
    boltfile: (lines, name = 'Boltfile.toml') => {
      const file = path.join(dir, name);
      // Only the paths a test names are backed up: not the Boltfile itself, not Bolt's volumes.
      const pinned = ['bolt_config = false', 'container_volumes = false'];
      const at = lines.indexOf('[backups.include]');
      const body = at >= 0 ? [...lines.slice(0, at + 1), ...pinned, ...lines.slice(at + 1)] : [...lines, '[backups.include]', ...pinned];
      const text = ['[backups]', `repository = ${JSON.stringify(repo)}`, `password_file = ${JSON.stringify(passwordFile)}`, ...body, ...(options.storageLines ?? []), ''];
      fs.writeFileSync(file, text.join('\n'));
      return file;
    },
    agent: (args, extraEnv = {}) => runCli(args, { env: { ...env, ...extraEnv } }),
    agentAsync: (args, extraEnv = {}) => runCliAsync(args, { ...env, ...extraEnv }),
  };
  if (options.init !== false) {
    const r = await site.agentAsync(['--config', site.boltfile([], 'init.toml'), 'backup', 'init', repo]);
    if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  }
  return site;
}
