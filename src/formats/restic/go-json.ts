// JSON output byte-identical to Go 1.19 encoding/json (formats/restic.md §7.6). restic hashes
// the JSON of trees, so our bytes must equal its bytes for directories to deduplicate.

import { codePointAt, utf8SequenceLength } from './go-utf8.ts';

const HEX = '0123456789abcdef';

/** ASCII bytes Go writes unescaped (its htmlSafeSet: printable ASCII minus `"` `\` `<` `>` `&`). */
const SAFE_ASCII: readonly boolean[] = Array.from(
  { length: 128 },
  (_, b) => b >= 0x20 && b !== 0x22 && b !== 0x5c && b !== 0x3c && b !== 0x3e && b !== 0x26,
);

/** Characters of a JS string that Go would escape, or surrogates (maybe lone) to check. */
const NEEDS_WORK = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/;

/** Whether Go writes this string as it is between the quotes (nothing to escape or check). */
export function goJsonStringIsPlain(value: string): boolean {
  return !NEEDS_WORK.test(value);
}

/**
 * A JSON string literal (with quotes) as Go 1.19 writes a Go string. A Buffer is taken as the
 * raw bytes of the Go string: each byte that is not part of valid UTF-8 becomes `\ufffd`. A JS
 * string is taken as its UTF-8 encoding (lone surrogates thus become U+FFFD itself).
 */
export function goJsonString(value: Uint8Array | string): string {
  if (typeof value === 'string' && !NEEDS_WORK.test(value)) return '"' + value + '"';
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  let out = '"';
  let start = 0; // start of a pending run of bytes copied as they are
  const flush = (end: number): void => {
    if (end > start) out += Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
  };
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b < 0x80) {
      if (SAFE_ASCII[b]) {
        i++;
        continue;
      }
      flush(i);
      switch (b) {
        case 0x22:
          out += '\\"';
          break;
        case 0x5c:
          out += '\\\\';
          break;
        case 0x0a:
          out += '\\n';
          break;
        case 0x0d:
          out += '\\r';
          break;
        case 0x09:
          out += '\\t';
          break;
        default:
          // Go 1.19 writes \b and \f as \u0008 and \u000c too (Go >= 1.22 does not).
          out += '\\u00' + HEX[b >> 4]! + HEX[b & 0xf]!;
      }
      start = ++i;
      continue;
    }
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      flush(i);
      out += '\\ufffd';
      start = ++i;
      continue;
    }
    if (len === 3) {
      const cp = codePointAt(bytes, i, 3);
      if (cp === 0x2028 || cp === 0x2029) {
        flush(i);
        out += cp === 0x2028 ? '\\u2028' : '\\u2029';
        start = i + 3;
      }
    }
    i += len;
  }
  flush(bytes.length);
  return out + '"';
}

/** A JSON number for an unsigned or signed integer (Go prints integers in plain decimal). */
export function goJsonInteger(value: number | bigint): string {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`not an integer that JSON can carry exactly: ${value}`);
  }
  return value.toString();
}

/** Go encodes []byte as a standard base64 string with padding. */
export function goJsonBytes(value: Uint8Array): string {
  return '"' + Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') + '"';
}

export function goJsonBool(value: boolean): string {
  return value ? 'true' : 'false';
}

/** A JSON array of already-encoded elements. */
export function goJsonArray(elements: readonly string[]): string {
  return '[' + elements.join(',') + ']';
}

/** One object member: the key and its encoded value, or undefined when the member is omitted. */
export type GoJsonMember = readonly [key: string, json: string | undefined];

/**
 * A compact JSON object with the members in the given order (Go writes struct fields in
 * declaration order), leaving out members whose value is undefined.
 */
export function goJsonObject(members: readonly GoJsonMember[]): string {
  let out = '{';
  for (const [key, json] of members) {
    if (json === undefined) continue;
    if (out.length > 1) out += ',';
    out += goJsonString(key) + ':' + json;
  }
  return out + '}';
}

/** Go's omitempty test: false, 0, "", an empty array or byte slice, nil. */
export function isGoEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === 0n || value === '') {
    return true;
  }
  if (Array.isArray(value) || value instanceof Uint8Array) return value.length === 0;
  return false;
}

/** Encodes `value` unless Go's omitempty would drop it. */
export function omitEmpty<T>(value: T | undefined | null, encode: (v: T) => string): string | undefined {
  return value === undefined || value === null || isGoEmpty(value) ? undefined : encode(value);
}
