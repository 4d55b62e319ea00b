import type { LocalZone } from '../util/go-time.ts';
// The contract between the TypeScript engine and the compute core. Two implementations exist:
// the napi-rs addon (native/) and src/native/portable.ts. Both MUST produce identical bytes for
// identical inputs (test/vectors/ are run through both), except where a field is documented as
// implementation-defined (compressed bytes, random IVs).
//
// Paths are `string | Buffer`: a Buffer carries raw bytes for names that are not valid UTF-8.
// Byte arrays are returned as Node Buffers (a Uint8Array subclass).

/** Chunker selection. Both chunkers restart at every file start and after every cut. */
export type ChunkerSpec =
  /** restic's Rabin CDC: window 64, min 512 KiB, max 8 MiB, mask 0xFFFFF (formats/restic.md §10). */
  | { kind: 'rabin'; polynomial: string /* hex, no 0x, as in restic's config */ }
  /** ghostsnap's FastCDC 2020, normalisation level 1, seed 0 (formats/ghostsnap.md §6). */
  | { kind: 'fastcdc'; minSize: number; avgSize: number; maxSize: number };

export type HashAlgorithm = 'sha256' | 'blake3';

export type CompressionSpec =
  | { kind: 'none' }
  /**
   * One zstd frame per blob. With `onlyIfSmaller`, a blob whose frame would not be smaller than
   * its plaintext is returned uncompressed (`compressed: false`).
   */
  | { kind: 'zstd'; level: number; onlyIfSmaller?: boolean }
  /** One zlib (RFC 1950) stream per blob. */
  | { kind: 'zlib'; level: number };

export type SealSpec =
  | { kind: 'none' }
  /**
   * restic's seal: iv(16, random) || AES-256-CTR(encrypt, iv, p) || Poly1305-AES(mac, iv, ct).
   * key = encrypt(32) || mac.k(16) || mac.r(16): 64 bytes (r is clamped by the implementation).
   */
  | { kind: 'restic'; key: Uint8Array }
  /** ghostsnap's seal: nonce(12, random) || ChaCha20-Poly1305-IETF(key, nonce, p, aad="") (ct||tag). */
  | { kind: 'chacha20poly1305'; key: Uint8Array /* 32 bytes */ };

/** Error codes that cross the boundary. Every thrown/returned error carries one. */
export type CoreErrorCode =
  | 'EIO_READ' // a file could not be opened or read (message names the path and errno)
  | 'EIO_WRITE' // a file, pack or metadata could not be written (disk full, read-only, permissions)
  | 'EAUTH' // MAC/tag verification failed: wrong key or corrupt data
  | 'ECORRUPT' // a compressed stream is invalid, or has the wrong decompressed length
  | 'EHASH' // decoded plaintext does not hash to the expected id
  | 'EINVAL' // bad argument (key length, polynomial, level, ...)
  | 'EUNSUPPORTED'; // not available in this implementation (e.g. xattrs in the portable core)

export interface CoreErrorInfo {
  code: CoreErrorCode;
  message: string;
  /** The file path or object the error is about, when there is one. */
  subject?: string;
}

/** A chunk found in a file, in file order. */
export interface FileChunk {
  /** Byte length of the chunk's plaintext. */
  length: number;
  /** Hash of the plaintext (32 bytes): SHA-256 for restic, BLAKE3 for ghostsnap. */
  id: Buffer;
}

/** A chunk that was not in `known` and has been compressed and sealed for packing. */
export interface EncodedBlob {
  /** Index into FileSegmentResult.chunks. */
  chunkIndex: number;
  id: Buffer;
  /** Plaintext length. */
  rawLength: number;
  /** True when `data` holds a compressed stream (restic: header type 2/3; ghostsnap: always). */
  compressed: boolean;
  /** The bytes to put into a pack: compress(plaintext) then seal(...) as configured. Empty when the blob went to `PipelineParams.packWriter`. */
  data: Buffer;
  /** Set when the blob was appended to the pack writer: its sealed length there. */
  storedLength?: number;
}

export interface FileSegmentRequest {
  path: string | Buffer;
  /** Where to start reading; 0 or a previous result's `nextOffset` (always a chunk boundary). */
  offset: number;
  /**
   * Stop at the first chunk boundary at or after `offset + maxBytes` (bounds memory for huge
   * files). 0 means no limit (whole file).
   */
  maxBytes: number;
}

