// A BackupBackend whose createBackup is one point in time: the services' pre commands run, the
// btrfs subvolumes and ZFS datasets under the paths are snapshotted, the post commands run (at
// once for services whose data is all in snapshots, else after the backup), the backup reads from
// the snapshots while recording the original paths, and the temporary snapshots are removed
// however the backup ends. It also adds the Bolt tags. Everything else passes through.
import os from 'node:os';
import type { BackupBackend, CheckOptions, CreateOptions, ForgetOptions, RestoreOptions, RetentionPolicy } from '../backup/backend.ts';
import type { Backup, BackupStats, CheckReport, CreateResult, FileProblem, ForgetResult, RestoreResult } from '../backup/types.ts';
import { asBackupError, BackupError } from '../backup/errors.ts';
import type { EffectiveConfig } from '../config/load.ts';
import { loadSnapshotDeps } from '../snapshots/deps.ts';
import { temporaryPlacement } from '../snapshots/placement.ts';
import { planSnapshots, requireSnapshots, unitsFor, type SnapshotDeps, type SnapshotMode } from '../snapshots/plan.ts';
import { SnapshotSession, type SnapshotPlacement, type TakenSnapshot } from '../snapshots/session.ts';
import { hookTimeoutMs, runHook, type HookRun } from './app-hooks.ts';
import { readBoltProject } from './boltfile.ts';
import { ownersOf, withBoltTags } from './bolt-tags.ts';
import { volumesDir } from './include-set.ts';

export interface ConsistencyLog {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface ConsistencyOptions {
  effective: EffectiveConfig;
  log: ConsistencyLog;
  env?: NodeJS.ProcessEnv;
  /** The trigger tag when the caller's tags name none (default "manual"). */
  trigger?: string;
  /** The host's snapshot calls (tests pass a ZFS double); default: the core's. */
  deps?: SnapshotDeps;
  /** Kept snapshots in this placement (snapshot-backup) instead of temporary ones; a snapshot that fails is fatal. */
  placement?: SnapshotPlacement;
  /** Called once the snapshots exist, before anything is read. */
  onSnapshots?: (taken: readonly TakenSnapshot[]) => void | Promise<void>;
}

/** What the last createBackup did around the backup itself. */
export interface ConsistencyReport {
  mode: SnapshotMode;
  snapshots: TakenSnapshot[];
  /** Paths read as they are, and why. */
  live: { root: string; why: string }[];
  hooks: HookRun[];
}

export class ConsistentBackend implements BackupBackend {
  readonly tool: BackupBackend['tool'];
  lastReport: ConsistencyReport | undefined;

  constructor(
    readonly inner: BackupBackend,
    private readonly options: ConsistencyOptions,
  ) {
    this.tool = inner.tool;
  }

  /** Kept snapshots are always taken; "off" only applies to temporary ones. */
  private get mode(): SnapshotMode {
    const configured = this.options.effective.config.consistency?.filesystem_snapshots ?? 'auto';
    return this.options.placement && configured === 'off' ? 'auto' : configured;
  }

