/**
 * The link's frame reader against the link's frame writer, byte-exact, whatever the socket's read
 * boundaries: frames split across reads are joined (only they are copied), the rest of a read is
 * read in place after them, without losing, repeating or reordering a message.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DELIVERED, LinkReader, NO_RUN, type FrameSink } from '../../src/hardware/link/link-reader.js';
import { LinkWriter } from '../../src/hardware/link/link-writer.js';
import {
  ACK_MAX_ENTRIES,
  AckFrame,
  CloseFrame,
  DataFrame,
  DataMessage,
  Frame,
  FrameType,
  maxFrameBytes,
  messageBytes,
} from '../../src/shared/link-frames.js';

const MAX_MESSAGE = 5000;

interface Sent {
  channel: number;
  sequence: number;
  payload: Uint8Array;
}

interface Received extends Sent {
  key: number[];
  source: number;
}

/** The writer's bytes for these messages (each message keyed by its channel), in as many batches as it takes. */
function framesOf(messages: readonly Sent[]): Uint8Array {
  const writer = new LinkWriter(Math.max(512 * 1024, 2 * maxFrameBytes(MAX_MESSAGE)));
  const source = new Uint8Array(MAX_MESSAGE + 8);
  const source32 = new Uint32Array(source.buffer);
  const out: Uint8Array[] = [];
  let previous: Sent | undefined;
  for (const m of messages) {
    source.set(m.payload, 8);
    // A message that follows the last one on its channel goes as the engine's run sends it: next(),
    // and message() only when next() declines (the frame is full, the batch is).
    const follows = previous !== undefined && previous.channel === m.channel && m.sequence === ((previous.sequence + 1) >>> 0);
    previous = m;
    if (follows && writer.next(source, source32, 8, m.payload.length)) continue;
    const args = [m.channel, 7, m.sequence, m.channel, 2, 3, 4, source, source32, 8, m.payload.length] as const;
    if (!writer.message(...args)) {
      out.push(writer.take()!.slice());
      expect(writer.message(...args)).toBe(true);
    }
  }
  const last = writer.take();
  if (last !== undefined) out.push(last.slice());
  return Buffer.concat(out);
}

/**
 * A sink that records messages (copying them: their bytes are valid only during the call), numbering
 * each from its run's stamp as the receive stage does. `refuse` names the channels whose runs it
 * refuses (as a run that does not verify).
 */
function recorder(
  refuse: ReadonlySet<number> = new Set(),
): FrameSink & { got: Received[]; calls: number; runs: number; booked: number } {
  const got: Received[] = [];
  let run = { channel: 0, source: 0, sequence: 0, key: [0, 0, 0, 0] };
  /** Delivered and not yet booked through delivered(), which must come for the run's entry before the next run. */
  let unbooked = { messages: 0, bytes: 0 };
  const sink = {
    got,
    calls: 0,
    runs: 0,
    booked: 0,
    run(channel: number, source: number, sequence: number, k0: number, k1: number, k2: number, k3: number): number {
      // A run is verified again only after what came before it was booked (its sequence depends on it).
      expect(unbooked.messages).toBe(0);
      sink.runs++;
      if (refuse.has(channel)) return NO_RUN;
      run = { channel, source, sequence, key: [k0, k1, k2, k3] };
      return 1000 + channel;
    },
    message(entry: number, buf: Uint8Array, words: Uint32Array, at: number, bytes: number): number {
      // `words` views the same memory from the same start as `buf`, and the entry is the run's.
      expect(words.buffer).toBe(buf.buffer);
      expect(entry).toBe(1000 + run.channel);
      sink.calls++;
      got.push({ channel: run.channel, sequence: run.sequence, source: run.source, key: run.key, payload: buf.slice(at, at + bytes) });
      // Sequences wrap at 2^32, as the receive stage's do.
      run.sequence = (run.sequence + 1) >>> 0;
      unbooked = { messages: unbooked.messages + 1, bytes: unbooked.bytes + bytes };
      return DELIVERED;
    },
    delivered(entry: number): void {
      expect(entry).toBe(1000 + run.channel);
      sink.booked += unbooked.messages;
      unbooked = { messages: 0, bytes: 0 };
    },
    ack() {},
    close() {},
    connect() {},
    connectOk() {},
    connectRefused() {},
    violation(kind: string) {
      throw new Error(`violation ${kind} from an honest writer`);
    },
    fatal(why: string) {
      throw new Error(`fatal: ${why}`);
    },
    frameReceived() {},
  };
  return sink;
}

