// Small helpers shared by the build, test and quickstart scripts (plain Node, no dependencies).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function say(line) {
  process.stderr.write(`[bolt-agent] ${line}\n`);
}

/** Runs a command inheriting stdio; exits the script with its code when it fails. */
export function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.error) {
    say(`cannot run ${cmd}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    say(`${cmd} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

/** Newest modification time (ms) of the files below `dirs` (recursive), ignoring `skip` names. */
export function newestMtime(dirs, skip = new Set(['node_modules', 'target', 'build', '.git'])) {
  let newest = 0;
  const walk = (p) => {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(p)) if (!skip.has(name)) walk(path.join(p, name));
    } else newest = Math.max(newest, st.mtimeMs);
  };
  for (const d of dirs) walk(path.resolve(root, d));
  return newest;
}

export function mtimeOf(file) {
  try {
    return fs.statSync(path.resolve(root, file)).mtimeMs;
  } catch {
    return 0;
  }
}

/** npm ci when node_modules is missing or older than package-lock.json. */
export function ensureNodeModules() {
  const stamp = path.join(root, 'node_modules', '.package-lock.json');
  if (mtimeOf(stamp) >= mtimeOf('package-lock.json') && fs.existsSync(path.join(root, 'node_modules', '.bin', 'vitest'))) return;
  say('installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
