// What `backup auto status` shows: whether automatic backups are on, whether a daemon runs them,
// and for each of the seven triggers its setting, its next time and its last run.
import path from 'node:path';
import type { EffectiveConfig } from '../config/load.ts';
import { nextOccurrence, parseSchedule } from '../config/schedule.ts';
import { lockHolder } from './file-lock.ts';
import { missedOccurrence } from './schedule-trigger.ts';
import type { DaemonState, RunRecord, RunResult } from './state.ts';
import { SCHEDULE_TRIGGERS, TRIGGERS, type TriggerName } from './triggers.ts';
import { boltRoot, DAEMON_LOCK_FILE, snapshotPath } from './locations.ts';

export interface TriggerStatus {
  trigger: TriggerName;
  enabled: boolean;
  /** The schedule, or what the trigger watches. */
  setting: string | null;
  /** RFC 3339, or null when it runs on an event. */
  next_at: string | null;
  /** How the next time is known: "daemon", "schedule", "catch-up at daemon start", "on event". */
  next_note: string | null;
  last_run: { at: string; result: RunResult; backup_id: string | null; duration_ms: number; error: string | null } | null;
  last_success_at: string | null;
  runs: Partial<Record<RunResult, number>>;
}

export interface AutoStatus {
  enabled: boolean;
  /** auto enable/disable was never run. */
  configured_by_auto: boolean;
  unit_path: string | null;
  backups_enabled_in_config: boolean;
  daemon: { running: boolean; pid: number | null; since: string | null; listen: string | null };
  triggers: TriggerStatus[];
  last_success: { at: string; triggers: string[]; backup_id: string | null } | null;
  last_error: { at: string; triggers: string[]; stage: string; message: string } | null;
}

function lastRun(run: RunRecord | undefined): TriggerStatus['last_run'] {
  if (!run) return null;
  return { at: run.ended_at, result: run.result, backup_id: run.backup_id, duration_ms: run.duration_ms, error: run.error?.message ?? null };
}

export function autoStatus(effective: EffectiveConfig, state: DaemonState, stateDir: string, now: Date, env: NodeJS.ProcessEnv = process.env): AutoStatus {
  const holder = lockHolder(path.join(stateDir, DAEMON_LOCK_FILE));
  const running = holder !== undefined && !holder.stale;
  const t = effective.config.triggers ?? {};
  const triggers: TriggerStatus[] = TRIGGERS.map((trigger) => {
    const ts = state.triggers[trigger];
    const base = { trigger, last_run: lastRun(ts?.last_run), last_success_at: ts?.last_success_at ?? null, runs: ts?.runs ?? {} };
    if ((SCHEDULE_TRIGGERS as readonly string[]).includes(trigger)) {
      const text = t[trigger as (typeof SCHEDULE_TRIGGERS)[number]];
      if (!text) return { ...base, enabled: false, setting: null, next_at: null, next_note: null };
      const schedule = parseSchedule(trigger as (typeof SCHEDULE_TRIGGERS)[number], text);
      if ('error' in schedule) return { ...base, enabled: true, setting: text, next_at: null, next_note: schedule.error };
      if (running && ts?.next_at) return { ...base, enabled: true, setting: text, next_at: ts.next_at, next_note: 'daemon' };
      const missed = missedOccurrence(schedule, ts, now);
      if (missed) return { ...base, enabled: true, setting: text, next_at: null, next_note: `catch-up of ${missed.toISOString()} at daemon start` };
      return { ...base, enabled: true, setting: text, next_at: nextOccurrence(schedule, now).toISOString(), next_note: t.jitter ? `schedule, plus up to ${t.jitter} jitter` : 'schedule' };
    }
    const flag = t[trigger as 'after_snapshot' | 'on_container_changes' | 'on_file_changes' | 'before_surge_operations'] === true;
    const setting = !flag
      ? null
      : trigger === 'after_snapshot'
        ? `new snapshots in ${snapshotPath(effective, env)}`
        : trigger === 'on_container_changes'
          ? `containers and volumes in ${boltRoot(env)}`
          : trigger === 'on_file_changes'
            ? 'changes below the include paths'
            : 'bolt-agent hook before-surge';
    return { ...base, enabled: flag, setting, next_at: null, next_note: flag ? 'on event' : null };
  });
  return {
    enabled: state.auto?.enabled ?? false,
    configured_by_auto: state.auto !== undefined,
    unit_path: state.auto?.unit_path ?? null,
    backups_enabled_in_config: effective.config.enabled !== false,
    daemon: { running, pid: running ? holder.pid : null, since: running ? holder.since : null, listen: running ? (state.daemon?.listen ?? null) : null },
    triggers,
    last_success: state.last_success ? { at: state.last_success.ended_at, triggers: state.last_success.triggers, backup_id: state.last_success.backup_id } : null,
    last_error: state.last_error?.error ? { at: state.last_error.ended_at, triggers: state.last_error.triggers, stage: state.last_error.error.stage, message: state.last_error.error.message } : null,
  };
}

function when(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function renderAutoStatus(s: AutoStatus): string {
  const lines: string[] = [];
  lines.push(`automatic backups: ${s.enabled ? 'enabled' : s.configured_by_auto ? 'disabled' : 'not enabled (run `bolt-agent backup auto enable`)'}${s.unit_path ? `  (unit ${s.unit_path})` : ''}`);
  if (!s.backups_enabled_in_config) lines.push('configuration: enabled = false, the daemon idles');
  lines.push(`daemon: ${s.daemon.running ? `running, pid ${s.daemon.pid} since ${when(s.daemon.since)}${s.daemon.listen ? `, ${s.daemon.listen}` : ''}` : 'not running'}`);
  lines.push('');
  const rows = s.triggers.map((t) => [
    t.trigger,
    t.enabled ? (t.setting ?? 'on') : 'off',
    t.enabled ? (t.next_at ? `${when(t.next_at)}${t.next_note && t.next_note !== 'daemon' && t.next_note !== 'schedule' ? ` (${t.next_note})` : ''}` : (t.next_note ?? '—')) : '—',
    t.last_run ? `${when(t.last_run.at)} ${t.last_run.result}${t.last_run.backup_id ? ` ${t.last_run.backup_id.slice(0, 8)}` : ''}${t.last_run.error ? `: ${t.last_run.error}` : ''}` : 'never',
  ]);
  const header = ['trigger', 'setting', 'next', 'last run'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  lines.push(fmt(header), ...rows.map(fmt));
  lines.push('');
  lines.push(`last success: ${s.last_success ? `${when(s.last_success.at)} (${s.last_success.triggers.join(', ')})${s.last_success.backup_id ? ` ${s.last_success.backup_id.slice(0, 8)}` : ''}` : 'never'}`);
  lines.push(`last error: ${s.last_error ? `${when(s.last_error.at)} (${s.last_error.triggers.join(', ')}) in ${s.last_error.stage}: ${s.last_error.message}` : 'none'}`);
  return lines.join('\n');
}
