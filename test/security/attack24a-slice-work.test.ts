/**
 * THREATS case 131: the scheduler looked at its slice's deadline only every 64th round, so hostile
 * partitions flooding 64 KiB messages made every slice 64 rounds of ~4.6 MiB each and held the
 * hardware's event loop (every honest partition's control calls) ~20 ms at a time, ten times
 * SLICE_MS. The clock is replaced here by one that reads past the deadline at every look after the
 * slice's first, so what is asserted is how much work the hardware does before it looks: counts, exact.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { floodScene } from './attack24a-scene.js';
import { now as realNow } from '../../src/shared/clock.js';

const clock = vi.hoisted(() => ({ fake: undefined as (() => number) | undefined }));
vi.mock('../../src/shared/clock.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/shared/clock.js')>();
  return { ...real, now: () => (clock.fake !== undefined ? clock.fake() : real.now()) };
});

/** A clock at 0 for the slice's deadline, then far past it. */
function pastAfterFirst() {
  let calls = 0;
  clock.fake = () => (calls++ === 0 ? 0 : 1e9);
}

afterEach(() => {
  clock.fake = undefined;
});

describe('131: a slice is bounded by the work done, not only by rounds', () => {
  it('131: three partitions flooding 64 KiB messages get at most 4 rounds (288 messages) before the hardware looks at its deadline', () => {
    const { slice } = floodScene(64 * 1024, 3);
    // Real clock, for the record (not asserted): how long a slice holds the event loop.
    const ms: number[] = [];
    for (let i = 0; i < 11; i++) {
      const t = realNow();
      slice();
      ms.push(realNow() - t);
    }
    console.log(`131: slice of 64 KiB floods, median ${ms.sort((a, b) => a - b)[5].toFixed(2)} ms`);
    pastAfterFirst();
    const s = slice();
    // 3 partitions × 8 queue pairs × 3 messages (what a 256 KiB send ring holds) = 72 a round.
    expect({ busy: s.busy, rounds: s.rounds, work: s.work }).toEqual({ busy: true, rounds: 4, work: 288 });
  });

  it('131: 64-byte floods look at the deadline no later than before (by round 64) and work for it in bounded steps', () => {
    const { slice } = floodScene(64, 3);
    pastAfterFirst();
    const s = slice();
    // 3 partitions' budgets of 64 a round (and, the first round, before any share is counted, 7
    // MIN_SERVE requests each past it); 4096 work requests per look at 64-byte messages: round 22.
    expect({ busy: s.busy, rounds: s.rounds, work: s.work }).toEqual({ busy: true, rounds: 22, work: 22 * 192 + 21 });
  });
});
