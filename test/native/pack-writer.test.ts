// The native pack writer: packs close at the target size, each handed over only once written
// and synced (its id the SHA-256 of the whole file, its header listing the blobs in order), and
// a failed write stops the writer and leaves no temporary file after discard().
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FinishedPack, SealSpec } from '../../src/native/types.ts';
import { decodePackHeader } from '../../src/formats/restic/pack.ts';
import { nativeCore, tempDir } from './helpers.ts';

const tmp = tempDir('pack-writer');
afterAll(() => tmp.remove());
const seal: SealSpec = { kind: 'restic', key: Buffer.alloc(64, 3) };

function checkPack(core: Awaited<ReturnType<typeof nativeCore>>, pack: FinishedPack): { id: string; offset: number; length: number }[] {
  const file = readFileSync(pack.path);
  expect(file.length).toBe(pack.size);
  expect(createHash('sha256').update(file).digest('hex')).toBe(Buffer.from(pack.id).toString('hex'));
  const headerLength = file.readUInt32LE(file.length - 4);
  const header = core.open(seal, file.subarray(file.length - 4 - headerLength, file.length - 4));
  const listed = decodePackHeader(header, 'test');
  expect(listed.map((b) => Buffer.from(b.id).toString('hex'))).toEqual(pack.blobs.map((b) => Buffer.from(b.id).toString('hex')));
  return pack.blobs.map((b) => ({ id: Buffer.from(b.id).toString('hex'), offset: b.offset, length: b.length }));
}

