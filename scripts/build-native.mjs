#!/usr/bin/env node
// Builds the napi addon native/bolt-native.node with @napi-rs/cli, but only when it is missing
// or older than a source of the crate (native/src/**, Cargo.toml, Cargo.lock, build.rs).
// Release profile, generic x86-64 code: the crates pick SHA-NI/AES-NI/AVX2 at run time.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const crate = join(root, 'native');
const output = join(crate, 'bolt-native.node');

function files(path) {
  if (!existsSync(path)) return [];
  const st = statSync(path);
  if (!st.isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => files(join(path, name)));
}

const inputs = [join(crate, 'src'), join(crate, 'Cargo.toml'), join(crate, 'Cargo.lock'), join(crate, 'build.rs')].flatMap(files);
const newest = inputs.reduce((best, f) => {
  const m = statSync(f).mtimeMs;
  return m > best.mtime ? { file: f, mtime: m } : best;
}, { file: '', mtime: 0 });

if (existsSync(output) && statSync(output).mtimeMs >= newest.mtime && process.argv[2] !== '--force') {
  console.log(`native: ${relative(root, output)} is up to date`);
  process.exit(0);
}

const reason = existsSync(output) ? `${relative(root, newest.file)} is newer` : 'it is missing';
console.log(`native: building ${relative(root, output)} (${reason})`);
if (/target-cpu=native/.test(process.env.RUSTFLAGS ?? '')) {
  console.error('native: refusing RUSTFLAGS with target-cpu=native: the addon must run on any x86-64');
  process.exit(1);
}

const require = createRequire(import.meta.url);
const cli = join(dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js');
const started = Date.now();
const run = spawnSync(
  process.execPath,
  [
    cli,
    'build',
    '--release',
    '--manifest-path',
    join(crate, 'Cargo.toml'),
    '--package-json-path',
    join(crate, 'package.json'),
    '--output-dir',
    crate,
    // the typings napi generates are not used (src/native/native-core.ts declares the shape)
    '--dts',
    join('target', 'bolt-native.d.ts'),
    '--',
    '--locked',
  ],
  { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
);
const log = `${run.stdout ?? ''}${run.stderr ?? ''}`;
if (run.status !== 0 || !existsSync(output) || statSync(output).mtimeMs < started - 1000) {
  process.stderr.write(log);
  console.error(`native: build FAILED (${run.error?.message ?? `exit ${run.status}`})`);
  process.exit(1);
}
console.log(`native: built ${relative(root, output)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
