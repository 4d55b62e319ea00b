// `bolt-agent snapshot-backup …`: a kept filesystem snapshot plus a backup taken from it, and the
// emergency restore that protects the current state with a safety snapshot first.
import type { Command } from 'commander';
import { action } from './main.ts';
import { ExitCode } from '../backup/errors.ts';
import { BackupManager } from '../backup/manager.ts';
import { formatSize } from '../config/units.ts';
import type { EmergencyRestoreResult } from '../integration/emergency-restore.ts';
import type { SnapshotBackupResult } from '../integration/snapshot-backup.ts';
import { interruptSignal, type CommandContext } from './context.ts';
import { progressFor } from './progress-view.ts';
import { renderCreate } from './render.ts';

function logFor(ctx: CommandContext) {
  return { info: (m: string) => ctx.output.info(m), warn: (m: string) => ctx.output.warn(m), debug: (m: string) => ctx.output.debug(m) };
}

function managerFor(ctx: CommandContext): BackupManager {
  return new BackupManager(ctx.config(), { warn: (m) => ctx.output.warn(m), debug: (m) => ctx.output.debug(m) });
}

function renderSnapshotBackup(r: SnapshotBackupResult): string {
  const lines = [`snapshot ${r.name} kept in ${r.directory}${r.description ? ` (${r.description})` : ''}:`];
  for (const s of r.snapshots) lines.push(`  ${s.source} -> ${s.kind === 'zfs' ? s.id : s.path}`);
  for (const l of r.live) lines.push(`  ${l.root}: read live (${l.why})`);
  lines.push(renderCreate({ backup: r.backup, summary: r.summary, problems: r.problems, skipped: r.skipped }));
  lines.push(`linked: the backup is tagged bolt.snapshot=${r.name}; ${r.metadata_file} names backup ${r.backup.short_id}`);
  return lines.join('\n');
}

function renderEmergencyRestore(r: EmergencyRestoreResult): string {
  const lines: string[] = [];
  if (r.safety.snapshots.length) {
    lines.push('safety snapshots of the state before the restore:');
    for (const s of r.safety.snapshots) lines.push(`  ${s.source} -> ${s.kind === 'zfs' ? s.id : s.path}`);
  }
  for (const u of r.safety.unprotected) lines.push(`no safety snapshot of ${u.root} (${u.why})`);
  const where = r.target ? ` into ${r.target}` : ' to the original paths';
  lines.push(`restored ${r.restore.files_restored} files, ${r.restore.dirs_restored} directories, ${formatSize(r.restore.bytes_restored)} from backup ${r.backup_id.slice(0, 8)}${where}`);
  lines.push(
    r.verification.ok
      ? `verified: all ${r.verification.files_checked} restored files were read back and match the backup`
      : `VERIFICATION FAILED: ${r.verification.problems.length} problem(s); ${r.verification.files_checked} files match the backup`,
  );
  if (r.rollback.length) lines.push('', 'to roll back to the state before this restore:', ...r.rollback.map((l) => `  ${l}`));
  return lines.join('\n');
}

export function registerSnapshotBackupCommands(program: Command): void {
  const group = program.command('snapshot-backup').description('combined filesystem snapshot and backup operations');

  group
    .command('create')
    .description("take a named snapshot in Bolt's snapshot_path and back up from it")
    .option('-n, --name <name>', 'name for both the snapshot and the backup')
    .option('-d, --description <text>', 'description stored with the snapshot')
    .option('--progress', 'show progress even when not on a terminal')
    .action(
      action(async (ctx, opts: { name?: string; description?: string; progress?: boolean }) => {
        const { createSnapshotBackup } = await import('../integration/snapshot-backup.ts');
        const result = await createSnapshotBackup(managerFor(ctx), {
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.description ? { description: opts.description } : {}),
          log: logFor(ctx),
          progress: progressFor(ctx, 'backup', opts.progress === true),
          signal: interruptSignal(),
        });
        for (const p of result.problems) ctx.output.warn(`cannot read ${p.path}: ${p.error}`);
        ctx.output.result(result, () => renderSnapshotBackup(result));
        return result.problems.length ? ExitCode.partial : ExitCode.ok;
      }),
    );

  group
    .command('emergency-restore')
    .description('restore a backup after taking a safety snapshot of the current state')
    .argument('<backup_id>', 'id, prefix, name or "latest"')
    .option('-t, --target <dir>', 'restore below this directory (default: the original paths)')
    .action(
      action(async (ctx, reference: string, opts: { target?: string }) => {
        const { emergencyRestore } = await import('../integration/emergency-restore.ts');
        const result = await emergencyRestore(managerFor(ctx), reference, {
          ...(opts.target ? { target: opts.target } : {}),
          log: logFor(ctx),
          progress: progressFor(ctx, 'restore', false),
          signal: interruptSignal(),
        });
        for (const p of result.verification.problems) ctx.output.warn(`${p.path}: ${p.error}`);
        ctx.output.result(result, () => renderEmergencyRestore(result));
        return result.verification.ok ? ExitCode.ok : ExitCode.partial;
      }),
    );
}
