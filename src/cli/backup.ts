// `bolt-agent backup …`: the requirements' BackupCommands plus copy.
import { Argument, Command, Option } from 'commander';
import { action } from './main.ts';
import { renderConfigJson, renderConfigText } from './config-view.ts';
import { NotImplementedError } from '../backup/errors.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function notYet(what: string): never {
  throw new NotImplementedError(what);
}

export function registerBackupCommands(program: Command): void {
  const backup = program.command('backup').description('manage backups and repositories');

  backup
    .command('init')
    .description('create a repository')
    .argument('<repository>', 'where to create it (see "Repository strings" in docs/CLI.md)')
    .option('--password-file <file>', 'file holding the new repository password')
    .addOption(new Option('--repository-version <n>', 'restic repository version').choices(['1', '2']))
    .action(action(async () => notYet('repository init (restic format, issue #4)')));

  backup
    .command('create')
    .description('back up the configured include sets plus --include paths')
    .option('-n, --name <name>', 'backup name (stored as tag bolt.name=<name>)')
    .option('--include <path>', 'additional path to back up (repeatable)', collect, [])
    .option('--exclude <glob>', 'exclude pattern or path (repeatable)', collect, [])
    .option('--tag <tag>', 'tag the backup (repeatable)', collect, [])
    .option('--host <hostname>', 'hostname to record (default: this host)')
    .option('--parent <id>', 'use this backup as parent instead of the automatic choice')
    .option('--force', 're-read every file (no parent)')
    .option('--dry-run', 'list what would be read and why, write nothing')
    .option('--progress', 'show progress even when not on a terminal')
    .action(action(async () => notYet('backup create (restic format, issue #4)')));

  backup
    .command('list')
    .alias('ls')
    .description('list backups')
    .option('-v, --verbose', 'show more columns')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(action(async () => notYet('backup list (restic format, issue #4)')));

  backup
    .command('show')
    .description('show one backup')
    .argument('<backup>', 'id, unique id prefix, name or "latest"')
    .action(action(async () => notYet('backup show (restic format, issue #4)')));

  backup
    .command('restore')
    .description('restore a backup')
    .argument('<backup>', 'id, unique id prefix, name or "latest"')
    .option('-t, --target <dir>', 'restore below this directory (default: the original paths)')
    .option('--include <glob>', 'restore only matching paths (repeatable)', collect, [])
    .option('--verify-only', 'read and verify everything, write nothing')
    .action(action(async () => notYet('backup restore (restic format, issue #4)')));

  backup
    .command('check')
    .description('check repository integrity')
    .option('--read-data', 'also read, decrypt and hash every pack')
    .option('--secondary', 'check that the secondary storage holds a verified copy')
    .action(action(async () => notYet('backup check (restic format, issue #4)')));

  backup
    .command('forget')
    .description('apply the retention policy')
    .option('--dry-run', 'show what would be removed (the default)')
    .option('--apply', 'remove the snapshots and prune unreferenced data')
    .option('--keep-last <n>', 'keep the last n backups')
    .option('--keep-hourly <n>', 'keep the last backup of n hours')
    .option('--keep-daily <n>', 'keep the last backup of n days')
    .option('--keep-weekly <n>', 'keep the last backup of n weeks')
    .option('--keep-monthly <n>', 'keep the last backup of n months')
    .option('--keep-yearly <n>', 'keep the last backup of n years')
    .option('--keep-within <duration>', 'keep backups newer than duration (e.g. 1y2m3d4h) before the latest')
    .option('--keep-tag <tags>', 'keep backups with all these tags (comma list, repeatable)', collect, [])
    .option('--group-by <fields>', 'group by host,paths,tags', 'host,paths')
    .action(action(async () => notYet('backup forget (restic format, issue #4)')));

  backup
    .command('stats')
    .description('repository statistics (BackupStats)')
    .action(action(async () => notYet('backup stats (restic format, issue #4)')));

  backup
    .command('config')
    .description('print the effective configuration (secrets redacted)')
    .option('-v, --verbose', 'show where each value comes from')
    .action(
      action(async (ctx, opts: { verbose?: boolean }) => {
        const effective = ctx.config();
        const withSources = opts.verbose === true;
        ctx.output.result(renderConfigJson(effective, withSources), () => renderConfigText(effective, withSources));
      }),
    );

  backup
    .command('test-connection')
    .description('check that the repository storage is reachable and writable')
    .option('-v, --verbose', 'show each step')
    .action(action(async () => notYet('backup test-connection (storage, issue #5)')));

  backup
    .command('auto')
    .description('control automatic backups')
    .addArgument(new Argument('<action>', 'enable, disable or status').choices(['enable', 'disable', 'status']))
    .action(action(async () => notYet('backup auto (daemon, issue #7)')));

  backup
    .command('health')
    .description('report backup health (exit 1 when unhealthy)')
    .action(action(async () => notYet('backup health (issue #7)')));

  backup
    .command('metrics')
    .description('export backup metrics')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'prometheus']).default('text'))
    .action(action(async () => notYet('backup metrics (issue #7)')));

  backup
    .command('copy')
    .description('copy backups between repositories of either format')
    .argument('[backup...]', 'ids, prefixes or names to copy')
    .option('--all', 'copy every backup')
    .requiredOption('--from <repository>', 'source repository')
    .requiredOption('--to <repository>', 'destination repository')
    .option('--from-password-file <file>', 'password file of the source')
    .option('--to-password-file <file>', 'password file of the destination')
    .addOption(new Option('--from-tool <tool>', 'format of the source').choices(['restic', 'ghostsnap']))
    .addOption(new Option('--to-tool <tool>', 'format of the destination').choices(['restic', 'ghostsnap']))
    .action(action(async () => notYet('backup copy (issue #10)')));
}
