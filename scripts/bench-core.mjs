#!/usr/bin/env node
// Throughput of the compute cores (native addon and portable TS/WASM core), with the machine's
// own limits measured in the same run: memcpy, the page-cache read rate, and the `sha256sum` and
// `zstd -1` commands on the same data. MB/s are decimal (10^6 bytes per second) of input.
//
//   npm run bench:core            (finishes in well under 3 minutes on 2 cores)
//
// BENCH_GIB=<n> changes the size of the pipeline input (default 1 GiB); BENCH_CORES=native (or
// portable) measures one core only.
import { spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { register } from 'tsx/esm/api';

register();
const { cores } = await import('../src/native/index.ts');

const MiB = 1 << 20;
const PIPELINE_BYTES = Math.round(Number(process.env.BENCH_GIB ?? '1') * 1024) * MiB;
const POLY = '3da3358b4dc173';
const started = performance.now();
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc');

/** Frees the garbage of a previous step (napi finalizers run on the next loop turn), so that its
 * collection is not timed as part of the next one. */
async function settle() {
  collectGarbage();
  await tick();
  collectGarbage();
}

function now() {
  return performance.now();
}

function mbps(bytes, ms) {
  return bytes / 1e3 / ms;
}

/** Repeats `op` (which processes `bytes` per call) until `minMs` have passed. */
function rate(bytes, op, minMs = 400) {
  op(); // warm-up: tables, contexts, page faults
  let done = 0;
  const t0 = now();
  do {
    op();
    done += bytes;
  } while (now() - t0 < minMs);
  return mbps(done, now() - t0);
}

async function rateAsync(bytes, op, minMs = 400) {
  await op();
  let done = 0;
  const t0 = now();
  do {
    await op();
    done += bytes;
  } while (now() - t0 < minMs);
  return mbps(done, now() - t0);
}

/** Deterministic incompressible bytes (AES-128-CTR keystream). */
function keystream(seed, n) {
  const key = Buffer.alloc(16, seed);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Real text: C headers of this machine, in a fixed order, up to `n` bytes. */
function textCorpus(n) {
  const parts = [];
  let size = 0;
  const walk = (dir) => {
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (size >= n) return;
      const p = join(dir, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && name.endsWith('.h')) {
        const b = readFileSync(p);
        parts.push(b);
        size += b.length;
      }
    }
  };
  walk('/usr/include');
  const text = Buffer.concat(parts);
  if (text.length === 0) throw new Error('no text corpus found under /usr/include');
  // not enough headers: repeat them (zstd -1's window is far smaller than the corpus)
  const out = Buffer.alloc(n);
  for (let pos = 0; pos < n; pos += text.length) text.copy(out, pos, 0, Math.min(text.length, n - pos));
  return out;
}

function commandRate(bytes, cmd, args) {
  const t0 = now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = now() - t0;
  if (r.status !== 0) return `failed (${r.error?.message ?? r.stderr.toString().trim()})`;
  return mbps(bytes, ms);
}

const fmt = (v) => (typeof v === 'number' ? `${v.toFixed(0)} MB/s` : v);

// ---------------------------------------------------------------- inputs
const dir = mkdtempSync(join(tmpdir(), 'bolt-bench-core-'));
try {
  console.log(`bench-core: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
  const bigPath = join(dir, 'input.bin');
  {
    const block = keystream(1, 64 * MiB);
    const fd = openSync(bigPath, 'w');
    for (let w = 0; w < PIPELINE_BYTES; w += block.length) writeSync(fd, block, 0, Math.min(block.length, PIPELINE_BYTES - w));
    closeSync(fd);
  }
  const random = keystream(2, 256 * MiB);
  const text = textCorpus(64 * MiB);
  const textPath = join(dir, 'text.bin');
  writeFileSync(textPath, text);

  // ---------------------------------------------------------------- machine limits
  const limits = {};
  {
    const a = Buffer.allocUnsafe(256 * MiB);
    const b = Buffer.allocUnsafe(256 * MiB);
    a.fill(1);
    b.fill(2);
    limits.memcpy = rate(a.length, () => a.copy(b));
  }
  // cat reads the page cache; its pipe to /dev/null costs nothing
  limits.read = commandRate(PIPELINE_BYTES, 'sh', ['-c', `cat '${bigPath}' > /dev/null`]);
  limits.sha256sum = commandRate(PIPELINE_BYTES, 'sha256sum', [bigPath]);
  limits.zstd1 = commandRate(text.length, 'sh', ['-c', `zstd -q -1 -T1 -c '${textPath}' > /dev/null`]);
  limits.zlib6 = commandRate(text.length, 'sh', ['-c', `gzip -6 -c '${textPath}' > /dev/null`]);

  // ---------------------------------------------------------------- per core
  const key64 = randomBytes(64);
  const piece = 4 * MiB;
  const rnd4 = random.subarray(0, piece);
  const txt4 = text.subarray(0, piece);

  async function primitives(core) {
    const r = {};
    r.sha256 = rate(random.length, () => core.hash('sha256', random));
    r.blake3 = rate(random.length, () => core.hash('blake3', random));
    r.rabin = rate(random.length, () => core.chunkBuffer({ kind: 'rabin', polynomial: POLY }, random));
    r.fastcdc = rate(random.length, () =>
      core.chunkBuffer({ kind: 'fastcdc', minSize: MiB, avgSize: 4 * MiB, maxSize: 16 * MiB }, random),
    );
    r.zstd1 = rate(text.length, () => {
      for (let p = 0; p < text.length; p += piece) core.compress({ kind: 'zstd', level: 1 }, text.subarray(p, p + piece));
    });
    r.zlib6 = rate(txt4.length, () => core.compress({ kind: 'zlib', level: 6 }, txt4));
    r.resticSeal = rate(rnd4.length, () => core.seal({ kind: 'restic', key: key64 }, rnd4));
    r.chachaSeal = rate(rnd4.length, () => core.seal({ kind: 'chacha20poly1305', key: key64.subarray(0, 32) }, rnd4));
    r.resticSealAsync = await rateAsync(rnd4.length, () => core.sealAsync({ kind: 'restic', key: key64 }, rnd4));
    return r;
  }

  const chunkHash = (known) => ({
    chunker: { kind: 'rabin', polynomial: POLY },
    hash: 'sha256',
    compression: { kind: 'none' },
    seal: { kind: 'none' },
    known,
  });

  async function pipeline(core) {
    const r = {};
    // First pass: learns every chunk id (and warms the page cache), in segments so that the
    // copies it encodes are dropped as it goes. The timed passes then only chunk and hash:
    // every chunk is known, so nothing is encoded.
    const known = core.newBlobSet();
    const lengths = [];
    for (let offset = 0; ; ) {
      const [seg] = await core.processFiles([{ path: bigPath, offset, maxBytes: 128 * MiB }], chunkHash(known));
      if (seg === undefined || seg.error !== undefined) throw new Error(`processFiles failed: ${seg?.error?.message}`);
      lengths.push(...seg.chunks.map((c) => c.length));
      offset = seg.nextOffset;
      if (seg.eof) break;
    }
    await settle();
    // best of two runs each: the machine is shared
    let best = Infinity;
    // one thread: calls over 32 MiB segments (below the size at which a call adds a hashing thread)
    for (let run = 0; run < 2; run++) {
      const t0 = now();
      for (let offset = 0; ; ) {
        const [seg] = await core.processFiles([{ path: bigPath, offset, maxBytes: 32 * MiB }], chunkHash(known));
        offset = seg?.nextOffset ?? PIPELINE_BYTES;
        if (seg === undefined || seg.eof) break;
      }
      best = Math.min(best, now() - t0);
    }
    r.serial = mbps(PIPELINE_BYTES, best);
    best = Infinity;
    for (let run = 0; run < 2; run++) {
      const t0 = now();
      const [one] = await core.processFiles([{ path: bigPath, offset: 0, maxBytes: 0 }], chunkHash(known));
      best = Math.min(best, now() - t0);
      if (one?.blobs.length !== 0) throw new Error('timed pass encoded chunks');
    }
    r.one = mbps(PIPELINE_BYTES, best);
    // two threads: the two halves of the file, split at a chunk boundary
    let split = 0;
    for (const length of lengths) {
      if (split + length > PIPELINE_BYTES / 2) break;
      split += length;
    }
    best = Infinity;
    for (let run = 0; run < 2; run++) {
      const t0 = now();
      await Promise.all([
        core.processFiles([{ path: bigPath, offset: 0, maxBytes: split }], chunkHash(known)),
        core.processFiles([{ path: bigPath, offset: split, maxBytes: 0 }], chunkHash(known)),
      ]);
      best = Math.min(best, now() - t0);
    }
    r.two = mbps(PIPELINE_BYTES, best);
    // full encode of new data (chunk + hash + zstd-1 + restic seal): 64 MiB of text and 64 MiB
    // of incompressible bytes, nothing known yet
    const encodePath = join(dir, 'encode.bin');
    const encodeInput = Buffer.concat([text, random.subarray(0, 64 * MiB)]);
    writeFileSync(encodePath, encodeInput);
    const t0 = now();
    const [enc] = await core.processFiles([{ path: encodePath, offset: 0, maxBytes: 0 }], {
      chunker: { kind: 'rabin', polynomial: POLY },
      hash: 'sha256',
      compression: { kind: 'zstd', level: 1, onlyIfSmaller: true },
      seal: { kind: 'restic', key: key64 },
      known: core.newBlobSet(),
    });
    r.encode = mbps(encodeInput.length, now() - t0);
    if (enc === undefined || enc.blobs.length === 0) throw new Error('encode pass produced no blobs');
    return r;
  }

  const results = {};
  for (const name of (process.env.BENCH_CORES ?? 'native,portable').split(',').map((c) => c.trim())) {
    if (!(name in cores)) throw new Error(`BENCH_CORES: unknown core ${name}`);
    let core;
    try {
      core = await cores[name]();
    } catch (err) {
      console.log(`bench-core: the ${name} core does not load (${err.message}); skipped`);
      continue;
    }
    const t0 = now();
    results[name] = { ...(await primitives(core)), ...(await pipeline(core)), features: core.info.features };
    console.log(`bench-core: ${name} done in ${((now() - t0) / 1000).toFixed(1)} s`);
  }

  // ---------------------------------------------------------------- report
  const rows = [
    ['SHA-256', 'sha256', `sha256sum: ${fmt(limits.sha256sum)}`],
    ['BLAKE3', 'blake3', ''],
    ['Rabin CDC (restic)', 'rabin', ''],
    ['FastCDC (ghostsnap)', 'fastcdc', ''],
    ['zstd -1, text (4 MiB blobs)', 'zstd1', `zstd -1 -T1: ${fmt(limits.zstd1)}`],
    ['zlib -6, text', 'zlib6', `gzip -6: ${fmt(limits.zlib6)}`],
    ['restic seal (AES-CTR+Poly1305)', 'resticSeal', ''],
    ['restic seal, async calls', 'resticSealAsync', ''],
    ['ChaCha20-Poly1305 seal', 'chachaSeal', ''],
    ['processFiles chunk+hash, 1 thread (32 MiB calls)', 'serial', `page-cache read (cat): ${fmt(limits.read)}`],
    ['processFiles chunk+hash, 1 call (cut | hash threads)', 'one', ''],
    ['processFiles chunk+hash, 2 concurrent calls', 'two', ''],
    ['processFiles encode new data (zstd-1 + seal), 1 call', 'encode', '64 MiB text + 64 MiB random'],
  ];
  const cell = (core, key) => (results[core] === undefined ? 'n/a' : fmt(results[core][key]));
  const widths = [52, 14, 14];
  const line = (cols) => `| ${cols.map((c, i) => String(c).padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log('');
  console.log(`pipeline input: ${(PIPELINE_BYTES / MiB).toFixed(0)} MiB from the page cache; memcpy: ${fmt(limits.memcpy)}`);
  console.log(line(['primitive', 'native', 'portable', 'machine reference']));
  console.log(line(['-'.repeat(widths[0] ?? 0), '-'.repeat(widths[1] ?? 0), '-'.repeat(widths[2] ?? 0), '---']));
  for (const [label, key, ref] of rows) console.log(line([label, cell('native', key), cell('portable', key), ref]));
  if (results.native !== undefined) console.log(`native CPU features: ${results.native.features.join(', ')}`);
  console.log(`bench-core: finished in ${((now() - started) / 1000).toFixed(1)} s`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
