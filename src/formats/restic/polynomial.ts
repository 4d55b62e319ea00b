// The chunker polynomial of a restic repository (formats/restic.md §3, §10.5): a polynomial over
// GF(2) of degree 53, stored as a uint64 whose bit i is the coefficient of x^i. restic refuses a
// config whose polynomial is reducible, and `init` draws a random irreducible one.

/** Degree of restic's chunker polynomials. */
export const POLYNOMIAL_DEGREE = 53;

const MAX_ATTEMPTS = 1_000_000;

/** Degree of a non-zero polynomial; -1 for the zero polynomial. */
export function polyDegree(p: bigint): number {
  return p === 0n ? -1 : p.toString(2).length - 1;
}

/** Carry-less product. */
export function polyMul(a: bigint, b: bigint): bigint {
  let result = 0n;
  for (let shift = 0n; b !== 0n; shift++, b >>= 1n) {
    if (b & 1n) result ^= a << shift;
  }
  return result;
}

/** Remainder of carry-less division: reduce while deg(a) ≥ deg(m). */
export function polyMod(a: bigint, m: bigint): bigint {
  if (m === 0n) throw new RangeError('division by the zero polynomial');
  const dm = polyDegree(m);
  for (let da = polyDegree(a); da >= dm; da = polyDegree(a)) a ^= m << BigInt(da - dm);
  return a;
}

export function polyGcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, polyMod(a, b)];
  return a;
}

/** Ben-Or's test: f is irreducible iff gcd(f, x^(2^i) − x) = 1 for i = 1 .. deg(f)/2. */
export function isIrreducible(f: bigint): boolean {
  const degree = polyDegree(f);
  if (degree < 1) return false;
  let h = 2n; // x
  for (let i = 1; i <= degree / 2; i++) {
    h = polyMod(polyMul(h, h), f); // x^(2^i) mod f
    if (polyGcd(f, h ^ 2n) !== 1n) return false;
  }
  return true;
}

/** Go `%x` of a uint64: lower-case hex, no prefix, no leading zeros. */
export function formatPolynomial(p: bigint): string {
  return p.toString(16);
}

/** Parses the config's `chunker_polynomial` (base-16 unsigned, as restic does). */
export function parsePolynomial(text: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new RangeError(`invalid chunker polynomial ${JSON.stringify(text)}`);
  return BigInt('0x' + text);
}

/**
 * A random irreducible polynomial of degree 53, drawn as `restic init` does: 8 random bytes
 * read as a little-endian uint64, cut to 54 bits, with x^53 and 1 set; repeated until the
 * candidate is irreducible.
 */
export function randomIrreduciblePolynomial(randomBytes: (n: number) => Uint8Array): bigint {
  const mask = (1n << BigInt(POLYNOMIAL_DEGREE + 1)) - 1n;
  const required = (1n << BigInt(POLYNOMIAL_DEGREE)) | 1n;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const bytes = randomBytes(8);
    if (bytes.length !== 8) throw new RangeError(`randomBytes(8) returned ${bytes.length} bytes`);
    let f = 0n;
    for (let i = 7; i >= 0; i--) f = (f << 8n) | BigInt(bytes[i]!);
    f = (f & mask) | required;
    if (isIrreducible(f)) return f;
  }
  throw new Error(`no irreducible polynomial found in ${MAX_ATTEMPTS} attempts; the random source is broken`);
}
