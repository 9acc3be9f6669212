/**
 * The `micro` suite (tinybench): what one message costs in CPU alone, every
 * stage in one thread, so nothing waits, sleeps or wakes. It separates the
 * verified path's own work (fetch once, validate, stamp, verify, copy,
 * counters) from what the multi-thread suites add (cache-line transfers,
 * sleeping and waking), and puts it beside the same stages of the raw relay
 * and the raw ring. One task moves BATCH messages; rows are per message.
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
  /** Mean CPU time per message, in nanoseconds. */
  nsPerMessage: number;
  /** Relative margin of error of the mean, in percent. */
  rme: number;
}

const RING_BYTES = 256 * 1024;

/** A two-partition hardware with one open channel, driven by hand in this thread. */
function verifiedPath(size: number): { tx: Channel; rx: Channel; hw: Hardware } {
  const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep', sendRingBytes: RING_BYTES, receiveRingBytes: RING_BYTES, maxMessageBytes: Math.max(size, 64) });
  const hw = new Hardware(options);
  const [p1, p2] = hw.ports;
  hw.manager.openQueuePair(p1, 0);
  hw.manager.openQueuePair(p2, 0);
  hw.manager.listen(p1, 0, 7);
  const granted = hw.manager.connect(p2, 0, 1, 7);
  const accepted = hw.manager.accept(p1, 0, 7);
  if (!granted.ok || accepted instanceof Promise || !accepted.ok) throw new Error('micro: could not open the channel');
  const txq = new ProcessQueuePair(p2.buffer, options.geometry, 0, options.wait);
  const rxq = new ProcessQueuePair(p1.buffer, options.geometry, 0, options.wait);
  const tx = new Channel(txq, granted.handle, { partition: 1, process: 1 }, () => {});
  const rx = new Channel(rxq, accepted.handle, { partition: 2, process: 1 }, () => {});
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

/** Read every record (first byte, as the bench receivers do). */
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

export async function runMicro(size: number, batch: number, timeMs: number): Promise<MicroResult[]> {
  const payload = new Uint8Array(size).fill(0xa5);
  const msgs = new Array<Uint8Array>(batch).fill(payload);
  const { tx, rx, hw } = verifiedPath(size);
  const a = allocateRing(RING_BYTES);
  const b = allocateRing(RING_BYTES);
  const [pa, ca, pb, cb] = [new RingProducer(a), new RingConsumer(a), new RingProducer(b), new RingConsumer(b)];
  let received = 0;
  const count = (m: Uint8Array): void => {
    received += m[0] === 0 ? 2 : 1;
  };
  const check = (got: number, what: string): void => {
    if (got !== batch) throw new Error(`micro ${what}: moved ${got} of ${batch}`);
  };

  const bench = new Bench({ time: timeMs, warmup: true });
  bench.add('lparlink batched', () => {
    tx.sendBatch(msgs);
    while (hw.engine.round() > 0);
    received = 0;
    rx.drain(count);
    check(received, 'lparlink batched');
  });
  bench.add('lparlink per-message', () => {
    received = 0;
    for (let i = 0; i < batch; i++) {
      tx.send(payload);
      hw.engine.round();
      if (rx.tryRecv() !== undefined) received++;
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
  return bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`micro ${t.name}: ${r.state === 'errored' ? r.error.message : r.state}`);
    const [system, variant] = t.name.split(' ') as [MicroResult['system'], string];
    return { system, variant, nsPerMessage: (r.latency.mean * 1e6) / batch, rme: r.latency.rme };
  });
}
