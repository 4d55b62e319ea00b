// The requirements' BackupBackend, as the repository formats implement it. Options carry what
// the commands need beyond the requirements' minimal signatures.
import type { Backup, BackupStats, BackupToolName, CheckReport, CreateResult, ForgetResult, RepositoryLockInfo, RestoreResult } from './types.ts';
import type { ExcludeRules } from '../engine/exclude.ts';
import type { ProgressSink } from '../observe/progress.ts';
import type { RetentionPolicy } from './retention/policy.ts';

export interface CreateOptions {
  /** Absolute target paths, in the order given. */
  paths: string[];
  name?: string;
  tags?: string[];
  exclude?: ExcludeRules;
  hostname?: string;
  /** An explicit parent (id or prefix); undefined = choose like restic. */
  parent?: string;
  /** Read every file (no parent). */
  force?: boolean;
  /** Record this time instead of now. */
  time?: Date;
  /** Record exactly this RFC 3339 time (nanoseconds and offset kept; copies use it). Wins over `time`. */
  timestamp?: string;
  /** Reports what would be read and excluded; writes nothing. */
  dryRun?: boolean;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** Record these paths in the backup although the data is read from `readRoot` (filesystem snapshots). */
  readRoot?: { from: string; to: string }[];
}

export interface RestoreOptions {
  /** null: restore to the original paths. */
  target: string | null;
  /**
   * Below `target`, recreate each file's original absolute path (restic's layout; formats that
   * place files relative to the snapshot root otherwise, like ghostsnap, follow it too).
   */
  fullPaths?: boolean;
  include?: string[];
  verifyOnly?: boolean;
  /** After writing, read every restored file back and check it against the backup's chunk hashes. */
  recheck?: boolean;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

export type { RetentionPolicy } from './retention/policy.ts';

export interface ForgetOptions {
  dryRun: boolean;
  groupBy?: ('host' | 'paths' | 'tags')[];
  progress?: ProgressSink;
  signal?: AbortSignal;
}

export interface CheckOptions {
  readData: boolean;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

export interface BackupBackend {
  readonly tool: BackupToolName;
  createBackup(options: CreateOptions): Promise<CreateResult>;
  listBackups(): Promise<Backup[]>;
  /** id, unique id prefix, name (bolt.name tag) or "latest". */
  findBackup(reference: string): Promise<Backup>;
  restoreBackup(reference: string, options: RestoreOptions): Promise<RestoreResult>;
  checkIntegrity(options: CheckOptions): Promise<CheckReport>;
  forgetBackups(policy: RetentionPolicy, options: ForgetOptions): Promise<ForgetResult>;
  getStats(): Promise<BackupStats>;
  /** The repository's lock files, when the format keeps locks it can read. */
  listLocks?(): Promise<RepositoryLockInfo[]>;
  close(): Promise<void>;
}
