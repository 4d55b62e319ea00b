// after_snapshot: a new entry in Bolt's snapshot_path is a new snapshot; back it up once it has
// been quiet for the debounce time (btrfs/zfs snapshots appear whole; a copied directory does
// not). Names already backed up are kept in the state file, so snapshots taken while the daemon
// was down are found at start; a trigger armed for the first time takes the existing ones as seen.
import fs from 'node:fs';
import { SNAPSHOT_METADATA } from '../snapshots/metadata-file.ts';
import path from 'node:path';
import type { Clock, Timer } from './clock.ts';
import { Debouncer, type DebounceTimes } from './debounce.ts';
import type { RunRequest } from './triggers.ts';

export interface SnapshotTriggerOptions {
  dir: string;
  clock: Clock;
  times: DebounceTimes;
  fire: (request: RunRequest) => void;
  /** Persists the names handled so far. */
  onSeen: (names: string[]) => void;
  rescanMs?: number;
}

/** Snapshots bolt-agent itself keeps there (snapshot-backup, safety snapshots) already have their backup. */
function madeByBoltAgent(dir: string, name: string): boolean {
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, name, SNAPSHOT_METADATA), 'utf8')) as { kind?: string };
    return meta.kind === 'snapshot-backup' || meta.kind === 'safety';
  } catch {
    return false;
  }
}

function listSnapshots(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !madeByBoltAgent(dir, e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export class SnapshotTrigger {
  private seen = new Set<string>();
  /** Snapshots handed to a run that has not finished yet. */
  private inFlight = new Set<string>();
  private watcher: fs.FSWatcher | undefined;
  private debouncer: Debouncer<string> | undefined;
  private rescanTimer: Timer | undefined;
  private armed = false;

  constructor(private readonly options: SnapshotTriggerOptions) {}

  get dueAt(): number | undefined {
    return this.debouncer?.dueAt;
  }

  arm(previouslySeen: string[] | undefined): void {
    this.armed = true;
    this.debouncer = new Debouncer<string>(this.options.clock, this.options.times, (names) => this.flush(names));
    const present = listSnapshots(this.options.dir);
    if (previouslySeen === undefined) {
      this.seen = new Set(present);
      this.options.onSeen(present);
    } else {
      this.seen = new Set(previouslySeen);
    }
    this.watch();
    this.rescan();
    this.scheduleRescan();
  }

  disarm(): void {
    this.armed = false;
    this.watcher?.close();
    this.watcher = undefined;
    this.rescanTimer?.cancel();
    this.debouncer?.cancel();
  }

  /** The run for these snapshots ended; an interrupted one is retried at the next start. */
  finished(paths: readonly string[], interrupted: boolean): void {
    const names = paths.filter((p) => path.dirname(p) === this.options.dir).map((p) => path.basename(p));
    const served = [...this.inFlight];
    for (const n of [...names, ...served]) this.inFlight.delete(n);
    if (interrupted) return;
    for (const n of served) this.seen.add(n);
    const present = new Set(listSnapshots(this.options.dir));
    this.options.onSeen([...this.seen].filter((n) => present.has(n)).sort());
  }

  private watch(): void {
    if (this.watcher) return;
    try {
      this.watcher = fs.watch(this.options.dir, { persistent: true }, () => this.rescan());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // snapshot_path does not exist yet: the periodic rescan watches it once it does
    }
  }

  private scheduleRescan(): void {
    this.rescanTimer = this.options.clock.setTimer(this.options.rescanMs ?? 30_000, () => {
      this.watch();
      this.rescan();
      if (this.armed) this.scheduleRescan();
    });
  }

  private rescan(): void {
    if (!this.armed) return;
    for (const name of listSnapshots(this.options.dir)) {
      if (this.seen.has(name) || this.inFlight.has(name)) continue;
      this.debouncer?.add(name);
    }
  }

  private flush(names: string[]): void {
    const present = listSnapshots(this.options.dir);
    const mtime = (n: string): number => {
      try {
        return fs.statSync(path.join(this.options.dir, n)).mtimeMs;
      } catch {
        return 0;
      }
    };
    const fresh = [...new Set(names)]
      .filter((n) => present.includes(n) && !this.seen.has(n) && !this.inFlight.has(n))
      .sort((a, b) => mtime(a) - mtime(b) || a.localeCompare(b));
    const newest = fresh[fresh.length - 1];
    if (!newest) return;
    // Older snapshots that appeared together are covered by the newest one.
    for (const n of fresh) this.inFlight.add(n);
    this.options.fire({
      trigger: 'after_snapshot',
      scope: { kind: 'paths', paths: [path.join(this.options.dir, newest)] },
      reason: `new snapshot ${newest}${fresh.length > 1 ? ` (newest of ${fresh.length})` : ''}`,
      tags: [`bolt.snapshot=${newest}`],
    });
  }
}
