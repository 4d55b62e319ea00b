// Which compute cores a test run exercises: env BOLT_TEST_CORES (comma list, default both).
// A selected core that does not load fails every test of its block; nothing is skipped.
import { beforeAll, describe } from 'vitest';
import { cores } from '../../src/native/index.ts';
import type { Core } from '../../src/native/types.ts';

export type CoreName = keyof typeof cores;

export function selectedCores(): CoreName[] {
  const raw = process.env['BOLT_TEST_CORES'] ?? 'native,portable';
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error('BOLT_TEST_CORES selects no core');
  for (const n of names) {
    if (!(n in cores)) throw new Error(`BOLT_TEST_CORES: unknown core ${JSON.stringify(n)} (use native, portable)`);
  }
  return names as CoreName[];
}

const loading = new Map<CoreName, Promise<Core>>();

export function loadCore(name: CoreName): Promise<Core> {
  let p = loading.get(name);
  if (p === undefined) {
    p = cores[name]();
    loading.set(name, p);
  }
  return p;
}

/** One describe block per selected core; `core()` returns the loaded core inside tests. */
export function describeEachCore(title: string, body: (core: () => Core, name: CoreName) => void): void {
  for (const name of selectedCores()) {
    describe(`${title} [${name} core]`, () => {
      let loaded: Core | undefined;
      beforeAll(async () => {
        loaded = await loadCore(name);
      });
      body(() => {
        if (loaded === undefined) throw new Error(`the ${name} core did not load`);
        return loaded;
      }, name);
    });
  }
}
