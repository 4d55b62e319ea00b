// What every command gets: global options, the (lazily loaded) configuration and output helpers.
import { loadConfig, type ConfigFlags, type EffectiveConfig } from '../config/load.ts';
import { BackupError } from '../backup/errors.ts';

export interface GlobalOptions {
  config?: string;
  repo?: string;
  passwordFile?: string;
  tool?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  progress?: boolean; // commander's --no-progress sets this to false
}

export interface Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** The command's result: JSON on stdout with --json, else `human()` text. */
  result(value: unknown, human: () => string): void;
  /** A line for humans on stderr (suppressed by --quiet and in --json mode). */
  info(line: string): void;
  /** Warnings always reach stderr (as JSON objects with --json). */
  warn(line: string): void;
  /** Extra detail with --verbose. */
  debug(line: string): void;
}

export class ConsoleOutput implements Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;

  constructor(options: GlobalOptions, private readonly stdout = process.stdout, private readonly stderr = process.stderr) {
    this.json = options.json === true;
    this.quiet = options.quiet === true;
    this.verbose = options.verbose === true;
  }

  result(value: unknown, human: () => string): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      return;
    }
    const text = human();
    if (text) this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  info(line: string): void {
    if (!this.json && !this.quiet) this.stderr.write(`${line}\n`);
  }

  warn(line: string): void {
    if (this.json) this.stderr.write(`${JSON.stringify({ level: 'warning', message: line })}\n`);
    else this.stderr.write(`warning: ${line}\n`);
  }

  debug(line: string): void {
    if (this.verbose && !this.json) this.stderr.write(`${line}\n`);
  }

  error(err: BackupError): void {
    if (this.json) {
      this.stderr.write(`${JSON.stringify(err.toJSON())}\n`);
      return;
    }
    this.stderr.write(`error: ${err.message}\n`);
    if (err.hint) this.stderr.write(`hint: ${err.hint}\n`);
  }
}

export class CommandContext {
  private effective: EffectiveConfig | undefined;
  readonly output: ConsoleOutput;

  constructor(readonly options: GlobalOptions) {
    this.output = new ConsoleOutput(options);
    setJsonNotices(this.output.json);
  }

  get configFlags(): ConfigFlags {
    const { config, repo, passwordFile, tool } = this.options;
    return {
      ...(config === undefined ? {} : { config }),
      ...(repo === undefined ? {} : { repo }),
      ...(passwordFile === undefined ? {} : { passwordFile }),
      ...(tool === undefined ? {} : { tool }),
    };
  }

  /** Loads the configuration once; InvalidConfigError (exit 2) propagates. */
  config(options: { checkFiles?: boolean } = {}): EffectiveConfig {
    if (!this.effective) {
      this.effective = loadConfig({ flags: this.configFlags, ...options });
      for (const note of this.effective.notes) this.output.debug(note);
    }
    return this.effective;
  }

  get showProgress(): boolean {
    return this.options.progress !== false && !this.options.quiet;
  }
}

let interruptController: AbortController | undefined;

/**
 * An AbortSignal that fires on the first SIGINT/SIGTERM, so operations stop at a safe point,
 * release their locks and leave the repository consistent; a second signal exits at once.
 */
let jsonOutput = false;

/** Makes interruptSignal()'s notice a JSON line (set by --json). */
export function setJsonNotices(json: boolean): void {
  jsonOutput = json;
}

export function interruptSignal(): AbortSignal {
  if (!interruptController) {
    const controller = new AbortController();
    interruptController = controller;
    let count = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      count += 1;
      if (count > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
      const notice = `${signal}: stopping at the next safe point (send again to exit immediately)`;
      process.stderr.write(jsonOutput ? `${JSON.stringify({ level: 'warning', message: notice })}\n` : `\n${notice}\n`);
      controller.abort(new BackupError('Interrupted', `interrupted by ${signal}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  return interruptController.signal;
}
