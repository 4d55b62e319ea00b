// Chooses how progress is shown for a command: nothing (--no-progress, --quiet, not a TTY and
// not asked for), NDJSON events (--json), or periodic lines on stderr.
import type { ProgressSink, ProgressState } from '../observe/progress.ts';
import { noProgress } from '../observe/progress.ts';
import { formatSize } from '../config/units.ts';
import type { CommandContext } from './context.ts';

const INTERVAL_MS = 1000;

export function progressFor(ctx: CommandContext, operation: string, forced: boolean): ProgressSink {
  if (!ctx.showProgress) return noProgress;
  const tty = process.stderr.isTTY === true;
  if (!tty && !forced && !ctx.output.json) return noProgress;
  let last = 0;
  const started = Date.now();
  const emit = (state: ProgressState, final: boolean): void => {
    const now = Date.now();
    if (!final && now - last < INTERVAL_MS) return;
    last = now;
    if (ctx.output.json) {
      process.stderr.write(`${JSON.stringify({ event: final ? 'done' : 'progress', elapsed_ms: now - started, ...state })}\n`);
      return;
    }
    const rate = state.bytes_done / Math.max(0.001, (now - started) / 1000);
    const files = state.files_total ? `${state.files_done}/${state.files_total}` : `${state.files_done}`;
    process.stderr.write(`[${operation}] ${files} files, ${formatSize(state.bytes_done)}, ${formatSize(rate)}/s${state.current ? `  ${state.current}` : ''}\n`);
  };
  let latest: ProgressState = { operation, files_done: 0, bytes_done: 0 };
  return {
    update(state) {
      latest = state;
      emit(state, false);
    },
    done(state) {
      if (ctx.output.json) emit(state ?? latest, true);
    },
  };
}
