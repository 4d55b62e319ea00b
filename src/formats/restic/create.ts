// `backup create` for restic repositories: walk, chunk with the repository's polynomial, store
// new blobs in packs, then index, then the snapshot (formats/restic.md §1.3 commit order), all
// under a shared lock.
import { completed, wantsTotals } from '../../observe/progress.ts';
import { currentUserName, groupNames, userNames } from '../../engine/user-names.ts';
import os from 'node:os';
import type { BlobSet, CompressionSpec, Core, DirComparer, SealSpec } from '../../native/types.ts';
import type { CreateOptions } from '../../backup/backend.ts';
import type { CreateResult } from '../../backup/types.ts';
import { BackupError } from '../../backup/errors.ts';
import { Archiver } from '../../engine/archiver.ts';
import { archiveProgress } from '../../engine/archive-progress.ts';
import { ContentPipeline } from '../../engine/content-pipeline.ts';
import { ExcludeMatcher } from '../../engine/exclude.ts';
import { readRootDevices } from '../../engine/read-roots.ts';
import { goTimeFromUnix, localZone, parseRfc3339 } from '../../util/go-time.ts';
import { encodeSnapshot, type ResticSnapshot } from './snapshot.ts';
import { chooseParent, findSnapshot, loadSnapshots, NAME_TAG_PREFIX, toBackup } from './snapshots.ts';
import { ParentDir, ResticArchiveFormat } from './archive-format.ts';
import { Packer } from './packer.ts';
import { withLock } from './lock.ts';
import { collectNow } from '../../util/release-memory.ts';
import type { ResticRepository } from './repository.ts';
import type { MasterIndex } from './master-index.ts';
import { VERSION } from '../../version.ts';

export interface ResticWriteSettings {
  compression: CompressionSpec;
  packSize: number;
  threads: number;
  uploads: number;
}

/** Maps `performance.compression` / `compression_level` to what blobs get (§4.2). */
export function resticCompression(setting: string | undefined, level: number | undefined, version: 1 | 2): CompressionSpec {
  if (version === 1) return { kind: 'none' };
  const s = setting ?? 'auto';
  if (s === 'off' || s === 'none') return { kind: 'none' };
  // auto: zstd's fastest level (about twice the speed of level 3 for a few percent of size)
  if (s === 'auto') return { kind: 'zstd', level: level ?? 1, onlyIfSmaller: true };
  if (s === 'fastest') return { kind: 'zstd', level: 1, onlyIfSmaller: true };
  if (s === 'max') return { kind: 'zstd', level: level ?? 19 };
  const m = /^zstd(?::(\d+))?$/.exec(s);
  if (m) return { kind: 'zstd', level: m[1] ? Number(m[1]) : (level ?? 3) };
  throw new BackupError('InvalidConfig', `performance.compression "${s}" does not apply to restic repositories; use off, auto, max or zstd[:level]`);
}

function nowParts(date: Date): { sec: number; nsec: number } {
  const ms = date.getTime();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
}

/** The core's comparison of directories with their parent trees, unless BOLT_DIR_COMPARE=0 or the core has none. */
function dirComparer(core: Core, known: BlobSet, seal: SealSpec, devices: ReadonlyMap<number, number>): DirComparer | undefined {
  if (!core.newDirComparer || process.env.BOLT_DIR_COMPARE === '0') return undefined;
  return core.newDirComparer({ zone: localZone(), users: userNames(), groups: groupNames(), known, seal, devices });
}

