// `bolt-agent hook …`: entry points Bolt itself calls (surge up).
import type { Command } from 'commander';
import { action } from './main.ts';
import { NotImplementedError } from '../backup/errors.ts';

export function registerHookCommands(program: Command): void {
  const hook = program.command('hook').description('entry points called by Bolt');
  hook
    .command('before-surge')
    .description('back up the volumes of these services before `bolt surge up` (when triggers.before_surge_operations is true)')
    .argument('[service...]', 'services about to change (default: all)')
    .action(
      action(async () => {
        throw new NotImplementedError('hook before-surge (issue #6)');
      }),
    );
}
