// How a command shows the progress of a long operation: nothing (--no-progress, --quiet), NDJSON
// events on stderr (--json), a bar with bytes, files, rate and ETA on a terminal (cli-progress),
// or plain lines every few seconds when stderr is a pipe or a log (every second with --progress).
import cliProgress from 'cli-progress';
import type { ProgressSink, ProgressState } from '../observe/progress.ts';
import { noProgress } from '../observe/progress.ts';
import { formatDuration, ProgressMeter, type ProgressReading } from '../observe/progress-meter.ts';
import { formatSize } from '../config/units.ts';
import type { CommandContext } from './context.ts';

const JSON_INTERVAL_MS = 1000;
const LINE_INTERVAL_MS = 10_000;
const FORCED_LINE_INTERVAL_MS = 1000;

function counts(state: ProgressState, reading: ProgressReading, final: boolean): string {
  const files = state.files_total ? `${state.files_done}/${state.files_total}` : `${state.files_done}`;
  const bytes = state.bytes_total ? `${formatSize(state.bytes_done)}/${formatSize(state.bytes_total)}` : formatSize(state.bytes_done);
  return `${bytes}  ${files} ${state.operation === 'check' || state.operation === 'prune' || state.operation === 'copy' ? 'objects' : 'files'}  ${formatSize(final ? reading.average_bytes_per_second : reading.bytes_per_second)}/s`;
}

function timeText(reading: ProgressReading, final: boolean): string {
  if (final) return `in ${formatDuration(reading.elapsed_ms)}`;
  // At 100% an operation may still wait (uploads, the index): the elapsed time shows it is alive.
  return reading.eta_ms !== undefined && (reading.fraction ?? 0) < 1 ? `ETA ${formatDuration(reading.eta_ms)}` : `${formatDuration(reading.elapsed_ms)} elapsed`;
}

/** One plain line: "[backup] 12.0 MiB  340 files  4.0 MiB/s  ETA 1m05s  /srv/www/index.html". */
function progressLine(state: ProgressState, reading: ProgressReading, final = false): string {
  const phase = state.phase ? ` ${state.phase}` : '';
  const percent = reading.fraction !== undefined ? `${Math.floor(reading.fraction * 100)}%  ` : '';
  return `[${state.operation}${phase}] ${percent}${counts(state, reading, final)}  ${timeText(reading, final)}${state.current && !final ? `  ${state.current}` : ''}`;
}

/** Keeps the end of a path that does not fit: "…/deep/dir/file". */
function fit(text: string, width: number): string {
  if (width <= 1) return '';
  return text.length <= width ? text : `…${text.slice(text.length - width + 1)}`;
}

const BAR_WIDTH = 24;

function barLine(state: ProgressState, reading: ProgressReading, final: boolean, columns: number): string {
  const phase = state.phase ? ` ${state.phase}` : '';
  let head = `${state.operation}${phase} `;
  if (reading.fraction !== undefined) {
    const full = Math.round(reading.fraction * BAR_WIDTH);
    head += `[${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)}] ${String(Math.floor(reading.fraction * 100)).padStart(3)}% `;
  }
  const line = `${head} ${counts(state, reading, final)}  ${timeText(reading, final)}`;
  const room = columns - 1 - line.length - 2;
  return state.current && !final && room > 8 ? `${line}  ${fit(state.current, room)}` : line.slice(0, columns - 1);
}

