import { describe, expect, test } from 'vitest';
import { CorruptDataError } from '../../src/backup/errors.ts';
import {
  goJsonArray,
  goJsonBytes,
  goJsonInteger,
  goJsonObject,
  goJsonString,
  isGoEmpty,
  omitEmpty,
} from '../../src/formats/restic/go-json.ts';
import {
  asObject,
  JsonNumber,
  JsonObject,
  parseGoJson,
  readBytes,
  readId,
  readInt,
  readString,
  readStringList,
  readTime,
  readUint,
  readUintBig,
} from '../../src/formats/restic/go-json-parse.ts';

const bytes = (...b: number[]): Buffer => Buffer.from(b);

describe('goJsonString (Go 1.19 encoding/json)', () => {
  test('escapes what Go escapes and nothing else', () => {
    expect(goJsonString('plain / text é 名 \u{1F600}')).toBe('"plain / text é 名 \u{1F600}"');
    expect(goJsonString('"\\')).toBe('"\\"\\\\"');
    expect(goJsonString('\n\r\t')).toBe('"\\n\\r\\t"');
    // \b and \f as \u00XX: Go 1.19 (Go >= 1.22 writes \b \f)
    expect(goJsonString('\b\f\u0000\u0001\u001f')).toBe('"\\u0008\\u000c\\u0000\\u0001\\u001f"');
    expect(goJsonString('<a>&b')).toBe('"\\u003ca\\u003e\\u0026b"');
    expect(goJsonString('\u2028\u2029\u2027\u202a')).toBe('"\\u2028\\u2029\u2027\u202a"');
    expect(goJsonString('\u007f\u0080\u00a0')).toBe('"\u007f\u0080\u00a0"');
  });

  test('each byte outside valid UTF-8 becomes \\ufffd (Go decodes rune by rune)', () => {
    expect(goJsonString(bytes(0x74, 0xff, 0x74))).toBe('"t\\ufffdt"');
    expect(goJsonString(bytes(0xe2, 0x82, 0x41))).toBe('"\\ufffd\\ufffdA"'); // truncated sequence
    expect(goJsonString(bytes(0xed, 0xa0, 0x80))).toBe('"\\ufffd\\ufffd\\ufffd"'); // encoded surrogate
    expect(goJsonString(bytes(0xc0, 0xaf))).toBe('"\\ufffd\\ufffd"'); // overlong
    expect(goJsonString(bytes(0xf4, 0x90, 0x80, 0x80))).toBe('"\\ufffd\\ufffd\\ufffd\\ufffd"'); // > U+10FFFF
    expect(goJsonString(bytes(0xf0, 0x9f, 0x98))).toBe('"\\ufffd\\ufffd\\ufffd"'); // truncated at the end
    expect(goJsonString(bytes(0xef, 0xbf, 0xbd))).toBe('"\ufffd"'); // a real U+FFFD stays raw
    expect(goJsonString(bytes(0xe2, 0x80, 0xa8, 0xff))).toBe('"\\u2028\\ufffd"');
  });

  test('a Buffer view into a larger buffer is read at its own offset', () => {
    const big = Buffer.from('xx<yy', 'utf8');
    expect(goJsonString(big.subarray(1, 4))).toBe('"x\\u003cy"');
  });

  test('numbers, bytes, arrays, objects in the given order with omitted members', () => {
    expect(goJsonInteger(0)).toBe('0');
    expect(goJsonInteger(2 ** 53 - 1)).toBe('9007199254740991');
    expect(goJsonInteger(18446744073709551615n)).toBe('18446744073709551615');
    expect(() => goJsonInteger(1.5)).toThrow(RangeError);
    expect(goJsonBytes(bytes(0, 0xff, 0x41))).toBe('"AP9B"');
    expect(goJsonBytes(Buffer.alloc(0))).toBe('""');
    expect(goJsonArray([])).toBe('[]');
    expect(goJsonObject([['b', '1'], ['a', undefined], ['<', '"x"']])).toBe('{"b":1,"\\u003c":"x"}');
    expect(goJsonObject([])).toBe('{}');
  });

  test('omitempty follows Go: false, 0, "", empty slices, nil', () => {
    for (const empty of [undefined, null, false, 0, 0n, '', [], Buffer.alloc(0)]) expect(isGoEmpty(empty)).toBe(true);
    for (const full of [true, 1, -1, 1n, ' ', [0], Buffer.alloc(1), {}]) expect(isGoEmpty(full)).toBe(false);
    expect(omitEmpty(0, goJsonInteger)).toBeUndefined();
    expect(omitEmpty(7, goJsonInteger)).toBe('7');
    expect(omitEmpty<string[]>([], goJsonArray)).toBeUndefined();
  });
});

