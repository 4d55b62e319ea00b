// decodeBlobs: open → decompress → hash-check each blob of one pack range, then return the
// plaintext or pwrite it to the given file descriptors. A failing blob does not stop the others.
import { Buffer } from 'node:buffer';
import { close, write } from 'node:fs';
import { open } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CoreError } from '../errors.ts';
import type { BlobTarget, CoreErrorInfo, DecodeBlobSpec, DecodeRequest, DecodeResult, NewFileResult } from '../types.ts';
import { constantTimeEqual, requireInteger } from './bytes.ts';
import type { Compressors } from './compression.ts';
import type { Hashers } from './hashing.ts';
import { ioError } from './io-error.ts';
import { createFiles, finishOne } from './restore-files.ts';
import { makeSealer } from './seal.ts';

export interface DecodeDeps {
  hashers: Hashers;
  compressors: Compressors;
}

function writeAll(target: BlobTarget, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === data.byteLength) return resolve();
      write(target.fd, data, done, data.byteLength - done, target.position + done, (err, n) => {
        if (err !== null) {
          reject(new CoreError('EIO_WRITE', `write fd ${target.fd} at ${target.position + done}: ${err.code ?? 'EIO'} (${err.message})`, `fd ${target.fd}`));
        } else if (n === 0) {
          reject(new CoreError('EIO_WRITE', `write fd ${target.fd}: no progress`, `fd ${target.fd}`));
        } else {
          step(done + n);
        }
      });
    };
    step(0);
  });
}

function checkBlobSpec(spec: DecodeBlobSpec, dataLength: number): void {
  requireInteger(spec.offset, 'blob offset', 0, dataLength);
  requireInteger(spec.length, 'blob length', 0, dataLength - spec.offset);
  requireInteger(spec.rawLength, 'blob rawLength', 0, Number.MAX_SAFE_INTEGER);
  if (!(spec.id instanceof Uint8Array) || spec.id.byteLength !== 32) throw new CoreError('EINVAL', 'blob id must be 32 bytes');
  for (const t of spec.targets ?? []) {
    requireInteger('fd' in t ? t.fd : NaN, 'target fd', 0, 2 ** 31 - 1);
    requireInteger(t.position, 'target position', 0, Number.MAX_SAFE_INTEGER);
  }
}

/** A local file's range, shorter when the file ends early (the blobs beyond then fail one by one). */
async function readRange(file: { path: string; offset: number; length: number }): Promise<Buffer> {
  requireInteger(file.offset, 'file offset', 0, Number.MAX_SAFE_INTEGER);
  requireInteger(file.length, 'file length', 0, 2 ** 31);
  const handle = await open(file.path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(file.length);
    let filled = 0;
    while (filled < file.length) {
      const { bytesRead } = await handle.read(buffer, filled, file.length - filled, file.offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/**
 * `request.files`: created, written through the targets naming them, finished when every blob
 * writing them succeeded (else closed): the native core's single crossing, composed of the
 * portable createFiles, decode and finishFiles.
 */
async function decodeIntoNewFiles(request: DecodeRequest & { files: NonNullable<DecodeRequest['files']> }, deps: DecodeDeps): Promise<DecodeResult> {
  if (!request.root) throw new CoreError('EINVAL', 'decodeBlobs: files need the restore target (root)');
  const root = request.root;
  const created = await createFiles(root, request.files.map((f) => f.path));
  const writes: number[][] = [];
  const blobs = request.blobs.map((spec) => {
    const mine: number[] = [];
    writes.push(mine);
    if (!spec.targets) return spec;
    const targets: BlobTarget[] = [];
    for (const t of spec.targets) {
      if ('fd' in t) {
        targets.push(t);
        continue;
      }
      const fd = Number.isInteger(t.file) ? created[t.file]?.fd : undefined;
      if (fd === undefined) targets.push({ fd: NaN, position: t.position });
      else {
        mine.push(t.file);
        if (fd >= 0) targets.push({ fd, position: t.position });
      }
    }
    return { ...spec, targets };
  });
  const { files, ...rest } = request;
  let result: DecodeResult;
  try {
    result = await decodeBlobs({ ...rest, blobs }, deps);
  } catch (err) {
    for (const c of created) if (c.fd >= 0) close(c.fd, () => {});
    throw err;
  }
  const failed = new Set<number>();
  result.errors.forEach((e, i) => {
    if (e) for (const k of writes[i] ?? []) failed.add(k);
  });
  const outcomes = await Promise.all(
    files.map(async (f, k): Promise<NewFileResult> => {
      const c = created[k] as (typeof created)[number];
      if (c.fd < 0) return { errno: c.errno, ...(c.message ? { message: c.message } : {}), problems: [] };
      if (failed.has(k)) {
        await new Promise<void>((resolve) => close(c.fd, () => resolve()));
        return { errno: 0, problems: [] };
      }
      return { errno: 0, problems: await finishOne(root, { ...f, fd: c.fd }) };
    }),
  );
  return { ...result, files: outcomes };
}

export async function decodeBlobs(request: DecodeRequest, deps: DecodeDeps): Promise<DecodeResult> {
  if ((request?.data instanceof Uint8Array) === (request?.file !== undefined) || !Array.isArray(request.blobs)) {
    throw new CoreError('EINVAL', 'decodeBlobs needs either data (Uint8Array) or file, and blobs (array)');
  }
  if (request.files) return decodeIntoNewFiles(request as DecodeRequest & { files: NonNullable<DecodeRequest['files']> }, deps);
  if (request.file) {
    const file = request.file;
    let data: Buffer;
    try {
      data = await readRange(file);
    } catch (err) {
      const failure = ioError('cannot read', file.path, err).toInfo();
      return { plaintexts: request.blobs.map(() => null), errors: request.blobs.map(() => failure) };
    }
    return decodeBlobs({ ...request, file: undefined, data } as DecodeRequest, deps);
  }
  const source = request.data as Uint8Array;
  const sealer = makeSealer(request.seal);
  const hash = deps.hashers.get(request.hash);
  if (request.codec !== 'zstd' && request.codec !== 'zlib') throw new CoreError('EINVAL', `unknown codec ${JSON.stringify(request.codec)}`);

  const plaintexts: (Buffer | null)[] = [];
  const errors: (CoreErrorInfo | null)[] = [];
  for (const spec of request.blobs) {
    try {
      checkBlobSpec(spec, source.byteLength);
      const box = source.subarray(spec.offset, spec.offset + spec.length);
      const opened = sealer.open(box);
      let plain: Buffer;
      if (spec.compressed) {
        plain = deps.compressors.decompress(request.codec, opened, spec.rawLength > 0 ? spec.rawLength : -1);
      } else {
        if (spec.rawLength > 0 && opened.byteLength !== spec.rawLength) {
          throw new CoreError('ECORRUPT', `blob is ${opened.byteLength} bytes, expected ${spec.rawLength}`);
        }
        plain = opened;
      }
      if (!constantTimeEqual(hash(plain), spec.id)) throw new CoreError('EHASH', `blob plaintext does not hash to its id (${request.hash})`);
      if (spec.targets !== undefined) {
        for (const t of spec.targets) await writeAll(t as BlobTarget, plain);
        plaintexts.push(null);
      } else {
        plaintexts.push(plain);
      }
      errors.push(null);
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      plaintexts.push(null);
      errors.push(err.toInfo());
    }
    await yieldToLoop();
  }
  return { plaintexts, errors };
}
