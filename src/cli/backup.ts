// `bolt-agent backup …`: the requirements' BackupCommands plus copy.
import { Argument, Command, Option } from 'commander';
import { action } from './main.ts';
import { renderConfigJson, renderConfigText } from './config-view.ts';
import { BackupError, ExitCode } from '../backup/errors.ts';
import { BackupManager } from '../backup/manager.ts';
import type { BackupBackend, RetentionPolicy } from '../backup/backend.ts';
import { normaliseTargets } from '../engine/archiver.ts';
import { interruptSignal, type CommandContext } from './context.ts';
import { progressFor } from './progress-view.ts';
import { renderBackup, renderBackupList, renderCheck, renderCopy, renderCreate, renderForget, renderRestore, renderStats } from './render.ts';
import type { FileProblem } from '../backup/types.ts';
import { copyBackups } from '../backup/copy.ts';
import type { AutoAction } from './auto.ts';
import type { MetricsFormat } from './metrics.ts';
import type { ReplicationResult } from '../storage/replicate.ts';
import { renderConnection, renderSecondaryCheck } from './render-storage.ts';
import { BoltBackupManager } from '../integration/bolt-manager.ts';
import { resolveIncludeSet } from '../integration/include-set.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function managerFor(ctx: CommandContext): BackupManager {
  return new BackupManager(ctx.config(), { warn: (m) => ctx.output.warn(m), debug: (m) => ctx.output.debug(m) });
}

/** A manager whose backups are consistent and carry the Bolt tags (src/integration). */
function boltManagerFor(ctx: CommandContext): BoltBackupManager {
  const log = { info: (m: string) => ctx.output.info(m), warn: (m: string) => ctx.output.warn(m), debug: (m: string) => ctx.output.debug(m) };
  return new BoltBackupManager(ctx.config(), log, { log });
}

async function withBackend<T, M extends BackupManager = BackupManager>(ctx: CommandContext, fn: (backend: BackupBackend, manager: M) => Promise<T>, manager: M = managerFor(ctx) as M): Promise<T> {
  const backend = await manager.open();
  try {
    return await fn(backend, manager);
  } finally {
    await backend.close();
  }
}

const PROBLEMS_SHOWN = 50;

function reportProblems(ctx: CommandContext, problems: FileProblem[], what: string): void {
  for (const p of problems.slice(0, ctx.output.verbose ? problems.length : PROBLEMS_SHOWN)) ctx.output.warn(`${what} ${p.path}: ${p.error}`);
  if (problems.length > PROBLEMS_SHOWN && !ctx.output.verbose) ctx.output.warn(`… and ${problems.length - PROBLEMS_SHOWN} more (--verbose lists all; --json has all)`);
}

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new BackupError('Usage', `${flag}: expected a whole number >= 0 (got "${value}")`);
  return Number(value);
}

