/**
 * The `micro` suite (tinybench): what one message costs in CPU alone, every
 * stage in one thread, so nothing waits, sleeps or wakes. It separates the
 * verified path's own work (fetch once, validate, stamp, verify, copy,
 * counters) from what the multi-thread suites add (cache-line transfers,
 * sleeping and waking), and puts it beside the same stages of the raw relay
 * and the raw ring. One task moves BATCH messages; rows are per message.
 *
 * lparlink receives with the calls that allocate nothing: `drainBytes` when
 * batched, `tryRecvInto` per message. Besides the totals, each stage (sender,
 * engine or relay, receiver) is timed on its own over groups of messages, in
 * rows whose variant names the stage. Every figure is a median (over tasks,
 * or over blocks of groups), not a mean: on a shared machine a preempted
 * task would otherwise weigh as much as a thousand clean ones.
 */
import { Bench } from 'tinybench';
import { Hardware } from '../src/hardware/hardware.js';
import { resolveOptions } from '../src/options.js';
import { Channel } from '../src/partitions/channel.js';
import { ProcessQueuePair } from '../src/partitions/queue-pair.js';
import { median } from './spread.js';
import { allocateRing, EMPTY, RecordType, RingConsumer, RingProducer, setBytes } from '../src/internal.js';
import { HardwareTrace } from '../src/hardware/trace.js';
import { PartitionTrace } from '../src/partitions/trace.js';
import { allocateTraceRing } from '../src/shared/trace-ring.js';
import { DEFAULTS } from '../src/options.js';
import type { TraceThread } from '../src/trace-export.js';
import type { BenchTrace } from './trace.js';

export interface MicroResult {
  system: 'lparlink' | 'raw-relay' | 'raw-ring';
  variant: string;
  /** Median time per message over the tasks (each BATCH messages), or over blocks of groups for stage rows, in nanoseconds. */
  nsPerMessage: number;
  /** Relative margin of error of the mean, in percent. */
  rme: number;
}

const RING_BYTES = 256 * 1024;

/**
 * Rings that hold a whole batch of `size`-byte messages (a task sends a batch before the engine
 * serves it): 256 KiB up to 4 KiB messages, more for larger ones (4 MiB at 64 KiB).
 */
function ringBytesFor(size: number, batch: number): number {
  // A record's span is the payload, its 8-byte alignment, and under 32 bytes of headers.
  const needed = batch * (size + 40);
  let bytes = RING_BYTES;
  while (bytes < needed) bytes *= 2;
  return bytes;
}

/**
 * A two-partition hardware with `channels` open channels from partition 2's process to partition
 * 1's, driven by hand in this thread (also used by tests of the receive path). `budgetPerRound`
 * 1 makes each engine round serve one message, as when messages arrive one at a time.
 */
export function verifiedPaths(
  size: number,
  ringBytes = RING_BYTES,
  channels = 1,
  budgetPerRound?: number,
  traceSample?: number,
): { tx: Channel[]; rx: Channel[]; hw: Hardware; traceThreads: TraceThread[] } {
  const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep', sendRingBytes: ringBytes, receiveRingBytes: ringBytes, maxMessageBytes: Math.max(size, 64), budgetPerRound });
  const hw = new Hardware(options);
  const [p1, p2] = hw.ports;
  hw.manager.openQueuePair(p1, 0);
  hw.manager.openQueuePair(p2, 0);
  hw.manager.listen(p1, 0, 7);
  // Traced as a machine is: a ring for the hardware and one per partition (all written by this one thread).
  const traceThreads: TraceThread[] =
    traceSample === undefined
      ? []
      : ['hardware-0', 'partition-1', 'partition-2'].map((name, i) => ({ name, tid: i + 1, partition: i === 0 ? undefined : i - 1, ring: allocateTraceRing(DEFAULTS.traceRecords) }));
  const partitionTrace = (partition: number): PartitionTrace | undefined =>
    traceSample === undefined ? undefined : new PartitionTrace(traceThreads[partition + 1].ring, traceSample, options.geometry.channelSlots);
  if (traceSample !== undefined) hw.engine.tracer = new HardwareTrace(traceThreads[0].ring, traceSample, hw.table.state.length, 2);
  const txq = new ProcessQueuePair(p2.buffer, options.geometry, 0, options.wait, partitionTrace(1));
  const rxq = new ProcessQueuePair(p1.buffer, options.geometry, 0, options.wait, partitionTrace(0));
  const tx: Channel[] = [];
  const rx: Channel[] = [];
  for (let c = 0; c < channels; c++) {
    const granted = hw.manager.connect(p2, 0, 1, 7);
    const accepted = hw.manager.accept(p1, 0, 7);
    if (!granted.ok || accepted instanceof Promise || !accepted.ok) throw new Error('micro: could not open the channel');
    tx.push(new Channel(txq, granted.handle, { node: 0, partition: 1, process: 1 }, () => {}));
    rx.push(new Channel(rxq, accepted.handle, { node: 0, partition: 2, process: 1 }, () => {}));
  }
  return { tx, rx, hw, traceThreads };
}

