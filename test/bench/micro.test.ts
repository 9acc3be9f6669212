/**
 * The micro suite's stage rows: each stage is timed over groups of messages,
 * so every figure is a positive, finite cost however busy the machine is, and
 * every lparlink stage has the relay's same stage to compare with. (Timing
 * itself is measured, never asserted.)
 */
import { describe, expect, it } from 'vitest';
import { runMicro } from '../../bench/micro.js';

describe('micro suite stages', () => {
  // 64 KiB, the largest size the CLI takes: a batch of 32 needs rings larger than the default 256 KiB.
  for (const size of [64, 4096, 65536]) {
    it(`times every stage of both paths as a positive cost, ${size} B`, async () => {
      const results = await runMicro(size, 32, 20);
      const stages = results.filter((r) => r.variant.includes(':'));
      const expected = ['lparlink', 'raw-relay'].flatMap((system) =>
        ['batched', 'per-message'].flatMap((variant) => ['sender', 'engine', 'receiver'].map((stage) => `${system} ${variant}:${stage}`)),
      );
      expect(stages.map((r) => `${r.system} ${r.variant}`).sort()).toEqual(expected.sort());
      for (const r of stages) {
        expect(Number.isFinite(r.nsPerMessage), `${r.system} ${r.variant}`).toBe(true);
        expect(r.nsPerMessage, `${r.system} ${r.variant}`).toBeGreaterThan(0);
      }
      // The totals too: every task moved all its messages (runMicro throws otherwise) and took time.
      for (const r of results.filter((x) => !x.variant.includes(':'))) expect(r.nsPerMessage).toBeGreaterThan(0);
    }, 60_000);
  }
});
