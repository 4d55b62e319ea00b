// Builds what Node needs to run bolt-agent from this checkout: the native addon and the
// compiled JavaScript in build/node (bin/bolt-agent.js loads it).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureNodeModules, mtimeOf, newestMtime, root, run, say } from './lib.mjs';

ensureNodeModules();
run(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')]);

const out = path.join(root, 'build', 'node');
const stamp = path.join(out, '.built');
if (mtimeOf(stamp) < Math.max(newestMtime(['src']), mtimeOf('tsconfig.json'), mtimeOf('package-lock.json'))) {
  say('compiling TypeScript to build/node');
  // Emit into a fresh folder and swap it in, so a running test never sees a half-built tree.
  // Type errors do not stop the emit (test/typecheck.test.ts fails the suite on them).
  const next = `${out}.next`;
  fs.rmSync(next, { recursive: true, force: true });
  const tsc = spawnSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--outDir', next], { cwd: root, encoding: 'utf8' });
  if (tsc.status !== 0) say(`TypeScript reported errors (the build continues; the typecheck test fails):\n${tsc.stdout}`);
  if (!fs.existsSync(path.join(next, 'src', 'cli', 'entry.js'))) {
    say('TypeScript emitted nothing');
    process.exit(1);
  }
  // tsc does not emit the hand-written CommonJS loaders (static requires of .node files).
  for (const file of fs.readdirSync(path.join(root, 'src'), { recursive: true })) {
    if (String(file).endsWith('.cjs')) fs.copyFileSync(path.join(root, 'src', String(file)), path.join(next, 'src', String(file)));
  }
  fs.writeFileSync(path.join(next, '.built'), new Date().toISOString());
  const old = `${out}.old`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(out)) fs.renameSync(out, old);
  fs.renameSync(next, out);
  fs.rmSync(old, { recursive: true, force: true });
}
// The addon path in addon.cjs is relative ("../../native/bolt-native.node"): mirror it.
fs.mkdirSync(path.join(out, 'native'), { recursive: true });
const addonLink = path.join(out, 'native', 'bolt-native.node');
fs.rmSync(addonLink, { force: true });
if (fs.existsSync(path.join(root, 'native', 'bolt-native.node'))) fs.symlinkSync(path.join(root, 'native', 'bolt-native.node'), addonLink);
