// `npm test`: installs what is missing (npm packages, the native addon, Debian packages,
// restic 0.18.1, the MinIO server), builds the Node build and the single binary, then runs the
// whole vitest suite. Extra arguments go to vitest (e.g. `npm test -- test/config`).
import path from 'node:path';
import { ensureNodeModules, root, run } from './lib.mjs';
import { setupTestEnvironment } from './setup-test-env.mjs';

ensureNodeModules();
setupTestEnvironment();
run(process.execPath, [path.join(root, 'scripts', 'build.mjs')]);
run(process.execPath, [path.join(root, 'scripts', 'build-binary.mjs')]);
run(path.join(root, 'node_modules', '.bin', 'vitest'), ['run', ...process.argv.slice(2)]);
