// A restic repository opened with a password: the master key, the config, and typed access to
// its files through the Storage interface (formats/restic.md §1-§6).
import type { Core, PackedIndex, SealSpec } from '../../native/types.ts';
import { CoreError } from '../../native/errors.ts';
import type { Storage } from '../../storage/storage.ts';
import { BackupError, CorruptDataError, RepositoryNotFoundError, WrongPasswordError } from '../../backup/errors.ts';
import { mapLimit } from '../../engine/concurrency.ts';
import { calibrateScrypt, createKeyFile, openKeyFile, parseKeyFile, MASTER_KEY_LENGTH, type ResticKey, type ScryptParams } from './keys.ts';
import { decodeRepositoryConfig, encodeRepositoryConfig, type RepositoryConfig } from './repo-config.ts';
import { decodeUnpacked, encodeUnpacked } from './unpacked.ts';
import { decodeIndex, type BlobType, type ResticIndex } from './index-json.ts';
import { MasterIndex, type BlobLocation } from './master-index.ts';
import { formatPolynomial, randomIrreduciblePolynomial } from './polynomial.ts';
import { idToHex, isId } from './ids.ts';

export type FileType = 'keys' | 'snapshots' | 'index' | 'locks' | 'data';

const TREE_PACK_MAX = 32 * 1024 * 1024;
const TREE_PACK_CACHE = 64 * 1024 * 1024;

/** restic 0.14 tries at most this many key files. */
const MAX_KEYS_TRIED = 20;

export function objectKey(type: FileType, id: string): string {
  return type === 'data' ? `data/${id.slice(0, 2)}/${id}` : `${type}/${id}`;
}

/** The folders of a restic repository besides data/00…ff. */
const RESTIC_FOLDERS = ['index', 'keys', 'locks', 'snapshots'];

export interface InitOptions {
  version?: 1 | 2;
  /** Hex polynomial; random irreducible when absent. */
  polynomial?: string;
  scrypt?: ScryptParams;
}

export interface IndexLoadProblem {
  indexId: string;
  message: string;
}

export class ResticRepository {
  private indexCache: MasterIndex | undefined;

  private constructor(
    readonly storage: Storage,
    readonly core: Core,
    readonly config: RepositoryConfig,
    readonly masterKey: ResticKey,
    /** The key file that opened the repository. */
    readonly keyId: string,
  ) {}

  get seal(): SealSpec {
    return { kind: 'restic', key: this.masterKey };
  }

  get version(): 1 | 2 {
    return this.config.version;
  }

  get location(): string {
    return this.storage.location;
  }

  /** Opens with a password; RepositoryNotFound (exit 10) or WrongPassword (exit 11) otherwise. */
  static async open(storage: Storage, core: Core, password: Uint8Array): Promise<ResticRepository> {
    const configInfo = await storage.stat('config');
    if (!configInfo) throw new RepositoryNotFoundError(storage.location, { hint: 'no "config" object there: create a repository with `bolt-agent backup init`, or check the repository string' });
    const keyIds: string[] = [];
    for await (const obj of storage.list('keys/')) {
      const name = obj.key.slice('keys/'.length);
      if (isId(name)) keyIds.push(name);
    }
    if (keyIds.length === 0) throw new CorruptDataError(`repository ${storage.location} has a config but no key files`);
    keyIds.sort();
    let masterKey: ResticKey | undefined;
    let keyId = '';
    for (const id of keyIds.slice(0, MAX_KEYS_TRIED)) {
      const bytes = await storage.get(`keys/${id}`);
      let kf;
      try {
        kf = parseKeyFile(bytes, id);
      } catch {
        continue; // an unusable key file must not lock out the others
      }
      masterKey = await openKeyFile(core, password, kf);
      if (masterKey) {
        keyId = id;
        break;
      }
    }
    if (!masterKey) throw new WrongPasswordError(storage.location, { details: { keys_tried: Math.min(keyIds.length, MAX_KEYS_TRIED) } });
    const sealed = await storage.get('config');
    let plain: Buffer;
    try {
      plain = core.open({ kind: 'restic', key: masterKey }, sealed);
    } catch (err) {
      throw new CorruptDataError(`repository config of ${storage.location} does not authenticate with the master key`, { cause: err });
    }
    return new ResticRepository(storage, core, decodeRepositoryConfig(plain), masterKey, keyId);
  }

