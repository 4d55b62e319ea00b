// `npm run build:binary`: the single executable build/bolt-agent (bun build --compile) with the
// native addon embedded. BOLT_FORMATS=restic or =ghostsnap builds a binary with one format only
// (the other's code is not bundled); OUT=<file> changes the output path.
import path from 'node:path';
import { ensureNodeModules, mtimeOf, newestMtime, root, run, say } from './lib.mjs';

ensureNodeModules();
run(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')]);

const formats = process.env.BOLT_FORMATS ?? 'restic,ghostsnap';
if (!/^(restic|ghostsnap|restic,ghostsnap|ghostsnap,restic)$/.test(formats)) {
  say(`BOLT_FORMATS must be restic, ghostsnap or restic,ghostsnap (got "${formats}")`);
  process.exit(2);
}
const out = path.resolve(root, process.env.OUT ?? path.join('build', 'bolt-agent'));
const newestInput = Math.max(newestMtime(['src']), mtimeOf('native/bolt-native.node'), mtimeOf('package-lock.json'), mtimeOf('scripts/build-binary.mjs'));
if (process.env.OUT === undefined && process.env.BOLT_FORMATS === undefined && mtimeOf(out) > newestInput) {
  say(`binary up to date: ${path.relative(root, out)}`);
  process.exit(0);
}
say(`building ${path.relative(root, out)} (formats: ${formats})`);
run(path.join(root, 'node_modules', '.bin', 'bun'), [
  'build',
  '--compile',
  // Dynamic imports stay separate chunks, loaded only by the commands that need them (the
  // storage SDKs, the other format): ~10 MB less resident at start. Bytecode compiled at build
  // time starts the binary ~80 ms sooner.
  '--splitting',
  '--bytecode',
  '--format=esm',
  '--minify-syntax',
  `--define`,
  `process.env.BOLT_FORMATS=${JSON.stringify(formats)}`,
  path.join(root, 'src', 'cli', 'entry.ts'),
  '--outfile',
  out,
]);
