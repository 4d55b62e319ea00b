// `bolt-agent daemon`: unattended operation (triggers, retention, metrics).
import type { Command } from 'commander';
import { action } from './main.ts';
import { NotImplementedError } from '../backup/errors.ts';

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description('run in the foreground: arm triggers, run backups, apply retention, serve /metrics and /healthz')
    .option('--listen <address>', 'address for /metrics and /healthz', '127.0.0.1:9469')
    .action(
      action(async () => {
        throw new NotImplementedError('daemon (issue #7)');
      }),
    );
}
