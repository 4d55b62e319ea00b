// Key files (formats/restic.md §2.3-2.5): a password-derived user key (scrypt) seals the
// 64-byte master key that seals everything else.
import { currentUserName } from '../../engine/user-names.ts';
import os from 'node:os';
import type { Core } from '../../native/types.ts';
import { CoreError } from '../../native/errors.ts';
import { CorruptDataError } from '../../backup/errors.ts';
import { formatRfc3339Nano, goTimeFromUnix } from '../../util/go-time.ts';

export const MASTER_KEY_LENGTH = 64;
const SALT_LENGTH = 64;

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export interface KeyFile {
  created?: string;
  username?: string;
  hostname?: string;
  kdf: string;
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  data: Buffer;
}

/** A key as 64 bytes encrypt(32) || mac.k(16) || mac.r(16), the layout SealSpec 'restic' takes. */
export type ResticKey = Buffer;

export function encodeMasterKeyJson(key: ResticKey): string {
  const b64 = (b: Buffer) => b.toString('base64');
  return `{"mac":{"k":"${b64(key.subarray(32, 48))}","r":"${b64(key.subarray(48, 64))}"},"encrypt":"${b64(key.subarray(0, 32))}"}`;
}

export function decodeMasterKeyJson(bytes: Uint8Array): ResticKey {
  let doc: { mac?: { k?: string; r?: string }; encrypt?: string };
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof doc;
  } catch {
    throw new CorruptDataError('master key: not valid JSON');
  }
  const encrypt = Buffer.from(doc.encrypt ?? '', 'base64');
  const k = Buffer.from(doc.mac?.k ?? '', 'base64');
  const r = Buffer.from(doc.mac?.r ?? '', 'base64');
  if (encrypt.length !== 32 || k.length !== 16 || r.length !== 16) throw new CorruptDataError('master key: wrong key lengths');
  const key = Buffer.concat([encrypt, k, r]);
  if (encrypt.every((b) => b === 0) || k.every((b) => b === 0) || r.every((b) => b === 0)) throw new CorruptDataError('master key: a key part is all zero');
  return key;
}

export function parseKeyFile(bytes: Uint8Array, name: string): KeyFile {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new CorruptDataError(`key ${name}: not valid JSON`);
  }
  const num = (k: string) => (typeof doc[k] === 'number' && Number.isSafeInteger(doc[k]) ? (doc[k] as number) : NaN);
  const kf: KeyFile = {
    kdf: String(doc['kdf'] ?? ''),
    N: num('N'),
    r: num('r'),
    p: num('p'),
    salt: Buffer.from(String(doc['salt'] ?? ''), 'base64'),
    data: Buffer.from(String(doc['data'] ?? ''), 'base64'),
    ...(typeof doc['created'] === 'string' ? { created: doc['created'] } : {}),
    ...(typeof doc['username'] === 'string' ? { username: doc['username'] } : {}),
    ...(typeof doc['hostname'] === 'string' ? { hostname: doc['hostname'] } : {}),
  };
  if (kf.kdf !== 'scrypt') throw new CorruptDataError(`key ${name}: unsupported kdf "${kf.kdf}" (only scrypt)`);
  if (!(kf.N > 1) || (kf.N & (kf.N - 1)) !== 0 || !(kf.r >= 1) || !(kf.p >= 1)) throw new CorruptDataError(`key ${name}: invalid scrypt parameters N=${kf.N} r=${kf.r} p=${kf.p}`);
  // Refuse parameters that would exhaust memory: 128 * N * r bytes.
  if (128 * kf.N * kf.r > 2 ** 32) throw new CorruptDataError(`key ${name}: scrypt parameters need more than 4 GiB of memory (N=${kf.N}, r=${kf.r})`);
  if (kf.p > 1024) throw new CorruptDataError(`key ${name}: scrypt parameter p=${kf.p} is absurd`);
  return kf;
}

export async function deriveUserKey(core: Core, password: Uint8Array, kf: Pick<KeyFile, 'N' | 'r' | 'p' | 'salt'>): Promise<ResticKey> {
  return core.scrypt(password, kf.salt, kf.N, kf.r, kf.p, MASTER_KEY_LENGTH);
}

/** The master key sealed in `kf`, or undefined when the password does not open it. */
export async function openKeyFile(core: Core, password: Uint8Array, kf: KeyFile): Promise<ResticKey | undefined> {
  const userKey = await deriveUserKey(core, password, kf);
  try {
    return decodeMasterKeyJson(core.open({ kind: 'restic', key: userKey }, kf.data));
  } catch (err) {
    if (err instanceof CoreError && err.code === 'EAUTH') return undefined;
    throw err;
  }
}

/** Bytes of a new key file wrapping `masterKey` for `password`. */
export async function createKeyFile(core: Core, password: Uint8Array, masterKey: ResticKey, params: ScryptParams, now = new Date()): Promise<Buffer> {
  const salt = core.randomBytes(SALT_LENGTH);
  const userKey = await deriveUserKey(core, password, { ...params, salt });
  const data = core.seal({ kind: 'restic', key: userKey }, Buffer.from(encodeMasterKeyJson(masterKey)));
  const ms = now.getTime();
  const created = formatRfc3339Nano(goTimeFromUnix(Math.floor(ms / 1000), (ms % 1000) * 1e6));
  const json = JSON.stringify({
    created,
    username: currentUserName(),
    hostname: os.hostname(),
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt: salt.toString('base64'),
    data: data.toString('base64'),
  });
  return Buffer.from(json);
}

/**
 * scrypt parameters for new keys: restic 0.14's N and r, with p calibrated so deriving takes
 * about half a second here (restic does the same), within 1..16.
 */
export async function calibrateScrypt(core: Core, targetMs = 500): Promise<ScryptParams> {
  const N = 32768;
  const r = 8;
  const start = performance.now();
  await core.scrypt(Buffer.from('calibrate'), Buffer.alloc(SALT_LENGTH), N, r, 1, MASTER_KEY_LENGTH);
  const oneMs = Math.max(1, performance.now() - start);
  return { N, r, p: Math.min(16, Math.max(1, Math.round(targetMs / oneMs))) };
}
