// `backup config [-v]`: the effective configuration, secrets redacted, optionally with sources.
import type { EffectiveConfig, ValueSource } from '../config/load.ts';
import { redactConfig, REDACTED } from '../config/redact.ts';

function describe(source: ValueSource | undefined): string {
  if (!source) return '';
  return source.kind === 'default' ? 'default' : `${source.kind} ${source.name}`;
}

function tomlValue(value: unknown): string {
  return JSON.stringify(value);
}

/** TOML-shaped text of the effective [backups] table. */
export function renderConfigText(effective: EffectiveConfig, withSources: boolean): string {
  const redacted = redactConfig(effective.config) as Record<string, unknown>;
  const lines: string[] = [];
  const emitTable = (name: string, table: Record<string, unknown>, prefix: string): void => {
    const scalars = Object.entries(table).filter(([, v]) => typeof v !== 'object' || v === null || Array.isArray(v));
    const tables = Object.entries(table).filter(([, v]) => typeof v === 'object' && v !== null && !Array.isArray(v));
    if (scalars.length || !tables.length) {
      if (lines.length) lines.push('');
      lines.push(`[${name}]`);
    }
    const width = Math.max(0, ...scalars.map(([k, v]) => `${k} = ${tomlValue(v)}`.length));
    for (const [key, value] of scalars) {
      const line = `${key} = ${tomlValue(value)}`;
      const source = describe(effective.sources.get(prefix ? `${prefix}.${key}` : key));
      lines.push(withSources && source ? `${line.padEnd(width)}  # ${source}` : line);
    }
    for (const [key, value] of tables) emitTable(`${name}.${key}`, value as Record<string, unknown>, prefix ? `${prefix}.${key}` : key);
  };
  emitTable('backups', redacted, '');
  if (effective.password) {
    lines.push('', `# password: ${REDACTED} (${describe(effective.password.source)})`);
  }
  lines.unshift(`# configuration file: ${effective.file ?? 'none (defaults, environment and flags only)'}`);
  return lines.join('\n');
}

export function renderConfigJson(effective: EffectiveConfig, withSources: boolean): Record<string, unknown> {
  const config = redactConfig(effective.config);
  if (!withSources) return config as Record<string, unknown>;
  const sources: Record<string, ValueSource> = {};
  for (const [key, source] of [...effective.sources.entries()].sort(([a], [b]) => a.localeCompare(b))) sources[key] = source;
  return {
    config,
    sources,
    file: effective.file ?? null,
    ...(effective.password ? { password: { value: REDACTED, source: effective.password.source } } : {}),
  };
}
