// `bolt-agent daemon`: unattended operation in the foreground, for systemd (or any supervisor):
// triggers, one backup at a time, retention, secondary copy, /metrics and /healthz. SIGTERM or
// SIGINT stops it cleanly with exit 0.
import type { Command } from 'commander';
import { action } from './main.ts';
import { interruptSignal } from './context.ts';
import { BoltBackupManager } from '../integration/bolt-manager.ts';
import { ExitCode } from '../backup/errors.ts';
import { StreamLogger } from '../observe/log.ts';
import { isLoopback, parseListen } from '../observe/http-server.ts';
import { StateStore } from '../scheduler/state.ts';
import { stateDir } from '../scheduler/locations.ts';
import { VERSION } from '../version.ts';

/** After a clean stop, anything a library left open must not keep a stopped service alive. */
const EXIT_GRACE_MS = 2000;

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description('run in the foreground: arm triggers, run backups, apply retention, serve /metrics and /healthz')
    .option('--listen <address>', 'address for /metrics and /healthz ("off" for none)', '127.0.0.1:9469')
    .action(
      action(async (ctx, opts: { listen: string }) => {
        // First: from here on SIGTERM/SIGINT mean "stop cleanly", whatever is still loading.
        const signal = interruptSignal();
        const log = new StreamLogger({ json: ctx.output.json, verbose: ctx.output.verbose });
        const listen = parseListen(opts.listen);
        const effective = ctx.config();
        const store = new StateStore(stateDir(), (m) => log.warn(m));
        // Bolt-aware: each run backs up the whole include set (volumes, Bolt configuration) from
        // filesystem snapshots where possible, with the services' pre/post commands and Bolt tags.
        const manager = new BoltBackupManager(effective, { warn: (m) => log.warn(m), debug: (m) => log.debug(m) }, { log });
        if (listen && !isLoopback(listen.host)) log.warn(`/metrics and /healthz on ${listen.host} are reachable from the network without authentication`);
        log.info(`bolt-agent ${VERSION} daemon starting`, { pid: process.pid, config: effective.file ?? null, state_dir: store.dir });
        // Loaded here: the scheduler and prom-client are not needed by any other command.
        const { Daemon } = await import('../scheduler/daemon.ts');
        const daemon = new Daemon({ effective, manager, store, log, signal, ...(listen ? { listen } : {}) });
        await daemon.start();
        await daemon.run();
        setTimeout(() => process.exit(ExitCode.ok), EXIT_GRACE_MS).unref();
        return ExitCode.ok;
      }),
    );
}
