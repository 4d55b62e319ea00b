// storage.secondary: copies what the primary has and the secondary lacks, any backend to any
// backend. Objects are streamed (one upload part in memory, never a whole pack), each copy is read
// back and checked by size and SHA-256, and the order keeps the secondary a valid repository at
// every moment: config and keys, then packs, then indexes, then snapshots. An interrupted run
// leaves only whole objects behind (puts are atomic), so running again continues where it stopped.
import { createHash } from 'node:crypto';
import { BackupError, CorruptDataError } from '../backup/errors.ts';
import type { ObjectInfo, Storage } from './storage.ts';

/** Rewritten in place (restic: config on migration; ghostsnap: its single index). */
export function isMutableObject(key: string): boolean {
  return key === 'config' || key === 'index/main.idx';
}

/** Locks describe a running operation on one repository; copying them would lock the secondary. */
function isReplicated(key: string): boolean {
  return !key.startsWith('locks/');
}

/** Copy order: what a later object refers to exists on the secondary before it. */
function phaseOf(key: string): number {
  const top = key.split('/')[0];
  if (top === 'config' || top === 'keys') return 0;
  if (top === 'index') return 2;
  if (top === 'snapshots') return 3;
  return 1;
}

export interface ReplicationEvent {
  key: string;
  size: number;
  /** 'copied': was missing; 'updated': a mutable object whose content differed. */
  action: 'copied' | 'updated';
}

export interface ReplicationOptions {
  /** Copies running at once (default 4). */
  concurrency?: number;
  /** Stops the run between and inside copies; what is finished stays. */
  signal?: AbortSignal;
  onProgress?: (event: ReplicationEvent) => void;
}

export interface ReplicationResult {
  copied: number;
  updated: number;
  /** Bytes written to the secondary. */
  bytes: number;
  /** Objects that were already on the secondary. */
  upToDate: number;
  /** Keys only the secondary has (e.g. pruned on the primary); left alone. */
  extra: string[];
  durationMs: number;
}

interface Digest {
  sha256: string;
  size: number;
}

async function listAll(storage: Storage): Promise<Map<string, ObjectInfo>> {
  const objects = new Map<string, ObjectInfo>();
  for await (const info of storage.list('')) if (isReplicated(info.key)) objects.set(info.key, info);
  return objects;
}

async function digestOf(storage: Storage, key: string, signal?: AbortSignal): Promise<Digest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of await storage.getStream(key)) {
    throwIfAborted(signal);
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), size };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BackupError('Interrupted', 'replication to the secondary was interrupted; run it again to continue');
}

/** Runs `task` over `items` with at most `limit` at once; stops starting new ones after the first failure. */
async function forEachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/** Streams one object from primary to secondary, then reads the copy back and compares size and SHA-256. */
async function copyObject(primary: Storage, secondary: Storage, info: ObjectInfo, signal: AbortSignal | undefined): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const source = await primary.getStream(info.key);
  const tee = (async function* () {
    for await (const chunk of source) {
      throwIfAborted(signal);
      hash.update(chunk);
      size += chunk.byteLength;
      yield chunk;
    }
  })();
  await secondary.put(info.key, { stream: tee, size: info.size });
  const sent: Digest = { sha256: hash.digest('hex'), size };
  const back = await digestOf(secondary, info.key, signal);
  if (back.size !== sent.size || back.sha256 !== sent.sha256) {
    await secondary.delete(info.key);
    throw new CorruptDataError(
      `copy of "${info.key}" on ${secondary.location} reads back ${back.size} bytes with SHA-256 ${back.sha256}, ` +
        `expected ${sent.size} bytes with ${sent.sha256}; the copy was removed`,
      { details: { key: info.key, secondary: secondary.location } },
    );
  }
}

