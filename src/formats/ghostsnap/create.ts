// `backup create` for ghostsnap repositories: walk, chunk with FastCDC, store new chunks in packs,
// then commit in crash-safe order — packs, tree, index (a conditional write on the version read;
// on conflict the index is re-read and merged), snapshot — under the repository lock. A crash at
// any point leaves packs or a tree nothing references yet, which check reports as hints and prune
// removes later; ghostsnap's own order (snapshot before index) can leave a snapshot whose chunks
// are not indexed.
import { completed, wantsTotals } from '../../observe/progress.ts';
import { formatRfc3339Nano, parseRfc3339 } from '../../util/go-time.ts';
import os from 'node:os';
import type { Core } from '../../native/types.ts';
import type { CreateOptions } from '../../backup/backend.ts';
import type { BackupSummary, CreateResult } from '../../backup/types.ts';
import { CorruptDataError } from '../../backup/errors.ts';
import { Archiver } from '../../engine/archiver.ts';
import { archiveProgress } from '../../engine/archive-progress.ts';
import { ContentPipeline } from '../../engine/content-pipeline.ts';
import { ExcludeMatcher } from '../../engine/exclude.ts';
import { currentUserName } from '../../engine/user-names.ts';
import { PreconditionFailedError } from '../../storage/errors.ts';
import { VERSION } from '../../version.ts';
import { GhostsnapArchiveFormat, ParentTree } from './archive-format.ts';
import { GhostsnapPacker, spoolDirectory, type StoredPack } from './packer.ts';
import { decodeTree } from './tree.ts';
import { encodeSnapshot, NAME_TAG_PREFIX, toBackup, type GhostsnapSnapshot, type LoadedSnapshot } from './snapshot.ts';
import { findSnapshot, loadSnapshots } from './snapshots.ts';
import { snapshotRootOf } from './layout.ts';
import { withLock, type GhostsnapLock } from './lock.ts';
import { rfc3339Utc } from './pack.ts';
import { newUuid } from './ids.ts';
import type { ChunkIndex } from './chunk-index.ts';
import type { GhostsnapRepository } from './repository.ts';
import type { GhostsnapSettings } from './settings.ts';

/** Long backups write the index this often, so a crash loses at most this much work. */
const INDEX_CHECKPOINT_MS = 10 * 60 * 1000;

/** The newest bolt-agent snapshot of this host, not after `time`, that holds all our paths. */
function chooseParent(snapshots: readonly LoadedSnapshot[], hostname: string, paths: readonly string[], time: Date): LoadedSnapshot | undefined {
  let best: LoadedSnapshot | undefined;
  for (const s of snapshots) {
    if (!s.snapshot.bolt || s.snapshot.hostname !== hostname) continue;
    if (Date.parse(s.snapshot.time) > time.getTime()) continue;
    if (!paths.every((p) => s.snapshot.paths.includes(p))) continue;
    best = s; // snapshots come oldest first
  }
  return best;
}

/**
 * The single index is rewritten by every writer. Writes are conditional on the version this
 * process last read or wrote; when another writer got there first, its index is re-read and our
 * packs are added to it.
 */
export class IndexCommitter {
  constructor(
    private readonly repo: GhostsnapRepository,
    private index: ChunkIndex,
    private etag: string | undefined,
    private readonly stored: () => readonly StoredPack[],
  ) {}

  async commit(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      for (const p of this.stored()) this.index.addPack(p.id, p.info, p.chunks.map((c) => [c.id, c]));
      try {
        this.etag = await this.repo.saveIndex(this.index, this.etag);
        return;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError) || attempt >= 5) throw err;
        const fresh = await this.repo.loadIndex();
        this.index = fresh.index;
        this.etag = fresh.etag;
      }
    }
  }
}