/** Produce `n` records of `payload` into `ring`, publishing once (batch) or per record. */
function produce(p: RingProducer, payload: Uint8Array, n: number, perRecord: boolean): void {
  for (let i = 0; i < n; i++) {
    const at = p.tryClaim(RecordType.RAW, payload.length); // as lparlink's sender reads it: no byteLength getter
    if (at < 0) throw new Error('micro: ring full');
    setBytes(p.u8, payload, at); // the copy lparlink's sender makes
    if (perRecord) p.publish();
  }
  p.publish();
}

/**
 * Copy the records of `src` into `dst`, as the relay and the hardware do: every one there, or `max`
 * (1: a message that arrives on its own, as the engine serves it per message).
 */
function relay(src: RingConsumer, dst: RingProducer, perRecord: boolean, max = Number.POSITIVE_INFINITY): number {
  let n = 0;
  for (let type = n < max ? src.poll() : EMPTY; type !== EMPTY; type = n < max ? src.poll() : EMPTY) {
    const bytes = src.bodyBytes;
    const at = dst.tryClaim(type, bytes);
    if (bytes <= 256) {
      const s32 = src.u32;
      const d32 = dst.u32;
      const f = src.bodyOffset >> 2;
      const t = at >> 2;
      for (let k = 0, words = (bytes + 3) >> 2; k < words; k++) d32[t + k] = s32[f + k];
    } else setBytes(dst.u8, src.u8.subarray(src.bodyOffset, src.bodyOffset + bytes), at);
    src.consume();
    n++;
    if (perRecord) {
      dst.publish();
      src.release();
    }
  }
  dst.publish();
  src.release();
  return n;
}

/** Read the records there, or `max` of them (first byte, as the bench receivers do), releasing once or per record. */
function consume(c: RingConsumer, perRecord: boolean, max = Number.POSITIVE_INFINITY): number {
  let n = 0;
  let sink = 0;
  for (let type = n < max ? c.poll() : EMPTY; type !== EMPTY; type = n < max ? c.poll() : EMPTY) {
    sink ^= c.u8[c.bodyOffset];
    c.consume();
    n++;
    if (perRecord) c.release();
  }
  c.release();
  return sink === 0.5 ? -1 : n;
}

/**
 * The three stages of one path, each moving `n` messages in its own way (batched: one publish per
 * group; per message: every message published, served and released on its own).
 */
export interface Stages {
  send(n: number): void;
  serve(n: number): void;
  /** How many of the `n` messages it received. */
  receive(n: number): number;
}

type StageName = 'sender' | 'engine' | 'receiver';

/** Groups per block: a stage's figure is the median over blocks of its time per message. */
const GROUPS_PER_BLOCK = 4;
/**
 * Blocks timed however short `timeMs` is: with fewer, one block that lost the core (on a busy
 * machine, for milliseconds) could be the median.
 */
const MIN_BLOCKS = 15;