  /** Creates a repository: key file, then config (restic's order). */
  static async init(storage: Storage, core: Core, password: Uint8Array, options: InitOptions = {}): Promise<ResticRepository> {
    if (await storage.stat('config')) {
      throw new BackupError('RepositoryExists', `a repository already exists at ${storage.location}`, { hint: 'use it as it is, or choose another location' });
    }
    const masterKey = core.randomBytes(MASTER_KEY_LENGTH);
    const polynomial = options.polynomial ?? formatPolynomial(randomIrreduciblePolynomial((n) => core.randomBytes(n)));
    const config: RepositoryConfig = {
      version: options.version ?? 2,
      id: idToHex(core.randomBytes(32)),
      chunkerPolynomial: polynomial,
    };
    decodeRepositoryConfig(encodeRepositoryConfig(config)); // validates the polynomial
    const keyFile = await createKeyFile(core, password, masterKey, options.scrypt ?? (await calibrateScrypt(core)));
    const keyId = idToHex(core.hash('sha256', keyFile));
    // restic's layout on a local disk: every folder exists from the start (packs go to
    // data/00…ff by the first two digits of their id).
    await storage.createFolders?.([...RESTIC_FOLDERS, ...Array.from({ length: 256 }, (_, i) => `data/${i.toString(16).padStart(2, '0')}`)]);
    await storage.put(`keys/${keyId}`, keyFile, { ifNoneMatch: true });
    await storage.put('config', core.seal({ kind: 'restic', key: masterKey }, encodeRepositoryConfig(config)), { ifNoneMatch: true });
    return new ResticRepository(storage, core, config, masterKey, keyId);
  }

  /** Adds a key file for another password (restic `key add`). */
  async addKey(password: Uint8Array, params?: ScryptParams): Promise<string> {
    const keyFile = await createKeyFile(this.core, password, this.masterKey, params ?? (await calibrateScrypt(this.core)));
    const id = idToHex(this.core.hash('sha256', keyFile));
    await this.storage.put(`keys/${id}`, keyFile);
    return id;
  }

  async list(type: Exclude<FileType, 'data'>): Promise<string[]> {
    const ids: string[] = [];
    for await (const obj of this.storage.list(`${type}/`)) {
      const name = obj.key.slice(type.length + 1);
      if (isId(name)) ids.push(name);
    }
    return ids.sort();
  }

  /** Every pack file in data/ with its size. */
  async listPacks(): Promise<Map<string, number>> {
    const packs = new Map<string, number>();
    for await (const obj of this.storage.list('data/')) {
      const name = obj.key.slice(obj.key.lastIndexOf('/') + 1);
      if (isId(name)) packs.set(name, obj.size);
    }
    return packs;
  }

  /** Reads, verifies (storage id), opens and decodes an index, snapshot or lock file. */
  async readUnpacked(type: 'index' | 'snapshots' | 'locks', id: string): Promise<Buffer> {
    const what = `${type === 'snapshots' ? 'snapshot' : type === 'locks' ? 'lock' : 'index'} ${id}`;
    const bytes = await this.storage.get(objectKey(type, id));
    const actual = idToHex(await this.core.hashAsync('sha256', bytes));
    if (actual !== id) throw new CorruptDataError(`${what}: content does not match its name (SHA-256 ${actual.slice(0, 16)}…)`, { details: { object: `${type}/${id}` } });
    let plain: Buffer;
    try {
      plain = await this.core.openAsync(this.seal, bytes);
    } catch (err) {
      if (err instanceof CoreError && err.code === 'EAUTH') throw new CorruptDataError(`${what}: authentication failed (corrupt, or not sealed with this repository's key)`, { cause: err, details: { object: `${type}/${id}` } });
      throw err;
    }
    return decodeUnpacked(this.core, this.version, plain, what);
  }

  /** Seals and writes an unpacked file; returns its id (SHA-256 of the stored bytes). */
  async writeUnpacked(type: 'index' | 'snapshots' | 'locks', json: Uint8Array): Promise<string> {
    const sealed = await this.core.sealAsync(this.seal, await encodeUnpacked(this.core, this.version, json));
    const id = idToHex(await this.core.hashAsync('sha256', sealed));
    await this.storage.put(objectKey(type, id), sealed);
    return id;
  }

  async removeFile(type: FileType, id: string): Promise<void> {
    await this.storage.delete(objectKey(type, id));
  }

  /**
   * Loads every index file. With `tolerant`, unreadable index files are reported instead of
   * failing (for `check`); otherwise the first one fails, as restic does.
   */
  async loadIndex(options: { tolerant?: boolean; refresh?: boolean } = {}): Promise<{ index: MasterIndex; problems: IndexLoadProblem[] }> {
    if (this.indexCache && !options.refresh && !options.tolerant && this.indexProblems.length === 0) return { index: this.indexCache, problems: [] };
    const ids = await this.list('index');
    const problems: IndexLoadProblem[] = [];
    const decoded = await mapLimit(ids, 8, async (id): Promise<[string, ResticIndex | PackedIndex] | undefined> => {
      try {
        const json = await this.readUnpacked('index', id);
        return [id, (await this.core.decodeIndex?.(json)) ?? decodeIndex(json)];
      } catch (err) {
        if (!options.tolerant) throw err;
        problems.push({ indexId: id, message: (err as Error).message });
        return undefined;
      }
    });
    const index = new MasterIndex();
    for (const entry of decoded) {
      if (!entry) continue;
      if ('packIds' in entry[1]) index.addPackedIndex(entry[0], entry[1]);
      else index.addIndex(entry[0], entry[1]);
    }
    if (!options.tolerant) this.indexCache = index;
    return { index, problems };
  }

