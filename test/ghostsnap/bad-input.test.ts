// Bad input loses nothing and says what is wrong (issue #10): wrong password, absurd key
// derivation parameters, several key files, damaged packs / index / snapshots, unreadable
// files, locks held by ghostsnap or by us, and a backup killed at any moment.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../helpers/cli.ts';
import { getCore } from '../../src/native/index.ts';
import { LocalStorage } from '../../src/storage/local.ts';
import { GhostsnapRepository } from '../../src/formats/ghostsnap/repository.ts';
import { createKeyFile, encodeKeyFile } from '../../src/formats/ghostsnap/keys.ts';
import { GhostsnapLock, LOCK_KEY } from '../../src/formats/ghostsnap/lock.ts';
import { agent, agentOk, ghostsnap, ghostsnapOk, type CheckJson, type CreateJson } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-gs-bad-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PASSWORD = 'gs-bad-input';
const pwFile = path.join(tmp, 'password');
fs.writeFileSync(pwFile, PASSWORD);
const src = path.join(tmp, 'src');

function freshRepo(name: string): string {
  const repo = path.join(tmp, name);
  agentOk(repo, pwFile, ['backup', 'init', repo]);
  return repo;
}

function packs(repo: string): string[] {
  return fs
    .readdirSync(path.join(repo, 'data'))
    .filter((n) => n.endsWith('.pack'))
    .map((n) => path.join(repo, 'data', n));
}

function flipByte(file: string, at: number): void {
  const bytes = fs.readFileSync(file);
  bytes[at] = (bytes[at] ?? 0) ^ 0x40;
  fs.writeFileSync(file, bytes);
}