type Write = (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;

/**
 * The terminal bar. While it is shown, other writes to stderr (warnings, the interrupt notice)
 * are put above it instead of through it; the command's error ends it; it is stopped on exit
 * whatever happens, so the cursor and line wrapping always come back.
 */
class TerminalBar implements ProgressSink {
  private bar: cliProgress.SingleBar | undefined;
  private readonly meter = new ProgressMeter();
  private latest: ProgressState;
  private complete = false;
  private restoreWrite: (() => void) | undefined;
  private readonly onExit = (): void => this.stop();

  constructor(
    operation: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.latest = { operation, files_done: 0, bytes_done: 0 };
  }

  update(state: ProgressState): void {
    this.latest = state;
    if (!this.bar) this.start();
    this.bar?.update(Math.round((this.reading().fraction ?? 0) * 1000));
  }

  done(state?: ProgressState): void {
    if (state) this.update(state);
    this.complete = true;
    this.stop();
  }

  /** Measured at every redraw, so elapsed time and rate move while the operation waits (uploads). */
  private reading(): ProgressReading {
    const reading = this.meter.read(this.latest);
    return this.complete && reading.fraction !== undefined ? { ...reading, fraction: 1 } : reading;
  }

  private start(): void {
    const stream = this.stream;
    const original = stream.write.bind(stream) as Write;
    const own = Object.getOwnPropertyDescriptor(stream, 'write');
    this.restoreWrite = () => {
      if (own) Object.defineProperty(stream, 'write', own);
      else delete (stream as { write?: unknown }).write;
    };
    const direct = { isTTY: true, get columns() { return stream.columns; }, write: original };
    let final = false;
    const bar = new cliProgress.SingleBar({
      stream: direct as unknown as NodeJS.WriteStream,
      hideCursor: true,
      linewrap: false,
      fps: 5,
      format: (_options, params) => barLine(this.latest, this.reading(), final, params.maxWidth),
    });
    // cli-progress redraws from a timer that would keep a failed command's process alive.
    const render = bar.render.bind(bar);
    bar.render = () => {
      render();
      (bar as unknown as { timer?: NodeJS.Timeout | null }).timer?.unref();
    };
    const finish = bar.stop.bind(bar);
    bar.stop = () => {
      final = true;
      finish();
    };
    this.bar = bar;
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      // The command's error ends it: the bar stays where the operation stopped, the error below.
      if (text.startsWith('error: ')) {
        this.stop();
        return original(chunk, ...rest);
      }
      original('\r\x1b[2K');
      const result = original(chunk, ...rest);
      if (!text.endsWith('\n')) original('\n');
      // The bar restores the cursor position it saved when it started: save the new line instead.
      original('\x1b7');
      bar.render();
      return result;
    }) as typeof stream.write;
    process.once('exit', this.onExit);
    bar.start(1000, 0);
  }

  private stop(): void {
    const bar = this.bar;
    if (!bar) return;
    this.bar = undefined;
    process.removeListener('exit', this.onExit);
    this.restoreWrite?.();
    bar.stop();
  }
}

/**
 * Plain lines (not a terminal) or NDJSON events (--json) on stderr, from a timer: an operation
 * that waits (a throttled upload) still reports that it is alive.
 */
class LineProgress implements ProgressSink {
  private readonly meter = new ProgressMeter();
  private latest: ProgressState;
  private timer: NodeJS.Timeout | undefined;
  private printed = false;
  private finished = false;

  constructor(
    operation: string,
    private readonly json: boolean,
    private readonly intervalMs: number,
  ) {
    this.latest = { operation, files_done: 0, bytes_done: 0 };
  }

  update(state: ProgressState): void {
    this.latest = state;
    if (this.timer || this.finished) return;
    // NDJSON consumers get an event at once; plain lines start after one interval, so a short
    // operation prints nothing.
    if (this.json) this.emit(false);
    this.timer = setInterval(() => this.emit(false), this.intervalMs);
    this.timer.unref();
  }

  done(state?: ProgressState): void {
    if (state) this.latest = state;
    this.finished = true;
    clearInterval(this.timer);
    if (this.json || this.printed) this.emit(true);
  }

  private emit(final: boolean): void {
    const state = this.latest;
    const reading = this.meter.read(state);
    this.printed = true;
    if (this.json) {
      process.stderr.write(
        `${JSON.stringify({
          event: final ? 'done' : 'progress',
          elapsed_ms: reading.elapsed_ms,
          ...state,
          bytes_per_second: Math.round(final ? reading.average_bytes_per_second : reading.bytes_per_second),
          ...(reading.eta_ms !== undefined && !final ? { eta_ms: Math.round(reading.eta_ms) } : {}),
        })}\n`,
      );
      return;
    }
    process.stderr.write(`${progressLine(state, reading, final)}\n`);
  }
}

/**
 * The progress sink for one operation of a command. `forced` (--progress) asks for a line every
 * second when stderr is not a terminal.
 */
export function progressFor(ctx: CommandContext, operation: string, forced: boolean): ProgressSink {
  if (!ctx.showProgress) return noProgress;
  if (ctx.output.json) return new LineProgress(operation, true, JSON_INTERVAL_MS);
  if (process.stderr.isTTY === true) return new TerminalBar(operation);
  return new LineProgress(operation, false, forced ? FORCED_LINE_INTERVAL_MS : LINE_INTERVAL_MS);
}
