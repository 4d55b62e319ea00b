// Bad input loses nothing and says what is wrong (issue #4): wrong password, missing repository,
// damaged packs/index/snapshots, unreadable files, locks held by others (ours and restic's),
// hostile trees, an interrupted backup.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../helpers/cli.ts';
import { exited } from '../helpers/process.ts';
import { RESTIC_014, restic, resticOk } from '../helpers/restic.ts';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { ResticRepository } from '../../src/formats/restic/repository.ts';
import { RepositoryLock } from '../../src/formats/restic/lock.ts';
import { Packer } from '../../src/formats/restic/packer.ts';
import { encodeSnapshot } from '../../src/formats/restic/snapshot.ts';
import { goTimeFromUnix } from '../../src/util/go-time.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-bad-input-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'bad-input-password';
const passwordFile = path.join(tmp, 'password');
fs.writeFileSync(passwordFile, PASSWORD);
const src = path.join(tmp, 'src');

function cli(repo: string, args: string[], env: Record<string, string> = {}) {
  return runCli(['--repo', repo, '--password-file', passwordFile, ...args], { env });
}

function json<T>(repo: string, args: string[]): T {
  const r = cli(repo, ['--json', ...args]);
  if (r.code !== 0) throw new Error(`bolt-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function freshRepo(name: string): string {
  const repo = path.join(tmp, name);
  json(repo, ['backup', 'init', repo]);
  return repo;
}

function packFiles(repo: string): string[] {
  return fs
    .readdirSync(path.join(repo, 'data'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

beforeAll(() => {
  fs.mkdirSync(path.join(src, 'a'), { recursive: true });
  fs.mkdirSync(path.join(src, 'b'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a', 'one.bin'), crypto.randomBytes(3 * 1024 * 1024));
  fs.writeFileSync(path.join(src, 'b', 'two.bin'), crypto.randomBytes(3 * 1024 * 1024));
  fs.writeFileSync(path.join(src, 'small.txt'), 'small\n');
});

describe('opening', () => {
  it('wrong password: exit 11 and a clear message', () => {
    const repo = freshRepo('wrong-pw');
    const other = path.join(tmp, 'other-password');
    fs.writeFileSync(other, 'not the password');
    const r = runCli(['--repo', repo, '--password-file', other, 'backup', 'list']);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('wrong password or no key found');
  });

  it('missing repository: exit 10', () => {
    const r = cli(path.join(tmp, 'does-not-exist'), ['backup', 'list']);
    expect(r.code).toBe(10);
    expect(r.stderr).toContain('repository not found');
  });

  it('init without an argument creates the configured repository, and says so when none is configured', () => {
    const repo = path.join(tmp, 'from-environment');
    const created = runCli(['--json', '--password-file', passwordFile, 'backup', 'init'], { env: { BOLT_BACKUP_REPOSITORY: repo } });
    expect(created.code, created.stderr).toBe(0);
    expect((JSON.parse(created.stdout) as { repository: string }).repository).toBe(repo);
    // restic's layout: every folder from the start (.tmp is where our writes are staged).
    expect(fs.readdirSync(repo).filter((n) => n !== '.tmp').sort()).toEqual(['config', 'data', 'index', 'keys', 'locks', 'snapshots']);
    expect(fs.readdirSync(path.join(repo, 'data')).length).toBe(256);
    expect(fs.existsSync(path.join(repo, 'data', '00')) && fs.existsSync(path.join(repo, 'data', 'ff'))).toBe(true);
    resticOk(RESTIC_014, repo, PASSWORD, ['check']);
    const none = runCli(['--password-file', passwordFile, 'backup', 'init'], { env: { HOME: tmp } });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no repository configured');
  });

  it('init refuses an existing repository and keeps it', () => {
    const repo = freshRepo('exists');
    const config = fs.readFileSync(path.join(repo, 'config'));
    const r = cli(repo, ['backup', 'init', repo]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already exists');
    expect(fs.readFileSync(path.join(repo, 'config')).equals(config)).toBe(true);
  });
});

describe('damaged repositories', () => {
  it('a bit-flipped pack: check names it, the backup and the file; other files still restore', () => {
    const repo = freshRepo('flipped');
    json(repo, ['backup', 'create', '--include', path.join(src, 'a')]);
    const before = new Set(packFiles(repo));
    const second = json<{ backup: { id: string } }>(repo, ['backup', 'create', '--include', src]);
    const newPacks = packFiles(repo).filter((p) => !before.has(p));
    // the pack holding b/two.bin's data: the biggest new one
    const victim = newPacks.sort((x, y) => fs.statSync(y).size - fs.statSync(x).size)[0] as string;
    const bytes = fs.readFileSync(victim);
    bytes[100] = (bytes[100] ?? 0) ^ 0x01;
    fs.chmodSync(victim, 0o600);
    fs.writeFileSync(victim, bytes);
    const packId = path.basename(victim);

    const check = cli(repo, ['--json', 'backup', 'check', '--read-data']);
    expect(check.code).toBe(1);
    const report = JSON.parse(check.stdout) as { ok: boolean; errors: { object: string; affected_snapshots?: string[]; affected_files?: string[] }[] };
    expect(report.ok).toBe(false);
    const error = report.errors.find((e) => e.object === `pack ${packId}`);
    expect(error).toBeDefined();
    expect(error?.affected_snapshots).toContain(second.backup.id);
    expect(error?.affected_files?.some((f) => f.endsWith('/b/two.bin'))).toBe(true);

    const target = path.join(tmp, 'flipped-restore');
    const restore = cli(repo, ['--json', 'backup', 'restore', second.backup.id, '--target', target]);
    expect(restore.code).toBe(3);
    const result = JSON.parse(restore.stdout) as { problems: { path: string }[] };
    expect(result.problems.map((p) => p.path)).toEqual([path.join(src, 'b', 'two.bin')]);
    expect(fs.readFileSync(path.join(target, src, 'a', 'one.bin')).equals(fs.readFileSync(path.join(src, 'a', 'one.bin')))).toBe(true);
    expect(fs.readFileSync(path.join(target, src, 'small.txt'), 'utf8')).toBe('small\n');
  });

  it('a truncated pack: check without --read-data reports its size', () => {
    const repo = freshRepo('truncated');
    json(repo, ['backup', 'create', '--include', src]);
    const victim = packFiles(repo)[0] as string;
    fs.chmodSync(victim, 0o600);
    fs.truncateSync(victim, 1000);
    const r = cli(repo, ['--json', 'backup', 'check']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { errors: { object: string; message: string; affected_snapshots?: string[] }[] };
    const error = report.errors.find((e) => e.object === `pack ${path.basename(victim)}`);
    expect(error?.message).toMatch(/has 1000 bytes, the index says \d+/);
    expect(error?.affected_snapshots?.length).toBe(1);
  });

  it('a corrupt index file: check names it; list works; restore says why; prune refuses to delete anything', () => {
    const repo = freshRepo('bad-index');
    json(repo, ['backup', 'create', '--include', path.join(src, 'a')]);
    const indexDir = path.join(repo, 'index');
    const [name] = fs.readdirSync(indexDir);
    json(repo, ['backup', 'create', '--include', path.join(src, 'b')]);
    const file = path.join(indexDir, name as string);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, Buffer.concat([fs.readFileSync(file).subarray(0, 40), Buffer.from('garbage')]));
    const r = cli(repo, ['--json', 'backup', 'check']);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { errors: { object: string }[] }).errors.map((e) => e.object)).toContain(`index ${name}`);
    const list = cli(repo, ['--json', 'backup', 'list']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toHaveLength(2);
    const restore = cli(repo, ['backup', 'restore', 'latest', '--target', path.join(tmp, 'bad-index-restore')]);
    expect(restore.stderr).toContain(`index ${name} cannot be read`);
    const packsBefore = packFiles(repo).length;
    const forget = cli(repo, ['backup', 'forget', '--apply', '--keep-last', '1', '--group-by', 'host']);
    expect(forget.code).toBe(1);
    expect(forget.stderr).toContain(name);
    expect(forget.stderr).toContain('nothing was deleted');
    expect(packFiles(repo).length).toBe(packsBefore);
  });

  it('a corrupt snapshot: check names it, the other backups list and restore', () => {
    const repo = freshRepo('bad-snapshot');
    const good = json<{ backup: { id: string } }>(repo, ['backup', 'create', '--include', path.join(src, 'a')]);
    const bad = json<{ backup: { id: string } }>(repo, ['backup', 'create', '--include', path.join(src, 'b')]);
    const file = path.join(repo, 'snapshots', bad.backup.id);
    fs.chmodSync(file, 0o600);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    fs.writeFileSync(file, bytes);
    const r = cli(repo, ['--json', 'backup', 'check']);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { errors: { object: string }[] }).errors.map((e) => e.object)).toContain(`snapshot ${bad.backup.id}`);
    const list = cli(repo, ['--json', 'backup', 'list']);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((b) => b.id)).toEqual([good.backup.id]);
    expect(list.stderr).toContain(`snapshot ${bad.backup.id} cannot be read`);
    const target = path.join(tmp, 'bad-snapshot-restore');
    expect(cli(repo, ['backup', 'restore', good.backup.id, '--target', target]).code).toBe(0);
  });
});

describe('files that cannot be read', () => {
  it('are reported, the backup completes with exit 3, and the rest is stored', () => {
    const dir = path.join(tmp, 'unreadable');
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data', 'ok.txt'), 'readable\n');
    fs.writeFileSync(path.join(dir, 'data', 'secret.txt'), 'not for nobody\n');
    fs.chmodSync(path.join(dir, 'data', 'secret.txt'), 0o000);
    fs.chmodSync(dir, 0o777);
    const repo = path.join(dir, 'repo');
    const pw = path.join(dir, 'pw');
    fs.writeFileSync(pw, PASSWORD);
    fs.chmodSync(pw, 0o644);
    fs.chmodSync(tmp, 0o755);
    // root reads everything: run as nobody, for whom mode 000 means unreadable
    const asNobody = (args: string[]) =>
      spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, path.join(repoRoot, 'bin', 'bolt-agent.js'), '--json', '--repo', repo, '--password-file', pw, ...args], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '', HOME: dir },
      });
    const init = asNobody(['backup', 'init', repo]);
    expect(init.status, init.stderr).toBe(0);
    const r = asNobody(['backup', 'create', '--include', path.join(dir, 'data')]);
    expect(r.status, r.stderr).toBe(3);
    const result = JSON.parse(r.stdout) as { problems: { path: string; error: string }[]; summary: { files_new: number } };
    expect(result.problems.map((p) => p.path)).toEqual([path.join(dir, 'data', 'secret.txt')]);
    expect(result.problems[0]?.error).toMatch(/EACCES|ermission/);
    expect(result.summary.files_new).toBe(1);
    expect(r.stderr).toContain('secret.txt');
  });
});

describe('locks', () => {
  it('refuses with exit 12 while another process holds an exclusive lock, and works after', async () => {
    const repo = freshRepo('locked');
    const holder = spawn(process.execPath, [path.join(repoRoot, 'test', 'helpers', 'hold-lock.mjs'), repo, PASSWORD, 'exclusive', '60000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve()));
    try {
      const r = cli(repo, ['backup', 'create', '--include', src]);
      expect(r.code).toBe(12);
      expect(r.stderr).toMatch(/locked: exclusive lock by pid \d+ on /);
      // restic agrees that it is locked, and `restic unlock` does not remove a live lock
      const theirs = restic(RESTIC_014, repo, PASSWORD, ['backup', src]);
      expect(theirs.code).not.toBe(0);
      expect(theirs.stderr).toContain('locked');
      resticOk(RESTIC_014, repo, PASSWORD, ['unlock']);
      expect(fs.readdirSync(path.join(repo, 'locks'))).toHaveLength(1);
      // restic probes liveness with SIGHUP: the holder must survive it
      holder.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      expect(holder.exitCode).toBeNull();
    } finally {
      holder.kill('SIGTERM');
      await exited(holder);
    }
    expect(fs.readdirSync(path.join(repo, 'locks'))).toHaveLength(0);
    expect(cli(repo, ['backup', 'create', '--include', src]).code).toBe(0);
  });

  it('lets a writer start its reads only once its own lock file is written, and again after waiting', async () => {
    const repo = freshRepo('warm-up');
    const opened = await ResticRepository.open(new LocalStorage({ root: repo, uploadBucket: undefined }), await getCore(), Buffer.from(PASSWORD));
    const seen: string[][] = [];
    const warmUp = () => seen.push(fs.readdirSync(path.join(repo, 'locks')));
    const lock = await RepositoryLock.acquire(opened, { exclusive: false, warmUp });
    expect(seen).toEqual([[lock.lockId]]);
    await lock.release();

    // Another process holds an exclusive lock for a while: nothing is read until it is gone.
    seen.length = 0;
    const holder = spawn(process.execPath, [path.join(repoRoot, 'test', 'helpers', 'hold-lock.mjs'), repo, PASSWORD, 'exclusive', '1500'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve()));
    try {
      const waited = await RepositoryLock.acquire(opened, { exclusive: false, waitMs: 20_000, warmUp });
      expect(seen).toEqual([[waited.lockId]]);
      await waited.release();
    } finally {
      holder.kill('SIGTERM');
      await exited(holder);
    }
  });

  it('removes a stale lock (same host, dead pid) and proceeds', () => {
    const repo = freshRepo('stale');
    const holder = spawnSync(process.execPath, [path.join(repoRoot, 'test', 'helpers', 'hold-lock.mjs'), repo, PASSWORD, 'exclusive', '1'], { encoding: 'utf8' });
    expect(holder.stdout).toContain('locked');
    // simulate a crash: put a lock of a dead process back
    const dead = spawnSync('true');
    expect(dead.pid).toBeGreaterThan(0);
    const r = cli(repo, ['backup', 'create', '--include', src]);
    expect(r.code).toBe(0);
  });

  it('a concurrent restic prune never corrupts: we wait or refuse, and both tools check clean', async () => {
    const repo = freshRepo('concurrent');
    for (let i = 0; i < 3; i++) json(repo, ['backup', 'create', '--include', src, '--force']);
    const codes: number[] = [];
    for (let round = 0; round < 3; round++) {
      const prune = spawn(RESTIC_014, ['-r', repo, 'forget', '--keep-last', '1', '--prune'], { env: { ...process.env, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: path.join(tmp, 'rc') }, stdio: 'ignore' });
      const ours = cli(repo, ['backup', 'create', '--include', src, '--force']);
      codes.push(ours.code);
      await exited(prune);
    }
    for (const c of codes) expect([0, 12]).toContain(c);
    expect(resticOk(RESTIC_014, repo, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
    expect(json<{ ok: boolean }>(repo, ['backup', 'check', '--read-data']).ok).toBe(true);
  });
});

/**
 * A repository written blob by blob, with trees as a hostile or damaged backup might hold them
 * (not as restic writes them): one data blob holding `content`, the trees the test adds, and a
 * snapshot of the last one.
 */
async function handWrittenRepo(name: string, content: Buffer) {
  const repo = freshRepo(name);
  const core = await getCore();
  const r = await ResticRepository.open(new LocalStorage({ root: repo, uploadBucket: undefined }), core, Buffer.from(PASSWORD));
  const packer = new Packer(r, await r.index(), 16 << 20, 1);
  const idOf = (bytes: Buffer) => core.hash('sha256', bytes).toString('hex');
  const contentId = idOf(content);
  await packer.addDataBlobs([{ chunkIndex: 0, id: Buffer.from(contentId, 'hex'), rawLength: content.length, compressed: false, data: core.seal(r.seal, content) }]);
  return {
    repo,
    core,
    r,
    contentId,
    idOf,
    /** Adds a tree blob; its id. */
    addTree: async (tree: Buffer) => {
      const id = idOf(tree);
      await packer.addTree(id, tree);
      return id;
    },
    /** Stores what was added, and a snapshot whose root is `tree`. */
    snapshot: async (tree: string) => {
      await packer.flush();
      await r.writeUnpacked('snapshots', encodeSnapshot({ time: goTimeFromUnix(1700000000, 0, 0), tree, paths: ['/x'], hostname: 'h' }));
    },
  };
}

describe('hostile trees', () => {
  it('a tree naming ".." is refused and nothing is written outside the target', async () => {
    const content = Buffer.from('escaped!\n');
    const { repo, core, r, contentId, addTree, snapshot } = await handWrittenRepo('hostile', content);
    const [blob] = (await core.processFiles([], { chunker: { kind: 'rabin', polynomial: r.config.chunkerPolynomial }, hash: 'sha256', compression: { kind: 'none' }, seal: r.seal })) as never[];
    expect(blob).toBeUndefined();
    const t = '2024-01-01T00:00:00Z';
    const node = (name: string) => `{"name":"${name}","type":"file","mode":420,"mtime":"${t}","atime":"${t}","ctime":"${t}","uid":0,"gid":0,"size":${content.length},"content":["${contentId}"]}`;
    await snapshot(await addTree(Buffer.from(`{"nodes":[${node('..')},${node('ok.txt')}]}\n`)));
    const target = path.join(tmp, 'hostile-target', 'inner');
    const res = cli(repo, ['--json', 'backup', 'restore', 'latest', '--target', target]);
    expect(res.code).toBe(3);
    const out = JSON.parse(res.stdout) as { problems: { path: string; error: string }[] };
    expect(out.problems[0]?.error).toContain('escape the target');
    expect(fs.readFileSync(path.join(target, 'ok.txt'), 'utf8')).toBe('escaped!\n');
    expect(fs.readdirSync(path.join(tmp, 'hostile-target'))).toEqual(['inner']);
  });
});

describe('hostile trees: one name twice', () => {
  it.each([['directory first'], ['symlink first']])('a directory and a symlink of one name (%s): the second is refused and nothing is written through the symlink', async (order) => {
    const content = Buffer.from('below a\n');
    const { repo, contentId, addTree, snapshot } = await handWrittenRepo(`twice-${order.split(' ')[0]}`, content);
    const outside = path.join(tmp, `twice-outside-${order.split(' ')[0]}`);
    fs.mkdirSync(outside, { recursive: true });
    const t = '2024-01-01T00:00:00Z';
    const times = `"mtime":"${t}","atime":"${t}","ctime":"${t}","uid":0,"gid":0`;
    const innerId = await addTree(Buffer.from(`{"nodes":[{"name":"f","type":"file","mode":420,${times},"size":${content.length},"content":["${contentId}"]}]}\n`));
    const dir = `{"name":"a","type":"dir","mode":2147484141,${times},"content":null,"subtree":"${innerId}"}`;
    const link = `{"name":"a","type":"symlink","mode":134218239,${times},"linktarget":"${outside}","content":null}`;
    await snapshot(await addTree(Buffer.from(`{"nodes":[${order === 'directory first' ? `${dir},${link}` : `${link},${dir}`}]}\n`)));
    const target = path.join(tmp, `twice-target-${order.split(' ')[0]}`);
    const res = cli(repo, ['--json', 'backup', 'restore', 'latest', '--target', target]);
    expect(res.code).toBe(3);
    const out = JSON.parse(res.stdout) as { problems: { path: string; error: string }[] };
    expect(out.problems).toEqual([{ path: '/a', error: expect.stringContaining('twice in one directory') as unknown as string }]);
    expect(fs.readdirSync(outside)).toEqual([]);
    if (order === 'directory first') expect(fs.readFileSync(path.join(target, 'a', 'f'), 'utf8')).toBe('below a\n');
    else expect(fs.readlinkSync(path.join(target, 'a'))).toBe(outside);
  });
});

describe('a file whose data is not in the index', () => {
  it('is reported, and what stands at its place in the target is left as it was', async () => {
    const content = Buffer.from('restored\n');
    const { repo, contentId, idOf, addTree, snapshot } = await handWrittenRepo('unindexed', content);
    const missingId = idOf(Buffer.from('never stored'));
    const t = '2024-01-01T00:00:00Z';
    const file = (name: string, id: string) => `{"name":"${name}","type":"file","mode":420,"mtime":"${t}","atime":"${t}","ctime":"${t}","uid":0,"gid":0,"size":${content.length},"content":["${id}"]}`;
    await snapshot(await addTree(Buffer.from(`{"nodes":[${file('gone.txt', missingId)},${file('ok.txt', contentId)}]}\n`)));
    const target = path.join(tmp, 'unindexed-target');
    fs.mkdirSync(target, { recursive: true });
    fs.writeFileSync(path.join(target, 'gone.txt'), 'precious\n');
    const res = cli(repo, ['--json', 'backup', 'restore', 'latest', '--target', target]);
    expect(res.code).toBe(3);
    const out = JSON.parse(res.stdout) as { problems: { path: string; error: string }[] };
    expect(out.problems).toEqual([{ path: '/gone.txt', error: expect.stringContaining('is not in the index') as unknown as string }]);
    expect(fs.readFileSync(path.join(target, 'gone.txt'), 'utf8')).toBe('precious\n');
    expect(fs.readFileSync(path.join(target, 'ok.txt'), 'utf8')).toBe('restored\n');
  });
});

describe('restoring over what is already there', () => {
  it.each([
    ['native', {}],
    ['portable', { BOLT_AGENT_NATIVE: '0' }],
  ])('replaces a symlink, a directory, a FIFO and a longer file at a file\'s place, never following the link (%s core)', (core, env: Record<string, string>) => {
    const dir = path.join(tmp, `obstacles-${core}`);
    const data = path.join(dir, 'data');
    fs.mkdirSync(data, { recursive: true });
    const names = ['via-link.txt', 'was-dir.txt', 'was-fifo.txt', 'was-longer.txt'];
    for (const name of names) fs.writeFileSync(path.join(data, name), `content of ${name}\n`);
    fs.chmodSync(path.join(data, 'was-longer.txt'), 0o640);
    fs.utimesSync(path.join(data, 'was-longer.txt'), 1_600_000_000, 1_600_000_000.25);
    const repo = freshRepo(`obstacles-repo-${core}`);
    json(repo, ['backup', 'create', '--include', data]);

    const target = path.join(dir, 'target');
    const placed = path.join(target, data);
    fs.mkdirSync(placed, { recursive: true });
    const outside = path.join(dir, 'outside.txt');
    fs.writeFileSync(outside, 'must stay\n');
    fs.symlinkSync(outside, path.join(placed, 'via-link.txt'));
    fs.mkdirSync(path.join(placed, 'was-dir.txt', 'inner'), { recursive: true });
    fs.writeFileSync(path.join(placed, 'was-dir.txt', 'inner', 'x'), 'x');
    spawnSync('mkfifo', [path.join(placed, 'was-fifo.txt')]);
    fs.writeFileSync(path.join(placed, 'was-longer.txt'), 'x'.repeat(10_000));

    const r = cli(repo, ['--json', 'backup', 'restore', 'latest', '--target', target], env);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(outside, 'utf8')).toBe('must stay\n');
    for (const name of names) {
      const restored = path.join(placed, name);
      expect(fs.lstatSync(restored).isFile(), name).toBe(true);
      expect(fs.readFileSync(restored, 'utf8')).toBe(`content of ${name}\n`);
    }
    const longer = fs.statSync(path.join(placed, 'was-longer.txt'));
    expect(longer.mode & 0o7777).toBe(0o640);
    expect(longer.mtimeMs).toBe(1_600_000_000_250);
  });
});

describe('restoring directories over what is already there', () => {
  it('replaces a symlink (never following it) and a file at a directory\'s place, keeps an existing directory, and names a FIFO it cannot replace', () => {
    const dir = path.join(tmp, 'dir-obstacles');
    const data = path.join(dir, 'data');
    for (const name of ['via-link', 'was-file', 'exists', 'was-fifo']) {
      fs.mkdirSync(path.join(data, name), { recursive: true });
      fs.writeFileSync(path.join(data, name, 'inside.txt'), `inside ${name}\n`);
    }
    const repo = freshRepo('dir-obstacles-repo');
    json(repo, ['backup', 'create', '--include', data]);

    const target = path.join(dir, 'target');
    const placed = path.join(target, data);
    fs.mkdirSync(path.join(placed, 'exists'), { recursive: true });
    fs.writeFileSync(path.join(placed, 'exists', 'other.txt'), 'stays\n');
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(placed, 'via-link'));
    fs.writeFileSync(path.join(placed, 'was-file'), 'a file\n');
    spawnSync('mkfifo', [path.join(placed, 'was-fifo')]);

    const r = cli(repo, ['--json', 'backup', 'restore', 'latest', '--target', target]);
    expect(r.code, r.stderr).toBe(3);
    expect(fs.readdirSync(outside)).toEqual([]);
    for (const name of ['via-link', 'was-file', 'exists']) {
      expect(fs.lstatSync(path.join(placed, name)).isDirectory(), name).toBe(true);
      expect(fs.readFileSync(path.join(placed, name, 'inside.txt'), 'utf8')).toBe(`inside ${name}\n`);
    }
    expect(fs.readFileSync(path.join(placed, 'exists', 'other.txt'), 'utf8')).toBe('stays\n');
    const out = JSON.parse(r.stdout) as { problems: { path: string; error: string }[] };
    expect(out.problems.some((p) => p.path.endsWith('/was-fifo') && /cannot restore dir/.test(p.error))).toBe(true);
  });
});

describe('restoring symlinks over what is already there', () => {
  it('replaces a file, a directory and another symlink at a symlink\'s place, never following it', () => {
    const dir = path.join(tmp, 'link-obstacles');
    const data = path.join(dir, 'data');
    fs.mkdirSync(data, { recursive: true });
    const names = ['over-file', 'over-dir', 'over-link', 'fresh'];
    for (const name of names) fs.symlinkSync(`../targets/${name}`, path.join(data, name));
    const repo = freshRepo('link-obstacles-repo');
    json(repo, ['backup', 'create', '--include', data]);

    const target = path.join(dir, 'target');
    const placed = path.join(target, data);
    fs.mkdirSync(placed, { recursive: true });
    fs.writeFileSync(path.join(placed, 'over-file'), 'a file\n');
    fs.mkdirSync(path.join(placed, 'over-dir', 'inner'), { recursive: true });
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep.txt'), 'kept\n');
    fs.symlinkSync(outside, path.join(placed, 'over-link'));

    const r = cli(repo, ['--json', 'backup', 'restore', 'latest', '--target', target]);
    expect(r.code, r.stdout).toBe(0);
    for (const name of names) {
      expect(fs.lstatSync(path.join(placed, name)).isSymbolicLink(), name).toBe(true);
      expect(fs.readlinkSync(path.join(placed, name))).toBe(`../targets/${name}`);
    }
    expect(fs.readdirSync(outside)).toEqual(['keep.txt']);
  });
});

describe('an interrupted backup', () => {
  it('leaves a repository that check accepts (SIGKILL mid-upload)', async () => {
    const repo = freshRepo('killed');
    const big = path.join(tmp, 'big');
    fs.mkdirSync(big);
    for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(big, `f${i}.bin`), crypto.randomBytes(8 * 1024 * 1024));
    for (const delay of [300, 700, 1200]) {
      const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'bolt-agent.js'), '--repo', repo, '--password-file', passwordFile, 'backup', 'create', '--force', '--include', big], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited(child);
    }
    // the lock of the killed process is stale (dead pid): removed by the next command
    const report = json<{ ok: boolean; errors: unknown[] }>(repo, ['backup', 'check', '--read-data']);
    expect(report.errors).toEqual([]);
    expect(resticOk(RESTIC_014, repo, PASSWORD, ['check', '--read-data'])).toContain('no errors were found');
    const done = json<{ backup: { id: string } }>(repo, ['backup', 'create', '--include', big]);
    expect(done.backup.id).toMatch(/^[0-9a-f]{64}$/);
  }, 300_000);
});
