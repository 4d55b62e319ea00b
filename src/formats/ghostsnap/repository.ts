// A ghostsnap repository opened with a password: the data key, the config, and typed access to
// its objects through the Storage interface (formats/ghostsnap.md §1-§5, §9-§11).
import type { Core, SealSpec } from '../../native/types.ts';
import { CoreError } from '../../native/errors.ts';
import type { Storage } from '../../storage/storage.ts';
import { BackupError, CorruptDataError, RepositoryNotFoundError, WrongPasswordError } from '../../backup/errors.ts';
import { createKeyFile, DATA_KEY_LENGTH, defaultKdfParams, encodeKeyFile, openKeyFile, parseKeyFile, type KdfParams } from './keys.ts';
import { decodeConfig, encodeConfig, type GhostsnapConfig } from './repo-config.ts';
import { ChunkIndex, INDEX_KEY } from './chunk-index.ts';
import { isHex64, isUuid, newUuid } from './ids.ts';

export interface StoredObject {
  size: number;
  modified?: Date;
}

export interface DataListing {
  /** Pack id (the file name without ".pack") → file. */
  packs: Map<string, StoredObject>;
  /** Tree id → file. */
  trees: Map<string, StoredObject>;
}

export interface LoadedIndex {
  index: ChunkIndex;
  /** Version of index/main.idx that was read; undefined when there is none yet. */
  etag: string | undefined;
}

export function treeKey(id: string): string {
  return `data/${id}`;
}

export function snapshotKey(id: string): string {
  return `snapshots/${id}`;
}

export class GhostsnapRepository {
  private constructor(
    readonly storage: Storage,
    readonly core: Core,
    readonly config: GhostsnapConfig,
    readonly dataKey: Buffer,
    /** The key file that opened the repository. */
    readonly keyName: string,
  ) {}

  get seal(): SealSpec {
    return { kind: 'chacha20poly1305', key: this.dataKey };
  }

  get location(): string {
    return this.storage.location;
  }

  /**
   * Opens with a password, trying every key file in turn (ghostsnap tries only the first).
   * RepositoryNotFound (exit 10), WrongPassword (exit 11), or CorruptData for an unusable config.
   */
  static async open(storage: Storage, core: Core, password: Uint8Array): Promise<GhostsnapRepository> {
    if (!(await storage.stat('config'))) {
      throw new RepositoryNotFoundError(storage.location, { hint: 'no "config" object there: create a repository with `bolt-agent --tool ghostsnap backup init`, or check the repository string' });
    }
    const config = decodeConfig(await storage.get('config'), storage.location);
    const names: string[] = [];
    for await (const obj of storage.list('keys/')) {
      const name = obj.key.slice('keys/'.length);
      if (name && !name.includes('/')) names.push(name);
    }
    if (names.length === 0) throw new CorruptDataError(`repository ${storage.location} has a config but no key files`);
    const refused: CorruptDataError[] = [];
    let tried = 0;
    for (const name of names) {
      let kf;
      try {
        kf = parseKeyFile(await storage.get(`keys/${name}`), `keys/${name}`);
      } catch (err) {
        if (err instanceof CorruptDataError) {
          refused.push(err);
          continue; // an unusable key file must not lock out the others
        }
        throw err;
      }
      tried += 1;
      const key = await openKeyFile(core, password, kf);
      if (key) return new GhostsnapRepository(storage, core, config, key, name);
    }
    if (tried === 0 && refused[0]) throw refused[0];
    throw new WrongPasswordError(storage.location, {
      details: { keys_tried: tried, ...(refused.length ? { keys_refused: refused.map((e) => e.message) } : {}) },
    });
  }

  /** Creates a repository: one key file, then the config (the config's presence is the commit). */
  static async init(storage: Storage, core: Core, password: Uint8Array, options: { kdf?: KdfParams } = {}): Promise<GhostsnapRepository> {
    if (await storage.stat('config')) {
      throw new BackupError('RepositoryExists', `a repository already exists at ${storage.location}`, { hint: 'use it as it is, or choose another location' });
    }
    const kdf = options.kdf ?? defaultKdfParams(core);
    const dataKey = core.randomBytes(DATA_KEY_LENGTH);
    const keyName = newUuid(core);
    await storage.put(`keys/${keyName}`, encodeKeyFile(await createKeyFile(core, password, dataKey, kdf)));
    const config: GhostsnapConfig = { version: 1, id: newUuid(core), kdf, ...(storage.kind === 'local' ? { transport: 'Local' as const } : {}) };
    await storage.put('config', encodeConfig(config), { ifNoneMatch: true });
    return new GhostsnapRepository(storage, core, config, dataKey, keyName);
  }