/** Push `bytes` in reads of the given sizes (cycled). */
function readAll(reader: LinkReader, bytes: Uint8Array, sizes: readonly number[]): void {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = Math.min(sizes[i % sizes.length], bytes.length - at);
    // A fresh buffer per read, as the socket gives: nothing may rely on reads sharing memory.
    reader.push(bytes.slice(at, at + n));
    at += n;
  }
}

const message = fc.record({
  channel: fc.integer({ min: 1, max: 5 }),
  size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 3900, max: MAX_MESSAGE })),
  seed: fc.integer({ min: 0, max: 255 }),
});

function sentFrom(specs: ReadonlyArray<{ channel: number; size: number; seed: number }>): Sent[] {
  return specs.map((s, i) => ({
    channel: s.channel,
    sequence: i + 1,
    payload: Uint8Array.from({ length: s.size }, (_, j) => (s.seed + j * 13) & 0xff),
  }));
}

describe('LinkReader', () => {
  it('delivers every message exactly once, in order and byte-exact, whatever the read boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 8 }),
        (specs, sizes) => {
          const sent = sentFrom(specs);
          const sink = recorder();
          readAll(new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), MAX_MESSAGE), framesOf(sent), sizes);
          expect(sink.got.map((m) => m.sequence)).toEqual(sent.map((m) => m.sequence));
          expect(sink.booked).toBe(sent.length);
          sink.got.forEach((m, i) => {
            expect(m.channel).toBe(sent[i].channel);
            expect(m.source).toBe(7);
            expect(m.key).toEqual([sent[i].channel, 2, 3, 4]);
            expect(Buffer.from(m.payload).equals(Buffer.from(sent[i].payload))).toBe(true);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads in TLS-record-sized pieces: 4 KiB messages one per frame, frames split at every record boundary', () => {
    const sent = sentFrom(Array.from({ length: 200 }, (_, i) => ({ channel: 1 + (i % 3), size: 4096, seed: i })));
    const bytes = framesOf(sent);
    const sink = recorder();
    readAll(new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), MAX_MESSAGE), bytes, [16_384]);
    expect(sink.got).toHaveLength(200);
    expect(sink.got.map((m) => m.sequence)).toEqual(sent.map((m) => m.sequence));
    expect(sink.got.every((m, i) => Buffer.from(m.payload).equals(Buffer.from(sent[i].payload)))).toBe(true);
    expect(sink.calls).toBe(200);
    expect(sink.booked).toBe(200);
  });

  it('writes one DATA frame per run: the stamp once for consecutive messages of one channel', () => {
    const sizes = [64, 64, 64, 64, 64];
    const channels = [1, 1, 1, 2, 1];
    const sent = sentFrom(sizes.map((size, i) => ({ channel: channels[i], size, seed: i })));
    // Channel 1's fifth message skips a sequence: a new run, as after a channel change.
    sent[4].sequence = 9;
    const bytes = framesOf(sent);
    // Runs: [1,2,3] on channel 1, [4] on channel 2, [9] on channel 1.
    expect(bytes.length).toBe(3 * DataFrame.FIRST_MESSAGE_OFFSET + 5 * messageBytes(64));
    const sink = recorder();
    readAll(new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), MAX_MESSAGE), bytes, [bytes.length]);
    expect(sink.runs).toBe(3);
    expect(sink.got.map((m) => [m.channel, m.sequence])).toEqual([[1, 1], [1, 2], [1, 3], [2, 4], [1, 9]]);
  });

  it("next() writes what message() would for the run's next message, and declines once anything else came after the run", () => {
    const source = new Uint8Array(DataFrame.TARGET_BYTES);
    const source32 = new Uint32Array(source.buffer);
    for (let i = 0; i < source.length; i++) source[i] = (i * 7 + 3) & 0xff;
    const send = (w: LinkWriter, sequence: number, bytes: number) => w.message(5, 7, sequence, 1, 2, 3, 4, source, source32, 8, bytes);
    // 24 messages of assorted sizes: the same bytes through message() alone and through message() then next().
    const sizes = Array.from({ length: 24 }, (_, i) => [0, 3, 64, 200, 1000][i % 5]);
    const alone = new LinkWriter(64 * 1024);
    sizes.forEach((bytes, i) => expect(send(alone, 10 + i, bytes)).toBe(true));
    const aloneBytes = Buffer.from(alone.take()!);
    const run = new LinkWriter(64 * 1024);
    let declined = 0;
    sizes.forEach((bytes, i) => {
      if (i > 0 && run.next(source, source32, 8, bytes)) return;
      if (i > 0) declined++;
      expect(send(run, 10 + i, bytes)).toBe(true);
    });
    // next() declined exactly where a frame reached its target size: once per frame after the first.
    expect(alone.frames).toBeGreaterThan(1);
    expect(declined).toBe(alone.frames - 1);
    expect(run.messages).toBe(sizes.length);
    expect(Buffer.from(run.take()!)).toEqual(aloneBytes);
    // Nothing open: after a take(), another frame, or at the start, next() declines and writes nothing.
    const w = new LinkWriter(64 * 1024);
    expect(w.next(source, source32, 8, 64)).toBe(false);
    expect(send(w, 1, 64)).toBe(true);
    expect(w.close(9, 9, 0)).toBe(true);
    expect(w.next(source, source32, 8, 64)).toBe(false);
    expect(send(w, 2, 64)).toBe(true);
    const before = w.bytes;
    w.take();
    expect(w.next(source, source32, 8, 64)).toBe(false);
    expect(w.bytes).toBe(0);
    expect(before).toBe(2 * (DataFrame.FIRST_MESSAGE_OFFSET + messageBytes(64)) + CloseFrame.BYTES);
  });

  it('next() declines at a full batch as message() does, and the batch still takes a CLOSE and an ACK', () => {
    const source = new Uint8Array(512);
    const source32 = new Uint32Array(source.buffer);
    for (let i = 0; i < source.length; i++) source[i] = (i * 5 + 1) & 0xff;
    // Room for one frame at its target size and some of a second before the control reserve.
    const capacity = DataFrame.TARGET_BYTES + 4096 + 1024;
    const run = new LinkWriter(capacity);
    const alone = new LinkWriter(capacity);
    let sequence = 1;
    let full = false;
    while (!full) {
      const took = alone.message(5, 7, sequence, 1, 2, 3, 4, source, source32, 8, 200);
      // A message that does not fit goes nowhere: next() and message() both decline it.
      const next = run.next(source, source32, 8, 200);
      expect(next || run.message(5, 7, sequence, 1, 2, 3, 4, source, source32, 8, 200)).toBe(took);
      full = !took;
      sequence++;
    }
    expect(alone.messages).toBeGreaterThan(DataFrame.TARGET_BYTES / messageBytes(200));
    expect(run.bytes).toBe(alone.bytes);
    expect(run.bytes).toBeGreaterThan(capacity - 4096 - messageBytes(200));
    expect(run.close(9, 9, 0)).toBe(true);
    expect(run.ack([3, 4, 5], 0)).toBe(1);
    expect(alone.close(9, 9, 0)).toBe(true);
    expect(alone.ack([3, 4, 5], 0)).toBe(1);
    expect(Buffer.from(run.take()!)).toEqual(Buffer.from(alone.take()!));
  });

  it('starts a new DATA frame when the stamp changes under one channel id (ids are the peer\'s choice)', () => {
    // Two of our ends (partition 1 under key A, partition 2 under key B) given one id by a hostile
    // peer: each message must leave under its own stamp, even when the sequences follow on. The
    // writer compares with the frame's own header words: each of them (a key word, the source
    // partition, the sequence the frame's next message must have) starts a new frame on its own.
    const writer = new LinkWriter(512 * 1024);
    const source = new Uint8Array(64);
    const source32 = new Uint32Array(source.buffer);
    const A = [0xa, 0xa, 0xa, 0xa];
    const B = [0xb, 0xb, 0xb, 0xb];
    const messages: Array<[source: number, sequence: number, key: number[]]> = [
      [1, 5, A],
      [2, 6, B],
      // One key word at a time.
      [2, 7, [0xc, 0xb, 0xb, 0xb]],
      [2, 8, [0xc, 0xc, 0xb, 0xb]],
      [2, 9, [0xc, 0xc, 0xc, 0xb]],
      [2, 10, [0xc, 0xc, 0xc, 0xc]],
      // The source partition alone.
      [3, 11, [0xc, 0xc, 0xc, 0xc]],
      // The sequence alone: a gap, then one that follows on (joins).
      [3, 13, [0xc, 0xc, 0xc, 0xc]],
      [3, 14, [0xc, 0xc, 0xc, 0xc]],
      // A gap to the last sequence before the wrap, then the wrap itself (joins).
      [3, 0xffff_ffff, [0xc, 0xc, 0xc, 0xc]],
      [3, 0, [0xc, 0xc, 0xc, 0xc]],
    ];
    for (const [from, sequence, [k0, k1, k2, k3]] of messages) expect(writer.message(77, from, sequence, k0, k1, k2, k3, source, source32, 8, 16)).toBe(true);
    const bytes = writer.take()!.slice();
    expect(bytes.length).toBe(9 * DataFrame.FIRST_MESSAGE_OFFSET + messages.length * messageBytes(16));
    const sink = recorder();
    readAll(new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), MAX_MESSAGE), bytes, [bytes.length]);
    expect(sink.runs).toBe(9);
    expect(sink.got.map((m) => [m.source, m.sequence, m.key])).toEqual(messages);
  });

  it('drops the whole frame of a run that does not verify, and reads the next frame', () => {
    const sent = sentFrom([1, 1, 2, 2, 3].map((channel, i) => ({ channel, size: 40, seed: i })));
    const sink = recorder(new Set([2]));
    readAll(new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), MAX_MESSAGE), framesOf(sent), [7, 300]);
    expect(sink.runs).toBe(3);
    expect(sink.got.map((m) => [m.channel, m.sequence])).toEqual([[1, 1], [1, 2], [3, 5]]);
    expect(sink.calls).toBe(3);
  });

  it('drops the rest of a run at a payload over the node\'s bound (badLength), and reads the next frame', () => {
    const sent = sentFrom([
      { channel: 1, size: 40, seed: 1 },
      { channel: 1, size: 200, seed: 2 },
      { channel: 1, size: 40, seed: 3 },
      { channel: 2, size: 40, seed: 4 },
    ]);
    const kinds: string[] = [];
    const sink = { ...recorder(), violation: (kind: string) => kinds.push(kind) };
    readAll(new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), 100), framesOf(sent), [1000]);
    expect(kinds).toEqual(['badLength']);
    expect(sink.got.map((m) => [m.channel, m.sequence])).toEqual([[1, 1], [2, 4]]);
  });

  it('keeps ACK frames under the frame bound however many channels are owed', () => {
    const writer = new LinkWriter(512 * 1024);
    const pairs = Array.from({ length: 3 * ACK_MAX_ENTRIES + 5 }, (_, i) => [i + 1, i * 3, i * 104]).flat();
    let done = 0;
    const frames: number[] = [];
    while (done < pairs.length / 3) {
      const n = writer.ack(pairs, done);
      expect(n).toBeGreaterThan(0);
      frames.push(n);
      done += n;
    }
    expect(frames).toEqual([ACK_MAX_ENTRIES, ACK_MAX_ENTRIES, ACK_MAX_ENTRIES, 5]);
    const acked: number[] = [];
    const sink = { ...recorder(), ack: (channel: number, sequence: number, window: number) => acked.push(channel, sequence, window) };
    const reader = new LinkReader(sink, maxFrameBytes(64), 64);
    reader.push(writer.take()!.slice());
    expect(acked).toEqual(pairs);
    expect(maxFrameBytes(64)).toBeGreaterThan(DataFrame.TARGET_BYTES);
  });

  it('writes every frame a multiple of 8 bytes long and every payload 8-aligned in the stream', () => {
    // V8 copies shared memory 8 bytes at a time only between equal alignments: a payload off
    // 8-alignment in the socket's buffer would be copied into its ring one byte at a time.
    const sizes = [0, 1, 3, 4, 5, 63, 64, 65, 255, 256, 257, 300, 4095, 4096, 4097];
    const stream = Buffer.concat([
      framesOf(sentFrom(sizes.map((size, i) => ({ channel: 1 + (i % 3), size, seed: i })))),
      (() => {
        const w = new LinkWriter(64 * 1024);
        w.heartbeat();
        w.connect({ request: 1, key: [1, 2, 3, 4], sourcePartition: 1, sourceProcess: 2, destinationPartition: 3, destinationService: 4, sourceChannel: 5, window: 1 << 20, maxMessage: 64 * 1024 });
        w.connectOk(1, 2, 3, 1 << 20, 64 * 1024);
        w.connectRefused(1, 2);
        w.close(1, 2, 0);
        w.ack([1, 2, 3, 4, 5, 6], 0);
        return w.take()!.slice();
      })(),
    ]);
    const v = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
    const types = new Set<number>();
    let payloads = 0;
    for (let at = 0; at < stream.length; ) {
      const frameBytes = v.getUint32(at, true) + Frame.LENGTH_WORD_BYTES;
      const type = v.getUint8(at + Frame.TYPE_OFFSET);
      types.add(type);
      expect(frameBytes % 8).toBe(0);
      if (type === FrameType.DATA) {
        let m = at + DataFrame.FIRST_MESSAGE_OFFSET;
        for (let n = v.getUint32(at + DataFrame.COUNT_OFFSET, true); n > 0; n--) {
          expect((m + DataMessage.HEADER_BYTES) % 8).toBe(0);
          m += messageBytes(v.getUint32(m, true));
          payloads++;
        }
        expect(m).toBe(at + frameBytes);
      }
      at += frameBytes;
    }
    expect(payloads).toBe(sizes.length);
    expect(types.size).toBe(7);
  });

  it('leaves no old byte of a reused batch buffer in a reserved field or in padding', () => {
    // The writer reuses its batch buffers (give()): fill one with 0xff, as an earlier batch's
    // payloads could have left it, and write every kind of frame over it.
    const w = new LinkWriter(64 * 1024);
    const source = new Uint8Array(1024).fill(0x11);
    const source32 = new Uint32Array(source.buffer);
    w.heartbeat();
    const first = w.take()!;
    new Uint8Array(first.buffer).fill(0xff);
    w.give(first);
    w.heartbeat();
    w.give(w.take()!); // the buffer filled next is the one full of 0xff
    const sizes = [1, 3, 5, 7, 300, 513];
    sizes.forEach((size, i) => expect(w.message(1 + (i % 2), 7, 1 + (i >> 1), 1, 2, 3, 4, source, source32, 8, size)).toBe(true));
    w.connect({ request: 1, key: [1, 2, 3, 4], sourcePartition: 1, sourceProcess: 2, destinationPartition: 3, destinationService: 4, sourceChannel: 5, window: 1 << 20, maxMessage: 64 * 1024 });
    w.connectOk(1, 2, 3, 1 << 20, 64 * 1024);
    w.connectRefused(1, 2);
    w.close(1, 2, 0);
    w.ack([1, 2, 3, 4, 5, 6], 0);
    const batch = w.take()!.slice();
    // The recorder throws at any violation: every reserved field reads zero.
    const sink = recorder();
    readAll(new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), MAX_MESSAGE), batch, [batch.length]);
    expect(sink.got.map((m) => m.payload.length)).toEqual(sizes);
    // And every padding byte after a payload is zero.
    const v = new DataView(batch.buffer);
    let padding = 0;
    for (let at = 0; at < batch.length; at += v.getUint32(at, true) + Frame.LENGTH_WORD_BYTES) {
      if (v.getUint8(at + Frame.TYPE_OFFSET) !== FrameType.DATA) continue;
      let m = at + DataFrame.FIRST_MESSAGE_OFFSET;
      for (let n = v.getUint32(at + DataFrame.COUNT_OFFSET, true); n > 0; n--) {
        const bytes = v.getUint32(m, true);
        for (let i = m + DataMessage.HEADER_BYTES + bytes; i < m + messageBytes(bytes); i++, padding++) expect(batch[i]).toBe(0);
        m += messageBytes(bytes);
      }
    }
    expect(padding).toBeGreaterThan(0);
  });

  it('counts a nonzero reserved field as a bad frame and takes nothing from it on', () => {
    // A run of three on channel 1 whose second message's reserved word is set, then channel 2.
    const stream = framesOf(sentFrom([1, 1, 1, 2].map((channel, i) => ({ channel, size: 24, seed: i }))));
    const v = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
    const second = DataFrame.FIRST_MESSAGE_OFFSET + messageBytes(24);
    v.setUint32(second + DataMessage.RESERVED_OFFSET, 1, true);
    const kinds: string[] = [];
    const sink = { ...recorder(), violation: (kind: string) => kinds.push(kind) };
    readAll(new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), MAX_MESSAGE), stream, [1000]);
    expect(kinds).toEqual(['badFrame']);
    expect(sink.got.map((m) => [m.channel, m.sequence])).toEqual([[1, 1], [2, 4]]);

    // CLOSE and ACK with their reserved word set: each counted, none acted on.
    const w = new LinkWriter(64 * 1024);
    w.close(4, 5, 0);
    w.ack([6, 7, 8], 0);
    const control = w.take()!.slice();
    const cv = new DataView(control.buffer);
    const closeBytes = cv.getUint32(0, true) + Frame.LENGTH_WORD_BYTES;
    cv.setUint32(CloseFrame.RESERVED_OFFSET, 9, true);
    cv.setUint32(closeBytes + AckFrame.RESERVED_OFFSET, 9, true);
    const acted: string[] = [];
    const bad: string[] = [];
    const controlSink = {
      ...recorder(),
      connectOk: () => acted.push('connectOk'),
      close: () => acted.push('close'),
      ack: () => acted.push('ack'),
      violation: (kind: string) => bad.push(kind),
    };
    new LinkReader(controlSink, maxFrameBytes(64), 64).push(control);
    expect(bad).toEqual(['badFrame', 'badFrame']);
    expect(acted).toEqual([]);

    // An ACK entry's own reserved word set: counted, and neither it nor the entries after it acted on.
    const a = new LinkWriter(64 * 1024);
    a.ack([1, 2, 3, 4, 5, 6], 0);
    const acks = a.take()!.slice();
    new DataView(acks.buffer).setUint32(AckFrame.FIRST_ENTRY_OFFSET + AckFrame.ENTRY_RESERVED_OFFSET, 1, true);
    bad.length = 0;
    new LinkReader(controlSink, maxFrameBytes(64), 64).push(acks);
    expect(bad).toEqual(['badFrame']);
    expect(acted).toEqual([]);
  });
});
