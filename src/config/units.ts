// Human-friendly sizes, rates and durations as users write them in Boltfiles.

const sizeUnits: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  t: 1000 ** 4,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const sizePattern = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/;

/** "4MiB" → 4194304, "64MB" → 64000000, "512" → 512. Returns undefined when not a size. */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const m = sizePattern.exec(text);
  if (!m) return undefined;
  const factor = sizeUnits[(m[2] ?? '').toLowerCase()];
  if (factor === undefined) return undefined;
  const value = Math.round(Number(m[1]) * factor);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** "10MiB/s" → 10485760 bytes per second. The "/s" is required so a rate is never a size by accident. */
export function parseRate(text: string): number | undefined {
  const m = /^(.*)\/s$/i.exec(text.trim());
  if (!m) return undefined;
  const bytes = parseSize(m[1] ?? '');
  return bytes !== undefined && bytes > 0 ? bytes : undefined;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "5m", "1h30m", "250ms" → milliseconds. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * 1000 : undefined;
  const s = text.trim();
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h|d))+$/.test(s)) return undefined;
  let total = 0;
  for (const part of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(part[1]) * (durationUnits[part[2] ?? ''] ?? 0);
  }
  return total;
}

/** 1536 → "1.5 KiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}
