import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  chmodBits,
  goModeFromStMode,
  nodeTypeFromGoMode,
  nodeTypeFromStMode,
  stModeFromGoMode,
  StMode,
} from '../../src/formats/restic/file-mode.ts';
import { manifest } from './helpers/fixtures.ts';
import { scratchDir } from './helpers/restic-cli.ts';

describe('Go FileMode ↔ Linux st_mode', () => {
  test('the values of formats/restic.md §7.3', () => {
    const seen: Array<[number, number, string]> = [
      [StMode.regular | 0o644, 420, 'file'],
      [StMode.regular | 0o600, 384, 'file'],
      [StMode.regular | 0o755, 493, 'file'],
      [StMode.dir | 0o755, 2147484141, 'dir'],
      [StMode.dir | 0o750, 2147484136, 'dir'],
      [StMode.dir | 0o1777, 2148532735, 'dir'],
      [StMode.symlink | 0o777, 134218239, 'symlink'],
      [StMode.fifo | 0o644, 33554852, 'fifo'],
      [StMode.char | 0o644, 69206436, 'chardev'],
    ];
    for (const [st, go, type] of seen) {
      expect(goModeFromStMode(st)).toBe(go);
      expect(stModeFromGoMode(go)).toBe(st);
      expect(nodeTypeFromGoMode(go)).toBe(type);
      expect(nodeTypeFromStMode(st)).toBe(type);
    }
  });

  test('every manifest entry of the fixtures', () => {
    for (const repo of Object.values(manifest.repositories)) {
      for (const snapshot of repo.snapshots) {
        for (const entry of snapshot.entries) {
          expect(nodeTypeFromGoMode(entry.go_mode), entry.path).toBe(entry.type);
          expect(chmodBits(entry.go_mode).toString(8).padStart(4, '0'), entry.path).toBe(entry.mode_octal);
        }
      }
    }
  });

  test('round trip of all types with setuid, setgid and sticky', () => {
    const types = [StMode.regular, StMode.dir, StMode.symlink, StMode.block, StMode.char, StMode.fifo, StMode.socket];
    for (const type of types) {
      for (const perm of [0, 0o7777, 0o4755, 0o2750, 0o1777, 0o640]) {
        const st = type | perm;
        const go = goModeFromStMode(st);
        expect(go).toBeGreaterThanOrEqual(0);
        expect(stModeFromGoMode(go)).toBe(st);
        expect(chmodBits(go)).toBe(perm);
      }
    }
    expect(goModeFromStMode(StMode.regular | 0o4755)).toBe(0x00800000 | 0o755);
    expect(goModeFromStMode(StMode.block | 0o660)).toBe(0x04000000 | 0o660);
    expect(nodeTypeFromGoMode(0x00080000)).toBe('irregular');
    expect(nodeTypeFromGoMode(0x80000000 | 0x08000000)).toBeUndefined();
    expect(nodeTypeFromStMode(0o644)).toBeUndefined(); // no file type bits
    expect(stModeFromGoMode(0x00080000 | 0o644)).toBe(0o644);
  });
});

describe('conversion of real lstat results', () => {
  const scratch = scratchDir('file-mode-');
  afterAll(() => scratch.remove());

  test('file, dir, symlink, fifo, char and block device, socket', async () => {
    const p = (n: string) => join(scratch.dir, n);
    writeFileSync(p('file'), 'x', { mode: 0o640 });
    mkdirSync(p('dir'), { mode: 0o750 });
    symlinkSync('file', p('link'));
    execFileSync('mkfifo', ['-m', '0600', p('fifo')]);
    execFileSync('mknod', ['-m', '0660', p('char'), 'c', '1', '3']);
    execFileSync('mknod', ['-m', '0660', p('block'), 'b', '7', '200']);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(p('socket'), resolve));
    try {
      const expected: Record<string, [string, number]> = {
        file: ['file', 0o640],
        dir: ['dir', 0x80000000 + 0o750],
        link: ['symlink', 0x08000000 + 0o777],
        fifo: ['fifo', 0x02000000 + 0o600],
        char: ['chardev', 0x04000000 + 0x00200000 + 0o660],
        block: ['dev', 0x04000000 + 0o660],
        socket: ['socket', 0x01000000],
      };
      for (const [name, [type, go]] of Object.entries(expected)) {
        const st = lstatSync(p(name));
        expect(nodeTypeFromStMode(st.mode), name).toBe(type);
        const mode = goModeFromStMode(st.mode);
        // the socket's permissions depend on the umask; compare its type bits only
        expect(name === 'socket' ? mode & ~0o777 : mode, name).toBe(go);
        expect(stModeFromGoMode(mode), name).toBe(st.mode);
      }
    } finally {
      server.close();
    }
  });
});
