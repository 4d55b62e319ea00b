// Totals (an ETA) cost a second walk of the backup's paths: only sinks that show them get it.
import { describe, expect, it } from 'vitest';
import { noProgress, wantsTotals, type ProgressSink } from '../../src/observe/progress.ts';

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
