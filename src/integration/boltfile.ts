// What bolt-agent reads from the Boltfile's other tables: the project name, each service's
// volumes (`volumes = ["host:container[:options]"]`: a name is a Bolt volume, a path a bind
// mount) and Bolt's [snapshots] table.
import os from 'node:os';
import path from 'node:path';
import type { EffectiveConfig } from '../config/load.ts';

export type VolumeMount =
  | { kind: 'volume'; name: string; target: string; spec: string }
  | { kind: 'bind'; hostPath: string; target: string; spec: string };

export interface BoltService {
  name: string;
  volumes: VolumeMount[];
}

export interface BoltProject {
  /** The Boltfile's `project` (a string, or a table with `name`). */
  name: string | undefined;
  services: BoltService[];
  /** Bolt's [snapshots] table. */
  snapshots: { snapshotPath?: string; filesystem?: string };
  /** Entries that could not be understood (reported, not fatal: they are Bolt's to validate). */
  notes: string[];
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseVolume(spec: string, baseDir: string): VolumeMount | undefined {
  const [host, target, ...rest] = spec.split(':');
  if (!host || !target || rest.length > 1) return undefined;
  if (host.startsWith('/') || host.startsWith('.') || host.startsWith('~')) {
    const expanded = host.startsWith('~') ? path.join(os.homedir(), host.slice(1)) : host;
    return { kind: 'bind', hostPath: path.resolve(baseDir, expanded), target, spec };
  }
  return { kind: 'volume', name: host, target, spec };
}

export function readBoltProject(effective: EffectiveConfig): BoltProject {
  const doc = effective.boltfile ?? {};
  const baseDir = effective.file ? path.dirname(effective.file) : process.cwd();
  const notes: string[] = [];
  const project = doc['project'];
  const name = typeof project === 'string' ? project : isTable(project) && typeof project['name'] === 'string' ? project['name'] : undefined;
  const services: BoltService[] = [];
  const table = doc['services'];
  if (isTable(table)) {
    for (const [serviceName, service] of Object.entries(table)) {
      const volumes: VolumeMount[] = [];
      const list = isTable(service) ? service['volumes'] : undefined;
      if (Array.isArray(list)) {
        for (const entry of list) {
          const parsed = typeof entry === 'string' ? parseVolume(entry, baseDir) : undefined;
          if (parsed) volumes.push(parsed);
          else notes.push(`services.${serviceName}.volumes: ${JSON.stringify(entry)} is not "host:container[:options]"; ignored`);
        }
      }
      services.push({ name: serviceName, volumes });
    }
  }
  const snap = isTable(doc['snapshots']) ? doc['snapshots'] : {};
  const snapshotPath = typeof snap['snapshot_path'] === 'string' && snap['snapshot_path'] ? path.resolve(baseDir, snap['snapshot_path']) : undefined;
  const filesystem = typeof snap['filesystem'] === 'string' ? snap['filesystem'] : undefined;
  return { name, services, snapshots: { ...(snapshotPath ? { snapshotPath } : {}), ...(filesystem ? { filesystem } : {}) }, notes };
}
