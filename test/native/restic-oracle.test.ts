// The Rabin chunker against the real restic 0.14: restic backs up files of several sizes into a
// fresh repository (with its own random polynomial); every file node's content blob ids must
// equal what our chunker + SHA-256 produce for that polynomial.
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hex, nativeCore, tempDir, textStream } from './helpers.ts';

const RESTIC = '/usr/bin/restic';
const tmp = tempDir('restic-oracle');
afterAll(() => tmp.remove());

const repo = join(tmp.dir, 'repo');
const env = { ...process.env, RESTIC_PASSWORD: 'oracle-password', RESTIC_REPOSITORY: repo, RESTIC_CACHE_DIR: join(tmp.dir, 'cache') };

function restic(...args: string[]): string {
  return execFileSync(RESTIC, args, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
}

/** Deterministic pseudo-random bytes (AES-128-CTR keystream keyed by the seed). */
function keystream(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

interface TreeNode {
  name: string;
  type: string;
  subtree?: string;
  content?: string[] | null;
}

const MiB = 1 << 20;

const files: Record<string, () => Buffer> = {
  'tiny-100KiB.bin': () => keystream('tiny', 100 * 1024),
  'just-under-min.bin': () => keystream('under', 512 * 1024 - 1),
  'small-700KiB.txt': () => textStream('small', 700 * 1024),
  'random-3MiB.bin': () => keystream('random', 3 * MiB),
  'text-and-zeros-20MiB.txt': () =>
    Buffer.concat([textStream('text', 9 * MiB), Buffer.alloc(2 * MiB + 12345), textStream('text-2', 9 * MiB - 12345)]),
  // > 64 MiB, with a constant run long enough to force 8 MiB cuts
  'large-70MiB.bin': () =>
    Buffer.concat([keystream('large-1', 30 * MiB), Buffer.alloc(20 * MiB, 0x5a), keystream('large-2', 20 * MiB + 777)]),
};

describe('restic 0.14 oracle', () => {
  it('our Rabin boundaries and ids equal restic backup content ids', async () => {
    const core = await nativeCore();
    restic('init');
    const config = JSON.parse(restic('cat', 'config')) as { chunker_polynomial: string };
    expect(config.chunker_polynomial).toMatch(/^[0-9a-f]+$/);

    const src = join(tmp.dir, 'src');
    mkdirSync(src);
    for (const [name, make] of Object.entries(files)) writeFileSync(join(src, name), make());
    restic('backup', '--host', 'oracle', src);

    const [snap] = JSON.parse(restic('snapshots', '--json')) as { tree: string }[];
    expect(snap).toBeDefined();
    let tree = snap?.tree ?? '';
    for (const part of src.split('/').filter((p) => p !== '')) {
      const nodes = (JSON.parse(restic('cat', 'blob', tree)) as { nodes: TreeNode[] }).nodes;
      const next = nodes.find((n) => n.name === part && n.type === 'dir');
      expect(next?.subtree, `directory ${part}`).toBeDefined();
      tree = next?.subtree ?? '';
    }
    const nodes = (JSON.parse(restic('cat', 'blob', tree)) as { nodes: TreeNode[] }).nodes;
    expect(nodes.map((n) => n.name).sort()).toEqual(Object.keys(files).sort());

    const spec = { kind: 'rabin', polynomial: config.chunker_polynomial } as const;
    const names = Object.keys(files);
    const results = await core.processFiles(
      names.map((name) => ({ path: join(src, name), offset: 0, maxBytes: 0 })),
      { chunker: spec, hash: 'sha256', compression: { kind: 'none' }, seal: { kind: 'none' }, known: core.newBlobSet() },
    );
    let total = 0;
    names.forEach((name, i) => {
      const node = nodes.find((n) => n.name === name);
      const ours = results[i];
      expect(ours?.error).toBeUndefined();
      expect(ours?.chunks.map((c) => hex(c.id)), name).toEqual(node?.content);
      const data = readFileSync(join(src, name));
      expect(core.chunkBuffer(spec, data)).toEqual(ours?.chunks.map((c) => c.length));
      total += ours?.chunks.length ?? 0;
    });
    // the large file really was cut at MaxSize inside the constant run
    const large = results[names.indexOf('large-70MiB.bin')];
    expect(large?.chunks.some((c) => c.length === 8 * MiB)).toBe(true);
    expect(total).toBeGreaterThan(20);
  });
});