describe('native pack writer', () => {
  it('hands over complete, synced packs of about the target size, blobs in the order added', async () => {
    const core = await nativeCore();
    const dir = join(tmp.dir, 'packs');
    mkdirSync(dir);
    const writer = core.newPackWriter!({ dir, blobType: 'data', targetSize: 256 * 1024, seal });
    const added: { id: string; sealed: Buffer }[] = [];
    const taken: FinishedPack[] = [];
    for (let i = 0; i < 60; i++) {
      const sealed = core.seal(seal, randomBytes(20_000 + i * 500));
      const id = createHash('sha256').update(`blob ${i}`).digest();
      writer.add(id, sealed, 0);
      added.push({ id: id.toString('hex'), sealed });
      // Whatever is handed over mid-run must already be complete on disk.
      for (const pack of writer.takeFinished()) {
        checkPack(core, pack);
        taken.push(pack);
      }
    }
    writer.close();
    taken.push(...writer.takeFinished());
    expect(writer.failure()).toBeUndefined();
    expect(taken.length).toBeGreaterThanOrEqual(5);
    const blobs = taken.flatMap((pack) => {
      const file = readFileSync(pack.path);
      return checkPack(core, pack).map((b) => ({ id: b.id, bytes: file.subarray(b.offset, b.offset + b.length) }));
    });
    expect(blobs.map((b) => b.id)).toEqual(added.map((a) => a.id));
    blobs.forEach((b, i) => expect(b.bytes.equals(added[i]!.sealed)).toBe(true));
    for (const pack of taken.slice(0, -1)) expect(pack.size).toBeGreaterThanOrEqual(256 * 1024);
    expect(writer.takeFinished()).toEqual([]);
  });

  it('encodeAndAdd: plaintexts compressed (or not) and sealed on core threads, each one appended once', async () => {
    const core = await nativeCore();
    const dir = join(tmp.dir, 'encoded');
    mkdirSync(dir);
    const writer = core.newPackWriter!({ dir, blobType: 'tree', targetSize: 16 * 1024, seal });
    const plains = Array.from({ length: 40 }, (_, i) => (i % 4 === 3 ? randomBytes(3_000 + i) : Buffer.from(JSON.stringify({ nodes: Array.from({ length: 50 + i }, (_, k) => ({ name: `entry-${k}`, type: 'file' })) }) + '\n')));
    const ids = plains.map((p) => createHash('sha256').update(p).digest());
    // All in flight at once, every other one compressed.
    await Promise.all(plains.map((p, i) => writer.encodeAndAdd(ids[i]!, p, i % 2 === 0 ? 3 : undefined)));
    writer.close();
    const packs = writer.takeFinished(true);
    expect(writer.failure()).toBeUndefined();
    expect(packs.length).toBeGreaterThanOrEqual(2);
    const found = new Map<string, Buffer>();
    for (const pack of packs) {
      checkPack(core, pack);
      const file = readFileSync(pack.path);
      for (const b of pack.blobs) {
        const opened = core.open(seal, file.subarray(b.offset, b.offset + b.length));
        const plain = b.uncompressedLength > 0 ? core.decompress('zstd', opened, b.uncompressedLength) : opened;
        expect(found.has(Buffer.from(b.id).toString('hex'))).toBe(false);
        found.set(Buffer.from(b.id).toString('hex'), plain);
      }
    }
    expect(found.size).toBe(plains.length);
    plains.forEach((p, i) => {
      const stored = packs.flatMap((pack) => pack.blobs).find((b) => Buffer.from(b.id).equals(ids[i]!));
      expect(stored?.uncompressedLength, `blob ${i}`).toBe(i % 2 === 0 ? p.length : 0);
      expect(found.get(ids[i]!.toString('hex'))?.equals(p), `blob ${i}`).toBe(true);
    });
    // Compressed trees are smaller than their plaintext; the others are stored as they are.
    const sizes = packs.flatMap((pack) => pack.blobs);
    expect(sizes.find((b) => Buffer.from(b.id).equals(ids[0]!))!.length).toBeLessThan(plains[0]!.length);
    expect(sizes.find((b) => Buffer.from(b.id).equals(ids[1]!))!.length).toBe(plains[1]!.length + 32);
  });

  it('encodeAndAdd on a writer that failed rejects with the failure', async () => {
    const core = await nativeCore();
    const dir = join(tmp.dir, 'encoded-vanishing');
    mkdirSync(dir);
    const writer = core.newPackWriter!({ dir, blobType: 'tree', targetSize: 16 * 1024, seal });
    rmSync(dir, { recursive: true });
    await expect(writer.encodeAndAdd(createHash('sha256').update('x').digest(), randomBytes(1000))).rejects.toThrow(/cannot create/);
    await expect(writer.encodeAndAdd(createHash('sha256').update('y').digest(), randomBytes(1000), 3)).rejects.toThrow(/stopped earlier/);
    expect(writer.failure()?.message).toMatch(/cannot create/);
    await expect(writer.encodeAndAdd(Buffer.alloc(5), randomBytes(10))).rejects.toThrow(/32 bytes/);
    writer.discard();
  });

  it('a failed write stops the writer; discard() leaves no temporary file', async () => {
    const core = await nativeCore();
    const dir = join(tmp.dir, 'vanishing');
    mkdirSync(dir);
    const writer = core.newPackWriter!({ dir, blobType: 'tree', targetSize: 64 * 1024, seal });
    const blob = (i: number) => [createHash('sha256').update(`t${i}`).digest(), core.seal(seal, randomBytes(30_000))] as const;
    for (let i = 0; i < 5; i++) writer.add(...blob(i), 0);
    rmSync(dir, { recursive: true });
    let thrown: unknown;
    try {
      for (let i = 5; i < 40; i++) writer.add(...blob(i), 0);
      writer.close();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeDefined();
    expect(writer.failure()?.message).toMatch(/cannot (create|write|sync)/);
    expect(() => writer.add(...blob(99), 0)).toThrow(/stopped earlier/);
    mkdirSync(dir);
    writer.discard();
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(true);
  });

  it('with dropCached, finished packs are no longer in the page cache; without, they stay', async () => {
    const core = await nativeCore();
    // Resident bytes of each file as the kernel reports them (util-linux's fincore).
    const resident = (files: string[]): number[] => {
      const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim().split('\n').map(Number);
    };
    let writers = 0;
    const packsOf = (dropCached: boolean): FinishedPack[] => {
      const dir = join(tmp.dir, `cache-${(writers += 1)}`);
      mkdirSync(dir);
      const writer = core.newPackWriter!({ dir, blobType: 'data', targetSize: 1 << 20, seal, dropCached });
      for (let i = 0; i < 12; i++) writer.add(createHash('sha256').update(`c${i}`).digest(), core.seal(seal, randomBytes(300_000)), 0);
      writer.close();
      const packs = writer.takeFinished();
      expect(packs.length).toBeGreaterThanOrEqual(3);
      return packs;
    };
    const dropped = resident(packsOf(true).map((p) => p.path));
    expect(dropped.every((bytes) => bytes === 0)).toBe(true);
    const kept = packsOf(false);
    const keptResident = resident(kept.map((p) => p.path));
    keptResident.forEach((bytes, i) => expect(bytes).toBeGreaterThanOrEqual(kept[i]!.size - 4096));
    // Dropped packs still read back whole and intact.
    for (const pack of packsOf(true)) checkPack(core, pack);
  });
});
