// restic stores a node's mode as Go's io/fs.FileMode (formats/restic.md §7.3): permission bits
// in the low 9 bits, and the file type and setuid/setgid/sticky as high flag bits — not the
// Linux st_mode layout.

/** Go io/fs.FileMode flag bits. */
export const GoMode = {
  dir: 0x8000_0000,
  append: 0x4000_0000,
  exclusive: 0x2000_0000,
  temporary: 0x1000_0000,
  symlink: 0x0800_0000,
  device: 0x0400_0000,
  namedPipe: 0x0200_0000,
  socket: 0x0100_0000,
  setuid: 0x0080_0000,
  setgid: 0x0040_0000,
  charDevice: 0x0020_0000,
  sticky: 0x0010_0000,
  irregular: 0x0008_0000,
  perm: 0o777,
} as const;

/** The bits that say what kind of file it is (Go fs.ModeType). */
export const GO_MODE_TYPE =
  (GoMode.dir | GoMode.symlink | GoMode.namedPipe | GoMode.socket | GoMode.device | GoMode.charDevice | GoMode.irregular) >>> 0;

// JS bitwise operators work on signed 32-bit values; bit 31 (dir) needs the unsigned view.
function typeBits(goMode: number): number {
  return (goMode & GO_MODE_TYPE) >>> 0;
}

/** Linux st_mode bits. */
export const StMode = {
  typeMask: 0o170000,
  socket: 0o140000,
  symlink: 0o120000,
  regular: 0o100000,
  block: 0o060000,
  dir: 0o040000,
  char: 0o020000,
  fifo: 0o010000,
  setuid: 0o4000,
  setgid: 0o2000,
  sticky: 0o1000,
} as const;

/** restic's node types (`irregular` was written only by restic 0.17.1; never write it). */
export type NodeType = 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket' | 'irregular';

/** Go's conversion of a Linux st_mode to FileMode (os.Lstat). Unknown types give no type bit. */
export function goModeFromStMode(stMode: number): number {
  let mode = stMode & GoMode.perm;
  switch (stMode & StMode.typeMask) {
    case StMode.block:
      mode |= GoMode.device;
      break;
    case StMode.char:
      mode |= GoMode.device | GoMode.charDevice;
      break;
    case StMode.dir:
      mode |= GoMode.dir;
      break;
    case StMode.fifo:
      mode |= GoMode.namedPipe;
      break;
    case StMode.symlink:
      mode |= GoMode.symlink;
      break;
    case StMode.socket:
      mode |= GoMode.socket;
      break;
  }
  if (stMode & StMode.setuid) mode |= GoMode.setuid;
  if (stMode & StMode.setgid) mode |= GoMode.setgid;
  if (stMode & StMode.sticky) mode |= GoMode.sticky;
  return mode >>> 0;
}

/**
 * The Linux st_mode for a FileMode: file type bits plus permissions and setuid/setgid/sticky.
 * A mode without a type bit is a regular file. `irregular` has no st_mode type and gives 0.
 */
export function stModeFromGoMode(goMode: number): number {
  let type: number;
  switch (typeBits(goMode)) {
    case 0:
      type = StMode.regular;
      break;
    case GoMode.dir:
      type = StMode.dir;
      break;
    case GoMode.symlink:
      type = StMode.symlink;
      break;
    case GoMode.device:
      type = StMode.block;
      break;
    case (GoMode.device | GoMode.charDevice) >>> 0:
      type = StMode.char;
      break;
    case GoMode.namedPipe:
      type = StMode.fifo;
      break;
    case GoMode.socket:
      type = StMode.socket;
      break;
    default:
      type = 0;
  }
  return type | chmodBits(goMode);
}

/** The 12 bits to pass to chmod(2): permissions, setuid, setgid, sticky. */
export function chmodBits(goMode: number): number {
  let bits = goMode & GoMode.perm;
  if (goMode & GoMode.setuid) bits |= StMode.setuid;
  if (goMode & GoMode.setgid) bits |= StMode.setgid;
  if (goMode & GoMode.sticky) bits |= StMode.sticky;
  return bits;
}

/** The node type restic records for a FileMode, or undefined for a combination restic rejects. */
export function nodeTypeFromGoMode(goMode: number): NodeType | undefined {
  switch (typeBits(goMode)) {
    case 0:
      return 'file';
    case GoMode.dir:
      return 'dir';
    case GoMode.symlink:
      return 'symlink';
    case GoMode.device | GoMode.charDevice:
      return 'chardev';
    case GoMode.device:
      return 'dev';
    case GoMode.namedPipe:
      return 'fifo';
    case GoMode.socket:
      return 'socket';
    case GoMode.irregular:
      return 'irregular';
    default:
      return undefined;
  }
}

/** The node type for a Linux st_mode; undefined for an unknown file type. */
export function nodeTypeFromStMode(stMode: number): NodeType | undefined {
  if ((stMode & StMode.typeMask) === StMode.regular) return 'file';
  const type = nodeTypeFromGoMode(goModeFromStMode(stMode));
  return type === 'file' ? undefined : type;
}
