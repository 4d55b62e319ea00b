// The systemd service `backup auto enable` writes: `bolt-agent daemon` with the same
// configuration, state and Bolt locations as the enabling command, restarted on failure, stopped
// with SIGTERM (the running backup stops at a safe point) and given time to do so.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BackupError } from '../backup/errors.ts';

/** Environment that locates things (never secrets): carried into the unit when set. */
const CARRIED_ENV = ['BOLT_AGENT_STATE_DIR', 'BOLT_AGENT_BOLT_ROOT', 'BOLT_AGENT_SNAPSHOT_PATH', 'BOLT_AGENT_MAX_WATCHES'];

/** How this bolt-agent was started, as argv for running `daemon` the same way. */
export function daemonCommand(globalArgs: readonly string[]): string[] {
  const script = process.argv[1];
  const isScript = script !== undefined && /\.(c|m)?(js|ts)$/.test(script) && fs.existsSync(script);
  if (isScript && (globalThis as { Deno?: unknown }).Deno !== undefined) return [process.execPath, 'run', '-A', path.resolve(script), ...globalArgs, 'daemon'];
  if (isScript) return [process.execPath, path.resolve(script), ...globalArgs, 'daemon'];
  return [process.execPath, ...globalArgs, 'daemon'];
}

/** systemd's command-line quoting; `%` and `$` would be expanded by systemd. */
function quote(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped) ? escaped : `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function unitText(command: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const environment = CARRIED_ENV.filter((name) => env[name]).map((name) => `Environment=${quote(`${name}=${env[name] ?? ''}`)}`);
  return [
    '# Written by `bolt-agent backup auto enable`; `bolt-agent backup auto disable` removes it.',
    '[Unit]',
    'Description=bolt-agent backup daemon (Bolt container runtime)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${command.map(quote).join(' ')}`,
    ...environment,
    'Restart=on-failure',
    'RestartSec=30s',
    '# SIGTERM: the running backup stops at a safe point and releases its locks (exit 0).',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=5min',
    'Nice=10',
    'IOSchedulingClass=best-effort',
    'IOSchedulingPriority=7',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** systemd is the running init (sd_booted's test). */
export function systemdRunning(): boolean {
  return fs.existsSync('/run/systemd/system');
}

export function writeUnit(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temp, text, { mode: 0o644 });
  fs.renameSync(temp, file);
}

export function systemctl(args: string[]): void {
  const result = spawnSync('systemctl', args, { encoding: 'utf8' });
  if (result.error) throw new BackupError('OperationFailed', `cannot run systemctl: ${result.error.message}`);
  if (result.status !== 0) throw new BackupError('OperationFailed', `systemctl ${args.join(' ')} failed: ${(result.stderr || result.stdout).trim()}`);
}
