// The include set of a backup with the reason for every path: Bolt volumes (each
// <bolt root>/volumes/<name>/ with its <name>.json) and the bind mounts of the Boltfile's services
// (include.container_volumes), the Boltfile in use (when it defines a Bolt project) and /etc/bolt/
// (include.bolt_config),
// include.system_config, include.custom_paths and --include. Default locations that do not exist
// are skipped with a note; paths the user listed are kept (a missing one is reported by the backup).
import fs from 'node:fs';
import path from 'node:path';
import type { EffectiveConfig } from '../config/load.ts';
import { BackupError } from '../backup/errors.ts';
import { normaliseTargets } from '../engine/archiver.ts';
import { boltRoot } from '../scheduler/locations.ts';
import { readBoltProject, type BoltProject } from './boltfile.ts';

export type IncludeSource = 'container_volume' | 'volume_metadata' | 'bind_mount' | 'bolt_config' | 'system_config' | 'custom_path' | 'command_line';

export interface IncludeEntry {
  path: string;
  source: IncludeSource;
  reason: string;
  /** Bolt volume name (volumes and their metadata). */
  volume?: string;
  /** Services that use the path. */
  services: string[];
}

export interface IncludeSet {
  entries: IncludeEntry[];
  /** Default locations not present, services without volumes, Boltfile entries not understood. */
  skipped: { path: string; reason: string }[];
  project: BoltProject;
  volumesDir: string;
}

export interface IncludeOptions {
  /** --include paths. */
  extra?: readonly string[];
  /** Only these services' volumes and bind mounts (the surge hook); nothing else. */
  services?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/** /etc/bolt, or $BOLT_AGENT_BOLT_CONFIG_DIR. */
export function boltConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env['BOLT_AGENT_BOLT_CONFIG_DIR'] || '/etc/bolt');
}

export function volumesDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(boltRoot(env), 'volumes');
}

function kind(p: string): 'dir' | 'file' | 'other' | 'missing' {
  try {
    const st = fs.statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

/** Bolt volumes on the host: directories of the volumes directory (hidden ones are not volumes). */
function listVolumes(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export function resolveIncludeSet(effective: EffectiveConfig, options: IncludeOptions = {}): IncludeSet {
  const env = options.env ?? process.env;
  const include = effective.config.include ?? {};
  const project = readBoltProject(effective);
  const vdir = volumesDir(env);
  const entries: IncludeEntry[] = [];
  const skipped: IncludeSet['skipped'] = project.notes.map((n) => ({ path: effective.file ?? 'Boltfile', reason: n }));
  const add = (entry: IncludeEntry): void => {
    const [p] = normaliseTargets([entry.path]);
    const existing = entries.find((e) => e.path === p);
    if (!existing) entries.push({ ...entry, path: p as string });
    else {
      existing.reason = `${existing.reason}; ${entry.reason}`;
      for (const s of entry.services) if (!existing.services.includes(s)) existing.services.push(s);
    }
  };

  const only = options.services ? new Set(options.services) : undefined;
  if (only) {
    const known = project.services.map((s) => s.name);
    const unknown = [...only].filter((s) => !known.includes(s));
    if (unknown.length) {
      throw new BackupError('Usage', `unknown service${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: the Boltfile defines ${known.length ? known.join(', ') : 'no services'}`);
    }
  }
  const services = project.services.filter((s) => !only || only.has(s.name));
  const usersOf = (volume: string): string[] => services.filter((s) => s.volumes.some((v) => v.kind === 'volume' && v.name === volume)).map((s) => s.name);

  if (include.container_volumes || only) {
    const present = listVolumes(vdir);
    if (!only && kind(vdir) !== 'dir') skipped.push({ path: vdir, reason: 'include.container_volumes: no Bolt volumes directory on this host' });
    for (const name of only ? present.filter((v) => usersOf(v).length > 0) : present) {
      const users = usersOf(name);
      const usedBy = users.length ? ` (used by ${users.map((u) => `service ${u}`).join(', ')})` : '';
      add({ path: path.join(vdir, name), source: 'container_volume', reason: `Bolt volume ${name}${usedBy}`, volume: name, services: users });
      const meta = path.join(vdir, `${name}.json`);
      if (kind(meta) === 'file') add({ path: meta, source: 'volume_metadata', reason: `metadata of Bolt volume ${name}`, volume: name, services: users });
    }
    for (const service of services) {
      if (only && service.volumes.length === 0) skipped.push({ path: `service ${service.name}`, reason: 'has no volumes or bind mounts' });
      for (const v of service.volumes) {
        if (v.kind === 'volume') {
          if (!present.includes(v.name)) skipped.push({ path: path.join(vdir, v.name), reason: `volume ${v.name} of service ${service.name} does not exist (yet)` });
          continue;
        }
        if (kind(v.hostPath) === 'missing') skipped.push({ path: v.hostPath, reason: `bind mount of service ${service.name} (${v.spec}) does not exist` });
        else add({ path: v.hostPath, source: 'bind_mount', reason: `bind mount of service ${service.name} (${v.spec})`, services: [service.name] });
      }
    }
  }
  if (only) return { entries, skipped, project, volumesDir: vdir };

  if (include.bolt_config) {
    // A file holding only [backups] is bolt-agent's configuration, not a Bolt project's.
    if (effective.file && effective.boltfile && Object.keys(effective.boltfile).length > 0) add({ path: effective.file, source: 'bolt_config', reason: 'the Boltfile in use', services: [] });
    else if (effective.file) skipped.push({ path: effective.file, reason: 'include.bolt_config: it holds no Bolt project (only bolt-agent settings), so it is not backed up as Bolt configuration' });
    const dir = boltConfigDir(env);
    if (kind(dir) === 'missing') skipped.push({ path: dir, reason: 'include.bolt_config: not present on this host' });
    else add({ path: dir, source: 'bolt_config', reason: "Bolt's configuration directory", services: [] });
  }
  for (const p of include.system_config ?? []) add({ path: p, source: 'system_config', reason: 'include.system_config', services: [] });
  for (const p of include.custom_paths ?? []) add({ path: p, source: 'custom_path', reason: 'include.custom_paths', services: [] });
  for (const p of options.extra ?? []) add({ path: p, source: 'command_line', reason: '--include', services: [] });
  return { entries, skipped, project, volumesDir: vdir };
}
