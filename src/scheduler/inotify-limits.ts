// How many inotify watches this process may take. The kernel counts watches per user (and per
// user namespace): fs.inotify.max_user_watches, and user.max_inotify_watches of the namespace we
// run in; the smaller applies. bolt-agent takes at most half of it by default, leaving room for
// everything else on the host that watches files (systemd, editors, other agents);
// $BOLT_AGENT_MAX_WATCHES sets the budget explicitly.
import fs from 'node:fs';

export interface InotifyLimits {
  /** The kernel's limit for this user, when known. */
  kernel: number | undefined;
  /** Where the limit comes from, for messages. */
  sources: string[];
  /** The sysctl that sets the (smallest) limit. */
  binding: string;
  /** The watches bolt-agent allows itself. */
  budget: number;
  /** True when the budget was set with $BOLT_AGENT_MAX_WATCHES. */
  explicit: boolean;
}

const SYSCTLS: [file: string, name: string][] = [
  ['/proc/sys/fs/inotify/max_user_watches', 'fs.inotify.max_user_watches'],
  ['/proc/sys/user/max_inotify_watches', 'user.max_inotify_watches'],
];

function readNumber(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function inotifyLimits(env: NodeJS.ProcessEnv = process.env): InotifyLimits {
  let kernel: number | undefined;
  let binding = 'fs.inotify.max_user_watches';
  const sources: string[] = [];
  for (const [file, name] of SYSCTLS) {
    const value = readNumber(file);
    if (value === undefined) continue;
    sources.push(`${name} = ${value}`);
    if (kernel === undefined || value < kernel) {
      kernel = value;
      binding = name;
    }
  }
  const override = env['BOLT_AGENT_MAX_WATCHES'];
  if (override && /^\d+$/.test(override)) return { kernel, sources, binding, budget: Number(override), explicit: true };
  return { kernel, sources, binding, budget: kernel === undefined ? 8192 : Math.max(1, Math.floor(kernel / 2)), explicit: false };
}

/** The advice that goes with every watch-limit message. */
export function raiseLimitHint(limits: InotifyLimits, needed: number): string {
  const target = 2 ** Math.ceil(Math.log2(Math.max(524288, needed * 2)));
  return (
    `raise the kernel limit with \`sysctl -w ${limits.binding}=${target}\` ` +
    `(keep it in /etc/sysctl.d/90-bolt-agent.conf)` +
    (limits.explicit ? ' and BOLT_AGENT_MAX_WATCHES' : ', bolt-agent then uses up to half of it (or set BOLT_AGENT_MAX_WATCHES)') +
    ', or exclude busy directories'
  );
}