describe('parseGoJson', () => {
  test('values and exact integers', () => {
    const v = parseGoJson(' {"a":[1,-0,1.5e3,true,false,null,"s"],"big":18446744073709551615} ', 'doc') as JsonObject;
    expect(v).toBeInstanceOf(JsonObject);
    const a = v.field('a') as unknown[];
    expect(a.map((x) => (x instanceof JsonNumber ? x.text : x))).toEqual(['1', '-0', '1.5e3', true, false, null, 's']);
    expect(readUintBig(v.field('big'), 'big', 64)).toBe(18446744073709551615n);
  });

  test('strings: escapes, surrogate pairs, lone surrogates and invalid UTF-8 as U+FFFD', () => {
    expect(parseGoJson('"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"', 's')).toBe('"\\/\b\f\n\r\té\u{1F600}');
    expect(parseGoJson('"\\ud800x\\udc00"', 's')).toBe('\ufffdx\ufffd');
    expect(parseGoJson('"\\ud800\\u0041"', 's')).toBe('\ufffdA');
    expect(parseGoJson(Buffer.concat([Buffer.from('"a'), bytes(0xff, 0xe2, 0x82), Buffer.from('b"')]), 's')).toBe('a\ufffd\ufffd\ufffdb');
    expect(parseGoJson(Buffer.from('"名前"'), 's')).toBe('名前');
  });

  test('strict syntax, as Go rejects it', () => {
    for (const bad of ['', '{', '[1,]', '{"a":1,}', '01', '1.', '.5', '+1', '"\t"', '"\\x41"', "'a'", 'nul', '{"a" 1}', '[1 2]', '1 2', 'NaN', '"abc']) {
      expect(() => parseGoJson(bad, 'doc'), JSON.stringify(bad)).toThrow(CorruptDataError);
    }
    expect(() => parseGoJson('[1,]', 'index abc')).toThrow(/^index abc: invalid JSON at byte 3/);
  });

  test('object members map to fields case-insensitively, the last one winning', () => {
    const obj = asObject(parseGoJson('{"Name":"a","nAME":"b","other":"c","\u212aey":"k"}', 'o'), 'o');
    expect(obj.field('name')).toBe('b');
    expect(obj.field('key')).toBe('k');
    expect(obj.field('missing')).toBeUndefined();
  });

  test('typed readers: null is the zero value; wrong types name the field', () => {
    const obj = asObject(parseGoJson('{"n":null,"u":42,"neg":-1,"f":1.0,"s":"x","id":"AB' + 'c'.repeat(62) + '","b":"AP9B","t":"2024-01-02T03:04:05.5+01:00"}', 'o'), 'o');
    expect(readUint(obj.field('n'), 'o.n', 32)).toBe(0);
    expect(readString(obj.field('n'), 'o.n')).toBe('');
    expect(readStringList(obj.field('n'), 'o.n')).toBeUndefined();
    expect(readUint(obj.field('u'), 'o.u', 32)).toBe(42);
    expect(readInt(obj.field('neg'), 'o.neg')).toBe(-1);
    expect(() => readUint(obj.field('neg'), 'o.neg', 32)).toThrow(/^o\.neg: expected an unsigned integer, got number -1$/);
    expect(() => readUint(obj.field('f'), 'o.f', 64)).toThrow(/^o\.f: expected an unsigned integer, got number 1\.0$/);
    expect(() => readString(obj.field('u'), 'o.u')).toThrow(/^o\.u: expected a string, got number 42$/);
    expect(readId(obj.field('id'), 'o.id')).toBe('ab' + 'c'.repeat(62));
    expect(() => readId(obj.field('s'), 'o.s')).toThrow(/^o\.s: expected an ID/);
    expect(readBytes(obj.field('b'), 'o.b').toString('hex')).toBe('00ff41');
    expect(() => readBytes(obj.field('s'), 'o.s')).toThrow(/invalid base64/);
    expect(readTime(obj.field('t'), 'o.t')).toEqual({ sec: 1704161045, nsec: 500_000_000, offsetMinutes: 60 });
    expect(readTime(obj.field('n'), 'o.n')).toEqual({ sec: -62135596800, nsec: 0, offsetMinutes: 0 });
    expect(() => readTime(obj.field('s'), 'o.s')).toThrow(/^o\.s: invalid RFC 3339 time/);
    expect(() => readUint(new JsonNumber('4294967296'), 'x', 32)).toThrow(/32 bits/);
    expect(() => readUint(new JsonNumber('9007199254740992'), 'x', 64)).toThrow(/2\^53/);
  });
});
