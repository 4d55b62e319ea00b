// Filesystem snapshot calls of the compute core, kept apart from the `Core` contract: only the
// native core has them (ioctls for btrfs, libzfs_core for ZFS). Under the portable core every
// snapshot call fails with ToolNotAvailable saying why, while detection still works from
// /proc/self/mountinfo so "auto" can explain what it skipped.
import { BackupError } from '../backup/errors.ts';
import { CoreError } from '../native/errors.ts';
import { getCore, nativeUnavailableReason } from '../native/index.ts';
import { readMountTable } from './mounts.ts';

export type FilesystemName = 'btrfs' | 'zfs' | 'other';

export interface BtrfsSubvolume {
  /** The subvolume (tree) id; 5 is the top level. */
  id: number;
  /** Its root directory. */
  root: string;
  readOnly: boolean;
}

export interface ListedSubvolume {
  name: string;
  id: number;
  readOnly: boolean;
}

export interface ZfsStatus {
  available: boolean;
  library?: string;
  /** Why ZFS calls cannot be made, when they cannot. */
  message?: string;
}

export interface FsSnapshotCore {
  /** Which core answers: snapshots need "native". */
  readonly kind: 'native' | 'portable';
  filesystemOf(path: string): FilesystemName;
  btrfsSubvolume(path: string): BtrfsSubvolume;
  /** Subvolumes whose roots lie directly inside the subvolume rooted at `root`. */
  btrfsChildSubvolumes(root: string): { id: number; path: string }[];
  btrfsCreateSnapshot(source: string, destDir: string, name: string, readOnly: boolean): Promise<void>;
  /** Synchronous: cleanup must also work from an exit handler. */
  btrfsDeleteSubvolume(path: string): void;
  btrfsListSubvolumes(dir: string): ListedSubvolume[];
  zfsStatus(): ZfsStatus;
  zfsSnapshot(names: string[]): Promise<void>;
  zfsDestroySnapshots(names: string[], defer: boolean): void;
}

/** Core errors of snapshot calls as user-facing errors: EUNSUPPORTED means the tool is missing. */
export function snapshotError(err: unknown): BackupError {
  if (err instanceof BackupError) return err;
  if (err instanceof CoreError) {
    return new BackupError(err.code === 'EUNSUPPORTED' ? 'ToolNotAvailable' : 'OperationFailed', err.message, { cause: err, ...(err.subject ? { details: { path: err.subject } } : {}) });
  }
  return new BackupError('OperationFailed', err instanceof Error ? err.message : String(err), { cause: err });
}

function portableFsSnapshotCore(reason: string): FsSnapshotCore {
  const refuse = (): never => {
    throw new BackupError('ToolNotAvailable', `filesystem snapshots need the native compute core, and this process runs the portable one (${reason})`, {
      hint: 'use a bolt-agent build with the native core (see `bolt-agent --version`), or set consistency.filesystem_snapshots = "off"',
    });
  };
  return {
    kind: 'portable',
    filesystemOf: (p) => {
      const fstype = readMountTable().mountOf(p)?.fstype;
      return fstype === 'btrfs' || fstype === 'zfs' ? fstype : 'other';
    },
    btrfsSubvolume: refuse,
    btrfsChildSubvolumes: refuse,
    btrfsCreateSnapshot: async () => refuse(),
    btrfsDeleteSubvolume: refuse,
    btrfsListSubvolumes: refuse,
    zfsStatus: () => ({ available: false, message: `ZFS snapshots need the native compute core (${reason})` }),
    zfsSnapshot: async () => refuse(),
    zfsDestroySnapshots: refuse,
  };
}

let loaded: Promise<FsSnapshotCore> | undefined;

/** The snapshot calls of the process-wide core. */
export function loadFsSnapshotCore(): Promise<FsSnapshotCore> {
  loaded ??= (async () => {
    const core = await getCore();
    if (core.info.kind === 'native') {
      const { createNativeFsSnapshotCore } = await import('../native/native-core.ts');
      const native = createNativeFsSnapshotCore();
      if (native) return native;
      return portableFsSnapshotCore('the native addon was built without snapshot support');
    }
    return portableFsSnapshotCore(nativeUnavailableReason() ?? 'BOLT_AGENT_NATIVE=0');
  })();
  return loaded;
}
