// Content hashes. SHA-256 comes from node:crypto (present in Node, Bun and Deno, and several
// times faster than a WASM build because it uses the CPU's SHA extensions); BLAKE3 from hash-wasm.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createBLAKE3, type IHasher } from 'hash-wasm';
import { CoreError } from '../errors.ts';
import type { HashAlgorithm } from '../types.ts';

export type HashFn = (data: Uint8Array | Uint8Array[]) => Buffer;

export interface Hashers {
  get(algo: HashAlgorithm): HashFn;
}

function parts(data: Uint8Array | Uint8Array[]): Uint8Array[] {
  if (data instanceof Uint8Array) return [data];
  if (Array.isArray(data) && data.every((d) => d instanceof Uint8Array)) return data;
  throw new CoreError('EINVAL', 'hash input must be a Uint8Array or an array of them');
}

function sha256(data: Uint8Array | Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts(data)) h.update(p);
  return h.digest();
}

export async function createHashers(): Promise<Hashers> {
  // One WASM instance; every use runs init → update → digest synchronously, so calls never interleave.
  const blake3State: IHasher = await createBLAKE3(256);
  const blake3: HashFn = (data) => {
    blake3State.init();
    for (const p of parts(data)) blake3State.update(p);
    const d = blake3State.digest('binary');
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  };
  return {
    get(algo) {
      if (algo === 'sha256') return sha256;
      if (algo === 'blake3') return blake3;
      throw new CoreError('EINVAL', `unknown hash algorithm ${JSON.stringify(algo)}`);
    },
  };
}
