// Totals (an ETA) cost a second walk of the backup's paths: only sinks that show them get it; and
// a walk with no sink to show its progress reports nothing.
import { describe, expect, it } from 'vitest';
import { noProgress, wantsTotals, type ProgressSink } from '../../src/observe/progress.ts';
import { archiveProgress } from '../../src/engine/archive-progress.ts';

const sink = (extra: Partial<ProgressSink> = {}): ProgressSink => ({ update() {}, done() {}, ...extra });

describe('wantsTotals', () => {
  it('is true for a sink that shows progress, false without one', () => {
    expect(wantsTotals(sink())).toBe(true);
    expect(wantsTotals(sink({ wantsTotals: true }))).toBe(true);
    expect(wantsTotals(undefined)).toBe(false);
    expect(wantsTotals(noProgress)).toBe(false);
  });

  it('is false for a sink that declares it never shows totals (the daemon log)', () => {
    expect(wantsTotals(sink({ wantsTotals: false }))).toBe(false);
  });
});

describe('archiveProgress', () => {
  const counters = { filesNew: 2, filesChanged: 1, filesUnmodified: 4, dirs: 1, bytesProcessed: 900, entries: 8 };

  it('reports the walk to a sink that shows progress, totals once known', () => {
    const seen: unknown[] = [];
    const { onProgress } = archiveProgress(sink({ update: (s) => seen.push(s) }));
    onProgress?.(counters, '/data/a', undefined);
    onProgress?.(counters, '/data/b', { files: 10, bytes: 2000 });
    expect(seen).toEqual([
      { operation: 'backup', files_done: 7, bytes_done: 900, current: '/data/a' },
      { operation: 'backup', files_done: 7, bytes_done: 900, files_total: 10, bytes_total: 2000, current: '/data/b' },
    ]);
  });

  it('gives the walk nothing to call without a sink or with --no-progress', () => {
    expect(archiveProgress(undefined)).toEqual({});
    expect(archiveProgress(noProgress)).toEqual({});
  });
});
