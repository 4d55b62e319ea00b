// Every run of fixtures/restic/forget-vectors.json (restic 0.14 `forget --dry-run --json`)
// replayed through resticForget: same groups, kept and removed sets, reasons and counters.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { resticForget } from '../../src/backup/retention/restic-forget.ts';
import type { RetentionSnapshot } from '../../src/backup/retention/retention-snapshot.ts';
import { parseRfc3339 } from '../../src/util/go-time.ts';
import { parseForgetArgs } from './helpers/restic-args.ts';

interface VectorGroup {
  host: string;
  paths: string[] | null;
  tags: string[] | null;
  keep: string[];
  remove: string[];
  reasons: Array<{ id: string; matches: string[]; counters: Record<string, number> }>;
}

interface VectorCase {
  name: string;
  snapshots: Array<{ id: string; time: string; hostname: string; paths: string[]; tags?: string[] }>;
  runs: Array<{ args: string[]; groups: VectorGroup[] }>;
}

const vectors = JSON.parse(readFileSync(new URL('../fixtures/restic/forget-vectors.json', import.meta.url), 'utf8')) as { cases: VectorCase[] };

const sorted = (ids: readonly string[]): string[] => [...ids].sort();

describe('restic forget decisions equal restic 0.14 on forget-vectors.json', () => {
  let runs = 0;
  for (const c of vectors.cases) {
    const snapshots: RetentionSnapshot[] = c.snapshots.map((s) => ({
      id: s.id,
      time: parseRfc3339(s.time),
      hostname: s.hostname,
      paths: s.paths,
      ...(s.tags ? { tags: s.tags } : {}),
    }));
    for (const run of c.runs) {
      runs++;
      test(`${c.name}: forget ${run.args.join(' ')}`, () => {
        const { policy, groupBy, filter } = parseForgetArgs(run.args);
        const groups = resticForget(snapshots, policy, { ...(groupBy ? { groupBy } : {}), filter });
        const ours = groups.map((g) => ({
          host: g.key.hostname,
          paths: g.key.paths,
          tags: g.key.tags,
          keep: sorted(g.keep.map((s) => s.id)),
          remove: sorted(g.remove.map((s) => s.id)),
          reasons: g.reasons
            .map((r) => ({ id: r.snapshot.id, matches: r.matches, counters: r.counters }))
            .sort((a, b) => a.id.localeCompare(b.id)),
        }));
        const expected = run.groups.map((g) => ({
          host: g.host,
          paths: g.paths,
          tags: g.tags,
          keep: sorted(g.keep),
          remove: sorted(g.remove),
          reasons: [...g.reasons].sort((a, b) => a.id.localeCompare(b.id)),
        }));
        const byKey = (g: { host: string; paths: unknown; tags: unknown }) => JSON.stringify([g.host, g.paths, g.tags]);
        expect(ours.sort((a, b) => byKey(a).localeCompare(byKey(b)))).toEqual(expected.sort((a, b) => byKey(a).localeCompare(byKey(b))));
        // the kept list is newest first, as restic prints it
        groups.forEach((g) => {
          const vector = run.groups.find((v) => byKey(v) === byKey({ host: g.key.hostname, paths: g.key.paths, tags: g.key.tags }))!;
          expect(g.keep.map((s) => s.id)).toEqual(vector.keep);
        });
      });
    }
  }
  test('all 41 runs are replayed', () => expect(runs).toBe(41));
});
