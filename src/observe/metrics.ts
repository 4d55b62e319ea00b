// Backup metrics as a prom-client registry, made from the state file at each collection (so
// `backup metrics` and the daemon's /metrics report the same numbers, and counters survive
// restarts) plus, in the daemon, what is happening right now. Prometheus text, JSON and a human
// summary all come from it.
import client from 'prom-client';
import type { DaemonState, RunRecord } from '../scheduler/state.ts';
import { RUN_RESULTS } from '../scheduler/state.ts';
import type { RunOrigin } from '../scheduler/triggers.ts';
import { VERSION } from '../version.ts';

export const METRIC_PREFIX = 'bolt_backup_';

export interface LiveStatus {
  running: { triggers: RunOrigin[]; started_at: string; bytes_done: number; files_done: number } | undefined;
  pending: number;
  /** Next run per armed trigger (ms since the epoch). */
  next: Partial<Record<RunOrigin, number>>;
}

export interface MetricsInput {
  state: DaemonState;
  tool: string;
  /** Triggers configured on this host (they get series even before their first run). */
  triggers: RunOrigin[];
  live?: LiveStatus;
}

const seconds = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) / 1000 : undefined);

type Labels = Record<string, string>;
type Sample = [Labels, number];

interface Definition {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  labels?: string[];
  samples: (input: MetricsInput) => Sample[];
}

function perTrigger(input: MetricsInput, value: (run: RunRecord | undefined, trigger: RunOrigin) => number | undefined): Sample[] {
  const names = new Set<RunOrigin>([...input.triggers, ...(Object.keys(input.state.triggers) as RunOrigin[])]);
  const out: Sample[] = [];
  for (const trigger of names) {
    const v = value(input.state.triggers[trigger]?.last_run, trigger);
    if (v !== undefined) out.push([{ trigger }, v]);
  }
  return out;
}

function one(value: number | undefined): Sample[] {
  return value === undefined ? [] : [[{}, value]];
}

