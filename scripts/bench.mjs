// `npm run bench`: bolt-agent against the real tools on the same data in one run, printing the
// ratios. The corpus is ../shared/bench/make-corpus's (a copy lives in scripts/bench/): the
// machine's /usr/share, /usr/include and /usr/lib/x86_64-linux-gnu plus a 512 MiB incompressible
// volume image, ~2 GB and ~56k files, built once in /var/tmp/bolt-corpus (BOLT_BENCH_CORPUS).
//
// Measured per tool: first backup, unchanged re-run, re-run after `make-corpus --mutate` (a day
// on a host), restore, and the peak RSS of each. The corpus is read from the page cache (it is
// read once before timing) so the tools are compared on CPU and I/O work, not on the disk's
// mood; the restic-format restores start with both repositories out of the cache (see
// coldRepositories). Run it on an otherwise idle machine; ratios are what to look at.
//   node scripts/bench.mjs [--format restic|ghostsnap|all] [--rounds N] [--keep]
// --rounds N repeats the restic-format steps N times, each round on a fresh corpus and fresh
// repositories, the tools taking turns at going first; the summary gives each step's median
// ratio beside every round's. On a noisy machine one round's ratio moves by ±0.05.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root, run, say } from './lib.mjs';

const args = process.argv.slice(2);
const formatArg = args.includes('--format') ? args[args.indexOf('--format') + 1] : 'all';
const keep = args.includes('--keep');
const rounds = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 1;
if (!Number.isInteger(rounds) || rounds < 1) {
  say('--rounds takes a whole number of at least 1');
  process.exit(2);
}
const corpus = process.env.BOLT_BENCH_CORPUS ?? '/var/tmp/bolt-corpus';
const work = fs.mkdtempSync(path.join(process.env.BOLT_BENCH_WORK ?? '/var/tmp', 'bolt-bench-'));
// Restores go to tmpfs when it has room for two: on a disk the figure is mostly the kernel's
// (ext4 allocating 56k inodes soon after 56k were deleted costs whichever tool restores first
// several seconds of system time), which says nothing about the tools. BOLT_BENCH_RESTORE_DIR
// chooses another place.
/** Bytes free in tmpfs (/dev/shm); 0 without it. */
function shmFree() {
  try {
    const st = fs.statfsSync('/dev/shm');
    return st.bavail * st.bsize;
  } catch {
    return 0;
  }
}
const restoreBase = (() => {
  if (process.env.BOLT_BENCH_RESTORE_DIR) return fs.mkdtempSync(path.join(process.env.BOLT_BENCH_RESTORE_DIR, 'bolt-bench-restore-'));
  if (shmFree() > 6 * 1024 ** 3) return fs.mkdtempSync('/dev/shm/bolt-bench-restore-');
  return work;
})();
const binary = path.join(root, 'build', 'bolt-agent');
const restic = process.env.RESTIC_BIN ?? '/usr/bin/restic';
const ghostsnap = process.env.GHOSTSNAP_BIN ?? path.resolve(root, '..', 'shared', 'tools', 'ghostsnap');
const password = 'bench-password';
const passwordFile = path.join(work, 'password');
fs.writeFileSync(passwordFile, password);

run(process.execPath, [path.join(root, 'scripts', 'build-binary.mjs')]);
const makeCorpus = fs.existsSync(path.resolve(root, '..', 'shared', 'bench', 'make-corpus')) ? path.resolve(root, '..', 'shared', 'bench', 'make-corpus') : path.join(root, 'scripts', 'bench', 'make-corpus');
// A fresh copy every run: --mutate changes it.
freshCorpus();

/**
 * Writes and deletes WARM_BYTES in tmpfs, so every step starts with that much memory just freed.
 * On this VM free memory goes back to the host after a few seconds, and writing into pages the
 * guest has not touched lately costs ~2.5 s of system time per GB (the same 1 GB `dd` into a new
 * file: 2.5 s, then 0.2 s once pages were freed just before): without this, each step's time
 * depended on what the step before it had freed (restic's restore measured 9.2 and 6.4 s in two
 * runs of the same code) rather than on the tool.
 */
