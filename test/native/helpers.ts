// Shared helpers of the native-core suites: the core under test (loaded directly, so a missing
// or broken addon fails these suites instead of falling back) and the fixture input generators.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNativeCore } from '../../src/native/native-core.ts';
import type { Core } from '../../src/native/types.ts';

export const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));

let core: Promise<Core> | undefined;

/** The native core; throws (failing the suite) when the addon cannot be loaded. */
export function nativeCore(): Promise<Core> {
  core ??= createNativeCore();
  return core;
}

/** SHA-256(seed || u64le(i)) for i = 0, 1, ... truncated to n bytes (both fixture sets). */
export function sha256ctr(seed: string, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  const prefix = Buffer.from(seed, 'utf8');
  const counter = Buffer.alloc(8);
  for (let i = 0, pos = 0; pos < n; i++, pos += 32) {
    counter.writeBigUInt64LE(BigInt(i));
    const block = createHash('sha256').update(prefix).update(counter).digest();
    block.copy(out, pos, 0, Math.min(32, n - pos));
  }
  return out;
}

/** restic vector generator: xorshift32 low nibbles. */
export function xorshift32Nibbles(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0x0f;
  }
  return out;
}

/** ghostsnap vector generator "text": the random stream mapped onto "abcd \n". */
export function textStream(seed: string, n: number): Buffer {
  const alphabet = Buffer.from('abcd \n');
  const r = sha256ctr(seed, n);
  for (let i = 0; i < n; i++) r[i] = alphabet[(r[i] ?? 0) % 6] ?? 0;
  return r;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

export function fromHex(s: string): Buffer {
  return Buffer.from(s, 'hex');
}

/** A fresh temporary directory and its remover. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `bolt-native-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
