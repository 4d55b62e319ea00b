// restic snapshot files (formats/restic.md §8): compact JSON, no trailing newline, keys in
// restic's order with Go omitempty.
//
// We write `summary` (restic 0.17+'s backup statistics) when the caller supplies it: restic 0.14
// ignores unknown fields and 0.17+ shows it in `snapshots` and `stats`, so including it only
// adds information. Likewise `program_version` (0.16+).

import {
  goJsonArray,
  goJsonInteger,
  goJsonObject,
  goJsonString,
  omitEmpty,
  type GoJsonMember,
} from './go-json.ts';
import {
  asObject,
  parseGoJson,
  readId,
  readOptionalId,
  readString,
  readStringList,
  readTime,
  readUint,
  schemaError,
  type JsonObject,
} from './go-json-parse.ts';
import { formatRfc3339Nano, type GoTime } from '../../util/go-time.ts';

/** restic 0.17+ `summary`: statistics of the backup that made the snapshot. */
export interface SnapshotSummary {
  backupStart: GoTime;
  backupEnd: GoTime;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  dataAdded: number;
  dataAddedPacked: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
}

export interface ResticSnapshot {
  time: GoTime;
  parent?: string;
  /** Root tree ID. */
  tree: string;
  /** Backup targets in command-line order (not sorted). */
  paths: string[];
  hostname?: string;
  username?: string;
  /** Omitted when 0 (root). */
  uid?: number;
  gid?: number;
  excludes?: string[];
  /**
   * Tags in the order given. On write an empty list is omitted; on read an explicit `[]` is
   * kept apart from an absent list, because `forget --group-by tags` tells them apart.
   */
  tags?: string[];
  /** ID of the first version of a rewritten snapshot. */
  original?: string;
  programVersion?: string;
  summary?: SnapshotSummary;
}

const ID_PATTERN = /^[0-9a-f]{64}$/;

function idJson(id: string, field: string): string {
  if (!ID_PATTERN.test(id)) throw new RangeError(`snapshot ${field}: not a lower-case 64-digit hex ID: ${JSON.stringify(id)}`);
  return goJsonString(id);
}

function uintJson(value: number, bits: 32 | 64, field: string): string {
  const max = bits === 32 ? 0xffff_ffff : Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new RangeError(`snapshot ${field}: not an unsigned ${bits}-bit integer: ${value}`);
  }
  return goJsonInteger(value);
}

function stringsJson(list: readonly string[]): string {
  return goJsonArray(list.map((s) => goJsonString(s)));
}

function timeJson(t: GoTime): string {
  return '"' + formatRfc3339Nano(t) + '"';
}

const SUMMARY_COUNTERS = [
  ['filesNew', 'files_new'],
  ['filesChanged', 'files_changed'],
  ['filesUnmodified', 'files_unmodified'],
  ['dirsNew', 'dirs_new'],
  ['dirsChanged', 'dirs_changed'],
  ['dirsUnmodified', 'dirs_unmodified'],
  ['dataBlobs', 'data_blobs'],
  ['treeBlobs', 'tree_blobs'],
  ['dataAdded', 'data_added'],
  ['dataAddedPacked', 'data_added_packed'],
  ['totalFilesProcessed', 'total_files_processed'],
  ['totalBytesProcessed', 'total_bytes_processed'],
] as const satisfies ReadonlyArray<readonly [keyof SnapshotSummary, string]>;

function summaryJson(s: SnapshotSummary): string {
  const members: GoJsonMember[] = [
    ['backup_start', timeJson(s.backupStart)],
    ['backup_end', timeJson(s.backupEnd)],
  ];
  for (const [prop, key] of SUMMARY_COUNTERS) members.push([key, uintJson(s[prop], 64, `summary.${key}`)]);
  return goJsonObject(members);
}

