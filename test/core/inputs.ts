// Deterministic test inputs from JSON specs; the twin of test/vectors/generate/inputs.py.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';

export type InputSpec =
  | { kind: 'sha256ctr'; seed: string; length: number }
  | { kind: 'text'; seed: string; length: number }
  | { kind: 'zeros'; length: number }
  | { kind: 'fill'; byte: number; length: number }
  | { kind: 'pattern251'; length: number }
  | { kind: 'xorshift32_nibbles'; length: number }
  | { kind: 'utf8'; text: string }
  | { kind: 'hex'; hex: string }
  | { kind: 'concat'; parts: InputSpec[] };

/** An input as stored in the vectors: the spec plus what it must generate. */
export interface DescribedInput {
  spec: InputSpec;
  length: number;
  sha256: string;
}

function sha256ctr(seed: string, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  const s = Buffer.from(seed);
  const ctr = Buffer.alloc(8);
  for (let off = 0, i = 0; off < n; off += 32, i++) {
    ctr.writeUInt32LE(i % 2 ** 32, 0);
    ctr.writeUInt32LE(Math.floor(i / 2 ** 32), 4);
    const d = createHash('sha256').update(s).update(ctr).digest();
    d.copy(out, off, 0, Math.min(32, n - off));
  }
  return out;
}

const TEXT = Buffer.from('abcd \n');

export function generate(spec: InputSpec): Buffer {
  switch (spec.kind) {
    case 'sha256ctr':
      return sha256ctr(spec.seed, spec.length);
    case 'text': {
      const b = sha256ctr(spec.seed, spec.length);
      for (let i = 0; i < b.length; i++) b[i] = TEXT[(b[i] as number) % 6] as number;
      return b;
    }
    case 'zeros':
      return Buffer.alloc(spec.length);
    case 'fill':
      return Buffer.alloc(spec.length, spec.byte);
    case 'pattern251': {
      const b = Buffer.allocUnsafe(spec.length);
      for (let i = 0; i < b.length; i++) b[i] = i % 251;
      return b;
    }
    case 'xorshift32_nibbles': {
      const b = Buffer.allocUnsafe(spec.length);
      let x = 0x12345678;
      for (let i = 0; i < b.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        b[i] = x & 0x0f;
      }
      return b;
    }
    case 'utf8':
      return Buffer.from(spec.text, 'utf8');
    case 'hex':
      return Buffer.from(spec.hex, 'hex');
    case 'concat':
      return Buffer.concat(spec.parts.map(generate));
  }
}

const cache = new Map<string, Buffer>();

/** Generates (once per test file) and checks the input against its recorded length and SHA-256. */
export function inputOf(d: DescribedInput): Buffer {
  const key = JSON.stringify(d.spec);
  let data = cache.get(key);
  if (data === undefined) {
    data = generate(d.spec);
    const digest = createHash('sha256').update(data).digest('hex');
    if (data.length !== d.length || digest !== d.sha256) {
      throw new Error(`input generator mismatch for ${key}: ${data.length} bytes, sha256 ${digest}`);
    }
    cache.set(key, data);
  }
  return data;
}
