// Rate, fraction and ETA from reported states, on a controlled clock.
import { describe, expect, it } from 'vitest';
import { ProgressMeter } from '../../src/observe/progress-meter.ts';

function meterAt(times: number[]): ProgressMeter {
  let i = 0;
  return new ProgressMeter(() => times[Math.min(i++, times.length - 1)] as number);
}

describe('ProgressMeter', () => {
  it('gives no ETA during the first second, then the bytes left over the recent rate', () => {
    // The meter starts at 0; reads at 200 ms and 4.2 s.
    const meter = meterAt([0, 200, 4200]);
    const early = meter.read({ operation: 'backup', files_done: 1, bytes_done: 6, files_total: 2, bytes_total: 1000 });
    expect(early.fraction).toBeCloseTo(0.006);
    expect(early.eta_ms).toBeUndefined();
    const later = meter.read({ operation: 'backup', files_done: 1, bytes_done: 606, files_total: 2, bytes_total: 1000 });
    expect(later.bytes_per_second).toBeCloseTo(150); // 600 bytes over the 4 s since the first sample
    expect(later.eta_ms).toBeCloseTo((394 / 150) * 1000);
    expect(later.fraction).toBeCloseTo(0.606);
  });

  it('uses the file counts when no byte total is known, and stops at 100%', () => {
    const meter = meterAt([0, 1000, 3000]);
    meter.read({ operation: 'check', files_done: 0, files_total: 10, bytes_done: 0 });
    const half = meter.read({ operation: 'check', files_done: 5, files_total: 10, bytes_done: 0 });
    expect(half.fraction).toBe(0.5);
    expect(half.eta_ms).toBeCloseTo(2000); // 5 files over 2 s, 5 left
    const over = meter.read({ operation: 'check', files_done: 12, files_total: 10, bytes_done: 0 });
    expect(over.fraction).toBe(1);
    expect(over.eta_ms).toBe(0);
  });

  it('has neither fraction nor ETA without totals', () => {
    const meter = meterAt([0, 5000]);
    const r = meter.read({ operation: 'backup', files_done: 3, bytes_done: 300 });
    expect(r.fraction).toBeUndefined();
    expect(r.eta_ms).toBeUndefined();
  });
});
