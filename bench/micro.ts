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
 * engine or relay, receiver) is timed on its own, the clock's own cost
 * subtracted, in rows whose variant names the stage. Every figure is a median
 * over tasks (batches), not a mean: on a shared machine a preempted task
 * would otherwise weigh as much as a thousand clean ones.
 */
import { Bench } from 'tinybench';
import { Hardware } from '../src/hardware/hardware.js';
import { resolveOptions } from '../src/options.js';
import { Channel } from '../src/partitions/channel.js';
import { ProcessQueuePair } from '../src/partitions/queue-pair.js';
import { allocateRing, EMPTY, RecordType, RingConsumer, RingProducer } from '../src/internal.js';

export interface MicroResult {
  system: 'lparlink' | 'raw-relay' | 'raw-ring';
  variant: string;
  /** Median time per message over the tasks (each BATCH messages), in nanoseconds. */
  nsPerMessage: number;
  /** Relative margin of error of the mean, in percent. */
  rme: number;
}

const RING_BYTES = 256 * 1024;

/**
 * A two-partition hardware with `channels` open channels from partition 2's process to partition
 * 1's, driven by hand in this thread (also used by tests of the receive path).
 */
export function verifiedPaths(size: number, ringBytes = RING_BYTES, channels = 1): { tx: Channel[]; rx: Channel[]; hw: Hardware } {
  const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep', sendRingBytes: ringBytes, receiveRingBytes: ringBytes, maxMessageBytes: Math.max(size, 64) });
  const hw = new Hardware(options);
  const [p1, p2] = hw.ports;
  hw.manager.openQueuePair(p1, 0);
  hw.manager.openQueuePair(p2, 0);
  hw.manager.listen(p1, 0, 7);
  const txq = new ProcessQueuePair(p2.buffer, options.geometry, 0, options.wait);
  const rxq = new ProcessQueuePair(p1.buffer, options.geometry, 0, options.wait);
  const tx: Channel[] = [];
  const rx: Channel[] = [];
  for (let c = 0; c < channels; c++) {
    const granted = hw.manager.connect(p2, 0, 1, 7);
    const accepted = hw.manager.accept(p1, 0, 7);
    if (!granted.ok || accepted instanceof Promise || !accepted.ok) throw new Error('micro: could not open the channel');
    tx.push(new Channel(txq, granted.handle, { partition: 1, process: 1 }, () => {}));
    rx.push(new Channel(rxq, accepted.handle, { partition: 2, process: 1 }, () => {}));
  }
  return { tx, rx, hw };
}

/** Produce `n` records of `payload` into `ring`, publishing once (batch) or per record. */
function produce(p: RingProducer, payload: Uint8Array, n: number, perRecord: boolean): void {
  for (let i = 0; i < n; i++) {
    const at = p.tryClaim(RecordType.RAW, payload.byteLength);
    if (at < 0) throw new Error('micro: ring full');
    p.u8.set(payload, at);
    if (perRecord) p.publish();
  }
  p.publish();
}