export async function replicate(primary: Storage, secondary: Storage, options: ReplicationOptions = {}): Promise<ReplicationResult> {
  const started = Date.now();
  const { signal } = options;
  throwIfAborted(signal);
  const [source, target] = await Promise.all([listAll(primary), listAll(secondary)]);
  const result: ReplicationResult = { copied: 0, updated: 0, bytes: 0, upToDate: 0, extra: [], durationMs: 0 };
  result.extra = [...target.keys()].filter((key) => !source.has(key)).sort();

  const work: { info: ObjectInfo; action: ReplicationEvent['action'] }[] = [];
  for (const info of source.values()) {
    const there = target.get(info.key);
    if (!there || there.size !== info.size) work.push({ info, action: there ? 'updated' : 'copied' });
    else if (!isMutableObject(info.key)) result.upToDate++;
    else {
      const [a, b] = await Promise.all([digestOf(primary, info.key, signal), digestOf(secondary, info.key, signal)]);
      if (a.sha256 !== b.sha256) work.push({ info, action: 'updated' });
      else result.upToDate++;
    }
  }

  for (let phase = 0; phase <= 3; phase++) {
    const batch = work.filter((w) => phaseOf(w.info.key) === phase).sort((a, b) => (a.info.key < b.info.key ? -1 : 1));
    await forEachLimited(batch, options.concurrency ?? 4, async ({ info, action }) => {
      throwIfAborted(signal);
      await copyObject(primary, secondary, info, signal);
      if (action === 'copied') result.copied++;
      else result.updated++;
      result.bytes += info.size;
      options.onProgress?.({ key: info.key, size: info.size, action });
    });
  }
  result.durationMs = Date.now() - started;
  return result;
}

export interface SecondaryCheck {
  ok: boolean;
  /** Objects of the primary that were checked on the secondary. */
  checked: number;
  missing: string[];
  /** Present with another size. */
  sizeMismatch: string[];
  /** Same size, other bytes (mutable objects always; all objects with readData). */
  contentMismatch: string[];
  /** Only on the secondary. */
  extra: string[];
}

/**
 * `backup check --secondary`: every object of the primary must be on the secondary with the
 * same size; mutable objects (and with `readData` every object) must have the same SHA-256.
 */
export async function verifySecondary(
  primary: Storage,
  secondary: Storage,
  options: { readData?: boolean; concurrency?: number; signal?: AbortSignal } = {},
): Promise<SecondaryCheck> {
  const [source, target] = await Promise.all([listAll(primary), listAll(secondary)]);
  const check: SecondaryCheck = { ok: true, checked: source.size, missing: [], sizeMismatch: [], contentMismatch: [], extra: [] };
  const compare: string[] = [];
  for (const info of source.values()) {
    const there = target.get(info.key);
    if (!there) check.missing.push(info.key);
    else if (there.size !== info.size) check.sizeMismatch.push(info.key);
    else if (options.readData || isMutableObject(info.key)) compare.push(info.key);
  }
  await forEachLimited(compare, options.concurrency ?? 4, async (key) => {
    const [a, b] = await Promise.all([digestOf(primary, key, options.signal), digestOf(secondary, key, options.signal)]);
    if (a.sha256 !== b.sha256 || a.size !== b.size) check.contentMismatch.push(key);
  });
  check.extra = [...target.keys()].filter((key) => !source.has(key));
  for (const list of [check.missing, check.sizeMismatch, check.contentMismatch, check.extra]) list.sort();
  check.ok = !check.missing.length && !check.sizeMismatch.length && !check.contentMismatch.length;
  return check;
}

export interface SecondaryLag {
  /** Objects of the primary missing on the secondary or there with another size. */
  missingObjects: number;
  missingBytes: number;
  /** Age of the most recently written object still missing (how fresh the backlog is); undefined when in sync. */
  newestMissingAgeMs: number | undefined;
  /** Age of the oldest missing object (how long the secondary has been behind). */
  oldestMissingAgeMs: number | undefined;
}

/**
 * For health: how far the secondary is behind, from listings only (no object is read). A mutable
 * object rewritten with the same size is not seen here (modification times of two services are
 * not comparable); replicate() and verifySecondary() compare those by content.
 */
export async function secondaryLag(primary: Storage, secondary: Storage, now: Date = new Date()): Promise<SecondaryLag> {
  const [source, target] = await Promise.all([listAll(primary), listAll(secondary)]);
  const lag: SecondaryLag = { missingObjects: 0, missingBytes: 0, newestMissingAgeMs: undefined, oldestMissingAgeMs: undefined };
  let newest: number | undefined;
  let oldest: number | undefined;
  for (const info of source.values()) {
    const there = target.get(info.key);
    if (there && there.size === info.size) continue;
    lag.missingObjects++;
    lag.missingBytes += info.size;
    const written = info.modified?.getTime();
    if (written !== undefined) {
      newest = Math.max(newest ?? written, written);
      oldest = Math.min(oldest ?? written, written);
    }
  }
  if (newest !== undefined) lag.newestMissingAgeMs = Math.max(0, now.getTime() - newest);
  if (oldest !== undefined) lag.oldestMissingAgeMs = Math.max(0, now.getTime() - oldest);
  return lag;
}
