// The unattended bolt-agent: arms the configured triggers, runs one backup at a time (triggers
// that fire meanwhile are coalesced into at most one pending run each), applies retention and the
// secondary copy through runBackup, serves /metrics and /healthz, and on shutdown stops starting
// work, lets the current run stop at a safe point and releases everything it holds.
import path from 'node:path';
import type { EffectiveConfig } from '../config/load.ts';
import { parseSchedule } from '../config/schedule.ts';
import { parseDuration, formatSize } from '../config/units.ts';
import { BackupError } from '../backup/errors.ts';
import type { BackupManager } from '../backup/manager.ts';
import { runBackup, type RunBackupOutcome, type RunBackupRequest } from '../backup/run-backup.ts';
import { ExcludeMatcher } from '../engine/exclude.ts';
import { normaliseTargets } from '../engine/archiver.ts';
import { parseRepositoryUrl } from '../config/repository-url.ts';
import type { ProgressSink } from '../observe/progress.ts';
import type { Logger } from '../observe/log.ts';
import { evaluateHealth, probeRepository, type HealthReport, type RepositoryProbe } from '../observe/health.ts';
import { mergeRegistries, metricsRegistry, processMetricsRegistry, type LiveStatus } from '../observe/metrics.ts';
import { startHttpServer, type ListenAddress, type RunningServer } from '../observe/http-server.ts';
import { formatDuration } from '../observe/progress-meter.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { FileLock, describeHolder } from './file-lock.ts';
import type { DebounceTimes } from './debounce.ts';
import { ScheduleTrigger } from './schedule-trigger.ts';
import { SnapshotTrigger } from './snapshot-trigger.ts';
import { BoltStateTrigger } from './bolt-state-trigger.ts';
import { FileTrigger } from './file-trigger.ts';
import { RunQueue } from './run-queue.ts';
import type { StateStore } from './state.ts';
import { configuredTriggers, SCHEDULE_TRIGGERS, type RunOrigin, type RunRequest, type TriggerName } from './triggers.ts';
import { boltRoot, cacheDir, DAEMON_LOCK_FILE, snapshotPath } from './locations.ts';

export const DEFAULT_DEBOUNCE_MS = 30_000;
export const DEFAULT_MIN_INTERVAL_MS = 5 * 60_000;
const AUTO_POLL_MS = 2_000;
const PROBE_EVERY_MS = 15 * 60_000;
const PROGRESS_LOG_EVERY_MS = 60_000;

export interface DaemonOptions {
  effective: EffectiveConfig;
  manager: BackupManager;
  store: StateStore;
  log: Logger;
  /** Shutdown: stop starting work; the running backup stops at its next safe point. */
  signal: AbortSignal;
  listen?: ListenAddress;
}

/** Debounce, minimum interval and the latest a busy path waits, from triggers.debounce / min_interval. */
export function debounceTimes(effective: EffectiveConfig): DebounceTimes {
  const t = effective.config.triggers ?? {};
  const debounceMs = t.debounce !== undefined ? (parseDuration(t.debounce) ?? DEFAULT_DEBOUNCE_MS) : DEFAULT_DEBOUNCE_MS;
  const minIntervalMs = t.min_interval !== undefined ? (parseDuration(t.min_interval) ?? DEFAULT_MIN_INTERVAL_MS) : DEFAULT_MIN_INTERVAL_MS;
  return { debounceMs, minIntervalMs, maxWaitMs: Math.max(minIntervalMs, 5 * debounceMs) };
}

export class Daemon {
  private readonly clock: Clock = systemClock;
  private readonly env = process.env;
  private readonly queue = new RunQueue();
  private readonly schedules: ScheduleTrigger[] = [];
  private snapshots: SnapshotTrigger | undefined;
  private boltState: BoltStateTrigger | undefined;
  private files: FileTrigger | undefined;
  private armed = false;
  /** Counts disarms, so an arm() that awaited meanwhile knows it is outdated. */
  private generation = 0;
  /** "Idling" was logged already (it is re-checked every few seconds). */
  private idleTold = false;
  private stopping = false;
  private current: { promise: Promise<void>; triggers: RunOrigin[]; started_at: string; bytes_done: number; files_done: number } | undefined;
  private daemonLock: FileLock | undefined;
  private server: RunningServer | undefined;
  private autoTimer: Timer | undefined;
  private pumpTimer: Timer | undefined;
  private probeTimer: Timer | undefined;
  private probe: RepositoryProbe | undefined;
  private probing: Promise<void> | undefined;

