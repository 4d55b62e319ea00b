// Password-based key derivation (hash-wasm): scrypt for restic key files, Argon2id for ghostsnap.
import type { Buffer } from 'node:buffer';
import { argon2id as wasmArgon2id, scrypt as wasmScrypt } from 'hash-wasm';
import { CoreError } from '../errors.ts';
import { asBuffer, requireBytes, requireInteger } from './bytes.ts';

export async function scrypt(
  password: Uint8Array,
  salt: Uint8Array,
  N: number,
  r: number,
  p: number,
  length: number,
): Promise<Buffer> {
  requireBytes(password, 'password');
  requireBytes(salt, 'salt');
  requireInteger(N, 'scrypt N', 2, 2 ** 30);
  if ((N & (N - 1)) !== 0) throw new CoreError('EINVAL', `scrypt N must be a power of two, got ${N}`);
  requireInteger(r, 'scrypt r', 1, 1024);
  requireInteger(p, 'scrypt p', 1, 1024);
  requireInteger(length, 'scrypt length', 1, 1024);
  const out = await wasmScrypt({
    password,
    salt,
    costFactor: N,
    blockSize: r,
    parallelism: p,
    hashLength: length,
    outputType: 'binary',
  });
  return asBuffer(out);
}

export async function argon2id(
  password: Uint8Array,
  salt: Uint8Array,
  params: { iterations: number; memoryKiB: number; parallelism: number; length: number },
): Promise<Buffer> {
  requireBytes(password, 'password');
  requireBytes(salt, 'salt');
  if (salt.byteLength < 8) throw new CoreError('EINVAL', `argon2id salt must be at least 8 bytes, got ${salt.byteLength}`);
  // hash-wasm refuses an empty password although Argon2 defines it; the native core handles it.
  if (password.byteLength === 0) throw new CoreError('EUNSUPPORTED', 'argon2id with an empty password is not available in the portable core');
  const parallelism = requireInteger(params?.parallelism, 'argon2id parallelism', 1, 255);
  const iterations = requireInteger(params.iterations, 'argon2id iterations', 1, 2 ** 32 - 1);
  const memorySize = requireInteger(params.memoryKiB, 'argon2id memoryKiB', 8 * parallelism, 4 * 1024 * 1024);
  const hashLength = requireInteger(params.length, 'argon2id length', 4, 1024);
  const out = await wasmArgon2id({ password, salt, iterations, parallelism, memorySize, hashLength, outputType: 'binary' });
  return asBuffer(out);
}