beforeAll(() => {
  fs.mkdirSync(path.join(src, 'a'), { recursive: true });
  fs.mkdirSync(path.join(src, 'b'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a', 'one.bin'), crypto.randomBytes(3 * 1024 * 1024));
  fs.writeFileSync(path.join(src, 'b', 'two.bin'), crypto.randomBytes(3 * 1024 * 1024));
  fs.writeFileSync(path.join(src, 'small.txt'), 'small\n');
});

describe('opening', () => {
  it('wrong password: exit 11', () => {
    const repo = freshRepo('wrong-pw');
    const other = path.join(tmp, 'other-password');
    fs.writeFileSync(other, 'not the password');
    const r = agent(repo, other, ['backup', 'list']);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('wrong password');
  });

  it('missing repository: exit 10; init refuses an existing one', () => {
    expect(agent(path.join(tmp, 'nothing-here'), pwFile, ['backup', 'list']).code).toBe(10);
    const repo = freshRepo('exists');
    const config = fs.readFileSync(path.join(repo, 'config'));
    const r = agent(repo, pwFile, ['backup', 'init', repo]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already exists');
    expect(fs.readFileSync(path.join(repo, 'config')).equals(config)).toBe(true);
  });

  it('absurd key derivation parameters (1 TiB of memory) are refused with a clear error, not obeyed', () => {
    const repo = freshRepo('absurd-kdf');
    const tera = 1024 * 1024 * 1024; // KiB
    const configFile = path.join(repo, 'config');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { kdf_params: { memory: number } };
    const [keyName] = fs.readdirSync(path.join(repo, 'keys'));
    const keyFile = path.join(repo, 'keys', keyName as string);
    const key = JSON.parse(fs.readFileSync(keyFile, 'utf8')) as { kdf_params: { memory: number } };
    key.kdf_params.memory = tera;
    fs.writeFileSync(keyFile, JSON.stringify(key, null, 2));
    const started = Date.now();
    const viaKey = agent(repo, pwFile, ['backup', 'list']);
    expect(viaKey.code).toBe(1);
    expect(viaKey.stderr).toMatch(/keys\/.*Argon2id for 1 TiB/);
    config.kdf_params.memory = tera;
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2).replace(/"chunker_polynomial": \d+(\.\d+)?(e\+\d+)?/, '"chunker_polynomial": 17349423945073011'));
    const viaConfig = agent(repo, pwFile, ['backup', 'list']);
    expect(viaConfig.code).toBe(1);
    expect(viaConfig.stderr).toMatch(/config .*Argon2id for 1 TiB.*refusing/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('tries every key file: a second key listed first neither locks us out nor stops the other password', async () => {
    const repo = freshRepo('two-keys');
    const core = await getCore();
    const opened = await GhostsnapRepository.open(new LocalStorage({ root: repo, uploadBucket: undefined }), core, Buffer.from(PASSWORD));
    const kdf = { algorithm: 'argon2id', iterations: 1, memory: 8192, parallelism: 1, salt: [...core.randomBytes(16)] };
    const second = await createKeyFile(core, Buffer.from('second password'), opened.dataKey, kdf);
    fs.writeFileSync(path.join(repo, 'keys', '00000000-0000-4000-8000-000000000000'), encodeKeyFile(second));
    const pw2 = path.join(tmp, 'second-password');
    fs.writeFileSync(pw2, 'second password');
    agentOk(repo, pwFile, ['backup', 'create', '--include', path.join(src, 'small.txt')]);
    expect(agentOk<unknown[]>(repo, pw2, ['backup', 'list'])).toHaveLength(1);
    // ghostsnap tries only the first key file it lists; which one that is depends on the directory.
    const results = [ghostsnap(repo, PASSWORD, ['-q', 'snapshots']).code, ghostsnap(repo, 'second password', ['-q', 'snapshots']).code];
    expect(results.filter((c) => c === 0)).toHaveLength(1);
  });
});

describe('damaged repositories', () => {
  it('a bit-flipped pack: check --read-data names it, the backup and the file; the other files restore; exit 3', () => {
    const repo = freshRepo('flipped');
    agentOk(repo, pwFile, ['backup', 'create', '--include', path.join(src, 'a')]);
    const before = new Set(packs(repo));
    const second = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', src]);
    const [victim] = packs(repo).filter((p) => !before.has(p));
    expect(victim).toBeDefined();
    flipByte(victim as string, Math.floor(fs.statSync(victim as string).size / 2));
    const packId = path.basename(victim as string, '.pack');

    const check = agent(repo, pwFile, ['backup', 'check', '--read-data']);
    expect(check.code).toBe(1);
    const report = JSON.parse(check.stdout) as CheckJson;
    const errors = report.errors.filter((e) => e.object === `pack ${packId}`);
    expect(errors.map((e) => e.message).join('\n')).toMatch(/fails authentication/);
    const chunkError = errors.find((e) => e.message.startsWith('chunk '));
    expect(chunkError?.affected_snapshots).toEqual([second.backup.id]);
    expect(chunkError?.affected_files).toEqual([`${second.backup.id.slice(0, 8)}:${path.join(src, 'b', 'two.bin')}`]);
    expect(ghostsnap(repo, PASSWORD, ['check', '--read-data']).code).toBe(1);

    const target = path.join(tmp, 'flipped-restore');
    const restore = agent(repo, pwFile, ['backup', 'restore', second.backup.id, '--target', target]);
    expect(restore.code).toBe(3);
    expect((JSON.parse(restore.stdout) as { problems: { path: string }[] }).problems.map((p) => p.path)).toEqual([path.join(src, 'b', 'two.bin')]);
    expect(fs.readFileSync(path.join(target, 'a', 'one.bin')).equals(fs.readFileSync(path.join(src, 'a', 'one.bin')))).toBe(true);
    expect(fs.readFileSync(path.join(target, 'small.txt'), 'utf8')).toBe('small\n');
  });

  it('a truncated pack: check without --read-data reports its size and the backups affected', () => {
    const repo = freshRepo('truncated');
    const created = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', src]);
    const victim = packs(repo)[0] as string;
    fs.truncateSync(victim, 1000);
    const r = agent(repo, pwFile, ['backup', 'check']);
    expect(r.code).toBe(1);
    const error = (JSON.parse(r.stdout) as CheckJson).errors.find((e) => e.object === `pack ${path.basename(victim, '.pack')}`);
    expect(error?.message).toMatch(/has 1000 bytes, its header says \d+/);
    expect(error?.affected_snapshots).toEqual([created.backup.id]);
    expect(error?.affected_files?.length).toBeGreaterThan(0);
  });

  it('a damaged index: check names it; list and restore still work; backup and prune refuse and change nothing', () => {
    const repo = freshRepo('bad-index');
    const first = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', path.join(src, 'a')]);
    agentOk(repo, pwFile, ['backup', 'create', '--include', src]);
    const indexFile = path.join(repo, 'index', 'main.idx');
    flipByte(indexFile, 40);
    const r = agent(repo, pwFile, ['backup', 'check']);
    expect(r.code).toBe(1);
    const error = (JSON.parse(r.stdout) as CheckJson).errors.find((e) => e.object === 'index index/main.idx');
    expect(error?.message).toMatch(/authentication failed/);
    expect(error?.affected_snapshots).toHaveLength(2);
    expect(agentOk<unknown[]>(repo, pwFile, ['backup', 'list'])).toHaveLength(2);
    const target = path.join(tmp, 'bad-index-restore');
    const restore = agent(repo, pwFile, ['backup', 'restore', 'latest', '--target', target]);
    expect(restore.code).toBe(0);
    expect(restore.stderr).toContain("chunk maps");
    expect(fs.readFileSync(path.join(target, 'b', 'two.bin')).equals(fs.readFileSync(path.join(src, 'b', 'two.bin')))).toBe(true);
    const damaged = fs.readFileSync(indexFile);
    const packsBefore = packs(repo).length;
    const create = agent(repo, pwFile, ['backup', 'create', '--include', src]);
    expect(create.code).toBe(1);
    expect(create.stderr).toContain('nothing was written');
    const forget = agent(repo, pwFile, ['backup', 'forget', '--apply', '--keep-last', '1', '--group-by', 'host']);
    expect(forget.code).toBe(1);
    expect(forget.stderr).toContain('nothing was deleted');
    expect(packs(repo).length).toBe(packsBefore);
    expect(fs.readFileSync(indexFile).equals(damaged)).toBe(true);
    expect(fs.existsSync(path.join(repo, 'snapshots', first.backup.id))).toBe(true);
  });

  it('a damaged snapshot: check names it, the other backups list and restore', () => {
    const repo = freshRepo('bad-snapshot');
    const good = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', path.join(src, 'a')]);
    const bad = agentOk<CreateJson>(repo, pwFile, ['backup', 'create', '--include', path.join(src, 'b')]);
    flipByte(path.join(repo, 'snapshots', bad.backup.id), 20);
    const r = agent(repo, pwFile, ['backup', 'check']);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as CheckJson).errors.map((e) => e.object)).toContain(`snapshot ${bad.backup.id}`);
    const list = agent(repo, pwFile, ['backup', 'list']);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((b) => b.id)).toEqual([good.backup.id]);
    expect(list.stderr).toContain(`snapshot ${bad.backup.id} cannot be read`);
    expect(agent(repo, pwFile, ['backup', 'restore', good.backup.id, '--target', path.join(tmp, 'bad-snapshot-restore')]).code).toBe(0);
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
    fs.chmodSync(tmp, 0o755);
    const repo = path.join(dir, 'repo');
    const pw = path.join(dir, 'pw');
    fs.writeFileSync(pw, PASSWORD);
    fs.chmodSync(pw, 0o644);
    // root reads everything: run as nobody, for whom mode 000 means unreadable
    const asNobody = (args: string[]) =>
      spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, path.join(repoRoot, 'bin', 'bolt-agent.js'), '--json', '--no-progress', '--tool', 'ghostsnap', '--repo', repo, '--password-file', pw, ...args], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '', HOME: dir },
      });
    expect(asNobody(['backup', 'init', repo]).status).toBe(0);
    const r = asNobody(['backup', 'create', '--include', path.join(dir, 'data')]);
    expect(r.status, r.stderr).toBe(3);
    const result = JSON.parse(r.stdout) as CreateJson;
    expect(result.problems.map((p) => p.path)).toEqual([path.join(dir, 'data', 'secret.txt')]);
    expect(result.problems[0]?.error).toMatch(/EACCES|ermission/);
    expect(result.summary.files_new).toBe(1);
  });
});

