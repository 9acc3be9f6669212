/**
 * What attack run 23a tried against case 124's per-partition budget (Engine.shareOf, Engine.serve)
 * and found held, with case 129's split in place. Driven in process as queue-pair-shares.test.ts
 * is: the real engine serves what each partition's OS writes into its own port; counts, not
 * timings (the engine is deterministic here, so the counts are exact).
 */
import { describe, expect, it } from 'vitest';
import { closedEndpoint, gc, inProcessHardware } from './in-process-restart.js';
import { sharesMachine } from './engine-shares.js';
import { queuePairRings } from '../../src/shared/port.js';
import { RingConsumer } from '../../src/shared/ring.js';
import { LinkedChannels } from '../../src/hardware/link/linked-channels.js';
import type { NodeLink } from '../../src/hardware/link/node-link.js';
import { RemoteConnect } from '../../src/hardware/link/remote-connect.js';
import type { ConnectFields } from '../../src/hardware/link/link-writer.js';

const ROUNDS = 1000;


/**
 * A flooding partition on 8 queue pairs that writes `pattern(round, qp)` SENDs each round (Infinity:
 * backlogged) beside an honest partition streaming backlogged on one: the most the flooder got in
 * a round, and both totals.
 */
function flood(pattern: (round: number, qp: number) => number) {
  const { hw, channel, round } = sharesMachine();
  const [flooder, honest, sinkF, sinkH] = hw.ports;
  const floods = Array.from({ length: 8 }, (_, q) => channel(flooder, q, sinkF, q));
  const stream = channel(honest, 0, sinkH, 0);
  const all = [...floods, stream];
  let most = 0;
  let honestMost = 0;
  for (let r = 0; r < ROUNDS; r++) {
    floods.forEach((s, q) => {
      const n = pattern(r, q);
      if (n > 0) s.write(n);
    });
    stream.write();
    const got = round(all);
    most = Math.max(most, got.slice(0, 8).reduce((a, b) => a + b, 0));
    honestMost = Math.max(honestMost, got[8]);
  }
  const flooded = floods.reduce((a, s) => a + s.delivered, 0);
  return { budget: hw.engine.budgetPerRound, most, honestMost, flooded, honest: stream.delivered, share: stream.delivered / (stream.delivered + flooded) };
}

describe('attack run 23a: what held', () => {
  it('a partition gets at most its budget and one request for each of its other queue pairs a round (MIN_SERVE), however its queue pairs send', () => {
    const patterns: Record<string, (r: number, q: number) => number> = {
      backlogged: () => Infinity,
      // Half its queue pairs one round, the other half the next: a share counted by the round
      // before is always for the wrong ones.
      alternating: (r, q) => ((r + q) % 2 === 0 ? 64 : 0),
      // Idle one round in four, then 64 from every queue pair: the first serve after the idle round
      // gets the whole budget.
      bursts: (r) => (r % 4 === 0 ? 64 : 0),
      // One queue pair backlogged, the other 7 one request a round each (light): the backlogged one
      // gets what the 7 leave.
      oneAndRequests: (_r, q) => (q === 0 ? Infinity : 1),
    };
    const seen: Record<string, object> = {};
    for (const [name, pattern] of Object.entries(patterns)) {
      const { budget, most, honestMost, flooded, honest, share } = flood(pattern);
      expect(most, name).toBeLessThanOrEqual(budget + 7);
      expect(honestMost, name).toBeLessThanOrEqual(budget);
      expect(share, name).toBeGreaterThan(0.45);
      seen[name] = { most, flooded, honest };
    }
    // Exact (the engine is deterministic here). The honest stream: a budget a round less the rounds
    // its run stops at the ring's wrap, 63,194 in each. The flooder: over it by the requests
    // MIN_SERVE lets through (at most 7 a round, 1% in all). Before case 129's split the last one
    // read 15,031: the flooder's 7 requests held its own stream to 8 a round.
    expect(seen).toEqual({
      backlogged: { most: 71, flooded: 63826, honest: 63194 },
      alternating: { most: 67, flooded: 63756, honest: 63194 },
      bursts: { most: 71, flooded: 63697, honest: 63194 },
      oneAndRequests: { most: 71, flooded: 61300, honest: 63194 },
    });
  });
});

