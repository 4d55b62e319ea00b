// The portable compute core: the Core contract in TypeScript + WASM (hash-wasm) + zstd-napi,
// for hosts where the napi addon does not load. Runs unchanged on Node >= 20, Bun and Deno.
// Everything runs on the calling thread; the async methods yield to the event loop between
// pieces of work instead of moving it elsewhere.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { CoreError } from './errors.ts';
import type { Core, CoreInfo } from './types.ts';
import { requireBytes, requireInteger } from './portable/bytes.ts';
import { PortableBlobSet } from './portable/blob-set.ts';
import { ChaCha20 } from './portable/chacha20.ts';
import { ChaChaPolyStream } from './portable/chacha20poly1305.ts';
import { chunkBuffer } from './portable/chunker.ts';
import { Compressors } from './portable/compression.ts';
import { decodeBlobs } from './portable/decode.ts';
import { lstatEntry, readDirs, setTimes } from './portable/fs-meta.ts';
import { checkBeneath, createFiles, finishFiles, linkEntry, makeEntries, removeEntry } from './portable/restore-files.ts';
import { createHashers } from './portable/hashing.ts';
import { argon2id, scrypt } from './portable/kdf.ts';
import { processFiles } from './portable/pipeline.ts';
import { makeSealer } from './portable/seal.ts';

const PORTABLE_CORE_VERSION = '0.1.0';

function unsupported(what: string): Promise<never> {
  return Promise.reject(new CoreError('EUNSUPPORTED', `${what} is not available in the portable core`));
}

export async function createPortableCore(): Promise<Core> {
  const hashers = await createHashers();
  const compressors = new Compressors();
  const deps = { hashers, compressors };
  const info: CoreInfo = { kind: 'portable', version: PORTABLE_CORE_VERSION, features: [] };

  const core: Core = {
    info,

    hash: (algo, data) => hashers.get(algo)(data),
    hashAsync: async (algo, data) => hashers.get(algo)(data),

    compress: (spec, data) => compressors.compress(spec, requireBytes(data, 'data')),
    compressAsync: async (spec, data) => compressors.compressAsync(spec, requireBytes(data, 'data')),
    decompress: (codec, data, expectedLength, maxLength) =>
      compressors.decompress(codec, requireBytes(data, 'data'), expectedLength, maxLength),
    decompressAsync: async (codec, data, expectedLength, maxLength) =>
      compressors.decompressAsync(codec, requireBytes(data, 'data'), expectedLength, maxLength),

    seal: (spec, plaintext, iv) => makeSealer(spec).seal(requireBytes(plaintext, 'plaintext'), iv),
    open: (spec, box) => makeSealer(spec).open(requireBytes(box, 'box')),
    sealAsync: async (spec, plaintext) => makeSealer(spec).seal(requireBytes(plaintext, 'plaintext')),
    openAsync: async (spec, box) => makeSealer(spec).open(requireBytes(box, 'box')),
    aeadStream: (mode, key, nonce) => new ChaChaPolyStream(mode, requireBytes(key, 'key'), requireBytes(nonce, 'nonce')),
    chacha20Xor: (key, nonce, counter, data) => {
      requireBytes(data, 'data');
      const out = Buffer.allocUnsafe(data.byteLength);
      new ChaCha20(requireBytes(key, 'key'), requireBytes(nonce, 'nonce'), counter).xor(data, out);
      return out;
    },

    scrypt,
    argon2id,
    randomBytes: (length) => randomBytes(requireInteger(length, 'length', 0, 2 ** 31 - 1)),

    chunkBuffer: (spec, data) => chunkBuffer(spec, requireBytes(data, 'data')),
    processFiles: (requests, params) => processFiles(requests, params, deps),
    decodeBlobs: (request) => decodeBlobs(request, deps),
    newBlobSet: () => new PortableBlobSet(),

    readDirs,
    lstat: lstatEntry,
    getXattrs: () => unsupported('getXattrs'),
    setXattr: () => unsupported('setXattr'),
    setTimes: async (root, path, atimeSec, atimeNsec, mtimeSec, mtimeNsec) => {
      await checkBeneath(root, path);
      await setTimes(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec);
    },
    mknod: () => unsupported('mknod'),
    removeEntry,
    linkEntry,
    createFiles,
    finishFiles,
    makeDirs: (root, paths) => makeEntries(root, paths),
    makeSymlinks: (root, paths, targets) => makeEntries(root, paths, targets),
  };
  return core;
}
