// restic tree blobs (formats/restic.md §7): the JSON list of a directory's entries. A tree's ID
// is the SHA-256 of its bytes, so encodeTree must reproduce restic's bytes exactly (field order,
// omitempty, escaping, sort order, trailing newline) for unchanged directories to deduplicate
// against trees restic wrote.

import { CorruptDataError } from '../../backup/errors.ts';
import type { NodeType } from './file-mode.ts';
import {
  goJsonArray,
  goJsonBytes,
  goJsonInteger,
  goJsonString,
  goJsonStringIsPlain,
} from './go-json.ts';
import {
  asObject,
  optionalArray,
  parseGoJson,
  readBytes,
  readId,
  readOptionalId,
  readString,
  readTime,
  readUint,
  readUintBig,
  schemaError,
  type JsonValue,
} from './go-json-parse.ts';
import { goQuote, goUnquote } from './go-quote.ts';
import { GO_ZERO_TIME as GO_ZERO_TIME_REF, parseRfc3339, writeRfc3339Nano, type GoTime } from '../../util/go-time.ts';
import { isValidUtf8 } from './go-utf8.ts';
import { Utf8Sink } from '../../util/utf8-sink.ts';
import { keepOutOfTopTier } from '../../util/jit-hints.ts';

export interface ExtendedAttribute {
  /** Raw attribute name, e.g. `user.comment`. */
  name: Buffer;
  value: Buffer;
}

/**
 * One directory entry. Optional fields are left out of the JSON when absent or empty (Go
 * omitempty); decodeTree sets them only when they are non-empty.
 */
export interface ResticNode {
  /** Raw name bytes (any bytes but `/` and NUL). */
  name: Buffer;
  type: NodeType;
  /** Go FileMode (see file-mode.ts); 0 is omitted. */
  mode?: number;
  mtime: GoTime;
  /** restic stores mtime here unless `--with-atime`. */
  atime: GoTime;
  ctime: GoTime;
  /** Always written, also when 0. */
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  inode?: bigint;
  /** st_dev, written for every node type. */
  deviceId?: bigint;
  /** Files only: byte length. */
  size?: number;
  /** st_nlink; restic writes it for file, symlink, dev and chardev. */
  links?: number;
  /** Symlink target, raw bytes. */
  linkTarget?: Buffer;
  /** In `listxattr` order. */
  extendedAttributes?: ExtendedAttribute[];
  /** st_rdev of dev / chardev nodes. */
  device?: bigint;
  /** Data blob IDs (lower-case hex): an array for files (`[]` when empty), null otherwise. */
  content: string[] | null;
  /** Dirs: the tree blob ID of the directory's contents. */
  subtree?: string;
  error?: string;
}

const WRITABLE_TYPES: ReadonlySet<string> = new Set(['file', 'dir', 'symlink', 'dev', 'chardev', 'fifo', 'socket']);
const READABLE_TYPES: ReadonlySet<string> = new Set([...WRITABLE_TYPES, 'irregular']);
const ID_PATTERN = /^[0-9a-f]{64}$/;

// Validation messages are built only on failure: a node is written once per directory entry.

function checkId(id: string, node: ResticNode, field: string): string {
  if (!ID_PATTERN.test(id)) throw new RangeError(`${nodeLabel(node)} ${field}: not a lower-case 64-digit hex ID: ${JSON.stringify(id)}`);
  return id;
}

function checkUint(value: number, bits: 32 | 64, node: ResticNode, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || (bits === 32 && value > 0xffff_ffff)) {
    throw new RangeError(`${nodeLabel(node)} ${field}: not an unsigned ${bits}-bit integer: ${value}`);
  }
  return value;
}

function checkUintBig(value: bigint, node: ResticNode, field: string): string {
  if (value < 0n || value >= 1n << 64n) throw new RangeError(`${nodeLabel(node)} ${field}: not an unsigned 64-bit integer: ${value}`);
  return goJsonInteger(value);
}

function nodeLabel(node: ResticNode): string {
  return `node ${JSON.stringify(goQuote(node.name))}`;
}

/** Name bytes that goQuote keeps and Go's JSON writes as they are: printable ASCII but `"` `\` `<` `>` `&`. */
function plainName(name: Uint8Array): boolean {
  for (let i = 0; i < name.length; i++) {
    const b = name[i]!;
    if (b < 0x20 || b > 0x7e || b === 0x22 || b === 0x5c || b === 0x3c || b === 0x3e || b === 0x26) return false;
  }
  return true;
}

