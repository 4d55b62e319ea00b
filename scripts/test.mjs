// `npm test`: installs what is missing (npm packages, the native addon, Debian packages,
// restic 0.18.1, the MinIO server), builds the Node build and the single binary, then runs the
// native core's Rust unit tests and the whole vitest suite. Extra arguments go to vitest alone
// (e.g. `npm test -- test/config`).
import path from 'node:path';
import { ensureNodeModules, root, run } from './lib.mjs';
import { setupTestEnvironment } from './setup-test-env.mjs';

ensureNodeModules();
setupTestEnvironment();
run(process.execPath, [path.join(root, 'scripts', 'build.mjs')]);
run(process.execPath, [path.join(root, 'scripts', 'build-binary.mjs')]);
const vitestArgs = process.argv.slice(2);
if (vitestArgs.length === 0) run('cargo', ['test', '--release', '--quiet', '--manifest-path', path.join(root, 'native', 'Cargo.toml')]);
run(path.join(root, 'node_modules', '.bin', 'vitest'), ['run', ...vitestArgs]);
