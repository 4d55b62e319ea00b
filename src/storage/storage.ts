// The one interface both repository formats use to reach their objects. Keys are relative to
// the repository root, '/'-separated, without a leading '/': "config", "keys/<id>",
// "data/ab/ab…". Backends map them to files (local) or object keys under a prefix.

export interface ObjectInfo {
  /** Key relative to the repository root. */
  key: string;
  size: number;
  /** Last modification, when the backend knows it. */
  modified?: Date;
  /** Opaque version tag for conditional writes (S3/Azure ETag; local: derived from inode/mtime/size). */
  etag?: string;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface PutOptions {
  /** Write only if the object's current etag equals this (optimistic concurrency). */
  ifMatch?: string;
  /** Write only if the object does not exist yet. */
  ifNoneMatch?: boolean;
}

export interface PutResult {
  etag?: string;
}

/**
 * Bytes to store: one buffer, several buffers written back to back, a sized stream, or a file
 * (read straight into the parts being sent, without intermediate buffers). A stream's chunk is
 * consumed (copied or written) before the next one is requested, so a stream may reuse one buffer.
 */
export type PutBody =
  | Uint8Array
  | Uint8Array[]
  | { stream: AsyncIterable<Uint8Array>; size: number }
  | { file: string; size: number };

/**
 * A temporary file for an object written piece by piece (a pack), which the backend publishes
 * under its final key without holding it in memory: the local backend creates it inside the
 * repository and renames it into place; others stream it up.
 */
export interface SpoolFile {
  readonly path: string;
  /** Makes the file's bytes the object `key` (atomically) and removes the temporary file. */
  publish(key: string, size: number): Promise<PutResult>;
  /** Removes the temporary file. */
  discard(): Promise<void>;
}

export interface Storage {
  /** Human-readable location with secrets removed, e.g. "s3:http://127.0.0.1:9000/bucket/prefix". */
  readonly location: string;
  /** Backend kind, for messages and metrics. */
  readonly kind: 'local' | 's3' | 'minio' | 'azure';

  /** Objects whose key starts with `prefix` (e.g. "data/" lists all packs, recursively). */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** null when the object does not exist. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Whole object, or a byte range. Throws NotFound (BackupError kind 'NotFound') when missing. */
  get(key: string, range?: ByteRange): Promise<Buffer>;
  /** Streams a whole object (for objects too big to hold in memory). */
  getStream(key: string): Promise<AsyncIterable<Uint8Array>>;
  /** Creates or replaces an object atomically: readers see the old or the new bytes, never a part. */
  put(key: string, body: PutBody, options?: PutOptions): Promise<PutResult>;
  /** Optional: a spool file that publish() moves into place without copying (see SpoolFile). */
  createSpool?(): Promise<SpoolFile>;
  /** Optional: a folder for temporary files that adoptFile() can move into the repository cheaply. */
  spoolDirectory?(): Promise<string>;
  /** Optional: makes a complete temporary file from spoolDirectory() the object `key` (atomically). */
  adoptFile?(tempPath: string, key: string): Promise<PutResult>;
  /** Optional (local storage): the file holding `key`, for readers that read it themselves. */
  localFile?(key: string): string;
  /** Optional (local storage): makes the folders that keys under these prefixes will live in. */
  createFolders?(prefixes: readonly string[]): Promise<void>;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
