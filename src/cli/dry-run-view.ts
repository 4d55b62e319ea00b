// `backup create --dry-run`: the report of src/integration/dry-run.ts for people.
import { formatSize } from '../config/units.ts';
import type { DryRunReport } from '../integration/dry-run.ts';

export function renderDryRun(r: DryRunReport, verbose: boolean): string {
  const lines: string[] = [`would back up ${r.totals.files} files in ${r.totals.dirs} directories, ${formatSize(r.totals.bytes)}:`];
  for (const p of r.paths) {
    const size = p.type === 'missing' ? 'MISSING (would be reported as unreadable)' : p.inside ? `inside ${p.inside}` : p.type === 'dir' ? `${p.files} files, ${formatSize(p.bytes)}` : formatSize(p.bytes);
    lines.push(`  ${p.path}`, `      why:  ${p.reason}`, `      what: ${size}`, `      read: ${p.read}`);
  }
  if (r.snapshots.length) lines.push(`filesystem snapshots (consistency.filesystem_snapshots = "${r.snapshot_mode}"):`, ...r.snapshots.map((s) => `  ${s}`));
  if (r.hooks.length) {
    lines.push('service commands:');
    for (const h of r.hooks) {
      if (h.pre) lines.push(`  ${h.service} pre:  ${h.pre}`);
      if (h.post) lines.push(`  ${h.service} post: ${h.post}`);
    }
  }
  if (r.excluded_count) {
    const shown = verbose ? r.excluded : r.excluded.slice(0, 20);
    lines.push(`excluded (${r.excluded_count}):`, ...shown.map((e) => `  ${e.path}: ${e.reason}`));
    if (r.excluded_count > shown.length) lines.push(`  … and ${r.excluded_count - shown.length} more${verbose ? '' : ' (--verbose lists more; --json has the first 1000)'}`);
  }
  if (r.skipped.length) lines.push('skipped:', ...r.skipped.map((s) => `  ${s.path}: ${s.reason}`));
  lines.push(`tags: ${r.tags.join(' ')}`);
  return lines.join('\n');
}