export interface PipelineParams {
  chunker: ChunkerSpec;
  hash: HashAlgorithm;
  compression: CompressionSpec;
  seal: SealSpec;
  /**
   * Dedup set. A chunk whose id is in `known` is listed in `chunks` but not encoded. The id of
   * every chunk that is encoded is added to `known` at once, so a chunk repeated within a file,
   * a batch or a run is encoded only once.
   */
  known?: BlobSet;
  /**
   * restic packs assembled in the core: new blobs are appended to it (their `data` comes back
   * empty) instead of being returned — encoded bytes never cross into JavaScript.
   */
  packWriter?: PackWriter;
}

/** A complete restic pack file the writer finished (header sealed and appended). */
export interface FinishedPack {
  /** Temporary file to publish as data/<id[0:2]>/<id>. */
  path: string;
  /** SHA-256 of the file: the pack id. */
  id: Buffer;
  size: number;
  blobs: { id: Buffer; offset: number; length: number; uncompressedLength: number }[];
}

export interface PackWriterOptions {
  /** Folder for the temporary pack files (the repository's own, when local: publishing is a rename). */
  dir: string;
  blobType: 'data' | 'tree';
  targetSize: number;
  /** Must be the restic seal of the repository. */
  seal: SealSpec;
  /**
   * Drop each finished pack from the page cache once it is synced and hashed: for packs that stay
   * where they are written (a local repository), so that a backup does not fill the cache.
   */
  dropCached?: boolean;
}

/** Appends sealed blobs to restic pack files of about the target size (Core.newPackWriter). */
export interface PackWriter {
  add(id: Uint8Array, sealed: Uint8Array, uncompressedLength: number): void;
  /**
   * Compresses (zstd at `zstdLevel`, when given), seals and appends one blob on a core thread;
   * settles once appended (or with the error that stopped the writer).
   */
  encodeAndAdd(id: Uint8Array, plaintext: Uint8Array, zstdLevel?: number): Promise<void>;
  /** Closes the open pack even when below the target size. */
  close(): void;
  /**
   * Packs completed since the last call. While the core appends (the writer is busy) it takes
   * nothing rather than wait, unless `wait` (at the end, after close()).
   */
  takeFinished(wait?: boolean): FinishedPack[];
  /** Why the writer stopped (a write failed); further blobs are refused. */
  failure(): CoreErrorInfo | undefined;
  /** Deletes the temporary files of unfinished and untaken packs. */
  discard(): void;
}

export interface FileSegmentResult {
  /**
   * Set when the file could not be read; `chunks` is then empty, but `blobs` holds the chunks
   * encoded before the failure. Their ids are in `known` (another file of the same run may
   * already refer to them), so the caller MUST store these blobs like any others.
   */
  error?: CoreErrorInfo;
  chunks: FileChunk[];
  blobs: EncodedBlob[];
  /** Offset after the last returned chunk. */
  nextOffset: number;
  /** True when the end of the file was reached. */
  eof: boolean;
}

/** Where one decoded blob is written: pwrite to an already open file descriptor. */
export interface BlobTarget {
  fd: number;
  position: number;
}

/** …or to `DecodeRequest.files[file]`, which the call creates. */
export interface NewFileTarget {
  file: number;
  position: number;
}

export interface DecodeBlobSpec {
  /** Offset of the blob inside `DecodeRequest.data`. */
  offset: number;
  length: number;
  /** Expected plaintext length; 0 = unknown (uncompressed blobs: sealed length − overhead). */
  rawLength: number;
  compressed: boolean;
  /** Expected id; the plaintext is hashed with `hash` and compared (EHASH on mismatch). */
  id: Uint8Array;
  /** When given, the plaintext is written to each target and not returned. */
  targets?: (BlobTarget | NewFileTarget)[];
}

export interface DecodeRequest {
  /** The bytes the blob offsets refer to… */
  data?: Uint8Array;
  /** …or a range of a local file the core reads itself (exactly one of the two). */
  file?: { path: string; offset: number; length: number };
  blobs: DecodeBlobSpec[];
  seal: SealSpec;
  /** Codec of the compressed blobs: 'zstd' (restic) or 'zlib' (ghostsnap). */
  codec: 'zstd' | 'zlib';
  hash: HashAlgorithm;
  /**
   * Files the call creates (as createFiles), fills through `NewFileTarget`s and finishes (as
   * finishFiles, `fd` ignored) once every blob writing them succeeded: one crossing instead of
   * three for the files one pack range holds whole. A file a failed blob writes is closed
   * without its metadata.
   */
  files?: FinishRequest[];
  /** The restore target `files` are created beneath (required with them). */
  root?: Buffer;
}

