#!/usr/bin/env node
// Node entry point. The TypeScript sources are compiled to build/node by `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../build/node/src/cli/entry.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('bolt-agent is not built yet: run `npm run build` (or `npm run quickstart`) in this checkout\n');
  process.exit(1);
}
await import(entry.href);
