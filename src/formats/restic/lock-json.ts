// restic lock files (formats/restic.md §9.1): compact JSON, no trailing newline; `uid` and `gid`
// are omitted when 0.

import { goJsonBool, goJsonInteger, goJsonObject, goJsonString, omitEmpty } from './go-json.ts';
import { asObject, parseGoJson, readBool, readInt, readString, readTime, readUint, schemaError } from './go-json-parse.ts';
import { formatRfc3339Nano, type GoTime } from '../../util/go-time.ts';

export interface ResticLock {
  /** When the lock was written or last refreshed; locks older than 30 minutes are stale. */
  time: GoTime;
  exclusive: boolean;
  hostname: string;
  username: string;
  /** Process that holds the lock (restic probes it with SIGHUP when the host matches). */
  pid: number;
  uid?: number;
  gid?: number;
}

function uint32Json(value: number, field: string): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`lock ${field}: not an unsigned 32-bit integer: ${value}`);
  }
  return goJsonInteger(value);
}

export function encodeLock(lock: ResticLock): Buffer {
  if (!Number.isSafeInteger(lock.pid)) throw new RangeError(`lock pid: not an integer: ${lock.pid}`);
  return Buffer.from(
    goJsonObject([
      ['time', '"' + formatRfc3339Nano(lock.time) + '"'],
      ['exclusive', goJsonBool(lock.exclusive)],
      ['hostname', goJsonString(lock.hostname)],
      ['username', goJsonString(lock.username)],
      ['pid', goJsonInteger(lock.pid)],
      ['uid', omitEmpty(lock.uid, (v) => uint32Json(v, 'uid'))],
      ['gid', omitEmpty(lock.gid, (v) => uint32Json(v, 'gid'))],
    ]),
    'utf8',
  );
}

/** Decodes a lock file's JSON; `time` is required (a lock without it cannot be judged stale). */
export function decodeLock(bytes: Uint8Array): ResticLock {
  const obj = asObject(parseGoJson(bytes, 'lock'), 'lock');
  const time = obj.field('time');
  if (time === undefined || time === null) throw schemaError('lock.time', 'missing');
  const lock: ResticLock = {
    time: readTime(time, 'lock.time'),
    exclusive: readBool(obj.field('exclusive'), 'lock.exclusive'),
    hostname: readString(obj.field('hostname'), 'lock.hostname'),
    username: readString(obj.field('username'), 'lock.username'),
    pid: readInt(obj.field('pid'), 'lock.pid'),
  };
  const uid = readUint(obj.field('uid'), 'lock.uid', 32);
  if (uid !== 0) lock.uid = uid;
  const gid = readUint(obj.field('gid'), 'lock.gid', 32);
  if (gid !== 0) lock.gid = gid;
  return lock;
}
