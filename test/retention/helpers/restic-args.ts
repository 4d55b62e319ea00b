// Turns `restic forget` command-line arguments into our policy and options, so recorded runs of
// the real restic can be replayed through resticForget.

import type { RetentionPolicy } from '../../../src/backup/retention/policy.ts';
import { parseGroupBy, type GroupBy, type SnapshotFilter } from '../../../src/backup/retention/restic-grouping.ts';

const COUNT_FLAGS: Record<string, keyof RetentionPolicy> = {
  '--keep-last': 'keep_last',
  '--keep-hourly': 'keep_hourly',
  '--keep-daily': 'keep_daily',
  '--keep-weekly': 'keep_weekly',
  '--keep-monthly': 'keep_monthly',
  '--keep-yearly': 'keep_yearly',
};

const DURATION_FLAGS: Record<string, keyof RetentionPolicy> = {
  '--keep-within': 'keep_within',
  '--keep-within-hourly': 'keep_within_hourly',
  '--keep-within-daily': 'keep_within_daily',
  '--keep-within-weekly': 'keep_within_weekly',
  '--keep-within-monthly': 'keep_within_monthly',
  '--keep-within-yearly': 'keep_within_yearly',
};

export interface ParsedForgetArgs {
  policy: RetentionPolicy;
  groupBy?: GroupBy;
  filter: SnapshotFilter;
}

export function parseForgetArgs(args: readonly string[]): ParsedForgetArgs {
  const policy: Record<string, unknown> = {};
  const tags: string[] = [];
  const hosts: string[] = [];
  let groupBy: GroupBy | undefined;
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i]!;
    const value = args[i + 1];
    if (value === undefined) throw new Error(`flag ${flag} without a value`);
    if (COUNT_FLAGS[flag]) policy[COUNT_FLAGS[flag]!] = Number(value);
    else if (DURATION_FLAGS[flag]) policy[DURATION_FLAGS[flag]!] = value;
    else if (flag === '--keep-tag') tags.push(value);
    else if (flag === '--group-by') groupBy = parseGroupBy(value);
    else if (flag === '--host') hosts.push(value);
    else throw new Error(`unsupported flag ${flag}`);
  }
  if (tags.length > 0) policy.keep_tags = tags;
  return { policy: policy as RetentionPolicy, ...(groupBy ? { groupBy } : {}), filter: { hosts } };
}
