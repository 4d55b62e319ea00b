// Human renderings of storage results: test-connection steps and the secondary check.
import type { ConnectionTestResult } from '../storage/test-connection.ts';
import type { SecondaryCheck } from '../storage/replicate.ts';

export function renderConnection(r: ConnectionTestResult, verbose: boolean): string {
  const lines: string[] = [];
  if (verbose) for (const s of r.steps) lines.push(`${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(12)} ${String(s.ms).padStart(6)} ms  ${s.detail}`);
  if (r.ok) lines.push(`${r.location}: reachable, credentials accepted, write/read/delete work${r.latencyMs !== undefined ? `, latency ${r.latencyMs.toFixed(1)} ms` : ''}`);
  else {
    lines.push(`${r.location}: ${r.outcome}: ${r.error?.message ?? 'failed'}`);
    if (r.error?.hint) lines.push(`hint: ${r.error.hint}`);
  }
  return lines.join('\n');
}

export function renderSecondaryCheck(c: SecondaryCheck): string {
  const lines = [`checked ${c.checked} objects on the secondary`];
  for (const k of c.missing) lines.push(`missing: ${k}`);
  for (const k of c.sizeMismatch) lines.push(`wrong size: ${k}`);
  for (const k of c.contentMismatch) lines.push(`different content: ${k}`);
  if (c.extra.length) lines.push(`${c.extra.length} object(s) only on the secondary (removed from the primary by prune; kept)`);
  lines.push(c.ok ? 'the secondary holds a complete, verified copy' : 'the secondary is incomplete: run a backup (it resumes the copy)');
  return lines.join('\n');
}
