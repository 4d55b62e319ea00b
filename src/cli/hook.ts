// `bolt-agent hook …`: entry points Bolt itself calls (surge up).
import type { Command } from 'commander';
import { action } from './main.ts';
import { ExitCode } from '../backup/errors.ts';
import { interruptSignal } from './context.ts';
import { progressFor } from './progress-view.ts';

export function registerHookCommands(program: Command): void {
  const hook = program.command('hook').description('entry points called by Bolt');
  hook
    .command('before-surge')
    .description('back up the volumes of these services before `bolt surge up` (when triggers.before_surge_operations is true)')
    .argument('[service...]', 'services about to change (default: all)')
    .action(
      action(async (ctx, services: string[]) => {
        const { beforeSurge, SURGE_BACKUP_NAME } = await import('../integration/surge-hook.ts');
        const log = { info: (m: string) => ctx.output.info(m), warn: (m: string) => ctx.output.warn(m), debug: (m: string) => ctx.output.debug(m) };
        const result = await beforeSurge(ctx.config(), services, { log, signal: interruptSignal(), progress: progressFor(ctx, 'backup', false) });
        if (!result.ran) {
          // Bolt calls this on every `surge up`: nothing to do is not worth a word unless asked.
          ctx.output.debug(`hook before-surge: nothing to do: ${result.reason}`);
          if (ctx.output.json) ctx.output.result({ ran: false, reason: result.reason }, () => '');
          return ExitCode.ok;
        }
        const { record, create, error } = result.outcome;
        for (const p of create?.problems ?? []) ctx.output.warn(`cannot read ${p.path}: ${p.error}`);
        ctx.output.result({ ran: true, name: SURGE_BACKUP_NAME, paths: result.paths, run: record }, () =>
          create ? `backup ${create.backup.short_id} (${SURGE_BACKUP_NAME}) saved: ${result.paths.length} path(s), ${create.summary.files_new} new and ${create.summary.files_changed} changed files` : '',
        );
        if (error) throw error;
        return record.result === 'partial' ? ExitCode.partial : ExitCode.ok;
      }),
    );
}