  constructor(private readonly options: DaemonOptions) {}

  private get config() {
    return this.options.effective.config;
  }

  /** Takes the daemon lock, arms the triggers and starts the HTTP endpoints. */
  async start(): Promise<void> {
    const { store, log } = this.options;
    const held = FileLock.tryAcquire(path.join(store.dir, DAEMON_LOCK_FILE), 'daemon');
    if (!(held instanceof FileLock)) {
      throw new BackupError('OperationFailed', `another bolt-agent daemon is running with state in ${store.dir} (${describeHolder(held)})`, {
        hint: 'stop it first (systemctl stop bolt-agent), or give this one its own BOLT_AGENT_STATE_DIR',
      });
    }
    this.daemonLock = held;
    try {
      if (this.options.listen) {
        this.server = await startHttpServer(this.options.listen, { metrics: () => this.metrics(), health: () => this.health() });
        log.info(`serving /metrics and /healthz on ${this.server.url}`, { url: this.server.url });
      }
      await store.update((s) => {
        s.daemon = { pid: process.pid, started_at: new Date(this.clock.now()).toISOString(), listen: this.server?.url ?? null };
      });
    } catch (err) {
      await this.server?.close();
      held.release();
      throw err;
    }
    this.refreshArming();
    this.autoTimer = this.pollAuto();
    this.scheduleProbe(0);
  }

  /** Arms or disarms the triggers to match `enabled` and the auto state. */
  private refreshArming(): void {
    if (this.stopping || this.options.signal.aborted) return;
    const state = this.options.store.read();
    const wanted = this.config.enabled !== false && state.auto?.enabled !== false;
    if (wanted && !this.armed) {
      this.arm().catch((err: unknown) => {
        this.options.log.error(`cannot arm the triggers: ${(err as Error).message}`);
        this.disarm();
      });
    } else if (!wanted && this.armed) {
      this.disarm();
      this.options.log.info('automatic backups are disabled (backup auto disable): triggers disarmed, idling');
    } else if (!wanted && !this.armed && !this.idleTold) {
      this.idleTold = true;
      this.options.log.info(this.config.enabled === false ? 'backups are disabled in the configuration (enabled = false): idling' : 'automatic backups are disabled (backup auto disable): idling');
    }
  }

  private pollAuto(): Timer {
    return this.clock.setTimer(AUTO_POLL_MS, () => {
      if (this.stopping) return;
      this.refreshArming();
      this.autoTimer = this.pollAuto();
    });
  }

