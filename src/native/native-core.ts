// Adapts the napi addon (native/, loaded through addon.cjs) to the `Core` contract: argument
// shapes, result shapes, and errors. The addon throws errors whose message is a tagged JSON
// payload (see native/src/error.rs); they become CoreError here.
import { load } from './addon.cjs';
import { CoreError } from './errors.ts';
import type {
  AeadStream,
  DirEntry,
  FinishedPack,
  PackWriter,
  PackWriterOptions,
  ReadDirsOptions,
  BlobSet,
  DirComparer,
  DirComparerOptions,
  DirComparison,
  PackedIndex,
  PlannedRestoreWindow,
  ResticRestore,
  ResticRestoreOptions,
  RestoreDirectory,
  RestoreStep,
  TreeSource,
  ChunkerSpec,
  CompressionSpec,
  Core,
  CoreErrorCode,
  CoreErrorInfo,
  DecodeBlobSpec,
  DecodeRequest,
  DecodeResult,
  EncodedBlob,
  FinishRequest,
  MadeEntry,
  FileChunk,
  DirListing,
  EntryStat,
  FileSegmentRequest,
  FileSegmentResult,
  HashAlgorithm,
  PipelineParams,
  SealSpec,
  Xattr,
} from './types.ts';
import type { FsSnapshotCore } from '../snapshots/fs-snapshot-core.ts';

type Path = string | Buffer;

interface RawErrorInfo {
  code: string;
  message: string;
  subject?: string | null;
}

interface RawChunkerSpec {
  kind: string;
  polynomial?: string;
  minSize?: number;
  avgSize?: number;
  maxSize?: number;
}

interface RawCompressionSpec {
  kind: string;
  level?: number;
  onlyIfSmaller?: boolean;
}

interface RawSealSpec {
  kind: string;
  key?: Uint8Array;
}

/** One processFiles call's results, packed (FilesResultJs in native/src/pipeline.rs). */
interface RawFilesResult {
  counts: Buffer;
  lengths: Buffer;
  ids: Buffer;
  blobs: Buffer;
  data: Buffer[];
  nextOffsets: Buffer;
  eofs: Buffer;
  errors: (RawErrorInfo | null)[];
}

/** Numbers per entry in RawDirListing.stats: the name's end in `names`, then EntryStat's fields. */
const STAT_FIELDS = 16;

interface RawDirListing {
  path: Path;
  names: Buffer;
  /** Little-endian f64, STAT_FIELDS per entry; mode -1 when lstat failed. */
  stats: Buffer;
  /** Only for entries with an error, xattrs or a link target. */
  extras: {
    index: number;
    error?: RawErrorInfo | null;
    xattrs?: Xattr[] | null;
    xattrError?: RawErrorInfo | null;
    linkTarget?: Buffer | null;
  }[];
  error?: RawErrorInfo | null;
}

interface RawBlobSet {
  add(id: Uint8Array): boolean;
  addMany(ids: Uint8Array): number;
  has(id: Uint8Array): boolean;
  delete(id: Uint8Array): boolean;
  readonly size: number;
}

/** native/src/indexjson.rs: numbers as little-endian bytes. */
interface RawPackedIndex {
  supersedes: Buffer;
  packIds: Buffer;
  packBlobCounts: Buffer;
  blobIds: Buffer;
  types: Buffer;
  offsets: Buffer;
  lengths: Buffer;
  uncompressedLengths: Buffer;
}

interface RawDirComparison extends Omit<DirComparison, 'error' | 'changed'> {
  error?: RawErrorInfo | null;
  stats?: Buffer | null;
  extras?: RawDirListing['extras'] | null;
  tree?: Buffer | null;
  spans?: Buffer | null;
}

interface RawDirComparer {
  compare(paths: Path[], trees: TreeSource[], changed: boolean): Promise<RawDirComparison[]>;
}

function dirComparison(raw: RawDirComparison, path: Path): DirComparison {
  const { error, stats, extras, tree, spans, ...rest } = raw;
  const out: DirComparison = rest;
  if (error) out.error = toInfo(error);
  if (stats != null && extras != null && tree != null && spans != null) {
    // The comparison lists with xattrs and link targets (dircompare.rs), as the restic walk does.
    out.changed = { listing: dirListing({ path, names: rest.names, stats, extras }, { xattrs: true, linkTargets: true }), tree, spans };
  }
  return out;
}

interface RawAeadStream {
  update(data: Uint8Array): Buffer;
  updateInto(data: Uint8Array, out: Uint8Array): void;
  final(tag?: Uint8Array | null): Buffer;
}