  async createBackup(options: CreateOptions): Promise<CreateResult> {
    const { effective, log } = this.options;
    const env = this.options.env ?? process.env;
    const project = readBoltProject(effective);
    const vdir = volumesDir(env);
    const report: ConsistencyReport = { mode: this.mode, snapshots: [], live: [], hooks: [] };
    this.lastReport = report;

    // Services whose data is in this backup, with their paths, and the commands they want run.
    const servicePaths = new Map<string, string[]>();
    for (const p of options.paths) for (const s of ownersOf(p, project, vdir).services) servicePaths.set(s, [...(servicePaths.get(s) ?? []), p]);
    const hooks = effective.config.hooks ?? {};
    const hookEnv = (service: string, phase: string): Record<string, string> => ({ BOLT_SERVICE: service, BOLT_HOOK_PHASE: phase, ...(project.name ? { BOLT_PROJECT: project.name } : {}) });
    const run = async (service: string, phase: 'pre' | 'post', signal?: AbortSignal): Promise<HookRun | undefined> => {
      const spec = hooks[service];
      const command = spec?.[phase];
      if (!spec || !command) return undefined;
      log.info(`running the ${phase} command of service ${service}`);
      const result = await runHook(service, phase, command, { timeoutMs: hookTimeoutMs(spec), env: hookEnv(service, phase), ...(signal ? { signal } : {}), onOutput: (line) => log.debug(`[${service} ${phase}] ${line}`) });
      report.hooks.push(result);
      return result;
    };

    const skipped: FileProblem[] = [];
    let paths = [...options.paths];
    const postPending = new Set([...servicePaths.keys()].filter((s) => hooks[s]?.post));
    let session: SnapshotSession | undefined;
    let result: CreateResult | undefined;
    let failure: unknown;
    const postProblems: FileProblem[] = [];
    const runPosts = async (services: Iterable<string>): Promise<void> => {
      for (const service of [...services]) {
        postPending.delete(service);
        const post = await run(service, 'post');
        if (post && !post.ok) {
          log.warn(post.error ?? `post command of service ${service} failed`);
          postProblems.push({ path: `service ${service}`, error: post.error ?? 'post command failed' });
        }
      }
    };
    try {
      for (const service of servicePaths.keys()) {
        const pre = await run(service, 'pre', options.signal);
        if (!pre || pre.ok) continue;
        const dropped = servicePaths.get(service) ?? [];
        paths = paths.filter((p) => !dropped.includes(p));
        for (const p of dropped) skipped.push({ path: p, error: `not backed up: the ${pre.error ?? `pre command of service ${service} failed`}` });
        log.warn(`${pre.error}; service ${service} is not backed up`);
      }
      if (options.signal?.aborted) throw asBackupError(options.signal.reason);
      if (paths.length === 0) {
        throw new BackupError('OperationFailed', `nothing backed up: ${skipped.map((s) => s.error.replace(/^not backed up: the /, '')).filter((e, i, all) => all.indexOf(e) === i).join('; ')}`);
      }

      const exclude = { patterns: [...(options.exclude?.patterns ?? [])], paths: [...(options.exclude?.paths ?? []), ...secretFiles(effective)] };
      let readRoot: { from: string; to: string }[] = [];
      if (this.mode !== 'off') {
        const deps = this.options.deps ?? (await loadSnapshotDeps());
        const plan = planSnapshots(paths, deps);
        if (this.mode === 'required') requireSnapshots(plan);
        session = await SnapshotSession.take(plan, deps, this.options.placement ?? temporaryPlacement(deps.mounts), {
          onFailure: this.mode === 'required' || this.options.placement ? 'fail' : 'read-live',
          note: (m) => log.warn(m),
        });
        report.snapshots = [...session.taken];
        for (const u of session.plan.units) if (u.kind === 'live') report.live.push({ root: u.root, why: u.why });
        for (const t of session.taken) log.info(`reading ${t.source} from snapshot ${t.id}`);
        readRoot = session.readRoots;
        exclude.paths.push(...session.excludePaths);
        await this.options.onSnapshots?.(session.taken);
        // The data of these services is frozen in snapshots: let them go on at once.
        const carriedOut = session.plan;
        const frozen = (service: string): boolean => unitsFor(carriedOut, (servicePaths.get(service) ?? []).filter((p) => paths.includes(p))).every((u) => u.kind !== 'live');
        await runPosts([...postPending].filter(frozen));
      }
      if (options.signal?.aborted) throw asBackupError(options.signal.reason);
      result = await this.inner.createBackup({
        ...options,
        paths,
        tags: withBoltTags(options.tags ?? [], paths, { project, volumesDir: vdir, hostname: options.hostname ?? os.hostname(), trigger: this.options.trigger ?? 'manual' }),
        exclude,
        ...(readRoot.length ? { readRoot } : {}),
      });
    } catch (err) {
      failure = err;
    }
    await runPosts([...postPending]);
    for (const problem of session?.release() ?? []) log.warn(problem);
    if (failure !== undefined) throw failure;
    const done = result as CreateResult;
    return { ...done, problems: [...skipped, ...done.problems, ...postProblems] };
  }

  listBackups(): Promise<Backup[]> {
    return this.inner.listBackups();
  }

  findBackup(reference: string): Promise<Backup> {
    return this.inner.findBackup(reference);
  }

  restoreBackup(reference: string, options: RestoreOptions): Promise<RestoreResult> {
    return this.inner.restoreBackup(reference, options);
  }

  checkIntegrity(options: CheckOptions): Promise<CheckReport> {
    return this.inner.checkIntegrity(options);
  }

  forgetBackups(policy: RetentionPolicy, options: ForgetOptions): Promise<ForgetResult> {
    return this.inner.forgetBackups(policy, options);
  }

  getStats(): Promise<BackupStats> {
    return this.inner.getStats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The repository secret's files: never backed up (a backup is no place for its own key). */
export function secretFiles(effective: EffectiveConfig): string[] {
  const { password_file, key_file } = effective.config;
  return [password_file, key_file].filter((f): f is string => typeof f === 'string' && f.length > 0);
}