export interface DecodeResult {
  /** One per blob: the plaintext, or null when it was written to targets or failed. */
  plaintexts: (Buffer | null)[];
  /** One per blob: null when fine. A failure of one blob does not stop the others. */
  errors: (CoreErrorInfo | null)[];
  /** One per `DecodeRequest.files`, when given. */
  files?: NewFileResult[];
}

/** errno 0: created, and `problems` of finishing it (none when it was closed after a failed blob). */
export interface NewFileResult {
  errno: number;
  message?: string;
  problems: string[];
}

/** What lstat() says about an entry, with nanosecond times. */
export interface EntryStat {
  /** Full st_mode, type bits included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** st_blocks * 512: lets callers notice sparse files. */
  allocated: number;
  ino: number;
  dev: number;
  nlink: number;
  rdev: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

export interface DirEntry {
  /** Raw name bytes. */
  name: Buffer;
  stat: EntryStat | null;
  /** Set when lstat of this entry (or reading its symlink target) failed. */
  error?: CoreErrorInfo;
  /** With ReadDirsOptions.xattrs, when the implementation reads them: l*xattr of non-symlinks. */
  xattrs?: Xattr[];
  /** Why `xattrs` could not be read. */
  xattrError?: CoreErrorInfo;
  /** With ReadDirsOptions.linkTargets: a symlink's raw target. */
  linkTarget?: Buffer;
}

/** What readDirs reads besides each entry's lstat, in the same pass (one crossing per batch). */
export interface ReadDirsOptions {
  /** Extended attributes of every entry but symlinks (the portable core leaves them out). */
  xattrs?: boolean;
  linkTargets?: boolean;
}

export interface DirListing {
  path: string | Buffer;
  /** Sorted by raw name bytes. */
  entries: DirEntry[];
  error?: CoreErrorInfo;
}

export interface Xattr {
  name: Buffer;
  value: Buffer;
}

export interface DirComparerOptions {
  /** The host zone's UTC offsets (restic node times carry them; go-time.ts localZone). */
  zone: LocalZone;
  /** uid / gid → name, as the walk records them (user-names.ts). */
  users: ReadonlyMap<number, string>;
  groups: ReadonlyMap<number, string>;
  /** Data blobs in the repository: a file's content is reused only when all of it is here. */
  known: BlobSet;
  /** The repository's key, for trees the core reads from local pack files itself. */
  seal?: SealSpec;
  /** Device numbers as read → as the walk records them (read-roots.ts, readRootDevices). */
  devices?: ReadonlyMap<number, number>;
}

/** A previous tree blob: its plaintext, or where it lies in a local pack file. */
export type TreeSource =
  | { plaintext: Uint8Array }
  | { file: string; offset: number; length: number; /** 0: not compressed */ uncompressedLength: number; id: Uint8Array };

/** Per listed entry of a DirComparison. */
export const DIR_ENTRY_SAME = 0;
/** A directory whose own node matches; its contents are compared on their own. */
export const DIR_ENTRY_SAME_DIR = 1;
export const DIR_ENTRY_NOT_IN_PREVIOUS = 2;
export const DIR_ENTRY_DIFFERS = 3;

/** One directory compared with its previous tree (native/src/dircompare.rs). */
export interface DirComparison {
  /** Not compared: the directory could not be listed or its tree not parsed. */
  error?: CoreErrorInfo;
  /** Every listed entry matches its previous node, and no previous node is missing. */
  same: boolean;
  /** Listed names in raw order, concatenated; `ends` holds where each ends (u32 LE). */
  names: Buffer;
  ends: Buffer;
  /** One DIR_ENTRY_* per listed entry. */
  status: Buffer;
  /** The previous subtree id (32 bytes) of each DIR_ENTRY_SAME_DIR entry, in order. */
  subtrees: Buffer;
  missing: number;
  /** Matching non-directory entries, the regular files among them, their bytes. */
  entries: number;
  files: number;
  bytes: number;
  /**
   * Not `same`, but large enough and mostly matching, so worth building from what a comparison
   * saw: compared again with `changed`, it comes with `changed`.
   */
  rebuildable: boolean;
  /**
   * Only when asked for (compare's `changed`) and `rebuildable`: what the walk builds the
   * directory from instead of listing it again and decoding the whole previous tree.
   */
  changed?: ChangedDirSource;
}

/**
 * A changed directory as the core compared it: the listing (readDirs' packed form, with xattrs
 * and link targets, `names`/`ends` of the comparison), the previous tree's plaintext and, per
 * listed entry, where its previous node's JSON lies in that plaintext (u32 LE start and end;
 * both 0 without one).
 */
export interface ChangedDirSource {
  listing: DirListing;
  tree: Buffer;
  spans: Buffer;
}

export interface DirComparer {
  /**
   * `paths[i]` is read and compared with `trees[i]`, its previous tree blob; with `changed`, a
   * `rebuildable` directory comes with what the walk builds it from.
   */
  compare(paths: Buffer[], trees: TreeSource[], changed?: boolean): Promise<DirComparison[]>;
}

/** What a core restore needs to read a local restic repository (native/src/restore.rs). */
export interface ResticRestoreOptions {
  /** The id (hex) of each pack, numbered as in the index rows… */
  packIds: string[];
  /**
   * …and its local file, read by the core. Absent for remote storage: the walk then hands the
   * core each tree's plaintext and each batch's bytes (planWindow's `ranges`).
   */
  packFiles?: (string | Buffer)[];
  /** The first location of every data / tree blob: 52 bytes per blob (id, then pack number u32, offset f64, length u32 and uncompressed length u32, little-endian). */
  dataBlobs: Uint8Array;
  treeBlobs: Uint8Array;
  seal: SealSpec;
  /** Set owners (as root). */
  owner: boolean;
  /** Read and check every blob, write nothing. */
  verifyOnly: boolean;
  /** The restore target: every file is created beneath it (see Core.createFiles). */
  root?: Buffer;
}

/** A directory as the core read it: its plain regular files in groups, the rest for the walk. */
export interface RestoreDirectory {
  /** The groups holding its plain regular files (a thousand or so each), in order; none when there are none. */
  groups: { id: number; files: number; bytes: number }[];
  /** The other nodes as a tree blob's JSON (the whole tree when the core did not model it); absent when there are none. */
  rest?: Buffer;
  /** Asked for with `withNames`: the groups' file names in their order. */
  names?: Buffer[];
}

/** One step of a core restore window: files finished, bytes written (or checked), problems. */
export interface RestoreStep {
  files: number;
  bytes: number;
  problems: { path: string; error: string }[];
}

/**
 * The regular files of a restic restore, written by the core: the walk hands it each directory's
 * tree, then windows of groups; each window's batches run on the core's threads.
 */
export interface ResticRestore {
  /**
   * `plaintext`: the tree as the walk read and checked it (required without local pack files);
   * `withNames`: the group's file names come back too. Rejects when the tree cannot be read
   * here (the walk then reads it itself).
   */
  readDirectory(tree: Uint8Array, dir: Buffer, display: string, options?: { plaintext?: Uint8Array; withNames?: boolean }): Promise<RestoreDirectory>;
  /** Keeps the files of a group an include filter chose (`keep[i]` for the i-th of its names); none kept lets the group go. */
  keepFiles(group: number, keep: readonly boolean[]): { files: number; bytes: number };
  /** Plans groups as one window; files with nothing to read are finished in this step. */
  planWindow(groups: readonly number[]): Promise<PlannedRestoreWindow>;
  /**
   * Runs batch `batch` (0 ≤ batch < batches) of a planned window, once. Without local pack
   * files it is given the batch's range as fetched, or why that failed.
   */
  runBatch(window: number, batch: number, fetched?: { data: Uint8Array } | { error: string }): Promise<RestoreStep>;
}

export interface PlannedRestoreWindow extends RestoreStep {
  window: number;
  batches: number;
  /** Without local pack files: what each batch reads. */
  ranges?: { pack: number; offset: number; length: number }[];
}

/** An index file in parallel arrays (native/src/indexjson.rs). */
export interface PackedIndex {
  /** 32 bytes per superseded index file. */
  supersedes: Buffer;
  /** 32 bytes per pack, and the number of its blobs, in file order. */
  packIds: Buffer;
  packBlobCounts: Uint32Array;
  /** Per blob, the packs' blobs one after the other: id (32 bytes), type (0 data, 1 tree), offset, length and uncompressed length. */
  blobIds: Buffer;
  types: Uint8Array;
  offsets: Float64Array;
  lengths: Uint32Array;
  uncompressedLengths: Uint32Array;
}

/** A set of 32-byte ids. */
export interface BlobSet {
  add(id: Uint8Array): boolean;
  /** `ids` is n × 32 bytes; returns how many were new. */
  addMany(ids: Uint8Array): number;
  has(id: Uint8Array): boolean;
  delete(id: Uint8Array): boolean;
  readonly size: number;
}

/** Incremental ChaCha20-Poly1305 (RFC 8439, aad = ""), for sealing/opening data bigger than memory. */
export interface AeadStream {
  /** Encrypts (mode 'seal') or decrypts (mode 'open') the next piece; any piece sizes. */
  update(data: Uint8Array): Buffer;
  /** Like update(), writing into out[0, data.length) (out must not overlap data). */
  updateInto(data: Uint8Array, out: Uint8Array): void;
  /** 'seal': returns the 16-byte tag. 'open': verifies `tag`, throws EAUTH when it differs. */
  final(tag?: Uint8Array): Buffer;
}

export interface CoreInfo {
  kind: 'native' | 'portable';
  version: string;
  /** CPU features the implementation uses (e.g. "sha_ni", "aes", "avx2"). */
  features: string[];
}

export interface Core {
  readonly info: CoreInfo;

