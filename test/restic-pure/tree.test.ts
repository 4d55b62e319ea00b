import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { CorruptDataError } from '../../src/backup/errors.ts';
import { formatRfc3339Nano, parseRfc3339 } from '../../src/util/go-time.ts';
import { decodeTree, encodeNode, encodeTree, encodeTreeWithKept, type KeptNodes, type ResticNode } from '../../src/formats/restic/tree.ts';
import { cryptoVectors, FIXTURE_PASSWORD, FIXTURES, manifest } from './helpers/fixtures.ts';
import { ResticRepo } from './helpers/restic-repo.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const T = parseRfc3339('2024-01-02T03:04:05Z');

function fileNode(name: string, extra: Partial<ResticNode> = {}): ResticNode {
  return { name: Buffer.from(name), type: 'file', mode: 0o644, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, content: [], ...extra };
}

describe('restic-written trees (fixtures v1 and v2)', () => {
  for (const version of ['v1', 'v2'] as const) {
    test(`${version}: every tree blob decodes and re-encodes byte for byte; values match the manifest`, () => {
      // key derivation from the password (scrypt N=32768) must give the manifest's master key
      const repo = ResticRepo.open(`${FIXTURES}/${version}`, FIXTURE_PASSWORD);
      const m = manifest.repositories[version];
      expect(JSON.parse(m.master_key_json).encrypt).toBe(repo.key.encrypt.toString('base64'));

      const treeIds = Object.values(m.packs).flatMap((blobs) => blobs.filter((b) => b.type === 'tree').map((b) => b.id));
      expect(treeIds.length).toBe(10);
      const decoded = new Map<string, ResticNode[]>();
      for (const id of treeIds) {
        const bytes = repo.loadBlob('tree', id);
        const nodes = decodeTree(bytes);
        const again = encodeTree(nodes);
        expect(again.toString('utf8')).toBe(bytes.toString('utf8'));
        expect(sha256(again)).toBe(id);
        decoded.set(id, nodes);
      }

      for (const snapshot of m.snapshots) {
        // walk the manifest's paths through the decoded trees
        for (const entry of snapshot.entries) {
          let nodes = decoded.get(snapshot.tree)!;
          let node: ResticNode | undefined;
          for (const part of entry.path.split('/').filter(Boolean)) {
            if (node) nodes = decoded.get(node.subtree!)!;
            node = nodes.find((n) => n.name.toString('utf8') === part);
            expect(node, entry.path).toBeDefined();
          }
          expect(node!.type).toBe(entry.type);
          expect(node!.mode ?? 0).toBe(entry.go_mode);
          expect(node!.mtime).toEqual(parseRfc3339(entry.mtime));
          if (entry.type === 'file') {
            expect(node!.size ?? 0).toBe(entry.size);
            expect(node!.content).toEqual(entry.content);
          } else {
            expect(node!.content).toBeNull();
          }
          if (entry.subtree) expect(node!.subtree).toBe(entry.subtree);
          if (entry.linktarget) expect(node!.linkTarget!.toString('utf8')).toBe(entry.linktarget);
          if (entry.xattrs) {
            expect(Object.fromEntries(node!.extendedAttributes!.map((a) => [a.name.toString(), a.value.toString()]))).toEqual(entry.xattrs);
          }
        }
      }
    });
  }

  test('tiny_repository tree plaintext (accepted by restic) round-trips and hashes to its ID', () => {
    const bytes = Buffer.from(cryptoVectors.tiny_repository.tree_plaintext_utf8, 'utf8');
    const again = encodeTree(decodeTree(bytes));
    expect(again.equals(bytes)).toBe(true);
    expect(sha256(again)).toBe(cryptoVectors.tiny_repository.tree_id);
  });
});

