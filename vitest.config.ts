import { defineConfig } from 'vitest/config';

// CI and the dev machines have 2 cores, and several tests start worker threads
// that each want a core: run at most two test files at once.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Worker-thread tests move millions of records; give them room on a loaded machine.
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
