// Key files and key derivation (formats/ghostsnap.md §3): KEK = Argon2id(password, salt, t, m, p)
// with a 32-byte output; the 32-byte data key is sealed with it (nonce || ciphertext || tag,
// 60 bytes). Parameters read from a repository are bounded before anything is allocated: a key
// file asking for a terabyte of memory is refused, not obeyed.
import os from 'node:os';
import type { Core } from '../../native/types.ts';
import { CoreError } from '../../native/errors.ts';
import { CorruptDataError } from '../../backup/errors.ts';

export const DATA_KEY_LENGTH = 32;
const SEALED_KEY_LENGTH = 12 + DATA_KEY_LENGTH + 16;

export interface KdfParams {
  algorithm: string;
  iterations: number;
  /** KiB. */
  memory: number;
  parallelism: number;
  salt: number[];
}

export interface KeyFile {
  encryptedKey: Buffer;
  kdf: KdfParams;
}

/** ghostsnap's defaults (core/src/types.rs): 64 MiB, one pass, four lanes, a 32-byte salt. */
export function defaultKdfParams(core: Core): KdfParams {
  return { algorithm: 'argon2id', iterations: 1, memory: 65536, parallelism: 4, salt: [...core.randomBytes(32)] };
}

const MAX_ITERATIONS = 64;
const MAX_PARALLELISM = 64;
const MAX_MEMORY_KIB = 4 * 1024 * 1024;

/** The most memory a key derivation may take here: half the machine's memory, at most 4 GiB. */
export function memoryLimitKiB(): number {
  return Math.min(MAX_MEMORY_KIB, Math.floor(os.totalmem() / 2 / 1024));
}

function describeKiB(kib: number): string {
  if (kib >= 1024 * 1024 * 1024) return `${(kib / (1024 * 1024 * 1024)).toFixed(kib % (1024 * 1024 * 1024) ? 1 : 0)} TiB`;
  if (kib >= 1024 * 1024) return `${(kib / (1024 * 1024)).toFixed(kib % (1024 * 1024) ? 1 : 0)} GiB`;
  return `${Math.round(kib / 1024)} MiB`;
}

/** Why `value` is not a usable kdf_params object, or undefined when it is. */
export function kdfProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'kdf_params is missing';
  const p = value as Record<string, unknown>;
  const int = (k: string) => typeof p[k] === 'number' && Number.isSafeInteger(p[k]);
  if (typeof p['algorithm'] !== 'string' || p['algorithm'].toLowerCase() !== 'argon2id') {
    return `kdf_params.algorithm is ${JSON.stringify(p['algorithm'])}; ghostsnap repositories use argon2id`;
  }
  if (!int('iterations') || !int('memory') || !int('parallelism')) return 'kdf_params.iterations, memory and parallelism must be whole numbers';
  const t = p['iterations'] as number;
  const m = p['memory'] as number;
  const lanes = p['parallelism'] as number;
  if (lanes < 1 || lanes > MAX_PARALLELISM) return `kdf_params.parallelism ${lanes} is outside 1..${MAX_PARALLELISM}`;
  if (t < 1 || t > MAX_ITERATIONS) return `kdf_params.iterations ${t} is outside 1..${MAX_ITERATIONS}`;
  const limit = memoryLimitKiB();
  if (m > limit) return `kdf_params.memory asks Argon2id for ${describeKiB(m)} (${m} KiB); bolt-agent allows at most ${describeKiB(limit)} here (half the machine's memory, at most 4 GiB)`;
  if (m < 8 * lanes) return `kdf_params.memory ${m} KiB is below Argon2's minimum of 8 KiB per lane`;
  const salt = p['salt'];
  if (!Array.isArray(salt) || !salt.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return 'kdf_params.salt must be an array of byte values';
  if (salt.length < 8 || salt.length > 48) return `kdf_params.salt has ${salt.length} bytes; ghostsnap needs 8 to 48`;
  return undefined;
}

export function encodeKdfParams(p: KdfParams): Record<string, unknown> {
  return { algorithm: p.algorithm, iterations: p.iterations, memory: p.memory, parallelism: p.parallelism, salt: p.salt };
}

/** Parses a key file; throws CorruptDataError naming the file when it is not usable. */
export function parseKeyFile(bytes: Buffer, name: string): KeyFile {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new CorruptDataError(`key file ${name} is not JSON`);
  }
  const o = json as Record<string, unknown>;
  const problem = kdfProblem(o?.['kdf_params']);
  if (problem) throw new CorruptDataError(`key file ${name}: ${problem}`, { details: { object: name } });
  const ek = o['encrypted_key'];
  if (!Array.isArray(ek) || ek.length !== SEALED_KEY_LENGTH || !ek.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    throw new CorruptDataError(`key file ${name}: encrypted_key must be ${SEALED_KEY_LENGTH} byte values`);
  }
  return { encryptedKey: Buffer.from(ek as number[]), kdf: o['kdf_params'] as KdfParams };
}

export function encodeKeyFile(kf: KeyFile): Buffer {
  return Buffer.from(JSON.stringify({ encrypted_key: [...kf.encryptedKey], kdf_params: encodeKdfParams(kf.kdf) }, null, 2));
}

export async function deriveKek(core: Core, password: Uint8Array, kdf: KdfParams): Promise<Buffer> {
  return core.argon2id(password, Buffer.from(kdf.salt), { iterations: kdf.iterations, memoryKiB: kdf.memory, parallelism: kdf.parallelism, length: 32 });
}

/** The data key, or undefined when the password does not open this key file. */
export async function openKeyFile(core: Core, password: Uint8Array, kf: KeyFile): Promise<Buffer | undefined> {
  const kek = await deriveKek(core, password, kf.kdf);
  try {
    const key = core.open({ kind: 'chacha20poly1305', key: kek }, kf.encryptedKey);
    return key.length === DATA_KEY_LENGTH ? key : undefined;
  } catch (err) {
    if (err instanceof CoreError && err.code === 'EAUTH') return undefined;
    throw err;
  }
}

export async function createKeyFile(core: Core, password: Uint8Array, dataKey: Buffer, kdf: KdfParams): Promise<KeyFile> {
  const kek = await deriveKek(core, password, kdf);
  return { encryptedKey: core.seal({ kind: 'chacha20poly1305', key: kek }, dataKey), kdf };
}