describe('locks', () => {
  it('a live ghostsnap lock stops our backup (exit 12) but not reading; a dead one is removed', () => {
    const repo = freshRepo('ghostsnap-locked');
    fs.mkdirSync(path.join(repo, 'locks'), { recursive: true });
    const lock = (pid: number) =>
      JSON.stringify({ lock_type: 'Exclusive', hostname: os.hostname(), pid, created_at: new Date().toISOString(), operation: 'backup' }, null, 2);
    fs.writeFileSync(path.join(repo, LOCK_KEY), lock(process.pid));
    const r = agent(repo, pwFile, ['backup', 'create', '--include', path.join(src, 'small.txt')]);
    expect(r.code).toBe(12);
    expect(r.stderr).toContain(`ghostsnap backup by pid ${process.pid}`);
    expect(agent(repo, pwFile, ['backup', 'list']).code).toBe(0);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(path.join(repo, LOCK_KEY), lock(Number(dead.stdout)));
    const ok = agent(repo, pwFile, ['backup', 'create', '--include', path.join(src, 'small.txt')]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('removed a stale lock');
    expect(fs.existsSync(path.join(repo, LOCK_KEY))).toBe(false);
  });

  it('ghostsnap honours our lock', async () => {
    const repo = freshRepo('our-lock');
    const core = await getCore();
    const opened = await GhostsnapRepository.open(new LocalStorage({ root: repo, uploadBucket: undefined }), core, Buffer.from(PASSWORD));
    const held = await GhostsnapLock.acquire(opened, 'backup');
    try {
      const r = ghostsnap(repo, PASSWORD, ['backup', path.join(src, 'small.txt')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Lock conflict.*bolt-agent backup/);
      expect(agent(repo, pwFile, ['backup', 'create', '--include', path.join(src, 'small.txt')]).code).toBe(12);
    } finally {
      await held.release();
    }
    expect(fs.existsSync(path.join(repo, LOCK_KEY))).toBe(false);
    ghostsnapOk(repo, PASSWORD, ['backup', path.join(src, 'small.txt')]);
  });
});

describe('a backup killed at any moment', () => {
  it('leaves a repository both checks accept, and the next backup completes', async () => {
    const data = path.join(tmp, 'kill-src');
    fs.mkdirSync(data);
    for (let i = 0; i < 16; i++) fs.writeFileSync(path.join(data, `f${i}.bin`), crypto.randomBytes(1024 * 1024 + i * 7919));
    const repo = freshRepo('killed');
    const config = path.join(tmp, 'kill.yaml');
    fs.writeFileSync(config, 'include:\n  container_volumes: false\n  bolt_config: false\nghostsnap:\n  pack_size: 1MiB\n');
    const args = [path.join(repoRoot, 'bin', 'bolt-agent.js'), '--config', config, '--no-progress', '--tool', 'ghostsnap', '--repo', repo, '--password-file', pwFile, 'backup', 'create', '--include', data];
    const packCount = () => (fs.existsSync(path.join(repo, 'data')) ? packs(repo).length : 0);
    // Kill points: the lock just taken (nothing written), the first pack stored, halfway.
    const points: [string, (base: number) => boolean][] = [
      ['lock taken', () => fs.existsSync(path.join(repo, LOCK_KEY))],
      ['first pack', (base) => packCount() >= base + 1],
      ['halfway', (base) => packCount() >= base + 8],
    ];
    for (const [label, ready] of points) {
      const base = packCount();
      const child = spawn(process.execPath, args, { stdio: 'ignore' });
      let finished = false;
      const exited = new Promise((r) => child.once('exit', r)).then(() => (finished = true));
      while (!finished && !ready(base)) await new Promise((r) => setTimeout(r, 2));
      child.kill('SIGKILL');
      await exited;
      const ours = agentOk<CheckJson>(repo, pwFile, ['backup', 'check', '--read-data']);
      expect(ours.errors, `after a kill at "${label}"`).toEqual([]);
      expect(ghostsnapOk(repo, PASSWORD, ['check', '--read-data']), `after a kill at "${label}"`).toContain('Repository is healthy');
    }
    const done = agentOk<CreateJson>(repo, pwFile, ['--config', config, 'backup', 'create', '--include', data]);
    expect(done.summary.files_new + done.summary.files_changed + done.summary.files_unmodified).toBe(16);
    // pack_size bounds every pack: 1 MiB of data plus at most the chunk that crossed it.
    for (const p of packs(repo)) expect(fs.statSync(p).size).toBeLessThan(2.2 * 1024 * 1024);
    const target = path.join(tmp, 'killed-restore');
    agentOk(repo, pwFile, ['backup', 'restore', done.backup.id, '--target', target]);
    for (let i = 0; i < 16; i++) expect(fs.readFileSync(path.join(target, `f${i}.bin`)).equals(fs.readFileSync(path.join(data, `f${i}.bin`)))).toBe(true);
    expect(ghostsnapOk(repo, PASSWORD, ['check', '--read-data'])).toContain('Repository is healthy');
  });
});
