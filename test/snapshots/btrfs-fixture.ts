// A real btrfs filesystem for a test file: an image file made with mkfs.btrfs and loop-mounted
// (the test machines run as root with loop devices). btrfs-progs is used here, in the setup only —
// the product code makes its subvolumes and snapshots through ioctls.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface BtrfsFixture {
  /** The mount point. */
  mnt: string;
  /** `btrfs subvolume create` (setup only). */
  subvolume(rel: string): string;
  /** Unmounts and deletes the image. */
  cleanup(): void;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout || r.error?.message}`);
  return r.stdout;
}

export function makeBtrfs(dir: string, sizeMiB = 256): BtrfsFixture {
  fs.mkdirSync(dir, { recursive: true });
  const image = path.join(dir, 'btrfs.img');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt, { recursive: true });
  // Sparse: only what is written takes space.
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, sizeMiB * 1024 * 1024);
  run('mkfs.btrfs', ['-q', '-f', image]);
  run('mount', ['-o', 'loop', image, mnt]);
  return {
    mnt,
    subvolume: (rel) => {
      const p = path.join(mnt, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      run('btrfs', ['subvolume', 'create', p]);
      return p;
    },
    cleanup: () => {
      // Mounted below the btrfs mount by a test (e.g. tmpfs) first.
      const below = fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((m): m is string => !!m && m.startsWith(`${mnt}/`))
        .sort((a, b) => b.length - a.length);
      for (const m of below) spawnSync('umount', [m]);
      let r = spawnSync('umount', [mnt]);
      if (r.status !== 0) r = spawnSync('umount', ['-l', mnt]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
