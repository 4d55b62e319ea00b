// `npm run quickstart`: everything from a fresh clone to a verified backup, on the embedded
// default (a local restic-format repository under ./.bolt-agent/, no cloud account needed):
// install, build the single binary, create a password file (0600) and a config, init the
// repository, back up examples/, list, restore into a scratch folder and compare with the source.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensureNodeModules, root, run, say } from './lib.mjs';

ensureNodeModules();
run(process.execPath, [path.join(root, 'scripts', 'build-binary.mjs')]);

const home = path.resolve(process.env.BOLT_QUICKSTART_HOME ?? path.join(root, '.bolt-agent'));
const binary = path.join(root, 'build', 'bolt-agent');
const passwordFile = path.join(home, 'password');
const configFile = path.join(home, 'Boltfile.toml');
const repository = path.join(home, 'repo');
fs.mkdirSync(home, { recursive: true, mode: 0o700 });
if (!fs.existsSync(passwordFile)) {
  fs.writeFileSync(passwordFile, `${crypto.randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  say(`generated a repository password in ${path.relative(root, passwordFile)} (mode 0600) — keep it: without it the backups cannot be read`);
}
fs.chmodSync(passwordFile, 0o600);
fs.writeFileSync(
  configFile,
  `# Written by npm run quickstart. The [backups] table of a Boltfile: see docs/CONFIG.md.
[backups]
tool = "restic"
repository = "repo"
password_file = "password"

[backups.include]
container_volumes = false
bolt_config = false
custom_paths = [${JSON.stringify(path.join(root, 'examples'))}]
`,
);

function agent(args, { allowFail = false } = {}) {
  say(`$ bolt-agent ${args.join(' ')}`);
  const result = spawnSync(binary, ['--config', configFile, ...args], { stdio: 'inherit', cwd: root });
  if (result.status !== 0 && !allowFail) {
    say(`bolt-agent ${args[0]} ${args[1] ?? ''} stopped with exit code ${result.status}; the quickstart cannot continue.`);
    process.exit(result.status ?? 1);
  }
  return result.status;
}

agent(['--version']);
agent(['backup', 'config', '-v']);
if (!fs.existsSync(path.join(repository, 'config'))) agent(['backup', 'init', repository]);
agent(['backup', 'create', '--name', 'quickstart', '--tag', 'quickstart']);
agent(['backup', 'list']);
const target = path.join(home, `restore-${new Date().toISOString().replace(/[:.]/g, '-')}`);
agent(['backup', 'restore', 'latest', '--target', target]);

// The restore recreates the absolute source path below the target.
const source = path.join(root, 'examples');
const restored = path.join(target, source);
let files = 0;
const compare = (a, b) => {
  for (const name of fs.readdirSync(a)) {
    const pa = path.join(a, name);
    const pb = path.join(b, name);
    const st = fs.lstatSync(pa);
    if (st.isDirectory()) compare(pa, pb);
    else if (st.isFile()) {
      if (!fs.existsSync(pb) || !fs.readFileSync(pa).equals(fs.readFileSync(pb))) {
        say(`MISMATCH: ${path.relative(root, pb)} differs from ${path.relative(root, pa)}`);
        process.exit(1);
      }
      files += 1;
    }
  }
};
compare(source, restored);
say(`restored ${files} files from examples/ byte-identical into ${path.relative(root, restored)}`);
say('');
say(`binary:      ${path.relative(root, binary)} (copy it anywhere; it needs nothing else)`);
say(`config:      ${path.relative(root, configFile)}`);
say(`repository:  ${path.relative(root, repository)} (restic format: \`restic -r ${path.relative(root, repository)} --password-file ${path.relative(root, passwordFile)} snapshots\` works too)`);
say(`password:    ${path.relative(root, passwordFile)}`);
say(`next:        ${path.relative(root, binary)} --config ${path.relative(root, configFile)} backup list`);
