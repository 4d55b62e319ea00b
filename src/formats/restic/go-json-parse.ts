// Reading JSON the way Go's encoding/json fills a struct, so that we accept exactly what restic
// accepts: strict RFC 8259 syntax, integers kept as their source text (inode numbers and sizes
// may exceed 2^53), invalid UTF-8 and lone surrogates in strings decoded to U+FFFD, object keys
// matched to fields case-insensitively with the last match winning, unknown keys ignored, and
// `null` meaning "leave the field at its zero value".

import { CorruptDataError } from '../../backup/errors.ts';
import { GO_ZERO_TIME, parseRfc3339, type GoTime } from '../../util/go-time.ts';
import { utf8SequenceLength } from './go-utf8.ts';

/** A JSON number, kept as written so that 64-bit integers survive. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** A JSON object: its members in document order (duplicates kept, as Go sees them in turn). */
export class JsonObject {
  private byField: Map<string, JsonValue> | undefined;

  constructor(readonly members: ReadonlyArray<readonly [string, JsonValue]>) {}

  /**
   * The value Go would store in the struct field named `field` (an ASCII, lower-case name):
   * the last member whose key equals it under Go's case folding, or undefined.
   */
  field(field: string): JsonValue | undefined {
    if (!this.byField) {
      this.byField = new Map();
      for (const [key, value] of this.members) this.byField.set(foldKey(key), value);
    }
    return this.byField.get(field);
  }
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

// Go matches keys to field names with Unicode simple folding; for our ASCII field names the only
// non-ASCII keys that can match contain KELVIN SIGN (folds to k) and LATIN SMALL LONG S (to s).
function foldKey(key: string): string {
  if (/^[a-z0-9_]*$/.test(key)) return key;
  return key.replace(/\u212a/g, 'k').replace(/\u017f/g, 's').replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Parses one JSON document (surrounding whitespace allowed), or throws CorruptDataError. */
export function parseGoJson(input: Uint8Array | string, what: string): JsonValue {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const parser = new Parser(bytes, what);
  parser.skipWhitespace();
  const value = parser.value(0);
  parser.skipWhitespace();
  if (parser.pos !== bytes.length) parser.fail('unexpected data after the top-level value');
  return value;
}

const MAX_DEPTH = 10_000; // Go's decoder limit

class Parser {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {}

  fail(message: string): never {
    throw new CorruptDataError(`${this.what}: invalid JSON at byte ${this.pos}: ${message}`, {
      details: { offset: this.pos },
    });
  }

  skipWhitespace(): void {
    const b = this.bytes;
    while (this.pos < b.length) {
      const c = b[this.pos]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.pos++;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    const c = this.bytes[this.pos];
    switch (c) {
      case 0x7b:
        return this.object(depth);
      case 0x5b:
        return this.array(depth);
      case 0x22:
        return this.string();
      case 0x74:
        return this.literal('true', true);
      case 0x66:
        return this.literal('false', false);
      case 0x6e:
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail(c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(String.fromCharCode(c))}`);
    }
  }

  literal<T>(word: string, value: T): T {
    for (let i = 0; i < word.length; i++) {
      if (this.bytes[this.pos + i] !== word.charCodeAt(i)) this.fail(`invalid literal, expected ${word}`);
    }
    this.pos += word.length;
    return value;
  }

  object(depth: number): JsonObject {
    this.pos++;
    const members: Array<[string, JsonValue]> = [];
    this.skipWhitespace();
    if (this.bytes[this.pos] === 0x7d) {
      this.pos++;
      return new JsonObject(members);
    }
    for (;;) {
      this.skipWhitespace();
      if (this.bytes[this.pos] !== 0x22) this.fail('expected a string as object key');
      const key = this.string();
      this.skipWhitespace();
      if (this.bytes[this.pos] !== 0x3a) this.fail('expected ":" after object key');
      this.pos++;
      this.skipWhitespace();
      members.push([key, this.value(depth + 1)]);
      this.skipWhitespace();
      const c = this.bytes[this.pos];
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x7d) return new JsonObject(members);
      this.pos--;
      this.fail('expected "," or "}" in object');
    }
  }

  array(depth: number): JsonValue[] {
    this.pos++;
    const items: JsonValue[] = [];
    this.skipWhitespace();
    if (this.bytes[this.pos] === 0x5d) {
      this.pos++;
      return items;
    }
    for (;;) {
      this.skipWhitespace();
      items.push(this.value(depth + 1));
      this.skipWhitespace();
      const c = this.bytes[this.pos];
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x5d) return items;
      this.pos--;
      this.fail('expected "," or "]" in array');
    }
  }

  number(): JsonNumber {
    const b = this.bytes;
    const start = this.pos;
    const digits = (): number => {
      const from = this.pos;
      while (this.pos < b.length && b[this.pos]! >= 0x30 && b[this.pos]! <= 0x39) this.pos++;
      return this.pos - from;
    };
    if (b[this.pos] === 0x2d) this.pos++;
    if (b[this.pos] === 0x30) this.pos++;
    else if (digits() === 0) this.fail('invalid number');
    if (b[this.pos] === 0x2e) {
      this.pos++;
      if (digits() === 0) this.fail('invalid number: no digits after "."');
    }
    if (b[this.pos] === 0x65 || b[this.pos] === 0x45) {
      this.pos++;
      if (b[this.pos] === 0x2b || b[this.pos] === 0x2d) this.pos++;
      if (digits() === 0) this.fail('invalid number: no digits in exponent');
    }
    return new JsonNumber(Buffer.from(b.buffer, b.byteOffset + start, this.pos - start).toString('latin1'));
  }

  string(): string {
    const b = this.bytes;
    this.pos++; // opening quote
    let out = '';
    let runStart = this.pos;
    const flush = (): void => {
      if (this.pos > runStart) out += Buffer.from(b.buffer, b.byteOffset + runStart, this.pos - runStart).toString('utf8');
    };
    for (;;) {
      if (this.pos >= b.length) this.fail('unterminated string');
      const c = b[this.pos]!;
      if (c === 0x22) {
        flush();
        this.pos++;
        return out;
      }
      if (c < 0x20) this.fail('control character in string');
      if (c === 0x5c) {
        flush();
        out += this.escape();
        runStart = this.pos;
        continue;
      }
      if (c < 0x80) {
        this.pos++;
        continue;
      }
      const len = utf8SequenceLength(b, this.pos);
      if (len === 0) {
        flush();
        out += '\ufffd';
        this.pos++;
        runStart = this.pos;
        continue;
      }
      this.pos += len;
    }
  }

  escape(): string {
    const b = this.bytes;
    const c = b[this.pos + 1];
    this.pos += 2;
    switch (c) {
      case 0x22:
        return '"';
      case 0x5c:
        return '\\';
      case 0x2f:
        return '/';
      case 0x62:
        return '\b';
      case 0x66:
        return '\f';
      case 0x6e:
        return '\n';
      case 0x72:
        return '\r';
      case 0x74:
        return '\t';
      case 0x75: {
        const unit = this.hex4();
        if (unit >= 0xd800 && unit <= 0xdbff && b[this.pos] === 0x5c && b[this.pos + 1] === 0x75) {
          const save = this.pos;
          this.pos += 2;
          const low = this.hex4();
          if (low >= 0xdc00 && low <= 0xdfff) return String.fromCharCode(unit, low);
          this.pos = save; // Go: the high surrogate alone becomes U+FFFD, the next escape stands
        }
        return unit >= 0xd800 && unit <= 0xdfff ? '\ufffd' : String.fromCharCode(unit);
      }
      default:
        this.pos -= 2;
        return this.fail('invalid escape in string');
    }
  }

  hex4(): number {
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.bytes[this.pos + i];
      const d = c === undefined ? -1 : hexDigit(c);
      if (d < 0) this.fail('invalid \\u escape');
      v = (v << 4) | d;
    }
    this.pos += 4;
    return v;
  }
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

// ---- typed access, with errors that name the offending field --------------------------------

/** Thrown for a document that parses but does not fit the expected structure. */
export function schemaError(path: string, message: string): CorruptDataError {
  return new CorruptDataError(`${path}: ${message}`, { details: { field: path } });
}

function describe(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (value instanceof JsonNumber) return `number ${value.text}`;
  if (Array.isArray(value)) return 'array';
  return 'object';
}

export function asObject(value: JsonValue | undefined, path: string): JsonObject {
  if (value instanceof JsonObject) return value;
  throw schemaError(path, `expected an object, got ${value === undefined ? 'nothing' : describe(value)}`);
}

/** An array, or undefined for an absent or null member (Go leaves a nil slice). */
export function optionalArray(value: JsonValue | undefined, path: string): JsonValue[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value;
  throw schemaError(path, `expected an array, got ${describe(value)}`);
}

/** A string; absent or null gives "" (Go's zero value). */
export function readString(value: JsonValue | undefined, path: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  throw schemaError(path, `expected a string, got ${describe(value)}`);
}

export function readBool(value: JsonValue | undefined, path: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  throw schemaError(path, `expected true or false, got ${describe(value)}`);
}

/**
 * An unsigned integer of `bits` bits as Go's decoder accepts it (plain digits: no sign,
 * fraction or exponent); absent or null gives 0n.
 */
export function readUintBig(value: JsonValue | undefined, path: string, bits: 32 | 64): bigint {
  if (value === undefined || value === null) return 0n;
  if (!(value instanceof JsonNumber)) throw schemaError(path, `expected an unsigned integer, got ${describe(value)}`);
  if (!/^(0|[1-9][0-9]*)$/.test(value.text)) {
    throw schemaError(path, `expected an unsigned integer, got number ${value.text}`);
  }
  const n = BigInt(value.text);
  if (n >= 1n << BigInt(bits)) throw schemaError(path, `number ${value.text} does not fit in ${bits} bits`);
  return n;
}

/** An unsigned integer that must also fit a JS number exactly. */
export function readUint(value: JsonValue | undefined, path: string, bits: 32 | 64): number {
  const n = readUintBig(value, path, bits);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw schemaError(path, `number ${n} is too large (more than 2^53 − 1)`);
  return Number(n);
}

/** A signed integer (Go int, 64 bits) that fits a JS number exactly. */
export function readInt(value: JsonValue | undefined, path: string): number {
  if (value === undefined || value === null) return 0;
  if (!(value instanceof JsonNumber) || !/^-?(0|[1-9][0-9]*)$/.test(value.text)) {
    throw schemaError(path, `expected an integer, got ${describe(value as JsonValue)}`);
  }
  const n = BigInt(value.text);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw schemaError(path, `number ${value.text} is out of range`);
  }
  return Number(n);
}

/** Go []byte: standard base64 with padding (CR and LF ignored); absent or null gives empty. */
export function readBytes(value: JsonValue | undefined, path: string): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (typeof value !== 'string') throw schemaError(path, `expected a base64 string, got ${describe(value)}`);
  const text = value.replace(/[\r\n]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw schemaError(path, 'invalid base64');
  }
  return Buffer.from(text, 'base64');
}

/** A restic ID: 64 hex digits (any case), returned in lower case. */
export function readId(value: JsonValue | undefined, path: string): string {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value)) {
    throw schemaError(path, `expected an ID of 64 hex digits, got ${value === undefined ? 'nothing' : describe(value)}`);
  }
  return value.toLowerCase();
}

/** An ID, or undefined for an absent or null member. */
export function readOptionalId(value: JsonValue | undefined, path: string): string | undefined {
  return value === undefined || value === null ? undefined : readId(value, path);
}

// Node times repeat (atime is mtime, neighbours share times); GoTime values are immutable.
let lastTimeText = '';
let lastTime: GoTime = GO_ZERO_TIME;

/** A time.Time: an RFC 3339 string; absent or null gives Go's zero time. */
export function readTime(value: JsonValue | undefined, path: string): GoTime {
  if (value === undefined || value === null) return GO_ZERO_TIME;
  if (typeof value !== 'string') throw schemaError(path, `expected an RFC 3339 time, got ${describe(value)}`);
  if (value === lastTimeText) return lastTime;
  try {
    lastTime = parseRfc3339(value);
  } catch (err) {
    throw schemaError(path, (err as Error).message);
  }
  lastTimeText = value;
  return lastTime;
}

/** A list of strings; undefined when absent or null (so `[]` and "absent" stay distinct). */
export function readStringList(value: JsonValue | undefined, path: string): string[] | undefined {
  const items = optionalArray(value, path);
  return items?.map((item, i) => readString(item, `${path}[${i}]`));
}
