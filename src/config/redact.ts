import { SECRET_KEYS } from './schema.ts';

export const REDACTED = '<redacted>';

/** A deep copy of a config tree with every secret value replaced. */
export function redactConfig<T>(tree: T, prefix = ''): T {
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) return tree;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree as Record<string, unknown>)) {
    const p = prefix ? `${prefix}.${key}` : key;
    out[key] = SECRET_KEYS.has(p) && value !== undefined ? REDACTED : redactConfig(value, p);
  }
  return out as T;
}
