// A temporary Bolt host for integration tests: a password, a restic repository, Bolt's state
// directory (BOLT_AGENT_BOLT_ROOT), /etc/bolt (BOLT_AGENT_BOLT_CONFIG_DIR), bolt-agent's state and
// Boltfiles; plus in-process access to the configuration and managers, and the CLI.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type EffectiveConfig } from '../../src/config/load.ts';
import { BackupManager } from '../../src/backup/manager.ts';
import { BoltBackupManager } from '../../src/integration/bolt-manager.ts';
import type { ConsistencyOptions } from '../../src/integration/consistent-backend.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';

export const PASSWORD = 'bolt-host-test-password';

export interface Host {
  dir: string;
  repo: string;
  passwordFile: string;
  env: Record<string, string>;
  /** Writes a Boltfile: `top` (project, services, …) then [backups] with the repository, then `backups` lines. */
  boltfile(top: string[], backups?: string[], name?: string): string;
  load(file: string): EffectiveConfig;
  manager(effective: EffectiveConfig, consistency?: Partial<Omit<ConsistencyOptions, 'effective'>>): BoltBackupManager;
  agent(args: string[], extraEnv?: Record<string, string>): CliResult;
  /** Messages the managers logged (level: text). */
  logged: string[];
}

export async function makeHost(dir: string, options: { boltRoot?: string; snapshotPath?: string } = {}): Promise<Host> {
  fs.mkdirSync(dir, { recursive: true });
  const passwordFile = path.join(dir, 'password');
  fs.writeFileSync(passwordFile, PASSWORD);
  const repo = path.join(dir, 'repo');
  const env: Record<string, string> = {
    BOLT_AGENT_BOLT_ROOT: options.boltRoot ?? path.join(dir, 'bolt'),
    BOLT_AGENT_BOLT_CONFIG_DIR: path.join(dir, 'etc-bolt'),
    BOLT_AGENT_STATE_DIR: path.join(dir, 'state'),
    ...(options.snapshotPath ? { BOLT_AGENT_SNAPSHOT_PATH: options.snapshotPath } : {}),
    TZ: 'UTC',
  };
  const logged: string[] = [];
  const log = {
    info: (m: string) => logged.push(`info: ${m}`),
    warn: (m: string) => logged.push(`warn: ${m}`),
    debug: (m: string) => logged.push(`debug: ${m}`),
  };
  const host: Host = {
    dir,
    repo,
    passwordFile,
    env,
    logged,
    boltfile: (top, backups = [], name = 'Boltfile.toml') => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, [...top, '[backups]', `repository = ${JSON.stringify(repo)}`, `password_file = ${JSON.stringify(passwordFile)}`, ...backups, ''].join('\n'));
      return file;
    },
    load: (file) => loadConfig({ flags: { config: file }, env }),
    manager: (effective, consistency = {}) => new BoltBackupManager(effective, log, { log, env, ...consistency }),
    agent: (args, extraEnv = {}) => runCli(args, { env: { ...env, ...extraEnv } }),
  };
  const init = host.load(host.boltfile([], [], 'init.toml'));
  await new BackupManager(init, log).init(repo);
  return host;
}
