// `bolt-agent backup metrics [--format text|json|prometheus] [--refresh]`: the metrics the
// daemon serves on /metrics, from the state file; --refresh measures the repository statistics
// and the secondary's lag now (instead of taking them from the last run).
import type { CommandContext } from './context.ts';
import { BackupManager } from '../backup/manager.ts';
import { ExitCode } from '../backup/errors.ts';
import { metricsJson, metricsRegistry, type MetricJson } from '../observe/metrics.ts';
import { configuredTriggers } from '../scheduler/triggers.ts';
import { stateDir } from '../scheduler/locations.ts';
import { StateStore, type DaemonState } from '../scheduler/state.ts';

export type MetricsFormat = 'text' | 'json' | 'prometheus';

function renderText(metrics: MetricJson[]): string {
  const lines: string[] = [];
  for (const m of metrics) {
    if (m.values.length === 0) continue;
    lines.push(`${m.name}  (${m.help})`);
    for (const v of m.values) {
      const labels = Object.entries(v.labels).map(([k, val]) => `${k}=${val}`).join(' ');
      lines.push(`  ${labels ? `${labels}  ` : ''}${v.value}`);
    }
  }
  return lines.join('\n');
}

async function refresh(manager: BackupManager, store: StateStore): Promise<void> {
  const backend = await manager.open();
  let stats;
  try {
    stats = await backend.getStats();
  } finally {
    await backend.close();
  }
  const at = new Date().toISOString();
  let secondary: DaemonState['secondary'];
  const location = manager.secondary();
  if (location) {
    const lag = await manager.secondaryLag();
    secondary = { at, location, missing_objects: lag.missingObjects, missing_bytes: lag.missingBytes, oldest_missing_age_ms: lag.oldestMissingAgeMs ?? null };
  }
  await store.update((s) => {
    s.repository = { at, stats };
    if (secondary) s.secondary = secondary;
  });
}

export async function metricsCommand(ctx: CommandContext, options: { format: MetricsFormat; refresh: boolean }): Promise<number> {
  const effective = ctx.config();
  const manager = new BackupManager(effective, { warn: (m) => ctx.output.warn(m), debug: (m) => ctx.output.debug(m) });
  const store = new StateStore(stateDir(), (m) => ctx.output.warn(m));
  if (options.refresh) await refresh(manager, store);
  const registry = metricsRegistry({ state: store.read(), tool: manager.tool, triggers: configuredTriggers(effective) });
  if (options.format === 'prometheus') {
    process.stdout.write(await registry.metrics());
    return ExitCode.ok;
  }
  const metrics = await metricsJson(registry);
  if (options.format === 'json' && !ctx.output.json) process.stdout.write(`${JSON.stringify({ metrics }, null, 2)}\n`);
  else ctx.output.result({ metrics }, () => renderText(metrics));
  return ExitCode.ok;
}
