// Bolt metadata of a backup, kept as tags (restic shows them too): bolt.project, bolt.service and
// bolt.volume from what the paths are, bolt.trigger from who asked, host, and bolt.snapshot for a
// backup of a kept snapshot. Derived from the paths alone, so every caller gets the same tags.
import path from 'node:path';
import type { BoltProject } from './boltfile.ts';

export interface PathOwners {
  volume?: string;
  services: string[];
}

function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

/** The Bolt volume and the services a backup path belongs to. */
export function ownersOf(p: string, project: BoltProject, volumesDir: string): PathOwners {
  let volume: string | undefined;
  if (p.startsWith(`${volumesDir}/`)) {
    const first = p.slice(volumesDir.length + 1).split('/')[0] ?? '';
    volume = first.endsWith('.json') ? first.slice(0, -'.json'.length) : first;
  }
  const services = project.services
    .filter((s) => s.volumes.some((v) => (v.kind === 'volume' ? v.name === volume : within(p, v.hostPath) || within(v.hostPath, p))))
    .map((s) => s.name);
  return { ...(volume ? { volume } : {}), services };
}

export interface TagContext {
  project: BoltProject;
  volumesDir: string;
  hostname: string;
  /** Used when the caller's tags name no trigger. */
  trigger: string;
}

/** `tags` plus the Bolt tags for `paths` (no duplicates, the caller's first). */
export function withBoltTags(tags: readonly string[], paths: readonly string[], ctx: TagContext): string[] {
  const out = [...tags];
  const push = (t: string): void => {
    if (!out.includes(t)) out.push(t);
  };
  if (ctx.project.name) push(`bolt.project=${ctx.project.name}`);
  const services = new Set<string>();
  const volumes = new Set<string>();
  for (const p of paths) {
    const owners = ownersOf(path.resolve(p), ctx.project, ctx.volumesDir);
    if (owners.volume) volumes.add(owners.volume);
    for (const s of owners.services) services.add(s);
  }
  for (const s of [...services].sort()) push(`bolt.service=${s}`);
  for (const v of [...volumes].sort()) push(`bolt.volume=${v}`);
  if (!out.some((t) => t.startsWith('bolt.trigger='))) push(`bolt.trigger=${ctx.trigger}`);
  push(`host=${ctx.hostname}`);
  return out;
}
