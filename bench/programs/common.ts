/**
 * Helpers the bench programs share. Programs run inside partition workers,
 * are compiled to dist/bench/programs/*.js, and talk only through channels:
 * no program shares memory with another partition, not even for timing.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Channel, Process, WaitMode } from '../../src/index.js';
import { spinBudget } from '../../src/internal.js';

/** How a receive loop waits when nothing is ready. */
export interface ReceiveOptions {
  /** Synchronous tryRecvInto() polls before an await (spin: many; adaptive: a few; sleep: none). */
  readonly pollSpins: number;
}

/** The machine's own budget for the mode (short on a machine with few cores), so programs poll as the library does. */
export function pollSpinsFor(wait: WaitMode): number {
  return spinBudget(wait);
}

/** A receive buffer any message fits (the receive calls that copy into it allocate nothing). */
export function receiveBuffer(ch: Channel): Uint8Array {
  return new Uint8Array(ch.maxMessageBytes);
}

/**
 * The next message copied into `buffer`, polling synchronously for a while before it awaits;
 * its length, or -1 at a clean end of stream.
 */
export async function nextMessageInto(ch: Channel, buffer: Uint8Array, pollSpins: number): Promise<number> {
  let n = ch.tryRecvInto(buffer);
  for (let i = 0; n === undefined && i < pollSpins; i++) n = ch.tryRecvInto(buffer);
  if (n !== undefined) return n;
  try {
    return await ch.recvInto(buffer);
  } catch (e) {
    if ((e as { code?: string }).code === 'ECLOSED') return -1;
    throw e;
  }
}

/** nextMessageInto() blocking the thread while it waits (recvIntoSync): the length, or -1 at a clean end. */
export function nextMessageIntoSync(ch: Channel, buffer: Uint8Array): number {
  try {
    return ch.recvIntoSync(buffer) as number;
  } catch (e) {
    if ((e as { code?: string }).code === 'ECLOSED') return -1;
    throw e;
  }
}

/**
 * One message handed to `visit` in place (drainBytes with max 1), polling synchronously for a while
 * before it awaits; false at a clean end of stream.
 */
export async function nextInPlace(ch: Channel, visit: (bytes: Uint8Array, offset: number, length: number) => void, pollSpins: number): Promise<boolean> {
  for (let i = 0; i <= pollSpins; i++) if (ch.drainBytes(visit, 1) === 1) return true;
  for (;;) {
    if (!(await ch.readable())) return false;
    if (ch.drainBytes(visit, 1) === 1) return true;
  }
}

/**
 * Counts messages and bytes; `seconds` runs from the first message counted, or, with `warmupMs`,
 * from the end of that warm-up: what arrived in the first `warmupMs` after the first message is
 * not counted (when the stream ends sooner, all of it is). The time is looked at every
 * WARM_CHECK_EVERY messages, not per message.
 */
export class Tally {
  messages = 0;
  bytes = 0;
  first = 0;
  private sink = 0;
  private warming: boolean;
  /** Messages, bytes and time where the warm-up ended. */
  private fromMessages = 0;
  private fromBytes = 0;
  private from = 0;

  constructor(private readonly warmupMs = 0) {
    this.warming = warmupMs > 0;
  }

  /** For drainBytes() and buffers filled by recvInto(): the message is bytes[offset, offset + length). */
  readonly count = (bytes: Uint8Array, offset: number, length: number): void => {
    if (this.messages === 0) this.first = performance.now();
    this.messages++;
    this.bytes += length;
    this.sink ^= bytes[offset];
    if (this.warming && (this.messages & (WARM_CHECK_EVERY - 1)) === 0) this.checkWarm();
  };

  /**
   * Messages the caller counted itself in one go (a socket read's worth: the raw TLS baseline),
   * with one payload byte it read, `sample`; the clock is looked at once for them.
   */
  addRead(messages: number, bytes: number, sample: number): void {
    if (this.first === 0) this.first = performance.now();
    this.messages += messages;
    this.bytes += bytes;
    this.sink ^= sample;
    if (this.warming) this.checkWarm();
  }

  private checkWarm(): void {
    const now = performance.now();
    if (now - this.first < this.warmupMs) return;
    this.warming = false;
    this.from = now;
    this.fromMessages = this.messages;
    this.fromBytes = this.bytes;
  }

  result(): ReceiveTally {
    // `sink` keeps the payload reads alive; it is never 0.5.
    const warmed = !this.warming && this.from > 0;
    return {
      messages: this.messages - (warmed ? this.fromMessages : 0),
      bytes: this.bytes - (warmed ? this.fromBytes : 0) + (this.sink === 0.5 ? 1 : 0),
      seconds: (performance.now() - (warmed ? this.from : this.first)) / 1000,
    };
  }
}

/** How often (in messages, a power of two) a warming Tally reads the clock. */
const WARM_CHECK_EVERY = 256;

