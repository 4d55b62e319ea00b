// The real restic 0.14 (Go 1.19) as the oracle for tree bytes: a corpus of awkward names,
// symlink targets, file types, modes, owners, xattrs and times is backed up by restic, then every
// tree it wrote must decode to what the corpus holds and re-encode to restic's exact bytes.
// This checks go-quote (including the Unicode 13 printable table), go-json string escaping,
// go-time formatting in a local zone with DST, file-mode conversion and the node field rules.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { goModeFromStMode, nodeTypeFromStMode } from '../../src/formats/restic/file-mode.ts';
import { formatRfc3339Nano, goTimeFromUnix } from '../../src/util/go-time.ts';
import { utf8SequenceLength } from '../../src/formats/restic/go-utf8.ts';
import { decodeTree, encodeNode, encodeTree, type ResticNode } from '../../src/formats/restic/tree.ts';
import { restic, scratchDir, type ResticEnv } from './helpers/restic-cli.ts';
import { ResticRepo } from './helpers/restic-repo.ts';

// restic writes times in the host's zone; Berlin has DST, so offsets differ between files.
const ZONE = 'Europe/Berlin';
process.env.TZ = ZONE;

const NAME_MAX = 255;

/** Go's lossy conversion of raw bytes to a string: each invalid byte becomes U+FFFD. */
function goLossy(raw: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < raw.length; ) {
    const len = utf8SequenceLength(raw, i);
    if (len === 0) {
      parts.push(Buffer.from([0xef, 0xbf, 0xbd]));
      i++;
    } else {
      parts.push(Buffer.from(raw.subarray(i, i + len)));
      i += len;
    }
  }
  return Buffer.concat(parts);
}

/**
 * Code points to sweep through names: planes 0-3 and 14 completely (everything assigned in
 * Unicode 13 lies there, plus private use in 15-16), and every 97th code point of the others.
 */
function sweepCodePoints(): number[] {
  const out: number[] = [];
  for (let cp = 0x80; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const plane = cp >> 16;
    if (plane <= 3 || plane === 14 || cp % 97 === 0 || (cp & 0xffff) >= 0xfffd) out.push(cp);
  }
  return out;
}

function packNames(codePoints: number[]): Buffer[] {
  const names: Buffer[] = [];
  let current: Buffer[] = [];
  let size = 0;
  for (const cp of codePoints) {
    const bytes = Buffer.from(String.fromCodePoint(cp), 'utf8');
    if (size + bytes.length > NAME_MAX) {
      names.push(Buffer.concat(current));
      current = [];
      size = 0;
    }
    current.push(bytes);
    size += bytes.length;
  }
  if (current.length > 0) names.push(Buffer.concat(current));
  return names;
}

const INVALID_SEQUENCES = [
  [0xe2, 0x82, 0x41], // truncated 3-byte sequence then 'A'
  [0xed, 0xa0, 0x80], // encoded surrogate
  [0xc0, 0xaf], // overlong '/'
  [0xe0, 0x80, 0xaf], // overlong 3-byte
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf0, 0x9f, 0x98], // truncated 4-byte
  [0xff, 0xfe, 0x41, 0xc3], // stray bytes, truncated 2-byte at the end
  [0xef, 0xbf, 0xbd, 0xc3, 0xa9], // a real U+FFFD and é
  [0x61, 0x3c, 0x62, 0x3e, 0x26, 0x63, 0x20, 0xe2, 0x80, 0xa8, 0xe2, 0x80, 0xa9], // a<b>&c U+2028 U+2029
  [0x77, 0x65, 0x22, 0x69, 0x72, 0x64, 0x5c, 0x6e, 0x61, 0x6d, 0x65], // we"ird\name
];

interface Corpus {
  root: string;
  names: Buffer[];
  targets: Map<string, Buffer>; // symlink name (hex) → raw target
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'pipe' });
}

