// The BackupManager of Bolt hosts: the repositories it opens take consistent, tagged backups
// (ConsistentBackend). Whatever runs backups through a manager — the CLI, the surge hook through
// runBackup — gets snapshots, service commands, Bolt tags and the whole include set by using this one.
import type { EffectiveConfig } from '../config/load.ts';
import { BackupManager, type ManagerHooks } from '../backup/manager.ts';
import { ConsistentBackend, type ConsistencyOptions } from './consistent-backend.ts';
import { resolveIncludeSet } from './include-set.ts';

export class BoltBackupManager extends BackupManager {
  /** The backend of the last open(), for its consistency report. */
  lastOpened: ConsistentBackend | undefined;

  constructor(
    effective: EffectiveConfig,
    hooks: ManagerHooks,
    private readonly consistency: Omit<ConsistencyOptions, 'effective'>,
  ) {
    super(effective, hooks);
  }

  /** The whole resolved include set (Bolt volumes and configuration included) plus `extra`. */
  override includePaths(extra: readonly string[] = []): string[] {
    return resolveIncludeSet(this.effective, { extra, ...(this.consistency.env ? { env: this.consistency.env } : {}) }).entries.map((e) => e.path);
  }

  override async open(repository = this.repository(), password = this.password()): Promise<ConsistentBackend> {
    const backend = new ConsistentBackend(await super.open(repository, password), { ...this.consistency, effective: this.effective });
    this.lastOpened = backend;
    return backend;
  }
}
