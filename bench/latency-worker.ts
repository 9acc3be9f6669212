/**
 * Worker side of the raw round-trip baselines (bench/latency.ts starts it
 * from dist/bench). One message in flight:
 *
 *   raw-ring   ping → A → pong → B → ping                         (2 threads)
 *   raw-relay  ping → A → relay → B → pong → C → relay → D → ping  (3 threads)
 *              the same loop with ping echoing B into C itself      (2 threads: echoInPing)
 *   postMessage  ping ⇄ pong over a MessageChannel                  (2 threads)
 *
 * Each ring's data signal points at its consumer's own flag and bell, so the
 * relay sleeps on one bell for both directions. Ping runs for `durationMs`,
 * records each round trip in a node:perf_hooks histogram, then sends END,
 * which travels the whole loop and stops every stage.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import {
  EMPTY,
  FAULT,
  RecordType,
  RING_SPACE_BELL_OFFSET,
  RING_SPACE_WAITING_OFFSET,
  RingConsumer,
  RingProducer,
  setBytes,
  sleepSync,
  type RingLocation,
} from '../src/internal.js';
import { latencyRecorder, type LatencySummary } from './latency-stats.js';
import { CONTROL_GO, type RingRef } from './ring-protocol.js';
import { SIGNAL_LINE_WORDS, type LatencyInput } from './latency-protocol.js';

const DATA = RecordType.RAW;
const END_OF_RUN = RecordType.END;
const WAIT_MS = 1000;

const input = workerData as LatencyInput;
const control = new Int32Array(input.control);

function waitForGo(): void {
  while (Atomics.load(control, CONTROL_GO) === 0) Atomics.wait(control, CONTROL_GO, 0, WAIT_MS);
}

/** A ring whose data signal is the consuming role's line. */
export function withConsumerSignals(ref: RingRef, line: number): RingLocation {
  const flag = line * SIGNAL_LINE_WORDS;
  return {
    buffer: ref.buffer,
    base: ref.base,
    capacity: ref.capacity,
    signals: {
      dataWaiting: flag,
      dataBell: flag + 1,
      spaceWaiting: (ref.base + RING_SPACE_WAITING_OFFSET) >> 2,
      spaceBell: (ref.base + RING_SPACE_BELL_OFFSET) >> 2,
    },
  };
}

interface Stage {
  from: RingConsumer[];
  to: RingProducer[];
  i32: Int32Array;
  flag: number;
}

function stage(consumerLine: number, producerLines: readonly number[]): Stage {
  const from = (input.from ?? []).map((r) => new RingConsumer(withConsumerSignals(r, consumerLine)));
  const to = (input.to ?? []).map((r, i) => new RingProducer(withConsumerSignals(r, producerLines[i])));
  const buffer = input.from![0].buffer;
  return { from, to, i32: new Int32Array(buffer), flag: consumerLine * SIGNAL_LINE_WORDS };
}

/** Copy the record found by src.poll() into dst and publish it. */
function forward(src: RingConsumer, dst: RingProducer, type: number): void {
  const bytes = src.bodyBytes;
  let at = dst.tryClaim(type, bytes);
  while (at < 0) {
    if (at === FAULT) throw new Error(`${input.role}: ${dst.faultReason}`);
    dst.waitForSpace(bytes, input.spins, WAIT_MS);
    at = dst.tryClaim(type, bytes);
  }
  setBytes(dst.u8, src.u8.subarray(src.bodyOffset, src.bodyOffset + bytes), at);
  dst.publish();
  src.consume();
  src.release();
}

/** Wait until one of the rings has a record; returns its index and leaves the record polled. */
function next(s: Stage): { ring: number; type: number } {
  for (;;) {
    for (let r = 0; r < s.from.length; r++) {
      const type = s.from[r].poll();
      if (type === FAULT) throw new Error(`${input.role}: ${s.from[r].faultReason}`);
      if (type !== EMPTY) return { ring: r, type };
    }
    sleepSync(s.i32, s.flag, s.flag + 1, () => s.from.some((c) => c.hasData()), input.spins, WAIT_MS);
  }
}

