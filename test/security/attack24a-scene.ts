/**
 * Attack run 24a's in-process scene (THREATS case 131 and its cover): the real hardware (engine and
 * scheduler, never started) serving what hostile partitions write into their own ports, as a hostile
 * OS writes them: each of `hostile` partitions floods from its 8 queue pairs, backlogged, to the
 * next one's, which reads all it gets at once. A hostile OS refills its rings on its own core while
 * the hardware works; here the refill runs after each round (engine.round is wrapped), so the counts
 * are exact: no timing.
 */
import type { PartitionPort } from '../../src/hardware/partition-port.js';
import { wiredHardware } from './engine-shares.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { FULL, RingConsumer, RingProducer } from '../../src/shared/ring.js';

export function floodScene(payload: number, hostile: number) {
  const { hw, rings, connect } = wiredHardware({
    partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }],
    processesPerPartition: 8,
    channelsPerPartition: 32,
    maxMessageBytes: payload,
  });
  const refills: (() => void)[] = [];
  const channel = (from: PartitionPort, fqp: number, to: PartitionPort, tqp: number) => {
    const handle = connect(from, fqp, to, tqp);
    const tx = new RingProducer(rings(from, fqp).send);
    const rx = new RingConsumer(rings(to, tqp).receive);
    const done = new RingConsumer(rings(from, fqp).completion);
    refills.push(() => {
      for (;;) {
        const at = tx.tryClaim(RecordType.SEND, SendBody.BYTES + payload);
        if (at === FULL) break;
        tx.u32[at >> 2] = handle;
        tx.u32[(at >> 2) + 1] = 0;
      }
      tx.publish();
      while (rx.poll() > 0) rx.consume();
      rx.release();
      while (done.poll() > 0) done.consume();
      done.release();
    });
  };
  const ports = hw.ports;
  for (let h = 0; h < hostile; h++) for (let q = 0; q < 8; q++) channel(ports[h], q, ports[hostile === 1 ? 3 : (h + 1) % hostile], q);
  const engine = hw.engine;
  const round = engine.round.bind(engine);
  const seen = { rounds: 0, work: 0 };
  engine.round = (exact?: boolean) => {
    const w = round(exact);
    seen.rounds++;
    seen.work += w;
    for (const r of refills) r();
    return w;
  };
  for (const r of refills) r();
  /** One slice of the real scheduler: the rounds it ran and the work requests they served. */
  const slice = () => {
    seen.rounds = 0;
    seen.work = 0;
    const busy = (hw.scheduler as unknown as { runSlice(): boolean }).runSlice();
    return { busy, rounds: seen.rounds, work: seen.work };
  };
  return { hw, slice };
}

/**
 * A hostile partition (index 0) whose `qps` queue pairs each send, alternately on two channels, to
 * `qps` queue pairs of a second hostile partition (index 1) that never read: every receive ring fills
 * and messages are kept aside for each (THREATS case 51) until each channel's bound, then each
 * sender's head waits in its send ring. Beside it, an honest stream from partition 2 to 3.
 */
export function keptScene(qps: number) {
  const { hw, rings, connect: channel } = wiredHardware({
    partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }],
    processesPerPartition: qps,
    channelsPerPartition: Math.max(32, 2 * qps),
    sendRingBytes: 16 * 1024,
    receiveRingBytes: 16 * 1024,
    maxMessageBytes: 64,
  });
  const [a, b, h1, h2] = hw.ports;
  const handles = Array.from({ length: qps }, (_, q) => channel(a, q, b, q));
  const senders = Array.from({ length: qps }, (_, q) => new RingProducer(rings(a, q).send));
  const done = Array.from({ length: qps }, (_, q) => new RingConsumer(rings(a, q).completion));
  const hostile = () => {
    senders.forEach((t, q) => {
      for (let k = 0; ; k++) {
        const at = t.tryClaim(RecordType.SEND, SendBody.BYTES + 64);
        if (at === FULL) break;
        t.u32[at >> 2] = handles[k & 1 ? (q + 1) % qps : q];
        t.u32[(at >> 2) + 1] = 0;
      }
      t.publish();
      while (done[q].poll() > 0) done[q].consume();
      done[q].release();
    });
  };
  const hh = channel(h1, 0, h2, 0);
  const htx = new RingProducer(rings(h1, 0).send);
  const hrx = new RingConsumer(rings(h2, 0).receive);
  const hdone = new RingConsumer(rings(h1, 0).completion);
  /** The honest partition sends one message, the engine runs a round, the reader reads: what arrived. */
  const honestRound = () => {
    const at = htx.tryClaim(RecordType.SEND, SendBody.BYTES + 64);
    if (at !== FULL) {
      htx.u32[at >> 2] = hh;
      htx.u32[(at >> 2) + 1] = 0;
      htx.publish();
    }
    const work = hw.engine.round();
    let got = 0;
    while (hrx.poll() > 0) {
      hrx.consume();
      got++;
    }
    hrx.release();
    while (hdone.poll() > 0) hdone.consume();
    hdone.release();
    return { work, got };
  };
  return { hw, hostile, honestRound, keptQueues: () => (hw.engine as unknown as { kept: { queuePairs: number } }).kept.queuePairs };
}