  private async arm(): Promise<void> {
    this.armed = true;
    this.idleTold = false;
    const { store, log, effective, manager } = this.options;
    const triggers = this.config.triggers ?? {};
    const jitterMs = triggers.jitter !== undefined ? (parseDuration(triggers.jitter) ?? 0) : 0;
    const times = debounceTimes(effective);
    const nowIso = new Date(this.clock.now()).toISOString();
    const generation = this.generation;
    const state = await store.update((s) => {
      for (const name of SCHEDULE_TRIGGERS) if (triggers[name]) (s.triggers[name] ??= {}).armed_at ??= nowIso;
    });
    // Disarmed (or stopping) while the state was read: arm nothing.
    if (generation !== this.generation) return;
    const armedNames: string[] = [];

    for (const name of SCHEDULE_TRIGGERS) {
      const text = triggers[name];
      if (!text) continue;
      const schedule = parseSchedule(name, text);
      if ('error' in schedule) throw new BackupError('InvalidConfig', `triggers.${name}: ${schedule.error}`);
      const trigger = new ScheduleTrigger({
        name,
        schedule,
        jitterMs,
        clock: this.clock,
        random: Math.random,
        fire: (request) => this.request(request),
        onPlanned: (at) => this.persist((s) => ((s.triggers[name] ??= {}).next_at = at.toISOString())),
      });
      this.schedules.push(trigger);
      trigger.arm(state.triggers[name]);
      const next = trigger.next;
      armedNames.push(name);
      if (next?.catchUp) log.info(`${name}: the run of ${next.occurrence.toISOString()} was missed while bolt-agent was not running; catching up`, { trigger: name });
    }
    if (triggers.after_snapshot) {
      const dir = snapshotPath(effective, this.env);
      this.snapshots = new SnapshotTrigger({
        dir,
        clock: this.clock,
        times,
        fire: (request) => this.request(request),
        onSeen: (names) => this.persist((s) => ((s.triggers.after_snapshot ??= {}).seen = names)),
      });
      this.snapshots.arm(state.triggers.after_snapshot?.seen);
      armedNames.push(`after_snapshot (${dir})`);
    }
    if (triggers.on_container_changes) {
      const root = boltRoot(this.env);
      this.boltState = new BoltStateTrigger({ root, clock: this.clock, times, fire: (request) => this.request(request), log: (m) => log.info(m) });
      this.boltState.arm();
      armedNames.push(`on_container_changes (${root})`);
    }
    if (triggers.on_file_changes) {
      const roots = normaliseTargets(manager.includePaths());
      const matcher = new ExcludeMatcher(manager.excludeRules());
      const own = this.ownPaths();
      const ignore = (p: string): boolean => matcher.excludes(p) || own.some((o) => p === o || p.startsWith(`${o}/`));
      this.files = new FileTrigger({
        roots,
        ignore,
        times,
        clock: this.clock,
        env: this.env,
        fire: (request) => this.request(request),
        onCoverage: (coverage, message) => {
          if (message) log.warn(message, { watched: coverage.watched, unwatched: coverage.unwatched });
          this.persist((s) => {
            s.watches = { at: new Date(this.clock.now()).toISOString(), watched_dirs: coverage.watched, unwatched_dirs: coverage.unwatched, ...(message ? { message } : {}) };
          });
        },
      });
      if (roots.length === 0) log.warn('on_file_changes: no include paths to watch (include.custom_paths / include.system_config)');
      const coverage = await this.files.arm();
      if (generation !== this.generation) return;
      armedNames.push(`on_file_changes (${coverage.watched} directories)`);
    }
    if (triggers.before_surge_operations) armedNames.push('before_surge_operations (through `bolt-agent hook before-surge`)');
    log.info(armedNames.length ? `armed: ${armedNames.join(', ')}` : 'no triggers configured: nothing will run on its own (set [backups.triggers])', {
      debounce: formatDuration(times.debounceMs),
      min_interval: formatDuration(times.minIntervalMs),
      ...(jitterMs ? { jitter: formatDuration(jitterMs) } : {}),
    });
  }

  /** Paths a backup writes or reads for itself; file changes there must not trigger backups. */
  private ownPaths(): string[] {
    const { effective, store } = this.options;
    const own = [store.dir, cacheDir(effective)];
    for (const repository of [this.config.repository ?? this.config.storage?.primary, this.config.storage?.secondary]) {
      if (!repository) continue;
      try {
        const parsed = parseRepositoryUrl(repository);
        if (parsed.backend === 'local') own.push(parsed.path);
      } catch {
        // not a repository we could open anyway
      }
    }
    return own.map((p) => path.resolve(p));
  }

  private disarm(): void {
    this.armed = false;
    this.generation += 1;
    for (const s of this.schedules) s.disarm();
    this.schedules.length = 0;
    this.snapshots?.disarm();
    this.snapshots = undefined;
    this.boltState?.disarm();
    this.boltState = undefined;
    this.files?.disarm();
    this.files = undefined;
  }

