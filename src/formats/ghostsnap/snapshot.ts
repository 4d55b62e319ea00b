// Snapshots `snapshots/<uuid>` (formats/ghostsnap.md §11): sealed compact JSON in ghostsnap's key
// order. bolt-agent adds one object, "bolt", that ghostsnap ignores: the snapshot root (the
// directory the tree's names are relative to), the program, and the run's summary.
import { CorruptDataError } from '../../backup/errors.ts';
import type { Backup, BackupSummary } from '../../backup/types.ts';
import { parseRfc3339 } from '../../util/go-time.ts';

export const NAME_TAG_PREFIX = 'bolt.name=';

export interface SnapshotExtension {
  /** Absolute directory the tree's names are relative to. */
  root: string;
  program: string;
  summary?: BackupSummary;
}

export interface GhostsnapSnapshot {
  id: string;
  parent: string | null;
  tree: string;
  paths: string[];
  hostname: string;
  username: string;
  /** RFC 3339, as stored. */
  time: string;
  tags: string[];
  excludes: string[];
  bolt?: SnapshotExtension;
}

export function encodeSnapshot(s: GhostsnapSnapshot): Buffer {
  return Buffer.from(
    JSON.stringify({
      id: s.id,
      parent: s.parent,
      tree: s.tree,
      paths: s.paths,
      hostname: s.hostname,
      username: s.username,
      time: s.time,
      tags: s.tags,
      excludes: s.excludes,
      ...(s.bolt ? { bolt: s.bolt } : {}),
    }),
  );
}

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

export function decodeSnapshot(plain: Buffer, name: string): GhostsnapSnapshot {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new CorruptDataError(`snapshot ${name}: not JSON`, { details: { object: `snapshot ${name}` } });
  }
  const bad = (field: string) => new CorruptDataError(`snapshot ${name}: ${field} is missing or malformed`, { details: { object: `snapshot ${name}` } });
  if (typeof o !== 'object' || o === null) throw bad('the object');
  if (typeof o['tree'] !== 'string' || !/^[0-9a-f]{64}$/.test(o['tree'])) throw bad('tree');
  if (!strings(o['paths'])) throw bad('paths');
  if (typeof o['time'] !== 'string') throw bad('time');
  try {
    parseRfc3339(o['time']);
  } catch {
    throw bad('time');
  }
  const ext = o['bolt'] as Record<string, unknown> | undefined;
  const snapshot: GhostsnapSnapshot = {
    id: typeof o['id'] === 'string' ? o['id'] : name,
    parent: typeof o['parent'] === 'string' ? o['parent'] : null,
    tree: o['tree'],
    paths: o['paths'],
    hostname: typeof o['hostname'] === 'string' ? o['hostname'] : '',
    username: typeof o['username'] === 'string' ? o['username'] : '',
    time: o['time'],
    tags: strings(o['tags']) ? o['tags'] : [],
    excludes: strings(o['excludes']) ? o['excludes'] : [],
  };
  if (ext && typeof ext === 'object' && typeof ext['root'] === 'string' && ext['root'].startsWith('/')) {
    snapshot.bolt = {
      root: ext['root'],
      program: typeof ext['program'] === 'string' ? ext['program'] : '',
      ...(typeof ext['summary'] === 'object' && ext['summary'] !== null ? { summary: ext['summary'] as BackupSummary } : {}),
    };
  }
  return snapshot;
}

/** A snapshot with the name of the object it was read from (the id ghostsnap lists by). */
export interface LoadedSnapshot {
  name: string;
  snapshot: GhostsnapSnapshot;
}

export function snapshotName(s: GhostsnapSnapshot): string | null {
  const tag = s.tags.find((t) => t.startsWith(NAME_TAG_PREFIX));
  return tag ? tag.slice(NAME_TAG_PREFIX.length) : null;
}

export function toBackup(loaded: LoadedSnapshot): Backup {
  const s = loaded.snapshot;
  const summary = s.bolt?.summary;
  return {
    id: loaded.name,
    name: snapshotName(s),
    timestamp: s.time,
    size_bytes: summary ? summary.total_bytes_processed : null,
    paths: s.paths,
    tags: s.tags,
    tool: 'ghostsnap',
    short_id: loaded.name.slice(0, 8),
    hostname: s.hostname,
    ...(s.username ? { username: s.username } : {}),
    parent: s.parent,
    tree: s.tree,
    ...(summary ? { summary } : {}),
  };
}

/**
 * The directory a snapshot's names are relative to, when it can be known: recorded by
 * bolt-agent, or the single absolute path of a ghostsnap snapshot.
 */
export function snapshotRoot(s: GhostsnapSnapshot): string | undefined {
  if (s.bolt) return s.bolt.root;
  if (s.paths.length === 1 && s.paths[0]?.startsWith('/')) return s.paths[0];
  return undefined;
}
