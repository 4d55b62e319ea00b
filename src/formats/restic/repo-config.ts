// The repository config file (formats/restic.md §3): sealed, never compressed.
import { CorruptDataError } from '../../backup/errors.ts';
import { isIrreducible, parsePolynomial } from './polynomial.ts';
import { isId } from './ids.ts';

export interface RepositoryConfig {
  version: 1 | 2;
  id: string;
  /** Hex as stored (Go %x). */
  chunkerPolynomial: string;
}

export function encodeRepositoryConfig(config: RepositoryConfig): Buffer {
  return Buffer.from(`{"version":${config.version},"id":"${config.id}","chunker_polynomial":"${config.chunkerPolynomial}"}`);
}

export function decodeRepositoryConfig(bytes: Uint8Array): RepositoryConfig {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new CorruptDataError('repository config: not valid JSON');
  }
  const version = doc['version'];
  if (version !== 1 && version !== 2) throw new CorruptDataError(`repository config: unsupported repository version ${JSON.stringify(version)} (1 and 2 are supported)`);
  const id = doc['id'];
  if (typeof id !== 'string' || !isId(id)) throw new CorruptDataError('repository config: invalid id');
  const pol = doc['chunker_polynomial'];
  if (typeof pol !== 'string') throw new CorruptDataError('repository config: missing chunker_polynomial');
  let value: bigint;
  try {
    value = parsePolynomial(pol);
  } catch {
    throw new CorruptDataError(`repository config: invalid chunker polynomial "${pol}"`);
  }
  if (!isIrreducible(value)) throw new CorruptDataError(`repository config: chunker polynomial ${pol} is not irreducible`);
  return { version, id, chunkerPolynomial: value.toString(16) };
}