interface RawFinishRequest {
  path: Path;
  fd: number;
  uid?: number;
  gid?: number;
  mode?: number;
  kind?: number;
  xattrs: { name: Uint8Array; value: Uint8Array }[];
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
}

/** What native/src exports (the addon's own .d.ts is not generated into the tree). */
interface RawAddon {
  coreInfo(): { version: string; features: string[] };
  hash(algo: string, parts: Uint8Array[]): Buffer;
  hashAsync(algo: string, parts: Uint8Array[]): Promise<Buffer>;
  compress(spec: RawCompressionSpec, data: Uint8Array): Buffer;
  compressAsync(spec: RawCompressionSpec, data: Uint8Array): Promise<Buffer>;
  decompress(codec: string, data: Uint8Array, expected: number, max?: number | null): Buffer;
  decompressAsync(codec: string, data: Uint8Array, expected: number, max?: number | null): Promise<Buffer>;
  seal(spec: RawSealSpec, plaintext: Uint8Array, iv?: Uint8Array | null): Buffer;
  open(spec: RawSealSpec, sealed: Uint8Array): Buffer;
  sealAsync(spec: RawSealSpec, plaintext: Uint8Array): Promise<Buffer>;
  openAsync(spec: RawSealSpec, sealed: Uint8Array): Promise<Buffer>;
  chacha20Xor(key: Uint8Array, nonce: Uint8Array, counter: number, data: Uint8Array): Buffer;
  randomBytes(length: number): Buffer;
  scrypt(password: Uint8Array, salt: Uint8Array, n: number, r: number, p: number, length: number): Promise<Buffer>;
  argon2id(
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
    memoryKib: number,
    parallelism: number,
    length: number,
  ): Promise<Buffer>;
  chunkBuffer(spec: RawChunkerSpec, data: Uint8Array): number[];
  processFiles(
    requests: { paths: Uint8Array; ends: Uint8Array; ranges: Uint8Array },
    params: { chunker: RawChunkerSpec; hash: string; compression: RawCompressionSpec; seal: RawSealSpec },
    known: RawBlobSet | null,
    writer: RawPackWriter | null,
  ): Promise<RawFilesResult>;
  decodeBlobs(request: {
    data?: Uint8Array;
    file?: { path: string; offset: number; length: number };
    blobs: PackedDecodeBlobs;
    seal: RawSealSpec;
    codec: string;
    hash: string;
    files?: RawFinishRequest[];
    root?: Path;
  }): Promise<{ plaintexts: (Buffer | null | undefined)[]; errors: (RawErrorInfo | null | undefined)[]; files: { errno: number; message?: string | null; problems: string[] }[] }>;
  readDirs(paths: Path[], options?: ReadDirsOptions): Promise<RawDirListing[]>;
  lstat(path: Path): EntryStat;
  getXattrs(path: Path): Promise<Xattr[]>;
  setXattr(path: Path, name: Uint8Array, value: Uint8Array): Promise<void>;
  setTimes(root: Path, path: Path, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): Promise<void>;
  mknod(root: Path, path: Path, mode: number, rdev: number): Promise<void>;
  removeEntry(root: Path, path: Path, directories: boolean): Promise<void>;
  linkEntry(root: Path, existing: Path, path: Path): Promise<void>;
  createFiles(root: Path, paths: Path[]): Promise<{ fd: number; errno: number; message?: string | null }[]>;
  finishFiles(root: Path, requests: RawFinishRequest[]): Promise<string[][]>;
  makeEntries(root: Path, paths: Path[], targets: Uint8Array[] | null): Promise<{ errno: number; message?: string | null }[]>;
  NativeBlobSet: new () => RawBlobSet;
  decodeIndex(json: Uint8Array): Promise<RawPackedIndex | null>;
  NativeDirComparer: new (
    zoneFrom: number[],
    zoneOffsets: number[],
    zoneEnd: number,
    uids: number[],
    userNames: string[],
    gids: number[],
    groupNames: string[],
    known: RawBlobSet,
    seal: RawSealSpec | null,
    devicesRead: number[],
    devicesRecorded: number[],
  ) => RawDirComparer;
  NativeRestore: new (packIds: string[], packs: Path[] | null, data: Uint8Array, trees: Uint8Array, seal: RawSealSpec, owner: boolean, verifyOnly: boolean, root: Path | null) => {
    readDirectory(tree: Uint8Array, dir: Path, display: string, plaintext: Uint8Array | null, withNames: boolean): Promise<{ groups: RestoreDirectory['groups']; rest?: Buffer | null; names?: Buffer | null; ends?: Buffer | null }>;
    keepFiles(group: number, keep: Uint8Array): { files: number; bytes: number };
    planWindow(groups: Uint8Array): Promise<Omit<PlannedRestoreWindow, 'ranges'> & { ranges?: Buffer | null }>;
    runBatch(window: number, batch: number, data: Uint8Array | null, failure: string | null): Promise<RestoreStep>;
  };
  NativePackWriter: new (dir: string, blobType: string, targetSize: number, seal: RawSealSpec, dropCached: boolean) => RawPackWriter;
  NativeAeadStream: new (mode: string, key: Uint8Array, nonce: Uint8Array) => RawAeadStream;
  // Filesystem snapshots (native/src/btrfs.rs, zfs.rs): not part of `Core`, see FsSnapshotCore.
  filesystemType?(path: Path): { magic: number; name: string };
  btrfsSubvolume?(path: Path): { id: number; root: Buffer; readOnly: boolean };
  btrfsChildSubvolumes?(root: Path): { id: number; path: Buffer }[];
  btrfsCreateSnapshot?(source: Path, destDir: Path, name: Path, readOnly: boolean): Promise<void>;
  btrfsDeleteSubvolume?(path: Path): void;
  btrfsListSubvolumes?(dir: Path): { name: Buffer; id: number; readOnly: boolean }[];
  zfsStatus?(): { available: boolean; library?: string | null; message?: string | null };
  zfsSnapshot?(names: string[]): Promise<void>;
  zfsDestroySnapshots?(names: string[], defer: boolean): void;
}

