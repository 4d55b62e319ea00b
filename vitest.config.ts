import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // 2-core machines: suites that start servers or run restic share the CPU.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
