// Run by runtimes.test.ts under Bun and Deno (and Node via vitest's own process): exercises the
// portable core on a few vectors of every kind and prints what it computed as one JSON line.
// The test compares that output with the vectors; this script only computes.
import { Buffer } from 'node:buffer';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPortableCore } from '../../src/native/portable.ts';
import { inputOf, type DescribedInput } from './inputs.ts';
import { fixturePath, hex, loadVectors, toHex } from './vectors.ts';

const core = await createPortableCore();
const out: Record<string, unknown> = {};

const hashes = loadVectors<{ vectors: { input: DescribedInput }[] }>('hashes.json').vectors;
out['hashes'] = hashes.slice(0, 8).map((v) => [toHex(core.hash('sha256', inputOf(v.input))), toHex(core.hash('blake3', inputOf(v.input)))]);

const rs = loadVectors<{ vectors: { key_hex: string; iv_hex: string; plaintext_hex: string; sealed_hex: string }[] }>('restic-seal.json').vectors[0]!;
const rspec = { kind: 'restic', key: hex(rs.key_hex) } as const;
out['resticSeal'] = toHex(core.seal(rspec, hex(rs.plaintext_hex), hex(rs.iv_hex)));
out['resticOpen'] = toHex(core.open(rspec, hex(rs.sealed_hex)));

const cc = loadVectors<{
  aead: { key_hex: string; nonce_hex: string; plaintext_hex: string }[];
  xor: { key_hex: string; nonce_hex: string; counter: number; data_hex: string }[];
}>('chacha.json');
const a = cc.aead[0]!;
out['chachaSeal'] = toHex(core.seal({ kind: 'chacha20poly1305', key: hex(a.key_hex) }, hex(a.plaintext_hex), hex(a.nonce_hex)));
const st = core.aeadStream('seal', hex(a.key_hex), hex(a.nonce_hex));
const pt = hex(a.plaintext_hex);
out['chachaStream'] = toHex(Buffer.concat([hex(a.nonce_hex), st.update(pt.subarray(0, 5)), st.update(pt.subarray(5)), st.final()]));
out['chachaXor'] = cc.xor.map((x) => toHex(core.chacha20Xor(hex(x.key_hex), hex(x.nonce_hex), x.counter, hex(x.data_hex))));

const comp = loadVectors<{ zstd_frames: { frame_hex: string; plaintext_hex?: string }[]; zlib_streams: { stream_hex: string; plaintext_hex: string }[] }>(
  'compression.json',
);
out['zstd'] = comp.zstd_frames.slice(0, 3).map((f) => toHex(core.decompress('zstd', hex(f.frame_hex), (f.plaintext_hex ?? '').length / 2)));
out['zlib'] = toHex(core.decompress('zlib', hex(comp.zlib_streams[0]!.stream_hex), -1));
const sample = Buffer.from('round trip '.repeat(500));
out['roundTrip'] = [
  core.decompress('zstd', core.compress({ kind: 'zstd', level: 3 }, sample), sample.length).equals(sample),
  core.decompress('zlib', core.compress({ kind: 'zlib', level: 6 }, sample), -1).equals(sample),
];

const rc = loadVectors<{ vectors: { name: string; polynomial: string; input: DescribedInput }[] }>('restic-chunker.json').vectors;
const rv = rc.find((v) => v.name === 'fixture-big.bin / 2e971b4527edad')!;
out['rabin'] = core.chunkBuffer({ kind: 'rabin', polynomial: rv.polynomial }, inputOf(rv.input));
const gc = loadVectors<{ vectors: { name: string; params: { minSize: number; avgSize: number; maxSize: number }; input: DescribedInput }[] }>(
  'ghostsnap-chunker.json',
).vectors;
const gvec = gc.find((v) => v.name === 'odd min')!;
out['fastcdc'] = core.chunkBuffer({ kind: 'fastcdc', ...gvec.params }, inputOf(gvec.input));

const set = core.newBlobSet();
out['blobSet'] = [set.add(new Uint8Array(32)), set.add(new Uint8Array(32)), set.has(new Uint8Array(32)), set.delete(new Uint8Array(32)), set.size];

const kdf = loadVectors<{
  scrypt: { password_hex: string; salt_hex: string; N: number; r: number; p: number; length: number }[];
  argon2id: { password_hex: string; salt_hex: string; iterations: number; memoryKiB: number; parallelism: number; length: number }[];
}>('kdf.json');
const s1 = kdf.scrypt[1]!;
out['scrypt'] = toHex(await core.scrypt(hex(s1.password_hex), hex(s1.salt_hex), s1.N, s1.r, s1.p, s1.length));
const a2 = kdf.argon2id[2]!;
out['argon2id'] = toHex(await core.argon2id(hex(a2.password_hex), hex(a2.salt_hex), a2));

const tmp = mkdtempSync(join(tmpdir(), 'bolt-smoke-'));
try {
  const file = join(tmp, 'f.txt');
  const content = Buffer.from('smoke test file contents\n'.repeat(100));
  writeFileSync(file, content);
  mkdirSync(join(tmp, 'sub'));
  const params = {
    chunker: { kind: 'fastcdc', minSize: 64, avgSize: 256, maxSize: 1024 },
    hash: 'blake3',
    compression: { kind: 'zlib', level: 6 },
    seal: { kind: 'chacha20poly1305', key: hex(a.key_hex) },
  } as const;
  const [res] = await core.processFiles([{ path: file, offset: 0, maxBytes: 0 }], { ...params, known: core.newBlobSet() });
  out['processFiles'] = {
    lengths: res!.chunks.map((c) => c.length),
    ids: res!.chunks.map((c) => toHex(c.id)),
    encoded: res!.blobs.map((b) => b.chunkIndex),
    decoded: Buffer.concat(
      res!.blobs.map((b) => core.decompress('zlib', core.open(params.seal, b.data), b.rawLength)),
    ).toString('hex'),
    eof: res!.eof,
  };
  const pack = '05da16d8c6ac4572c3723083d354de69a8ce415abe9534188045e78f79bcbea1';
  const mk = JSON.parse(
    (JSON.parse(readFileSync(fixturePath('restic/manifest.json'), 'utf8')) as { repositories: { v2: { master_key_json: string } } }).repositories.v2
      .master_key_json,
  ) as { mac: { k: string; r: string }; encrypt: string };
  const key = Buffer.concat([Buffer.from(mk.encrypt, 'base64'), Buffer.from(mk.mac.k, 'base64'), Buffer.from(mk.mac.r, 'base64')]);
  const dec = await core.decodeBlobs({
    data: readFileSync(fixturePath(`restic/v2/data/05/${pack}`)),
    blobs: [{ offset: 0, length: 70, rawLength: 29, compressed: true, id: hex('d21c090acc6401b64be9230f83777f6800461105616441bbd4ad5d8794b92220') }],
    seal: { kind: 'restic', key },
    codec: 'zstd',
    hash: 'sha256',
  });
  out['decodeBlobs'] = [dec.plaintexts[0]?.toString('utf8') ?? null, dec.errors[0]];
  const [listing] = await core.readDirs([tmp]);
  out['readDirs'] = listing!.entries.map((e) => [e.name.toString(), e.stat?.mode, e.stat?.size]);
  await core.setTimes(Buffer.from(tmp), Buffer.from(file), 1_600_000_000, 0, 1_500_000_000, 0);
  const stat = core.lstat(file);
  out['setTimes'] = [stat.atimeSec, stat.mtimeSec];
  out['lstatError'] = (() => {
    try {
      core.lstat(join(tmp, 'missing'));
      return null;
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  })();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

console.log(JSON.stringify(out));
