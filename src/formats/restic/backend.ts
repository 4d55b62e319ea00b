// The restic repository format behind the BackupBackend interface.
import type { Core } from '../../native/types.ts';
import type { BackupBackend, CheckOptions, CreateOptions, ForgetOptions, RestoreOptions, RetentionPolicy } from '../../backup/backend.ts';
import type { Backup, BackupStats, CheckReport, CreateResult, FileProblem, ForgetResult, RepositoryLockInfo, RestoreResult } from '../../backup/types.ts';
import { Restorer } from '../../engine/restorer.ts';
import type { ResticRepository } from './repository.ts';
import type { MasterIndex } from './master-index.ts';
import { createResticBackup, type ResticWriteSettings } from './create.ts';
import { findSnapshot, loadSnapshots, toBackup } from './snapshots.ts';
import { coreRestoreFor, IncludeFilter, ResticRestoreSource, restoreRoot } from './restore-source.ts';
import { checkResticRepository } from './check.ts';
import { forgetResticSnapshots } from './forget.ts';
import { resticStats } from './stats.ts';
import { describeLock, isStale, withLock } from './lock.ts';
import { decodeLock } from './lock-json.ts';

/** Restore nodes walked during the lock's re-check pause, at most (a window of files is 4096). */
const PRIMED_NODES = 8192;

export class ResticBackend implements BackupBackend {
  readonly tool = 'restic' as const;

  private constructor(
    readonly repo: ResticRepository,
    private readonly core: Core,
    private readonly settings: ResticWriteSettings,
    private readonly warn: (message: string) => void,
  ) {}

  static fromRepository(repo: ResticRepository, core: Core, settings: ResticWriteSettings, warn: (message: string) => void = () => {}): ResticBackend {
    return new ResticBackend(repo, core, settings, warn);
  }

  private indexWarned = false;

  private async index() {
    const index = await this.repo.index();
    this.warnIndexProblems();
    return index;
  }

  private warnIndexProblems(): void {
    if (this.indexWarned) return;
    this.indexWarned = true;
    for (const p of this.repo.indexProblems) this.warn(`index ${p.indexId} cannot be read and is skipped (run \`backup check\`): ${p.message}`);
  }

  /** Snapshots that load; unreadable ones are reported (a damaged snapshot must not hide the others). */
  private async snapshots(loading = loadSnapshots(this.repo, { tolerant: true })) {
    const { snapshots, problems } = await loading;
    for (const p of problems) this.warn(`snapshot ${p.id} cannot be read and is skipped: ${p.message}`);
    return snapshots;
  }

  async createBackup(options: CreateOptions): Promise<CreateResult> {
    return createResticBackup(this.repo, this.core, this.settings, options, () => this.warnIndexProblems());
  }

  async listBackups(): Promise<Backup[]> {
    return (await this.snapshots()).map(toBackup);
  }

  async findBackup(reference: string): Promise<Backup> {
    return toBackup(findSnapshot(await this.snapshots(), reference));
  }

  async restoreBackup(reference: string, options: RestoreOptions): Promise<RestoreResult> {
    // Snapshots and index are read during the lock's re-check pause (~0.2 s of a restore that
    // otherwise waits idle): they are used only once the lock is granted, and a prune that
    // started before our lock makes the re-check fail, so what was read then is not used.
    // The walk of the snapshot's trees starts there too, once both are in.
    const sourceFor = (index: MasterIndex, tree: string) => {
      const problems: FileProblem[] = [];
      const native = coreRestoreFor(this.repo, this.core, index, { recheck: options.recheck === true, verifyOnly: options.verifyOnly === true, root: restoreRoot(options.target) });
      return { problems, source: new ResticRestoreSource(this.repo, this.core, index, tree, restoreRoot(options.target), new IncludeFilter(options.include ?? []), problems, native) };
    };
    type Walk = ReturnType<typeof sourceFor>;
    let warm: { snapshots: ReturnType<typeof loadSnapshots>; index: Promise<MasterIndex>; walk: Promise<Walk & { id: string; index: MasterIndex }> } | undefined;
    const warmUp = () => {
      const snapshots = loadSnapshots(this.repo, { tolerant: true });
      const index = this.repo.index({ reload: true });
      const walk = (async () => {
        const found = findSnapshot((await snapshots).snapshots, reference);
        const loadedIndex = await index;
        const primed = sourceFor(loadedIndex, found.snapshot.tree);
        primed.source.prime(PRIMED_NODES);
        return { ...primed, id: found.id, index: loadedIndex };
      })();
      warm = { snapshots, index, walk };
      snapshots.catch(() => {});
      index.catch(() => {}); // surfaces below, once the lock is held
      walk.catch(() => {});
    };
    return withLock(this.repo, { exclusive: false, warmUp }, async () => {
      const loaded = findSnapshot(await this.snapshots(warm?.snapshots), reference);
      if (warm) await warm.index;
      const index = await this.index();
      const primed = await warm?.walk.catch(() => undefined);
      const { source, problems } = primed && primed.id === loaded.id && primed.index === index ? primed : sourceFor(index, loaded.snapshot.tree);
      const restorer = new Restorer(this.core, source, {
        verifyOnly: options.verifyOnly === true,
        root: restoreRoot(options.target),
        ...(options.recheck ? { recheck: 'sha256' as const } : {}),
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
        ...(options.recheck ? { files_rechecked: counters.rechecked } : {}),
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

  async listLocks(): Promise<RepositoryLockInfo[]> {
    const locks: RepositoryLockInfo[] = [];
    for (const id of await this.repo.list('locks')) {
      try {
        const lock = decodeLock(await this.repo.readUnpacked('locks', id));
        locks.push({ id, exclusive: lock.exclusive, hostname: lock.hostname, pid: lock.pid, stale: isStale(lock), description: describeLock(lock) });
      } catch {
        // removed while we listed, or unreadable (restic ignores those too)
      }
    }
    return locks;
  }

  async close(): Promise<void> {
    await this.repo.storage.close();
  }
}
