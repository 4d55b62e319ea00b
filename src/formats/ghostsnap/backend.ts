// The ghostsnap repository format behind the BackupBackend interface.
import path from 'node:path';
import type { Core } from '../../native/types.ts';
import type { BackupBackend, CheckOptions, CreateOptions, ForgetOptions, RestoreOptions, RetentionPolicy } from '../../backup/backend.ts';
import type { Backup, BackupStats, CheckReport, CreateResult, FileProblem, ForgetResult, RestoreResult } from '../../backup/types.ts';
import { BackupError, CorruptDataError } from '../../backup/errors.ts';
import { Restorer } from '../../engine/restorer.ts';
import type { GhostsnapRepository } from './repository.ts';
import type { GhostsnapSettings } from './settings.ts';
import { createGhostsnapBackup } from './create.ts';
import { findSnapshot, loadSnapshots } from './snapshots.ts';
import { snapshotRoot, toBackup } from './snapshot.ts';
import { decodeTree } from './tree.ts';
import { PackReader } from './pack-reader.ts';
import { GhostsnapRestoreSource, IncludeFilter, placementFor } from './restore-source.ts';
import { locateChunks } from './rebuild-index.ts';
import { checkGhostsnapRepository } from './check.ts';
import { forgetGhostsnapSnapshots } from './forget.ts';
import { ghostsnapStats } from './stats.ts';

export class GhostsnapBackend implements BackupBackend {
  readonly tool = 'ghostsnap' as const;

  constructor(
    readonly repo: GhostsnapRepository,
    private readonly core: Core,
    private readonly settings: GhostsnapSettings,
    private readonly warn: (message: string) => void = () => {},
  ) {}

  /** Snapshots that load; unreadable ones are reported (a damaged snapshot must not hide the others). */
  private async snapshots() {
    const { snapshots, problems } = await loadSnapshots(this.repo, { tolerant: true });
    for (const p of problems) this.warn(`snapshot ${p.name} cannot be read and is skipped: ${p.message}`);
    return snapshots;
  }

  createBackup(options: CreateOptions): Promise<CreateResult> {
    return createGhostsnapBackup(this.repo, this.core, this.settings, options, this.warn);
  }

  async listBackups(): Promise<Backup[]> {
    return (await this.snapshots()).map(toBackup);
  }

  async findBackup(reference: string): Promise<Backup> {
    return toBackup(findSnapshot(await this.snapshots(), reference));
  }

  async restoreBackup(reference: string, options: RestoreOptions): Promise<RestoreResult> {
    const loaded = findSnapshot(await this.snapshots(), reference);
    const s = loaded.snapshot;
    const root = snapshotRoot(s);
    // fullPaths: the original absolute layout below the target (what copies and restic users expect)
    const target = options.fullPaths && options.target !== null && root !== undefined ? path.join(options.target, root) : options.target;
    const placement = placementFor(target, root, s.paths);
    if ('error' in placement) throw new BackupError('Usage', placement.error);
    let nodes;
    try {
      nodes = decodeTree(await this.repo.readTreePlain(s.tree), `tree ${s.tree}`);
    } catch (err) {
      throw new CorruptDataError(`backup ${loaded.name}: its tree cannot be read: ${(err as Error).message}`, { cause: err });
    }
    const index = await locateChunks(this.repo, this.core, this.warn);
    const problems: FileProblem[] = [];
    const source = new GhostsnapRestoreSource(nodes, index, new PackReader(this.repo, this.core), placement, new IncludeFilter(options.include ?? []), problems);
    // A ghostsnap backup of a single file has a file as its root node "": restore into its directory.
    const rootNode = nodes.find((n) => n.path.length === 0);
    const restoreRoot = rootNode && rootNode.type !== 'Directory' ? path.dirname(placement.rootFileDest.toString()) : placement.dest.toString();
    const restorer = new Restorer(this.core, source, {
      verifyOnly: options.verifyOnly === true,
      root: restoreRoot,
      // With full paths the snapshot's own root lies below the target: nothing leaves the target.
      ...(target !== options.target && options.target !== null ? { confine: path.resolve(options.target) } : {}),
      ...(options.recheck ? { recheck: 'blake3' as const } : {}),
      ...(options.progress ? { progress: options.progress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const { counters, problems: writeProblems } = await restorer.run();
    return {
      backup_id: loaded.name,
      target: options.target,
      files_restored: counters.files,
      dirs_restored: counters.dirs,
      bytes_restored: counters.bytes,
      verified_only: options.verifyOnly === true,
      ...(options.recheck ? { files_rechecked: counters.rechecked } : {}),
      problems: [...problems, ...writeProblems],
    };
  }

  checkIntegrity(options: CheckOptions): Promise<CheckReport> {
    return checkGhostsnapRepository(this.repo, this.core, options);
  }

  forgetBackups(policy: RetentionPolicy, options: ForgetOptions): Promise<ForgetResult> {
    return forgetGhostsnapSnapshots(this.repo, this.core, policy, { ...options, packSize: this.settings.packSize, uploads: this.settings.uploads, cacheDir: this.settings.spoolDir, warn: this.warn });
  }

  getStats(): Promise<BackupStats> {
    return ghostsnapStats(this.repo);
  }

  async close(): Promise<void> {
    await this.repo.storage.close();
  }
}
