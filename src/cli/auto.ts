// `bolt-agent backup auto enable|disable|status`: turn unattended backups on and off (a systemd
// service running `bolt-agent daemon`, or instructions where systemd is not the init) and show
// every trigger with its next time and last run.
import path from 'node:path';
import type { CommandContext } from './context.ts';
import { ExitCode } from '../backup/errors.ts';
import { StateStore } from '../scheduler/state.ts';
import { stateDir, systemdUnitDir, UNIT_NAME } from '../scheduler/locations.ts';
import { autoStatus, renderAutoStatus } from '../scheduler/status.ts';
import { daemonCommand, systemctl, systemdRunning, unitText, writeUnit } from '../scheduler/systemd-unit.ts';
import fs from 'node:fs';

export type AutoAction = 'enable' | 'disable' | 'status';

/** The global options the daemon needs to see the same configuration as this command. */
function carriedArgs(ctx: CommandContext): string[] {
  const args: string[] = [];
  const file = ctx.config().file;
  if (file) args.push('--config', path.resolve(file));
  if (ctx.options.repo) args.push('--repo', ctx.options.repo);
  if (ctx.options.passwordFile) args.push('--password-file', path.resolve(ctx.options.passwordFile));
  if (ctx.options.tool) args.push('--tool', ctx.options.tool);
  return args;
}

export async function autoCommand(ctx: CommandContext, what: AutoAction): Promise<number> {
  const effective = ctx.config();
  const store = new StateStore(stateDir(), (m) => ctx.output.warn(m));
  const unitDir = systemdUnitDir();
  const unitPath = path.join(unitDir, UNIT_NAME);
  // Only the real unit directory is activated with systemctl: a moved one is for inspection.
  const activate = systemdRunning() && unitDir === systemdUnitDir({});

  if (what === 'status') {
    const status = autoStatus(effective, store.read(), store.dir, new Date());
    ctx.output.result(status, () => renderAutoStatus(status));
    return ExitCode.ok;
  }

  if (what === 'enable') {
    if (!effective.config.password_file && !effective.config.key_file && effective.password) {
      ctx.output.warn(`the repository password comes from ${effective.password.source.name}, which the service will not have: set password_file in [backups]`);
    }
    const command = daemonCommand(carriedArgs(ctx));
    writeUnit(unitPath, unitText(command));
    if (activate) {
      systemctl(['daemon-reload']);
      systemctl(['enable', '--now', UNIT_NAME]);
    }
    await store.update((s) => {
      s.auto = { enabled: true, changed_at: new Date().toISOString(), unit_path: unitPath };
    });
    const result = { enabled: true, unit_path: unitPath, activated: activate, command, state_file: store.file };
    ctx.output.result(result, () =>
      activate
        ? `automatic backups enabled: ${UNIT_NAME} is enabled and started (logs: journalctl -u ${UNIT_NAME})`
        : [
            `automatic backups enabled: wrote ${unitPath}`,
            systemdRunning()
              ? `activate it with: systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}`
              : `systemd is not running on this host: run this under your service supervisor instead:\n  ${command.join(' ')}`,
          ].join('\n'),
    );
    return ExitCode.ok;
  }

  if (activate && fs.existsSync(unitPath)) systemctl(['disable', '--now', UNIT_NAME]);
  const removed = fs.existsSync(unitPath);
  fs.rmSync(unitPath, { force: true });
  if (activate && removed) systemctl(['daemon-reload']);
  await store.update((s) => {
    s.auto = { enabled: false, changed_at: new Date().toISOString(), unit_path: null };
  });
  const result = { enabled: false, unit_removed: removed ? unitPath : null, state_file: store.file };
  ctx.output.result(result, () =>
    [`automatic backups disabled${removed ? `: removed ${unitPath}` : ''}`, activate ? '' : 'a daemon started by other means stops running backups within seconds and idles'].filter(Boolean).join('\n'),
  );
  return ExitCode.ok;
}
