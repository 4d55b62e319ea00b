// Application-consistency commands ([backups.hooks.<service>] pre/post): a database dump or flush
// before the snapshot, the matching thaw after it. Each runs in its own process group with a
// timeout; a command that outlives it is terminated (SIGTERM, then SIGKILL). Pre commands stop
// when the backup is interrupted; post commands always run to the end (they undo what pre did).
import { spawn } from 'node:child_process';
import { parseDuration } from '../config/units.ts';
import type { ServiceHooks } from '../config/schema.ts';

export type HookPhase = 'pre' | 'post';

export interface HookRun {
  service: string;
  phase: HookPhase;
  ok: boolean;
  duration_ms: number;
  error?: string;
}

export const DEFAULT_HOOK_TIMEOUT_MS = 5 * 60_000;
const KILL_GRACE_MS = 5_000;
const OUTPUT_KEPT = 2_000;

export function hookTimeoutMs(hooks: ServiceHooks): number {
  const ms = hooks.timeout === undefined ? undefined : parseDuration(hooks.timeout);
  return ms === undefined ? DEFAULT_HOOK_TIMEOUT_MS : Math.round(ms);
}

function describe(command: string | string[]): string {
  return Array.isArray(command) ? command.join(' ') : command;
}

export interface HookRunOptions {
  timeoutMs: number;
  env: Record<string, string>;
  signal?: AbortSignal;
  onOutput?: (line: string) => void;
}

/** Runs one command; resolves (never rejects) with what happened. */
export function runHook(service: string, phase: HookPhase, command: string | string[], options: HookRunOptions): Promise<HookRun> {
  const started = Date.now();
  const [program, ...args] = Array.isArray(command) ? command : ['/bin/sh', '-c', command];
  return new Promise((resolve) => {
    let output = '';
    let stopped: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const finish = (ok: boolean, error?: string): void => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      const tail = output.trim().split('\n').slice(-3).join(' | ');
      resolve({ service, phase, ok, duration_ms: Date.now() - started, ...(error ? { error: tail && !ok ? `${error}: ${tail}` : error } : {}) });
    };
    const child = spawn(program as string, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    const stop = (why: string): void => {
      if (stopped || child.exitCode !== null) return;
      stopped = why;
      const group = child.pid ? -child.pid : 0;
      try {
        process.kill(group, 'SIGTERM');
      } catch {
        // already gone
      }
      killTimer = setTimeout(() => {
        try {
          process.kill(group, 'SIGKILL');
        } catch {
          // already gone
        }
      }, KILL_GRACE_MS);
    };
    const limit = options.timeoutMs < 1000 ? `${options.timeoutMs} ms` : `${+(options.timeoutMs / 1000).toFixed(1)} s`;
    const timer = setTimeout(() => stop(`timed out after ${limit}`), options.timeoutMs);
    const onAbort = (): void => stop('interrupted');
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    const collect = (data: Buffer): void => {
      const text = data.toString();
      output = (output + text).slice(-OUTPUT_KEPT);
      for (const line of text.split('\n')) if (line.trim()) options.onOutput?.(line);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) => finish(false, `${phase} command of service ${service} (${describe(command)}) cannot start: ${err.message}`));
    child.on('close', (code, signal) => {
      if (stopped) return finish(false, `${phase} command of service ${service} (${describe(command)}) ${stopped}`);
      if (code === 0) return finish(true);
      finish(false, `${phase} command of service ${service} (${describe(command)}) failed with ${code === null ? `signal ${signal}` : `exit code ${code}`}`);
    });
  });
}
