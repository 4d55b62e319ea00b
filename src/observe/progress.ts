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
  update(state: ProgressState): void;
  /** The operation ended (successfully or not). */
  done(state?: ProgressState): void;
}

export const noProgress: ProgressSink = {
  update() {},
  done() {},
};

/** Whether anybody watches `sink`: only then is a walk for totals (an ETA) worth its I/O. */
export function watched(sink: ProgressSink | undefined): boolean {
  return sink !== undefined && sink !== noProgress;
}

/** The last state of an operation that ran to the end: everything there was is done. */
export function completed(operation: string, files: number, bytes: number): ProgressState {
  return { operation, files_done: files, files_total: files, bytes_done: bytes, bytes_total: bytes };
}