const ERROR_PREFIX = 'BOLTCORE:';
const CODES: readonly CoreErrorCode[] = ['EIO_READ', 'EIO_WRITE', 'EAUTH', 'ECORRUPT', 'EHASH', 'EINVAL', 'EUNSUPPORTED'];

function isCode(code: string): code is CoreErrorCode {
  return (CODES as readonly string[]).includes(code);
}

function toInfo(raw: RawErrorInfo): CoreErrorInfo {
  const code = isCode(raw.code) ? raw.code : 'EINVAL';
  return raw.subject == null ? { code, message: raw.message } : { code, message: raw.message, subject: raw.subject };
}

/** Errors of the addon become CoreError; napi's own argument errors count as EINVAL. */
function translate(err: unknown): Error {
  if (err instanceof CoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith(ERROR_PREFIX)) {
    const parsed = JSON.parse(message.slice(ERROR_PREFIX.length)) as RawErrorInfo;
    return CoreError.from(toInfo(parsed));
  }
  return new CoreError('EINVAL', message);
}

function sync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw translate(err);
  }
}

async function later<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translate(err);
  }
}

function chunkerSpec(spec: ChunkerSpec): RawChunkerSpec {
  return spec.kind === 'rabin'
    ? { kind: 'rabin', polynomial: spec.polynomial }
    : { kind: 'fastcdc', minSize: spec.minSize, avgSize: spec.avgSize, maxSize: spec.maxSize };
}

function compressionSpec(spec: CompressionSpec): RawCompressionSpec {
  switch (spec.kind) {
    case 'none':
      return { kind: 'none' };
    case 'zstd':
      return { kind: 'zstd', level: spec.level, onlyIfSmaller: spec.onlyIfSmaller === true };
    case 'zlib':
      return { kind: 'zlib', level: spec.level };
  }
}

function sealSpec(spec: SealSpec): RawSealSpec {
  return spec.kind === 'none' ? { kind: 'none' } : { kind: spec.kind, key: spec.key };
}

interface RawPackWriter {
  add(id: Uint8Array, sealed: Uint8Array, uncompressedLength: number): void;
  encodeAndAdd(id: Uint8Array, plaintext: Uint8Array, zstdLevel: number | null): Promise<void>;
  close(): void;
  takeFinished(wait?: boolean | null): { path: string; id: Buffer; size: number; blobs: { id: Buffer; offset: number; length: number; uncompressedLength: number }[] }[];
  failure(): RawErrorInfo | null | undefined;
  discard(): void;
}

class NativePackWriterView implements PackWriter {
  constructor(readonly raw: RawPackWriter) {}

  add(id: Uint8Array, sealed: Uint8Array, uncompressedLength: number): void {
    sync(() => this.raw.add(id, sealed, uncompressedLength));
  }