function ping(): LatencySummary {
  // Ping consumes on line 1; it produces into the first ring of the loop, consumed by the relay (0)
  // or pong (2). Echoing itself, it consumes D and B and produces A and C, the relay's two inputs.
  const echo = input.echoInPing === true;
  const s = stage(1, echo ? [0, 0] : [input.relay === true ? 0 : 2]);
  const out = s.to[0];
  /** Wait for the record that comes back to ping, echoing (forwarding B into C) on the way when ping is also pong. */
  const reply = (): number => {
    for (;;) {
      const { ring, type } = next(s);
      if (!echo || ring === 0) return type;
      forward(s.from[1], s.to[1], type);
    }
  };
  const payload = new Uint8Array(input.bodyBytes).fill(0x5a);
  const rec = latencyRecorder();
  const send = (type: number): void => {
    let at = out.tryClaim(type, type === END_OF_RUN ? 0 : input.bodyBytes);
    while (at < 0) {
      out.waitForSpace(input.bodyBytes, input.spins, WAIT_MS);
      at = out.tryClaim(type, input.bodyBytes);
    }
    if (type !== END_OF_RUN) setBytes(out.u8, payload, at);
    out.publish();
  };
  waitForGo();
  for (let i = 0; i < 200; i++) {
    send(DATA);
    reply();
    s.from[0].consume();
    s.from[0].release();
  }
  const start = performance.now();
  const end = start + input.durationMs;
  let n = 0;
  for (let now = start; now < end; n++) {
    const t0 = now;
    send(DATA);
    reply();
    s.from[0].consume();
    s.from[0].release();
    now = performance.now();
    rec.record((now - t0) * 1e6);
  }
  const seconds = (performance.now() - start) / 1000;
  send(END_OF_RUN);
  for (;;) {
    const type = reply();
    s.from[0].consume();
    s.from[0].release();
    if (type === END_OF_RUN) break;
  }
  return rec.summary(n, seconds);
}

function pong(): { echoed: number } {
  const s = stage(2, [input.relay === true ? 0 : 1]);
  waitForGo();
  let echoed = 0;
  for (;;) {
    const { type } = next(s);
    forward(s.from[0], s.to[0], type);
    if (type === END_OF_RUN) break;
    echoed++;
  }
  return { echoed };
}

function relay(): { moved: number } {
  // from[0]: ping → relay, to[0]: relay → pong; from[1]: pong → relay, to[1]: relay → ping (pong is ping when it echoes itself).
  const s = stage(0, input.echoInPing === true ? [1, 1] : [2, 1]);
  waitForGo();
  let moved = 0;
  for (;;) {
    const { ring, type } = next(s);
    forward(s.from[ring], s.to[ring], type);
    if (type === END_OF_RUN && ring === 1) break;
    moved++;
  }
  return { moved };
}

function pmPing(): Promise<LatencySummary> {
  const port = input.port!;
  const payload = new Uint8Array(input.bodyBytes).fill(0x5a);
  const rec = latencyRecorder();
  return new Promise((resolve) => {
    let warm = 200;
    let n = 0;
    let start = 0;
    let end = 0;
    let t0 = 0;
    port.on('message', (m: Uint8Array | string) => {
      if (typeof m === 'string') {
        port.close();
        resolve(rec.summary(n, (t0 - start) / 1000));
        return;
      }
      const now = performance.now();
      if (warm > 0) {
        if (--warm === 0) start = now, end = now + input.durationMs;
      } else {
        rec.record((now - t0) * 1e6);
        n++;
        if (now >= end) {
          t0 = now;
          port.postMessage('end');
          return;
        }
      }
      t0 = now;
      port.postMessage(payload);
    });
    waitForGo();
    t0 = performance.now();
    port.postMessage(payload);
  });
}

function pmPong(): Promise<{ echoed: number }> {
  const port = input.port!;
  let echoed = 0;
  return new Promise((resolve) => {
    port.on('message', (m: Uint8Array | string) => {
      port.postMessage(m);
      if (typeof m === 'string') {
        port.close();
        resolve({ echoed });
      } else echoed++;
    });
  });
}

async function run(): Promise<unknown> {
  switch (input.role) {
    case 'ping':
      return ping();
    case 'pong':
      return pong();
    case 'relay':
      return relay();
    case 'pm-ping':
      return pmPing();
    case 'pm-pong':
      return pmPong();
  }
}

if (parentPort !== null) {
  const port = parentPort;
  port.postMessage('ready');
  port.postMessage(await run());
}