/**
 * Time each stage of each system on its own over groups of `group` messages, for `timeMs`; ns per
 * message per stage. One clock read brackets a whole group, so its cost (~1 ns per message at 32)
 * stays in the figure rather than being estimated and subtracted: subtracting an estimate from
 * stages of a few ns per message is what made them come out 0 or negative on a busy machine. A
 * stage's figure is always positive. The median over blocks of groups, not the mean, so that a
 * block in which another process took the core does not stand for the stage's cost.
 *
 * The systems take turns block by block (the order swapped every block), so a spell in which the
 * host runs slower falls on both alike: on the VM of wave 15, whose speed halved and recovered
 * every few tens of seconds, timing one system's blocks and then the other's could put a slow
 * spell into one side only. The ratio still differs between spells, as a real difference: there,
 * lparlink's per-message engine ran at 0.70× the relay in fast spells and 0.56–0.58× in slow
 * ones (its code per message is longer), while every batched ratio held within 0.02.
 */
export function timeStages<S extends string>(systems: Record<S, Stages>, group: number, timeMs: number): Record<S, Record<StageName, number>> {
  const names = Object.keys(systems) as S[];
  const blocks = Object.fromEntries(names.map((n) => [n, { sender: [] as number[], engine: [] as number[], receiver: [] as number[] }])) as Record<S, Record<StageName, number[]>>;
  const end = performance.now() + timeMs;
  let turn = 0;
  do {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + turn) % names.length];
      const stages = systems[name];
      let send = 0;
      let serve = 0;
      let receive = 0;
      for (let i = 0; i < GROUPS_PER_BLOCK; i++) {
        const t = performance.now();
        stages.send(group);
        const a = performance.now();
        stages.serve(group);
        const b = performance.now();
        const got = stages.receive(group);
        const c = performance.now();
        send += a - t;
        serve += b - a;
        receive += c - b;
        if (got !== group) throw new Error(`micro stages (${name}): moved ${got} of ${group}`);
      }
      const nsPerMessage = 1e6 / (GROUPS_PER_BLOCK * group);
      blocks[name].sender.push(send * nsPerMessage);
      blocks[name].engine.push(serve * nsPerMessage);
      blocks[name].receiver.push(receive * nsPerMessage);
    }
    turn++;
  } while (performance.now() < end || turn < MIN_BLOCKS);
  return Object.fromEntries(
    names.map((n) => [n, { sender: median(blocks[n].sender), engine: median(blocks[n].engine), receiver: median(blocks[n].receiver) }]),
  ) as Record<S, Record<StageName, number>>;
}

