// Go's UTF-8 decoding rule (unicode/utf8.DecodeRune), shared by the JSON string encoder and
// strconv.Quote. Go decodes one rune at a time and treats a byte that does not start a valid,
// shortest-form sequence of a scalar value as a 1-byte error. TextDecoder replaces maximal
// subparts instead (one U+FFFD for "E2 82"), which would not give restic's bytes.

/**
 * Length (1-4) of the valid UTF-8 sequence starting at `i`, or 0 when the byte at `i` does not
 * start one (Go: DecodeRune returns RuneError with width 1). `i` must be in range.
 */
export function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  if (b0 < 0xc2 || b0 > 0xf4) return 0;
  const n = bytes.length;
  const b1 = i + 1 < n ? bytes[i + 1]! : -1;
  if (b0 < 0xe0) return b1 >= 0x80 && b1 <= 0xbf ? 2 : 0;
  // The second byte's range excludes overlong forms, surrogates and code points > U+10FFFF.
  const lo = b0 === 0xe0 ? 0xa0 : b0 === 0xf0 ? 0x90 : 0x80;
  const hi = b0 === 0xed ? 0x9f : b0 === 0xf4 ? 0x8f : 0xbf;
  if (b1 < lo || b1 > hi) return 0;
  const b2 = i + 2 < n ? bytes[i + 2]! : -1;
  if (b2 < 0x80 || b2 > 0xbf) return 0;
  if (b0 < 0xf0) return 3;
  const b3 = i + 3 < n ? bytes[i + 3]! : -1;
  return b3 >= 0x80 && b3 <= 0xbf ? 4 : 0;
}

/** The code point of the valid sequence of `length` bytes at `i` (see utf8SequenceLength). */
export function codePointAt(bytes: Uint8Array, i: number, length: number): number {
  switch (length) {
    case 1:
      return bytes[i]!;
    case 2:
      return ((bytes[i]! & 0x1f) << 6) | (bytes[i + 1]! & 0x3f);
    case 3:
      return ((bytes[i]! & 0x0f) << 12) | ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f);
    default:
      return (
        ((bytes[i]! & 0x07) << 18) |
        ((bytes[i + 1]! & 0x3f) << 12) |
        ((bytes[i + 2]! & 0x3f) << 6) |
        (bytes[i + 3]! & 0x3f)
      );
  }
}

/** Go's utf8.Valid. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; ) {
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) return false;
    i += len;
  }
  return true;
}

