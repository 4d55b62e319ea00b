// Where unattended operation keeps and finds things on the host: bolt-agent's own state, Bolt's
// state directory and snapshot path, and the systemd unit directory. Each can be moved with an
// environment variable so tests (and unusual hosts) never touch the real locations.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EffectiveConfig } from '../config/load.ts';

export const UNIT_NAME = 'bolt-agent.service';
/** In the state directory: held by the one daemon using it. */
export const DAEMON_LOCK_FILE = 'daemon.lock';
/** In the state directory: held during every backup run (host-wide, across processes). */
export const RUN_LOCK_FILE = 'run.lock';

function writableDir(dir: string): boolean {
  try {
    fs.accessSync(fs.existsSync(dir) ? dir : path.dirname(dir), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The daemon's state directory: $BOLT_AGENT_STATE_DIR, else /var/lib/bolt-agent for root when
 * writable (a system service), else $XDG_STATE_HOME/bolt-agent or ~/.local/state/bolt-agent.
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['BOLT_AGENT_STATE_DIR'];
  if (explicit) return path.resolve(explicit);
  const system = '/var/lib/bolt-agent';
  if (process.getuid?.() === 0 && writableDir(system)) return system;
  const base = env['XDG_STATE_HOME'] || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'bolt-agent');
}

/** Bolt's state directory: volumes in <root>/volumes/<name>/ (+ <name>.json), containers in <root>/containers/. */
export function boltRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env['BOLT_AGENT_BOLT_ROOT'] || '/var/lib/bolt');
}

/** Bolt's snapshot_path: $BOLT_AGENT_SNAPSHOT_PATH, else the Boltfile's [snapshots].snapshot_path, else <bolt root>/snapshots. */
export function snapshotPath(effective: EffectiveConfig, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['BOLT_AGENT_SNAPSHOT_PATH'];
  if (explicit) return path.resolve(explicit);
  const table = effective.boltfile?.['snapshots'];
  const configured = typeof table === 'object' && table !== null ? (table as Record<string, unknown>)['snapshot_path'] : undefined;
  if (typeof configured === 'string' && configured) {
    return path.resolve(effective.file ? path.dirname(effective.file) : process.cwd(), configured);
  }
  return path.join(boltRoot(env), 'snapshots');
}

/** Where `backup auto enable` writes the unit: $BOLT_AGENT_SYSTEMD_DIR, else /etc/systemd/system. */
export function systemdUnitDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env['BOLT_AGENT_SYSTEMD_DIR'] || '/etc/systemd/system');
}

/** The local cache directory (restic.cache_dir, default ~/.cache/bolt-agent). */
export function cacheDir(effective: EffectiveConfig): string {
  return effective.config.restic?.cache_dir ?? path.join(process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'bolt-agent');
}