  // ---- hashing (sync: for small inputs; async: off the event loop) ----
  hash(algo: HashAlgorithm, data: Uint8Array | Uint8Array[]): Buffer;
  hashAsync(algo: HashAlgorithm, data: Uint8Array | Uint8Array[]): Promise<Buffer>;

  // ---- compression ----
  compress(spec: CompressionSpec, data: Uint8Array): Buffer;
  compressAsync(spec: CompressionSpec, data: Uint8Array): Promise<Buffer>;
  /**
   * `expectedLength`: exact plaintext length when known (required by restic blobs: zstd frames
   * may lack the content size); pass -1 for unknown (streaming decode, bounded by `maxLength`).
   */
  decompress(codec: 'zstd' | 'zlib', data: Uint8Array, expectedLength: number, maxLength?: number): Buffer;
  decompressAsync(codec: 'zstd' | 'zlib', data: Uint8Array, expectedLength: number, maxLength?: number): Promise<Buffer>;

  // ---- sealing (random IV/nonce from the CSPRNG unless `iv` is given, for test vectors) ----
  seal(spec: SealSpec, plaintext: Uint8Array, iv?: Uint8Array): Buffer;
  /** Throws a CoreError with code EAUTH on MAC failure. */
  open(spec: SealSpec, box: Uint8Array): Buffer;
  sealAsync(spec: SealSpec, plaintext: Uint8Array): Promise<Buffer>;
  openAsync(spec: SealSpec, box: Uint8Array): Promise<Buffer>;
  aeadStream(mode: 'seal' | 'open', key: Uint8Array, nonce: Uint8Array): AeadStream;
  /** Raw ChaCha20 keystream XOR starting at 64-byte block `counter` (for random access). */
  chacha20Xor(key: Uint8Array, nonce: Uint8Array, counter: number, data: Uint8Array): Buffer;

