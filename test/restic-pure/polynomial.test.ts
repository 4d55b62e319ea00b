import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  formatPolynomial,
  isIrreducible,
  parsePolynomial,
  polyDegree,
  polyGcd,
  polyMod,
  polyMul,
  POLYNOMIAL_DEGREE,
  randomIrreduciblePolynomial,
} from '../../src/formats/restic/polynomial.ts';
import { resticStatus, scratchDir } from './helpers/restic-cli.ts';
import { ResticRepo } from './helpers/restic-repo.ts';

// polynomials restic created or accepted (fixtures, chunker vectors, formats/restic.md §10.5)
const KNOWN_IRREDUCIBLE = ['262a2b9ada055f', '2e971b4527edad', '3da3358b4dc173', '25219e99d1bc4b', '3cebc87fe9d345', '260c53ffd419f7'];

/** Deterministic random bytes (SHA-256 counter stream) for reproducible draws. */
function seededBytes(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i += 32) {
      createHash('sha256').update(`${seed}/${counter++}`).digest().copy(out, i, 0, Math.min(32, n - i));
    }
    return out;
  };
}

/**
 * An independent test: for prime degree n, f is irreducible iff x^(2^n) ≡ x (mod f) and f has
 * no linear factor (Rabin's test; the only proper divisor of 53 is 1).
 */
function rabinIrreducible(f: bigint): boolean {
  const n = polyDegree(f);
  if ((f & 1n) === 0n) return false; // divisible by x
  let parity = 0n;
  for (let v = f; v !== 0n; v &= v - 1n) parity ^= 1n;
  if (parity === 0n) return false; // f(1) = 0: divisible by x + 1
  let h = 2n;
  for (let i = 0; i < n; i++) h = polyMod(polyMul(h, h), f);
  return h === 2n;
}

describe('GF(2) polynomial arithmetic', () => {
  test('multiplication, remainder, gcd', () => {
    expect(polyMul(0b11n, 0b11n)).toBe(0b101n); // (x+1)^2 = x^2+1
    expect(polyMod(0b101n, 0b11n)).toBe(0n);
    expect(polyMod(0b1000n, 0b1011n)).toBe(0b011n); // x^3 mod x^3+x+1 = x+1
    expect(polyGcd(polyMul(0b111n, 0b1011n), polyMul(0b111n, 0b1101n))).toBe(0b111n);
    expect(polyDegree(0n)).toBe(-1);
    expect(polyDegree(1n << 53n)).toBe(53);
    expect(() => polyMod(5n, 0n)).toThrow(RangeError);
  });

  test('the polynomials restic uses are irreducible', () => {
    for (const hex of KNOWN_IRREDUCIBLE) {
      const f = parsePolynomial(hex);
      expect(polyDegree(f)).toBe(POLYNOMIAL_DEGREE);
      expect(isIrreducible(f), hex).toBe(true);
      expect(formatPolynomial(f)).toBe(hex);
    }
  });

  test('reducible polynomials are rejected', () => {
    const a = parsePolynomial('262a2b9ada055f');
    expect(isIrreducible((1n << 53n) | 1n)).toBe(false); // x^53 + 1 = (x+1)(...)
    expect(isIrreducible(a ^ 1n)).toBe(false); // no constant term: divisible by x
    expect(isIrreducible(polyMul(0b111n, 0b1011n))).toBe(false); // degree 5
    // a product of two irreducible factors of degrees 20 and 33
    const f20 = randomIrreducible(20, 'f20');
    const f33 = randomIrreducible(33, 'f33');
    expect(isIrreducible(f20) && isIrreducible(f33)).toBe(true);
    expect(isIrreducible(polyMul(f20, f33))).toBe(false);
    expect(isIrreducible(0n)).toBe(false);
    expect(isIrreducible(1n)).toBe(false);
    expect(isIrreducible(2n)).toBe(true); // x
    expect(isIrreducible(0b111n)).toBe(true); // x^2+x+1
  });

  test("Ben-Or agrees with Rabin's test on 300 random degree-53 candidates", () => {
    const next = seededBytes('ben-or');
    let irreducible = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = next(8);
      const f = (BigInt('0x' + Buffer.from(bytes).toString('hex')) & ((1n << 53n) - 1n)) | (1n << 53n);
      const expected = rabinIrreducible(f);
      expect(isIrreducible(f), formatPolynomial(f)).toBe(expected);
      if (expected) irreducible++;
    }
    expect(irreducible).toBeGreaterThan(3); // about 2/53 of candidates with constant term
  });

  test('random generation draws like restic init: 8 bytes little-endian, masked, x^53 and 1 set', () => {
    const f = randomIrreduciblePolynomial(seededBytes('init'));
    expect(polyDegree(f)).toBe(53);
    expect(f & 1n).toBe(1n);
    expect(isIrreducible(f)).toBe(true);
    // reproduce the loop by hand: the first irreducible candidate of the same stream
    const again = seededBytes('init');
    let expected = 0n;
    for (;;) {
      const bytes = again(8);
      let v = 0n;
      for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
      v = (v & ((1n << 54n) - 1n)) | (1n << 53n) | 1n;
      if (rabinIrreducible(v)) {
        expected = v;
        break;
      }
    }
    expect(f).toBe(expected);
    expect(() => randomIrreduciblePolynomial(() => new Uint8Array(4))).toThrow(/returned 4 bytes/);
  });

  test('hex format and parse', () => {
    expect(formatPolynomial(0x3da3358b4dc173n)).toBe('3da3358b4dc173');
    expect(parsePolynomial('3DA3358B4DC173')).toBe(0x3da3358b4dc173n);
    for (const bad of ['', '0x12', 'xyz', '1'.repeat(17)]) expect(() => parsePolynomial(bad)).toThrow(RangeError);
  });
});

function randomIrreducible(degree: number, seed: string): bigint {
  const next = seededBytes(seed);
  for (;;) {
    const v = (BigInt('0x' + Buffer.from(next(8)).toString('hex')) & ((1n << BigInt(degree)) - 1n)) | (1n << BigInt(degree)) | 1n;
    if (isIrreducible(v)) return v;
  }
}

describe('restic 0.14 judges our polynomials the same way', () => {
  const scratch = scratchDir('restic-poly-');
  afterAll(() => scratch.remove());

  test('a generated polynomial is accepted, a reducible one refused', () => {
    const good = formatPolynomial(randomIrreduciblePolynomial((n) => randomBytes(n)));
    const bad = formatPolynomial(polyMul(randomIrreducible(20, 'r20'), randomIrreducible(33, 'r33')));
    for (const [name, poly, ok] of [
      ['good', good, true],
      ['bad', bad, false],
    ] as const) {
      const repo = join(scratch.dir, name);
      ResticRepo.create(repo, 'pw', { version: 2, polynomial: poly });
      const r = resticStatus({ repo, password: 'pw', cacheDir: join(scratch.dir, 'cache') }, ['cat', 'config']);
      if (ok) {
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout).chunker_polynomial).toBe(poly);
      } else {
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(/invalid chunker polynomial/);
      }
    }
  });
});
