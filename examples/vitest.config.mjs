// vitest for the examples: `vitest run --config examples/vitest.config.mjs --pool threads` (or forks).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['examples/**/*.test.mjs'],
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