export function registerBackupCommands(program: Command): void {
  const backup = program.command('backup').description('manage backups and repositories');

  backup
    .command('init')
    .description('create a repository')
    .argument('[repository]', 'where to create it (see "Repository strings" in docs/CLI.md; default: the configured repository)')
    .option('--password-file <file>', 'file holding the new repository password')
    .addOption(new Option('--repository-version <n>', 'restic repository version').choices(['1', '2']))
    .action(
      action(async (ctx, repository: string | undefined, opts: { passwordFile?: string; repositoryVersion?: string }) => {
        if (opts.passwordFile) ctx.options.passwordFile = opts.passwordFile;
        const manager = managerFor(ctx);
        const result = await manager.init(repository ?? manager.repository(), opts.repositoryVersion ? { version: Number(opts.repositoryVersion) as 1 | 2 } : {});
        ctx.output.result(result, () => `created ${result.tool} repository ${result.id.slice(0, 10)} (version ${result.version}) at ${result.repository}`);
      }),
    );

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
    .action(
      action(async (ctx, opts: { name?: string; include: string[]; exclude: string[]; tag: string[]; host?: string; parent?: string; force?: boolean; dryRun?: boolean; progress?: boolean }) => {
        const include = resolveIncludeSet(ctx.config(), { extra: opts.include });
        for (const s of include.skipped) ctx.output.info(`skipped ${s.path}: ${s.reason}`);
        const paths = normaliseTargets(include.entries.map((e) => e.path));
        if (paths.length === 0) {
          throw new BackupError('Usage', 'nothing to back up', { hint: 'pass --include <path>, or set include.custom_paths / include.system_config in [backups] (Bolt volumes and configuration are found when present)' });
        }
        if (opts.dryRun) {
          const { dryRun } = await import('../integration/dry-run.ts');
          const { loadSnapshotDeps } = await import('../snapshots/deps.ts');
          const { renderDryRun } = await import('./dry-run-view.ts');
          const report = await dryRun(ctx.config(), include, { exclude: managerFor(ctx).excludeRules(opts.exclude), deps: await loadSnapshotDeps(), tags: opts.tag, ...(opts.host ? { hostname: opts.host } : {}) });
          ctx.output.result(report, () => renderDryRun(report, ctx.output.verbose));
          return ExitCode.ok;
        }
        return withBackend(ctx, async (backend, manager) => {
          const progress = progressFor(ctx, 'backup', opts.progress === true);
          const result = await backend.createBackup({
            paths,
            ...(opts.name ? { name: opts.name } : {}),
            tags: opts.tag,
            exclude: manager.excludeRules(opts.exclude),
            ...(opts.host ? { hostname: opts.host } : {}),
            ...(opts.parent ? { parent: opts.parent } : {}),
            ...(opts.force ? { force: true } : {}),
            progress,
            signal: interruptSignal(),
          });
          reportProblems(ctx, result.problems, 'cannot read');
          for (const s of result.skipped) ctx.output.debug(`skipped ${s.path}: ${s.error}`);
          let secondary: ReplicationResult | { error: string } | undefined;
          if (manager.secondary()) {
            try {
              secondary = await manager.replicateToSecondary({ signal: interruptSignal() });
            } catch (err) {
              secondary = { error: (err as Error).message };
              ctx.output.warn(`the backup is stored, but copying it to the secondary failed (the next run resumes): ${(err as Error).message}`);
            }
          }
          const consistency = manager.lastOpened?.lastReport;
          ctx.output.result({ ...result, ...(consistency ? { consistency } : {}), ...(secondary ? { secondary } : {}) }, () =>
            [renderCreate(result), ...(secondary && !('error' in secondary) ? [`secondary: ${secondary.copied} objects copied, ${secondary.upToDate} already there`] : [])].join('\n'),
          );
          if (secondary && 'error' in secondary) return ExitCode.error;
          return result.problems.length ? ExitCode.partial : ExitCode.ok;
        }, boltManagerFor(ctx));
      }),
    );

  backup
    .command('list')
    .alias('ls')
    .description('list backups')
    .option('-v, --verbose', 'show more columns')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(
      action(async (ctx, opts: { verbose?: boolean; format: string }) =>
        withBackend(ctx, async (backend) => {
          const backups = await backend.listBackups();
          if (opts.format === 'json' && !ctx.output.json) process.stdout.write(`${JSON.stringify(backups, null, 2)}\n`);
          else ctx.output.result(backups, () => renderBackupList(backups, opts.verbose === true));
        }),
      ),
    );

  backup
    .command('show')
    .description('show one backup')
    .argument('<backup>', 'id, unique id prefix, name or "latest"')
    .action(
      action(async (ctx, reference: string) =>
        withBackend(ctx, async (backend) => {
          const backup = await backend.findBackup(reference);
          ctx.output.result(backup, () => renderBackup(backup));
        }),
      ),
    );

  backup
    .command('restore')
    .description('restore a backup')
    .argument('<backup>', 'id, unique id prefix, name or "latest"')
    .option('-t, --target <dir>', 'restore below this directory (default: the original paths)')
    .option('--include <glob>', 'restore only matching paths (repeatable)', collect, [])
    .option('--verify-only', 'read and verify everything, write nothing')
    .action(
      action(async (ctx, reference: string, opts: { target?: string; include: string[]; verifyOnly?: boolean }) =>
        withBackend(ctx, async (backend) => {
          const result = await backend.restoreBackup(reference, {
            target: opts.target ?? null,
            include: opts.include,
            verifyOnly: opts.verifyOnly === true,
            progress: progressFor(ctx, opts.verifyOnly ? 'verify' : 'restore', false),
            signal: interruptSignal(),
          });
          reportProblems(ctx, result.problems, opts.verifyOnly ? 'cannot verify' : 'cannot restore');
          ctx.output.result(result, () => renderRestore(result));
          return result.problems.length ? ExitCode.partial : ExitCode.ok;
        }),
      ),
    );

  backup
    .command('check')
    .description('check repository integrity')
    .option('--read-data', 'also read, decrypt and hash every pack')
    .option('--secondary', 'check that the secondary storage holds a verified copy')
    .action(
      action(async (ctx, opts: { readData?: boolean; secondary?: boolean }) =>
        withBackend(ctx, async (backend, manager) => {
          if (opts.secondary) {
            const check = await manager.checkSecondary(opts.readData === true);
            ctx.output.result(check, () => renderSecondaryCheck(check));
            return check.ok ? ExitCode.ok : ExitCode.error;
          }
          const report = await backend.checkIntegrity({ readData: opts.readData === true, progress: progressFor(ctx, 'check', false), signal: interruptSignal() });
          ctx.output.result(report, () => renderCheck(report));
          return report.ok ? ExitCode.ok : ExitCode.error;
        }),
      ),
    );

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
    .action(
      action(
        async (
          ctx,
          opts: { dryRun?: boolean; apply?: boolean; keepLast?: string; keepHourly?: string; keepDaily?: string; keepWeekly?: string; keepMonthly?: string; keepYearly?: string; keepWithin?: string; keepTag: string[]; groupBy: string },
        ) => {
          if (opts.dryRun && opts.apply) throw new BackupError('Usage', '--dry-run and --apply exclude each other');
          const overrides: RetentionPolicy = {};
          const set = (key: keyof RetentionPolicy, flag: string, v: string | undefined) => {
            const n = count(flag, v);
            if (n !== undefined) (overrides as Record<string, unknown>)[key] = n;
          };
          set('keep_last', '--keep-last', opts.keepLast);
          set('keep_hourly', '--keep-hourly', opts.keepHourly);
          set('keep_daily', '--keep-daily', opts.keepDaily);
          set('keep_weekly', '--keep-weekly', opts.keepWeekly);
          set('keep_monthly', '--keep-monthly', opts.keepMonthly);
          set('keep_yearly', '--keep-yearly', opts.keepYearly);
          if (opts.keepWithin) overrides.keep_within = opts.keepWithin;
          if (opts.keepTag.length) overrides.keep_tags = opts.keepTag.map((t) => t.split(',').filter(Boolean));
          const groupBy = opts.groupBy.split(',').map((g) => g.trim()).filter(Boolean);
          for (const g of groupBy) if (!['host', 'paths', 'tags'].includes(g)) throw new BackupError('Usage', `--group-by: unknown field "${g}" (host, paths, tags)`);
          return withBackend(ctx, async (backend, manager) => {
            const policy = manager.retentionPolicy(overrides);
            if (Object.keys(policy).length === 0) {
              throw new BackupError('Usage', 'no retention policy: nothing would be kept or removed', { hint: 'set [backups.retention] or pass --keep-* flags' });
            }
            const result = await backend.forgetBackups(policy, { dryRun: opts.apply !== true, groupBy: groupBy as ('host' | 'paths' | 'tags')[], progress: progressFor(ctx, 'prune', false), signal: interruptSignal() });
            ctx.output.result(result, () => renderForget(result));
          });
        },
      ),
    );

  backup
    .command('stats')
    .description('repository statistics (BackupStats)')
    .action(
      action(async (ctx) =>
        withBackend(ctx, async (backend) => {
          const stats = await backend.getStats();
          ctx.output.result(stats, () => renderStats(stats));
        }),
      ),
    );

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
    .action(
      action(async (ctx, opts: { verbose?: boolean }) => {
        const manager = managerFor(ctx);
        const result = await manager.testConnection();
        const json = { ok: result.ok, outcome: result.outcome, exit_code: result.exitCode, location: result.location, backend: result.backend ?? null, latency_ms: result.latencyMs ?? null, steps: result.steps, ...(result.error ? { error: result.error.message } : {}) };
        ctx.output.result(json, () => renderConnection(result, opts.verbose === true || ctx.output.verbose));
        return result.exitCode;
      }),
    );

  backup
    .command('auto')
    .description('control automatic backups')
    .addArgument(new Argument('<action>', 'enable, disable or status').choices(['enable', 'disable', 'status']))
    .action(action(async (ctx, what: AutoAction) => (await import('./auto.ts')).autoCommand(ctx, what)));

  backup
    .command('health')
    .description('report backup health (exit 1 when unhealthy)')
    .action(action(async (ctx) => (await import('./health.ts')).healthCommand(ctx)));

  backup
    .command('metrics')
    .description('export backup metrics')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'prometheus']).default('text'))
    .option('--refresh', 'measure repository statistics and secondary lag now')
    .action(action(async (ctx, opts: { format: MetricsFormat; refresh?: boolean }) => (await import('./metrics.ts')).metricsCommand(ctx, { format: opts.format, refresh: opts.refresh === true })));

  backup
    .command('copy')
    .description('copy backups between repositories of either format')
    .argument('[backup...]', 'ids, prefixes or names to copy (default: all)')
    .option('--all', 'copy every backup')
    .requiredOption('--from <repository>', 'source repository')
    .requiredOption('--to <repository>', 'destination repository')
    .option('--from-password-file <file>', 'password file of the source (default: the configured one)')
    .option('--to-password-file <file>', 'password file of the destination (default: the configured one)')
    .addOption(new Option('--from-tool <tool>', 'format of the source').choices(['restic', 'ghostsnap']))
    .addOption(new Option('--to-tool <tool>', 'format of the destination').choices(['restic', 'ghostsnap']))
    .option('--init', 'create the destination repository when it does not exist')
    .option('--scratch-dir <dir>', 'where backups are unpacked while copied (default: the temp folder)')
    .action(
      action(
        async (
          ctx,
          refs: string[],
          opts: { all?: boolean; from: string; to: string; fromPasswordFile?: string; toPasswordFile?: string; fromTool?: 'restic' | 'ghostsnap'; toTool?: 'restic' | 'ghostsnap'; init?: boolean; scratchDir?: string },
        ) => {
          if (opts.all && refs.length) throw new BackupError('Usage', 'give backup ids or --all, not both');
          if (!opts.all && refs.length === 0) throw new BackupError('Usage', 'name the backups to copy, or pass --all');
          const base = new BackupManager(ctx.config(), { warn: (m) => ctx.output.warn(m), debug: (m) => ctx.output.debug(m) });
          const from = base.derive({ repository: opts.from, ...(opts.fromTool ? { tool: opts.fromTool } : {}), ...(opts.fromPasswordFile ? { password_file: opts.fromPasswordFile } : {}) });
          const to = base.derive({ repository: opts.to, ...(opts.toTool ? { tool: opts.toTool } : {}), ...(opts.toPasswordFile ? { password_file: opts.toPasswordFile } : {}) });
          const source = await from.open();
          try {
            let destination: BackupBackend;
            try {
              destination = await to.open();
            } catch (err) {
              if (!(err instanceof BackupError && err.kind === 'RepositoryNotFound' && opts.init)) throw err;
              const created = await to.init(opts.to);
              ctx.output.info(`created ${created.tool} repository at ${created.repository}`);
              destination = await to.open();
            }
            try {
              const result = await copyBackups(source, destination, {
                references: refs,
                ...(opts.scratchDir ? { scratchDir: opts.scratchDir } : {}),
                signal: interruptSignal(),
                onEvent: (e) => {
                  if (e.kind === 'copying') ctx.output.info(`copying ${e.source.short_id} (${e.source.timestamp})`);
                  if (e.kind === 'skipped') ctx.output.info(`skipped ${e.source.short_id}: already in the destination as ${e.existing.short_id}`);
                },
              });
              reportProblems(ctx, result.problems, 'cannot copy');
              ctx.output.result(result, () => renderCopy(result));
              return result.problems.length ? ExitCode.partial : ExitCode.ok;
            } finally {
              await destination.close();
            }
          } finally {
            await source.close();
          }
        },
      ),
    );
}
