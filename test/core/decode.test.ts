import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { DecodeBlobSpec, SealSpec } from '../../src/native/types.ts';
import { describeEachCore } from './cores.ts';
import { fixturePath, hex, loadFixture, loadVectors, toHex } from './vectors.ts';

interface ResticManifest {
  repositories: Record<
    'v1' | 'v2',
    {
      master_key_json: string;
      packs: Record<string, { type: string; id: string; offset: number; length: number; uncompressed_length?: number }[]>;
    }
  >;
}
interface GhostsnapManifest {
  repository: { packs: Record<string, { chunks: { id: string; offset: number; length: number; uncompressed_length: number }[] }> };
}

const resticManifest = loadFixture<ResticManifest>('restic/manifest.json');
const ghostsnapManifest = loadFixture<GhostsnapManifest>('ghostsnap/manifest.json');
const ghostsnapDataKey = hex(loadFixture<{ key_file: { data_key_hex: string } }>('ghostsnap/crypto-vectors.json').key_file.data_key_hex);
const sealVectors = loadVectors<{ vectors: { key_hex: string }[] }>('restic-seal.json');

const tmp = mkdtempSync(join(tmpdir(), 'bolt-decode-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function resticKey(masterKeyJson: string): SealSpec {
  const mk = JSON.parse(masterKeyJson) as { mac: { k: string; r: string }; encrypt: string };
  const b = (s: string): Buffer => Buffer.from(s, 'base64');
  return { kind: 'restic', key: Buffer.concat([b(mk.encrypt), b(mk.mac.k), b(mk.mac.r)]) };
}

const sha256 = (d: Uint8Array): string => createHash('sha256').update(d).digest('hex');

describeEachCore('decodeBlobs', (core) => {
  for (const version of ['v1', 'v2'] as const) {
    const repo = resticManifest.repositories[version];
    for (const [packId, entries] of Object.entries(repo.packs)) {
      it(`restic ${version} pack ${packId.slice(0, 8)}: ${entries.length} blobs written by restic`, async () => {
        const data = readFileSync(fixturePath(`restic/${version}/data/${packId.slice(0, 2)}/${packId}`));
        const blobs: DecodeBlobSpec[] = entries.map((e) => ({
          offset: e.offset,
          length: e.length,
          rawLength: e.uncompressed_length ?? 0,
          compressed: e.uncompressed_length !== undefined,
          id: hex(e.id),
        }));
        const res = await core().decodeBlobs({ data, blobs, seal: resticKey(repo.master_key_json), codec: 'zstd', hash: 'sha256' });
        expect(res.errors).toEqual(entries.map(() => null));
        res.plaintexts.forEach((p, i) => {
          expect(p).not.toBeNull();
          expect(sha256(p!)).toBe(entries[i]!.id);
        });
        // The same blobs read by the core from a range of the pack file: offsets relative to it.
        const path = fixturePath(`restic/${version}/data/${packId.slice(0, 2)}/${packId}`);
        const from = Math.min(...entries.map((e) => e.offset));
        const to = Math.max(...entries.map((e) => e.offset + e.length));
        const relative = blobs.map((b) => ({ ...b, offset: b.offset - from }));
        const seal = resticKey(repo.master_key_json);
        const viaFile = await core().decodeBlobs({ file: { path, offset: from, length: to - from }, blobs: relative, seal, codec: 'zstd', hash: 'sha256' });
        expect(viaFile.errors).toEqual(entries.map(() => null));
        expect(viaFile.plaintexts.map((p) => toHex(p!))).toEqual(res.plaintexts.map((p) => toHex(p!)));
        // A file shorter than the range fails the blobs past its end only; a missing one fails all.
        const short = await core().decodeBlobs({ file: { path, offset: from, length: to - from + 100 }, blobs: [...relative, { ...relative[0]!, offset: to - from }], seal, codec: 'zstd', hash: 'sha256' });
        expect(short.errors.slice(0, -1)).toEqual(entries.map(() => null));
        expect(short.errors.at(-1)).not.toBeNull();
        const missing = await core().decodeBlobs({ file: { path: `${path}.gone`, offset: 0, length: 10 }, blobs: relative, seal, codec: 'zstd', hash: 'sha256' });
        expect(missing.errors.every((e) => e !== null && e.code === 'EIO_READ' && e.message.includes('.gone'))).toBe(true);
      });
    }
  }

  for (const [packId, pack] of Object.entries(ghostsnapManifest.repository.packs)) {
    it(`ghostsnap pack ${packId.slice(0, 8)}: data section opened, then ${pack.chunks.length} zlib chunks decoded`, async () => {
      const file = readFileSync(fixturePath(`ghostsnap/repo/data/${packId}.pack`));
      // u32le LH, header box, u32le LC, chunk-map box, data box to the end (formats/ghostsnap.md §8.1).
      const lh = file.readUInt32LE(0);
      const lc = file.readUInt32LE(4 + lh);
      const dataBox = file.subarray(8 + lh + lc);
      const data = core().open({ kind: 'chacha20poly1305', key: ghostsnapDataKey }, dataBox);
      const res = await core().decodeBlobs({
        data,
        blobs: pack.chunks.map((c) => ({ offset: c.offset, length: c.length, rawLength: c.uncompressed_length, compressed: true, id: hex(c.id) })),
        seal: { kind: 'none' },
        codec: 'zlib',
        hash: 'blake3',
      });
      expect(res.errors).toEqual(pack.chunks.map(() => null));
      res.plaintexts.forEach((p, i) => expect(p?.length).toBe(pack.chunks[i]!.uncompressed_length));
    });
  }

  /** Three blobs sealed by the core under test: plain, zstd, zstd; ids from node:crypto. */
  /** `plains` sealed back to back (those `compressed` picks zstd-compressed first), and their specs. */
  function sealedRun(seal: SealSpec, plains: Buffer[], compressed: (i: number) => boolean): { data: Buffer; blobs: DecodeBlobSpec[] } {
    const boxes = plains.map((p, i) => core().seal(seal, compressed(i) ? core().compress({ kind: 'zstd', level: 3 }, p) : p));
    let offset = 0;
    const blobs = boxes.map((b, i) => {
      const spec: DecodeBlobSpec = { offset, length: b.length, rawLength: compressed(i) ? plains[i]!.length : 0, compressed: compressed(i), id: hex(sha256(plains[i]!)) };
      offset += b.length;
      return spec;
    });
    return { data: Buffer.concat(boxes), blobs };
  }

  function sampleRange(): { data: Buffer; blobs: DecodeBlobSpec[]; plains: Buffer[]; seal: SealSpec } {
    const seal: SealSpec = { kind: 'restic', key: hex(sealVectors.vectors[0]!.key_hex) };
    const plains = [Buffer.from('first blob'), Buffer.alloc(5000, 'b'), Buffer.from('third blob, compressed '.repeat(20))];
    return { ...sealedRun(seal, plains, (i) => i > 0), plains, seal };
  }

  it('one bad blob does not stop the others (EAUTH, EHASH, ECORRUPT, EINVAL)', async () => {
    const { data, blobs, plains, seal } = sampleRange();
    const corrupt = Buffer.from(data);
    corrupt[blobs[0]!.offset + 20] = (corrupt[blobs[0]!.offset + 20] as number) ^ 1;
    const res = await core().decodeBlobs({ data: corrupt, blobs, seal, codec: 'zstd', hash: 'sha256' });
    expect(res.errors.map((e) => e?.code ?? null)).toEqual(['EAUTH', null, null]);
    expect(res.plaintexts[0]).toBeNull();
    expect(res.plaintexts[2]?.toString()).toBe(plains[2]!.toString());

    const wrong = [
      { ...blobs[0]!, id: new Uint8Array(32) },
      { ...blobs[1]!, rawLength: plains[1]!.length + 1 },
      { ...blobs[2]!, offset: data.length - 10 },
      { ...blobs[0]!, rawLength: plains[0]!.length + 3 },
    ];
    const bad = await core().decodeBlobs({ data, blobs: wrong, seal, codec: 'zstd', hash: 'sha256' });
    expect(bad.errors.map((e) => e?.code ?? null)).toEqual(['EHASH', 'ECORRUPT', 'EINVAL', 'ECORRUPT']);
    expect(bad.plaintexts).toEqual([null, null, null, null]);

    // Malformed fields fail their own blob only, wherever they sit among good ones (the native
    // core takes the blobs packed: one blob's fields must not shift onto the next).
    const malformed = [
      blobs[0]!,
      { ...blobs[1]!, id: new Uint8Array(16) },
      blobs[2]!,
      { ...blobs[1]!, targets: [{ fd: 1, position: 1.5 }] },
      blobs[0]!,
      { ...blobs[2]!, targets: [{ fd: Number.NaN, position: 0 }] },
      { ...blobs[2]!, targets: [{ fd: -1, position: 0 }] },
    ];
    const mixed = await core().decodeBlobs({ data, blobs: malformed, seal, codec: 'zstd', hash: 'sha256' });
    expect(mixed.errors.map((e) => e?.code ?? null)).toEqual([null, 'EINVAL', null, 'EINVAL', null, 'EINVAL', 'EINVAL']);
    expect(mixed.plaintexts.map((p) => p?.toString() ?? null)).toEqual([plains[0]!.toString(), null, plains[2]!.toString(), null, plains[0]!.toString(), null, null]);
  });

  it('writes plaintexts to file descriptors at their positions', async () => {
    const { data, blobs, plains, seal } = sampleRange();
    const path = join(tmp, `out-${Math.random().toString(36).slice(2)}`);
    const fd = openSync(path, 'w+');
    try {
      const res = await core().decodeBlobs({
        data,
        blobs: [
          { ...blobs[0]!, targets: [{ fd, position: 0 }, { fd, position: 5010 }] },
          { ...blobs[1]!, targets: [{ fd, position: 10 }] },
          blobs[2]!,
        ],
        seal,
        codec: 'zstd',
        hash: 'sha256',
      });
      expect(res.errors).toEqual([null, null, null]);
      expect(res.plaintexts.slice(0, 2)).toEqual([null, null]);
      expect(res.plaintexts[2]?.toString()).toBe(plains[2]!.toString());
    } finally {
      closeSync(fd);
    }
    const want = Buffer.concat([plains[0]!, plains[1]!, plains[0]!]);
    expect(toHex(readFileSync(path))).toBe(toHex(want));
  });

  it('file targets: blobs growing and shrinking, a damaged one between, each written exactly', async () => {
    // One decode job reuses its buffers from blob to blob; a blob must never see a neighbour's bytes.
    const seal: SealSpec = { kind: 'restic', key: hex(sealVectors.vectors[0]!.key_hex) };
    const plains = [Buffer.alloc(300_000, 'x'), Buffer.from('short'), randomBytes(200_000), Buffer.alloc(70_000, 'q'), Buffer.from('tail')];
    const compressed = [true, false, false, true, true];
    const damaged = 3;
    const { data, blobs } = sealedRun(seal, plains, (i) => compressed[i]!);
    data[blobs[damaged]!.offset + 30] = (data[blobs[damaged]!.offset + 30] as number) ^ 0x40;
    const paths = plains.map(() => join(tmp, `reuse-${Math.random().toString(36).slice(2)}`));
    const fds = paths.map((p) => openSync(p, 'w+'));
    try {
      const res = await core().decodeBlobs({ data, blobs: blobs.map((b, i) => ({ ...b, targets: [{ fd: fds[i]!, position: 0 }] })), seal, codec: 'zstd', hash: 'sha256' });
      expect(res.errors.map((e) => e?.code ?? null)).toEqual([null, null, null, 'EAUTH', null]);
    } finally {
      fds.forEach((fd) => closeSync(fd));
    }
    paths.forEach((p, i) => expect(toHex(readFileSync(p)), `blob ${i}`).toBe(i === damaged ? '' : toHex(plains[i]!)));
  });

  it('a file range larger than the core reads at once: blobs across piece ends, one larger than a piece, gaps', async () => {
    const seal: SealSpec = { kind: 'restic', key: hex(sealVectors.vectors[0]!.key_hex) };
    const MiB = 1024 * 1024;
    const plains = [randomBytes(1.5 * MiB), randomBytes(3 * MiB), randomBytes(5 * MiB + 7), Buffer.alloc(100_000, 'z'), randomBytes(2.5 * MiB)];
    const prefix = 1000;
    const { data, blobs } = sealedRun(seal, plains, (i) => i === 3);
    const offset = data.length;
    const path = join(tmp, `pieces-${Math.random().toString(36).slice(2)}`);
    writeFileSync(path, Buffer.concat([randomBytes(prefix), data, randomBytes(500)]));
    const file = { path, offset: prefix, length: offset };
    const all = await core().decodeBlobs({ file, blobs, seal, codec: 'zstd', hash: 'sha256' });
    expect(all.errors).toEqual(plains.map(() => null));
    all.plaintexts.forEach((p, i) => expect(p && sha256(p), `blob ${i}`).toBe(sha256(plains[i]!)));
    // Every other blob, written to files: the skipped ones are never needed.
    const picked = [0, 2, 4];
    const paths = picked.map(() => join(tmp, `pieces-out-${Math.random().toString(36).slice(2)}`));
    const fds = paths.map((p) => openSync(p, 'w+'));
    try {
      const res = await core().decodeBlobs({ file, blobs: picked.map((b, i) => ({ ...blobs[b]!, targets: [{ fd: fds[i]!, position: 0 }] })), seal, codec: 'zstd', hash: 'sha256' });
      expect(res.errors).toEqual([null, null, null]);
    } finally {
      fds.forEach((fd) => closeSync(fd));
    }
    paths.forEach((p, i) => expect(sha256(readFileSync(p)), `blob ${picked[i]}`).toBe(sha256(plains[picked[i]!]!)));
    // A range that claims more than the file holds: the blobs inside it still decode.
    const long = await core().decodeBlobs({ file: { ...file, length: offset + 10 * MiB }, blobs: [...blobs, { ...blobs[0]!, offset: offset + 600 }], seal, codec: 'zstd', hash: 'sha256' });
    expect(long.errors.slice(0, -1)).toEqual(plains.map(() => null));
    expect(long.errors.at(-1)).not.toBeNull();
  });

  it('jobs after jobs (the core keeps small buffers per thread): a truncated range never yields an earlier job\'s bytes', async () => {
    const seal: SealSpec = { kind: 'restic', key: hex(sealVectors.vectors[0]!.key_hex) };
    const plains = [randomBytes(40_000), Buffer.alloc(90_000, 'k'), randomBytes(700_000), randomBytes(5_000)];
    const { data, blobs } = sealedRun(seal, plains, (i) => i === 1);
    const offset = data.length;
    const whole = join(tmp, `kept-${Math.random().toString(36).slice(2)}`);
    writeFileSync(whole, data);
    // The same range, cut off inside its third blob: what a reused buffer held there must not show.
    const cut = join(tmp, `kept-cut-${Math.random().toString(36).slice(2)}`);
    writeFileSync(cut, data.subarray(0, blobs[2]!.offset + 1000));
    for (let round = 0; round < 6; round++) {
      const jobs = [whole, cut, whole, cut].map(async (path) => {
        const out = join(tmp, `kept-out-${Math.random().toString(36).slice(2)}`);
        const fd = openSync(out, 'w+');
        let positions = 0;
        const targets = plains.map((p) => ({ fd, position: (positions += p.length) - p.length }));
        try {
          const res = await core().decodeBlobs({ file: { path, offset: 0, length: offset }, blobs: blobs.map((b, i) => ({ ...b, targets: [targets[i]!] })), seal, codec: 'zstd', hash: 'sha256' });
          return { path, errors: res.errors.map((e) => e?.code ?? null), written: readFileSync(out) };
        } finally {
          closeSync(fd);
        }
      });
      for (const { path, errors, written } of await Promise.all(jobs)) {
        if (path === whole) {
          expect(errors).toEqual([null, null, null, null]);
          expect(sha256(written)).toBe(sha256(Buffer.concat(plains)));
        } else {
          // The blobs past the cut are refused as outside the file; the ones before it are whole.
          expect(errors).toEqual([null, null, 'EINVAL', 'EINVAL']);
          expect(sha256(written)).toBe(sha256(Buffer.concat([plains[0]!, plains[1]!])));
        }
      }
    }
  });

  it('new files: created, written and finished in the call; a failed blob leaves its file unfinished; creation failures reported', async () => {
    const { data, blobs, plains, seal } = sampleRange();
    const corrupt = Buffer.from(data);
    corrupt[blobs[0]!.offset + 20] = (corrupt[blobs[0]!.offset + 20] as number) ^ 1;
    const dir = join(tmp, `new-files-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    const at = (n: string): Buffer => Buffer.from(join(dir, n));
    writeFileSync(at('outside'), 'must stay');
    symlinkSync(join(dir, 'outside'), at('link'));
    const external = join(dir, 'external');
    const fd = openSync(external, 'w+');
    const times = { atimeSec: 1_500_000_000, atimeNsec: 0, mtimeSec: 1_600_000_000, mtimeNsec: 0 };
    const openFds = (): number => readdirSync('/proc/self/fd').length;
    const before = openFds();
    let res;
    try {
      res = await core().decodeBlobs({
        data: corrupt,
        blobs: [
          { ...blobs[0]!, targets: [{ file: 1, position: 0 }] },
          { ...blobs[1]!, targets: [{ file: 0, position: 0 }, { file: 2, position: 0 }, { file: 3, position: 0 }] },
          { ...blobs[2]!, targets: [{ file: 0, position: plains[1]!.length }, { fd, position: 0 }] },
          { ...blobs[2]!, targets: [{ file: 9, position: 0 }] },
        ],
        seal,
        codec: 'zstd',
        hash: 'sha256',
        root: Buffer.from(dir),
        files: [
          { path: at('whole'), fd: -1, mode: 0o640, xattrs: [], ...times },
          { path: at('damaged'), fd: -1, mode: 0o644, xattrs: [], ...times },
          { path: at('missing/x'), fd: -1, mode: 0o644, xattrs: [], ...times },
          { path: at('link'), fd: -1, mode: 0o644, xattrs: [], ...times },
        ],
      });
    } finally {
      closeSync(fd);
    }
    expect(res.errors.map((e) => e?.code ?? null)).toEqual(['EAUTH', null, null, 'EINVAL']);
    // A symlink at a new file's name is replaced by the file, never written through.
    expect(res.files?.map((f) => f.errno)).toEqual([0, 0, osConstants.errno.ENOENT, 0]);
    expect(res.files?.[2]?.message).toBeTruthy();
    expect(res.files?.map((f) => f.problems)).toEqual([[], [], [], []]);
    // Every descriptor the call opened is closed again.
    expect(openFds()).toBe(before - 1);
    expect(toHex(readFileSync(at('whole')))).toBe(toHex(Buffer.concat([plains[1]!, plains[2]!])));
    const whole = statSync(at('whole'));
    expect(whole.mode & 0o7777).toBe(0o640);
    expect(whole.mtimeMs).toBe(1_600_000_000_000);
    // The damaged blob's file: created, nothing written, no metadata.
    const damaged = statSync(at('damaged'));
    expect([damaged.size, damaged.mode & 0o7777]).toEqual([0, 0o600]);
    expect(damaged.mtimeMs).not.toBe(1_600_000_000_000);
    expect(readFileSync(join(dir, 'outside'), 'utf8')).toBe('must stay');
    expect(toHex(readFileSync(at('link')))).toBe(toHex(plains[1]!));
    expect(toHex(readFileSync(external))).toBe(toHex(plains[2]!));
  });

  it('new files need the restore target they are created beneath', async () => {
    const { data, blobs, seal } = sampleRange();
    const dir = join(tmp, `no-root-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    const times = { atimeSec: 1, atimeNsec: 0, mtimeSec: 1, mtimeNsec: 0 };
    const files = [{ path: Buffer.from(join(dir, 'f')), fd: -1, mode: 0o644, xattrs: [], ...times }];
    await expect(core().decodeBlobs({ data, blobs: [{ ...blobs[1]!, targets: [{ file: 0, position: 0 }] }], seal, codec: 'zstd', hash: 'sha256', files })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects a bad seal spec or codec with EINVAL', async () => {
    const { data, blobs } = sampleRange();
    await expect(
      core().decodeBlobs({ data, blobs, seal: { kind: 'restic', key: new Uint8Array(10) }, codec: 'zstd', hash: 'sha256' }),
    ).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(
      core().decodeBlobs({ data, blobs, seal: { kind: 'none' }, codec: 'lz4' as 'zstd', hash: 'sha256' }),
    ).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
