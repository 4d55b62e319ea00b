import { describe, expect, it } from 'vitest';
import { formatSize, parseDuration, parseRate, parseSize } from '../../src/config/units.ts';

describe('sizes, rates and durations', () => {
  it('parses binary and decimal sizes', () => {
    expect(parseSize('4MiB')).toBe(4 * 1024 * 1024);
    expect(parseSize('64MB')).toBe(64_000_000);
    expect(parseSize('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('512')).toBe(512);
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize('4 mebibytes')).toBeUndefined();
    expect(parseSize('-1MB')).toBeUndefined();
    expect(parseSize(-5)).toBeUndefined();
  });
  it('parses rates only with a /s suffix', () => {
    expect(parseRate('10MiB/s')).toBe(10 * 1024 * 1024);
    expect(parseRate('500KB/s')).toBe(500_000);
    expect(parseRate('10MiB')).toBeUndefined();
    expect(parseRate('0MB/s')).toBeUndefined();
  });
  it('parses durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration(2)).toBe(2000);
    expect(parseDuration('soon')).toBeUndefined();
  });
  it('formats sizes for humans', () => {
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(1536)).toBe('1.50 KiB');
    expect(formatSize(5 * 1024 ** 3)).toBe('5.00 GiB');
    expect(formatSize(21.428571428571427)).toBe('21 B'); // a rate
  });
});
