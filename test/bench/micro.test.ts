/**
 * The micro suite's stage rows: each stage is timed over groups of messages,
 * so every figure is a positive, finite cost however busy the machine is, and
 * every lparlink stage has the relay's same stage to compare with. (Timing
 * itself is measured, never asserted.)
 */
import { describe, expect, it } from 'vitest';
import { runMicro, timeStages, type Stages } from '../../bench/micro.js';

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

  it('times the two systems block by block, the order swapped every block, so a slow spell of the host falls on both', () => {
    const calls: string[] = [];
    const fake = (name: string): Stages => ({
      send: () => calls.push(`${name}:send`),
      serve: () => calls.push(`${name}:serve`),
      receive: (n) => (calls.push(`${name}:receive`), n),
    });
    const timed = timeStages({ a: fake('a'), b: fake('b') }, 8, 0);
    // A block is 4 groups of one system; the blocks, in order: a then b, b then a, a then b, ...
    const sends = calls.filter((c) => c.endsWith(':send')).map((c) => c.split(':')[0]);
    const blocks = sends.filter((_, i) => i % 4 === 0);
    expect(blocks.slice(0, 6)).toEqual(['a', 'b', 'b', 'a', 'a', 'b']);
    expect(sends.every((system, i) => system === blocks[Math.floor(i / 4)])).toBe(true);
    // Each block runs 4 groups of one system: 15 blocks per system at least, each stage's time a median
    // over them (these fake stages take next to none, so only its sign is checked).
    expect(calls.filter((c) => c === 'a:serve').length).toBe(calls.filter((c) => c === 'b:serve').length);
    expect(calls.filter((c) => c === 'a:serve').length).toBeGreaterThanOrEqual(15 * 4);
    for (const s of ['a', 'b'] as const) for (const stage of ['sender', 'engine', 'receiver'] as const) expect(timed[s][stage]).toBeGreaterThanOrEqual(0);
  });
});
