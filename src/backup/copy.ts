// `backup copy`: backups from one repository to another, of either format, on any storage.
// Each backup is restored into a private scratch folder and backed up from there into the
// destination, recording the original paths, time, host, tags and name; then the copy is read
// back and verified. Copying is idempotent (a backup already in the destination — same time,
// host, paths and tags — is skipped) and resumable (an interrupted run leaves at most data the
// next run deduplicates against).
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BackupBackend } from './backend.ts';
import type { Backup, FileProblem } from './types.ts';
import { BackupError } from './errors.ts';
import type { ProgressSink } from '../observe/progress.ts';

export interface CopyOptions {
  /** Backups to copy (id, prefix, name); empty = all. */
  references: string[];
  /** Where scratch restores go (needs room for the largest backup); default the OS temp folder. */
  scratchDir?: string;
  signal?: AbortSignal;
  progress?: ProgressSink;
  onEvent?: (event: CopyEvent) => void;
}

export type CopyEvent =
  | { kind: 'skipped'; source: Backup; existing: Backup }
  | { kind: 'copying'; source: Backup }
  | { kind: 'copied'; source: Backup; copy: Backup; files: number; bytes: number };

export interface CopiedBackup {
  source_id: string;
  copy_id: string;
  name: string | null;
  timestamp: string;
  files: number;
  bytes: number;
}

export interface CopyResult {
  copied: CopiedBackup[];
  skipped: { source_id: string; existing_id: string }[];
  problems: FileProblem[];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
}

/** The identity of a backup across repositories and formats. */
export function sameBackup(a: Backup, b: Backup): boolean {
  // ghostsnap keeps time to the nanosecond in RFC 3339 too, but formats may print the offset
  // differently: compare instants (ms is what both sides can always express).
  return Date.parse(a.timestamp) === Date.parse(b.timestamp) && a.hostname === b.hostname && sameSet(a.paths, b.paths) && sameSet(a.tags, b.tags);
}

export async function copyBackups(source: BackupBackend, destination: BackupBackend, options: CopyOptions): Promise<CopyResult> {
  const all = await source.listBackups();
  const selected = options.references.length ? await Promise.all(options.references.map((r) => source.findBackup(r))) : all;
  const existing = await destination.listBackups();
  const result: CopyResult = { copied: [], skipped: [], problems: [] };
  const scratchRoot = await fsp.mkdtemp(path.join(options.scratchDir ?? os.tmpdir(), 'bolt-agent-copy-'));
  try {
    for (const backup of [...selected].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp))) {
      if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new BackupError('Interrupted', 'interrupted');
      const already = existing.find((e) => sameBackup(backup, e));
      if (already) {
        result.skipped.push({ source_id: backup.id, existing_id: already.id });
        options.onEvent?.({ kind: 'skipped', source: backup, existing: already });
        continue;
      }
      options.onEvent?.({ kind: 'copying', source: backup });
      const scratch = await fsp.mkdtemp(path.join(scratchRoot, 'backup-'));
      try {
        const restored = await source.restoreBackup(backup.id, { target: scratch, fullPaths: true, ...(options.signal ? { signal: options.signal } : {}) });
        if (restored.problems.length) {
          // A partial copy would look complete: copy nothing of this backup and say why.
          result.problems.push(...restored.problems.map((p) => ({ path: `${backup.short_id}:${p.path}`, error: `not copied: ${p.error}` })));
          continue;
        }
        const created = await destination.createBackup({
          paths: backup.paths,
          readRoot: backup.paths.map((p) => ({ from: p, to: path.join(scratch, p) })),
          tags: backup.tags,
          hostname: backup.hostname,
          timestamp: backup.timestamp,
          force: true,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.progress ? { progress: options.progress } : {}),
        });
        if (created.problems.length) {
          throw new BackupError('OperationFailed', `copy of backup ${backup.short_id} could not read its own scratch copy: ${created.problems[0]?.path}: ${created.problems[0]?.error}`);
        }
        // Verify: every blob of the copy decodes and hashes, and it holds what the source held.
        const check = await destination.restoreBackup(created.backup.id, { target: null, verifyOnly: true, ...(options.signal ? { signal: options.signal } : {}) });
        if (check.problems.length || check.files_restored !== restored.files_restored) {
          throw new BackupError('CorruptData', `the copy ${created.backup.short_id} of backup ${backup.short_id} does not verify: ${check.problems[0]?.error ?? `${check.files_restored} files instead of ${restored.files_restored}`}`);
        }
        const copied: CopiedBackup = {
          source_id: backup.id,
          copy_id: created.backup.id,
          name: backup.name,
          timestamp: backup.timestamp,
          files: restored.files_restored,
          bytes: restored.bytes_restored,
        };
        result.copied.push(copied);
        existing.push(created.backup);
        options.onEvent?.({ kind: 'copied', source: backup, copy: created.backup, files: copied.files, bytes: copied.bytes });
      } finally {
        await fsp.rm(scratch, { recursive: true, force: true });
      }
    }
  } finally {
    await fsp.rm(scratchRoot, { recursive: true, force: true });
  }
  return result;
}
