// The requirements' BackupTriggers as the daemon knows them, and what a fired trigger asks for.
import type { EffectiveConfig } from '../config/load.ts';

export const SCHEDULE_TRIGGERS = ['daily', 'weekly', 'monthly'] as const;
export const CHANGE_TRIGGERS = ['after_snapshot', 'on_container_changes', 'on_file_changes'] as const;
export const TRIGGERS = [...SCHEDULE_TRIGGERS, ...CHANGE_TRIGGERS, 'before_surge_operations'] as const;

export type ScheduleTriggerName = (typeof SCHEDULE_TRIGGERS)[number];
export type TriggerName = (typeof TRIGGERS)[number];
/** Who started a run: a trigger, or a person (`manual`). */
export type RunOrigin = TriggerName | 'manual';

/**
 * What to back up: the configured include set, or explicit paths (the volumes a container change
 * affects, a new snapshot). Runs of the configured set requested by several triggers are one run.
 */
export type RunScope = { kind: 'configured' } | { kind: 'paths'; paths: string[] };

export interface RunRequest {
  trigger: RunOrigin;
  scope: RunScope;
  /** Why, for the log: "schedule 02:00", "catch-up of 2026-11-24T02:00", "volume db created". */
  reason: string;
  /** The scheduled occurrence this run serves (schedule triggers), for catch-up bookkeeping. */
  occurrence?: string;
  tags?: string[];
}

/**
 * Merges a later request of the same trigger into a pending one: the union of what both need,
 * except that a newer Bolt snapshot supersedes an older one not backed up yet.
 */
export function mergeRequests(pending: RunRequest, next: RunRequest): RunRequest {
  if (next.trigger === 'after_snapshot') return { ...next, reason: `${next.reason} (supersedes ${pending.reason})` };
  const scope: RunScope =
    pending.scope.kind === 'configured' || next.scope.kind === 'configured'
      ? { kind: 'configured' }
      : { kind: 'paths', paths: [...new Set([...pending.scope.paths, ...next.scope.paths])].sort() };
  const occurrence = [pending.occurrence, next.occurrence].filter((o): o is string => o !== undefined).sort().pop();
  const tags = [...new Set([...(pending.tags ?? []), ...(next.tags ?? [])])];
  return {
    trigger: pending.trigger,
    scope,
    reason: pending.reason === next.reason ? pending.reason : `${pending.reason}; ${next.reason}`,
    ...(occurrence ? { occurrence } : {}),
    ...(tags.length ? { tags } : {}),
  };
}

export function triggerTag(trigger: RunOrigin): string {
  return `bolt.trigger=${trigger}`;
}

/** The triggers a configuration turns on. */
export function configuredTriggers(effective: EffectiveConfig): TriggerName[] {
  const t = effective.config.triggers ?? {};
  const out: TriggerName[] = [];
  for (const name of SCHEDULE_TRIGGERS) if (t[name]) out.push(name);
  if (t.after_snapshot) out.push('after_snapshot');
  if (t.on_container_changes) out.push('on_container_changes');
  if (t.on_file_changes) out.push('on_file_changes');
  if (t.before_surge_operations) out.push('before_surge_operations');
  return out;
}