describe('encodeTree', () => {
  test('the empty directory', () => {
    const empty = encodeTree([]);
    expect(empty.toString()).toBe('{"nodes":[]}\n');
    expect(sha256(empty)).toBe('ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8');
  });

  test('sorts by raw name bytes, not by JS string order', () => {
    // U+FF5E sorts after U+1F600 in UTF-16 code units but before it in UTF-8 bytes
    const names = ['\u{1F600}', '\uff5e', 'B', 'a', 'é'];
    const tree = encodeTree(names.map((n) => fileNode(n))).toString('utf8');
    const order = [...tree.matchAll(/"name":"([^"]*)"/g)].map((m) => m[1]);
    expect(order).toEqual(['B', 'a', 'é', '\uff5e', '\u{1F600}']);
    const raw = encodeTree([fileNode('z'), { ...fileNode(''), name: Buffer.from([0xff]) }, { ...fileNode(''), name: Buffer.from([0x80]) }]);
    expect([...raw.toString('utf8').matchAll(/"name":"([^"]*)"/g)].map((m) => m[1])).toEqual(['z', '\\\\x80', '\\\\xff']);
  });

  test('the name examples of formats/restic.md §7.4', () => {
    const cases: Array<[Buffer, string]> = [
      [Buffer.from('we"ird\\name'), '"we\\\\\\"ird\\\\\\\\name"'],
      [Buffer.from('tab\tnl\nname'), '"tab\\\\tnl\\\\nname"'],
      [Buffer.from([0x69, 0x6e, 0x76, 0x61, 0x6c, 0xff, 0x69, 0x64]), '"inval\\\\xffid"'],
      [Buffer.from('a<b>&c \u2028'), '"a\\u003cb\\u003e\\u0026c \\\\u2028"'],
      [Buffer.from('ünïcödé-名前.txt'), '"ünïcödé-名前.txt"'],
    ];
    for (const [name, json] of cases) {
      expect(encodeNode({ ...fileNode('x'), name })).toContain(`{"name":${json},`);
      expect(decodeTree(encodeTree([{ ...fileNode('x'), name }]))[0]!.name.equals(name)).toBe(true);
    }
  });

  test('field order and omitempty as restic writes them, per node type', () => {
    const dir: ResticNode = {
      name: Buffer.from('d'),
      type: 'dir',
      mode: 0x800001ed,
      mtime: T,
      atime: T,
      ctime: T,
      uid: 0,
      gid: 0,
      user: 'root',
      group: 'root',
      inode: 12n,
      deviceId: 65024n,
      content: null,
      subtree: 'ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8',
    };
    expect(encodeNode(dir)).toBe(
      '{"name":"d","type":"dir","mode":2147484141,"mtime":"2024-01-02T03:04:05Z","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"user":"root","group":"root","inode":12,"device_id":65024,"content":null,"subtree":"ac08ce34ba4f8123618661bef2425f7028ffb9ac740578a3ee88684d2523fee8"}',
    );
    const dev: ResticNode = { ...fileNode('null'), type: 'chardev', mode: 69206436, links: 1, device: 259n, content: null, error: 'x' };
    expect(encodeNode(dev)).toBe(
      '{"name":"null","type":"chardev","mode":69206436,"mtime":"2024-01-02T03:04:05Z","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"links":1,"device":259,"content":null,"error":"x"}',
    );
    // an empty file: no size, content []; a file with mode 0: no mode
    expect(encodeNode({ ...fileNode('e'), mode: 0, links: 1 })).toBe(
      '{"name":"e","type":"file","mtime":"2024-01-02T03:04:05Z","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"links":1,"content":[]}',
    );
    // 64-bit inode numbers (overlayfs xino) survive
    const big = { ...fileNode('i'), inode: 0xfedc_ba98_7654_3210n };
    expect(encodeNode(big)).toContain('"inode":18364758544493064720,');
    expect(decodeTree(encodeTree([big]))[0]!.inode).toBe(0xfedc_ba98_7654_3210n);
  });

  test('random nodes: written straight into bytes, they read back the same and each equals encodeNode', () => {
    const random = (n: number) => Math.floor(Math.random() * n);
    const pick = <T,>(list: readonly T[]): T => list[random(list.length)]!;
    const nameParts = ['a', 'Z9', '.hidden', 'we"ird', 'back\\slash', 'a<b>&c', 'tab\t', 'ü', '名前', '\u2028', ' sp ', '-_.~'];
    const hex = () => Array.from({ length: 64 }, () => '0123456789abcdef'[random(16)]).join('');
    const time = () => ({ sec: random(2 ** 31) - 2 ** 29, nsec: pick([0, 1, 500_000_000, random(1e9)]), offsetMinutes: pick([0, 60, -300, 330, -720]) });
    for (let round = 0; round < 30; round++) {
      const used = new Set<string>();
      const nodes: ResticNode[] = [];
      for (let i = 0; i < 1 + random(40); i++) {
        const name = random(8) === 0 ? Buffer.from([0x61, 0xff, 0x80 + random(64), 0x7f]) : Buffer.from(Array.from({ length: 1 + random(3) }, () => pick(nameParts)).join('') + i);
        if (used.has(name.toString('latin1'))) continue;
        used.add(name.toString('latin1'));
        const type = pick(['file', 'dir', 'symlink', 'fifo'] as const);
        const node: ResticNode = { name, type, mtime: time(), atime: time(), ctime: time(), uid: random(2 ** 32), gid: random(70000), content: type === 'file' ? Array.from({ length: random(4) }, hex) : null };
        if (random(2)) node.mode = random(2 ** 32);
        if (random(2)) node.user = pick(['root', 'ünï', 'a"b', 'x<y>', 'tab\tname']);
        if (random(2)) node.group = pick(['wheel', 'grp&', '名']);
        if (random(2)) node.inode = BigInt(random(2 ** 30)) * BigInt(random(2 ** 30)) + 1n;
        if (random(2)) node.deviceId = BigInt(1 + random(2 ** 20));
        if (type === 'file' && random(2)) node.size = pick([1, random(2 ** 40), Number.MAX_SAFE_INTEGER]);
        if (random(2)) node.links = 1 + random(5);
        if (type === 'symlink') node.linkTarget = Buffer.from(pick(['../target', '/abs/ü', 'x<y']));
        if (type === 'dir') node.subtree = hex();
        nodes.push(node);
      }
      const bytes = encodeTree(nodes);
      const sorted = [...nodes].sort((a, b) => Buffer.compare(a.name, b.name));
      expect(bytes.toString('utf8')).toBe(`{"nodes":[${sorted.map(encodeNode).join(',')}]}\n`);
      expect(decodeTree(bytes)).toEqual(sorted);
      // Any JSON reader agrees with the fields (numbers, strings with escapes, times as Go writes them).
      const parsed = JSON.parse(bytes.toString('utf8')) as { nodes: Record<string, unknown>[] };
      parsed.nodes.forEach((p, i) => {
        const n = sorted[i]!;
        expect([p['uid'], p['gid'], p['user'], p['group'], p['size'], p['content']]).toEqual([n.uid, n.gid, n.user, n.group, n.size, n.content]);
        expect(p['mtime']).toBe(formatRfc3339Nano(n.mtime));
      });
    }
  });

  test('nodes kept as JSON from an earlier tree go in verbatim, in name order with the others', () => {
    const earlier = encodeTree([fileNode('b'), fileNode('d')]);
    const kept = decodeTree(earlier).map((n) => n.name.toString());
    expect(kept).toEqual(['b', 'd']);
    const json = (name: string) => {
      const text = earlier.toString('utf8');
      const start = text.indexOf(`{"name":"${name}"`);
      let depth = 0;
      for (let i = start; ; i++) {
        if (text[i] === '{') depth++;
        if (text[i] === '}' && --depth === 0) return Buffer.from(text.slice(start, i + 1));
      }
    };
    const mixed = encodeTree([fileNode('c'), { name: Buffer.from('d'), json: json('d') }, fileNode('a'), { name: Buffer.from('b'), json: json('b') }]);
    expect(mixed.equals(encodeTree([fileNode('a'), fileNode('b'), fileNode('c'), fileNode('d')]))).toBe(true);
    expect(() => encodeTree([fileNode('b'), { name: Buffer.from('b'), json: json('b') }])).toThrow(/duplicate/);
  });

  test('rejects what restic would not accept', () => {
    expect(() => encodeTree([fileNode('a'), fileNode('a')])).toThrow(/duplicate/);
    expect(() => encodeNode({ ...fileNode(''), name: Buffer.alloc(0) })).toThrow(/empty name/);
    expect(() => encodeNode({ ...fileNode('f'), content: null })).toThrow(/content must be an array/);
    expect(() => encodeNode({ ...fileNode('l'), type: 'symlink' })).toThrow(/content must be null/);
    expect(() => encodeNode({ ...fileNode('d'), type: 'dir', content: null })).toThrow(/needs a subtree/);
    expect(() => encodeNode({ ...fileNode('i'), type: 'irregular', content: null })).toThrow(/cannot be written/);
    expect(() => encodeNode({ ...fileNode('f'), content: ['ABC'] })).toThrow(/hex ID/);
    expect(() => encodeNode({ ...fileNode('f'), uid: -1 })).toThrow(/uid/);
    expect(() => encodeNode({ ...fileNode('f'), mtime: parseRfc3339('0001-01-01T00:00:00Z'), uid: 2 ** 32 })).toThrow(/uid/);
  });
});

describe('decodeTree', () => {
  const canonical = encodeTree([fileNode('f.txt', { size: 3, links: 1, content: ['a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447'] })]);

  test('accepts any valid JSON: whitespace, key order, unknown keys, key case, escapes', () => {
    const loose = `{ "extra": {"x":[1,2]},
      "NODES" : [ { "content" : ["A948904F2F0F479B8F8197694B30184B0D2ED1C1CD2A1EC0FB85D299A192A447"], "Links":1,
        "size": 3, "type":"file", "name":"f\\u002etxt", "mode": 420, "generic_attributes": {"k":"dg=="},
        "mtime":"2024-01-02T03:04:05Z", "atime":"2024-01-02T03:04:05Z", "ctime":"2024-01-02T03:04:05Z",
        "uid":0, "gid":0, "user": null, "linktarget_raw": null } ] }`;
    expect(encodeTree(decodeTree(Buffer.from(loose))).equals(canonical)).toBe(true);
  });

  test('linktarget_raw wins over linktarget; names are un-quoted to raw bytes', () => {
    const json = `{"nodes":[{"name":"\\\\x00\\\\377\\\\u00e9\\\\U0001f600\\\\a","type":"symlink","mtime":"2024-01-02T03:04:05Z","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"linktarget":"t\\ufffd","linktarget_raw":"dIA=","content":null}]}`;
    const [node] = decodeTree(Buffer.from(json));
    expect(node!.name.toString('hex')).toBe('00ffc3a9f09f988007');
    expect(node!.linkTarget!.toString('hex')).toBe('7480');
    expect(encodeNode(node!)).toContain('"linktarget":"t\\ufffd","linktarget_raw":"dIA=","content":null}');
  });

  test('errors name the node and the field', () => {
    const bad = (node: string): unknown => {
      try {
        decodeTree(Buffer.from(`{"nodes":[${canonical.toString().slice(10, -3)},${node}]}`));
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const cases: Array<[string, RegExp]> = [
      ['{"name":"x","type":"file","mode":-1}', /tree\.nodes\[1\]\.mode: expected an unsigned integer/],
      ['{"name":"x","type":"file","mode":4294967296}', /tree\.nodes\[1\]\.mode: .*32 bits/],
      ['{"name":"x","type":"file","size":1.5}', /tree\.nodes\[1\]\.size/],
      ['{"name":"x","type":"weird"}', /tree\.nodes\[1\]\.type: unknown node type "weird"/],
      ['{"name":"","type":"file"}', /tree\.nodes\[1\]\.name: empty name/],
      ['{"name":"a\\"b","type":"file"}', /tree\.nodes\[1\]\.name: .*unescaped "/],
      ['{"name":"a\\\\q","type":"file"}', /tree\.nodes\[1\]\.name: .*unknown escape/],
      ['{"name":"x","type":"file","mtime":"2024-13-01T00:00:00Z"}', /tree\.nodes\[1\]\.mtime: .*month out of range/],
      ['{"name":"x","type":"file","content":["abc"]}', /tree\.nodes\[1\]\.content\[0\]: expected an ID/],
      ['{"name":"x","type":"file","extended_attributes":[{"name":"n","value":"!!"}]}', /extended_attributes\[0\]\.value: invalid base64/],
      ['null', /tree\.nodes\[1\]: null node/],
      ['{"name":"x","type":"file",}', /invalid JSON at byte/],
    ];
    for (const [node, message] of cases) {
      const err = bad(node);
      expect(err, node).toBeInstanceOf(CorruptDataError);
      expect((err as Error).message, node).toMatch(message);
    }
  });
});

describe('encodeTreeWithKept', () => {
  // Kept nodes come as JSON taken from an earlier tree's bytes, in raw name order; the result
  // must be the tree encodeTree writes for all the nodes together.
  const keptFrom = (nodes: ResticNode[]): KeptNodes => {
    const texts = nodes.map((n) => Buffer.from(encodeNode(n)));
    const tree = Buffer.concat(texts);
    const starts = texts.map((_, k) => texts.slice(0, k).reduce((n, t) => n + t.length, 0));
    return { count: nodes.length, name: (k) => nodes[k]!.name, write: (sink, k) => sink.rawRange(tree, starts[k]!, starts[k]! + texts[k]!.length) };
  };

  test('merged by raw name with the other nodes, byte for byte what encodeTree writes', () => {
    const all = ['a', 'b', 'c', 'café', 'd', 'e\u00ff', 'z', 'Zebra', '0'].map((n, i) => fileNode(n, { size: i + 1, content: i % 2 ? [] : ['ab'.repeat(32)] }));
    const byName = [...all].sort((a, b) => Buffer.compare(a.name, b.name));
    for (const keep of [[], [0], [0, 1, 2], [1, 3, 5, 7], byName.map((_, i) => i), [byName.length - 1]]) {
      const kept = byName.filter((_, i) => keep.includes(i));
      const rest = byName.filter((_, i) => !keep.includes(i)).reverse();
      expect(encodeTreeWithKept(rest, keptFrom(kept)).toString('utf8')).toBe(encodeTree(all).toString('utf8'));
    }
  });

  test('a name both kept and among the nodes, or twice among the nodes, is refused', () => {
    expect(() => encodeTreeWithKept([fileNode('b')], keptFrom([fileNode('a'), fileNode('b')]))).toThrow(/duplicate node "b"/);
    expect(() => encodeTreeWithKept([fileNode('c'), fileNode('c')], keptFrom([fileNode('a')]))).toThrow(/duplicate node "c"/);
  });
});
