/**
 * What attack run 24a tried against the one hardware thread's time and found held, driven in process
 * (attack24a-scene.ts): the real engine and scheduler serving what hostile partitions write into
 * their own ports. Counts, not timings (the engine is deterministic here, so the counts are exact).
 */
import { describe, expect, it } from 'vitest';
import { floodScene, keptScene } from './attack24a-scene.js';

describe('attack run 24a: held', () => {
  it('messages kept aside for 64 never-read rings: 64 queues and no more, rounds with nothing to move return 0 (the hardware sleeps), and an honest stream beside them gets each message in the round it was sent', () => {
    const s = keptScene(64);
    // The flooder's budget split 64 ways is one request a round per queue pair: each channel keeps
    // up to its bound (twice the send ring), then every sender's head waits. Nothing more can move.
    let rounds = 0;
    for (let work = 1; work > 0 && rounds < 5000; rounds++) {
      s.hostile();
      work = s.hw.engine.round();
    }
    expect({ rounds, kept: s.keptQueues() }).toEqual({ rounds: 1229, kept: 64 });
    s.hostile();
    expect(s.hw.engine.round()).toBe(0);
    expect((s.hw.scheduler as unknown as { runSlice(): boolean }).runSlice()).toBe(false);
    let got = 0;
    let work = 0;
    for (let i = 0; i < 1000; i++) {
      const r = s.honestRound();
      got += r.got;
      work += r.work;
    }
    expect({ got, work, kept: s.keptQueues() }).toEqual({ got: 1000, work: 1000, kept: 64 });
  });

  it('one partition flooding 64 KiB messages from 8 queue pairs gets 24 a round (3 per 256 KiB send ring) in every round of a busy slice', () => {
    // The real clock: how many rounds the slice runs varies; that each serves 24 does not (what a
    // round costs at 64 KiB is bounded by what the rings hold). The case-131 test fixes the clock.
    const { slice } = floodScene(64 * 1024, 1);
    const s = slice();
    expect(s.busy).toBe(true);
    expect(s.work).toBe(24 * s.rounds);
  });
});