  encodeAndAdd(id: Uint8Array, plaintext: Uint8Array, zstdLevel?: number): Promise<void> {
    return later(() => this.raw.encodeAndAdd(id, plaintext, zstdLevel ?? null));
  }

  close(): void {
    sync(() => this.raw.close());
  }

  takeFinished(wait = false): FinishedPack[] {
    return sync(() => this.raw.takeFinished(wait));
  }

  failure(): CoreErrorInfo | undefined {
    const f = this.raw.failure();
    return f == null ? undefined : toInfo(f);
  }

  discard(): void {
    this.raw.discard();
  }
}

function packWriterRaw(writer: PackWriter): RawPackWriter {
  if (!(writer instanceof NativePackWriterView)) throw new CoreError('EINVAL', 'params.packWriter must be made by this core (newPackWriter())');
  return writer.raw;
}

class NativeBlobSetView implements BlobSet {
  readonly raw: RawBlobSet;

  constructor(raw: RawBlobSet) {
    this.raw = raw;
  }

  add(id: Uint8Array): boolean {
    return sync(() => this.raw.add(id));
  }

  addMany(ids: Uint8Array): number {
    return sync(() => this.raw.addMany(ids));
  }

  has(id: Uint8Array): boolean {
    return sync(() => this.raw.has(id));
  }

  delete(id: Uint8Array): boolean {
    return sync(() => this.raw.delete(id));
  }

  get size(): number {
    return this.raw.size;
  }
}

class NativeAeadStreamView implements AeadStream {
  private readonly raw: RawAeadStream;

  constructor(raw: RawAeadStream) {
    this.raw = raw;
  }

  update(data: Uint8Array): Buffer {
    return sync(() => this.raw.update(data));
  }

  updateInto(data: Uint8Array, out: Uint8Array): void {
    sync(() => this.raw.updateInto(data, out));
  }

  final(tag?: Uint8Array): Buffer {
    return sync(() => this.raw.final(tag ?? null));
  }
}

/** The requests of one processFiles call, packed (FileRequestsJs in native/src/pipeline.rs). */
function fileRequests(requests: FileSegmentRequest[]): { paths: Buffer; ends: Buffer; ranges: Buffer } {
  const paths = requests.map((r) => (typeof r.path === 'string' ? Buffer.from(r.path) : r.path));
  const ends = new Uint32Array(requests.length);
  const ranges = new Float64Array(2 * requests.length);
  let end = 0;
  requests.forEach((r, i) => {
    ends[i] = end += paths[i]!.length;
    ranges[2 * i] = r.offset;
    ranges[2 * i + 1] = r.maxBytes;
  });
  return { paths: Buffer.concat(paths, end), ends: Buffer.from(ends.buffer), ranges: Buffer.from(ranges.buffer) };
}

/** The blobs of one decodeBlobs call as the addon takes them (native/src/decode.rs, DecodeBlobsJs). */
interface PackedDecodeBlobs {
  places: Buffer;
  flags: Buffer;
  ids: Buffer;
  idEnds: Buffer;
  targetCounts: Buffer;
  targets: Buffer;
}

/** An errno and its message as the addon returns them (message null when errno is 0). */
function errnoResult(e: { errno: number; message?: string | null }): MadeEntry {
  return e.message ? { errno: e.errno, message: e.message } : { errno: e.errno };
}

/** Target fds from this value on name the request's new files (native/src/decode.rs). */
const NEW_FILE_BASE = 2 ** 40;

/** Built property by property (an object spread per request cost ~1.5 µs in a restore). */
function rawFinishRequest(r: FinishRequest, fd: number): RawFinishRequest {
  const raw: RawFinishRequest = { path: r.path, fd, xattrs: r.xattrs, atimeSec: r.atimeSec, atimeNsec: r.atimeNsec, mtimeSec: r.mtimeSec, mtimeNsec: r.mtimeNsec };
  if (r.owner) {
    raw.uid = r.owner.uid;
    raw.gid = r.owner.gid;
  }
  if (r.mode !== undefined) raw.mode = r.mode;
  if (r.kind !== undefined) raw.kind = r.kind;
  return raw;
}

