// Big transient buffers (a 16 MiB pack range, encoded segments) become garbage right after use.
// Bun's collector (JavaScriptCore) is slow to notice memory outside its heap, so peak RSS grows
// far beyond what is live; asking it for a collection after each such buffer keeps RSS close to
// the live set. Node (V8) tracks external memory itself: nothing to do there.
//
// The same holds for the heap itself on a machine with much RAM: a walk of 56k entries keeps
// 25–40 MB live, yet JavaScriptCore lets the heap grow to 100–150 MB of mostly garbage before
// it collects. During a backup or restore a full collection every few hundred milliseconds
// (~10 ms each at that live size) keeps peak RSS 30–80 MB lower for ~2 % more time, and young-
// generation collections in between keep it lower still.

import { setImmediate } from 'node:timers';

interface BunGlobal {
  Bun?: { gc?: (force: boolean) => void };
}

let bytesSinceCollection = 0;
/** Ask for a collection after this many bytes of big buffers were let go. */
const THRESHOLD = 128 * 1024 * 1024;

export function releasedBytes(bytes: number): void {
  const gc = (globalThis as BunGlobal).Bun?.gc;
  if (!gc) return;
  bytesSinceCollection += bytes;
  if (bytesSinceCollection < THRESHOLD) return;
  bytesSinceCollection = 0;
  gc(true);
}

/** Full-collection interval during long operations; BOLT_GC_INTERVAL_MS=0 turns pacing off. */
function pacedInterval(): number {
  const raw = process.env.BOLT_GC_INTERVAL_MS;
  const ms = raw === undefined || raw === '' ? 500 : Number(raw);
  return Number.isFinite(ms) && ms >= 0 ? ms : 500;
}

/**
 * Between full collections, a young-generation (eden) collection this often by default: it only
 * visits what was allocated since the last one, and it keeps a walk's short-lived objects
 * (listings, parent-tree nodes) from growing the heap. Re-run of 56k entries: peak RSS ~240 ->
 * ~190 MB with full collections every 500 ms alone, in the same time. Each costs ~2 ms of the
 * JavaScript thread whatever it finds, so a long run passes a longer interval (youngIntervalMs).
 */
const YOUNG_INTERVAL_MS = 25;

export interface Collector {
  full(): void;
  /** Absent where the runtime offers none (then only full collections are paced). */
  young?: () => void;
}

/** Bun's collector (JavaScriptCore), or undefined on Node and Deno, whose collectors need no help. */
export async function runtimeCollector(): Promise<Collector | undefined> {
  const gc = (globalThis as BunGlobal).Bun?.gc;
  if (!gc) return undefined;
  let young: (() => void) | undefined;
  try {
    const jsc = (await import('bun:jsc' as string)) as { edenGC?: unknown };
    if (typeof jsc.edenGC === 'function') young = jsc.edenGC as () => void;
  } catch {
    // not Bun after all (a test's stand-in): full collections only
  }
  return { full: () => gc(true), ...(young ? { young } : {}) };
}

/**
 * A full collection now, on Bun with pacing on (BOLT_GC_INTERVAL_MS not 0): for the garbage a
 * preparation left (a decoded index) before work that keeps much alive starts.
 */
export function collectNow(): void {
  if (pacedInterval() === 0) return;
  (globalThis as BunGlobal).Bun?.gc?.(true);
}

/**
 * Entries (files read, files restored) between two full collections however little time passed:
 * garbage grows with entries, not with time. Through the 18k small files of one directory a
 * backup made ~75 MB of garbage between two paced collections 500 ms apart (the first backup's
 * peak); in a large file's long reads, few entries and little garbage.
 */
const ENTRIES_PER_COLLECTION = 2048;

interface Pacing {
  collector: Collector;
  lastFull: number;
  entries: number;
  /** A collection finishedEntries made due waits for the next turn of the event loop. */
  dueNextTurn: boolean;
}

/** The paced runs going on (a daemon may run several at once); entries handled feed the newest. */
const running: Pacing[] = [];

/** `n` more entries handled; a full collection when enough came since the last one. */
export function handledEntries(n = 1): void {
  const pacing = running[running.length - 1];
  if (!pacing) return;
  pacing.entries += n;
  if (pacing.entries >= ENTRIES_PER_COLLECTION) collectFull(pacing);
}

/**
 * What an entry settled without a read counts for, against an entry read: counted in full, a
 * mutated run collected more often (+0.1 s) for the same peak; counted for a quarter, its peak
 * was 10-25 MiB higher.
 */
const FINISHED_ENTRY_WEIGHT = 0.5;

/**
 * `n` entries whose objects become garbage once the caller's turn ends: a finished directory's
 * entries that were settled without a read (unchanged files, entries kept from a compared tree).
 * They count toward the next full collection like entries read, but a collection they make due
 * runs on the next turn of the event loop (right after its I/O), once the caller has let the
 * directory go. Not counted, the 18k entries of one changed directory (its listing, the previous
 * tree's bytes) stayed as garbage until the next timed collection: the bench's mutated run
 * peaked 25-45 MiB higher.
 */
export function finishedEntries(n: number): void {
  const pacing = running[running.length - 1];
  if (!pacing || n <= 0) return;
  pacing.entries += n * FINISHED_ENTRY_WEIGHT;
  if (pacing.entries < ENTRIES_PER_COLLECTION || pacing.dueNextTurn) return;
  pacing.dueNextTurn = true;
  setImmediate(() => {
    pacing.dueNextTurn = false;
    // Not if the run ended, or a collection since (by entries read or by time) made it moot.
    if (running.includes(pacing) && pacing.entries >= ENTRIES_PER_COLLECTION) collectFull(pacing);
  });
}

/** A full collection now; the next one is counted (in time and in entries) from here. */
function collectFull(pacing: Pacing): void {
  pacing.lastFull = Date.now();
  pacing.entries = 0;
  pacing.collector.full();
}

/** Runs `work` with paced collections on Bun (nothing elsewhere). */
export async function withPacedCollection<T>(work: () => Promise<T>, collector?: Collector, youngIntervalMs = YOUNG_INTERVAL_MS): Promise<T> {
  const interval = pacedInterval();
  const c = interval === 0 ? undefined : (collector ?? (await runtimeCollector()));
  if (!c) return work();
  // What the preparation left (a decoded index, key derivation) goes before the work adds its own.
  c.full();
  const state: Pacing = { collector: c, lastFull: Date.now(), entries: 0, dueNextTurn: false };
  running.push(state);
  const tick = c.young ? Math.min(youngIntervalMs, interval) : interval;
  const timer = setInterval(() => {
    if (!c.young || Date.now() - state.lastFull >= interval) collectFull(state);
    else c.young();
  }, tick);
  timer.unref?.();
  try {
    return await work();
  } finally {
    clearInterval(timer);
    running.splice(running.indexOf(state), 1);
  }
}
