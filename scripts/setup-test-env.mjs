// Installs what the test suite needs beyond npm packages, when it is missing:
//   Debian packages (restic 0.14 = the oracle, btrfs-progs for the loop-mounted btrfs tests,
//   attr, tmux, zstd, GNU time for peak RSS, fincore for page-cache residency), restic 0.18.1 built with `go install` into the tool cache, and the MinIO
//   server (scripts/test-servers.mjs). Idempotent; fast when everything is present.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root, run, say } from './lib.mjs';

export const toolCache = process.env.BOLT_AGENT_TOOL_CACHE ?? path.join(os.homedir(), '.cache', 'bolt-agent-ci', 'bin');

const debianPackages = { restic: '/usr/bin/restic', 'btrfs-progs': '/usr/sbin/mkfs.btrfs', attr: '/usr/bin/getfattr', tmux: '/usr/bin/tmux', zstd: '/usr/bin/zstd', time: '/usr/bin/time', 'util-linux-extra': '/usr/bin/fincore' };

function installDebianPackages() {
  const missing = Object.entries(debianPackages).filter(([, file]) => !fs.existsSync(file)).map(([pkg]) => pkg);
  if (!missing.length) return;
  if (process.getuid?.() !== 0) {
    say(`missing Debian packages: ${missing.join(' ')} — install them (sudo apt-get install ${missing.join(' ')}) and rerun`);
    process.exit(1);
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

function goInstall(pkg, binary, target) {
  if (fs.existsSync(target)) return;
  const go = spawnSync('go', ['version']);
  if (go.status !== 0) {
    say(`Go is needed to build ${binary} (${pkg}); install Go or put the binary at ${target}`);
    process.exit(1);
  }
  say(`building ${pkg} with go install (cached in ${toolCache})`);
  const gobin = fs.mkdtempSync(path.join(os.tmpdir(), 'bolt-gobin-'));
  run('go', ['install', pkg], { env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' } });
  fs.mkdirSync(toolCache, { recursive: true });
  fs.copyFileSync(path.join(gobin, binary), target);
  fs.chmodSync(target, 0o755);
  fs.rmSync(gobin, { recursive: true, force: true });
}

export function setupTestEnvironment() {
  installDebianPackages();
  goInstall('github.com/restic/restic/cmd/restic@v0.18.1', 'restic', path.join(toolCache, 'restic-0.18.1'));
  const servers = path.join(root, 'scripts', 'test-servers.mjs');
  if (fs.existsSync(servers)) run(process.execPath, [servers, 'build']);
}

if (import.meta.url === `file://${process.argv[1]}`) setupTestEnvironment();
