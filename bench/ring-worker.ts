/**
 * Worker side of the ring benchmark (bench/ring.ts starts it from dist/bench).
 *
 * Roles: `producer` and `consumer` share one ring; `sender` and `receiver`
 * share a MessageChannel (the postMessage baseline). Every role waits for the
 * main thread's GO word, runs until the STOP word, and posts its result.
 * The consumer side takes the time, from its first record to the end marker.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { attachRing, EMPTY, FAULT, RecordType, RingConsumer, RingProducer, setBytes, spinBudget } from '../src/internal.js';
import { CONTROL_GO, CONTROL_STOP, type RingRef, type WorkerInput, type WorkerResult } from './ring-protocol.js';
import type { RingLocation } from '../src/internal.js';

/** The record type that carries payload, and the one that ends a run. */
const DATA = RecordType.RAW;
const END_OF_RUN = RecordType.END;
/** How often (in records) the producer looks at the STOP word. */
const STOP_CHECK_MASK = 255;
/** postMessage flow control: the receiver grants this many credits at a time, the sender keeps at most WINDOW in flight. */
const CREDIT_EVERY = 256;
const WINDOW = 16 * CREDIT_EVERY;
/** Bounded waits, so a lost peer ends the run with an error instead of a hang. */
const WAIT_MS = 1000;

const input = workerData as WorkerInput;
const control = new Int32Array(input.control);
const spins = input.spins ?? spinBudget('adaptive');
/** Payloads up to this size are copied word by word by the relay; larger ones with TypedArray.set (as the hardware does). */
const WORD_COPY_LIMIT = 256;

function waitForGo(): void {
  while (Atomics.load(control, CONTROL_GO) === 0) Atomics.wait(control, CONTROL_GO, 0, WAIT_MS);
}

function stopped(): boolean {
  return Atomics.load(control, CONTROL_STOP) !== 0;
}

function ringOf(ref: RingRef | undefined = input.ring): RingLocation {
  if (ref === undefined) throw new Error(`role ${input.role} needs ${ref === input.ring ? 'a ring' : 'a second ring'}`);
  return attachRing(ref.buffer, ref.base, ref.capacity);
}

function produce(): WorkerResult {
  const producer = new RingProducer(ringOf());
  const { u32 } = producer;
  const { bodyBytes, batch } = input;
  const words = bodyBytes >> 2;
  const copy = input.fill === 'copy';
  const payload = new Uint8Array(bodyBytes).fill(0xa5);
  const { u8 } = producer;
  waitForGo();
  let seq = 0;
  let claimed = 0;
  for (;;) {
    if ((seq & STOP_CHECK_MASK) === 0 && stopped()) break;
    const at = producer.tryClaim(DATA, bodyBytes);
    if (at < 0) {
      if (at === FAULT) throw new Error(`producer: ${producer.faultReason}`);
      producer.publish();
      claimed = 0;
      if (stopped()) break;
      producer.waitForSpace(bodyBytes, spins, WAIT_MS);
      continue;
    }
    const w = at >> 2;
    if (copy) setBytes(u8, payload, at);
    else for (let k = 1; k < words; k++) u32[w + k] = seq + k;
    u32[w] = seq;
    seq++;
    if (++claimed === batch) {
      producer.publish();
      claimed = 0;
    }
  }
  while (producer.tryClaim(END_OF_RUN, 0) < 0) {
    if (producer.faulted) throw new Error(`producer: ${producer.faultReason}`);
    producer.publish();
    producer.waitForSpace(0, spins, WAIT_MS);
  }
  producer.publish();
  return { role: 'producer', messages: seq, seconds: 0, outOfOrder: 0 };
}

