// Byte helpers shared by the portable core. Results cross the Core boundary as Node Buffers.
import { Buffer } from 'node:buffer';
import { CoreError } from '../errors.ts';

/** Views `u8` as a Buffer without copying. */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** A Buffer that owns a copy of `u8` (callers must not see views into reused scratch memory). */
export function copyBuffer(u8: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(u8.byteLength);
  out.set(u8);
  return out;
}

export function requireBytes(value: unknown, name: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new CoreError('EINVAL', `${name} must be a Uint8Array`);
  if (length !== undefined && value.byteLength !== length) {
    throw new CoreError('EINVAL', `${name} must be ${length} bytes, got ${value.byteLength}`);
  }
  return value;
}

export function requireInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CoreError('EINVAL', `${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

/** Compares without an early exit, so the time taken does not reveal where a tag differs. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** A path as text for error subjects: Buffers (raw names) are decoded as UTF-8, invalid bytes replaced. */
export function pathText(path: string | Buffer): string {
  return typeof path === 'string' ? path : path.toString('utf8');
}