/** Copy every record of `src` into `dst`, as the relay and the hardware do. */
function relay(src: RingConsumer, dst: RingProducer, perRecord: boolean): number {
  let n = 0;
  for (let type = src.poll(); type !== EMPTY; type = src.poll()) {
    const bytes = src.bodyBytes;
    const at = dst.tryClaim(type, bytes);
    if (bytes <= 256) {
      const s32 = src.u32;
      const d32 = dst.u32;
      const f = src.bodyOffset >> 2;
      const t = at >> 2;
      for (let k = 0, words = (bytes + 3) >> 2; k < words; k++) d32[t + k] = s32[f + k];
    } else dst.u8.set(src.u8.subarray(src.bodyOffset, src.bodyOffset + bytes), at);
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

/** Read every record (first byte, as the bench receivers do), releasing once or per record. */
function consume(c: RingConsumer, perRecord: boolean): number {
  let n = 0;
  let sink = 0;
  for (let type = c.poll(); type !== EMPTY; type = c.poll()) {
    sink ^= c.u8[c.bodyOffset];
    c.consume();
    n++;
    if (perRecord) c.release();
  }
  c.release();
  return sink === 0.5 ? -1 : n;
}

/** The three stages of one path, each moving `n` messages; the receiver returns how many it got. */
interface Stages {
  send(n: number): void;
  serve(): void;
  receive(n: number): number;
}

/** One message at a time through every stage in turn, for per-message stage timing. */
interface PerMessageStages {
  send(): void;
  serve(): void;
  receive(): number;
}

type StageName = 'sender' | 'engine' | 'receiver';

/**
 * What a `performance.now()` pair costs, so stage times can leave it out: the cheapest of many
 * short runs, since a preempted run only adds (subtracting an inflated cost would hide real work).
 */
function clockCost(): number {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 200; run++) {
    let sum = 0;
    for (let i = 0; i < 1000; i++) {
      const t = performance.now();
      sum += performance.now() - t;
    }
    best = Math.min(best, sum / 1000);
  }
  return best;
}

/** The median of the first `n` values (a preempted sample on a shared machine moves it little, unlike the mean). */
function median(values: Float64Array, n: number): number {
  const sorted = values.subarray(0, n).sort();
  return n % 2 === 1 ? sorted[n >> 1] : (sorted[(n >> 1) - 1] + sorted[n >> 1]) / 2;
}

/**
 * Time each stage on its own for `timeMs`, batched (each stage moves `batch` messages at once)
 * or per message (each stage moves one, in turn, `batch` times); returns the median over the
 * batches of ns per message per stage.
 */
function timeStages(batched: Stages, perMessage: PerMessageStages, batch: number, perRecord: boolean, timeMs: number): Record<StageName, number> {
  const clock = clockCost();
  const samples = { sender: new Float64Array(1 << 16), engine: new Float64Array(1 << 16), receiver: new Float64Array(1 << 16) };
  let n = 0;
  const end = performance.now() + timeMs;
  while (n < samples.sender.length && performance.now() < end) {
    let send = 0;
    let serve = 0;
    let receive = 0;
    if (perRecord) {
      for (let k = 0; k < batch; k++) {
        const t = performance.now();
        perMessage.send();
        const a = performance.now();
        perMessage.serve();
        const b = performance.now();
        const got = perMessage.receive();
        const c = performance.now();
        send += a - t;
        serve += b - a;
        receive += c - b;
        if (got !== 1) throw new Error('micro stages: a message was lost');
      }
    } else {
      const t = performance.now();
      batched.send(batch);
      const a = performance.now();
      batched.serve();
      const b = performance.now();
      const got = batched.receive(batch);
      const c = performance.now();
      send = a - t;
      serve = b - a;
      receive = c - b;
      if (got !== batch) throw new Error(`micro stages: moved ${got} of ${batch}`);
    }
    // Per message, less the clock's own cost; at least 1 ns, so a stage below the clock's jitter keeps a finite ratio.
    const pairs = perRecord ? batch : 1;
    const ns = (ms: number): number => Math.max(1, ((ms - pairs * clock) * 1e6) / batch);
    samples.sender[n] = ns(send);
    samples.engine[n] = ns(serve);
    samples.receiver[n] = ns(receive);
    n++;
  }
  return { sender: median(samples.sender, n), engine: median(samples.engine, n), receiver: median(samples.receiver, n) };
}

export async function runMicro(size: number, batch: number, timeMs: number): Promise<MicroResult[]> {
  const payload = new Uint8Array(size).fill(0xa5);
  const msgs = new Array<Uint8Array>(batch).fill(payload);
  const {
    tx: [tx],
    rx: [rx],
    hw,
  } = verifiedPaths(size);
  const a = allocateRing(RING_BYTES);
  const b = allocateRing(RING_BYTES);
  const [pa, ca, pb, cb] = [new RingProducer(a), new RingConsumer(a), new RingProducer(b), new RingConsumer(b)];
  const into = new Uint8Array(size);
  let received = 0;
  const count = (bytes: Uint8Array, offset: number): void => {
    received += bytes[offset] === 0 ? 2 : 1;
  };
  const check = (got: number, what: string): void => {
    if (got !== batch) throw new Error(`micro ${what}: moved ${got} of ${batch}`);
  };
  const serveAll = (): void => {
    while (hw.engine.round() > 0);
  };
  const drained = (): number => {
    received = 0;
    rx.drainBytes(count);
    return received;
  };
  const tookOne = (): number => (rx.tryRecvInto(into) === size ? 1 : 0);

  const bench = new Bench({ time: timeMs, warmup: true });
  bench.add('lparlink batched', () => {
    tx.sendBatch(msgs);
    serveAll();
    check(drained(), 'lparlink batched');
  });
  bench.add('lparlink per-message', () => {
    received = 0;
    for (let i = 0; i < batch; i++) {
      tx.send(payload);
      hw.engine.round();
      received += tookOne();
    }
    check(received, 'lparlink per-message');
  });
  for (const [variant, perRecord] of [['batched', false], ['per-message', true]] as const) {
    bench.add(`raw-relay ${variant}`, () => {
      produce(pa, payload, batch, perRecord);
      relay(ca, pb, perRecord);
      check(consume(cb, perRecord), `raw-relay ${variant}`);
    });
    bench.add(`raw-ring ${variant}`, () => {
      produce(pa, payload, batch, perRecord);
      check(consume(ca, perRecord), `raw-ring ${variant}`);
    });
  }
  await bench.run();
  const results = bench.tasks.map((t): MicroResult => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`micro ${t.name}: ${r.state === 'errored' ? r.error.message : r.state}`);
    const [system, variant] = t.name.split(' ') as [MicroResult['system'], string];
    return { system, variant, nsPerMessage: (r.latency.p50 * 1e6) / batch, rme: r.latency.rme };
  });

  const lparlink: Stages = { send: () => tx.sendBatch(msgs), serve: serveAll, receive: drained };
  const lparlinkOne: PerMessageStages = { send: () => tx.send(payload), serve: () => hw.engine.round(), receive: tookOne };
  const raw = (perRecord: boolean): Stages => ({
    send: (n) => produce(pa, payload, n, perRecord),
    serve: () => relay(ca, pb, perRecord),
    receive: () => consume(cb, perRecord),
  });
  const rawOne: PerMessageStages = {
    send: () => produce(pa, payload, 1, true),
    serve: () => relay(ca, pb, true),
    receive: () => consume(cb, true),
  };
  const stageMs = timeMs / 2;
  for (const [variant, perRecord] of [['batched', false], ['per-message', true]] as const) {
    const paths = [
      ['lparlink', timeStages(lparlink, lparlinkOne, batch, perRecord, stageMs)],
      ['raw-relay', timeStages(raw(perRecord), rawOne, batch, perRecord, stageMs)],
    ] as const;
    for (const [system, stages] of paths) {
      for (const stage of ['sender', 'engine', 'receiver'] as const) {
        results.push({ system, variant: `${variant}:${stage}`, nsPerMessage: stages[stage], rme: Number.NaN });
      }
    }
  }
  return results;
}
