// on_container_changes: watches Bolt's state directory — <root>/containers/ (entries and the files
// directly inside container directories) and <root>/volumes/ (<name>/ with <name>.json beside
// it) — and backs up the volumes that a created, removed, restarted or otherwise changed
// container or volume affects. inotify only says "look again": what changed is found by
// comparing listings, so the kind of change does not depend on how an editor or Bolt wrote the
// files, and a periodic rescan catches anything an overflowing event queue lost.
import fs from 'node:fs';
import path from 'node:path';
import type { Clock, Timer } from './clock.ts';
import { Debouncer, type DebounceTimes } from './debounce.ts';
import type { RunRequest } from './triggers.ts';

export type ChangeKind = 'created' | 'removed' | 'changed';

export interface BoltChange {
  area: 'containers' | 'volumes';
  name: string;
  kind: ChangeKind;
}

export interface BoltStateTriggerOptions {
  root: string;
  clock: Clock;
  times: DebounceTimes;
  fire: (request: RunRequest) => void;
  log: (message: string) => void;
  /** Full rescan interval (default 30 s). */
  rescanMs?: number;
}

/** Listing signature of Bolt's state: relative path → identity (inode, and size/mtime for files). */
type Listing = Map<string, string>;

const HINT_DELAY_MS = 100;

function entryName(entry: string): string {
  return entry.endsWith('.json') ? entry.slice(0, -'.json'.length) : entry;
}

function signature(stat: fs.Stats): string {
  return stat.isDirectory() ? `d${stat.ino}` : `f${stat.ino}:${stat.size}:${stat.mtimeMs}`;
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function statOf(file: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(file);
  } catch {
    return undefined;
  }
}

/** Every string in a JSON document. */
function stringsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) stringsIn(v, out);
  return out;
}

export class BoltStateTrigger {
  private listing: Listing = new Map();
  private readonly containerVolumes = new Map<string, string[]>();
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private debouncer: Debouncer<BoltChange> | undefined;
  private hint: Timer | undefined;
  private rescanTimer: Timer | undefined;
  private armed = false;

  constructor(private readonly options: BoltStateTriggerOptions) {}

  get dueAt(): number | undefined {
    return this.debouncer?.dueAt;
  }

  private get containersDir(): string {
    return path.join(this.options.root, 'containers');
  }

  private get volumesDir(): string {
    return path.join(this.options.root, 'volumes');
  }

  arm(): void {
    this.armed = true;
    this.debouncer = new Debouncer<BoltChange>(this.options.clock, this.options.times, (changes) => this.flush(changes));
    this.listing = this.scan();
    for (const container of this.containerNames(this.listing)) this.containerVolumes.set(container, this.volumesOfContainer(container));
    this.syncWatchers();
    this.scheduleRescan();
  }