const DEFINITIONS: Definition[] = [
  {
    name: 'info',
    help: 'bolt-agent version and repository format (always 1)',
    type: 'gauge',
    labels: ['version', 'tool'],
    samples: (i) => [[{ version: VERSION, tool: i.tool }, 1]],
  },
  {
    name: 'runs_total',
    help: 'backup runs by trigger and result (success, partial, failed, interrupted)',
    type: 'counter',
    labels: ['trigger', 'result'],
    samples: (i) => {
      const out: Sample[] = [];
      const names = new Set<RunOrigin>([...i.triggers, ...(Object.keys(i.state.triggers) as RunOrigin[])]);
      for (const trigger of names) for (const result of RUN_RESULTS) out.push([{ trigger, result }, i.state.triggers[trigger]?.runs?.[result] ?? 0]);
      return out;
    },
  },
  { name: 'errors_total', help: 'runs that failed', type: 'counter', samples: (i) => one(i.state.totals.errors) },
  { name: 'run_duration_seconds_total', help: 'time spent in backup runs', type: 'counter', samples: (i) => one(i.state.totals.duration_seconds) },
  { name: 'bytes_processed_total', help: 'bytes of file content read or matched unchanged by backups', type: 'counter', samples: (i) => one(i.state.totals.bytes_processed) },
  { name: 'bytes_added_total', help: 'bytes of new data added to the repository (before compression)', type: 'counter', samples: (i) => one(i.state.totals.bytes_added) },
  {
    name: 'files_total',
    help: 'files seen by backups, by kind (new, changed, unchanged)',
    type: 'counter',
    labels: ['kind'],
    samples: (i) => [
      [{ kind: 'new' }, i.state.totals.files_new],
      [{ kind: 'changed' }, i.state.totals.files_changed],
      [{ kind: 'unchanged' }, i.state.totals.files_unmodified],
    ],
  },
  {
    name: 'last_run_timestamp_seconds',
    help: 'end of the last run per trigger (unix time)',
    type: 'gauge',
    labels: ['trigger'],
    samples: (i) => perTrigger(i, (run) => seconds(run?.ended_at)),
  },
  {
    name: 'last_run_success',
    help: '1 when the last run of the trigger wrote a backup (success or partial), else 0',
    type: 'gauge',
    labels: ['trigger'],
    samples: (i) => perTrigger(i, (run) => (run ? (run.result === 'success' || run.result === 'partial' ? 1 : 0) : undefined)),
  },
  {
    name: 'last_success_timestamp_seconds',
    help: 'end of the last successful run per trigger (unix time)',
    type: 'gauge',
    labels: ['trigger'],
    samples: (i) => perTrigger(i, (_run, trigger) => seconds(i.state.triggers[trigger]?.last_success_at)),
  },
  {
    name: 'last_run_duration_seconds',
    help: 'duration of the last run per trigger and stage (total, lock_wait, create, retention, copy, stats)',
    type: 'gauge',
    labels: ['trigger', 'stage'],
    samples: (i) => {
      const out: Sample[] = [];
      for (const [labels, total] of perTrigger(i, (run) => (run ? run.duration_ms / 1000 : undefined))) {
        const trigger = labels['trigger'] as RunOrigin;
        out.push([{ trigger, stage: 'total' }, total]);
        for (const [stage, ms] of Object.entries(i.state.triggers[trigger]?.last_run?.stages ?? {})) out.push([{ trigger, stage }, ms / 1000]);
      }
      return out;
    },
  },
  {
    name: 'last_run_bytes_processed',
    help: 'bytes of file content processed by the last run per trigger',
    type: 'gauge',
    labels: ['trigger'],
    samples: (i) => perTrigger(i, (run) => run?.stats?.bytes_processed),
  },
  {
    name: 'last_run_bytes_added',
    help: 'bytes of new data the last run per trigger added (before compression)',
    type: 'gauge',
    labels: ['trigger'],
    samples: (i) => perTrigger(i, (run) => run?.stats?.bytes_added),
  },
  {
    name: 'last_run_files',
    help: 'files of the last run per trigger, by kind (new, changed, unchanged)',
    type: 'gauge',
    labels: ['trigger', 'kind'],
    samples: (i) => {
      const out: Sample[] = [];
      for (const [labels] of perTrigger(i, (run) => (run?.stats ? 1 : undefined))) {
        const trigger = labels['trigger'] as RunOrigin;
        const stats = i.state.triggers[trigger]?.last_run?.stats;
        if (!stats) continue;
        out.push([{ trigger, kind: 'new' }, stats.files_new], [{ trigger, kind: 'changed' }, stats.files_changed], [{ trigger, kind: 'unchanged' }, stats.files_unmodified]);
      }
      return out;
    },
  },
  {
    name: 'next_run_timestamp_seconds',
    help: 'next scheduled or pending run per trigger (unix time)',
    type: 'gauge',
    labels: ['trigger'],
    samples: (i) => {
      const out: Sample[] = [];
      const next = i.live?.next ?? Object.fromEntries(Object.entries(i.state.triggers).map(([t, s]) => [t, s.next_at ? Date.parse(s.next_at) : undefined]));
      for (const [trigger, at] of Object.entries(next)) if (typeof at === 'number') out.push([{ trigger }, at / 1000]);
      return out;
    },
  },
  { name: 'repository_size_bytes', help: 'sum over all backups of the file content they hold (BackupStats.total_size)', type: 'gauge', samples: (i) => one(i.state.repository?.stats.total_size) },
  { name: 'repository_unique_bytes', help: 'bytes of distinct data stored, before compression (BackupStats.unique_data)', type: 'gauge', samples: (i) => one(i.state.repository?.stats.unique_data) },
  { name: 'repository_backups', help: 'backups in the repository', type: 'gauge', samples: (i) => one(i.state.repository?.stats.total_backups) },
  { name: 'deduplication_ratio', help: 'repository_size_bytes / repository_unique_bytes', type: 'gauge', samples: (i) => one(i.state.repository?.stats.deduplication_ratio) },
  { name: 'compression_ratio', help: 'unique data / bytes it occupies in packs', type: 'gauge', samples: (i) => one(i.state.repository?.stats.compression_ratio) },
  { name: 'repository_stats_timestamp_seconds', help: 'when the repository statistics were measured (unix time)', type: 'gauge', samples: (i) => one(seconds(i.state.repository?.at)) },
  {
    name: 'secondary_up',
    help: '1 when the last copy to the secondary storage succeeded',
    type: 'gauge',
    samples: (i) => one(i.state.secondary ? (i.state.secondary.error ? 0 : 1) : undefined),
  },
  {
    name: 'secondary_lag_objects',
    help: 'objects of the primary missing on the secondary',
    type: 'gauge',
    samples: (i) => one(i.state.secondary && !i.state.secondary.error ? i.state.secondary.missing_objects : undefined),
  },
  {
    name: 'secondary_lag_bytes',
    help: 'bytes of the primary missing on the secondary',
    type: 'gauge',
    samples: (i) => one(i.state.secondary && !i.state.secondary.error ? i.state.secondary.missing_bytes : undefined),
  },
  {
    name: 'secondary_lag_seconds',
    help: 'age of the oldest object missing on the secondary (0 when in sync)',
    type: 'gauge',
    samples: (i) => one(i.state.secondary && !i.state.secondary.error ? (i.state.secondary.oldest_missing_age_ms ?? 0) / 1000 : undefined),
  },
  { name: 'auto_enabled', help: '1 when automatic backups are enabled (backup auto enable)', type: 'gauge', samples: (i) => one(i.state.auto ? (i.state.auto.enabled ? 1 : 0) : undefined) },
  { name: 'running', help: '1 while a backup runs in the daemon', type: 'gauge', samples: (i) => (i.live ? one(i.live.running ? 1 : 0) : []) },
  { name: 'running_bytes_done', help: 'bytes processed so far by the running backup', type: 'gauge', samples: (i) => (i.live?.running ? one(i.live.running.bytes_done) : []) },
  { name: 'pending_runs', help: 'runs waiting for the running one (one per trigger at most)', type: 'gauge', samples: (i) => (i.live ? one(i.live.pending) : []) },
  { name: 'file_watches', help: 'directories watched for on_file_changes', type: 'gauge', samples: (i) => one(i.state.watches?.watched_dirs) },
  { name: 'file_watch_unwatched_dirs', help: 'directories not watched because the watch limit was reached', type: 'gauge', samples: (i) => one(i.state.watches?.unwatched_dirs) },
];