function consume(): WorkerResult {
  const consumer = new RingConsumer(ringOf());
  const { u32 } = consumer;
  const { batch } = input;
  const last = (input.bodyBytes >> 2) - 1;
  waitForGo();
  let expected = 0;
  let outOfOrder = 0;
  let sink = 0;
  let unreleased = 0;
  let start = 0;
  for (;;) {
    const type = consumer.poll();
    if (type === EMPTY) {
      consumer.release();
      unreleased = 0;
      consumer.waitForData(spins, WAIT_MS);
      continue;
    }
    if (type === FAULT) throw new Error(`consumer: ${consumer.faultReason}`);
    if (type === END_OF_RUN) break;
    if (expected === 0) start = performance.now();
    const w = consumer.bodyOffset >> 2;
    if (u32[w] !== expected) outOfOrder++;
    sink ^= u32[w + last];
    expected++;
    consumer.consume();
    if (++unreleased === batch) {
      consumer.release();
      unreleased = 0;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  consumer.consume();
  consumer.release();
  // `sink` keeps the payload reads alive; it is never 0.5.
  return { role: 'consumer', messages: expected, seconds, outOfOrder: outOfOrder + (sink === 0.5 ? 1 : 0) };
}

/**
 * The raw relay: consume `ring`, copy each record into `ring2`, with no
 * validation beyond the ring's own. Publishes and releases every `batch`
 * records, and whenever it runs dry or out of space.
 */
function relay(): WorkerResult {
  const src = new RingConsumer(ringOf(input.ring));
  const dst = new RingProducer(ringOf(input.ring2));
  const { batch } = input;
  const s32 = src.u32;
  const d32 = dst.u32;
  waitForGo();
  let moved = 0;
  let pending = 0;
  const flush = (): void => {
    dst.publish();
    src.release();
    pending = 0;
  };
  for (;;) {
    const type = src.poll();
    if (type === EMPTY) {
      flush();
      src.waitForData(spins, WAIT_MS);
      continue;
    }
    if (type === FAULT) throw new Error(`relay: ${src.faultReason}`);
    const bytes = src.bodyBytes;
    const at = dst.tryClaim(type, bytes);
    if (at < 0) {
      if (at === FAULT) throw new Error(`relay: ${dst.faultReason}`);
      flush();
      dst.waitForSpace(bytes, spins, WAIT_MS);
      continue;
    }
    const from = src.bodyOffset;
    if (bytes <= WORD_COPY_LIMIT) {
      const f = from >> 2;
      const t = at >> 2;
      const words = (bytes + 3) >> 2;
      for (let k = 0; k < words; k++) d32[t + k] = s32[f + k];
    } else {
      setBytes(dst.u8, src.u8.subarray(from, from + bytes), at);
    }
    src.consume();
    if (type === END_OF_RUN) break;
    moved++;
    if (++pending === batch) flush();
  }
  flush();
  return { role: 'relay', messages: moved, seconds: 0, outOfOrder: 0 };
}

function portOf(): MessagePort {
  if (input.port === undefined) throw new Error(`role ${input.role} needs a port`);
  return input.port;
}

function send(): Promise<WorkerResult> {
  const port = portOf();
  const message = new Uint8Array(input.bodyBytes);
  let credits = WINDOW;
  let seq = 0;
  let done = false;
  return new Promise((resolve) => {
    const pump = (): void => {
      while (credits > 0) {
        if ((seq & STOP_CHECK_MASK) === 0 && stopped()) {
          if (!done) {
            done = true;
            port.postMessage('end');
            port.close();
            resolve({ role: 'sender', messages: seq, seconds: 0, outOfOrder: 0 });
          }
          return;
        }
        message[0] = seq;
        message[1] = seq >>> 8;
        message[2] = seq >>> 16;
        message[3] = seq >>> 24;
        port.postMessage(message);
        seq++;
        credits--;
      }
    };
    port.on('message', (granted: number) => {
      credits += granted;
      pump();
    });
    waitForGo();
    pump();
  });
}

function receive(): Promise<WorkerResult> {
  const port = portOf();
  let expected = 0;
  let outOfOrder = 0;
  let start = 0;
  return new Promise((resolve) => {
    port.on('message', (m: Uint8Array | string) => {
      if (typeof m === 'string') {
        const seconds = (performance.now() - start) / 1000;
        port.close();
        resolve({ role: 'receiver', messages: expected, seconds, outOfOrder });
        return;
      }
      if (expected === 0) start = performance.now();
      if ((m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24)) >>> 0 !== expected >>> 0) outOfOrder++;
      expected++;
      if (expected % CREDIT_EVERY === 0) port.postMessage(CREDIT_EVERY);
    });
    waitForGo();
  });
}

async function run(): Promise<WorkerResult> {
  switch (input.role) {
    case 'producer':
      return produce();
    case 'consumer':
      return consume();
    case 'sender':
      return send();
    case 'receiver':
      return receive();
    case 'relay':
      return relay();
  }
}

if (parentPort !== null) {
  const port = parentPort;
  port.postMessage('ready');
  port.postMessage(await run());
}
