// Where a backup taken from filesystem snapshots reads each recorded path, and which device it
// records for what it reads there.
import { describe, expect, it } from 'vitest';
import { ReadRootMap, readRootDevices } from '../../src/engine/read-roots.ts';

describe('ReadRootMap', () => {
  const roots = new ReadRootMap([
    { from: '/srv', to: '/snap/srv' },
    { from: '/srv/db/', to: '/snap/db' },
  ]);

  it('reads below the deepest root that holds a path, and elsewhere where it is', () => {
    expect(roots.map(Buffer.from('/srv/www/index.html')).toString()).toBe('/snap/srv/www/index.html');
    expect(roots.map(Buffer.from('/srv/db/base/1')).toString()).toBe('/snap/db/base/1');
    expect(roots.map(Buffer.from('/srv/db')).toString()).toBe('/snap/db');
    expect(roots.map(Buffer.from('/srvx/a')).toString()).toBe('/srvx/a');
    expect(roots.isRoot(Buffer.from('/srv/db'))).toBe(true);
    expect(roots.holdsRoot(Buffer.from('/srv'))).toBe(true);
    expect(roots.holdsRoot(Buffer.from('/srv/www'))).toBe(false);
  });
});

describe('readRootDevices', () => {
  // Directories, stat'ed through `dir/.` as readRootDevices does; '/snap/zfs' is an automount
  // point that shows its own device until something goes inside it.
  const devices: Record<string, number> = { '/srv': 40, '/snap/srv': 71, '/srv/db': 41, '/snap/db': 72, '/live': 50, '/mnt/live': 50, '/tank': 60, '/snap/zfs': 60 };
  const inside: Record<string, number> = { '/snap/zfs': 73 };
  const lstat = (p: string) => {
    const dir = p.endsWith('/.') ? p.slice(0, -2) : undefined;
    const dev = dir !== undefined ? (inside[dir] ?? devices[dir]) : devices[p];
    if (dev === undefined) throw new Error(`ENOENT: ${p}`);
    return { dev };
  };

  it("maps each snapshot's device to its live path's, and leaves a root read live alone", () => {
    const map = readRootDevices(
      [
        { from: '/srv', to: '/snap/srv' },
        { from: '/srv/db', to: '/snap/db' },
        { from: '/live', to: '/mnt/live' },
      ],
      lstat,
    );
    expect([...map]).toEqual([
      [71, 40],
      [72, 41],
    ]);
  });

  it('leaves a root it cannot stat, and a device two roots would record differently, as read', () => {
    expect(readRootDevices([{ from: '/gone', to: '/snap/srv' }], lstat).size).toBe(0);
    const map = readRootDevices(
      [
        { from: '/srv', to: '/snap/srv' },
        { from: '/srv/db', to: '/snap/srv' },
        { from: '/srv/db', to: '/snap/db' },
      ],
      lstat,
    );
    expect([...map]).toEqual([[72, 41]]);
    // One root read where it lives keeps its device: another read from the same device
    // (restoring several roots into one scratch filesystem) cannot be told apart from it.
    const shared = readRootDevices(
      [
        { from: '/live', to: '/live' },
        { from: '/srv', to: '/mnt/live' },
      ],
      lstat,
    );
    expect(shared.size).toBe(0);
  });

  it('looks inside an automount point for the device the walk will read', () => {
    expect([...readRootDevices([{ from: '/tank', to: '/snap/zfs' }], lstat)]).toEqual([[73, 60]]);
  });
});