function buildCorpus(root: string): Corpus {
  const names: Buffer[] = [];
  const targets = new Map<string, Buffer>();
  const rootBuf = Buffer.from(root + '/');
  const at = (name: Buffer): Buffer => Buffer.concat([rootBuf, name]);
  const file = (name: Buffer, content = ''): void => {
    writeFileSync(at(name), content);
    names.push(name);
  };

  // every single byte (as raw name bytes) and every code point of the sweep
  for (let b = 1; b <= 0xff; b++) if (b !== 0x2f) file(Buffer.from([0x62, b]));
  for (const name of packNames(sweepCodePoints())) file(name);
  INVALID_SEQUENCES.forEach((seq, i) => file(Buffer.concat([Buffer.from(`inv${i}-`), Buffer.from(seq)])));

  // symlink targets: every byte, and the invalid/special sequences (JSON string escaping)
  const link = (name: string, target: Buffer): void => {
    symlinkSync(target, at(Buffer.from(name)));
    names.push(Buffer.from(name));
    targets.set(Buffer.from(name).toString('hex'), target);
  };
  for (let b = 1; b <= 0xff; b++) link(`l-byte-${b}`, Buffer.from([0x74, b, 0x74]));
  INVALID_SEQUENCES.forEach((seq, i) => link(`l-seq-${i}`, Buffer.from(seq)));
  link('l-control', Buffer.from([...Array.from({ length: 31 }, (_, i) => i + 1), 0x7f]));

  // special files, modes, owners, links, xattrs, times
  const special = (name: string, make: (p: Buffer) => void): void => {
    make(at(Buffer.from(name)));
    names.push(Buffer.from(name));
  };
  special('fifo', (p) => sh('mkfifo', [p.toString()]));
  special('chardev', (p) => sh('mknod', [p.toString(), 'c', '1', '3']));
  special('blockdev', (p) => sh('mknod', [p.toString(), 'b', '7', '200']));
  special('setuid', (p) => {
    writeFileSync(p, '#!/bin/sh\n');
    chmodSync(p, 0o4755);
  });
  special('setgid-dir', (p) => {
    mkdirSync(p);
    chmodSync(p, 0o2750);
  });
  special('sticky-dir', (p) => {
    mkdirSync(p);
    chmodSync(p, 0o1777);
  });
  special('mode-000', (p) => {
    writeFileSync(p, 'x');
    chmodSync(p, 0);
  });
  special('owned', (p) => {
    writeFileSync(p, 'owned by uid 54321');
    chownSync(p, 54321, 54322);
  });
  special('hard-a', (p) => writeFileSync(p, 'hard link'));
  special('hard-b', (p) => linkSync(at(Buffer.from('hard-a')), p));
  special('xattrs', (p) => {
    writeFileSync(p, 'with xattrs');
    sh('setfattr', ['-n', 'user.empty', p.toString()]);
    sh('setfattr', ['-n', 'user.binary', '-v', '0x00ff41c3', p.toString()]);
    sh('setfattr', ['-n', 'user.text', '-v', 'hello <&>', p.toString()]);
  });
  special('times-summer', (p) => {
    writeFileSync(p, 's');
    sh('touch', ['-d', '2023-07-01T12:34:56.123456789Z', p.toString()]);
  });
  special('times-winter', (p) => {
    writeFileSync(p, 'w');
    sh('touch', ['-d', '2023-01-01T12:34:56.5Z', p.toString()]);
  });
  special('times-1960', (p) => {
    writeFileSync(p, 'old');
    utimesSync(p, new Date('1960-03-04T05:06:07.25Z'), new Date('1960-03-04T05:06:07.25Z'));
  });
  special('nested', (p) => {
    mkdirSync(join(p.toString(), 'deeper'), { recursive: true });
    writeFileSync(join(p.toString(), 'deeper', 'leaf.txt'), 'leaf');
  });
  return { root, names, targets };
}