  // ---- key derivation (always async: deliberately slow) ----
  scrypt(password: Uint8Array, salt: Uint8Array, N: number, r: number, p: number, length: number): Promise<Buffer>;
  argon2id(
    password: Uint8Array,
    salt: Uint8Array,
    params: { iterations: number; memoryKiB: number; parallelism: number; length: number },
  ): Promise<Buffer>;
  randomBytes(length: number): Buffer;

  // ---- chunking and the file pipeline ----
  /** Cut points of an in-memory buffer (vectors, tests): chunk lengths in order. */
  chunkBuffer(spec: ChunkerSpec, data: Uint8Array): number[];
  /** Reads, chunks, hashes and (for chunks not in params.known) compresses + seals. */
  processFiles(requests: FileSegmentRequest[], params: PipelineParams): Promise<FileSegmentResult[]>;
  /** Authenticates, decrypts, decompresses and hash-checks blobs of one pack range. */
  decodeBlobs(request: DecodeRequest): Promise<DecodeResult>;
  newBlobSet(): BlobSet;
  /** restic pack assembly in the core; absent in the portable core (packs are then built in JavaScript). */
  newPackWriter?(options: PackWriterOptions): PackWriter;
  /**
   * Compares directories with their previous restic tree blobs in the core (an unchanged re-run
   * builds no object per entry); absent in the portable core (the walk then compares in JavaScript).
   */
  newDirComparer?(options: DirComparerOptions): DirComparer;
  /** A restic restore's regular files written by the core from a local repository; absent in the portable core. */
  newResticRestore?(options: ResticRestoreOptions): ResticRestore;
  /**
   * A restic index file's JSON in packed arrays, or null when it is not in the common form (the
   * caller then decodes it in JavaScript); absent in the portable core.
   */
  decodeIndex?(json: Uint8Array): Promise<PackedIndex | null>;