  /** Index files that could not be read by index(). */
  indexProblems: IndexLoadProblem[] = [];

  /**
   * The index for reading and adding data: an unreadable index file is skipped (its blobs are
   * then unknown: restores of files in them fail, backups store such data again) and recorded in
   * indexProblems. Deleting data (prune) uses loadIndex() without tolerance instead. `reload`
   * reads the index files again (a lock holder must not trust what was read before it held it).
   */
  async index(options: { reload?: boolean } = {}): Promise<MasterIndex> {
    if (!this.indexCache || options.reload) {
      // Loads may overlap (a lock attempt abandoned while its read runs): the last one started wins.
      const load = ++this.indexLoads;
      const { index, problems } = await this.loadIndex({ tolerant: true });
      if (load === this.indexLoads) {
        this.indexCache = index;
        this.indexProblems = problems;
      }
      return index;
    }
    return this.indexCache;
  }

  private indexLoads = 0;

  /** One blob's plaintext, hash-checked; tries further locations when one is damaged. */
  async loadBlob(type: BlobType, id: string, index?: MasterIndex): Promise<Buffer> {
    const idx = index ?? (await this.index());
    const locations = idx.lookup(type, id);
    if (locations.length === 0) throw new CorruptDataError(`${type} blob ${id} is not in the index`, { details: { blob: id } });
    let lastError: Error | undefined;
    for (const loc of locations) {
      try {
        return await this.readBlobAt(loc, id, type, idx);
      } catch (err) {
        lastError = err as Error;
      }
    }
    throw new CorruptDataError(`${type} blob ${id} cannot be read: ${lastError?.message ?? 'unknown error'}`, { cause: lastError, details: { blob: id } });
  }

  /**
   * Tree packs are read whole and kept (up to TREE_PACK_CACHE bytes): walking a snapshot reads
   * thousands of small tree blobs that sit together in a few packs.
   */
  private readonly treePacks = new Map<string, Promise<Buffer>>();
  private treePackBytes = 0;

  private async blobBytes(loc: BlobLocation, type: BlobType, index: MasterIndex | undefined): Promise<Buffer> {
    const pack = index?.packs.get(loc.packId);
    if (type !== 'tree' || !pack || pack.type !== 'tree' || pack.size > TREE_PACK_MAX) {
      return this.storage.get(objectKey('data', loc.packId), { offset: loc.offset, length: loc.length });
    }
    let whole = this.treePacks.get(loc.packId);
    if (!whole) {
      whole = this.storage.get(objectKey('data', loc.packId));
      this.treePacks.set(loc.packId, whole);
      this.treePackBytes += pack.size;
      whole.catch(() => this.treePacks.delete(loc.packId));
      // Evict the oldest packs beyond the budget (Map keeps insertion order).
      for (const [id] of this.treePacks) {
        if (this.treePackBytes <= TREE_PACK_CACHE || id === loc.packId) break;
        this.treePacks.delete(id);
        this.treePackBytes -= index?.packs.get(id)?.size ?? 0;
      }
    }
    const bytes = await whole;
    if (loc.offset + loc.length > bytes.length) throw new CorruptDataError(`pack ${loc.packId} is shorter than the index says`, { details: { pack: loc.packId } });
    return bytes.subarray(loc.offset, loc.offset + loc.length);
  }

  async readBlobAt(loc: BlobLocation, id: string, type: BlobType = 'data', index?: MasterIndex): Promise<Buffer> {
    const blob = { offset: 0, rawLength: loc.uncompressedLength, compressed: loc.uncompressedLength > 0, id: Buffer.from(id, 'hex') };
    // A local pack is read by the core (just the blob's range): no pack cache held in memory,
    // no buffer through JavaScript. Remote packs go through blobBytes and its tree pack cache.
    const localFile = this.storage.localFile?.(objectKey('data', loc.packId));
    const source =
      localFile !== undefined
        ? { file: { path: localFile, offset: loc.offset, length: loc.length }, blobs: [{ ...blob, length: loc.length }] }
        : await this.blobBytes(loc, type, index).then((data) => ({ data, blobs: [{ ...blob, length: data.length }] }));
    const result = await this.core.decodeBlobs({ ...source, seal: this.seal, codec: 'zstd', hash: 'sha256' });
    const error = result.errors[0];
    if (error) throw new CorruptDataError(`pack ${loc.packId} at ${loc.offset}: ${error.message}`, { details: { pack: loc.packId } });
    const plain = result.plaintexts[0];
    if (!plain) throw new CorruptDataError(`pack ${loc.packId} at ${loc.offset}: no data`);
    return plain;
  }

  /** Forgets the cached index (after this process wrote or removed index files). */
  invalidateIndex(): void {
    this.indexCache = undefined;
    this.indexProblems = [];
  }
}