  async sealBox(plain: Uint8Array): Promise<Buffer> {
    return this.core.sealAsync(this.seal, plain);
  }

  /** Opens a sealed object; a failed tag becomes CorruptDataError naming `object`. */
  async openBox(bytes: Uint8Array, object: string): Promise<Buffer> {
    try {
      return await this.core.openAsync(this.seal, bytes);
    } catch (err) {
      if (err instanceof CoreError && err.code === 'EAUTH') {
        throw new CorruptDataError(`${object}: authentication failed (damaged, or not sealed with this repository's key)`, { cause: err, details: { object } });
      }
      throw err;
    }
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /** Snapshot names in listing (UUID) order, as ghostsnap lists them. */
  async listSnapshotNames(): Promise<string[]> {
    const names: string[] = [];
    for await (const obj of this.storage.list('snapshots/')) {
      const name = obj.key.slice('snapshots/'.length);
      if (name && !name.includes('/')) names.push(name);
    }
    return names.sort();
  }

  async readSnapshotPlain(name: string): Promise<Buffer> {
    return this.openBox(await this.storage.get(snapshotKey(name)), `snapshot ${name}`);
  }

  /**
   * Unconditional: the name is a fresh random UUID, and a conditional write would leave a
   * lock file beside it for a moment — ghostsnap takes every file in snapshots/ for a snapshot.
   */
  async writeSnapshotPlain(name: string, json: Uint8Array): Promise<void> {
    await this.storage.put(snapshotKey(name), await this.sealBox(json));
  }

  async removeSnapshot(name: string): Promise<void> {
    await this.storage.delete(snapshotKey(name));
  }

  // ---- trees -------------------------------------------------------------------------------

  /** A tree's JSON, after checking that its bytes hash to its name. */
  async readTreePlain(id: string): Promise<Buffer> {
    if (!isHex64(id)) throw new CorruptDataError(`tree id ${JSON.stringify(id)} is not 64 hex digits`);
    const bytes = await this.storage.get(treeKey(id));
    const actual = (await this.core.hashAsync('blake3', bytes)).toString('hex');
    if (actual !== id) throw new CorruptDataError(`tree ${id}: content does not match its name (BLAKE3 ${actual.slice(0, 16)}…)`, { details: { object: `tree ${id}` } });
    return this.openBox(bytes, `tree ${id}`);
  }

  /** Seals and stores a tree; its id is BLAKE3 of the sealed bytes. */
  async writeTreePlain(json: Uint8Array): Promise<{ id: string; size: number }> {
    const sealed = await this.sealBox(json);
    const id = (await this.core.hashAsync('blake3', sealed)).toString('hex');
    await this.storage.put(treeKey(id), sealed);
    return { id, size: sealed.length };
  }

  // ---- index -------------------------------------------------------------------------------

  /** The index and the version read; a missing index is empty. Throws CorruptDataError when unreadable. */
  async loadIndex(): Promise<LoadedIndex> {
    const info = await this.storage.stat(INDEX_KEY);
    if (!info) return { index: new ChunkIndex(), etag: undefined };
    let bytes: Buffer;
    try {
      bytes = await this.storage.get(INDEX_KEY);
    } catch (err) {
      if (err instanceof BackupError && err.kind === 'NotFound') return { index: new ChunkIndex(), etag: undefined };
      throw err;
    }
    const plain = await this.openBox(bytes, INDEX_KEY);
    return { index: ChunkIndex.decode(plain), etag: info.etag };
  }

  /**
   * Replaces the index only if it is still the version `etag` (absent: only if there is none);
   * throws PreconditionFailedError otherwise. Returns the new version.
   */
  async saveIndex(index: ChunkIndex, etag: string | undefined): Promise<string | undefined> {
    const sealed = await this.sealBox(index.encode());
    const result = await this.storage.put(INDEX_KEY, sealed, etag === undefined ? { ifNoneMatch: true } : { ifMatch: etag });
    return result.etag ?? (await this.storage.stat(INDEX_KEY))?.etag;
  }

  // ---- data/ -------------------------------------------------------------------------------

  async listData(): Promise<DataListing> {
    const listing: DataListing = { packs: new Map(), trees: new Map() };
    for await (const obj of this.storage.list('data/')) {
      const name = obj.key.slice('data/'.length);
      const entry: StoredObject = { size: obj.size, ...(obj.modified ? { modified: obj.modified } : {}) };
      if (name.endsWith('.pack') && isUuid(name.slice(0, -'.pack'.length))) listing.packs.set(name.slice(0, -'.pack'.length), entry);
      else if (isHex64(name)) listing.trees.set(name, entry);
    }
    return listing;
  }
}