function writeString(sink: Utf8Sink, value: string): void {
  if (!goJsonStringIsPlain(value)) return sink.write(goJsonString(value));
  sink.byte(0x22);
  sink.write(value);
  sink.byte(0x22);
}

function writeTime(sink: Utf8Sink, t: GoTime): void {
  sink.byte(0x22);
  writeRfc3339Nano(sink, t);
  sink.byte(0x22);
}

/**
 * One node's JSON exactly as restic writes it, member by member in Go's field order with
 * omitempty by hand, straight into the sink: this runs for every directory entry, and composing
 * strings left ~30 behind per node (a directory of 18k entries: ~90 MB of garbage at once).
 */
function writeNode(sink: Utf8Sink, node: ResticNode): void {
  if (node.name.length === 0) throw new RangeError('node with an empty name');
  if (!WRITABLE_TYPES.has(node.type)) throw new RangeError(`${nodeLabel(node)}: type ${JSON.stringify(node.type)} cannot be written`);
  if (node.type === 'file' ? node.content === null : node.content !== null) {
    throw new RangeError(`${nodeLabel(node)}: content must be ${node.type === 'file' ? 'an array for a file' : `null for a ${node.type}`}`);
  }
  if ((node.type === 'dir') !== (node.subtree !== undefined)) {
    throw new RangeError(`${nodeLabel(node)}: ${node.type === 'dir' ? 'a dir needs a subtree' : 'only a dir has a subtree'}`);
  }
  sink.ascii('{"name":');
  if (plainName(node.name)) {
    sink.byte(0x22);
    sink.raw(node.name);
    sink.byte(0x22);
  } else sink.write(goJsonString(goQuote(node.name)));
  sink.ascii(',"type":"');
  sink.ascii(node.type);
  sink.byte(0x22);
  if (node.mode) {
    sink.ascii(',"mode":');
    sink.uint(checkUint(node.mode, 32, node, 'mode'));
  }
  sink.ascii(',"mtime":');
  writeTime(sink, node.mtime);
  sink.ascii(',"atime":');
  writeTime(sink, node.atime);
  sink.ascii(',"ctime":');
  writeTime(sink, node.ctime);
  sink.ascii(',"uid":');
  sink.uint(checkUint(node.uid, 32, node, 'uid'));
  sink.ascii(',"gid":');
  sink.uint(checkUint(node.gid, 32, node, 'gid'));
  if (node.user) {
    sink.ascii(',"user":');
    writeString(sink, node.user);
  }
  if (node.group) {
    sink.ascii(',"group":');
    writeString(sink, node.group);
  }
  if (node.inode) sink.ascii(',"inode":' + checkUintBig(node.inode, node, 'inode'));
  if (node.deviceId) sink.ascii(',"device_id":' + checkUintBig(node.deviceId, node, 'device_id'));
  if (node.size) {
    sink.ascii(',"size":');
    sink.uint(checkUint(node.size, 64, node, 'size'));
  }
  if (node.links) {
    sink.ascii(',"links":');
    sink.uint(checkUint(node.links, 64, node, 'links'));
  }
  const target = node.linkTarget;
  if (target !== undefined && target.length > 0) {
    sink.ascii(',"linktarget":');
    sink.write(goJsonString(target));
    // restic 0.14 stores the target lossily (invalid UTF-8 → U+FFFD); 0.16+ adds the raw bytes
    // when they are not valid UTF-8 and prefers them on read. 0.14 ignores the extra field.
    if (!isValidUtf8(target)) sink.ascii(',"linktarget_raw":' + goJsonBytes(target));
  }
  const xattrs = node.extendedAttributes;
  if (xattrs !== undefined && xattrs.length > 0) {
    sink.write(',"extended_attributes":' + goJsonArray(xattrs.map((a) => '{"name":' + goJsonString(a.name) + ',"value":' + goJsonBytes(a.value) + '}')));
  }
  if (node.device) sink.ascii(',"device":' + checkUintBig(node.device, node, 'device'));
  if (node.content === null) {
    sink.ascii(',"content":null');
  } else {
    sink.ascii(',"content":[');
    for (let i = 0; i < node.content.length; i++) {
      if (i > 0) sink.byte(0x2c);
      sink.quoted(checkId(node.content[i]!, node, 'content'));
    }
    sink.byte(0x5d);
  }
  if (node.subtree) {
    sink.ascii(',"subtree":');
    sink.quoted(checkId(node.subtree, node, 'subtree'));
  }
  if (node.error) {
    sink.ascii(',"error":');
    sink.write(goJsonString(node.error));
  }
  sink.byte(0x7d);
}