/** `indexLoaded`: the index has been read (for reporting index files that could not be). */
export async function createResticBackup(repo: ResticRepository, core: Core, settings: ResticWriteSettings, options: CreateOptions, indexLoaded?: () => void): Promise<CreateResult> {
  const started = options.time ?? new Date();
  const startTime = nowParts(started);
  const time = options.timestamp ? parseRfc3339(options.timestamp) : goTimeFromUnix(startTime.sec, startTime.nsec);
  const hostname = options.hostname ?? os.hostname();
  const exclude = new ExcludeMatcher(options.exclude ?? { patterns: [], paths: [] });

  // What the walk starts from: the index, the parent snapshot's root tree and the set of known
  // blobs; then the walk itself starts, comparing with the parent, reading, chunking and packing,
  // while the lock is being confirmed (restic pauses 200 ms there; a first backup used to wait
  // it out idle). Nothing reaches the repository before the lock is held: finished packs wait in
  // the spool (Packer.holdStoresUntil) and index files follow stored packs. An attempt whose
  // lock is not granted is stopped and its spooled packs deleted; a retry starts over.
  const prepare = async (signal: AbortSignal | undefined, granted: Promise<void>) => {
    const index = await repo.index({ reload: true });
    indexLoaded?.();
    const { snapshots } = await loadSnapshots(repo);
    const parent = options.force
      ? undefined
      : options.parent
        ? findSnapshot(snapshots, options.parent)
        : chooseParent(snapshots, hostname, options.paths, time);
    const previous = parent ? await new ParentDir(repo, index, parent.snapshot.tree).load() : undefined;
    const known = core.newBlobSet();
    if (index.count('data')) known.addMany(index.ids('data'));
    collectNow();
    const packer = await Packer.open(repo, index, settings.packSize, settings.uploads);
    packer.holdStoresUntil(granted);
    try {
      return { parent, packer, ...walkOf(index, previous, known, packer, signal) };
    } catch (err) {
      await packer.abandon();
      throw err;
    }
  };
  const walkOf = (index: MasterIndex, previous: ParentDir | undefined, known: BlobSet, packer: Packer, signal: AbortSignal | undefined) => {
    const writer = packer.pipelineWriter;
    const pipeline = new ContentPipeline(
      core,
      { chunker: { kind: 'rabin', polynomial: repo.config.chunkerPolynomial }, hash: 'sha256', compression: settings.compression, seal: repo.seal, known, ...(writer ? { packWriter: writer } : {}) },
      packer,
      // With the core's pack writer on local storage a large file goes in 256 MiB segments: the
      // core then reads and cuts on one thread while others hash and encode (from 64 MiB on),
      // for some 50 MiB more memory per large file; the segment's size itself costs no memory
      // (its blobs go to the packs), and each segment's start and end leave a core idle for a
      // moment (the 512 MiB volume file of the bench: 2.08-2.14 s in 64 MiB segments, 1.96-2.03
      // in 256 MiB ones, same peak). Uploads to object stores are bounded by the network and
      // hold part buffers already, so they keep 16 MiB segments.
      { threads: settings.threads, ...(writer && repo.storage.spoolDirectory ? { segmentBytes: 256 * 1024 * 1024 } : {}) },
    );
    // The comparison records the same devices as the walk, worked out once for both.
    const devices = readRootDevices(options.readRoot ?? [], (p) => core.lstat(p));
    const format = new ResticArchiveFormat(core, packer, index, previous ? dirComparer(core, known, repo.seal, devices) : undefined);
    const archiver = new Archiver(core, pipeline, format, {
      targets: options.paths,
      ...(options.readRoot ? { readRoots: options.readRoot } : {}),
      devices,
      exclude,
      previous,
      ...(signal ? { signal } : {}),
      scan: wantsTotals(options.progress),
      ...archiveProgress(options.progress),
    });
    archiver.compareTargetsAhead();
    return { format, archiver };
  };
  /** One try at the lock: the walk runs from the pause on; grant() lets its packs be stored. */
  const attempt = () => {
    const stop = new AbortController();
    let grant = () => {};
    let refuse: (reason: Error) => void = () => {};
    const gate = new Promise<void>((resolve, reject) => {
      grant = resolve;
      refuse = reject;
    });
    const work = prepare(options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal, gate).then((prepared) => {
      const running = prepared.archiver.run();
      running.catch(() => {}); // surfaces once the lock is held
      return { ...prepared, running };
    });
    work.catch(() => {}); // likewise
    const abandon = async () => {
      const reason = new BackupError('OperationFailed', 'the repository lock was not granted');
      stop.abort(reason);
      refuse(reason);
      const started = await work.catch(() => undefined);
      if (!started) return;
      started.archiver.stopComparing();
      await started.running.catch(() => {});
      await started.packer.abandon();
    };
    return { work, grant, abandon };
  };
  let current: ReturnType<typeof attempt> | undefined;
  let used: ReturnType<typeof attempt> | undefined;
  const warmUp = () => {
    void current?.abandon(); // a retry reads everything again
    current = attempt();
  };

  try {
    return await withLock(repo, { exclusive: false, warmUp }, async (lock) => {
      used = current ?? attempt();
      used.grant();
      const { parent, packer, format, running } = await used.work;
      let result;
      try {
        result = await running;
        await packer.flush();
      } catch (err) {
        // Packs already stored stay as unreferenced packs (check accepts them; prune removes them).
        await packer.abandon();
        throw err;
      }
      if (lock.lost) throw new BackupError('OperationFailed', `lost the repository lock: ${lock.lost.message}`);

      const ended = nowParts(new Date());
      const c = result.counters;
      const tags = [...(options.name ? [`${NAME_TAG_PREFIX}${options.name}`] : []), ...(options.tags ?? [])];
      const uid = process.getuid?.() ?? 0;
      const gid = process.getgid?.() ?? 0;
      const snapshot: ResticSnapshot = {
        time,
        ...(parent ? { parent: parent.id } : {}),
        tree: result.root.id,
        paths: options.paths,
        hostname,
        username: currentUserName(),
        ...(uid > 0 ? { uid } : {}),
        ...(gid > 0 ? { gid } : {}),
        ...(options.exclude && options.exclude.patterns.length + options.exclude.paths.length > 0
          ? { excludes: [...options.exclude.patterns, ...options.exclude.paths] }
          : {}),
        ...(tags.length ? { tags } : {}),
        programVersion: `bolt-agent ${VERSION}`,
        summary: {
          backupStart: time,
          backupEnd: goTimeFromUnix(ended.sec, ended.nsec),
          filesNew: c.filesNew,
          filesChanged: c.filesChanged,
          filesUnmodified: c.filesUnmodified,
          dirsNew: format.counters.dirsNew,
          dirsChanged: format.counters.dirsChanged,
          dirsUnmodified: format.counters.dirsUnmodified,
          dataBlobs: packer.stats.dataBlobs,
          treeBlobs: packer.stats.treeBlobs,
          dataAdded: packer.stats.dataAdded,
          dataAddedPacked: packer.stats.dataAddedPacked,
          totalFilesProcessed: c.filesNew + c.filesChanged + c.filesUnmodified,
          totalBytesProcessed: c.bytesProcessed,
        },
      };
      const id = await repo.writeUnpacked('snapshots', encodeSnapshot(snapshot));
      const backup = toBackup({ id, snapshot });
      options.progress?.done(completed('backup', c.filesNew + c.filesChanged + c.filesUnmodified, c.bytesProcessed));
      return {
        backup,
        summary: backup.summary as NonNullable<typeof backup.summary>,
        problems: result.problems,
        skipped: result.skipped,
      };
    });
  } finally {
    // The walk of a lock that was never held (locked out, or the last retry's).
    if (current !== used) await current?.abandon();
  }
}
