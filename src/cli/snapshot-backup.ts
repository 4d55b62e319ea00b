// `bolt-agent snapshot-backup …`: a kept filesystem snapshot plus a backup taken from it.
import type { Command } from 'commander';
import { action } from './main.ts';
import { NotImplementedError } from '../backup/errors.ts';

export function registerSnapshotBackupCommands(program: Command): void {
  const group = program.command('snapshot-backup').description('combined filesystem snapshot and backup operations');

  group
    .command('create')
    .description("take a named snapshot in Bolt's snapshot_path and back up from it")
    .option('-n, --name <name>', 'name for both the snapshot and the backup')
    .option('-d, --description <text>', 'description stored with the snapshot')
    .action(
      action(async () => {
        throw new NotImplementedError('snapshot-backup create (btrfs/zfs snapshots, issue #6)');
      }),
    );

  group
    .command('emergency-restore')
    .description('restore a backup after taking a safety snapshot of the current state')
    .argument('<backup_id>', 'id, prefix, name or "latest"')
    .option('-t, --target <dir>', 'restore below this directory (default: the original paths)')
    .action(
      action(async () => {
        throw new NotImplementedError('snapshot-backup emergency-restore (issue #6)');
      }),
    );
}
