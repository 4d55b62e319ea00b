// Process entry for every runtime (node via bin/bolt-agent.js, bun's single binary, deno run).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
