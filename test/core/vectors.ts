// Loading test/vectors/*.json and the fixtures written by the real tools.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');

/** Fixtures written by the real restic and ghostsnap (a committed copy of shared/fixtures). */
const fixturesDir = resolve(repoRoot, 'test/fixtures');

export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(resolve(repoRoot, 'test/vectors', name), 'utf8')) as T;
}

export function loadFixture<T>(rel: string): T {
  return JSON.parse(readFileSync(resolve(fixturesDir, rel), 'utf8')) as T;
}

export function fixturePath(rel: string): string {
  return resolve(fixturesDir, rel);
}

export const hex = (h: string): Buffer => Buffer.from(h, 'hex');
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