/**
 * The metrics for one collection, as a fresh registry: a family without a value (nothing measured
 * yet, or a daemon-only gauge outside the daemon) is left out rather than reported as 0.
 */
export function metricsRegistry(input: MetricsInput): client.Registry {
  const registry = new client.Registry();
  for (const def of DEFINITIONS) {
    const samples = def.samples(input);
    if (samples.length === 0) continue;
    const common = { name: `${METRIC_PREFIX}${def.name}`, help: def.help, labelNames: def.labels ?? [], registers: [registry] };
    if (def.type === 'counter') {
      const counter = new client.Counter(common);
      for (const [labels, value] of samples) counter.inc(labels, Math.max(0, value));
    } else {
      const gauge = new client.Gauge(common);
      for (const [labels, value] of samples) gauge.set(labels, value);
    }
  }
  return registry;
}

/** The daemon's process metrics (CPU, memory, event loop lag), kept across collections. */
export function processMetricsRegistry(): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'bolt_agent_' });
  return registry;
}

export function mergeRegistries(registries: client.Registry[]): client.Registry {
  return client.Registry.merge(registries);
}

export interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
}

export interface MetricJson {
  name: string;
  help: string;
  type: string;
  values: MetricValue[];
}

export async function metricsJson(registry: client.Registry): Promise<MetricJson[]> {
  const all = await registry.getMetricsAsJSON();
  return all.map((m) => ({
    name: m.name,
    help: m.help,
    type: String(m.type),
    values: (m.values ?? []).map((v) => ({ labels: { ...(v.labels as Record<string, string | number>) }, value: v.value })),
  }));
}
