// decodeBlobs: open → decompress → hash-check each blob of one pack range, then return the
// plaintext or pwrite it to the given file descriptors. A failing blob does not stop the others.
import type { Buffer } from 'node:buffer';
import { write } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CoreError } from '../errors.ts';
import type { BlobTarget, CoreErrorInfo, DecodeBlobSpec, DecodeRequest, DecodeResult } from '../types.ts';
import { constantTimeEqual, requireInteger } from './bytes.ts';
import type { Compressors } from './compression.ts';
import type { Hashers } from './hashing.ts';
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
    requireInteger(t.fd, 'target fd', 0, 2 ** 31 - 1);
    requireInteger(t.position, 'target position', 0, Number.MAX_SAFE_INTEGER);
  }
}

export async function decodeBlobs(request: DecodeRequest, deps: DecodeDeps): Promise<DecodeResult> {
  if (!(request?.data instanceof Uint8Array) || !Array.isArray(request.blobs)) {
    throw new CoreError('EINVAL', 'decodeBlobs needs data (Uint8Array) and blobs (array)');
  }
  const sealer = makeSealer(request.seal);
  const hash = deps.hashers.get(request.hash);
  if (request.codec !== 'zstd' && request.codec !== 'zlib') throw new CoreError('EINVAL', `unknown codec ${JSON.stringify(request.codec)}`);

  const plaintexts: (Buffer | null)[] = [];
  const errors: (CoreErrorInfo | null)[] = [];
  for (const spec of request.blobs) {
    try {
      checkBlobSpec(spec, request.data.byteLength);
      const box = request.data.subarray(spec.offset, spec.offset + spec.length);
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
        for (const t of spec.targets) await writeAll(t, plain);
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