const WARM_BYTES = 3 * 1024 ** 3;
function warmMemory() {
  if (shmFree() < WARM_BYTES + 1024 ** 3) return;
  const file = path.join('/dev/shm', `bolt-bench-warm-${process.pid}`);
  const block = Buffer.alloc(16 * 1024 * 1024, 1);
  const fd = fs.openSync(file, 'w');
  try {
    for (let written = 0; written < WARM_BYTES; written += block.length) fs.writeSync(fd, block);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/** Runs a command, returning wall seconds and peak RSS (MiB) via GNU time. */
function measure(label, cmd, cmdArgs, env = {}) {
  const timeOut = path.join(work, 'time.txt');
  // Each step starts with nothing dirty in the page cache: otherwise the step after a restore
  // (2 GB written) pays for the kernel writing back the previous tool's files.
  spawnSync('sync');
  warmMemory();
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %e %U %S', '-o', timeOut, cmd, ...cmdArgs], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    throw new Error(`${label} failed (exit ${r.status})`);
  }
  const [rssKb, , user, sys] = fs.readFileSync(timeOut, 'utf8').trim().split(/\s+/).map(Number);
  const result = { label, wall, rssMiB: rssKb / 1024, cpu: user + sys, stdout: r.stdout, stderr: r.stderr };
  say(`${label}: ${wall.toFixed(2)} s wall, ${result.cpu.toFixed(2)} s CPU, ${result.rssMiB.toFixed(0)} MiB peak RSS`);
  return result;
}

function dropRestore(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
}

const results = [];

function compare(format, other, ours, round = 1) {
  for (const step of Object.keys(ours)) {
    const a = ours[step];
    const b = other[step];
    results.push({ format, step, round, theirs: b, ours: a });
  }
}

/** Both tools' runs of one step, in the given order (rounds take turns, so neither always goes first). */
function measurePair(oursFirst, theirsRun, oursRun) {
  if (oursFirst) {
    const ours = oursRun();
    return { ours, theirs: theirsRun() };
  }
  const theirs = theirsRun();
  return { theirs, ours: oursRun() };
}

/** The corpus as make-corpus builds it, read once so every tool finds it in the page cache. */
function freshCorpus() {
  fs.rmSync(corpus, { recursive: true, force: true });
  run(makeCorpus, [corpus]);
  run('tar', ['-cf', '/dev/null', '-C', corpus, '.']);
}

function benchRestic(round) {
  const repoTheirs = path.join(work, `restic-repo-${round}`);
  const repoOurs = path.join(work, `bolt-repo-${round}`);
  const env = { RESTIC_PASSWORD: password, RESTIC_CACHE_DIR: path.join(work, `restic-cache-${round}`) };
  run(restic, ['-r', repoTheirs, 'init', '-q'], { env: { ...process.env, ...env } });
  run(binary, ['--repo', repoOurs, '--password-file', passwordFile, 'backup', 'init', repoOurs]);
  const theirs = {};
  const ours = {};
  const oursFirst = round % 2 === 0;
  const agent = (...a) => [ '--repo', repoOurs, '--password-file', passwordFile, '--no-progress', ...a ];
  const step = (name, theirsLabel, theirsArgs, oursLabel, oursArgs) => {
    const pair = measurePair(oursFirst, () => measure(theirsLabel, restic, theirsArgs, env), () => measure(oursLabel, binary, oursArgs));
    theirs[name] = pair.theirs;
    ours[name] = pair.ours;
  };
  step('first', 'restic first backup', ['-r', repoTheirs, 'backup', '-q', corpus], 'bolt-agent first backup', agent('backup', 'create', '--include', corpus));
  step('rerun', 'restic unchanged re-run', ['-r', repoTheirs, 'backup', '-q', corpus], 'bolt-agent unchanged re-run', agent('backup', 'create', '--include', corpus));
  run(makeCorpus, ['--mutate', corpus]);
  run('tar', ['-cf', '/dev/null', '-C', corpus, '.']);
  step('mutated', 'restic after --mutate', ['-r', repoTheirs, 'backup', '-q', corpus], 'bolt-agent after --mutate', agent('backup', 'create', '--include', corpus));
  const t1 = path.join(restoreBase, 'restore-restic');
  const t2 = path.join(restoreBase, 'restore-bolt');
  // Each restore is checked against the corpus and dropped before the next one starts: on a VM
  // whose free memory goes back to the host, the tool that restores while the other's 2 GB are
  // still in tmpfs pays for fresh pages (the same binaries measured 0.85x and 1.34x that way).
  const checkRestore = (who, dir) => {
    const differ = differencesFromCorpus(path.join(dir, corpus));
    if (differ.length) say(`WARNING: ${who}'s restore differs from the corpus:\n${differ.slice(0, 20).join('\n')}`);
    dropRestore(dir);
  };
  coldRepositories(repoTheirs, repoOurs);
  const restored = measurePair(
    oursFirst,
    () => {
      const m = measure('restic restore', restic, ['-r', repoTheirs, 'restore', 'latest', '--target', t1], env);
      checkRestore('restic', t1);
      return m;
    },
    () => {
      const m = measure('bolt-agent restore', binary, agent('backup', 'restore', 'latest', '--target', t2));
      checkRestore('bolt-agent', t2);
      return m;
    },
  );
  theirs.restore = restored.theirs;
  ours.restore = restored.ours;
  compare('restic', theirs, ours, round);
  // Later rounds need the room: a round's two repositories are ~2.5 GB.
  if (!keep) for (const dir of [repoTheirs, repoOurs, env.RESTIC_CACHE_DIR]) fs.rmSync(dir, { recursive: true, force: true });
}

const started = Date.now();
/**
 * Drops both repositories' files from the page cache before the restores, as a restore days
 * after the backup finds them: bolt-agent drops the packs it writes to a local repository once
 * synced, restic keeps them cached, so without this the two would restore from different
 * starting points (GNU dd's `iflag=nocache count=0` drops a whole file's cached pages).
 */
function coldRepositories(...dirs) {
  for (const dir of dirs) {
    for (const f of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (f.isFile()) spawnSync('dd', [`if=${path.join(f.parentPath, f.name)}`, 'iflag=nocache', 'count=0', 'status=none']);
    }
  }
}

/** `diff -rq` of a restored tree against the corpus: one line per difference. */
function differencesFromCorpus(dir) {
  const diff = spawnSync('diff', ['-rq', '--no-dereference', corpus, dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return diff.stdout.split('\n').filter(Boolean);
}

if (formatArg === 'restic' || formatArg === 'all') {
  for (let round = 1; round <= rounds; round++) {
    // Each round starts from the corpus as make-corpus builds it (the last round's --mutate changed it).
    if (round > 1) freshCorpus();
    benchRestic(round);
  }
}

if (formatArg === 'ghostsnap' || formatArg === 'all') {
  if (!fs.existsSync(ghostsnap)) say(`ghostsnap binary not found at ${ghostsnap}; skipping the ghostsnap format`);
  else {
    // A fresh corpus so both tools see the same first backup.
    freshCorpus();
    const repoTheirs = path.join(work, 'ghostsnap-repo');
    const repoOurs = path.join(work, 'bolt-ghostsnap-repo');
    const env = { GHOSTSNAP_PASSWORD: password, RUST_BACKTRACE: '0' };
    run(ghostsnap, ['init', repoTheirs], { env: { ...process.env, ...env } });
    const agent = (...a) => ['--tool', 'ghostsnap', '--repo', repoOurs, '--password-file', passwordFile, '--no-progress', ...a];
    const init = spawnSync(binary, agent('backup', 'init', repoOurs), { encoding: 'utf8' });
    if (init.status !== 0) say(`bolt-agent cannot init a ghostsnap repository yet (${init.stderr.trim()}); skipping the ghostsnap format`);
    else {
      const theirs = {};
      const ours = {};
      theirs.first = measure('ghostsnap first backup', ghostsnap, ['-q', '--repo', repoTheirs, 'backup', corpus], env);
      ours.first = measure('bolt-agent (ghostsnap format) first backup', binary, agent('backup', 'create', '--include', corpus));
      theirs.rerun = measure('ghostsnap unchanged re-run', ghostsnap, ['-q', '--repo', repoTheirs, 'backup', corpus], env);
      ours.rerun = measure('bolt-agent (ghostsnap format) unchanged re-run', binary, agent('backup', 'create', '--include', corpus));
      const t1 = path.join(restoreBase, 'restore-ghostsnap');
      const t2 = path.join(restoreBase, 'restore-bolt-ghostsnap');
      // ghostsnap names snapshots by UUID and has no "latest": take the newest from its list
      const listed = spawnSync(ghostsnap, ['-q', '--repo', repoTheirs, 'snapshots', '--format', 'json'], { env: { ...process.env, ...env }, encoding: 'utf8' });
      const newest = JSON.parse(listed.stdout).sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0].id;
      // Each restore against the corpus, then dropped before the next one starts (see the restic
      // steps): ours must match it; ghostsnap's own restore is known to write the later names of
      // a hard-linked file empty (../shared/tools/README.md).
      theirs.restore = measure('ghostsnap restore', ghostsnap, ['-q', '--repo', repoTheirs, 'restore', newest, '--target', t1], env);
      const theirsDiffer = differencesFromCorpus(t1);
      if (theirsDiffer.length) say(`ghostsnap's own restore differs from the corpus in ${theirsDiffer.length} entries (first: ${theirsDiffer[0]})`);
      dropRestore(t1);
      ours.restore = measure('bolt-agent (ghostsnap format) restore', binary, agent('backup', 'restore', 'latest', '--target', t2));
      const oursDiffer = differencesFromCorpus(t2);
      if (oursDiffer.length) say(`WARNING: bolt-agent's ghostsnap-format restore differs from the corpus:\n${oursDiffer.slice(0, 20).join('\n')}`);
      else say("bolt-agent's ghostsnap-format restore equals the corpus");
      dropRestore(t2);
      compare('ghostsnap', theirs, ours);
    }
  }
}

const corpusSize = spawnSync('du', ['-sb', corpus], { encoding: 'utf8' }).stdout.split('\t')[0];
const ratio = (ours, theirs) => `${(ours / theirs).toFixed(2)}×`;
const roundColumn = rounds > 1;
const lines = [
  '',
  `bolt-agent vs the real tools — ${os.cpus().length} cores, corpus ${(Number(corpusSize) / 2 ** 30).toFixed(2)} GiB at ${corpus}, restores into ${restoreBase}, ${new Date().toISOString()}`,
  '',
  `| format |${roundColumn ? ' round |' : ''} step | theirs (s) | bolt-agent (s) | time ratio | theirs CPU (s) | bolt-agent CPU (s) | theirs RSS (MiB) | bolt-agent RSS (MiB) | RSS ratio |`,
  `|---|${roundColumn ? '---|' : ''}---|---|---|---|---|---|---|---|---|`,
  ...results.map(
    (r) =>
      `| ${r.format} |${roundColumn ? ` ${r.round} |` : ''} ${r.step} | ${r.theirs.wall.toFixed(2)} | ${r.ours.wall.toFixed(2)} | ${ratio(r.ours.wall, r.theirs.wall)} | ${r.theirs.cpu.toFixed(1)} | ${r.ours.cpu.toFixed(1)} | ${r.theirs.rssMiB.toFixed(0)} | ${r.ours.rssMiB.toFixed(0)} | ${ratio(r.ours.rssMiB, r.theirs.rssMiB)} |`,
  ),
];
if (roundColumn) {
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const steps = [...new Set(results.filter((r) => r.format === 'restic').map((r) => r.step))];
  lines.push('', `restic format over ${rounds} rounds: median ratio (each round's)`, '', '| step | time ratio | RSS ratio |', '|---|---|---|');
  for (const step of steps) {
    const of = results.filter((r) => r.format === 'restic' && r.step === step);
    const times = of.map((r) => r.ours.wall / r.theirs.wall);
    const rss = of.map((r) => r.ours.rssMiB / r.theirs.rssMiB);
    const each = (values) => values.map((v) => v.toFixed(2)).join(', ');
    lines.push(`| ${step} | ${median(times).toFixed(2)}× (${each(times)}) | ${median(rss).toFixed(2)}× (${each(rss)}) |`);
  }
}
lines.push('', `total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.stdout.write(`${lines.join('\n')}\n`);
if (!keep) fs.rmSync(work, { recursive: true, force: true });
if (restoreBase !== work) fs.rmSync(restoreBase, { recursive: true, force: true });
