// A scratch folder for a test file: a source tree to fill, a local restic repository with small
// packs (so data spreads over several) and the CLI run against them. Removed after the file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { runCli, type CliResult } from './cli.ts';

export interface ScratchRepository {
  tmp: string;
  password: string;
  /** The source tree the test fills and backs up. */
  src: string;
  repoDir: string;
  /** bolt-agent with this repository, its password and configuration, `--json`; throws unless it exits 0. */
  cli(args: string[]): CliResult;
}

export function scratchRepository(name: string): ScratchRepository {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `bolt-${name}-`));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const password = name;
  const passwordFile = path.join(tmp, 'password');
  const configFile = path.join(tmp, 'bolt.yaml');
  const repoDir = path.join(tmp, 'repo');
  fs.writeFileSync(passwordFile, password);
  fs.writeFileSync(configFile, 'include:\n  container_volumes: false\n  bolt_config: false\nrestic:\n  pack_size: 4MiB\n');
  return {
    tmp,
    password,
    src: path.join(tmp, 'src'),
    repoDir,
    cli(args) {
      const r = runCli(['--config', configFile, '--repo', repoDir, '--password-file', passwordFile, '--json', ...args]);
      if (r.code !== 0) throw new Error(`bolt-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r;
    },
  };
}
