// The daemon's log: one line per event on stdout (debug, info) or stderr (warnings, errors), as
// systemd expects of a foreground service. Human lines carry a timestamp, or under journald
// (JOURNAL_STREAM set) a syslog priority prefix instead, since the journal adds its own time;
// --json writes one JSON object per line with the fields as keys.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

interface Writable {
  write(text: string): unknown;
}

export interface StreamLoggerOptions {
  json: boolean;
  verbose: boolean;
  stdout?: Writable;
  stderr?: Writable;
  /** Write syslog priority prefixes (journald) instead of timestamps. */
  journald?: boolean;
}

const PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

function fieldText(fields: LogFields): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = typeof value === 'string' ? value : Array.isArray(value) && value.every((v) => typeof v !== 'object') ? value.join(',') : JSON.stringify(value);
    parts.push(`${key}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`);
  }
  return parts.join(' ');
}

export class StreamLogger implements Logger {
  private readonly stdout: Writable;
  private readonly stderr: Writable;
  private readonly journald: boolean;

  constructor(private readonly options: StreamLoggerOptions) {
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.journald = options.journald ?? Boolean(process.env['JOURNAL_STREAM']);
  }

  private write(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (level === 'debug' && !this.options.verbose) return;
    const stream = level === 'warn' || level === 'error' ? this.stderr : this.stdout;
    if (this.options.json) {
      stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`);
      return;
    }
    const extra = fieldText(fields);
    const head = this.journald ? `<${PRIORITY[level]}>` : `${new Date().toISOString()} ${level.padEnd(5)} `;
    stream.write(`${head}${message}${extra ? `  ${extra}` : ''}\n`);
  }

  debug(message: string, fields?: LogFields): void {
    this.write('debug', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.write('info', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.write('warn', message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.write('error', message, fields);
  }
}