export async function createGhostsnapBackup(repo: GhostsnapRepository, core: Core, settings: GhostsnapSettings, options: CreateOptions, warn: (m: string) => void): Promise<CreateResult> {
  const started = options.timestamp ? new Date(options.timestamp) : (options.time ?? new Date());
  const startSec = Math.floor(Date.now() / 1000);
  const hostname = options.hostname ?? os.hostname();
  const exclude = new ExcludeMatcher(options.exclude ?? { patterns: [], paths: [] });
  const rootText = snapshotRootOf(options.paths, core);
  const root = Buffer.from(rootText);

  return withLock(
    repo,
    'backup',
    async (lock: GhostsnapLock) => {
      let loaded;
      try {
        loaded = await repo.loadIndex();
      } catch (err) {
        if (err instanceof CorruptDataError) {
          throw new CorruptDataError(`${err.message}; a backup would replace the index and hide every chunk it lists from ghostsnap, so nothing was written`, {
            hint: 'run `bolt-agent backup check` to see the damage',
          });
        }
        throw err;
      }
      const { snapshots } = await loadSnapshots(repo, { tolerant: true });
      const parent = options.force ? undefined : options.parent ? findSnapshot(snapshots, options.parent) : chooseParent(snapshots, hostname, options.paths, started);
      let parentTree: ParentTree | undefined;
      if (parent?.snapshot.bolt) {
        try {
          const nodes = decodeTree(await repo.readTreePlain(parent.snapshot.tree), `tree ${parent.snapshot.tree}`);
          parentTree = new ParentTree(Buffer.from(parent.snapshot.bolt.root), nodes, loaded.index);
        } catch (err) {
          warn(`the parent backup's tree cannot be read, so every file is read again: ${(err as Error).message}`);
        }
      }

      const known = core.newBlobSet();
      if (loaded.index.chunks.size) known.addMany(Buffer.concat([...loaded.index.chunks.keys()].map((id) => Buffer.from(id, 'hex'))));

      const spoolDir = await spoolDirectory(settings.spoolDir);
      let lastCheckpoint = Date.now();
      let checkpoint: Promise<void> = Promise.resolve();
      const packer = new GhostsnapPacker(repo, settings.packSize, settings.uploads, spoolDir, () => {
        if (Date.now() - lastCheckpoint < INDEX_CHECKPOINT_MS) return;
        lastCheckpoint = Date.now();
        checkpoint = checkpoint.then(async () => {
          await lock.assertHeld();
          await committer.commit();
        });
      });
      const committer = new IndexCommitter(repo, loaded.index, loaded.etag, () => packer.stored);
      const pipeline = new ContentPipeline(
        core,
        { chunker: settings.chunker, hash: 'blake3', compression: { kind: 'zlib', level: settings.zlibLevel }, seal: { kind: 'none' }, known },
        packer,
        { threads: settings.threads, segmentBytes: 16 * 1024 * 1024 },
      );
      const format = new GhostsnapArchiveFormat(core, root, startSec, parentTree);
      const archiver = new Archiver(core, pipeline, format, {
        targets: options.paths,
        ...(options.readRoot ? { readRoots: options.readRoot } : {}),
        exclude,
        previous: parentTree?.at(Buffer.from('/')),
        ...(options.signal ? { signal: options.signal } : {}),
        scan: wantsTotals(options.progress),
        ...archiveProgress(options.progress),
      });
      let result;
      try {
        result = await archiver.run();
        await packer.flush();
        await checkpoint;
      } catch (err) {
        await packer.discard();
        throw err;
      }

      const tree = await repo.writeTreePlain(format.finish());
      await lock.assertHeld();
      await committer.commit();
      await lock.assertHeld();

      const c = result.counters;
      const tags = [...(options.name ? [`${NAME_TAG_PREFIX}${options.name}`] : []), ...(options.tags ?? [])];
      const summary: BackupSummary = {
        backup_start: rfc3339Utc(started),
        backup_end: rfc3339Utc(new Date()),
        files_new: c.filesNew,
        files_changed: c.filesChanged,
        files_unmodified: c.filesUnmodified,
        dirs_new: format.counters.dirsNew,
        dirs_changed: format.counters.dirsChanged,
        dirs_unmodified: format.counters.dirsUnmodified,
        data_blobs: packer.stats.chunks,
        tree_blobs: 1,
        data_added: packer.stats.rawBytes,
        data_added_packed: packer.stats.packedBytes + tree.size,
        total_files_processed: c.filesNew + c.filesChanged + c.filesUnmodified,
        total_bytes_processed: c.bytesProcessed,
      };
      const id = newUuid(core);
      const snapshot: GhostsnapSnapshot = {
        id,
        parent: parent?.name ?? null,
        tree: tree.id,
        paths: options.paths,
        hostname,
        username: currentUserName(),
        // a copied backup keeps its instant to the nanosecond; ghostsnap writes times in UTC
        time: options.timestamp ? formatRfc3339Nano({ ...parseRfc3339(options.timestamp), offsetMinutes: 0 }) : rfc3339Utc(started),
        tags,
        excludes: options.exclude ? [...options.exclude.patterns, ...options.exclude.paths] : [],
        bolt: { root: rootText, program: `bolt-agent ${VERSION}`, summary },
      };
      await repo.writeSnapshotPlain(id, encodeSnapshot(snapshot));
      const backup = toBackup({ name: id, snapshot });
      options.progress?.done(completed('backup', c.filesNew + c.filesChanged + c.filesUnmodified, c.bytesProcessed));
      return { backup, summary, problems: result.problems, skipped: [...result.skipped, ...format.skipped] };
    },
    (description) => warn(`removed a stale lock: ${description}`),
  );
}

