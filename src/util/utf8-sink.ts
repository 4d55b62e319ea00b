// Appends text as UTF-8 to one growing buffer. Building a large JSON document by string
// concatenation keeps every piece alive (engines represent `a + b` as a rope) until the final
// join, and every small piece (a number, a quoted name) is a string of its own; writing bytes as
// they are made leaves almost nothing behind.

/** ASCII pieces up to this length are copied by a loop (see copyAscii). */
const SHORT_ASCII = 24;
/** '0'…'9', 'a'…'f' as bytes. */
const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

export class Utf8Sink {
  private buffer: Buffer;
  private used = 0;

  constructor(initialBytes = 4096) {
    this.buffer = Buffer.allocUnsafe(Math.max(64, initialBytes));
  }

  private reserve(bytes: number): void {
    const needed = this.used + bytes;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }

  write(text: string): void {
    // One UTF-16 code unit never needs more than three UTF-8 bytes.
    this.reserve(text.length * 3);
    this.used += this.buffer.write(text, this.used, 'utf8');
  }

  /** Text known to be ASCII (punctuation, member names, hex ids, formatted times). */
  ascii(text: string): void {
    this.reserve(text.length);
    this.copyAscii(text);
  }

  /** ASCII text between double quotes (a JSON string that needs no escaping). */
  quoted(text: string): void {
    this.reserve(text.length + 2);
    this.buffer[this.used++] = 0x22;
    this.copyAscii(text);
    this.buffer[this.used++] = 0x22;
  }

  /**
   * Short text byte by byte: a Buffer.write call costs ~40 ns, a 20-character loop ~12 (a tree
   * node is written from some 25 such pieces); from ~32 characters on (hex ids) the call wins.
   */
  private copyAscii(text: string): void {
    if (text.length > SHORT_ASCII) {
      this.used += this.buffer.write(text, this.used, 'latin1');
      return;
    }
    const buffer = this.buffer;
    let at = this.used;
    for (let i = 0; i < text.length; i++) buffer[at++] = text.charCodeAt(i);
    this.used = at;
  }

  /** `length` bytes of `bytes` from `start` as lower-case hex between double quotes. */
  quotedHex(bytes: Uint8Array, start: number, length: number): void {
    this.reserve(2 * length + 2);
    const buffer = this.buffer;
    let at = this.used;
    buffer[at++] = 0x22;
    for (let i = start; i < start + length; i++) {
      const b = bytes[i]!;
      buffer[at++] = HEX_DIGITS[b >> 4]!;
      buffer[at++] = HEX_DIGITS[b & 15]!;
    }
    buffer[at++] = 0x22;
    this.used = at;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.used++] = value;
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** `bytes[start, end)`, copied without a view of its own. */
  rawRange(bytes: Buffer, start: number, end: number): void {
    this.reserve(end - start);
    this.used += bytes.copy(this.buffer, this.used, start, end);
  }

  /** A non-negative safe integer in decimal (the caller checks the range). */
  uint(value: number): void {
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits += 1;
    this.padded(value, digits);
  }

  /** A non-negative safe integer in exactly `width` decimal digits, zeros in front. */
  padded(value: number, width: number): void {
    this.reserve(width);
    for (let i = this.used + width - 1, rest = value; i >= this.used; i--, rest = Math.floor(rest / 10)) this.buffer[i] = 0x30 + (rest % 10);
    this.used += width;
  }

  /** The bytes written so far (a view of the sink's buffer). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.used);
  }
}