keepOutOfTopTier(writeNode);

/** The JSON of one node, exactly as restic writes it. */
export function encodeNode(node: ResticNode): string {
  const sink = new Utf8Sink(512);
  writeNode(sink, node);
  return sink.bytes().toString('utf8');
}

/** A node kept as JSON text from an earlier tree (its name given beside it for the order). */
export interface RawNode {
  name: Buffer;
  json: Buffer;
}

/**
 * The tree blob for a directory: `{"nodes":[...]}` plus a newline, nodes sorted by raw name
 * bytes. Names must be unique and non-empty.
 */
export function encodeTree(nodes: readonly (ResticNode | RawNode)[]): Buffer {
  return encodeTreeWithKept(nodes, NONE_KEPT);
}

/** Nodes kept as JSON in an earlier tree, in raw name order (see encodeTreeWithKept). */
export interface KeptNodes {
  readonly count: number;
  name(k: number): Buffer;
  /** Writes the k-th kept node's JSON. */
  write(sink: Utf8Sink, k: number): void;
}

const NONE_KEPT: KeptNodes = { count: 0, name: () => Buffer.alloc(0), write: () => {} };

/**
 * encodeTree of `nodes` and `kept` together, merged by raw name: the tree of a directory whose
 * unchanged entries are written from the previous tree's bytes without an object each.
 */
export function encodeTreeWithKept(nodes: readonly (ResticNode | RawNode)[], kept: KeptNodes): Buffer {
  const sorted = [...nodes].sort((a, b) => Buffer.compare(a.name, b.name));
  const sink = new Utf8Sink((sorted.length + kept.count) * 400 + 16);
  sink.ascii('{"nodes":[');
  let written = 0;
  let k = 0;
  const comma = () => {
    if (written++ > 0) sink.byte(0x2c);
  };
  for (let i = 0; i <= sorted.length; i++) {
    const node = sorted[i];
    for (; k < kept.count; k++) {
      const order = node ? Buffer.compare(kept.name(k), node.name) : -1;
      if (order > 0) break;
      if (order === 0) throw new RangeError(`duplicate node ${JSON.stringify(goQuote(node!.name))} in tree`);
      comma();
      kept.write(sink, k);
    }
    if (!node) break;
    if (i > 0 && sorted[i - 1]!.name.equals(node.name)) throw new RangeError(`duplicate node ${JSON.stringify(goQuote(node.name))} in tree`);
    comma();
    if ('json' in node) sink.raw(node.json);
    else writeNode(sink, node);
  }
  sink.ascii(']}\n');
  return sink.bytes();
}