/** Send one message, waiting for ring space when the ring is full. */
export async function sendOne(ch: Channel, m: Uint8Array): Promise<void> {
  try {
    ch.send(m);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EAGAIN') throw e;
    await ch.write(m);
  }
}

/**
 * Connect, retrying while the peer has not started listening yet, or (with `node`, another
 * node's partition) while the link to that node is not up yet.
 */
export async function connectRetry(proc: Process, partition: number, port: number, timeoutMs = 20_000, node?: number): Promise<Channel> {
  const deadline = performance.now() + timeoutMs;
  const target = node === undefined ? { partition, port } : { node, partition, port };
  for (;;) {
    try {
      return await proc.connect(target);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const notYet = code === 'ECONNREFUSED' || (node !== undefined && code === 'ELINKDOWN');
      if (!notYet || performance.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

/** A payload of `size` bytes with a recognisable pattern. */
export function payload(size: number): Uint8Array {
  const m = new Uint8Array(size);
  for (let i = 0; i < size; i++) m[i] = (i * 31 + 7) & 0xff;
  return m;
}

/**
 * Stream for `durationMs`: batched (sendBatch of `batch` messages, publish
 * once) or per message (send(), publish each). Returns messages sent.
 */
export async function streamFor(ch: Channel, size: number, batch: number, durationMs: number, awaitEach = false): Promise<number> {
  const m = payload(size);
  const end = performance.now() + durationMs;
  let sent = 0;
  if (awaitEach) {
    // As an async program writes: an awaited write() per message, whether the ring has room or not.
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) await ch.write(m);
      sent += 64;
    }
  } else if (batch <= 1) {
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) {
        try {
          ch.send(m);
          sent++;
        } catch (e) {
          if ((e as { code?: string }).code !== 'EAGAIN') throw e;
          await ch.write(m);
          sent++;
          break;
        }
      }
    }
  } else {
    const msgs = new Array<Uint8Array>(batch).fill(m);
    while (performance.now() < end) {
      const n = ch.sendBatch(msgs);
      sent += n;
      if (n < batch) {
        await ch.write(m);
        sent++;
      }
    }
  }
  return sent;
}

/** What a receiving program reports: messages and bytes, from its first message to the end of the last stream. */
export interface ReceiveTally {
  messages: number;
  bytes: number;
  seconds: number;
}

/**
 * How a receiver reads: 'drain', every ready message per call, in place; 'recv', one message per
 * call, in place; 'iterate', `for await (const m of ch)`, as an async program reads (a message it
 * keeps, one at a time).
 */
export type ReceiveMode = 'drain' | 'recv' | 'iterate';

/**
 * Receive on every channel until all of them end. 'drain' and 'recv' use the receive calls that
 * allocate nothing and read each message in place, as the raw relay's consumer does: every ready
 * message per call (drainBytes), or one per call (drainBytes with max 1). 'iterate' reads as an
 * async program does, with `for await`, a message view per message. Copying receives (recvInto)
 * are measured by the micro suite and the echo pair. `warmupMs`: see Tally.
 */
export async function receiveAll(channels: Channel[], mode: ReceiveMode, pollSpins: number, warmupMs = 0): Promise<ReceiveTally> {
  const t = new Tally(warmupMs);
  if (channels.length === 0) return t.result();
  if (mode === 'iterate') {
    await Promise.all(
      channels.map(async (ch) => {
        for await (const m of ch) t.count(m, 0, m.length);
      }),
    );
    return t.result();
  }
  if (channels.length === 1 && mode === 'recv') {
    const ch = channels[0];
    // One message per drainBytes call, in a plain loop while messages are there, as the raw
    // relay's consumer reads one record per poll: a promise only when none is ready. (An await
    // per message, as before, cost the receiver ~80 ns a message that no baseline paid.)
    for (;;) {
      while (ch.drainBytes(t.count, 1) === 1);
      if (!(await nextInPlace(ch, t.count, pollSpins))) return t.result();
    }
  }
  let open = channels.slice();
  while (open.length > 0) {
    let got = 0;
    for (let spin = 0; got === 0 && spin <= pollSpins; spin++) {
      for (const ch of open) {
        if (mode === 'drain') got += ch.drainBytes(t.count);
        else while (ch.drainBytes(t.count, 1) === 1) got++;
      }
    }
    if (got === 0) open = await whileAnyReadable(open);
    else if (open.length > 1) await yieldToEventLoop();
  }
  return t.result();
}

/** Wait until one of the channels is readable; returns the channels still open. */
export async function whileAnyReadable(open: Channel[]): Promise<Channel[]> {
  const ready = await Promise.race(open.map((ch) => ch.readable().then((r) => ({ ch, r }))));
  return ready.r ? open : open.filter((ch) => ch !== ready.ch);
}

export { timeEach, type LatencySummary } from '../latency-stats.js';
