// Builds what Node needs to run bolt-agent from this checkout: the native addon and the
// compiled JavaScript in build/node (bin/bolt-agent.js loads it).
import fs from 'node:fs';
import path from 'node:path';
import { ensureNodeModules, mtimeOf, newestMtime, root, run, say } from './lib.mjs';

ensureNodeModules();
run(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')]);

const out = path.join(root, 'build', 'node');
const stamp = path.join(out, '.built');
if (mtimeOf(stamp) < Math.max(newestMtime(['src']), mtimeOf('tsconfig.json'), mtimeOf('package-lock.json'))) {
  say('compiling TypeScript to build/node');
  fs.rmSync(out, { recursive: true, force: true });
  run(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json']);
  // tsc does not emit the hand-written CommonJS loaders (static requires of .node files).
  for (const file of fs.readdirSync(path.join(root, 'src'), { recursive: true })) {
    if (String(file).endsWith('.cjs')) fs.copyFileSync(path.join(root, 'src', String(file)), path.join(out, 'src', String(file)));
  }
  fs.writeFileSync(stamp, new Date().toISOString());
}
// The addon path in addon.cjs is relative ("../../native/bolt-native.node"): mirror it.
fs.mkdirSync(path.join(out, 'native'), { recursive: true });
const addonLink = path.join(out, 'native', 'bolt-native.node');
fs.rmSync(addonLink, { force: true });
if (fs.existsSync(path.join(root, 'native', 'bolt-native.node'))) fs.symlinkSync(path.join(root, 'native', 'bolt-native.node'), addonLink);