function decodeBlobSpecs(blobs: DecodeBlobSpec[]): PackedDecodeBlobs {
  const places = new Float64Array(3 * blobs.length);
  const flags = Buffer.alloc(blobs.length);
  const idEnds = new Uint32Array(blobs.length);
  const targetCounts = new Uint32Array(blobs.length);
  let idBytes = 0;
  let targetCount = 0;
  for (const b of blobs) {
    idBytes += b.id.length;
    targetCount += b.targets?.length ?? 0;
  }
  const ids = Buffer.allocUnsafe(idBytes);
  const targets = new Float64Array(2 * targetCount);
  let idAt = 0;
  let targetAt = 0;
  blobs.forEach((b, i) => {
    places[3 * i] = b.offset;
    places[3 * i + 1] = b.length;
    places[3 * i + 2] = b.rawLength;
    flags[i] = (b.compressed ? 1 : 0) | (b.targets ? 2 : 0);
    ids.set(b.id, idAt);
    idEnds[i] = idAt += b.id.length;
    if (b.targets) {
      targetCounts[i] = b.targets.length;
      for (const t of b.targets) {
        // A descriptor at or above the base would be taken for a new file: made invalid instead.
        targets[targetAt++] = 'file' in t ? NEW_FILE_BASE + t.file : t.fd < NEW_FILE_BASE ? t.fd : NaN;
        targets[targetAt++] = t.position;
      }
    }
  });
  return { places: Buffer.from(places.buffer), flags, ids, idEnds: Buffer.from(idEnds.buffer), targetCounts: Buffer.from(targetCounts.buffer), targets: Buffer.from(targets.buffer) };
}

/** Unpacks one processFiles call's results into a FileSegmentResult per request. */
function fileResults(raw: RawFilesResult, count: number): FileSegmentResult[] {
  const counts = numbers(raw.counts, Uint32Array);
  const lengths = numbers(raw.lengths, Uint32Array);
  const blobFields = numbers(raw.blobs, Uint32Array);
  const nextOffsets = float64s(raw.nextOffsets);
  if (counts.length !== 2 * count || nextOffsets.length !== count || raw.errors.length !== count) {
    throw new CoreError('EINVAL', `addon returned results for ${raw.errors.length} of ${count} files`);
  }
  const results = new Array<FileSegmentResult>(count);
  let chunkAt = 0;
  let blobAt = 0;
  let dataAt = 0;
  for (let f = 0; f < count; f++) {
    const chunkCount = counts[2 * f]!;
    const blobCount = counts[2 * f + 1]!;
    const chunks = new Array<FileChunk>(chunkCount);
    for (let c = 0; c < chunkCount; c++) {
      const at = chunkAt + c;
      chunks[c] = { length: lengths[at]!, id: raw.ids.subarray(at * 32, at * 32 + 32) };
    }
    const blobs = new Array<EncodedBlob>(blobCount);
    for (let b = 0; b < blobCount; b++, blobAt++) {
      const chunkIndex = blobFields[3 * blobAt]!;
      const flags = blobFields[3 * blobAt + 1]!;
      const chunk = chunks[chunkIndex];
      if (chunk === undefined) throw new CoreError('EINVAL', `addon returned blob for missing chunk ${chunkIndex}`);
      const stored = (flags & 2) !== 0;
      const data = stored ? EMPTY : raw.data[dataAt++];
      if (data === undefined) throw new CoreError('EINVAL', `addon returned no bytes for blob ${blobAt}`);
      blobs[b] = {
        chunkIndex,
        id: chunk.id,
        rawLength: chunk.length,
        compressed: (flags & 1) !== 0,
        data,
        ...(stored ? { storedLength: blobFields[3 * blobAt + 2]! } : {}),
      };
    }
    chunkAt += chunkCount;
    const error = raw.errors[f];
    // A file that failed part-way still hands over the blobs it encoded (see FileSegmentResult).
    results[f] = error != null ? { error: toInfo(error), chunks: [], blobs, nextOffset: nextOffsets[f]!, eof: false } : { chunks, blobs, nextOffset: nextOffsets[f]!, eof: raw.eofs[f] === 1 };
  }
  return results;
}

const EMPTY = Buffer.alloc(0);

/** Little-endian numbers from the core as a typed array over the same bytes (copied when misaligned). */
function numbers<T extends Float64Array | Uint32Array>(bytes: Buffer, Type: { new (buffer: ArrayBufferLike, offset: number, length: number): T; readonly BYTES_PER_ELEMENT: number }): T {
  const size = Type.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % size === 0) return new Type(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
  return new Type(Uint8Array.from(bytes).buffer, 0, bytes.byteLength / size);
}

