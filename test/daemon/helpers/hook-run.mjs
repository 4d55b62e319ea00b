// What `bolt-agent hook before-surge` (issue #6) will do, as a separate process: one configured
// backup through runBackup, sharing the host-wide run lock and the state file with the daemon.
// Usage: node hook-run.mjs <Boltfile>   (BOLT_AGENT_STATE_DIR locates the state)
import { loadConfig } from '../../../build/node/src/config/load.js';
import { BackupManager } from '../../../build/node/src/backup/manager.js';
import { runBackup } from '../../../build/node/src/backup/run-backup.js';
import { StateStore } from '../../../build/node/src/scheduler/state.js';
import { stateDir } from '../../../build/node/src/scheduler/locations.js';

const effective = loadConfig({ flags: { config: process.argv[2] } });
const manager = new BackupManager(effective, { warn: (m) => console.error(m), debug: () => {} });
const outcome = await runBackup(
  manager,
  { triggers: ['before_surge_operations'], reason: 'bolt surge up', scope: { kind: 'configured' } },
  { state: new StateStore(stateDir()), log: { info: (m) => console.error(m), warn: (m) => console.error(m) } },
);
process.stdout.write(`${JSON.stringify(outcome.record)}\n`);
