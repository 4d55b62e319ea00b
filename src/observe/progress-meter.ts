// Rate and ETA of a running operation, from the states it reports: the rate is measured over
// the last few seconds (a long backup's rate changes between big and small files), the ETA uses
// whichever total the operation knows (bytes, else files).
import type { ProgressState } from './progress.ts';

export interface ProgressReading {
  elapsed_ms: number;
  /** Bytes per second over the recent window. */
  bytes_per_second: number;
  /** Bytes per second since the start (for the final line). */
  average_bytes_per_second: number;
  files_per_second: number;
  /** 0..1 when a total is known. */
  fraction: number | undefined;
  /** Estimated time left, when a total is known and work is moving. */
  eta_ms: number | undefined;
}

interface Sample {
  at: number;
  bytes: number;
  files: number;
}

export class ProgressMeter {
  private readonly samples: Sample[] = [];
  private readonly started: number;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly windowMs = 10_000,
  ) {
    this.started = now();
  }

  read(state: ProgressState): ProgressReading {
    const at = this.now();
    this.samples.push({ at, bytes: state.bytes_done, files: state.files_done });
    while (this.samples.length > 2 && (this.samples[1] as Sample).at <= at - this.windowMs) this.samples.shift();
    const first = this.samples[0] as Sample;
    const span = (at - first.at) / 1000;
    const overall = (at - this.started) / 1000;
    // Until the window holds a second of history, the average since the start is steadier.
    const useWindow = span >= 1;
    const bytesRate = useWindow ? (state.bytes_done - first.bytes) / span : overall > 0 ? state.bytes_done / overall : 0;
    const filesRate = useWindow ? (state.files_done - first.files) / span : overall > 0 ? state.files_done / overall : 0;
    let fraction: number | undefined;
    let eta: number | undefined;
    // A rate from the first fraction of a second (one small file) makes a wild ETA: wait a second.
    const settled = overall >= 1;
    if (state.bytes_total && state.bytes_total > 0) {
      fraction = Math.min(1, state.bytes_done / state.bytes_total);
      if (settled && bytesRate > 0) eta = ((state.bytes_total - state.bytes_done) / bytesRate) * 1000;
    } else if (state.files_total && state.files_total > 0) {
      fraction = Math.min(1, state.files_done / state.files_total);
      if (settled && filesRate > 0) eta = ((state.files_total - state.files_done) / filesRate) * 1000;
    }
    return {
      elapsed_ms: at - this.started,
      bytes_per_second: Math.max(0, bytesRate),
      average_bytes_per_second: overall > 0 ? state.bytes_done / overall : 0,
      files_per_second: Math.max(0, filesRate),
      fraction,
      eta_ms: eta === undefined ? undefined : Math.max(0, eta),
    };
  }
}

/** 75_000 → "1m15s"; 3_700_000 → "1h01m". */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}
