// Deterministic test trees, including everything restic records (formats/restic.md §15):
// big and zero files, empty files and dirs, symlinks (one with a non-UTF-8 target), a FIFO, a
// character device, a socket (skipped by backups), hard links, setuid and sticky bits, a user
// xattr, and names with quotes, backslashes, control characters, U+2028, non-ASCII and an
// invalid UTF-8 byte.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

/** SHA-256 counter stream: SHA-256(seed || u64le(i)) for i = 0, 1, … */
export function sha256Stream(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let pos = 0;
  for (let i = 0n; pos < length; i++) {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64LE(i);
    const block = crypto.createHash('sha256').update(seed).update(counter).digest();
    pos += block.copy(out, pos);
  }
  return out;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

export interface CorpusOptions {
  bigFileBytes?: number;
  /** Include root-only and special entries (device, fifo, socket, setuid). */
  special?: boolean;
}

/** Builds the corpus in `dir` (created); returns `dir`. */
export function buildCorpus(dir: string, options: CorpusOptions = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const p = (...parts: string[]) => path.join(dir, ...parts);
  fs.writeFileSync(p('big.bin'), sha256Stream('bolt-corpus-big', options.bigFileBytes ?? 20 * 1024 * 1024));
  fs.writeFileSync(p('zeros.bin'), Buffer.alloc(2 * 1024 * 1024 + 12345));
  fs.writeFileSync(p('empty.txt'), '');
  fs.mkdirSync(p('empty-dir'));
  fs.mkdirSync(p('nested', 'deeper', 'deepest'), { recursive: true });
  fs.writeFileSync(p('nested', 'a.txt'), 'nested file a\n');
  fs.writeFileSync(p('nested', 'deeper', 'b.txt'), 'deeper file b\n'.repeat(1000));
  fs.writeFileSync(p('nested', 'deeper', 'deepest', 'c.json'), JSON.stringify({ c: 1 }));
  fs.writeFileSync(p('hello.txt'), 'hello bolt\n');
  fs.symlinkSync('hello.txt', p('link-to-hello'));
  // restic 0.14 cannot store this target losslessly, so its directory's tree differs from
  // restic 0.14's (we add linktarget_raw); keeping it apart lets the other trees be compared.
  fs.mkdirSync(p('odd-links'));
  fs.symlinkSync(Buffer.from([0x62, 0x61, 0x64, 0xff, 0x74, 0x61, 0x72, 0x67, 0x65, 0x74]), Buffer.from(p('odd-links', 'link-non-utf8')));
  fs.symlinkSync('does/not/exist', p('dangling'));
  fs.writeFileSync(p('hardlink-a.txt'), 'shared by two names\n');
  fs.linkSync(p('hardlink-a.txt'), p('nested', 'hardlink-b.txt'));
  fs.writeFileSync(p('xattr.txt'), 'has an xattr\n');
  run('setfattr', ['-n', 'user.comment', '-v', 'bolt xattr value', p('xattr.txt')]);
  fs.writeFileSync(p('mode-0600.txt'), 'private\n', { mode: 0o600 });
  fs.chmodSync(p('mode-0600.txt'), 0o600);
  fs.mkdirSync(p('sticky-dir'));
  fs.chmodSync(p('sticky-dir'), 0o1777);
  fs.mkdirSync(p('names'));
  const odd = ['we"ird\\name', 'tab\tnl\nname', 'a<b>&c \u2028', 'ünïcödé-名前.txt', 'space name.txt'];
  for (const name of odd) fs.writeFileSync(p('names', name), `content of ${JSON.stringify(name)}\n`, { flag: 'w' });
  fs.writeFileSync(Buffer.concat([Buffer.from(p('names') + '/inval'), Buffer.from([0xff]), Buffer.from('id')]), 'invalid utf-8 name\n');
  if (options.special) {
    run('mkfifo', [p('fifo')]);
    run('mknod', [p('null-device'), 'c', '1', '3']);
    fs.writeFileSync(p('setuid.sh'), '#!/bin/sh\n');
    fs.chmodSync(p('setuid.sh'), 0o4755);
    run('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(p('socket'))})`]);
  }
  return dir;
}
