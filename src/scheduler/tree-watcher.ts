// Recursive change watching over inotify with a bounded number of watches. Node's fs.watch on a
// directory is one inotify watch on Linux (libuv shares one inotify instance per process), so the
// tree is watched directory by directory: breadth first, so the shallow directories are covered
// when the budget runs out, new directories are added as they appear, removed ones are dropped.
// (fs.watch's own `recursive` mode is not used: Node 20 emulates it on Linux with unbounded
// watchers and Bun and Deno differ.)
import fs from 'node:fs';
import path from 'node:path';

export type WatchLimitReason = 'budget' | 'kernel';

export interface TreeWatcherOptions {
  /** The most watches to take. */
  budget: number;
  /** Paths never watched nor reported (excluded paths, bolt-agent's own files). */
  ignore: (absolutePath: string) => boolean;
  onChange: (absolutePath: string) => void;
  /** A directory could not be watched because a limit was reached (called once per reason until reset). */
  onLimit: (reason: WatchLimitReason, detail: string) => void;
}

export interface WatchCoverage {
  watched: number;
  /** Directories seen but not watched because a limit was reached. */
  unwatched: number;
  limitedBy: WatchLimitReason | undefined;
}

/** Stop counting unwatched directories beyond this (the message only needs the order of magnitude). */
const COUNT_LIMIT = 1_000_000;

export class TreeWatcher {
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private unwatched = 0;
  private limitedBy: WatchLimitReason | undefined;
  private closed = false;

  constructor(private readonly options: TreeWatcherOptions) {}

  get coverage(): WatchCoverage {
    return { watched: this.watchers.size, unwatched: this.unwatched, limitedBy: this.limitedBy };
  }

  watches(target: string): boolean {
    return this.watchers.has(target);
  }

  /** Watches `roots` and everything below them (within the budget). */
  async add(roots: readonly string[]): Promise<WatchCoverage> {
    const queue = [...roots];
    let counted = 0;
    while (queue.length && !this.closed) {
      const dir = queue.shift() as string;
      if (this.options.ignore(dir) || this.watchers.has(dir)) continue;
      let entries: fs.Dirent[];
      try {
        const stat = await fs.promises.lstat(dir);
        if (!stat.isDirectory()) {
          if (stat.isFile()) this.watch(dir);
          continue;
        }
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch {
        continue; // vanished or unreadable: nothing to watch
      }
      if (!this.watch(dir)) {
        this.unwatched += 1;
        if (++counted > COUNT_LIMIT) break;
      }
      for (const entry of entries) if (entry.isDirectory()) queue.push(path.join(dir, entry.name));
    }
    return this.coverage;
  }

  private watch(target: string): boolean {
    if (this.limitedBy || this.closed) return false;
    if (this.watchers.size >= this.options.budget) {
      this.limit('budget', target);
      return false;
    }
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(target, { persistent: true }, (event, name) => this.event(target, event, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC') {
        this.limit('kernel', target);
        return false;
      }
      return true; // gone or unreadable: not a limit, nothing to count
    }
    watcher.on('error', () => this.drop(target));
    this.watchers.set(target, watcher);
    return true;
  }

  private limit(reason: WatchLimitReason, at: string): void {
    if (this.limitedBy) return;
    this.limitedBy = reason;
    this.options.onLimit(reason, at);
  }

  private event(dir: string, event: string, name: string | Buffer | null): void {
    if (this.closed) return;
    const full = name ? path.join(dir, name.toString()) : dir;
    if (this.options.ignore(full)) return;
    this.options.onChange(full);
    if (event !== 'rename' || full === dir) return;
    fs.promises.lstat(full).then(
      (stat) => {
        if (stat.isDirectory() && !this.watchers.has(full)) void this.add([full]);
      },
      () => this.drop(full),
    );
  }

  /** Closes the watch of `target` and of everything below it. */
  private drop(target: string): void {
    for (const [dir, watcher] of this.watchers) {
      if (dir === target || dir.startsWith(`${target}/`)) {
        watcher.close();
        this.watchers.delete(dir);
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }
}
