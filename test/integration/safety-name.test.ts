// Safety snapshot sets are named after the second they are taken in; a second restore within
// the same second (a quick retry) takes the next free name instead of failing on the first.
import path from 'node:path';
import { expect, it } from 'vitest';
import { freeSetName } from '../../src/integration/emergency-restore.ts';

it('takes the timestamp name when free, else the first free numbered one, across every home', () => {
  const taken = new Set([path.join('/snaps', 'safety-20261125T182200Z'), path.join('/mnt/.bolt-agent-snapshots', 'safety-20261125T182200Z-2')]);
  const exists = (p: string): boolean => taken.has(p);
  expect(freeSetName('safety-20261125T182201Z', ['/snaps'], exists)).toBe('safety-20261125T182201Z');
  expect(freeSetName('safety-20261125T182200Z', ['/snaps'], exists)).toBe('safety-20261125T182200Z-2');
  expect(freeSetName('safety-20261125T182200Z', ['/snaps', '/mnt/.bolt-agent-snapshots'], exists)).toBe('safety-20261125T182200Z-3');
  expect(freeSetName('safety-20261125T182200Z', [], exists)).toBe('safety-20261125T182200Z');
});