  disarm(): void {
    this.armed = false;
    this.hint?.cancel();
    this.rescanTimer?.cancel();
    this.debouncer?.cancel();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private scan(): Listing {
    const listing: Listing = new Map();
    for (const entry of listDir(this.containersDir)) {
      const full = path.join(this.containersDir, entry);
      const stat = statOf(full);
      if (!stat) continue;
      listing.set(`containers/${entry}`, signature(stat));
      if (!stat.isDirectory()) continue;
      for (const inner of listDir(full)) {
        const innerStat = statOf(path.join(full, inner));
        if (innerStat && !innerStat.isDirectory()) listing.set(`containers/${entry}/${inner}`, signature(innerStat));
      }
    }
    for (const entry of listDir(this.volumesDir)) {
      const stat = statOf(path.join(this.volumesDir, entry));
      if (stat) listing.set(`volumes/${entry}`, signature(stat));
    }
    return listing;
  }

  private containerNames(listing: Listing): Set<string> {
    const names = new Set<string>();
    for (const key of listing.keys()) {
      const [area, entry] = key.split('/');
      if (area === 'containers' && entry) names.add(entryName(entry));
    }
    return names;
  }

  private volumeNames(): string[] {
    return listDir(this.volumesDir).filter((entry) => statOf(path.join(this.volumesDir, entry))?.isDirectory());
  }

  /** Volumes a container uses: named in its JSON files (as a name, "name:/mount" or a path below volumes/), or named after it. */
  private volumesOfContainer(container: string): string[] {
    const volumes = this.volumeNames();
    const documents: string[] = [];
    const asFile = path.join(this.containersDir, `${container}.json`);
    if (statOf(asFile)?.isFile()) documents.push(asFile);
    const asDir = path.join(this.containersDir, container);
    if (statOf(asDir)?.isDirectory()) for (const inner of listDir(asDir)) if (inner.endsWith('.json')) documents.push(path.join(asDir, inner));
    const strings: string[] = [];
    for (const doc of documents) {
      try {
        stringsIn(JSON.parse(fs.readFileSync(doc, 'utf8')), strings);
      } catch {
        // being rewritten or not JSON: names still match below
      }
    }
    const used = new Set<string>();
    for (const v of volumes) {
      const dir = path.join(this.volumesDir, v);
      if (v === container || v.startsWith(`${container}_`) || v.startsWith(`${container}-`)) used.add(v);
      if (strings.some((s) => s === v || s.startsWith(`${v}:`) || s === dir || s.startsWith(`${dir}/`))) used.add(v);
    }
    return [...used].sort();
  }

  private syncWatchers(): void {
    const wanted = new Set<string>();
    for (const dir of [this.containersDir, this.volumesDir]) if (statOf(dir)?.isDirectory()) wanted.add(dir);
    for (const key of this.listing.keys()) {
      const parts = key.split('/');
      if (parts[0] === 'containers' && parts.length === 2 && this.listing.get(key)?.startsWith('d')) wanted.add(path.join(this.options.root, key));
    }
    for (const [dir, watcher] of this.watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (this.watchers.has(dir)) continue;
      try {
        const watcher = fs.watch(dir, { persistent: true }, () => this.onHint());
        watcher.on('error', () => {
          watcher.close();
          this.watchers.delete(dir);
          this.onHint();
        });
        this.watchers.set(dir, watcher);
      } catch (err) {
        this.options.log(`on_container_changes: cannot watch ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); relying on the periodic rescan`);
      }
    }
  }

  private onHint(): void {
    if (!this.armed || this.hint) return;
    this.hint = this.options.clock.setTimer(HINT_DELAY_MS, () => {
      this.hint = undefined;
      this.rescan();
    });
  }

  private scheduleRescan(): void {
    this.rescanTimer = this.options.clock.setTimer(this.options.rescanMs ?? 30_000, () => {
      this.rescan();
      if (this.armed) this.scheduleRescan();
    });
  }

  /** Compares a fresh listing with the previous one and queues what changed. */
  rescan(): void {
    if (!this.armed) return;
    const before = this.listing;
    const after = this.scan();
    this.listing = after;
    const touched = new Map<string, { area: BoltChange['area']; name: string; before: boolean; after: boolean }>();
    for (const key of new Set([...before.keys(), ...after.keys()])) {
      if (before.get(key) === after.get(key)) continue;
      const [area, entry] = key.split('/') as [BoltChange['area'], string];
      const name = entryName(entry);
      const id = `${area}/${name}`;
      const t = touched.get(id) ?? { area, name, before: false, after: false };
      touched.set(id, t);
    }
    for (const t of touched.values()) {
      const prefix = `${t.area}/`;
      const exists = (listing: Listing) => [...listing.keys()].some((k) => k.startsWith(prefix) && entryName(k.slice(prefix.length).split('/')[0] ?? '') === t.name);
      t.before = exists(before);
      t.after = exists(after);
      const kind: ChangeKind = !t.before ? 'created' : !t.after ? 'removed' : 'changed';
      this.debouncer?.add({ area: t.area, name: t.name, kind });
    }
    if (touched.size) this.syncWatchers();
  }

  private flush(changes: BoltChange[]): void {
    const volumes = new Set<string>();
    const described: string[] = [];
    const seen = new Set<string>();
    for (const change of changes) {
      const id = `${change.area}/${change.name}/${change.kind}`;
      if (!seen.has(id)) {
        seen.add(id);
        described.push(`${change.area === 'containers' ? 'container' : 'volume'} ${change.name} ${change.kind}`);
      }
      if (change.area === 'volumes') {
        if (change.kind !== 'removed') volumes.add(change.name);
        continue;
      }
      const remembered = this.containerVolumes.get(change.name) ?? [];
      const current = change.kind === 'removed' ? [] : this.volumesOfContainer(change.name);
      for (const v of [...remembered, ...current]) volumes.add(v);
      if (change.kind === 'removed') this.containerVolumes.delete(change.name);
      else this.containerVolumes.set(change.name, current);
    }
    const existing = [...volumes].filter((v) => statOf(path.join(this.volumesDir, v))?.isDirectory()).sort();
    const reason = described.join('; ');
    if (existing.length === 0) {
      this.options.log(`on_container_changes: ${reason}: no existing volume is affected, nothing to back up`);
      return;
    }
    const paths: string[] = [];
    for (const v of existing) {
      paths.push(path.join(this.volumesDir, v));
      const meta = path.join(this.volumesDir, `${v}.json`);
      if (statOf(meta)?.isFile()) paths.push(meta);
    }
    this.options.fire({
      trigger: 'on_container_changes',
      scope: { kind: 'paths', paths },
      reason,
      tags: existing.map((v) => `bolt.volume=${v}`),
    });
  }
}