/** The snapshot JSON restic writes (no trailing newline). */
export function encodeSnapshot(s: ResticSnapshot): Buffer {
  if (s.paths.length === 0) throw new RangeError('snapshot paths: at least one path is required');
  const json = goJsonObject([
    ['time', timeJson(s.time)],
    ['parent', omitEmpty(s.parent, (id) => idJson(id, 'parent'))],
    ['tree', idJson(s.tree, 'tree')],
    ['paths', stringsJson(s.paths)],
    ['hostname', omitEmpty(s.hostname, goJsonString)],
    ['username', omitEmpty(s.username, goJsonString)],
    ['uid', omitEmpty(s.uid, (v) => uintJson(v, 32, 'uid'))],
    ['gid', omitEmpty(s.gid, (v) => uintJson(v, 32, 'gid'))],
    ['excludes', omitEmpty(s.excludes, stringsJson)],
    ['tags', omitEmpty(s.tags, stringsJson)],
    ['original', omitEmpty(s.original, (id) => idJson(id, 'original'))],
    ['program_version', omitEmpty(s.programVersion, goJsonString)],
    ['summary', s.summary === undefined ? undefined : summaryJson(s.summary)],
  ]);
  return Buffer.from(json, 'utf8');
}

function decodeSummary(obj: JsonObject): SnapshotSummary {
  const at = (key: string): string => `snapshot.summary.${key}`;
  const summary = {
    backupStart: readTime(obj.field('backup_start'), at('backup_start')),
    backupEnd: readTime(obj.field('backup_end'), at('backup_end')),
  } as SnapshotSummary;
  for (const [prop, key] of SUMMARY_COUNTERS) summary[prop] = readUint(obj.field(key), at(key), 64);
  return summary;
}

/**
 * Decodes a snapshot file's JSON (after decryption and decompression). `time`, `tree` and
 * `paths` are required, as restic needs them to list and restore; other fields are optional
 * and unknown fields are ignored. Errors are CorruptDataError naming the field.
 */
export function decodeSnapshot(bytes: Uint8Array): ResticSnapshot {
  const obj = asObject(parseGoJson(bytes, 'snapshot'), 'snapshot');
  const f = (key: string) => obj.field(key);
  if (f('time') === undefined || f('time') === null) throw schemaError('snapshot.time', 'missing');
  const paths = readStringList(f('paths'), 'snapshot.paths');
  if (!paths || paths.length === 0) throw schemaError('snapshot.paths', 'missing or empty');
  const snapshot: ResticSnapshot = {
    time: readTime(f('time'), 'snapshot.time'),
    tree: readId(f('tree'), 'snapshot.tree'),
    paths,
  };
  const parent = readOptionalId(f('parent'), 'snapshot.parent');
  if (parent !== undefined) snapshot.parent = parent;
  const hostname = readString(f('hostname'), 'snapshot.hostname');
  if (hostname !== '') snapshot.hostname = hostname;
  const username = readString(f('username'), 'snapshot.username');
  if (username !== '') snapshot.username = username;
  const uid = readUint(f('uid'), 'snapshot.uid', 32);
  if (uid !== 0) snapshot.uid = uid;
  const gid = readUint(f('gid'), 'snapshot.gid', 32);
  if (gid !== 0) snapshot.gid = gid;
  const excludes = readStringList(f('excludes'), 'snapshot.excludes');
  if (excludes && excludes.length > 0) snapshot.excludes = excludes;
  const tags = readStringList(f('tags'), 'snapshot.tags');
  if (tags) snapshot.tags = tags;
  const original = readOptionalId(f('original'), 'snapshot.original');
  if (original !== undefined) snapshot.original = original;
  const programVersion = readString(f('program_version'), 'snapshot.program_version');
  if (programVersion !== '') snapshot.programVersion = programVersion;
  const summary = f('summary');
  if (summary !== undefined && summary !== null) snapshot.summary = decodeSummary(asObject(summary, 'snapshot.summary'));
  return snapshot;
}