/**
 * The link's references to a restarted run (lead 2 of the run's brief), beside case 130: messages
 * from another node kept aside for a run's full receive ring. Case 130's scene
 * (test/link/attack23a-run-pinned.test.ts): the real Hardware, RemoteConnect and LinkedChannels, a
 * stand-in link to node 5, runs handed to the receive stage as the link reader hands them.
 */
function keptLoop(runs: number) {
  const { options, hw } = inProcessHardware({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep', receiveRingBytes: 16 * 1024 });
  const connects: ConnectFields[] = [];
  const violations: string[] = [];
  const closes: number[] = [];
  const counters = new Proxy({ violation: (kind: string) => violations.push(kind) } as Record<string, unknown>, { get: (o, k) => o[k as string] ?? (() => {}) });
  const link = { node: 5, up: true, uncounted: 0, counters, connect: (f: ConnectFields) => connects.push(f), close: (channel: number) => closes.push(channel), owe: () => {}, excusesLate: () => false, flush: () => {} } as unknown as NodeLink;
  const links = new Map([[5, link]]);
  const remote = new RemoteConnect(hw.manager, hw.table, hw.keys, links, () => {}, { answerTimeoutMs: 600_000, windowBytes: 1 << 20, maxMessageBytes: 64 * 1024 });
  const channels = new LinkedChannels(hw.table, hw.keys, hw.engine, hw.counters, links, [link], () => {}, 1 << 20, hw.engine.keptLimitBytes, 600_000);
  hw.engine.remote = channels;
  hw.manager.remote = remote;
  const oldPorts: Array<WeakRef<SharedArrayBuffer>> = [];
  let kept = 0;
  for (let run = 0; run < runs; run++) {
    const port = hw.ports[0];
    expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
    expect(remote.connect(port, 0, 5, 1, 7)).toBeInstanceOf(Promise);
    const c = connects[connects.length - 1];
    remote.connectOk(link, c.request, 100 + run, 3, 1 << 20, 4096, 0);
    const d = channels.run(link, c.sourceChannel, 1, 1, c.key[0], c.key[1], c.key[2], c.key[3]);
    expect(d).toBeGreaterThanOrEqual(0);
    // 16 messages of 4 KiB into a 16 KiB ring nobody reads: all but the first 3 are kept aside.
    const buf = new Uint8Array(4096);
    const words = new Uint32Array(buf.buffer);
    for (let i = 0; i < 16; i++) expect(channels.message(link, d, buf, words, 0, 4096)).toBe(0);
    channels.delivered(link, d);
    channels.processed();
    hw.engine.round();
    // What reached the ring; the rest is kept aside for it (the reader reads nothing before its crash).
    const rx = new RingConsumer(queuePairRings(port.buffer, options.geometry, 0).receive);
    let inRing = 0;
    while (rx.poll() > 0) {
      rx.consume();
      inRing++;
    }
    kept += 16 - inRing;
    oldPorts.push(new WeakRef(port.buffer));
    hw.restartPartition(0, closedEndpoint());
  }
  return { oldPorts, kept, violations, closes };
}

describe('attack run 23a: the link lets go of a restarted run', () => {
  it("messages from another node kept for a run's full receive ring hold no port of that run once it is restarted, and its ends close to the other node", async () => {
    const { oldPorts, kept, violations, closes } = keptLoop(6);
    expect(kept).toBe(6 * 13);
    expect(violations).toEqual([]);
    // Each run's end closed on node 5 as its run ended (the channel 100 + run it opened).
    expect(closes).toEqual([100, 101, 102, 103, 104, 105]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    gc();
    gc();
    expect(oldPorts.map((p) => p.deref() !== undefined)).toEqual(oldPorts.map(() => false));
  });
});
