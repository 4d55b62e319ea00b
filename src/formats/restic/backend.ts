// The restic repository format behind the BackupBackend interface.
import type { Core } from '../../native/types.ts';
import type { BackupBackend, CheckOptions, CreateOptions, ForgetOptions, RestoreOptions, RetentionPolicy } from '../../backup/backend.ts';
import type { Backup, BackupStats, CheckReport, CreateResult, FileProblem, ForgetResult, RestoreResult } from '../../backup/types.ts';
import { Restorer } from '../../engine/restorer.ts';
import type { ResticRepository } from './repository.ts';
import { createResticBackup, type ResticWriteSettings } from './create.ts';
import { findSnapshot, loadSnapshots, toBackup } from './snapshots.ts';
import { IncludeFilter, ResticRestoreSource, restoreRoot } from './restore-source.ts';
import { checkResticRepository } from './check.ts';
import { forgetResticSnapshots } from './forget.ts';
import { resticStats } from './stats.ts';
import { withLock } from './lock.ts';

export class ResticBackend implements BackupBackend {
  readonly tool = 'restic' as const;

  private constructor(
    readonly repo: ResticRepository,
    private readonly core: Core,
    private readonly settings: ResticWriteSettings,
  ) {}

  static fromRepository(repo: ResticRepository, core: Core, settings: ResticWriteSettings): ResticBackend {
    return new ResticBackend(repo, core, settings);
  }

  createBackup(options: CreateOptions): Promise<CreateResult> {
    return createResticBackup(this.repo, this.core, this.settings, options);
  }

  async listBackups(): Promise<Backup[]> {
    const { snapshots } = await loadSnapshots(this.repo);
    return snapshots.map(toBackup);
  }

  async findBackup(reference: string): Promise<Backup> {
    const { snapshots } = await loadSnapshots(this.repo);
    return toBackup(findSnapshot(snapshots, reference));
  }

  async restoreBackup(reference: string, options: RestoreOptions): Promise<RestoreResult> {
    return withLock(this.repo, { exclusive: false }, async () => {
      const { snapshots } = await loadSnapshots(this.repo);
      const loaded = findSnapshot(snapshots, reference);
      const index = await this.repo.index();
      const problems: FileProblem[] = [];
      const source = new ResticRestoreSource(this.repo, this.core, index, loaded.snapshot.tree, restoreRoot(options.target), new IncludeFilter(options.include ?? []), problems);
      const restorer = new Restorer(this.core, source, {
        verifyOnly: options.verifyOnly === true,
        root: restoreRoot(options.target),
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const { counters, problems: writeProblems } = await restorer.run();
      return {
        backup_id: loaded.id,
        target: options.target,
        files_restored: counters.files,
        dirs_restored: counters.dirs,
        bytes_restored: counters.bytes,
        verified_only: options.verifyOnly === true,
        problems: [...problems, ...writeProblems],
      };
    });
  }

  checkIntegrity(options: CheckOptions): Promise<CheckReport> {
    return withLock(this.repo, { exclusive: false }, () => checkResticRepository(this.repo, this.core, options));
  }

  forgetBackups(policy: RetentionPolicy, options: ForgetOptions): Promise<ForgetResult> {
    return forgetResticSnapshots(this.repo, this.core, policy, { ...options, packSize: this.settings.packSize, uploads: this.settings.uploads });
  }

  getStats(): Promise<BackupStats> {
    return withLock(this.repo, { exclusive: false }, () => resticStats(this.repo));
  }

  async close(): Promise<void> {
    await this.repo.storage.close();
  }
}