function decodeNode(value: JsonValue, path: string): ResticNode {
  const obj = asObject(value, path);
  const f = (key: string): JsonValue | undefined => obj.field(key);
  const nameText = readString(f('name'), `${path}.name`);
  let name: Buffer;
  try {
    name = goUnquote(nameText);
  } catch (err) {
    throw schemaError(`${path}.name`, (err as Error).message);
  }
  if (name.length === 0) throw schemaError(`${path}.name`, 'empty name');
  const type = readString(f('type'), `${path}.type`);
  if (!READABLE_TYPES.has(type)) throw schemaError(`${path}.type`, `unknown node type ${JSON.stringify(type)}`);

  const node: ResticNode = {
    name,
    type: type as NodeType,
    mtime: readTime(f('mtime'), `${path}.mtime`),
    atime: readTime(f('atime'), `${path}.atime`),
    ctime: readTime(f('ctime'), `${path}.ctime`),
    uid: readUint(f('uid'), `${path}.uid`, 32),
    gid: readUint(f('gid'), `${path}.gid`, 32),
    content: null,
  };
  const mode = readUint(f('mode'), `${path}.mode`, 32);
  if (mode !== 0) node.mode = mode;
  const user = readString(f('user'), `${path}.user`);
  if (user !== '') node.user = user;
  const group = readString(f('group'), `${path}.group`);
  if (group !== '') node.group = group;
  const inode = readUintBig(f('inode'), `${path}.inode`, 64);
  if (inode !== 0n) node.inode = inode;
  const deviceId = readUintBig(f('device_id'), `${path}.device_id`, 64);
  if (deviceId !== 0n) node.deviceId = deviceId;
  const size = readUint(f('size'), `${path}.size`, 64);
  if (size !== 0) node.size = size;
  const links = readUint(f('links'), `${path}.links`, 64);
  if (links !== 0) node.links = links;
  const rawTarget = readBytes(f('linktarget_raw'), `${path}.linktarget_raw`);
  const target = rawTarget.length > 0 ? rawTarget : Buffer.from(readString(f('linktarget'), `${path}.linktarget`), 'utf8');
  if (target.length > 0) node.linkTarget = target;
  const xattrs = optionalArray(f('extended_attributes'), `${path}.extended_attributes`);
  if (xattrs && xattrs.length > 0) {
    node.extendedAttributes = xattrs.map((item, i) => {
      const at = `${path}.extended_attributes[${i}]`;
      const attr = asObject(item, at);
      return {
        name: Buffer.from(readString(attr.field('name'), `${at}.name`), 'utf8'),
        value: readBytes(attr.field('value'), `${at}.value`),
      };
    });
  }
  const device = readUintBig(f('device'), `${path}.device`, 64);
  if (device !== 0n) node.device = device;
  const content = optionalArray(f('content'), `${path}.content`);
  if (content) node.content = content.map((id, i) => readId(id, `${path}.content[${i}]`));
  const subtree = readOptionalId(f('subtree'), `${path}.subtree`);
  if (subtree !== undefined) node.subtree = subtree;
  const error = readString(f('error'), `${path}.error`);
  if (error !== '') node.error = error;
  return node;
}

/**
 * Decodes a tree blob as restic reads it: any valid JSON, unknown keys ignored, names
 * un-quoted to raw bytes, `linktarget_raw` preferred over `linktarget`. Nodes keep the order
 * of the document. Throws CorruptDataError naming the offending node and field.
 */
export function decodeTree(bytes: Uint8Array): ResticNode[] {
  const fast = decodeTreeFast(bytes);
  if (fast) return fast;
  const root = asObject(parseGoJson(bytes, 'tree'), 'tree');
  const nodes = optionalArray(root.field('nodes'), 'tree.nodes') ?? [];
  return nodes.map((value, i) => {
    if (value === null) throw new CorruptDataError(`tree.nodes[${i}]: null node`, { details: { field: `tree.nodes[${i}]` } });
    return decodeNode(value, `tree.nodes[${i}]`);
  });
}

