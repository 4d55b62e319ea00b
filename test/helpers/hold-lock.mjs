// Holds a lock on a restic repository from a separate process, through bolt-agent's own lock
// code (the Node build), until it receives SIGTERM or the given time passes:
//   node hold-lock.mjs <repo> <password> <exclusive|shared> <ms>
// Prints "locked <lock id>" once the lock is held.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const load = (p) => import(path.join(root, 'build', 'node', 'src', p));
const [repoPath, password, kind, ms] = process.argv.slice(2);
const { getCore } = await load('native/index.js');
const { LocalStorage } = await load('storage/local.js');
const { ResticRepository } = await load('formats/restic/repository.js');
const { RepositoryLock } = await load('formats/restic/lock.js');
const repo = await ResticRepository.open(new LocalStorage({ root: repoPath, uploadBucket: undefined }), await getCore(), Buffer.from(password));
const lock = await RepositoryLock.acquire(repo, { exclusive: kind === 'exclusive' });
process.stdout.write(`locked ${lock.lockId}\n`);
const release = async () => {
  await lock.release();
  process.exit(0);
};
process.on('SIGTERM', release);
setTimeout(release, Number(ms));
