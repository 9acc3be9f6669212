/** bench/lifecycle.ts runs and reports its structure (no timing assertions: the machine may be loaded). */
import { expect, it } from 'vitest';
import { formatLifecycleBench, runLifecycleBench } from '../../bench/lifecycle.js';

it('runLifecycleBench returns medians for every case, ratios and the targets', { timeout: 120_000 }, async () => {
  const r = await runLifecycleBench({ rounds: 2, warmup: 0, partitions: 2 });
  expect(r).toMatchObject({ rounds: 2, partitions: 2, targets: { bootRatio: 3, closeMs: 50 } });
  for (const key of ['bareSpawnMs', 'bareOnlineMs', 'bareParallelMs', 'bootMs', 'firstResultMs', 'closeMs'] as const) {
    expect(r[key].samples).toHaveLength(2);
    expect(r[key].median).toBeGreaterThan(0);
    expect(r[key].min).toBeLessThanOrEqual(r[key].max);
  }
  expect(r.bootRatio).toBeCloseTo(r.bootMs.median / r.bareSpawnMs.median);
  expect(typeof r.met.boot).toBe('boolean');
  expect(formatLifecycleBench(r)).toMatch(/createMachine .* bare spawn \(target ≤ 3×\)/);
  await expect(runLifecycleBench({ rounds: 0 })).rejects.toThrow(/rounds must be a positive integer/);
});
