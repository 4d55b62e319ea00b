// zstd and zlib codecs, cross-checked with the zstd command-line tool and node:zlib.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../../src/native/errors.ts';
import { fromHex, hex, nativeCore, tempDir, textStream } from './helpers.ts';

function zstdCli(args: string[], input: Buffer): Buffer {
  return execFileSync('zstd', [...args, '-c'], { input, maxBuffer: 1 << 28 });
}

function zstdWindow(frame: Buffer): number {
  const tmp = tempDir('zstd-list');
  try {
    const file = join(tmp.dir, 'frame.zst');
    writeFileSync(file, frame);
    const info = execFileSync('zstd', ['-lv', file]).toString();
    const m = /Window Size: ([\d.]+) (KiB|MiB)/.exec(info);
    if (m === null) throw new Error(`no window size in: ${info}`);
    return Number(m[1]) * (m[2] === 'MiB' ? 1 << 20 : 1 << 10);
  } finally {
    tmp.remove();
  }
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CoreError);
    return (err as CoreError).code;
  }
  return undefined;
}

const text = textStream('compression', 1 << 20);

describe('zstd', () => {
  it('compresses at levels 1..22 into frames the zstd tool decodes', async () => {
    const core = await nativeCore();
    for (const level of [1, 3, 9, 19, 22]) {
      const frame = core.compress({ kind: 'zstd', level }, text);
      expect(frame.length).toBeLessThan(text.length);
      expect(hex(zstdCli(['-d'], frame))).toBe(hex(text));
      expect(hex(core.decompress('zstd', frame, text.length))).toBe(hex(text));
      expect(hex(await core.decompressAsync('zstd', frame, -1))).toBe(hex(text));
    }
  });

  it('keeps the window within 8 MiB at the top levels', async () => {
    const core = await nativeCore();
    // level 20 would pick a 16 MiB window for this input on its own
    const big = Buffer.alloc(9 << 20, textStream('window', 1 << 16));
    const frame = core.compress({ kind: 'zstd', level: 20 }, big);
    expect(zstdWindow(frame)).toBeLessThanOrEqual(8 << 20);
    expect(hex(core.decompress('zstd', frame, big.length))).toBe(hex(big));
  });

  it('decodes frames without a content size, exact length or streaming', async () => {
    const core = await nativeCore();
    // The frame restic 0.14 wrote for a 29-byte blob (formats/restic.md §4.3): no content size.
    const plain = Buffer.from('hello restic, second version\n');
    const frame = Buffer.concat([fromHex('28b52ffd0000e90000'), plain]);
    expect(core.decompress('zstd', frame, 29).toString()).toBe(plain.toString());
    expect(core.decompress('zstd', frame, -1).toString()).toBe(plain.toString());
    // a streamed frame of the zstd tool also lacks the size
    const streamed = execFileSync('sh', ['-c', 'cat | zstd -1 --no-content-size -c'], { input: text, maxBuffer: 1 << 28 });
    expect(zstdWindow(streamed)).toBeGreaterThan(0);
    expect(hex(core.decompress('zstd', streamed, text.length))).toBe(hex(text));
    expect(hex(await core.decompressAsync('zstd', streamed, -1, text.length))).toBe(hex(text));
  });

  it('fails with ECORRUPT on a wrong length, garbage, or past maxLength', async () => {
    const core = await nativeCore();
    const frame = core.compress({ kind: 'zstd', level: 3 }, text);
    expect(codeOf(() => core.decompress('zstd', frame, text.length - 1))).toBe('ECORRUPT');
    expect(codeOf(() => core.decompress('zstd', frame, text.length + 1))).toBe('ECORRUPT');
    expect(codeOf(() => core.decompress('zstd', frame, -1, text.length - 1))).toBe('ECORRUPT');
    const broken = Buffer.from(frame);
    broken.fill(0xa5, 20, 60);
    expect(codeOf(() => core.decompress('zstd', broken, text.length))).toBe('ECORRUPT');
    expect(codeOf(() => core.decompress('zstd', randomBytes(100), -1))).toBe('ECORRUPT');
    expect(codeOf(() => core.decompress('zstd', frame.subarray(0, frame.length - 5), -1))).toBe('ECORRUPT');
    await expect(core.decompressAsync('zstd', broken, text.length)).rejects.toMatchObject({ code: 'ECORRUPT' });
  });

  it('rejects levels outside 1..22 with EINVAL', async () => {
    const core = await nativeCore();
    expect(codeOf(() => core.compress({ kind: 'zstd', level: 0 }, text))).toBe('EINVAL');
    expect(codeOf(() => core.compress({ kind: 'zstd', level: 23 }, text))).toBe('EINVAL');
  });
});

describe('zlib', () => {
  it('round-trips with node:zlib at levels 0..9', async () => {
    const core = await nativeCore();
    for (let level = 0; level <= 9; level++) {
      const z = await core.compressAsync({ kind: 'zlib', level }, text);
      expect(hex(inflateSync(z))).toBe(hex(text));
      expect(hex(core.decompress('zlib', z, text.length))).toBe(hex(text));
    }
    const fromNode = deflateSync(text, { level: 6 });
    expect(hex(core.decompress('zlib', fromNode, -1))).toBe(hex(text));
    expect(core.decompress('zlib', deflateSync(Buffer.alloc(0)), 0).length).toBe(0);
  });

  it('fails with ECORRUPT on a wrong length, truncation or garbage', async () => {
    const core = await nativeCore();
    const z = deflateSync(text);
    expect(codeOf(() => core.decompress('zlib', z, text.length - 1))).toBe('ECORRUPT');
    expect(codeOf(() => core.decompress('zlib', z, text.length + 1))).toBe('ECORRUPT');
    expect(codeOf(() => core.decompress('zlib', z.subarray(0, z.length >> 1), -1))).toBe('ECORRUPT');
    expect(codeOf(() => core.decompress('zlib', randomBytes(64), -1))).toBe('ECORRUPT');
    expect(codeOf(() => core.decompress('zlib', z, -1, 1000))).toBe('ECORRUPT');
  });
});
