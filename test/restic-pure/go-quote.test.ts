import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { CorruptDataError } from '../../src/backup/errors.ts';
import { GoUnquoteError, goQuote, goUnquote, isGoPrint } from '../../src/formats/restic/go-quote.ts';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);
const q = (s: string): string => goQuote(Buffer.from(s, 'utf8'));

describe('goQuote (strconv.Quote without the quotes)', () => {
  test('ASCII: quotes, backslash, letter escapes, \\x for other controls and DEL', () => {
    expect(q('plain name.txt ~!@#$%^&*()_+{}|:<>?`-=[];\',./')).toBe("plain name.txt ~!@#$%^&*()_+{}|:<>?`-=[];',./");
    expect(q('"\\')).toBe('\\"\\\\');
    expect(q('\u0007\b\f\n\r\t\u000b')).toBe('\\a\\b\\f\\n\\r\\t\\v');
    expect(q('\u0000\u0001\u001b\u001f\u007f')).toBe('\\x00\\x01\\x1b\\x1f\\x7f');
  });

  test('invalid UTF-8: each offending byte as \\xHH', () => {
    expect(goQuote(b(0x61, 0xff, 0x62))).toBe('a\\xffb');
    expect(goQuote(b(0xe2, 0x82, 0x41))).toBe('\\xe2\\x82A');
    expect(goQuote(b(0xed, 0xa0, 0x80))).toBe('\\xed\\xa0\\x80');
    expect(goQuote(b(0xc0, 0xaf))).toBe('\\xc0\\xaf');
    expect(goQuote(b(0xf4, 0x90, 0x80, 0x80))).toBe('\\xf4\\x90\\x80\\x80');
    expect(goQuote(b(0xef, 0xbf, 0xbd))).toBe('\ufffd'); // a real U+FFFD is printable (So)
  });

  test('non-printable runes: \\u below U+10000, \\U above; printable ones raw', () => {
    expect(q('\u0080\u009f\u00a0\u00ad')).toBe('\\u0080\\u009f\\u00a0\\u00ad');
    expect(q('\u00a1\u00ff\u00e9')).toBe('\u00a1\u00ff\u00e9');
    expect(q('a\u2028b\u2029\u200b\ufeff')).toBe('a\\u2028b\\u2029\\u200b\\ufeff');
    expect(q('\u3000')).toBe('\\u3000'); // Zs other than U+0020 is not printable
    expect(q('\ue000\u{F0000}\u{10FFFF}')).toBe('\\ue000\\U000f0000\\U0010ffff'); // private use
    expect(q('\u{E0001}')).toBe('\\U000e0001'); // Cf
    expect(q('名前 \u{1F600} \u{20000}')).toBe('名前 \u{1F600} \u{20000}');
  });

  test('uses Unicode 13 (Go 1.19), not the newer tables of this JS engine', () => {
    // U+08BE was assigned in Unicode 13.0; U+0870, U+1FAE0 (🫠) and U+31350 in 14.0 / 15.0
    expect(q('\u08be')).toBe('\u08be');
    expect(q('\u0870')).toBe('\\u0870');
    expect(q('\u{1FAE0}')).toBe('\\U0001fae0');
    expect(q('\u{31350}')).toBe('\\U00031350');
    expect(q('\u{30000}')).toBe('\u{30000}'); // CJK Extension G, Unicode 13
  });

  test('isGoPrint agrees with Go at category edges', () => {
    expect(isGoPrint(0x20)).toBe(true);
    expect(isGoPrint(0x7e)).toBe(true);
    expect(isGoPrint(0x7f)).toBe(false);
    expect(isGoPrint(0xa0)).toBe(false);
    expect(isGoPrint(0xa1)).toBe(true);
    expect(isGoPrint(0xad)).toBe(false);
    expect(isGoPrint(0x378)).toBe(false); // unassigned
    expect(isGoPrint(0x1680)).toBe(false); // OGHAM SPACE MARK (Zs)
    expect(isGoPrint(0x10ffff)).toBe(false);
    expect(isGoPrint(0x110000)).toBe(false);
  });
});

describe('goUnquote (strconv.Unquote, returning raw bytes)', () => {
  test('inverts goQuote for any bytes', () => {
    for (let i = 0; i < 300; i++) {
      const raw = randomBytes(1 + (i % 40));
      expect(goUnquote(goQuote(raw)).equals(raw)).toBe(true);
    }
    for (let cp = 0; cp < 0x3000; cp += 7) {
      const raw = Buffer.from(String.fromCodePoint(cp), 'utf8');
      expect(goUnquote(goQuote(raw)).equals(raw)).toBe(true);
    }
  });

  test('accepts every escape form Go accepts', () => {
    expect(goUnquote('\\a\\b\\f\\n\\r\\t\\v\\\\\\"').toString('hex')).toBe('0708 0c0a 0d09 0b5c 22'.replace(/ /g, ''));
    expect(goUnquote('\\x41\\xFF\\xfe').toString('hex')).toBe('41fffe');
    expect(goUnquote('\\000\\101\\377').toString('hex')).toBe('0041ff');
    expect(goUnquote('\\u00e9\\U0001F600').toString('utf8')).toBe('é\u{1F600}');
    expect(goUnquote("it's raw: é\t").toString('utf8')).toBe("it's raw: é\t");
  });

  test('rejects what Go rejects', () => {
    const bad = ['"', 'a"b', 'a\nb', '\\', '\\q', "\\'", '\\x4', '\\xg0', '\\400', '\\18', '\\u12', '\\ud800', '\\U00110000', '\\8'];
    for (const text of bad) {
      expect(() => goUnquote(text), JSON.stringify(text)).toThrow(GoUnquoteError);
    }
    expect(new GoUnquoteError('x', 'y')).toBeInstanceOf(CorruptDataError);
  });
});
