// postcard, the binary encoding of ghostsnap's pack headers, chunk maps and index
// (formats/ghostsnap.md §16): unsigned LEB128 varints for every integer and length, strings as
// varint length + UTF-8, Option as a 0/1 tag, structs as their fields in order.
import { CorruptDataError } from '../../backup/errors.ts';

export class PostcardWriter {
  private readonly parts: Buffer[] = [];
  private scratch = Buffer.allocUnsafe(256);
  private used = 0;

  private room(n: number): void {
    if (this.used + n <= this.scratch.length) return;
    this.flushScratch();
    if (n > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(n, 256));
  }

  private flushScratch(): void {
    if (this.used === 0) return;
    this.parts.push(Buffer.from(this.scratch.subarray(0, this.used)));
    this.used = 0;
  }

  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`postcard varint out of range: ${value}`);
    this.room(10);
    let v = value;
    while (v >= 0x80) {
      this.scratch[this.used++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.scratch[this.used++] = v;
    return this;
  }

  string(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    this.varint(bytes.length);
    this.room(bytes.length);
    bytes.copy(this.scratch, this.used);
    this.used += bytes.length;
    return this;
  }

  optionString(value: string | undefined): this {
    if (value === undefined) return this.varint(0);
    return this.varint(1).string(value);
  }

  finish(): Buffer {
    this.flushScratch();
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
  }
}

export class PostcardReader {
  private pos = 0;

  constructor(
    private readonly bytes: Buffer,
    /** Names the object in error messages. */
    private readonly what: string,
  ) {}

  private fail(message: string): never {
    throw new CorruptDataError(`${this.what}: ${message} at byte ${this.pos}`);
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) this.fail('truncated varint');
      const b = this.bytes[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) this.fail('varint too large');
        return result;
      }
      scale *= 0x80;
    }
    return this.fail('varint longer than 10 bytes');
  }

  string(): string {
    const length = this.varint();
    if (this.pos + length > this.bytes.length) this.fail(`string of ${length} bytes runs past the end`);
    const slice = this.bytes.subarray(this.pos, this.pos + length);
    const text = slice.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(slice)) this.fail('string is not valid UTF-8');
    this.pos += length;
    return text;
  }

  optionString(): string | undefined {
    const tag = this.varint();
    if (tag === 0) return undefined;
    if (tag !== 1) this.fail(`invalid Option tag ${tag}`);
    return this.string();
  }

  /** The whole input must have been consumed. */
  end(): void {
    if (this.pos !== this.bytes.length) this.fail(`${this.bytes.length - this.pos} bytes left over`);
  }
}