  private persist(change: Parameters<StateStore['update']>[0]): void {
    this.options.store.update(change).catch((err: unknown) => this.options.log.warn(`could not update the state file: ${(err as Error).message}`));
  }

  /** A trigger fired: run now, or coalesce with what is already waiting. */
  request(request: RunRequest): void {
    if (this.stopping) return;
    const outcome = this.queue.add(request);
    const fields = { trigger: request.trigger, reason: request.reason };
    if (outcome === 'coalesced') this.options.log.info(`${request.trigger}: coalesced with its pending run`, fields);
    else if (this.current) this.options.log.info(`${request.trigger}: queued behind the running backup`, fields);
    // Started from a fresh timer, so triggers that fire together (the catch-ups at start) are one run.
    this.pumpTimer ??= this.clock.setTimer(0, () => {
      this.pumpTimer = undefined;
      this.pump();
    });
  }

  private pump(): void {
    if (this.current || this.stopping) return;
    const batch = this.queue.take();
    if (!batch) return;
    const first = batch[0] as RunRequest;
    const triggers = [...new Set(batch.map((r) => r.trigger))];
    const occurrences: Partial<Record<RunOrigin, string>> = {};
    for (const r of batch) if (r.occurrence) occurrences[r.trigger] = r.occurrence;
    const request: RunBackupRequest = {
      triggers,
      reason: batch.map((r) => `${r.trigger}: ${r.reason}`).join('; '),
      scope: first.scope,
      occurrences,
      tags: [...new Set(batch.flatMap((r) => r.tags ?? []))],
    };
    const current = { triggers, started_at: new Date(this.clock.now()).toISOString(), bytes_done: 0, files_done: 0, promise: Promise.resolve() };
    this.current = current;
    current.promise = this.execute(request, current).finally(() => {
      this.current = undefined;
      this.pump();
    });
  }

  private async execute(request: RunBackupRequest, current: { bytes_done: number; files_done: number }): Promise<void> {
    const { log, manager, store, signal } = this.options;
    log.info(`backup started: ${request.reason}`, { triggers: request.triggers });
    const progress = (operation: 'backup' | 'prune' | 'copy'): ProgressSink => {
      let lastLog = this.clock.now();
      return {
        // The log lines carry counts only: no walk for totals beside the backup.
        wantsTotals: false,
        update: (state) => {
          if (operation === 'backup') {
            current.bytes_done = state.bytes_done;
            current.files_done = state.files_done;
          }
          const now = this.clock.now();
          if (now - lastLog < PROGRESS_LOG_EVERY_MS) return;
          lastLog = now;
          log.info(`${operation}: ${state.files_done} ${operation === 'backup' ? 'files' : 'objects'}, ${formatSize(state.bytes_done)}`, { operation, files_done: state.files_done, bytes_done: state.bytes_done });
        },
        done: () => {},
      };
    };
    let outcome: RunBackupOutcome;
    try {
      outcome = await runBackup(manager, request, { state: store, signal, progress, log });
    } catch (err) {
      log.error(`backup run crashed: ${(err as Error).message}`);
      return;
    }
    const { record } = outcome;
    const fields = {
      triggers: record.triggers,
      result: record.result,
      backup_id: record.backup_id,
      duration_ms: record.duration_ms,
      ...(record.stats ?? {}),
      ...(record.retention ? { retention_removed: record.retention.removed } : {}),
      ...(record.copy ? { copied_objects: record.copy.objects, copied_bytes: record.copy.bytes } : {}),
      ...(record.error ? { stage: record.error.stage, error: record.error.kind } : {}),
    };
    if (record.result === 'success' || record.result === 'partial') {
      const stats = record.stats;
      const summary = stats ? `${stats.files_new} new, ${stats.files_changed} changed, ${stats.files_unmodified} unchanged files, ${formatSize(stats.bytes_added)} added` : '';
      log.info(`backup ${record.result === 'partial' ? `written, but ${stats?.problems ?? 0} file(s) could not be read` : 'finished'}: ${record.backup_id?.slice(0, 8) ?? ''} in ${formatDuration(record.duration_ms)}; ${summary}`, fields);
    } else if (record.result === 'interrupted') {
      log.warn(`backup interrupted in ${record.error?.stage ?? 'an unknown stage'}: ${record.error?.message ?? ''}; the repository is consistent, the run is repeated at the next start`, fields);
    } else {
      log.error(`backup failed in ${record.error?.stage ?? 'an unknown stage'}: ${record.error?.message ?? ''}`, fields);
    }
    if (record.result === 'success' && record.error) log.warn(record.error.message, fields);
    const triggerStates = store.read().triggers;
    for (const schedule of this.schedules) {
      const occurrence = request.occurrences?.[schedule.name];
      if (occurrence) schedule.finished(occurrence, record.result, triggerStates[schedule.name]?.failures_in_row ?? 0);
    }
    if (request.triggers.includes('after_snapshot')) this.snapshots?.finished(record.paths, record.result === 'interrupted');
    if (!this.stopping) this.scheduleProbe(0);
  }

