/**
 * 129: case 124 split a partition's budget evenly among its queue pairs that had work in the round
 * before, however little that work was. So a hostile partition that sends one request a round to
 * each of an honest partition's other processes, which answer it (one SEND a round from each of
 * their queue pairs), cut the honest partition's streaming queue pair to an eighth of its budget,
 * while the honest partition's round used a fraction of its budget: the engine then served the
 * honest partition well under its share beside a flooder, and its stream's every serve counted as
 * saturated for the dispatch priority (a flood, to be lowered) at a rate it was never saturated at
 * alone. Driven in process as queue-pair-shares.test.ts is: the real engine serves what each
 * partition's OS writes into its port; counts, not timings.
 */
import { describe, expect, it } from 'vitest';
import { sharesMachine } from './engine-shares.js';



/**
 * Ports: the flooder (one backlogged queue pair), the honest partition (a stream on queue pair 0,
 * servers on 1–7), the sink, and the attacker pinging the honest servers. `attack`: the attacker
 * sends each server one request a round and each answers it (one SEND a round from each).
 */
function scene(attack: boolean, streamPerRound: number) {
  const { hw, channel, round } = sharesMachine();
  const [flooder, honest, sink, attacker] = hw.ports;
  const flood = channel(flooder, 0, sink, 0);
  const stream = channel(honest, 0, sink, 1);
  const pings = Array.from({ length: 7 }, (_, q) => channel(attacker, q + 1, honest, q + 1));
  const answers = Array.from({ length: 7 }, (_, q) => channel(honest, q + 1, attacker, q + 1));
  const all = [flood, stream, ...pings, ...answers];
  for (let r = 0; r < 1000; r++) {
    flood.write();
    stream.write(streamPerRound);
    if (attack) {
      for (const p of pings) p.write(1);
      for (const a of answers) a.write(1);
    }
    round(all);
  }
  return { hw, flood, stream, honest };
}

describe('129: answers from a partition\'s other queue pairs do not shrink its streaming queue pair\'s share', () => {
  it('129: beside a flooder, an honest stream keeps about half the engine while an attacker keeps its other 7 processes answering one request a round', () => {
    const calm = scene(false, Infinity);
    const calmShare = calm.stream.delivered / (calm.stream.delivered + calm.flood.delivered);
    expect(calmShare).toBeGreaterThan(0.45);
    const { flood, stream } = scene(true, Infinity);
    const share = stream.delivered / (stream.delivered + flood.delivered);
    // Without the change: the stream served ceil(64 / 8) = 8 a round to the flooder's 64.
    expect(share, `honest stream ${stream.delivered}, flooder ${flood.delivered}`).toBeGreaterThan(0.45);
  });

  it('129: a stream of 40 a round (under its budget of 64) is delivered as written and never counted saturated, attacked or not', () => {
    for (const attack of [false, true]) {
      const { stream, honest } = scene(attack, 40);
      // Without the change, attacked: 8 a round delivered, every serve of the stream saturated.
      expect({ attack, delivered: stream.delivered, saturated: honest.saturatedServes }).toEqual({ attack, delivered: stream.written, saturated: 0 });
      expect(stream.written).toBeGreaterThan(39_000);
    }
  });
});