function float64s(bytes: Buffer): Float64Array {
  return numbers(bytes, Float64Array);
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** Unpacks a listing into entries (see DirListingJs in native/src/fs.rs for the layout). */
function dirListing(raw: RawDirListing, options: ReadDirsOptions): DirListing {
  const f = float64s(raw.stats);
  const count = f.length / STAT_FIELDS;
  const entries: DirEntry[] = new Array<DirEntry>(count);
  let start = 0;
  for (let i = 0, o = 0; i < count; i++, o += STAT_FIELDS) {
    const end = f[o]!;
    const name = raw.names.subarray(start, end);
    start = end;
    const mode = f[o + 1]!;
    if (mode < 0) {
      entries[i] = { name, stat: null };
      continue;
    }
    const stat: EntryStat = {
      mode,
      uid: f[o + 2]!,
      gid: f[o + 3]!,
      size: f[o + 4]!,
      allocated: f[o + 5]!,
      ino: f[o + 6]!,
      dev: f[o + 7]!,
      nlink: f[o + 8]!,
      rdev: f[o + 9]!,
      atimeSec: f[o + 10]!,
      atimeNsec: f[o + 11]!,
      mtimeSec: f[o + 12]!,
      mtimeNsec: f[o + 13]!,
      ctimeSec: f[o + 14]!,
      ctimeNsec: f[o + 15]!,
    };
    // The core leaves out empty attribute lists; readers tell "none" from "not read" by presence.
    entries[i] = options.xattrs && (mode & S_IFMT) !== S_IFLNK ? { name, stat, xattrs: [] } : { name, stat };
  }
  for (const x of raw.extras) {
    const entry = entries[x.index];
    if (entry === undefined) throw new CoreError('EINVAL', `addon listed extras for missing entry ${x.index}`);
    if (x.error != null) entry.error = toInfo(x.error);
    if (x.xattrs != null) entry.xattrs = x.xattrs;
    if (x.xattrError != null) {
      delete entry.xattrs;
      entry.xattrError = toInfo(x.xattrError);
    }
    if (x.linkTarget != null) entry.linkTarget = x.linkTarget;
  }
  return raw.error != null ? { path: raw.path, entries, error: toInfo(raw.error) } : { path: raw.path, entries };
}

function loadAddon(): RawAddon {
  const addon = load();
  if (typeof addon !== 'object' || addon === null || !('coreInfo' in addon) || typeof addon.coreInfo !== 'function') {
    throw new Error('native/bolt-native.node is not the bolt-agent core addon');
  }
  return addon as RawAddon;
}

/** The addon's filesystem snapshot calls; undefined when the addon was built without them. */
export function createNativeFsSnapshotCore(): FsSnapshotCore | undefined {
  const raw = loadAddon();
  const { filesystemType, btrfsSubvolume, btrfsChildSubvolumes, btrfsCreateSnapshot, btrfsDeleteSubvolume, btrfsListSubvolumes, zfsStatus, zfsSnapshot, zfsDestroySnapshots } = raw;
  if (!filesystemType || !btrfsSubvolume || !btrfsChildSubvolumes || !btrfsCreateSnapshot || !btrfsDeleteSubvolume || !btrfsListSubvolumes || !zfsStatus || !zfsSnapshot || !zfsDestroySnapshots) return undefined;
  return {
    kind: 'native',
    filesystemOf: (path) => {
      const name = sync(() => filesystemType(path)).name;
      return name === 'btrfs' || name === 'zfs' ? name : 'other';
    },
    btrfsSubvolume: (path) => {
      const s = sync(() => btrfsSubvolume(path));
      return { id: s.id, root: s.root.toString(), readOnly: s.readOnly };
    },
    btrfsChildSubvolumes: (root) => sync(() => btrfsChildSubvolumes(root)).map((c) => ({ id: c.id, path: c.path.toString() })),
    btrfsCreateSnapshot: (source, destDir, name, readOnly) => later(() => btrfsCreateSnapshot(source, destDir, name, readOnly)),
    btrfsDeleteSubvolume: (path) => sync(() => btrfsDeleteSubvolume(path)),
    btrfsListSubvolumes: (dir) => sync(() => btrfsListSubvolumes(dir)).map((s) => ({ name: s.name.toString(), id: s.id, readOnly: s.readOnly })),
    zfsStatus: () => {
      const s = sync(() => zfsStatus());
      return { available: s.available, ...(s.library ? { library: s.library } : {}), ...(s.message ? { message: s.message } : {}) };
    },
    zfsSnapshot: (names) => later(() => zfsSnapshot(names)),
    zfsDestroySnapshots: (names, defer) => sync(() => zfsDestroySnapshots(names, defer)),
  };
}

/** Loads the napi addon; rejects when it is missing or does not load on this platform. */
export async function createNativeCore(): Promise<Core> {
  const raw = loadAddon();
  const about = raw.coreInfo();

  return {
    info: { kind: 'native', version: about.version, features: about.features },

    hash: (algo: HashAlgorithm, data: Uint8Array | Uint8Array[]) =>
      sync(() => raw.hash(algo, Array.isArray(data) ? data : [data])),
    hashAsync: (algo: HashAlgorithm, data: Uint8Array | Uint8Array[]) =>
      later(() => raw.hashAsync(algo, Array.isArray(data) ? data : [data])),

    compress: (spec, data) => sync(() => raw.compress(compressionSpec(spec), data)),
    compressAsync: (spec, data) => later(() => raw.compressAsync(compressionSpec(spec), data)),
    decompress: (codec, data, expectedLength, maxLength) =>
      sync(() => raw.decompress(codec, data, expectedLength, maxLength ?? null)),
    decompressAsync: (codec, data, expectedLength, maxLength) =>
      later(() => raw.decompressAsync(codec, data, expectedLength, maxLength ?? null)),

    seal: (spec, plaintext, iv) => sync(() => raw.seal(sealSpec(spec), plaintext, iv ?? null)),
    open: (spec, box) => sync(() => raw.open(sealSpec(spec), box)),
    sealAsync: (spec, plaintext) => later(() => raw.sealAsync(sealSpec(spec), plaintext)),
    openAsync: (spec, box) => later(() => raw.openAsync(sealSpec(spec), box)),
    aeadStream: (mode, key, nonce) => sync(() => new NativeAeadStreamView(new raw.NativeAeadStream(mode, key, nonce))),
    chacha20Xor: (key, nonce, counter, data) => sync(() => raw.chacha20Xor(key, nonce, counter, data)),

    scrypt: (password, salt, N, r, p, length) => later(() => raw.scrypt(password, salt, N, r, p, length)),
    argon2id: (password, salt, params) =>
      later(() =>
        raw.argon2id(password, salt, params.iterations, params.memoryKiB, params.parallelism, params.length),
      ),
    randomBytes: (length) => sync(() => raw.randomBytes(length)),

    chunkBuffer: (spec, data) => sync(() => raw.chunkBuffer(chunkerSpec(spec), data)),

    processFiles: (requests: FileSegmentRequest[], params: PipelineParams) =>
      later(async () => {
        const { known } = params;
        if (known !== undefined && !(known instanceof NativeBlobSetView)) {
          throw new CoreError('EINVAL', 'params.known must be a BlobSet made by this core (newBlobSet())');
        }
        const results = await raw.processFiles(
          fileRequests(requests),
          {
            chunker: chunkerSpec(params.chunker),
            hash: params.hash,
            compression: compressionSpec(params.compression),
            seal: sealSpec(params.seal),
          },
          known === undefined ? null : known.raw,
          params.packWriter === undefined ? null : packWriterRaw(params.packWriter),
        );
        return fileResults(results, requests.length);
      }),

    decodeBlobs: (request: DecodeRequest) =>
      later(async (): Promise<DecodeResult> => {
        const result = await raw.decodeBlobs({
          ...(request.data ? { data: request.data } : {}),
          ...(request.file ? { file: request.file } : {}),
          blobs: decodeBlobSpecs(request.blobs),
          seal: sealSpec(request.seal),
          codec: request.codec,
          hash: request.hash,
          ...(request.files ? { files: request.files.map((f) => rawFinishRequest(f, -1)) } : {}),
          ...(request.root ? { root: request.root } : {}),
        });
        return {
          plaintexts: result.plaintexts.map((p) => p ?? null),
          errors: result.errors.map((e) => (e == null ? null : toInfo(e))),
          ...(request.files ? { files: result.files.map((f) => ({ ...errnoResult(f), problems: f.problems })) } : {}),
        };
      }),

    newBlobSet: () => new NativeBlobSetView(new raw.NativeBlobSet()),
    decodeIndex: (json) =>
      later(async (): Promise<PackedIndex | null> => {
        const r = await raw.decodeIndex(json);
        if (!r) return null;
        return {
          supersedes: r.supersedes,
          packIds: r.packIds,
          packBlobCounts: numbers(r.packBlobCounts, Uint32Array),
          blobIds: r.blobIds,
          types: r.types,
          offsets: numbers(r.offsets, Float64Array),
          lengths: numbers(r.lengths, Uint32Array),
          uncompressedLengths: numbers(r.uncompressedLengths, Uint32Array),
        };
      }),
    newDirComparer: (options: DirComparerOptions): DirComparer => {
      if (!(options.known instanceof NativeBlobSetView)) throw new CoreError('EINVAL', 'known must be a BlobSet made by this core (newBlobSet())');
      const users = [...options.users];
      const groups = [...options.groups];
      const comparer = sync(
        () =>
          new raw.NativeDirComparer(
            options.zone.from,
            options.zone.offsets,
            options.zone.end,
            users.map(([id]) => id),
            users.map(([, name]) => name),
            groups.map(([id]) => id),
            groups.map(([, name]) => name),
            (options.known as NativeBlobSetView).raw,
            options.seal ? sealSpec(options.seal) : null,
            [...(options.devices?.keys() ?? [])],
            [...(options.devices?.values() ?? [])],
          ),
      );
      return {
        compare: (paths, trees, changed = false) =>
          later(async () =>
            (await comparer.compare(paths, trees, changed)).map((c, i) => dirComparison(c, paths[i]!)),
          ),
      };
    },
    newResticRestore: (options: ResticRestoreOptions): ResticRestore => {
      const restore = sync(() => new raw.NativeRestore(options.packIds, options.packFiles ?? null, options.dataBlobs, options.treeBlobs, sealSpec(options.seal), options.owner, options.verifyOnly, options.root ?? null));
      return {
        readDirectory: (tree, dir, display, options = {}) =>
          later(async (): Promise<RestoreDirectory> => {
            const { rest, names, ends, ...found } = await restore.readDirectory(tree, dir, display, options.plaintext ?? null, options.withNames === true);
            const out: RestoreDirectory = rest ? { ...found, rest } : found;
            if (names && ends) {
              out.names = [];
              for (let at = 0, start = 0; at + 4 <= ends.length; at += 4) {
                const end = ends.readUInt32LE(at);
                out.names.push(names.subarray(start, end));
                start = end;
              }
            }
            return out;
          }),
        keepFiles: (group, keep) => sync(() => restore.keepFiles(group, Uint8Array.from(keep, (k) => (k ? 1 : 0)))),
        planWindow: (groups) =>
          later(async () => {
            const { ranges, ...planned } = await restore.planWindow(Buffer.from(Uint32Array.from(groups).buffer));
            if (!ranges) return planned;
            const list: { pack: number; offset: number; length: number }[] = [];
            for (let at = 0; at + 20 <= ranges.length; at += 20) list.push({ pack: ranges.readUInt32LE(at), offset: ranges.readDoubleLE(at + 4), length: ranges.readDoubleLE(at + 12) });
            return { ...planned, ranges: list };
          }),
        runBatch: (window, batch, fetched) =>
          later(() => restore.runBatch(window, batch, fetched && 'data' in fetched ? fetched.data : null, fetched && 'error' in fetched ? fetched.error : null)),
      };
    },
    newPackWriter: (options: PackWriterOptions) =>
      sync(() => new NativePackWriterView(new raw.NativePackWriter(options.dir, options.blobType, options.targetSize, sealSpec(options.seal), options.dropCached ?? false))),

    readDirs: (paths, options = {}) => later(async () => (await raw.readDirs(paths, options)).map((l) => dirListing(l, options))),
    lstat: (path) => sync(() => raw.lstat(path)),
    getXattrs: (path) => later(() => raw.getXattrs(path)),
    setXattr: (path, name, value) => later(() => raw.setXattr(path, name, value)),
    setTimes: (root, path, atimeSec, atimeNsec, mtimeSec, mtimeNsec) =>
      later(() => raw.setTimes(root, path, atimeSec, atimeNsec, mtimeSec, mtimeNsec)),
    mknod: (root, path, mode, rdev) => later(() => raw.mknod(root, path, mode, rdev)),
    removeEntry: (root, path, options = {}) => later(() => raw.removeEntry(root, path, options.directories === true)),
    linkEntry: (root, existing, path) => later(() => raw.linkEntry(root, existing, path)),
    createFiles: (root, paths) => later(async () => (await raw.createFiles(root, paths)).map((f) => ({ fd: f.fd, ...errnoResult(f) }))),
    finishFiles: (root, requests) => later(() => raw.finishFiles(root, requests.map((r) => rawFinishRequest(r, r.fd)))),
    makeDirs: (root, paths) => later(async () => (await raw.makeEntries(root, paths, null)).map(errnoResult)),
    makeSymlinks: (root, paths, targets) => later(async () => (await raw.makeEntries(root, paths, targets)).map(errnoResult)),
  };
}