describe('restic 0.14 tree bytes', () => {
  const scratch = scratchDir('restic-oracle-trees-');
  let corpus: Corpus;
  let repo: ResticRepo;
  let trees: Array<{ id: string; bytes: Buffer }>;
  let corpusNodes: ResticNode[];

  beforeAll(() => {
    const root = join(scratch.dir, 'corpus');
    mkdirSync(root);
    corpus = buildCorpus(root);
    const env: ResticEnv = { repo: join(scratch.dir, 'repo'), password: 'oracle', cacheDir: join(scratch.dir, 'cache') };
    repo = ResticRepo.create(env.repo, env.password, { version: 2, polynomial: '2e971b4527edad' });
    restic(env, ['backup', '--quiet', '--host', 'oracle', root], { TZ: ZONE });
    const [snapshotId] = repo.list('snapshots');
    const snapshot = JSON.parse(repo.readUnpacked('snapshots', snapshotId!).toString('utf8'));
    trees = repo.treesFrom(snapshot.tree);
    // walk root → each component of the corpus path
    let tree = decodeTree(repo.loadBlob('tree', snapshot.tree));
    for (const part of root.split('/').filter(Boolean)) {
      const dir = tree.find((n) => n.name.toString() === part);
      tree = decodeTree(repo.loadBlob('tree', dir!.subtree!));
    }
    corpusNodes = tree;
  });

  afterAll(() => scratch.remove());

  test('every tree restic wrote re-encodes to the same bytes', () => {
    // restic 0.14 writes each invalid byte of a symlink target as the escape \ufffd and reads it
    // back as U+FFFD; the byte is lost, so neither restic nor we can write that escape again.
    // Apart from that one substitution every byte must be identical.
    let lossyTrees = 0;
    expect(trees.length).toBeGreaterThan(5);
    for (const { id, bytes } of trees) {
      const text = bytes.toString('latin1');
      const expected = Buffer.from(text.replaceAll('\\ufffd', '\xef\xbf\xbd'), 'latin1');
      if (!expected.equals(bytes)) lossyTrees++;
      const again = encodeTree(decodeTree(bytes));
      if (!again.equals(expected)) {
        // show the first differing node, not megabytes of JSON
        const a = expected.toString('utf8').split('},{');
        const b = again.toString('utf8').split('},{');
        const i = a.findIndex((part, k) => part !== b[k]);
        expect.fail(`tree ${id}: first difference in node ${i}:\nrestic: ${a[i]}\nours:   ${b[i]}`);
      }
    }
    expect(lossyTrees).toBe(1);
  });

  test('names decode to the raw bytes on disk', () => {
    const decoded = new Set(corpusNodes.map((n) => n.name.toString('hex')));
    expect(corpusNodes.length).toBe(corpus.names.length);
    for (const name of corpus.names) expect(decoded.has(name.toString('hex')), name.toString('hex')).toBe(true);
  });

  test('symlink targets: lossy linktarget as restic 0.14 writes it; our encoder adds linktarget_raw only when needed', () => {
    let withRaw = 0;
    for (const node of corpusNodes) {
      const raw = corpus.targets.get(node.name.toString('hex'));
      if (!raw) continue;
      expect(node.type).toBe('symlink');
      expect(node.linkTarget!.equals(goLossy(raw)), node.name.toString()).toBe(true);
      // With the raw target our node JSON is restic's plus a linktarget_raw member.
      const ours = encodeNode({ ...node, linkTarget: raw });
      if (goLossy(raw).equals(raw)) {
        expect(ours).toBe(encodeNode(node));
      } else {
        withRaw++;
        // what restic wrote: the lossy target with its U+FFFDs as escapes (see the test above)
        const restics = encodeNode(node).replaceAll('\ufffd', '\\ufffd');
        const member = `,"linktarget_raw":"${raw.toString('base64')}"`;
        expect(ours.replace(member, '')).toBe(restics);
        expect(ours).toContain(member);
        expect(decodeTree(Buffer.from(`{"nodes":[${ours}]}`))[0]!.linkTarget!.equals(raw)).toBe(true);
      }
    }
    expect(withRaw).toBeGreaterThan(100);
  });

  test('mode, type, owner, times and links match lstat through our conversions', () => {
    for (const node of corpusNodes) {
      const path = Buffer.concat([Buffer.from(corpus.root + '/'), node.name]);
      const st = lstatSync(path, { bigint: true });
      const label = node.name.toString();
      expect(node.mode ?? 0, label).toBe(goModeFromStMode(Number(st.mode)));
      expect(node.type, label).toBe(nodeTypeFromStMode(Number(st.mode)));
      expect(node.uid, label).toBe(Number(st.uid));
      expect(node.gid, label).toBe(Number(st.gid));
      expect(node.inode, label).toBe(st.ino);
      expect(node.deviceId, label).toBe(st.dev);
      const nsec = ((st.mtimeNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n; // floor, also before 1970
      const sec = (st.mtimeNs - nsec) / 1_000_000_000n;
      // goTimeFromUnix picks the host zone (TZ above), as restic does
      expect(formatRfc3339Nano(node.mtime), label).toBe(formatRfc3339Nano(goTimeFromUnix(Number(sec), Number(nsec))));
      if (node.type === 'chardev' || node.type === 'dev') expect(node.device, label).toBe(st.rdev);
      if (node.type === 'file') expect(node.size ?? 0, label).toBe(Number(st.size));
    }
    const byName = new Map(corpusNodes.map((n) => [n.name.toString(), n]));
    expect(byName.get('mode-000')!.mode).toBeUndefined();
    expect(byName.get('owned')!.user).toBeUndefined();
    expect(byName.get('hard-a')!.links).toBe(2);
    expect(byName.get('fifo')!.links).toBeUndefined();
    expect(byName.get('times-winter')!.mtime.offsetMinutes).toBe(60);
    expect(byName.get('times-summer')!.mtime.offsetMinutes).toBe(120);
    expect(formatRfc3339Nano(byName.get('times-summer')!.mtime)).toBe('2023-07-01T14:34:56.123456789+02:00');
    expect(formatRfc3339Nano(byName.get('times-winter')!.mtime)).toBe('2023-01-01T13:34:56.5+01:00');
    expect(formatRfc3339Nano(byName.get('times-1960')!.mtime)).toBe('1960-03-04T06:06:07.25+01:00');
  });

  test('xattrs keep listxattr order, binary values and empty values', () => {
    const node = corpusNodes.find((n) => n.name.toString() === 'xattrs')!;
    const attrs = Object.fromEntries(node.extendedAttributes!.map((a) => [a.name.toString(), a.value.toString('hex')]));
    expect(attrs).toEqual({ 'user.empty': '', 'user.binary': '00ff41c3', 'user.text': Buffer.from('hello <&>').toString('hex') });
    expect(encodeNode(node)).toContain('{"name":"user.empty","value":""}');
  });

  test('code points restic escapes are exactly those outside the Unicode 13 printable set', () => {
    // A direct look at restic's output: U+0870 (new in Unicode 14) is escaped, U+08BE (13.0) is not.
    const all = trees.map((t) => t.bytes.toString('utf8')).join('');
    expect(all).toContain('\\\\u0870');
    expect(all).toContain('\u08be');
  });
});