  private scheduleProbe(delayMs: number): void {
    this.probeTimer?.cancel();
    this.probeTimer = this.clock.setTimer(delayMs, () => {
      if (this.stopping || this.probing) return;
      this.probing = probeRepository(this.options.manager, { full: false })
        .then((probe) => {
          if (this.probe?.reachable !== false && !probe.reachable) this.options.log.warn(`repository ${probe.location} is not reachable: ${probe.error ?? ''}`);
          this.probe = probe;
        })
        .finally(() => {
          this.probing = undefined;
          if (!this.stopping) this.scheduleProbe(PROBE_EVERY_MS);
        });
    });
  }

  health(): HealthReport {
    const { effective, store } = this.options;
    return evaluateHealth({
      config: effective.config,
      state: store.read(),
      probe: this.probe,
      dirs: [
        { name: 'state', dir: store.dir },
        { name: 'cache', dir: cacheDir(effective) },
      ],
      now: new Date(this.clock.now()),
    });
  }

  live(): LiveStatus {
    const next: Partial<Record<RunOrigin, number>> = {};
    for (const s of this.schedules) if (s.next) next[s.name] = s.next.at.getTime();
    const due: [TriggerName, number | undefined][] = [
      ['after_snapshot', this.snapshots?.dueAt],
      ['on_container_changes', this.boltState?.dueAt],
      ['on_file_changes', this.files?.dueAt],
    ];
    for (const [name, at] of due) if (at !== undefined) next[name] = at;
    const current = this.current;
    return {
      running: current ? { triggers: current.triggers, started_at: current.started_at, bytes_done: current.bytes_done, files_done: current.files_done } : undefined,
      pending: this.queue.size,
      next,
    };
  }

  private readonly processMetrics = processMetricsRegistry();

  async metrics(): Promise<{ contentType: string; body: string }> {
    const backups = metricsRegistry({
      state: this.options.store.read(),
      tool: this.options.manager.tool,
      triggers: configuredTriggers(this.options.effective),
      live: this.live(),
    });
    const registry = mergeRegistries([backups, this.processMetrics]);
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  /** Waits for shutdown (the signal), then stops. */
  async run(): Promise<void> {
    const { signal } = this.options;
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { log, store } = this.options;
    this.autoTimer?.cancel();
    this.probeTimer?.cancel();
    this.pumpTimer?.cancel();
    this.disarm();
    const dropped = this.queue.size;
    this.queue.clear();
    if (this.current) log.info('shutting down: waiting for the running backup to stop at a safe point');
    if (dropped) log.info(`shutting down: ${dropped} pending run(s) not started (scheduled ones are caught up at the next start)`);
    await this.current?.promise;
    await this.probing;
    await this.server?.close();
    try {
      await store.update((s) => {
        if (s.daemon?.pid === process.pid) s.daemon.stopped_at = new Date(this.clock.now()).toISOString();
      });
    } finally {
      this.daemonLock?.release();
    }
    log.info('stopped');
  }
}
