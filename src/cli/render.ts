// Human-readable renderings of command results (the JSON forms are the objects themselves).
import type { Backup, BackupStats, CheckReport, CreateResult, ForgetResult, RestoreResult } from '../backup/types.ts';
import type { CopyResult } from '../backup/copy.ts';
import { formatSize } from '../config/units.ts';

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  return [line(headers), rule, ...rows.map(line), rule].join('\n');
}

function localTime(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function userTags(b: Backup): string[] {
  return b.tags.filter((t) => !t.startsWith('bolt.name='));
}

export function renderBackupList(backups: Backup[], verbose: boolean): string {
  const headers = verbose ? ['ID', 'Time', 'Host', 'Name', 'Tags', 'Size', 'Files', 'Paths'] : ['ID', 'Time', 'Host', 'Name', 'Tags', 'Paths'];
  const rows = backups.map((b) => {
    const base = [b.short_id, localTime(b.timestamp), b.hostname, b.name ?? '', userTags(b).join(',')];
    if (verbose) base.push(b.size_bytes === null ? '' : formatSize(b.size_bytes), b.summary ? String(b.summary.total_files_processed) : '');
    base.push(b.paths.join(', '));
    return base;
  });
  return `${table(headers, rows)}\n${backups.length} backup${backups.length === 1 ? '' : 's'}`;
}

export function renderBackup(b: Backup): string {
  const lines = [
    `id:        ${b.id}`,
    `name:      ${b.name ?? ''}`,
    `time:      ${b.timestamp}`,
    `host:      ${b.hostname}`,
    `paths:     ${b.paths.join(', ')}`,
    `tags:      ${b.tags.join(', ')}`,
    `tool:      ${b.tool}`,
    `parent:    ${b.parent ?? ''}`,
    `tree:      ${b.tree}`,
  ];
  if (b.size_bytes !== null) lines.push(`size:      ${formatSize(b.size_bytes)}`);
  if (b.summary) {
    const s = b.summary;
    lines.push(
      `files:     ${s.files_new} new, ${s.files_changed} changed, ${s.files_unmodified} unmodified`,
      `dirs:      ${s.dirs_new} new, ${s.dirs_changed} changed, ${s.dirs_unmodified} unmodified`,
      `added:     ${formatSize(s.data_added)} (${formatSize(s.data_added_packed)} stored)`,
      `duration:  ${((Date.parse(s.backup_end) - Date.parse(s.backup_start)) / 1000).toFixed(1)} s`,
    );
  }
  return lines.join('\n');
}

export function renderCreate(r: CreateResult): string {
  const s = r.summary;
  const seconds = (Date.parse(s.backup_end) - Date.parse(s.backup_start)) / 1000;
  const lines = [
    `Files:  ${s.files_new} new, ${s.files_changed} changed, ${s.files_unmodified} unmodified`,
    `Dirs:   ${s.dirs_new} new, ${s.dirs_changed} changed, ${s.dirs_unmodified} unmodified`,
    `Added to the repository: ${formatSize(s.data_added)} (${formatSize(s.data_added_packed)} stored)`,
    `processed ${s.total_files_processed} files, ${formatSize(s.total_bytes_processed)} in ${seconds.toFixed(1)} s`,
  ];
  if (r.problems.length) lines.push(`${r.problems.length} file(s) could not be read (listed above)`);
  lines.push(`backup ${r.backup.short_id} saved${r.backup.name ? ` (name: ${r.backup.name})` : ''}`);
  return lines.join('\n');
}

export function renderRestore(r: RestoreResult): string {
  const verb = r.verified_only ? 'verified' : 'restored';
  const lines = [`${verb} ${r.files_restored} files, ${r.dirs_restored} directories, ${formatSize(r.bytes_restored)} from backup ${r.backup_id.slice(0, 8)}${r.target && !r.verified_only ? ` into ${r.target}` : ''}`];
  if (r.problems.length) lines.push(`${r.problems.length} problem(s) (listed above)`);
  return lines.join('\n');
}

export function renderCheck(r: CheckReport): string {
  const lines: string[] = [];
  for (const h of r.hints) lines.push(`hint: ${h}`);
  for (const e of r.errors) {
    lines.push(`error: ${e.object}: ${e.message}`);
    if (e.affected_snapshots?.length) lines.push(`  affects backups: ${e.affected_snapshots.map((s) => s.slice(0, 8)).join(', ')}`);
    for (const f of e.affected_files ?? []) lines.push(`  affects file: ${f}`);
  }
  lines.push(
    `checked ${r.snapshots_checked} backups${r.read_data ? `, read ${r.packs_checked} packs and ${r.blobs_checked} blobs` : `, ${r.packs_checked} packs`}`,
    r.ok ? 'no errors were found' : `${r.errors.length} error(s) found: the repository is damaged`,
  );
  return lines.join('\n');
}

export function renderStats(s: BackupStats): string {
  return [
    `total backups:        ${s.total_backups}`,
    `total size:           ${formatSize(s.total_size)} (${s.total_size} bytes)`,
    `unique data:          ${formatSize(s.unique_data)} (${s.unique_data} bytes)`,
    `compression ratio:    ${s.compression_ratio.toFixed(3)}`,
    `deduplication ratio:  ${s.deduplication_ratio.toFixed(3)}`,
  ].join('\n');
}

export function renderForget(r: ForgetResult): string {
  const lines: string[] = [];
  for (const g of r.groups) {
    const key = [g.key.hostname !== null ? `host ${g.key.hostname}` : '', g.key.paths ? `paths [${g.key.paths.join(', ')}]` : '', g.key.tags ? `tags [${g.key.tags.join(', ')}]` : '']
      .filter(Boolean)
      .join(', ');
    lines.push(`group: ${key || 'all'}`);
    lines.push(`  keep ${g.keep.length}:`);
    for (const k of g.keep) lines.push(`    ${k.short_id}  ${localTime(k.timestamp)}  ${k.reasons.join(', ')}`);
    lines.push(`  remove ${g.remove.length}:`);
    for (const k of g.remove) lines.push(`    ${k.short_id}  ${localTime(k.timestamp)}`);
  }
  if (r.dry_run) lines.push(`dry run: nothing removed (use --apply)`);
  else lines.push(`removed ${r.removed.length} backup(s)`);
  if (r.prune) lines.push(`prune: ${r.prune.packs_deleted} pack(s) deleted, ${r.prune.packs_rewritten} repacked, ${formatSize(r.prune.bytes_freed)} freed`);
  return lines.join('\n');
}

export function renderCopy(r: CopyResult): string {
  const lines = r.copied.map((c) => `copied ${c.source_id.slice(0, 8)} → ${c.copy_id.slice(0, 8)}  ${localTime(c.timestamp)}  ${c.files} files, ${formatSize(c.bytes)}${c.name ? `  (${c.name})` : ''}`);
  lines.push(`${r.copied.length} copied, ${r.skipped.length} already there${r.problems.length ? `, ${r.problems.length} problem(s)` : ''}`);
  return lines.join('\n');
}
