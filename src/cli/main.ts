// bolt-agent's command line: a thin layer over src/backup (the library). Every command keeps the
// conventions of docs/CLI.md: --json output with snake_case names, exit codes from ExitCode.
import { Command, CommanderError, Option } from 'commander';
import { asBackupError, ExitCode } from '../backup/errors.ts';
import { CommandContext, ConsoleOutput, type GlobalOptions } from './context.ts';
import { registerBackupCommands } from './backup.ts';
import { registerSnapshotBackupCommands } from './snapshot-backup.ts';
import { registerDaemonCommand } from './daemon.ts';
import { registerHookCommands } from './hook.ts';
import { versionLine } from './version.ts';

/** A command action: gets the context and its own arguments/options; returns an exit code. */
export type Action<A extends unknown[]> = (ctx: CommandContext, ...args: A) => Promise<number | void>;

/** Wraps an action so commander passes global options through a CommandContext. */
export function action<A extends unknown[]>(fn: Action<A>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const ctx = new CommandContext(command.optsWithGlobals<GlobalOptions>());
    const code = await fn(ctx, ...(args.slice(0, -1) as A));
    process.exitCode = code ?? ExitCode.ok;
  };
}

export function buildProgram(): Command {
  const program = new Command('bolt-agent')
    .description('Backup agent of the Bolt container runtime: consistent, deduplicated, encrypted backups into restic and ghostsnap repositories')
    .option('--config <file>', 'configuration file (Boltfile.toml with [backups], or YAML)')
    .option('--repo <repository>', 'repository (overrides the configuration)')
    .option('--password-file <file>', 'file holding the repository password')
    .addOption(new Option('--tool <tool>', 'repository format').choices(['restic', 'ghostsnap']))
    .option('--json', 'machine-readable output (snake_case fields)')
    .option('-q, --quiet', 'print only results and errors')
    .option('--verbose', 'print more detail')
    .option('--no-progress', 'no progress output')
    .version('', '-V, --version', 'print the version, the formats built in and the compute core')
    .showHelpAfterError()
    .exitOverride();
  program.configureOutput({ outputError: (text, write) => write(text) });
  registerBackupCommands(program);
  registerSnapshotBackupCommands(program);
  registerDaemonCommand(program);
  registerHookCommands(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.includes('-V') || argv.includes('--version')) {
    const json = argv.includes('--json');
    const line = await versionLine();
    process.stdout.write(json ? `${JSON.stringify(line.json)}\n` : `${line.text}\n`);
    return ExitCode.ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return ExitCode.ok;
      return ExitCode.usage;
    }
    const error = asBackupError(err);
    const options = program.opts<GlobalOptions>();
    new ConsoleOutput(options).error(error);
    if (options.verbose && error.cause instanceof Error && error.cause.stack) process.stderr.write(`${error.cause.stack}\n`);
    return error.exitCode;
  }
}
