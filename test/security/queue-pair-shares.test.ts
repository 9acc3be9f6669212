/**
 * 124: the engine's budget is a partition's, not each queue pair's. A round served every active
 * queue pair with the whole budget (`budgetPerRound`), so a partition that flooded from all 8 of
 * its queue pairs (its OS opens every process slot's) took 8 budgets a round to an honest
 * partition's one: 8/9 of the engine, against invariant 6 ("the others keep their throughput
 * share"). Driven in process: the real engine serves what each partition writes into its own port,
 * as a hostile OS writes it; every sender stays backlogged (its ring refilled before each round),
 * and the shares are counted in messages, not timed.
 */
import { describe, expect, it } from 'vitest';
import { jain, sharesMachine } from './engine-shares.js';




describe('124: a partition gets one budget a round, whatever number of its queue pairs send', () => {
  it('124: a partition flooding from all 8 queue pairs beside an honest partition on one: each partition about half of what the engine moves', () => {
    const { hw, channel, round } = sharesMachine();
    const [flooder, honest, sinkF, sinkH] = hw.ports;
    const floods = Array.from({ length: 8 }, (_, q) => channel(flooder, q, sinkF, q));
    const stream = channel(honest, 0, sinkH, 0);
    const all = [...floods, stream];
    for (let r = 0; r < 1000; r++) {
      for (const s of all) s.write();
      round(all);
    }
    const flooded = floods.reduce((a, s) => a + s.delivered, 0);
    const share = stream.delivered / (flooded + stream.delivered);
    // Without the change: 0.111 (1/9), and Jain's index over the two partitions 0.62.
    expect(share, `honest ${stream.delivered}, flooder ${flooded}`).toBeGreaterThan(0.45);
    expect(jain([flooded, stream.delivered])).toBeGreaterThan(0.98);
    // The partition's own queue pairs share its budget evenly.
    expect(jain(floods.map((s) => s.delivered))).toBeGreaterThan(0.98);
  });

  it('124: one queue pair a partition moves as before: two backlogged partitions share the engine evenly, each a whole budget a round', () => {
    const { hw, channel, round } = sharesMachine();
    const [a, b, sinkA, sinkB] = hw.ports;
    const all = [channel(a, 0, sinkA, 0), channel(b, 0, sinkB, 0)];
    for (let r = 0; r < 500; r++) {
      for (const s of all) s.write();
      round(all);
    }
    // A budget a round each, less the rounds whose run stopped short at the ring's wrap (31,701 of
    // 32,000 here, before the change as after).
    const [x, y] = all.map((s) => s.delivered);
    expect(x).toBe(y);
    expect(x).toBeGreaterThan(0.98 * 500 * hw.engine.budgetPerRound);
    expect(x).toBeLessThanOrEqual(500 * hw.engine.budgetPerRound);
  });

  it("124: a request beside its own partition's flood from the other 7 queue pairs is served in the round it is written", () => {
    const { hw, channel, round } = sharesMachine();
    const [flooder, , sink] = hw.ports;
    const floods = Array.from({ length: 7 }, (_, q) => channel(flooder, q, sink, q));
    const request = channel(flooder, 7, sink, 7);
    const all = [...floods, request];
    for (let r = 0; r < 300; r++) {
      for (const s of floods) s.write();
      request.write(1);
      round(all);
      expect(request.delivered).toBe(r + 1);
    }
  });
});
