// Turns a Node fs error into the CoreError of the boundary, naming the path and the errno.
import type { Buffer } from 'node:buffer';
import { CoreError } from '../errors.ts';
import { pathText } from './bytes.ts';

export function ioError(op: string, path: string | Buffer, err: unknown, code: 'EIO_READ' | 'EIO_WRITE' = 'EIO_READ'): CoreError {
  const subject = pathText(path);
  const errnoName = (err as { code?: unknown } | null)?.code;
  const errno = typeof errnoName === 'string' ? errnoName : 'EIO';
  // Node's message is "ENOENT: no such file or directory, open '/x'"; keep only its description.
  const raw = err instanceof Error ? err.message : String(err);
  const description = raw.replace(/^[A-Z0-9_]+: /, '').replace(/, \w+ '.*'$/s, '');
  return new CoreError(code, `${op} ${subject}: ${errno} (${description})`, subject);
}