const FAST_KEYS: ReadonlySet<string> = new Set([
  'name', 'type', 'mode', 'mtime', 'atime', 'ctime', 'uid', 'gid', 'user', 'group', 'inode', 'device_id', 'size', 'links',
  'linktarget', 'linktarget_raw', 'extended_attributes', 'generic_attributes', 'device', 'content', 'subtree', 'error',
]);
/** A JSON number token of 16 or more digits (may exceed 2^53): only the exact parser keeps it. */
const BIG_NUMBER = /[:,[]\s*-?\d{16,}/;
/** Escaped surrogates: Go turns lone ones into U+FFFD, JSON.parse keeps them. */
const SURROGATE_ESCAPE = /\\u[dD][89abAB]/;

let fastTimeText = '';
let fastTime: GoTime | undefined;

function fastTimeOf(value: unknown): GoTime | undefined {
  if (value === undefined || value === null) return GO_ZERO_TIME_REF;
  if (typeof value !== 'string') return undefined;
  if (value === fastTimeText && fastTime) return fastTime;
  try {
    fastTime = parseRfc3339(value);
  } catch {
    return undefined;
  }
  fastTimeText = value;
  return fastTime;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64Of(value: unknown): Buffer | undefined {
  if (value === undefined || value === null) return Buffer.alloc(0);
  return typeof value === 'string' && BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
}

function uintOf(value: unknown, max: number): number | undefined {
  if (value === undefined || value === null) return 0;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max ? value : undefined;
}

function stringOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : undefined;
}

/**
 * The common case through the engine's JSON.parse: trees as restic and we write them (known
 * lower-case keys, numbers below 2^53, no escaped surrogates, well-formed values). Anything
 * else returns undefined and goes through the exact Go-compatible parser, which also produces
 * the precise error messages.
 */
function decodeTreeFast(bytes: Uint8Array): ResticNode[] | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (BIG_NUMBER.test(text) || SURROGATE_ESCAPE.test(text)) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const list = (doc as Record<string, unknown>)['nodes'];
  if (list === undefined || list === null) return Object.keys(doc).every((k) => k === 'nodes') ? [] : undefined;
  if (!Array.isArray(list) || Object.keys(doc).length !== 1) return undefined;
  const out: ResticNode[] = [];
  for (const raw of list as unknown[]) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
    const n = raw as Record<string, unknown>;
    for (const key in n) if (!FAST_KEYS.has(key)) return undefined;
    const nameText = n['name'];
    const type = n['type'];
    if (typeof nameText !== 'string' || typeof type !== 'string' || !READABLE_TYPES.has(type)) return undefined;
    let name: Buffer;
    try {
      name = goUnquote(nameText);
    } catch {
      return undefined;
    }
    if (name.length === 0) return undefined;
    const mtime = fastTimeOf(n['mtime']);
    const atime = fastTimeOf(n['atime']);
    const ctime = fastTimeOf(n['ctime']);
    const uid = uintOf(n['uid'], 0xffff_ffff);
    const gid = uintOf(n['gid'], 0xffff_ffff);
    const mode = uintOf(n['mode'], 0xffff_ffff);
    const size = uintOf(n['size'], Number.MAX_SAFE_INTEGER);
    const links = uintOf(n['links'], Number.MAX_SAFE_INTEGER);
    const inode = uintOf(n['inode'], Number.MAX_SAFE_INTEGER);
    const deviceId = uintOf(n['device_id'], Number.MAX_SAFE_INTEGER);
    const device = uintOf(n['device'], Number.MAX_SAFE_INTEGER);
    const user = stringOf(n['user']);
    const group = stringOf(n['group']);
    const linktarget = stringOf(n['linktarget']);
    const error = stringOf(n['error']);
    if (!mtime || !atime || !ctime || uid === undefined || gid === undefined || mode === undefined || size === undefined || links === undefined) return undefined;
    if (inode === undefined || deviceId === undefined || device === undefined || user === undefined || group === undefined || linktarget === undefined || error === undefined) return undefined;
    const node: ResticNode = { name, type: type as NodeType, mtime, atime, ctime, uid, gid, content: null };
    if (mode !== 0) node.mode = mode;
    if (user !== '') node.user = user;
    if (group !== '') node.group = group;
    if (inode !== 0) node.inode = BigInt(inode);
    if (deviceId !== 0) node.deviceId = BigInt(deviceId);
    if (size !== 0) node.size = size;
    if (links !== 0) node.links = links;
    const rawTarget = n['linktarget_raw'];
    const bytesTarget = base64Of(rawTarget);
    if (!bytesTarget) return undefined;
    if (bytesTarget.length > 0) node.linkTarget = bytesTarget;
    if (!node.linkTarget && linktarget !== '') node.linkTarget = Buffer.from(linktarget, 'utf8');
    const xattrs = n['extended_attributes'];
    if (xattrs !== undefined && xattrs !== null) {
      if (!Array.isArray(xattrs)) return undefined;
      if (xattrs.length > 0) {
        const attrs: ExtendedAttribute[] = [];
        for (const a of xattrs as unknown[]) {
          if (typeof a !== 'object' || a === null) return undefined;
          const an = (a as Record<string, unknown>)['name'];
          const av = (a as Record<string, unknown>)['value'];
          const value = base64Of(av);
          if (typeof an !== 'string' || !value) return undefined;
          attrs.push({ name: Buffer.from(an, 'utf8'), value });
        }
        node.extendedAttributes = attrs;
      }
    }
    if (device !== 0) node.device = BigInt(device);
    const content = n['content'];
    if (content !== undefined && content !== null) {
      if (!Array.isArray(content)) return undefined;
      for (const id of content as unknown[]) if (typeof id !== 'string' || !ID_PATTERN.test(id)) return undefined;
      node.content = content as string[];
    }
    const subtree = n['subtree'];
    if (subtree !== undefined && subtree !== null) {
      if (typeof subtree !== 'string' || !ID_PATTERN.test(subtree)) return undefined;
      node.subtree = subtree;
    }
    if (error !== '') node.error = error;
    out.push(node);
  }
  return out;
}