/** `trace`: trace the verified paths as a machine would be (--trace), and add their rings to the run's file. */
export async function runMicro(size: number, batch: number, timeMs: number, trace?: BenchTrace): Promise<MicroResult[]> {
  const payload = new Uint8Array(size).fill(0xa5);
  const msgs = new Array<Uint8Array>(batch).fill(payload);
  const ringBytes = ringBytesFor(size, batch);
  const {
    tx: [tx],
    rx: [rx],
    hw,
    traceThreads,
  } = verifiedPaths(size, ringBytes, 1, undefined, trace?.sample);
  const a = allocateRing(ringBytes);
  const b = allocateRing(ringBytes);
  const [pa, ca, pb, cb] = [new RingProducer(a), new RingConsumer(a), new RingProducer(b), new RingConsumer(b)];
  let received = 0;
  const count = (bytes: Uint8Array, offset: number): void => {
    received += bytes[offset] === 0 ? 2 : 1;
  };
  // What went wrong only: the task's name is added where its error is reported (below).
  const check = (got: number): void => {
    if (got !== batch) throw new Error(`moved ${got} of ${batch} messages`);
  };
  const serveAll = (): void => {
    while (hw.engine.round() > 0);
  };
  const drained = (): number => {
    received = 0;
    rx.drainBytes(count);
    return received;
  };
  // One message per receive call, read in place as the relay's consumer reads it.
  const tookOne = (): number => rx.drainBytes(count, 1);

  const bench = new Bench({ time: timeMs, warmup: true });
  bench.add('lparlink batched', () => {
    tx.sendBatch(msgs);
    serveAll();
    check(drained());
  });
  bench.add('lparlink per-message', () => {
    received = 0;
    for (let i = 0; i < batch; i++) {
      tx.send(payload);
      hw.engine.round();
      received += tookOne();
    }
    check(received);
  });
  bench.add('raw-relay batched', () => {
    produce(pa, payload, batch, false);
    relay(ca, pb, false);
    check(consume(cb, false));
  });
  bench.add('raw-ring batched', () => {
    produce(pa, payload, batch, false);
    check(consume(ca, false));
  });
  // Per message, each message goes the whole way before the next is sent, as lparlink's does above:
  // the baseline of the same shape (until wave 18 the relay's moved a group per stage, so its
  // calls' own costs were shared by the group's messages while lparlink's were not).
  bench.add('raw-relay per-message', () => {
    let got = 0;
    for (let i = 0; i < batch; i++) {
      produce(pa, payload, 1, true);
      relay(ca, pb, true, 1);
      got += consume(cb, true, 1);
    }
    check(got);
  });
  bench.add('raw-ring per-message', () => {
    let got = 0;
    for (let i = 0; i < batch; i++) {
      produce(pa, payload, 1, true);
      got += consume(ca, true, 1);
    }
    check(got);
  });
  await bench.run();
  const results = bench.tasks.map((t): MicroResult => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`micro ${t.name}: ${r.state === 'errored' ? r.error.message : r.state}`);
    const [system, variant] = t.name.split(' ') as [MicroResult['system'], string];
    return { system, variant, nsPerMessage: (r.latency.p50 * 1e6) / batch, rme: r.latency.rme };
  });

  // Per message, the engine must serve each message in a round of its own even though a group
  // waits in the ring: a second hardware whose rounds serve one message each.
  const {
    tx: [txOne],
    rx: [rxOne],
    hw: hwOne,
    traceThreads: traceThreadsOne,
  } = verifiedPaths(size, ringBytes, 1, 1, trace?.sample);
  const stagesOf = {
    lparlink: {
      batched: { send: () => tx.sendBatch(msgs), serve: serveAll, receive: drained },
      'per-message': {
        send(n) {
          for (let i = 0; i < n; i++) txOne.send(payload);
        },
        serve(n) {
          for (let i = 0; i < n; i++) hwOne.engine.round();
        },
        receive(n) {
          let got = 0;
          for (let i = 0; i < n; i++) got += rxOne.drainBytes(count, 1);
          return got;
        },
      },
    },
    'raw-relay': {
      batched: {
        send: (n) => produce(pa, payload, n, false),
        serve: () => relay(ca, pb, false),
        receive: () => consume(cb, false),
      },
      // As lparlink's: every message published, served and received by a call of its own.
      'per-message': {
        send: (n) => produce(pa, payload, n, true),
        serve(n) {
          for (let i = 0; i < n; i++) relay(ca, pb, true, 1);
        },
        receive(n) {
          let got = 0;
          for (let i = 0; i < n; i++) got += consume(cb, true, 1);
          return got;
        },
      },
    },
  } satisfies Record<'lparlink' | 'raw-relay', Record<'batched' | 'per-message', Stages>>;
  // Both systems' stages in one timing, block by block, for the time the two used to take in turn.
  for (const variant of ['batched', 'per-message'] as const) {
    const timed = timeStages({ lparlink: stagesOf.lparlink[variant], 'raw-relay': stagesOf['raw-relay'][variant] }, batch, timeMs);
    for (const system of ['lparlink', 'raw-relay'] as const) {
      for (const stage of ['sender', 'engine', 'receiver'] as const) {
        results.push({ system, variant: `${variant}:${stage}`, nsPerMessage: timed[system][stage], rme: Number.NaN });
      }
    }
  }
  await trace?.addThreads(`micro ${size} B, batched (one thread)`, traceThreads, [1, 2]);
  await trace?.addThreads(`micro ${size} B, per message (one thread)`, traceThreadsOne, [1, 2]);
  return results;
}
