// Appends strings as UTF-8 to one growing buffer. Building a large JSON document by string
// concatenation keeps every piece alive (engines represent `a + b` as a rope) until the final
// join; writing each piece as it is made lets it die young.

export class Utf8Sink {
  private buffer: Buffer;
  private used = 0;

  constructor(initialBytes = 4096) {
    this.buffer = Buffer.allocUnsafe(Math.max(64, initialBytes));
  }

  write(text: string): void {
    // One UTF-16 code unit never needs more than three UTF-8 bytes.
    const worst = this.used + text.length * 3;
    if (worst > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(worst, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, this.used);
      this.buffer = grown;
    }
    this.used += this.buffer.write(text, this.used, 'utf8');
  }

  /** The bytes written so far (a view of the sink's buffer). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.used);
  }
}
