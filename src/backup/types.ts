// The requirements' Backup and BackupStats (snake_case JSON field names exactly as there), plus
// what the commands exchange with a repository format.

export type BackupToolName = 'restic' | 'ghostsnap';

/** One backup (a snapshot in the repository). JSON: exactly these snake_case names. */
export interface Backup {
  id: string;
  /** The name given with --name (kept in the tag `bolt.name=<name>`). */
  name: string | null;
  /** RFC 3339 time of the backup. */
  timestamp: string;
  /** Bytes of file content the backup holds (sum of file sizes), when known. */
  size_bytes: number | null;
  paths: string[];
  tags: string[];
  tool: BackupToolName;
  // ---- extensions ----
  short_id: string;
  hostname: string;
  username?: string;
  parent: string | null;
  tree: string;
  summary?: BackupSummary;
}

/** What one run did (restic 0.17+'s snapshot summary, which we also write). */
export interface BackupSummary {
  backup_start: string;
  backup_end: string;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  dirs_new: number;
  dirs_changed: number;
  dirs_unmodified: number;
  data_blobs: number;
  tree_blobs: number;
  data_added: number;
  data_added_packed: number;
  total_files_processed: number;
  total_bytes_processed: number;
}

/** The requirements' BackupStats (definitions in docs/CLI.md "backup stats"). */
export interface BackupStats {
  total_size: number;
  total_backups: number;
  unique_data: number;
  compression_ratio: number;
  deduplication_ratio: number;
}

export interface FileProblem {
  path: string;
  error: string;
}

/** Result of `backup create`. */
export interface CreateResult {
  backup: Backup;
  summary: BackupSummary;
  /** Files that could not be read (the run continued; exit code 3). */
  problems: FileProblem[];
  /** Entries skipped on purpose (sockets, unsupported types), with the reason. */
  skipped: FileProblem[];
}

export interface RestoreResult {
  backup_id: string;
  target: string | null;
  files_restored: number;
  dirs_restored: number;
  bytes_restored: number;
  verified_only: boolean;
  /** With `recheck`: restored files read back and found equal to the backup. */
  files_rechecked?: number;
  problems: FileProblem[];
}

export interface CheckProblem {
  /** What is damaged: "pack <id>", "index <id>", "snapshot <id>", "tree <id>", ... */
  object: string;
  message: string;
  /** Snapshots whose data depends on the object. */
  affected_snapshots?: string[];
  /** Files (snapshot:path) whose data is in the object, when known. */
  affected_files?: string[];
}

export interface CheckReport {
  ok: boolean;
  read_data: boolean;
  snapshots_checked: number;
  packs_checked: number;
  blobs_checked: number;
  errors: CheckProblem[];
  /** Not errors: unused packs, hints. */
  hints: string[];
}

export interface ForgetGroup {
  key: { hostname: string | null; paths: string[] | null; tags: string[] | null };
  keep: { id: string; short_id: string; timestamp: string; reasons: string[] }[];
  remove: { id: string; short_id: string; timestamp: string }[];
}

export interface ForgetResult {
  dry_run: boolean;
  groups: ForgetGroup[];
  removed: string[];
  /** After --apply: what prune reclaimed. */
  prune?: { packs_deleted: number; packs_rewritten: number; bytes_freed: number };
}

/** A lock file in a repository (for health: a stale one blocks other tools until removed). */
export interface RepositoryLockInfo {
  id: string;
  exclusive: boolean;
  hostname: string;
  pid: number;
  stale: boolean;
  description: string;
}
