// One test file per example runs under both `node --test` and vitest (threads or forks pool):
// both runners have test(name, { timeout }, fn), and node:assert works in either.
export const { test } = process.env.VITEST ? await import('vitest') : await import('node:test');

/** Timeout for an example test: generous, CI machines are small and shared. */
export const TIMEOUT = 120_000;
