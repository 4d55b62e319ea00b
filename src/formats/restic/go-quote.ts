// Go strconv.Quote / strconv.Unquote for restic node names (formats/restic.md §7.4). restic
// stores a name as Quote(raw name) without the outer quotes, so any byte sequence survives JSON;
// the printable test uses Go 1.19's Unicode 13 tables so our bytes equal restic 0.14's.

import { CorruptDataError } from '../../backup/errors.ts';
import { codePointAt, utf8SequenceLength } from './go-utf8.ts';
import { UNICODE13_PRINT_RANGES_ENCODED } from './unicode13-print.ts';

const HEX = '0123456789abcdef';

/** Sorted, inclusive [start, end] pairs, flattened. */
const PRINT_RANGES: Uint32Array = (() => {
  const parts = UNICODE13_PRINT_RANGES_ENCODED.split(' ');
  const out = new Uint32Array(parts.length * 2);
  let prevEnd = -1;
  parts.forEach((part, i) => {
    const [gap, span] = part.split('.') as [string, string];
    const start = prevEnd + parseInt(gap, 36);
    const end = start + parseInt(span, 36);
    out[2 * i] = start;
    out[2 * i + 1] = end;
    prevEnd = end;
  });
  return out;
})();

/** Go 1.19 strconv.IsPrint: Unicode 13 categories L, M, N, P, S, and U+0020. */
export function isGoPrint(cp: number): boolean {
  let lo = 0;
  let hi = PRINT_RANGES.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < PRINT_RANGES[2 * mid]!) hi = mid - 1;
    else if (cp > PRINT_RANGES[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

const LETTER_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x07, '\\a'],
  [0x08, '\\b'],
  [0x0c, '\\f'],
  [0x0a, '\\n'],
  [0x0d, '\\r'],
  [0x09, '\\t'],
  [0x0b, '\\v'],
]);

function hex(value: number, digits: number): string {
  let s = '';
  for (let shift = (digits - 1) * 4; shift >= 0; shift -= 4) s += HEX[(value >>> shift) & 0xf]!;
  return s;
}

/**
 * Go `strconv.Quote(string(raw))` without the surrounding quotes. The result contains only
 * printable characters, so it is always valid UTF-8 and survives JSON unchanged.
 */
export function goQuote(raw: Uint8Array): string {
  let out = '';
  let start = 0; // start of a pending run of printable characters copied as they are
  const flush = (end: number): void => {
    if (end > start) out += Buffer.from(raw.buffer, raw.byteOffset + start, end - start).toString('utf8');
  };
  for (let i = 0; i < raw.length; ) {
    const b = raw[i]!;
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) {
      i++;
      continue;
    }
    const len = utf8SequenceLength(raw, i);
    if (len === 0) {
      flush(i);
      out += '\\x' + hex(b, 2);
      start = ++i;
      continue;
    }
    const cp = codePointAt(raw, i, len);
    if (cp !== 0x22 && cp !== 0x5c && isGoPrint(cp)) {
      i += len;
      continue;
    }
    flush(i);
    i += len;
    start = i;
    const letter = LETTER_ESCAPES.get(cp);
    if (cp === 0x22 || cp === 0x5c) out += '\\' + String.fromCharCode(cp);
    else if (letter !== undefined) out += letter;
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2);
    else if (cp < 0x10000) out += '\\u' + hex(cp, 4);
    else out += '\\U' + hex(cp, 8);
  }
  flush(raw.length);
  return out;
}

/** Thrown by goUnquote for text that Go's strconv.Unquote rejects. */
export class GoUnquoteError extends CorruptDataError {
  constructor(text: string, reason: string) {
    super(`invalid quoted name ${JSON.stringify(text.length > 60 ? text.slice(0, 60) + '…' : text)}: ${reason}`);
    this.name = 'GoUnquoteError';
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function pushCodePoint(out: number[], cp: number): void {
  for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out.push(b);
}

/**
 * Go `strconv.Unquote('"' + text + '"')` returning the raw bytes: accepts the letter escapes,
 * `\\`, `\"`, `\xHH` and `\NNN` (raw bytes), `\uHHHH` and `\UHHHHHHHH` (UTF-8 of a valid scalar
 * value). An unescaped `"` or newline, `\'`, or any other escape is an error, as in Go.
 */
export function goUnquote(text: string): Buffer {
  const src = Buffer.from(text, 'utf8');
  if (!/["\\\n]/.test(text)) return src;
  const out: number[] = [];
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    if (c === 0x22) throw new GoUnquoteError(text, 'unescaped "');
    if (c === 0x0a) throw new GoUnquoteError(text, 'unescaped newline');
    if (c !== 0x5c) {
      out.push(c);
      i++;
      continue;
    }
    const e = src[i + 1];
    i += 2;
    switch (e) {
      case 0x61:
        out.push(0x07);
        break;
      case 0x62:
        out.push(0x08);
        break;
      case 0x66:
        out.push(0x0c);
        break;
      case 0x6e:
        out.push(0x0a);
        break;
      case 0x72:
        out.push(0x0d);
        break;
      case 0x74:
        out.push(0x09);
        break;
      case 0x76:
        out.push(0x0b);
        break;
      case 0x5c:
        out.push(0x5c);
        break;
      case 0x22:
        out.push(0x22);
        break;
      case 0x78: // \x
      case 0x75: // \u
      case 0x55: {
        // \U
        const digits = e === 0x78 ? 2 : e === 0x75 ? 4 : 8;
        let v = 0;
        for (let j = 0; j < digits; j++) {
          const d = i + j < src.length ? hexValue(src[i + j]!) : -1;
          if (d < 0) throw new GoUnquoteError(text, `bad \\${String.fromCharCode(e)} escape`);
          v = v * 16 + d;
        }
        i += digits;
        if (e === 0x78) {
          out.push(v);
        } else {
          if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
            throw new GoUnquoteError(text, `escape of an invalid code point ${v.toString(16)}`);
          }
          pushCodePoint(out, v);
        }
        break;
      }
      default: {
        if (e !== undefined && e >= 0x30 && e <= 0x37) {
          let v = e - 0x30;
          for (let j = 0; j < 2; j++) {
            const d = i + j < src.length ? src[i + j]! - 0x30 : -1;
            if (d < 0 || d > 7) throw new GoUnquoteError(text, 'bad octal escape');
            v = v * 8 + d;
          }
          i += 2;
          if (v > 255) throw new GoUnquoteError(text, 'octal escape above \\377');
          out.push(v);
          break;
        }
        throw new GoUnquoteError(text, e === undefined ? 'trailing backslash' : `unknown escape \\${String.fromCharCode(e)}`);
      }
    }
  }
  return Buffer.from(out);
}