  // ---- filesystem metadata the Node API lacks or rounds ----
  /** One call per batch of directories; entries sorted by raw name. */
  readDirs(paths: (string | Buffer)[], options?: ReadDirsOptions): Promise<DirListing[]>;
  lstat(path: string | Buffer): EntryStat;
  /** Extended attributes in listxattr order, not following symlinks. EUNSUPPORTED in portable. */
  getXattrs(path: string | Buffer): Promise<Xattr[]>;
  setXattr(path: string | Buffer, name: Uint8Array, value: Uint8Array): Promise<void>;
  // The calls below write into a restore target, `root` (an absolute path, followed as given).
  // Every path is below it, and none of them follows a symlink on its way there: the native
  // core resolves each parent from a descriptor of the root with openat2(RESOLVE_BENEATH |
  // RESOLVE_NO_SYMLINKS), so a directory swapped for a symlink during a restore fails the entry
  // (ENOTDIR) instead of leading out of the target. The portable core checks each parent with
  // lstat first: the same answers, but not proof against such a swap.

  /** utimensat(AT_SYMLINK_NOFOLLOW) with nanoseconds. */
  setTimes(root: Buffer, path: Buffer, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): Promise<void>;
  /** mknod(2): FIFOs, character and block devices. EUNSUPPORTED in portable. */
  mknod(root: Buffer, path: Buffer, mode: number, rdev: number): Promise<void>;
  /**
   * Removes what stands at `path`, never following a symlink; nothing there is fine. A directory
   * is removed with all it holds only with `directories` (else EISDIR): what was looked at with
   * lstat may have been swapped for one since.
   */
  removeEntry(root: Buffer, path: Buffer, options?: { directories?: boolean }): Promise<void>;
  /** A hard link at `path` to `existing` (neither followed if a symlink). */
  linkEntry(root: Buffer, existing: Buffer, path: Buffer): Promise<void>;
  /**
   * Creates or truncates files for writing (O_NOFOLLOW, O_NONBLOCK, mode 0600 until finishFiles), one
   * crossing for many: per path the descriptor, or -1 with the errno and its message (ENOTDIR
   * when a parent is not a real directory beneath the root).
   */
  createFiles(root: Buffer, paths: Buffer[]): Promise<CreatedFile[]>;
  /**
   * Sets owner, mode, extended attributes and times of many restored entries in one crossing,
   * through `fd` (then closed) when given, else by path without following symlinks. Per entry
   * the problems found ("cannot set mode: …"), empty when none; never rejects for one entry.
   */
  finishFiles(root: Buffer, requests: FinishRequest[]): Promise<string[][]>;
  /**
   * Makes directories (mode 0700) in order, one crossing for many (a symlink or a file in a
   * parent's place fails the entry with ENOTDIR): per path errno 0, or the errno and its message.
   */
  makeDirs(root: Buffer, paths: Buffer[]): Promise<MadeEntry[]>;
  /** The same for symlinks: `targets[i]` at `paths[i]`. */
  makeSymlinks(root: Buffer, paths: Buffer[], targets: Buffer[]): Promise<MadeEntry[]>;
}

export interface MadeEntry {
  /** 0 when made. */
  errno: number;
  message?: string;
}

export interface CreatedFile {
  fd: number;
  /** 0 on success. */
  errno: number;
  message?: string;
}

export interface FinishRequest {
  path: Buffer;
  /** An open descriptor handed over (closed by finishFiles), or -1. */
  fd: number;
  /** Owner to set; absent: left as created. */
  owner?: { uid: number; gid: number };
  /** chmod bits; absent for symlinks. */
  mode?: number;
  /**
   * The entry's type as restored (S_IFMT bits of st_mode). By path, metadata is set only if that
   * is still what stands there: a file someone swapped in for a restored directory is not given
   * the directory's owner and mode. Absent: anything but a symlink when `mode` is given, else a
   * symlink.
   */
  kind?: number;
  xattrs: Xattr[];
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
}
