// `bolt-agent backup health`: a live health report; exit 0 healthy, 1 unhealthy.
import path from 'node:path';
import type { CommandContext } from './context.ts';
import { BackupManager } from '../backup/manager.ts';
import { ExitCode } from '../backup/errors.ts';
import { evaluateHealth, probeRepository, renderHealth } from '../observe/health.ts';
import { lockHolder } from '../scheduler/file-lock.ts';
import { cacheDir, DAEMON_LOCK_FILE, stateDir } from '../scheduler/locations.ts';
import { StateStore } from '../scheduler/state.ts';

export async function healthCommand(ctx: CommandContext): Promise<number> {
  const effective = ctx.config();
  const manager = new BackupManager(effective, { warn: (m) => ctx.output.warn(m), debug: (m) => ctx.output.debug(m) });
  const store = new StateStore(stateDir(), (m) => ctx.output.warn(m));
  const probe = await probeRepository(manager, { full: true });
  const holder = lockHolder(path.join(store.dir, DAEMON_LOCK_FILE));
  const report = evaluateHealth({
    config: effective.config,
    state: store.read(),
    probe,
    dirs: [
      { name: 'state', dir: store.dir },
      { name: 'cache', dir: cacheDir(effective) },
    ],
    now: new Date(),
    daemonRunning: holder !== undefined && !holder.stale,
  });
  ctx.output.result(report, () => renderHealth(report));
  return report.healthy ? ExitCode.ok : ExitCode.error;
}
