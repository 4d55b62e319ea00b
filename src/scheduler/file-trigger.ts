// on_file_changes: inotify watches on the include paths (minus excludes and bolt-agent's own
// repository, state and cache, which a backup writes and must not trigger itself); changes are
// debounced and back up the configured include set.
import type { Clock, Timer } from './clock.ts';
import { Debouncer, type DebounceTimes } from './debounce.ts';
import { inotifyLimits, raiseLimitHint } from './inotify-limits.ts';
import { TreeWatcher, type WatchCoverage, type WatchLimitReason } from './tree-watcher.ts';
import type { RunRequest } from './triggers.ts';

export interface FileTriggerOptions {
  roots: string[];
  ignore: (absolutePath: string) => boolean;
  times: DebounceTimes;
  clock: Clock;
  fire: (request: RunRequest) => void;
  /** Watch-limit messages and coverage changes, for the log and the state file. */
  onCoverage: (coverage: WatchCoverage, message: string | undefined) => void;
  env?: NodeJS.ProcessEnv;
}

/** Roots that vanished (and came back) are looked for again this often. */
const ROOT_RECHECK_MS = 60_000;

export class FileTrigger {
  private watcher: TreeWatcher | undefined;
  private debouncer: Debouncer<string> | undefined;
  private recheck: Timer | undefined;
  private message: string | undefined;

  constructor(private readonly options: FileTriggerOptions) {}

  get dueAt(): number | undefined {
    return this.debouncer?.dueAt;
  }

  async arm(): Promise<WatchCoverage> {
    const { options } = this;
    const limits = inotifyLimits(options.env);
    this.debouncer = new Debouncer<string>(options.clock, options.times, (paths) => {
      const sample = paths.slice(0, 3).join(', ');
      options.fire({
        trigger: 'on_file_changes',
        scope: { kind: 'configured' },
        reason: `${paths.length} change${paths.length === 1 ? '' : 's'} below the include paths (${sample}${paths.length > 3 ? ', …' : ''})`,
      });
    });
    let limitReason: WatchLimitReason | undefined;
    this.watcher = new TreeWatcher({
      budget: limits.budget,
      ignore: options.ignore,
      onChange: (p) => this.debouncer?.add(p),
      onLimit: (reason) => {
        limitReason = reason;
      },
    });
    const watcher = this.watcher;
    const coverage = await watcher.add(options.roots);
    // Disarmed while the tree was being walked.
    if (this.watcher !== watcher) return coverage;
    if (limitReason) {
      const what =
        limitReason === 'kernel'
          ? `the kernel's inotify watch limit was reached (${limits.sources.join(', ') || 'limit unknown'})`
          : `bolt-agent's watch budget of ${limits.budget} is used up (${limits.explicit ? 'BOLT_AGENT_MAX_WATCHES' : `half of ${limits.sources.join(', ')}`})`;
      this.message =
        `on_file_changes: watching ${coverage.watched} of ${coverage.watched + coverage.unwatched} directories below ${options.roots.join(', ')}: ${what}; ` +
        `changes in the other ${coverage.unwatched} are not seen (scheduled backups still include them); ${raiseLimitHint(limits, coverage.watched + coverage.unwatched)}`;
    }
    options.onCoverage(coverage, this.message);
    this.scheduleRecheck();
    return coverage;
  }

  private scheduleRecheck(): void {
    this.recheck = this.options.clock.setTimer(ROOT_RECHECK_MS, () => {
      const watcher = this.watcher;
      if (!watcher) return;
      const before = watcher.coverage.watched;
      void watcher.add(this.options.roots.filter((root) => !watcher.watches(root))).then((coverage) => {
        if (coverage.watched !== before) this.options.onCoverage(coverage, this.message);
        if (this.watcher) this.scheduleRecheck();
      });
    });
  }

  disarm(): void {
    this.recheck?.cancel();
    this.debouncer?.cancel();
    this.watcher?.close();
    this.watcher = undefined;
    this.debouncer = undefined;
  }
}
