// Progress of long operations. Operations report state; the CLI decides how to show it (a bar
// on a TTY, periodic lines otherwise, NDJSON events with --json, nothing with --no-progress).

export interface ProgressState {
  /** What is running: "backup", "restore", "check", "prune", "copy", … */
  operation: string;
  /** A sub-step, e.g. "scanning", "uploading", "reading packs". */
  phase?: string;
  files_done: number;
  files_total?: number;
  bytes_done: number;
  bytes_total?: number;
  /** The item being worked on (a path or object). */
  current?: string;
}

export interface ProgressSink {
  /**
   * False when the sink never shows totals or an ETA (the daemon's log lines): then no second
   * walk of the backup's paths is made to learn them.
   */
  readonly wantsTotals?: boolean;
  update(state: ProgressState): void;
  /** The operation ended (successfully or not). */
  done(state?: ProgressState): void;
}

export const noProgress: ProgressSink = {
  update() {},
  done() {},
};

/** Whether somebody watches `sink` for totals (an ETA): only then is a walk to learn them worth its I/O. */
export function wantsTotals(sink: ProgressSink | undefined): boolean {
  return sink !== undefined && sink !== noProgress && sink.wantsTotals !== false;
}

/** The last state of an operation that ran to the end: everything there was is done. */
export function completed(operation: string, files: number, bytes: number): ProgressState {
  return { operation, files_done: files, files_total: files, bytes_done: bytes, bytes_total: bytes };
}
