// Test-only access to restic repositories on disk, written straight from formats/restic.md
// (§2 crypto, §4 compression, §5 packs, §6 index) so the pure format modules can be checked
// against bytes that restic itself wrote, and so tests can hand restic files we encoded.
// Production code for this lives elsewhere; this helper favours brevity over speed.

import { createCipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compress, decompress } from 'zstd-napi';

export interface MasterKey {
  encrypt: Buffer;
  macK: Buffer;
  macR: Buffer;
}

export interface IndexedBlob {
  pack: string;
  type: 'data' | 'tree';
  offset: number;
  length: number;
  uncompressedLength?: number;
}

function leToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

function bigIntToLe(v: bigint, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** RFC 8439 Poly1305 with the 32-byte one-time key r || s (r clamped here). */
export function poly1305(oneTimeKey: Uint8Array, msg: Uint8Array): Buffer {
  const r = leToBigInt(oneTimeKey.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = leToBigInt(oneTimeKey.subarray(16, 32));
  const p = (1n << 130n) - 5n;
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16);
    acc = ((acc + leToBigInt(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  return bigIntToLe((acc + s) & ((1n << 128n) - 1n), 16);
}

function mac(key: MasterKey, iv: Uint8Array, ct: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-128-ecb', key.macK, null);
  cipher.setAutoPadding(false);
  const s = cipher.update(iv);
  return poly1305(Buffer.concat([key.macR, s]), ct);
}

function aesCtr(key: MasterKey, iv: Uint8Array, data: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-ctr', key.encrypt, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

export function seal(key: MasterKey, plaintext: Uint8Array, iv: Uint8Array = randomBytes(16)): Buffer {
  const ct = aesCtr(key, iv, plaintext);
  return Buffer.concat([iv, ct, mac(key, iv, ct)]);
}

export function open(key: MasterKey, box: Uint8Array): Buffer {
  if (box.length < 32) throw new Error('sealed box shorter than 32 bytes');
  const iv = box.subarray(0, 16);
  const ct = box.subarray(16, box.length - 16);
  if (!mac(key, iv, ct).equals(box.subarray(box.length - 16))) throw new Error('MAC mismatch: wrong key or corrupt data');
  return aesCtr(key, iv, ct);
}

export function masterKeyFromJson(json: string): MasterKey {
  const k = JSON.parse(json) as { mac: { k: string; r: string }; encrypt: string };
  return { encrypt: Buffer.from(k.encrypt, 'base64'), macK: Buffer.from(k.mac.k, 'base64'), macR: Buffer.from(k.mac.r, 'base64') };
}

function masterKeyJson(k: MasterKey): string {
  return JSON.stringify({ mac: { k: k.macK.toString('base64'), r: k.macR.toString('base64') }, encrypt: k.encrypt.toString('base64') });
}

function userKey(password: string, salt: Buffer, N: number, r: number, p: number): MasterKey {
  const out = scryptSync(Buffer.from(password, 'utf8'), salt, 64, { N, r, p, maxmem: 256 * 1024 * 1024 });
  return { encrypt: out.subarray(0, 32), macK: out.subarray(32, 48), macR: out.subarray(48, 64) };
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...listFiles(join(dir, entry.name)).map((f) => join(entry.name, f)));
    else if (/^[0-9a-f]{64}$/.test(entry.name)) out.push(entry.name);
  }
  return out;
}

export class ResticRepo {
  readonly version: number;
  readonly config: { version: number; id: string; chunker_polynomial: string };
  private blobs: Map<string, IndexedBlob> | undefined;

  constructor(
    readonly dir: string,
    readonly key: MasterKey,
  ) {
    const config = JSON.parse(open(key, readFileSync(join(dir, 'config'))).toString('utf8'));
    this.config = config;
    this.version = config.version;
  }

  /** Opens with the password: scrypt over each key file until one opens. */
  static open(dir: string, password: string): ResticRepo {
    for (const name of listFiles(join(dir, 'keys'))) {
      const kf = JSON.parse(readFileSync(join(dir, 'keys', name), 'utf8'));
      const uk = userKey(password, Buffer.from(kf.salt, 'base64'), kf.N, kf.r, kf.p);
      try {
        return new ResticRepo(dir, masterKeyFromJson(open(uk, Buffer.from(kf.data, 'base64')).toString('utf8')));
      } catch {
        // wrong password for this key file: try the next one
      }
    }
    throw new Error(`no key file of ${dir} opens with the password`);
  }

  /**
   * Creates a repository from scratch (formats/restic.md §2.5) with cheap scrypt parameters so
   * that restic opens it quickly; restic accepts any valid parameters.
   */
  static create(dir: string, password: string, options: { version: 1 | 2; polynomial: string }): ResticRepo {
    for (const sub of ['keys', 'snapshots', 'index', 'locks', 'data']) mkdirSync(join(dir, sub), { recursive: true });
    const master: MasterKey = { encrypt: randomBytes(32), macK: randomBytes(16), macR: randomBytes(16) };
    const salt = randomBytes(64);
    const [N, r, p] = [16384, 8, 1];
    const keyFile = JSON.stringify({
      created: new Date().toISOString(),
      username: 'test',
      hostname: 'test',
      kdf: 'scrypt',
      N,
      r,
      p,
      salt: salt.toString('base64'),
      data: seal(userKey(password, salt, N, r, p), Buffer.from(masterKeyJson(master))).toString('base64'),
    });
    writeFileSync(join(dir, 'keys', sha256(Buffer.from(keyFile))), keyFile);
    const config = JSON.stringify({ version: options.version, id: randomBytes(32).toString('hex'), chunker_polynomial: options.polynomial });
    writeFileSync(join(dir, 'config'), seal(master, Buffer.from(config)));
    return new ResticRepo(dir, master);
  }

  list(kind: 'snapshots' | 'index' | 'locks' | 'keys' | 'data'): string[] {
    return listFiles(join(this.dir, kind)).map((f) => f.split('/').pop()!);
  }

  /** An index, snapshot or lock file's JSON bytes (§4.1), after checking its storage ID. */
  readUnpacked(kind: 'snapshots' | 'index' | 'locks', id: string): Buffer {
    const stored = readFileSync(join(this.dir, kind, id));
    if (sha256(stored) !== id) throw new Error(`${kind}/${id}: content does not match its name`);
    const plain = open(this.key, stored);
    if (this.version === 1 || plain[0] === 0x7b || plain[0] === 0x5b) return plain;
    if (plain[0] !== 0x02) throw new Error(`${kind}/${id}: unknown encoding byte ${plain[0]}`);
    return decompress(plain.subarray(1));
  }

  /** Writes an index, snapshot or lock file as restic would (v2: 0x02 || zstd); returns its ID. */
  writeUnpacked(kind: 'snapshots' | 'index' | 'locks', json: Uint8Array): string {
    const plain = this.version === 1 ? Buffer.from(json) : Buffer.concat([Buffer.from([0x02]), compress(json)]);
    const stored = seal(this.key, plain);
    const id = sha256(stored);
    mkdirSync(join(this.dir, kind), { recursive: true });
    writeFileSync(join(this.dir, kind, id), stored);
    return id;
  }

  /** Blob locations from all index files (raw JSON.parse: this helper must not depend on index-json.ts). */
  index(): Map<string, IndexedBlob> {
    if (this.blobs) return this.blobs;
    const blobs = new Map<string, IndexedBlob>();
    for (const id of this.list('index')) {
      const idx = JSON.parse(this.readUnpacked('index', id).toString('utf8'));
      for (const pack of idx.packs) {
        for (const b of pack.blobs) {
          blobs.set(`${b.type}:${b.id}`, {
            pack: pack.id,
            type: b.type,
            offset: b.offset,
            length: b.length,
            ...(b.uncompressed_length ? { uncompressedLength: b.uncompressed_length } : {}),
          });
        }
      }
    }
    this.blobs = blobs;
    return blobs;
  }

  /** A blob's plaintext (§5.4), checked against its ID. */
  loadBlob(type: 'data' | 'tree', id: string): Buffer {
    const loc = this.index().get(`${type}:${id}`);
    if (!loc) throw new Error(`${type} blob ${id} is not indexed`);
    const pack = readFileSync(join(this.dir, 'data', loc.pack.slice(0, 2), loc.pack));
    let plain = open(this.key, pack.subarray(loc.offset, loc.offset + loc.length));
    if (loc.uncompressedLength !== undefined) {
      plain = decompress(plain);
      if (plain.length !== loc.uncompressedLength) throw new Error(`blob ${id}: decompressed to ${plain.length} bytes`);
    }
    if (sha256(plain) !== id) throw new Error(`blob ${id}: content does not match its ID`);
    return plain;
  }

  /** Pack header entries (§5.3), for cross-checking the index. */
  packHeader(packId: string): Array<{ type: number; length: number; uncompressedLength: number; id: string }> {
    const pack = readFileSync(join(this.dir, 'data', packId.slice(0, 2), packId));
    const hlen = pack.readUInt32LE(pack.length - 4);
    const hdr = open(this.key, pack.subarray(pack.length - 4 - hlen, pack.length - 4));
    const entries = [];
    for (let pos = 0; pos < hdr.length; ) {
      const type = hdr[pos]!;
      const compressed = type >= 2;
      entries.push({
        type,
        length: hdr.readUInt32LE(pos + 1),
        uncompressedLength: compressed ? hdr.readUInt32LE(pos + 5) : 0,
        id: hdr.subarray(pos + (compressed ? 9 : 5), pos + (compressed ? 41 : 37)).toString('hex'),
      });
      pos += compressed ? 41 : 37;
    }
    return entries;
  }

  /** Every tree blob reachable from the given root, parent before children (raw JSON walk). */
  treesFrom(rootId: string): Array<{ id: string; bytes: Buffer }> {
    const out: Array<{ id: string; bytes: Buffer }> = [];
    const seen = new Set<string>();
    const visit = (id: string): void => {
      if (seen.has(id)) return;
      seen.add(id);
      const bytes = this.loadBlob('tree', id);
      out.push({ id, bytes });
      for (const node of JSON.parse(bytes.toString('utf8')).nodes) if (node.subtree) visit(node.subtree);
    };
    visit(rootId);
    return out;
  }
}
