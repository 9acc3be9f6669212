/**
 * The link's receive stage as a hostile peer meets it, in one thread: the real LinkReader and
 * LinkedChannels over a real Hardware (tables, key table, engine, receive rings), two links
 * sharing the one LinkedChannels, and receivers reading with Channel.tryRecv. Random streams of
 * DATA frames (honest runs, and forged ones: a wrong key, source partition or sequence, another
 * link's channel, a channel id naming nothing, counts and payload lengths that lie, a payload
 * over the node's bound), pushed in random pieces placed at random offsets of larger buffers
 * full of other bytes, with receive rings small enough that messages are often kept aside
 * for a full ring (KeptMessages) and go on arriving behind them. Exactly the messages of verified
 * runs reach exactly their channel, in order and byte-exact; every forged frame is counted once,
 * by kind, on the link it came over; ACKs owed (sequence and window) and messages counted match
 * what was delivered. Then: messages kept for a channel that closes meanwhile, its entry reused by
 * the same node, deliver nothing to the new channel; a full ring holds back only its own channel;
 * a peer past a channel's window loses that channel (ENOBUFS); a peer's CLOSE waits behind what
 * was kept; the send stage stops at a closed window and goes on at the ACK that opens it; a run of SENDs on remote ends (the engine's sendRemoteRun) hands
 * each to its own channel's link, in order, and leaves anything else to the general path's
 * answer; and a SEND on a remote end whose lookups the engine keeps never
 * reaches a link once that end closed, its peer closed it, or its link went down and came back
 * (forgetChannelCache, which moves the lookups' generation, in closeEnd and endByPeer); and a peer's CLOSE or a link down counts the
 * input before the END it publishes (processed() in LinkedChannels.close and linkDown), as an
 * engine round does before its serves publish (LinkedChannels.poll).
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { CONNECTING, NO_ENTRY } from '../../src/hardware/channel-state-table.js';
import { Hardware } from '../../src/hardware/hardware.js';
import { QueuePairState } from '../../src/hardware/partition-port.js';
import { LinkReader, type FrameSink } from '../../src/hardware/link/link-reader.js';
import { KeptMessages } from '../../src/hardware/kept-messages.js';
import type { LinkCounters } from '../../src/hardware/link/link-counters.js';
import { LinkedChannels } from '../../src/hardware/link/linked-channels.js';
import type { NodeLink } from '../../src/hardware/link/node-link.js';
import { resolveOptions } from '../../src/options.js';
import { Channel } from '../../src/partitions/channel.js';
import { ProcessQueuePair } from '../../src/partitions/queue-pair.js';
import { Status } from '../../src/shared/errors.js';
import { ConnectionState, CounterSlot, DeliverBody, RecordLayout, RecordType, SendBody } from '../../src/shared/layout.js';
import * as F from '../../src/shared/link-frames.js';
import { takeAnswers } from '../completion-answers.js';
import { queuePairRings } from '../../src/shared/port.js';
import { RingConsumer } from '../../src/shared/ring.js';

const MAX = 96;
/** The window this node grants each channel here: small, so tests pass it quickly. */
const WINDOW = 64 * 1024;
/** The window the other nodes grant (another size: each side honours the one it was granted). */
const PEER_WINDOW = 96 * 1024;
const NODES = [5, 6] as const;
const KINDS = ['keyMismatch', 'unknownChannel', 'wrongSource', 'sequence', 'badLength', 'badFrame', 'window'] as const;
type Kind = (typeof KINDS)[number];

/** A stand-in for NodeLink: what LinkedChannels reads and calls on a link. */
interface FakeLink {
  node: number;
  up: boolean;
  uncounted: number;
  received: number;
  frames: number;
  acks: Map<number, number>;
  /** The window bytes each channel's latest ACK owed says were delivered. */
  windows: Map<number, number>;
  counts: Record<Kind, number>;
  reader: LinkReader;
  counters: { violation(kind: Kind): void; messagesReceived(n: number): void; unacknowledged(n: number): void; kept(bytes: number): void; held(bytes: number): void };
  /** What the counters' keptBytes and heldBytes gauges read. */
  keptBytes: number;
  heldBytes: number;
  excusesLate(channel: number, what: number, amount: number): boolean;
  owe(channel: number, sequence: number, window: number): void;
  /** Send side: the messages and CLOSEs the engine handed this link (channel id at the peer, sequence). */
  sent: Array<[channel: number, sequence: number]>;
  /** Messages the link takes before it answers false (back-pressure: batch full, socket congested). */
  room: number;
  closed: Set<number>;
  /** Every CLOSE the receive stage wrote: (channel id at the peer, ours, status). */
  closes: Array<[channel: number, senderChannel: number, status: number]>;
  message(channel: number, sourcePartition: number, sequence: number): boolean;
  /** The next message of the run message() just took (LinkWriter.next): numbered on from it. */
  next(): boolean;
  /** What message() or next() took last, until a CLOSE or a flush comes in between (as the writer's open DATA frame). */
  last: [channel: number, sequence: number] | undefined;
  /** next() declines every nth call (its frame or batch full) while message() still takes it; 0: never. */
  nextDeclinesEvery: number;
  nextCalls: number;
  messageCalls: number;
  close(channel: number, senderChannel: number, status: number): void;
  flush(): void;
}

interface Chan {
  link: number;
  partition: number;
  source: number;
  entry: number;
  id: number;
  senderId: number;
  key: number[];
  next: number;
  rx: Channel;
  expected: Uint8Array[];
  got: Uint8Array[];
}

function setup({ closeTimeoutMs, ...o }: { budgetPerRound?: number; sendRingBytes?: number; closeTimeoutMs?: number } = {}) {
  const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], wait: 'sleep', receiveRingBytes: 1024, maxMessageBytes: MAX, ...o });
  const hw = new Hardware(options);
  const ports = hw.ports;
  for (const p of ports) {
    hw.manager.openQueuePair(p, 0);
    hw.manager.listen(p, 0, 7);
  }
  const partitionKeyMismatch = [0, 0];
  const partitionViolations: string[] = [];
  hw.counters.onViolation = (p, kind) => {
    if (kind === 'keyMismatch') partitionKeyMismatch[p]++;
    else partitionViolations.push(`${p}:${kind}`);
  };
  const links: FakeLink[] = NODES.map((node) => {
    const link: FakeLink = {
      node,
      up: true,
      uncounted: 0,
      received: 0,
      frames: 0,
      acks: new Map(),
      windows: new Map(),
      counts: { keyMismatch: 0, unknownChannel: 0, wrongSource: 0, sequence: 0, badLength: 0, badFrame: 0, window: 0 },
      reader: undefined as unknown as LinkReader,
      counters: {
        violation: (kind) => link.counts[kind]++,
        messagesReceived: (n) => (link.received += n),
        unacknowledged: () => {},
        kept: (bytes) => (link.keptBytes += bytes),
        held: (bytes) => (link.heldBytes += bytes),
      },
      keptBytes: 0,
      heldBytes: 0,
      excusesLate: (channel) => link.closed.has(channel),
      owe: (channel, sequence, window) => {
        link.acks.set(channel, sequence);
        link.windows.set(channel, window);
      },
      sent: [],
      room: Infinity,
      closed: new Set(),
      message: (channel, _sourcePartition, sequence) => {
        link.messageCalls++;
        if (link.room === 0) return false;
        link.room--;
        link.last = [channel, sequence];
        link.sent.push(link.last);
        return true;
      },
      next: () => {
        link.nextCalls++;
        if (link.nextDeclinesEvery > 0 && link.nextCalls % link.nextDeclinesEvery === 0) return false;
        if (link.room === 0 || link.last === undefined) return false;
        link.room--;
        link.last = [link.last[0], (link.last[1] + 1) >>> 0];
        link.sent.push(link.last);
        return true;
      },
      last: undefined,
      nextDeclinesEvery: 0,
      nextCalls: 0,
      messageCalls: 0,
      closes: [],
      close: (channel, senderChannel, status) => {
        link.closes.push([channel, senderChannel, status]);
        link.last = undefined;
        link.closed.add(senderChannel);
      },
      flush: () => {
        link.last = undefined;
      },
    };
    return link;
  });
  const wakes = { count: 0 };
  const channels = new LinkedChannels(hw.table, hw.keys, hw.engine, hw.counters, new Map(links.map((l) => [l.node, l as unknown as NodeLink])), links as unknown as NodeLink[], () => wakes.count++, WINDOW, hw.engine.keptLimitBytes, closeTimeoutMs ?? 60_000);
  hw.engine.remote = channels;
  for (const link of links) {
    const l = link as unknown as NodeLink;
    const sink: FrameSink = {
      run: (c, s, q, k0, k1, k2, k3) => channels.run(l, c, s, q, k0, k1, k2, k3),
      message: (e, buf, words, at, bytes) => channels.message(l, e, buf, words, at, bytes),
      delivered: (e) => channels.delivered(l, e),
      ack: () => {
        throw new Error('no ACKs here');
      },
      close: () => {
        throw new Error('no CLOSEs here');
      },
      connect: () => {
        throw new Error('no CONNECTs here');
      },
      connectOk: () => {
        throw new Error('no CONNECT_OKs here');
      },
      connectRefused: () => {
        throw new Error('no CONNECT_REFUSEDs here');
      },
      violation: (kind) => link.counters.violation(kind as Kind),
      fatal: (why) => {
        throw new Error(`fatal: ${why}`);
      },
      frameReceived: () => link.frames++,
    };
    link.reader = new LinkReader(sink, F.maxFrameBytes(options.geometry.maxMessageBytes), options.geometry.maxMessageBytes);
  }
  // The partitions' side of each port's queue pair 0 (replaced by reattach() after a reset of it).
  const queuePairs = ports.map((p) => new ProcessQueuePair(p.buffer, options.geometry, 0, options.wait));
  const reattach = (partition: number) => (queuePairs[partition] = new ProcessQueuePair(ports[partition].buffer, options.geometry, 0, options.wait));
  // Link 0 (node 5): a channel into each partition; link 1 (node 6): one into partition 1, whose
  // receive ring it shares with link 0's.
  const specs = [
    { link: 0, partition: 0, source: 1 },
    { link: 0, partition: 1, source: 3 },
    { link: 1, partition: 0, source: 1 },
  ];
  const chans: Chan[] = specs.map((s, i) => {
    const key = [0x1234_5678 + i, 0x9abc_def0 - i, 0x0f0f_0f0f ^ i, 0xcafe_babe + 17 * i].map((k) => k >>> 0);
    const port = ports[s.partition];
    const answer = hw.manager.receiveSideAccept({
      sourceNode: NODES[s.link],
      keyEntry: NO_ENTRY,
      sourceChannel: 100 + i,
      sourceWindow: PEER_WINDOW,
      sourceMaxMessage: 64 * 1024,
      storeKey: (d) => hw.keys.store(d, key[0], key[1], key[2], key[3]),
      sourcePartition: s.source,
      sourceProcess: 1,
      destinationPartition: port.id,
      destinationService: 7,
    });
    if (!answer.ok) throw new Error('accept failed');
    const grant = hw.manager.accept(port, 0, 7);
    if (grant instanceof Promise || !grant.ok) throw new Error('no grant');
    const rx = new Channel(queuePairs[s.partition], grant.handle, { node: NODES[s.link], partition: s.source, process: 1 }, () => {});
    return { ...s, entry: answer.entry, id: hw.table.linkId(answer.entry), senderId: 100 + i, key, next: 1, rx, expected: [], got: [] };
  });
  const accept = (link: number, partition: number, source: number, sourceChannel: number, key: readonly number[], sourceMaxMessage = 64 * 1024) => {
    const answer = hw.manager.receiveSideAccept({
      sourceNode: NODES[link],
      keyEntry: NO_ENTRY,
      sourceChannel,
      sourceWindow: PEER_WINDOW,
      sourceMaxMessage,
      storeKey: (d) => hw.keys.store(d, key[0], key[1], key[2], key[3]),
      sourcePartition: source,
      sourceProcess: 1,
      destinationPartition: ports[partition].id,
      destinationService: 7,
    });
    if (!answer.ok) throw new Error('accept failed');
    const grant = hw.manager.accept(ports[partition], 0, 7);
    if (grant instanceof Promise || !grant.ok) throw new Error('no grant');
    const rx = new Channel(queuePairs[partition], grant.handle, { node: NODES[link], partition: source, process: 1 }, () => {}, grant.maxMessageBytes ?? MAX);
    return { entry: answer.entry, id: hw.table.linkId(answer.entry), rx };
  };
  return { hw, options, channels, links, chans, partitionKeyMismatch, partitionViolations, accept, queuePairs, wakes, reattach };
}

/** A SEND work request written straight into a send ring (not published), as a partition may write one; `flags` other than 0 are refused. */
function writeSend(q: ReturnType<typeof setup>['queuePairs'][number]['sendQueue'], handle: number, bytes: Uint8Array, flags = 0): void {
  const at = q.claim(RecordType.SEND, handle, bytes.length);
  expect(at).toBeGreaterThanOrEqual(0);
  q.ring.u8.set(bytes, at);
  q.ring.u32[(at - SendBody.BYTES + SendBody.FLAGS_OFFSET) >> 2] = flags;
}

function payload(chan: number, sequence: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, j) => (chan * 31 + sequence * 7 + j * 13 + 1) & 0xff);
}

interface DataFields {
  channel: number;
  source: number;
  first: number;
  key: readonly number[];
  payloads: readonly Uint8Array[];
  count?: number;
  /** Length words that lie, by message index. */
  lengths?: ReadonlyMap<number, number>;
}

function dataFrame(f: DataFields): Uint8Array {
  const bytes = F.DataFrame.FIRST_MESSAGE_OFFSET + f.payloads.reduce((n, p) => n + F.messageBytes(p.length), 0);
  const b = new Uint8Array(bytes);
  const v = new DataView(b.buffer);
  F.writeFrameHeader(v, 0, F.FrameType.DATA, bytes);
  v.setUint32(F.DataFrame.CHANNEL_OFFSET, f.channel >>> 0, true);
  v.setUint32(F.DataFrame.SOURCE_PARTITION_OFFSET, f.source >>> 0, true);
  v.setUint32(F.DataFrame.SEQUENCE_OFFSET, f.first >>> 0, true);
  f.key.forEach((k, i) => v.setUint32(F.DataFrame.KEY_OFFSET + 4 * i, k, true));
  v.setUint32(F.DataFrame.COUNT_OFFSET, (f.count ?? f.payloads.length) >>> 0, true);
  let at = F.DataFrame.FIRST_MESSAGE_OFFSET;
  f.payloads.forEach((p, i) => {
    v.setUint32(at + F.DataMessage.PAYLOAD_BYTES_OFFSET, (f.lengths?.get(i) ?? p.length) >>> 0, true);
    b.set(p, at + F.DataMessage.HEADER_BYTES);
    at += F.messageBytes(p.length);
  });
  return b;
}

const FRAME_KINDS = [
  'honest',
  'honest',
  'honest',
  'honest',
  'key',
  'keyAndLengthLie',
  'source',
  'replay',
  'gap',
  'foreign',
  'unknown',
  'count0',
  'countHuge',
  'countLow',
  'countHigh',
  'lengthLie',
  'oversize',
  'heartbeat',
] as const;

const action = fc.record({
  chan: fc.integer({ min: 0, max: 2 }),
  kind: fc.constantFrom(...FRAME_KINDS),
  sizes: fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: MAX })), { minLength: 1, maxLength: 8 }),
  pick: fc.nat({ max: 1 << 20 }),
});

const piece = fc.record({
  link: fc.integer({ min: 0, max: 1 }),
  size: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 700 })),
  offset: fc.integer({ min: 0, max: 7 }),
  drain: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
});

type Action = { chan: number; kind: (typeof FRAME_KINDS)[number]; sizes: number[]; pick: number };

/** The frame for `a`, with the model's expectations updated: what gets delivered, what gets counted where. */
function forge(a: Action, chans: Chan[], streams: Uint8Array[][], counts: Array<Record<Kind, number>>, partitionKeyMismatch: number[]): void {
  const c = chans[a.chan];
  const n = a.sizes.length;
  const first = c.next;
  const payloads = a.sizes.map((size, j) => payload(a.chan, first + j, size));
  const honest: DataFields = { channel: c.id, source: c.source, first, key: c.key, payloads };
  const frameBytes = F.DataFrame.FIRST_MESSAGE_OFFSET + payloads.reduce((s, p) => s + F.messageBytes(p.length), 0);
  const fits = (count: number) => count <= (frameBytes - F.DataFrame.FIRST_MESSAGE_OFFSET) / F.DataMessage.HEADER_BYTES;
  const counted = counts[c.link];
  /** The first `k` messages verify and are delivered. */
  const delivers = (k: number) => {
    c.expected.push(...payloads.slice(0, k));
    c.next += k;
  };
  const flipped = [c.key[0], c.key[1] ^ (1 << a.pick % 32), c.key[2], c.key[3]].map((k) => k >>> 0);
  let frame: Uint8Array;
  switch (a.kind) {
    case 'honest':
      frame = dataFrame(honest);
      delivers(n);
      break;
    case 'key':
      frame = dataFrame({ ...honest, key: flipped });
      counted.keyMismatch++;
      partitionKeyMismatch[c.partition]++;
      break;
    case 'keyAndLengthLie':
      // The run is verified before any length is read: one count, for the key.
      frame = dataFrame({ ...honest, key: flipped, lengths: new Map([[0, 0xffff_ffff]]) });
      counted.keyMismatch++;
      partitionKeyMismatch[c.partition]++;
      break;
    case 'source':
      frame = dataFrame({ ...honest, source: c.source + 1 + (a.pick % 3) });
      counted.wrongSource++;
      break;
    case 'replay':
      frame = dataFrame({ ...honest, first: (first - 1 - (a.pick % 3)) >>> 0 });
      counted.sequence++;
      break;
    case 'gap':
      frame = dataFrame({ ...honest, first: first + 1 + (a.pick % 3) });
      counted.sequence++;
      break;
    case 'foreign': {
      // A live channel of the other link, with its own key and next sequence: not this link's.
      const other = chans.find((o) => o.link !== c.link)!;
      frame = dataFrame({ channel: other.id, source: other.source, first: other.next, key: other.key, payloads });
      counted.wrongSource++;
      break;
    }
    case 'unknown':
      frame = dataFrame({ ...honest, channel: a.pick % 2 === 0 ? (c.id ^ 0x8000_0000) >>> 0 : (c.id + (1 << 20)) >>> 0 });
      counted.unknownChannel++;
      break;
    case 'count0':
      frame = dataFrame({ ...honest, count: 0 });
      counted.badLength++;
      break;
    case 'countHuge':
      frame = dataFrame({ ...honest, count: Math.floor((frameBytes - F.DataFrame.FIRST_MESSAGE_OFFSET) / F.DataMessage.HEADER_BYTES) + 1 + (a.pick % 4000) });
      counted.badLength++;
      break;
    case 'countLow': {
      const k = n < 2 ? 0 : 1 + (a.pick % (n - 1));
      frame = dataFrame({ ...honest, count: k });
      delivers(k);
      counted.badLength++;
      break;
    }
    case 'countHigh':
      frame = dataFrame({ ...honest, count: n + 1 });
      if (fits(n + 1)) delivers(n);
      counted.badLength++;
      break;
    case 'lengthLie': {
      const i = a.pick % n;
      const at = F.DataFrame.FIRST_MESSAGE_OFFSET + payloads.slice(0, i).reduce((s, p) => s + F.messageBytes(p.length), 0);
      const past = frameBytes - at - F.DataMessage.HEADER_BYTES + 1;
      frame = dataFrame({ ...honest, lengths: new Map([[i, a.pick % 2 === 0 ? past : 0xffff_ffff - (a.pick % 7)]]) });
      delivers(i);
      counted.badLength++;
      break;
    }
    case 'oversize': {
      const i = a.pick % n;
      const big = payloads.map((p, j) => (j === i ? payload(a.chan, 0, MAX + 1 + (a.pick % 8)) : p));
      frame = dataFrame({ ...honest, payloads: big });
      delivers(i);
      counted.badLength++;
      break;
    }
    case 'heartbeat':
      frame = new Uint8Array(F.HEARTBEAT_FRAME_BYTES);
      F.writeFrameHeader(new DataView(frame.buffer), 0, F.FrameType.HEARTBEAT, F.HEARTBEAT_FRAME_BYTES);
      break;
  }
  streams[c.link].push(frame);
}

/** One honest DATA frame of `count` messages of MAX bytes on `c` from sequence 1; returns the payloads. */
function pushRun(link: FakeLink, c: Chan, count: number): Uint8Array[] {
  const payloads = Array.from({ length: count }, (_, j) => payload(0, 1 + j, MAX));
  link.reader.push(dataFrame({ channel: c.id, source: c.source, first: 1, key: c.key, payloads }));
  return payloads;
}

/**
 * setup(), then one honest run of `count` messages of MAX bytes on its first channel over link 0,
 * read by the receive stage: more than the 1 KiB ring takes, so the rest is kept aside. `inRing`:
 * how many reached the ring.
 */
function withKept(count: number) {
  const x = setup();
  const [c] = x.chans;
  const link = x.links[0];
  const payloads = pushRun(link, c, count);
  x.channels.processed();
  return { x, c, link, payloads, inRing: x.hw.table.receivedSequence[c.entry] };
}

/** `bytes` at `offset` of a larger buffer whose other bytes are not the stream's. */
function placed(bytes: Uint8Array, offset: number): Uint8Array {
  const whole = new Uint8Array(offset + bytes.length + 8).fill(0xee);
  whole.set(bytes, offset);
  return whole.subarray(offset, offset + bytes.length);
}

describe('the receive stage of a link (LinkReader, LinkedChannels) and the engine\'s cache of remote ends', () => {
  it('deliver exactly the verified runs, to their own channel, in order, and count every forged frame once on its link', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 10, maxLength: 60 }), fc.array(piece, { minLength: 1, maxLength: 20 }), (actions, pieces) => {
        const { channels, links, chans, partitionKeyMismatch, partitionViolations } = setup();
        const streams: Uint8Array[][] = [[], []];
        const counts = links.map(() => ({ keyMismatch: 0, unknownChannel: 0, wrongSource: 0, sequence: 0, badLength: 0, badFrame: 0, window: 0 }));
        const expectedKeyMismatch = [0, 0];
        for (const a of actions) forge(a, chans, streams, counts, expectedKeyMismatch);
        const bytes = streams.map((s) => Buffer.concat(s));
        const pushed = [0, 0];
        const drain = () => {
          for (const c of chans) for (let m = c.rx.tryRecv(); m !== undefined; m = c.rx.tryRecv()) c.got.push(m.slice());
        };
        // What the engine's round does for messages kept aside for a full ring (LinkedChannels.poll).
        const resume = () => {
          channels.poll();
          channels.processed();
        };
        for (let i = 0; pushed[0] < bytes[0].length || pushed[1] < bytes[1].length; i++) {
          const p = pieces[i % pieces.length];
          const l = pushed[p.link] < bytes[p.link].length ? p.link : 1 - p.link;
          const n = Math.min(p.size, bytes[l].length - pushed[l]);
          // Pushed whatever is kept: the reader never stops for a full ring.
          links[l].reader.push(placed(bytes[l].subarray(pushed[l], pushed[l] + n), p.offset));
          pushed[l] += n;
          channels.processed();
          if (p.drain) {
            drain();
            resume();
          }
        }
        for (let spins = 0; channels.keptMessages > 0; spins++) {
          expect(spins).toBeLessThan(10_000);
          drain();
          resume();
        }
        drain();
        chans.forEach((c) => {
          expect(c.got.map((m) => Array.from(m))).toEqual(c.expected.map((m) => Array.from(m)));
        });
        links.forEach((link, l) => {
          expect(link.counts).toEqual(counts[l]);
          const mine = chans.filter((c) => c.link === l);
          expect(link.received).toBe(mine.reduce((s, c) => s + c.expected.length, 0));
          expect(link.uncounted).toBe(0);
          expect(link.frames).toBe(streams[l].length);
          for (const c of mine) {
            expect(link.acks.get(c.senderId)).toBe(c.expected.length === 0 ? undefined : c.next - 1);
            // The window credit owed back is exactly what the delivered messages take in DATA frames.
            const window = c.expected.reduce((s, m) => s + F.messageBytes(m.length), 0);
            expect(link.windows.get(c.senderId)).toBe(c.expected.length === 0 ? undefined : window);
          }
        });
        expect(partitionKeyMismatch).toEqual(expectedKeyMismatch);
        expect(partitionViolations).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('drops what was kept for a channel that closes: its entry, reused by a new channel from the same node, gets nothing of it', () => {
    const { hw, channels, links, chans, accept } = setup();
    const [c] = chans;
    const link = links[0];
    // 24 messages of 96 B: the 1 KiB receive ring takes a few, the rest are kept aside.
    pushRun(link, c, 24);
    channels.processed();
    const before = hw.table.receivedSequence[c.entry];
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(24);
    expect(channels.keptMessages).toBe(24 - before);
    // Only what reached the ring is acknowledged: the sender's window stays closed for the rest.
    expect(link.acks.get(c.senderId)).toBe(before);
    // The owner closes its end; a new channel from the same node and source partition takes the
    // same entry (another generation), with a key the peer knows.
    hw.engine.closeEnd(c.entry, Status.OK);
    expect(channels.keptMessages).toBe(0);
    const key = [1, 2, 3, 4];
    const fresh = accept(0, 0, c.source, 200, key);
    expect(fresh.entry).toBe(c.entry);
    expect(fresh.id).not.toBe(c.id);
    for (let i = 0; i < 5; i++) {
      for (let m = fresh.rx.tryRecv(); m !== undefined; m = fresh.rx.tryRecv()) throw new Error('the new channel received a message of the old one');
      channels.poll();
      channels.processed();
    }
    expect(hw.table.receivedSequence[fresh.entry]).toBe(0);
    expect(link.acks.get(200)).toBeUndefined();
    expect(Object.values(link.counts).reduce((a, b) => a + b, 0)).toBe(0);
    // The new channel's own first message is its sequence 1.
    link.reader.push(dataFrame({ channel: fresh.id, source: c.source, first: 1, key, payloads: [payload(9, 1, 5)] }));
    channels.processed();
    expect(Array.from(fresh.rx.tryRecv() ?? [])).toEqual(Array.from(payload(9, 1, 5)));
    expect(link.acks.get(200)).toBe(1);
  });

  it('a full receive ring holds back only its own channel: the same link goes on delivering to another (THREATS case 48)', () => {
    const { channels, links, chans } = setup();
    // chans[0] into partition 1 and chans[1] into partition 2, both over link 0; partition 1 reads nothing.
    const [idle, busy] = chans;
    const link = links[0];
    let sequence = 1;
    const got: Uint8Array[] = [];
    for (let frame = 0; frame < 20; frame++) {
      const stuck = Array.from({ length: 8 }, (_, j) => payload(0, frame * 8 + j + 1, MAX));
      link.reader.push(dataFrame({ channel: idle.id, source: idle.source, first: frame * 8 + 1, key: idle.key, payloads: stuck }));
      link.reader.push(dataFrame({ channel: busy.id, source: busy.source, first: sequence, key: busy.key, payloads: [payload(1, sequence, 32)] }));
      sequence++;
      channels.processed();
      for (let m = busy.rx.tryRecv(); m !== undefined; m = busy.rx.tryRecv()) got.push(m.slice());
    }
    expect(got.map((m) => Array.from(m))).toEqual(Array.from({ length: 20 }, (_, i) => Array.from(payload(1, i + 1, 32))));
    expect(channels.keptMessages).toBeGreaterThan(140);
    // The gauge of what the link's channels keep aside follows it, byte for byte.
    expect(link.keptBytes).toBe(channels.keptMessages * F.messageBytes(MAX));
    expect(Object.values(link.counts).reduce((a, b) => a + b, 0)).toBe(0);
    // The idle reader reads at last: everything kept arrives, in order, and is acknowledged.
    const idleGot: Uint8Array[] = [];
    for (let spins = 0; channels.keptMessages > 0 || spins === 0; spins++) {
      expect(spins).toBeLessThan(1000);
      for (let m = idle.rx.tryRecv(); m !== undefined; m = idle.rx.tryRecv()) idleGot.push(m.slice());
      channels.poll();
      channels.processed();
    }
    for (let m = idle.rx.tryRecv(); m !== undefined; m = idle.rx.tryRecv()) idleGot.push(m.slice());
    expect(idleGot.map((m) => Array.from(m))).toEqual(Array.from({ length: 160 }, (_, i) => Array.from(payload(0, i + 1, MAX))));
    expect(link.acks.get(idle.senderId)).toBe(160);
    expect(link.keptBytes).toBe(0);
    expect(link.windows.get(idle.senderId)).toBe(160 * F.messageBytes(MAX));
  });

  it('a peer that puts more than a window of one channel on the wire loses that channel (window, ENOBUFS); the link and other channels go on', () => {
    const x = setup();
    const { channels, links, chans } = x;
    const [c, other] = chans;
    const link = links[0];
    const perFrame = Math.floor((F.DataFrame.TARGET_BYTES - F.DataFrame.FIRST_MESSAGE_OFFSET) / F.messageBytes(MAX));
    // Enough messages to pass the window with the 1 KiB ring full and nothing read.
    const total = Math.ceil(WINDOW / F.messageBytes(MAX)) + 2 * perFrame;
    for (let first = 1; first <= total; first += perFrame) {
      const payloads = Array.from({ length: perFrame }, (_, j) => payload(0, first + j, MAX));
      link.reader.push(dataFrame({ channel: c.id, source: c.source, first, key: c.key, payloads }));
    }
    channels.processed();
    expect(link.counts.window).toBe(1);
    // The channel's end woke the engine (a SEND of it waiting for its window gets its answer).
    expect(x.wakes.count).toBeGreaterThan(0);
    // The peer is told, with ENOBUFS; whatever came after for the channel is dropped quietly (it closed here).
    expect(link.closes).toEqual([[c.senderId, c.id, Status.ENOBUFS]]);
    expect(channels.keptMessages).toBe(0);
    expect(Object.values(link.counts).reduce((a, b) => a + b, 0)).toBe(1);
    // Its reader gets what reached the ring, then the END with ENOBUFS.
    let read = 0;
    let end: unknown;
    try {
      while (c.rx.waitReadableSync(0)) if (c.rx.tryRecv() !== undefined) read++;
    } catch (e) {
      end = (e as { code?: string }).code;
    }
    expect(read).toBeGreaterThan(0);
    expect(end).toBe('ENOBUFS');
    // The other channel of the link still delivers.
    link.reader.push(dataFrame({ channel: other.id, source: other.source, first: 1, key: other.key, payloads: [payload(1, 1, 8)] }));
    channels.processed();
    expect(Array.from(other.rx.tryRecv() ?? [])).toEqual(Array.from(payload(1, 1, 8)));
  });

  it('a run after the peer\'s CLOSE (waiting behind kept messages) is refused and counted: the END comes after exactly what was sent before the CLOSE', () => {
    const x = setup();
    const { channels, links, chans } = x;
    const [c] = chans;
    const link = links[0];
    pushRun(link, c, 30);
    channels.close(link as unknown as NodeLink, c.id, c.senderId, Status.OK);
    // A hostile peer goes on sending on the channel it closed.
    link.reader.push(dataFrame({ channel: c.id, source: c.source, first: 31, key: c.key, payloads: [payload(0, 31, 8)] }));
    channels.processed();
    expect(link.counts.unknownChannel).toBe(1);
    let read = 0;
    for (let spins = 0; c.rx.open; spins++) {
      expect(spins).toBeLessThan(1000);
      if (c.rx.waitReadableSync(0)) read += c.rx.tryRecv() === undefined ? 0 : 1;
      x.hw.engine.round();
      channels.processed();
    }
    expect(read).toBe(30);
  });

  it('a receiving queue pair that faults ends its remote channel with EFAULT: what reached the ring is acknowledged, the peer is told (unless its CLOSE came first: case 58), and a CLOSE waiting behind kept messages still ends it', () => {
    for (const peerClosedFirst of [false, true]) {
      const { x, c, link, inRing } = withKept(24);
      const { hw, channels } = x;
      expect(channels.keptMessages).toBe(24 - inRing);
      if (peerClosedFirst) channels.close(link as unknown as NodeLink, c.id, c.senderId, Status.OK);
      // The receiving partition's queue pair faults (as a bad write into its own rings makes it).
      hw.engine.faultQueuePair(hw.ports[c.partition].queuePairs[0], 'badLength');
      hw.engine.round();
      channels.processed();
      // The channel ended here (no longer open: its END waits for the owner) and the peer got a CLOSE
      // with EFAULT, unless it had closed its end first: then there is nobody to tell, and the link
      // may be another connection by now (THREATS case 58, test/link/peer-closed-fault.test.ts).
      expect(hw.table.state[c.entry]).not.toBe(ConnectionState.OPEN);
      expect(channels.keptMessages).toBe(0);
      expect(link.closes).toEqual(peerClosedFirst ? [] : [[c.senderId, c.id, Status.EFAULT]]);
      // Only what reached the ring was acknowledged: the rest the sender counts as failed (its CLOSE).
      expect(link.acks.get(c.senderId)).toBe(inRing);
      // Frames still on their way are dropped quietly (this node closed the channel); a run the peer
      // sent after its own CLOSE is refused and counted, as on a channel that ended any other way.
      link.reader.push(dataFrame({ channel: c.id, source: c.source, first: 25, key: c.key, payloads: [payload(0, 25, 8)] }));
      channels.processed();
      expect(Object.entries(link.counts).filter(([, n]) => n !== 0)).toEqual(peerClosedFirst ? [['unknownChannel', 1]] : []);
    }
  });

  it('a fault ends the queue pair\'s remote channels at once (EFAULT), before any round; after a reset, a new channel into it gets its kept messages', () => {
    const { x, c, link } = withKept(24);
    const { hw, channels, accept } = x;
    expect(channels.keptMessages).toBeGreaterThan(0);
    const port = hw.ports[c.partition];
    hw.engine.faultQueuePair(port.queuePairs[0], 'badLength');
    // No round ran: the channel ended already, what was kept is gone, and the peer knows.
    expect(hw.table.state[c.entry]).not.toBe(ConnectionState.OPEN);
    expect(link.closes).toEqual([[c.senderId, c.id, Status.EFAULT]]);
    expect(channels.keptMessages).toBe(0);
    expect(link.keptBytes).toBe(0);
    // The partition resets its queue pair at once (no round in between), and a new channel comes.
    expect(hw.manager.resetQueuePair(port, 0).ok).toBe(true);
    x.reattach(c.partition);
    const key = [9, 8, 7, 6];
    const fresh = accept(0, c.partition, c.source, 400, key);
    const payloads = Array.from({ length: 24 }, (_, j) => payload(4, 1 + j, MAX));
    link.reader.push(dataFrame({ channel: fresh.id, source: c.source, first: 1, key, payloads }));
    channels.processed();
    expect(channels.keptMessages).toBeGreaterThan(0);
    const got: Uint8Array[] = [];
    for (let spins = 0; got.length < 24; spins++) {
      expect(spins).toBeLessThan(1000);
      for (let m = fresh.rx.tryRecv(); m !== undefined; m = fresh.rx.tryRecv()) got.push(m.slice());
      hw.engine.round();
      channels.processed();
    }
    expect(got.map((m) => Array.from(m))).toEqual(payloads.map((p) => Array.from(p)));
    expect(link.acks.get(400)).toBe(24);
  });

  it('a partition that corrupts its receive ring\'s position faults its queue pair while a run is delivered: the run is booked, the channel ends with EFAULT, the engine is woken, and a late ACK of the peer is no violation', () => {
    const x = setup();
    const { hw, channels, links, chans } = x;
    const [c] = chans;
    const link = links[0];
    // Sends of this end to the peer, unacknowledged when the channel ends.
    const q = x.queuePairs[c.partition].sendQueue;
    for (let i = 0; i < 3; i++) writeSend(q, c.rx.handle, payload(0, 1, 16));
    q.publish();
    expect(hw.engine.round()).toBe(3);
    const rx = hw.ports[c.partition].queuePairs[0].receive as unknown as { i32: Int32Array; consumerWord: number };
    // The consumer position the partition writes: far past anything the hardware published.
    Atomics.store(rx.i32, rx.consumerWord, 1 << 20);
    pushRun(link, c, 24);
    channels.processed();
    expect(x.partitionViolations).toEqual(['0:receiveRingPosition']);
    expect(hw.table.state[c.entry]).not.toBe(ConnectionState.OPEN);
    expect(link.closes).toEqual([[c.senderId, c.id, Status.EFAULT]]);
    expect(x.wakes.count).toBeGreaterThan(0);
    expect(channels.keptMessages).toBe(0);
    // The peer acknowledges two of the three sends, sent before it learned of the end: nothing counted.
    channels.ack(link as unknown as NodeLink, c.id, 2, 2 * F.messageBytes(16));
    expect(Object.values(link.counts).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('a fault in the middle of a stretch books that stretch, on its own channel, before the CLOSE; another channel of the queue pair gets its CLOSE with nothing booked', () => {
    const x = setup();
    const { hw, channels, links, chans } = x;
    // chans[0] (link 0) and chans[2] (link 1): both into partition 1's queue pair 0, chans[0] at the lower slot.
    const [quiet, , busy] = chans;
    const rx = hw.ports[busy.partition].queuePairs[0].receive as unknown as { i32: Int32Array; consumerWord: number };
    // Three arrive; then the partition corrupts its consumer position. The ring takes about nine:
    // once the hardware's last look at that position runs out, it reads it again, in the middle of
    // the next stretch, and the queue pair faults.
    const sent = Array.from({ length: 27 }, (_, j) => payload(2, 1 + j, MAX));
    links[1].reader.push(dataFrame({ channel: busy.id, source: busy.source, first: 1, key: busy.key, payloads: sent.slice(0, 3) }));
    channels.processed();
    expect(hw.table.receivedSequence[busy.entry]).toBe(3);
    Atomics.store(rx.i32, rx.consumerWord, 1 << 20);
    links[1].reader.push(dataFrame({ channel: busy.id, source: busy.source, first: 4, key: busy.key, payloads: sent.slice(3) }));
    channels.processed();
    const inRing = hw.table.receivedSequence[busy.entry];
    expect(inRing).toBeGreaterThan(3);
    expect(links[1].acks.get(busy.senderId)).toBe(inRing);
    expect(links[1].closes).toEqual([[busy.senderId, busy.id, Status.EFAULT]]);
    expect(links[0].acks.get(quiet.senderId)).toBeUndefined();
    expect(links[0].closes).toEqual([[quiet.senderId, quiet.id, Status.EFAULT]]);
  });

  it('a fault while kept messages move into the ring acknowledges those it moved, before the CLOSE', () => {
    const { x, c, link, inRing } = withKept(30);
    const { hw } = x;
    for (let m = c.rx.tryRecv(); m !== undefined; m = c.rx.tryRecv());
    // The queue pair faults at the third message this round moves (as a corrupted position would make it).
    const qp = hw.ports[c.partition].queuePairs[0];
    const deliver = hw.engine.deliverFromLink.bind(hw.engine);
    let calls = 0;
    const spy = vi.spyOn(hw.engine, 'deliverFromLink').mockImplementation((...a) => {
      if (++calls === 3) {
        hw.engine.faultQueuePair(qp, 'receiveRingPosition');
        return 2; // GONE
      }
      return deliver(...a);
    });
    hw.engine.round();
    spy.mockRestore();
    expect(link.closes).toEqual([[c.senderId, c.id, Status.EFAULT]]);
    expect(link.acks.get(c.senderId)).toBe(inRing + 2);
    expect(hw.table.receivedSequence[c.entry]).toBe(inRing + 2);
  });

  it('an ACK naming an end that is still connecting is counted, even on an entry whose closed channel left sends unacknowledged (only an ended end\'s late ACK is not)', () => {
    const x = setup();
    const { hw, channels, links, chans } = x;
    const c = chans[0];
    const q = x.queuePairs[c.partition].sendQueue;
    for (let i = 0; i < 3; i++) writeSend(q, c.rx.handle, payload(0, 1, 8));
    q.publish();
    expect(hw.engine.round()).toBe(3);
    hw.engine.closeEnd(c.entry, Status.OK);
    // The entry, reused by a connect to node 5 that has not been answered yet.
    const e = hw.table.allocate(c.partition);
    expect(e).toBe(c.entry);
    hw.table.state[e] = CONNECTING;
    hw.table.remoteNode[e] = NODES[0];
    channels.ack(links[0] as unknown as NodeLink, hw.table.linkId(e), 1, F.messageBytes(8));
    expect(links[0].counts.sequence).toBe(1);
    expect(hw.table.ackedSequence[e]).toBe(0);
  });

  it('a ring its reader has not rung for since it filled is not tried again: kept messages cost nothing per round until the reader frees space', () => {
    const x = setup();
    const { hw, channels, links, chans } = x;
    const [c] = chans;
    pushRun(links[0], c, 24);
    channels.processed();
    const deliver = vi.spyOn(hw.engine, 'deliverFromLink');
    for (let i = 0; i < 100; i++) hw.engine.round();
    expect(deliver.mock.calls.length).toBeLessThanOrEqual(1);
    // The reader reads: it rings, and the next round moves kept messages in.
    for (let m = c.rx.tryRecv(); m !== undefined; m = c.rx.tryRecv());
    const before = channels.keptMessages;
    hw.engine.round();
    expect(channels.keptMessages).toBeLessThan(before);
    deliver.mockRestore();
  });

  it('a queue pair reset after a fault leaves no one waiting for space in its rings', () => {
    const x = setup();
    const { hw, links, chans, channels } = x;
    const [c] = chans;
    pushRun(links[0], c, 24);
    channels.processed();
    const qp = hw.ports[c.partition].queuePairs[0];
    expect(qp.receive.stillWaitingForSpace).toBe(true);
    hw.engine.faultQueuePair(qp, 'badLength');
    expect(hw.manager.resetQueuePair(hw.ports[c.partition], 0).ok).toBe(true);
    expect(qp.receive.isWaitingForSpace).toBe(false);
    expect(qp.receive.stillWaitingForSpace).toBe(false);
  });

  it('each kept channel moves at most a queue pair\'s budget per round', () => {
    const x = setup({ budgetPerRound: 4 });
    const { hw, channels, links, chans } = x;
    const [c] = chans;
    pushRun(links[0], c, 30);
    channels.processed();
    const inRing = hw.table.receivedSequence[c.entry];
    expect(inRing).toBeGreaterThan(4);
    for (let m = c.rx.tryRecv(); m !== undefined; m = c.rx.tryRecv());
    hw.engine.round();
    expect(hw.table.receivedSequence[c.entry]).toBe(inRing + 4);
  });

  it('kept messages move into their ring from a rotating start, a budget at a time: a channel that keeps refilling does not take all the room', () => {
    const x = setup();
    const { hw, channels, links, chans } = x;
    // chans[0] (link 0) and chans[2] (link 1) share partition 1's 1 KiB ring.
    const [big, , small] = chans;
    for (let first = 1; first <= 200; first += 40) {
      links[0].reader.push(dataFrame({ channel: big.id, source: big.source, first, key: big.key, payloads: Array.from({ length: 40 }, (_, j) => payload(0, first + j, MAX)) }));
    }
    links[1].reader.push(dataFrame({ channel: small.id, source: small.source, first: 1, key: small.key, payloads: Array.from({ length: 5 }, (_, j) => payload(2, 1 + j, MAX)) }));
    channels.processed();
    let rounds = 0;
    let smallGot = 0;
    for (; smallGot < 5; rounds++) {
      expect(rounds).toBeLessThan(100);
      for (let m = big.rx.tryRecv(); m !== undefined; m = big.rx.tryRecv());
      for (let m = small.rx.tryRecv(); m !== undefined; m = small.rx.tryRecv()) smallGot++;
      hw.engine.round();
      channels.processed();
    }
    // About nine messages fit the ring: taking turns, the small channel's five are through in a few
    // rounds; behind the big one's 200 they would take over twenty.
    expect(rounds).toBeLessThan(8);
  });

  it('keeps messages for a window that is not a multiple of 8 (a node may grant any size in range)', () => {
    let gauge = 0;
    const k = new KeptMessages(0, 0, 100_001, { kept: (bytes: number) => (gauge += bytes) } as unknown as LinkCounters);
    const sizes: number[] = [];
    for (let i = 0; k.bytes + F.messageBytes(i % 300) <= 100_001; i++) {
      const p = payload(0, i, i % 300);
      k.push(p, 0, p.length);
      sizes.push(p.length);
    }
    expect(k.count).toBe(sizes.length);
    expect(gauge).toBe(k.bytes);
    sizes.forEach((size, i) => {
      expect(k.firstBytes).toBe(size);
      expect(Array.from(k.bytes8.subarray(k.firstAt, k.firstAt + size))).toEqual(Array.from(payload(0, i, size)));
      k.shift();
    });
    expect(k.count).toBe(0);
    expect(gauge).toBe(0);
  });

  it('a ring that fills turn after turn (a reader that just keeps up) reuses its emptied kept buffer instead of a new one each time', () => {
    const x = setup();
    const { hw, channels, links, chans } = x;
    const [c] = chans;
    const spare = (channels as unknown as { spareKept: KeptMessages[] }).spareKept;
    let sequence = 1;
    for (let turn = 0; turn < 5; turn++) {
      links[0].reader.push(dataFrame({ channel: c.id, source: c.source, first: sequence, key: c.key, payloads: Array.from({ length: 20 }, (_, j) => payload(0, sequence + j, MAX)) }));
      sequence += 20;
      channels.processed();
      expect(channels.keptMessages).toBeGreaterThan(0);
      // After the first turn, the kept messages went into the one spare, not into a new one.
      expect(spare).toHaveLength(0);
      for (let spins = 0; channels.keptMessages > 0; spins++) {
        expect(spins).toBeLessThan(100);
        for (let m = c.rx.tryRecv(); m !== undefined; m = c.rx.tryRecv());
        hw.engine.round();
        channels.processed();
      }
      expect(spare).toHaveLength(1);
    }
    expect(hw.table.receivedSequence[c.entry]).toBe(100);
  });

  it('kept messages give memory back as they drain: one message left of a burst does not pin the burst\'s buffer', () => {
    const k = new KeptMessages(0, 0, 4 << 20, { kept() {} } as unknown as LinkCounters);
    const big = new Uint8Array(4096);
    while (k.bytes + F.messageBytes(big.length) <= 4 << 20) k.push(big, 0, big.length);
    expect(k.capacity).toBe(4 << 20);
    while (k.count > 1) k.shift();
    expect(k.capacity).toBeLessThanOrEqual(Math.max(16 * 1024, 4 * k.bytes));
    expect(k.firstBytes).toBe(4096);
  });

  it('a link that goes down while a channel ending here writes its CLOSE (a peer that reads nothing) ends that channel once', () => {
    const x = setup();
    const { hw, channels, links, chans } = x;
    const [c] = chans;
    const link = links[0];
    // As NodeLink does when the peer has read nothing of the last 16 MiB: the write takes the link down.
    const close = link.close;
    link.close = (channel, senderChannel, status) => {
      close(channel, senderChannel, status);
      link.up = false;
      channels.linkDown(link as unknown as NodeLink);
    };
    const ends = vi.spyOn(hw.engine, 'endByPeer');
    const perFrame = Math.floor((F.DataFrame.TARGET_BYTES - F.DataFrame.FIRST_MESSAGE_OFFSET) / F.messageBytes(MAX));
    // Past the window with nothing read: the channel ends here (ENOBUFS), and its CLOSE takes the link down.
    for (let first = 1; first <= Math.ceil(WINDOW / F.messageBytes(MAX)) + 2 * perFrame; first += perFrame) {
      link.reader.push(dataFrame({ channel: c.id, source: c.source, first, key: c.key, payloads: Array.from({ length: perFrame }, (_, j) => payload(0, first + j, MAX)) }));
    }
    channels.processed();
    expect(ends.mock.calls.filter(([e]) => e === c.entry)).toEqual([[c.entry, Status.ENOBUFS]]);
    ends.mockRestore();
  });

  it("a peer's CLOSE waits behind the messages kept for its channel: they are read first, then the END", () => {
    const { x, c, link, payloads } = withKept(30);
    const { channels } = x;
    expect(channels.keptMessages).toBeGreaterThan(0);
    channels.close(link as unknown as NodeLink, c.id, c.senderId, Status.OK);
    const got: Uint8Array[] = [];
    let ended = false;
    for (let spins = 0; !ended; spins++) {
      expect(spins).toBeLessThan(1000);
      if (c.rx.waitReadableSync(0)) got.push(c.rx.tryRecv()!.slice());
      else if (!c.rx.open) ended = true;
      // The engine's round: kept messages move (LinkedChannels.poll), an END waiting for room is written.
      x.hw.engine.round();
      channels.processed();
    }
    expect(got.map((m) => Array.from(m))).toEqual(payloads.map((p) => Array.from(p)));
  });

  it.each([
    ['the END of a CLOSE from the peer', (x: ReturnType<typeof setup>, c: Chan) => x.channels.close(x.links[c.link] as unknown as NodeLink, c.id, c.senderId, Status.OK)],
    ['the END of its link going down', (x: ReturnType<typeof setup>, c: Chan) => {
      x.links[c.link].up = false;
      x.channels.linkDown(x.links[c.link] as unknown as NodeLink);
    }],
    // The scheduler's slice may run before the end of the turn the input came in.
    ['an engine round', (x: ReturnType<typeof setup>) => void x.hw.engine.round()],
  ])('counts the input before %s publishes it: counters cover every message a receiver can see', (_, end) => {
    const x = setup();
    const c = x.chans[0];
    const link = x.links[c.link];
    const receiver = x.hw.ports[c.partition].queuePairs[0];
    const counters = x.hw.counters.values;
    // At each publish of the receiver's ring, receive what it made visible and read the counters then.
    let received = 0;
    const seen: Array<{ received: number; delivered: number; linkReceived: number }> = [];
    const publish = receiver.publish.bind(receiver);
    receiver.publish = () => {
      publish();
      while (c.rx.tryRecv() !== undefined) received++;
      seen.push({ received, delivered: counters[c.partition * CounterSlot.PER_PARTITION + CounterSlot.DELIVERED], linkReceived: link.received });
    };
    link.reader.push(dataFrame({ channel: c.id, source: c.source, first: 1, key: c.key, payloads: [1, 2, 3].map((q) => payload(0, q, 16)) }));
    // In the same input as the messages, before the end of the turn counts them (processed()).
    end(x, c);
    expect(received).toBe(3);
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) expect(s).toEqual({ received: s.received, delivered: s.received, linkReceived: s.received });
  });

  it("a channel to a node that takes smaller messages carries up to its limit: the grant says so, the library refuses more at once, and the send stage refuses a SEND written past the library", () => {
    const x = setup();
    // The other node stated maxMessageBytes 40 in its CONNECT (this node's is MAX, 96).
    const c = x.accept(0, 0, 1, 300, [1, 2, 3, 4], 40);
    expect(c.rx.maxMessageBytes).toBe(40);
    expect(() => c.rx.send(new Uint8Array(41))).toThrow(/^EMSGSIZE: message of 41 bytes exceeds maxMessageBytes 40 \(the channel's: node 5 takes messages of at most 40 bytes, this node's maxMessageBytes is 96\)/);
    // Nothing of the refused send reached the ring; these go.
    c.rx.send(new Uint8Array(40).fill(1));
    c.rx.send(new Uint8Array(1).fill(2));
    expect(x.hw.engine.round()).toBe(2);
    expect(x.links[0].sent).toEqual([[300, 1], [300, 2]]);
    // Written into the ring past the library (a partition's own code can): refused as a size
    // violation, as a SEND over this node's own limit is, and never handed to the link.
    const q = x.queuePairs[0].sendQueue;
    writeSend(q, c.rx.handle, new Uint8Array(41));
    writeSend(q, c.rx.handle, new Uint8Array(40).fill(3));
    q.publish();
    expect(x.hw.engine.round()).toBe(2);
    expect(x.links[0].sent).toEqual([[300, 1], [300, 2], [300, 3]]);
    expect(x.partitionViolations).toEqual(['0:messageSize']);
    c.rx.send(new Uint8Array(1)); // reads the completions: the refused SEND is reported on its channel
    expect(c.rx.failedSends).toEqual({ EMSGSIZE: 1 });
    // A channel whose other node takes larger messages than this one carries this node's limit.
    expect(x.accept(0, 0, 1, 301, [5, 6, 7, 8], 1 << 20).rx.maxMessageBytes).toBe(MAX);
  });

  it('a run from a node with a message over the limit it stated for the channel: what came before it is delivered, it and the rest of the run are dropped and counted once (badLength)', () => {
    const { channels, links, accept } = setup();
    const link = links[0];
    const key = [9, 8, 7, 6];
    const c = accept(0, 0, 1, 400, key, 40);
    // Within this node's own limit (MAX, 96), past the 40 the other node stated.
    link.reader.push(dataFrame({ channel: c.id, source: 1, first: 1, key, payloads: [payload(4, 1, 40), payload(4, 2, 41), payload(4, 3, 8)] }));
    channels.processed();
    expect(Array.from(c.rx.tryRecv() ?? [])).toEqual(Array.from(payload(4, 1, 40)));
    expect(c.rx.tryRecv()).toBeUndefined();
    expect(link.counts).toMatchObject({ badLength: 1, sequence: 0 });
    expect(Object.values(link.counts).reduce((a, b) => a + b, 0)).toBe(1);
    expect(link.acks.get(400)).toBe(1);
  });

  it("the engine's send stage serves a run of SENDs to remote ends: each goes to its own channel and link, in order, and anything else gets its own answer", () => {
    const x = setup();
    // Both remote ends of partition 1's queue pair 0: chans[0] over link 0, chans[2] over link 1.
    const [a, , b] = x.chans;
    const q = x.queuePairs[0].sendQueue;
    const send = (c: Chan, bytes: Uint8Array, flags = 0) => writeSend(q, c.rx.handle, bytes, flags);
    send(a, payload(0, 1, 16));
    expect(x.hw.engine.round()).toBe(0); // nothing published yet
    // The first SEND caches chans[0]; the rest are written before the round that serves them all.
    q.publish();
    expect(x.hw.engine.round()).toBe(1);
    send(a, payload(0, 2, 16));
    send(a, payload(0, 3, 8));
    send(b, payload(2, 1, 16));
    send(a, payload(0, 4, 16));
    send(a, payload(0, 5, 16), 1);
    send(a, payload(0, 6, MAX + 1));
    // Bodies too short for a SEND's handle and flags, naming the channel in their padding (the partition's own memory).
    for (const bodyBytes of [0, 4]) {
      const at = q.ring.tryClaim(RecordType.SEND, bodyBytes);
      expect(at).toBeGreaterThanOrEqual(0);
      q.ring.u32[(at + SendBody.CHANNEL_OFFSET) >> 2] = a.rx.handle;
      q.ring.u32[(at + SendBody.FLAGS_OFFSET) >> 2] = 0;
    }
    send(a, payload(0, 7, 4));
    q.publish();
    expect(x.hw.engine.round()).toBe(9);
    // The link numbers what it was handed: the refused SENDs (flags, size, short bodies) took no sequence number.
    expect(x.links[0].sent).toEqual([[a.senderId, 1], [a.senderId, 2], [a.senderId, 3], [a.senderId, 4], [a.senderId, 5]]);
    expect(x.links[1].sent).toEqual([[b.senderId, 1]]);
    expect(x.partitionViolations).toEqual(['0:badFlags', '0:messageSize', '0:badLength', '0:badLength']);
  });

  it("the engine's send stage: a link that takes no more inside a run stops it there; nothing is lost, refused or numbered twice, and the rest goes once the link takes it", () => {
    const x = setup();
    const a = x.chans[0];
    const link = x.links[0];
    const q = x.queuePairs[0].sendQueue;
    const counters = x.hw.counters.values;
    const sent = () => [counters[CounterSlot.SENT], counters[CounterSlot.BYTES_SENT], counters[CounterSlot.SEND_ERRORS]];
    const send = (size: number) => writeSend(q, a.rx.handle, payload(0, 1, size));
    send(16);
    q.publish();
    // The first SEND caches chans[0]: the next ones are a run on the busy path (sendRemoteRun).
    expect(x.hw.engine.round()).toBe(1);
    for (const size of [8, 16, 24, 32, 40]) send(size);
    q.publish();
    link.room = 2;
    // Two taken; the third is refused by the link, and the general path answers BLOCKED for it: left in the ring.
    expect(x.hw.engine.round()).toBe(2);
    expect(link.sent).toEqual([[a.senderId, 1], [a.senderId, 2], [a.senderId, 3]]);
    expect(sent()).toEqual([3, 16 + 8 + 16, 0]);
    expect(x.hw.engine.round()).toBe(0);
    link.room = Infinity;
    expect(x.hw.engine.round()).toBe(3);
    expect(link.sent).toEqual([1, 2, 3, 4, 5, 6].map((n) => [a.senderId, n]));
    expect(sent()).toEqual([6, 16 + 8 + 16 + 24 + 32 + 40, 0]);
    expect(x.partitionViolations).toEqual([]);
    expect(x.hw.engine.round()).toBe(0);
  });

  it("the engine's send stage stops at a closed window: the SEND waits in its ring until an ACK gives the window back, and the engine is woken", () => {
    const x = setup();
    const a = x.chans[0];
    const t = x.hw.table;
    const q = x.queuePairs[0].sendQueue;
    const cost = F.messageBytes(MAX);
    // Rounds with the send ring kept full, until one serves nothing; returns the SENDs served.
    let written = 0;
    const pump = (): number => {
      let served = 0;
      for (let rounds = 0; ; rounds++) {
        expect(rounds).toBeLessThan(10_000);
        while (q.claim(RecordType.SEND, a.rx.handle, MAX) >= 0) written++;
        q.publish();
        const n = x.hw.engine.round();
        // Space the engine served goes back in steps; all of it before the hardware sleeps.
        x.hw.engine.releaseAll();
        if (n === 0) return served;
        served += n;
      }
    };
    // Nothing is acknowledged, so the window fills.
    expect(pump()).toBe(t.sentSequence[a.entry]);
    const sent = t.sentSequence[a.entry];
    // The window the other node granted, not the one this node grants.
    expect(sent).toBe(Math.floor(PEER_WINDOW / cost));
    expect(t.sentWindow[a.entry]).toBe(sent * cost);
    expect(written).toBeGreaterThan(sent);
    expect(x.links[0].sent).toHaveLength(sent);
    // Still closed: nothing more goes, nothing is refused or lost.
    expect(x.hw.engine.round()).toBe(0);
    expect(x.partitionViolations).toEqual([]);
    // The peer acknowledges half: the engine is woken, and the window's worth goes on.
    const wakes = x.wakes.count;
    const half = sent >>> 1;
    x.channels.ack(x.links[0] as unknown as NodeLink, a.id, half, half * cost);
    expect(x.wakes.count).toBe(wakes + 1);
    expect(pump()).toBe(half);
    expect(t.sentSequence[a.entry]).toBe(sent + half);
    // An ACK whose window runs ahead of what was sent, or moves without its sequence, is a violation and changes nothing.
    x.channels.ack(x.links[0] as unknown as NodeLink, a.id, half + 1, (sent + half + 1) * cost);
    x.channels.ack(x.links[0] as unknown as NodeLink, a.id, half, (half + 1) * cost);
    expect(x.links[0].counts.sequence).toBe(2);
    expect(t.ackedWindow[a.entry]).toBe(half * cost);
    expect(x.hw.engine.round()).toBe(0);
    // The peer closes the channel while a SEND waits for its window: the engine is woken, the
    // waiting SENDs get their answer (ECLOSED) and the queue pair's other work goes on.
    const before = x.wakes.count;
    x.channels.close(x.links[0] as unknown as NodeLink, a.id, a.senderId, Status.OK);
    expect(x.wakes.count).toBe(before + 1);
    let answered = 0;
    for (let n = x.hw.engine.round(); n > 0; n = x.hw.engine.round()) answered += n;
    x.hw.engine.releaseAll();
    expect(answered).toBe(written - t.sentSequence[a.entry]);
    // The queue pair's next SEND, on its channel to node 6, goes.
    const b = x.chans[2];
    writeSend(q, b.rx.handle, payload(2, 1, 16));
    q.publish();
    expect(x.hw.engine.round()).toBe(1);
    expect(x.links[1].sent).toEqual([[b.senderId, 1]]);
  });

  it("the engine's send stage: where the link's open frame declines a run's next message, send() takes it with its own sequence", () => {
    const x = setup();
    const a = x.chans[0];
    const link = x.links[0];
    const q = x.queuePairs[0].sendQueue;
    const send = (size: number) => writeSend(q, a.rx.handle, payload(0, 1, size));
    send(16);
    q.publish();
    expect(x.hw.engine.round()).toBe(1);
    // A run of 10: its first through send(), then next() for each, declining every third call.
    link.nextDeclinesEvery = 3;
    for (let i = 0; i < 10; i++) send(8 + 8 * (i % 3));
    q.publish();
    expect(x.hw.engine.round()).toBe(10);
    expect(link.sent).toEqual(Array.from({ length: 11 }, (_, i) => [a.senderId, i + 1]));
    expect(x.hw.table.sentSequence[a.entry]).toBe(11);
    // message(): the first SEND, the run's first, and the three that next() declined (its calls 3, 6 and 9).
    expect(link.nextCalls).toBe(9);
    expect(link.messageCalls).toBe(5);
    expect(x.partitionViolations).toEqual([]);
  });

  it('copies a message that came over a link into exactly its bytes, with the record padding zeroed (THREATS case 26)', () => {
    const x = setup();
    const c = x.chans[0];
    const rx = x.hw.ports[c.partition].queuePairs[0].receive;
    // Old bytes everywhere in the ring: whatever the hardware does not write stays visible.
    const start = rx.position;
    rx.u8.fill(0xaa, rx.dataStart, rx.dataStart + rx.capacity);
    const sizes = [1, 2, 3, 4, 5, 6, 7, 9, 13, 20];
    const payloads = sizes.map((size, i) => payload(0, i + 1, size));
    x.links[c.link].reader.push(dataFrame({ channel: c.id, source: c.source, first: 1, key: c.key, payloads }));
    x.channels.processed();
    let at = rx.dataStart + (start & (rx.capacity - 1));
    for (const p of payloads) {
      const length = rx.u32[(at + RecordLayout.LENGTH_OFFSET) >> 2];
      expect(rx.u32[(at + RecordLayout.TYPE_OFFSET) >> 2]).toBe(RecordType.DATA);
      expect(length).toBe(RecordLayout.HEADER_BYTES + DeliverBody.BYTES + p.length);
      const body = at + RecordLayout.HEADER_BYTES + DeliverBody.BYTES;
      expect(Array.from(rx.u8.subarray(body, body + p.length))).toEqual(Array.from(p));
      const end = at + Math.ceil(length / RecordLayout.ALIGN_BYTES) * RecordLayout.ALIGN_BYTES;
      expect(Array.from(rx.u8.subarray(body + p.length, end))).toEqual(new Array(end - body - p.length).fill(0));
      at = end;
    }
    expect(rx.u8[at]).toBe(0xaa);
    expect(x.hw.table.receivedSequence[c.entry]).toBe(sizes.length);
  });

  it.each([
    ['its owner closing it, and its entry taken by a new channel from the same node', (x: ReturnType<typeof setup>, c: Chan) => {
      x.hw.engine.closeEnd(c.entry, Status.OK);
      expect(x.accept(c.link, c.partition, c.source, 300, [5, 6, 7, 8]).entry).toBe(c.entry);
    }],
    ['a CLOSE from the peer', (x: ReturnType<typeof setup>, c: Chan) => x.channels.close(x.links[c.link] as unknown as NodeLink, c.id, c.senderId, Status.OK)],
    ['its link going down and coming up again', (x: ReturnType<typeof setup>, c: Chan) => {
      x.links[c.link].up = false;
      x.channels.linkDown(x.links[c.link] as unknown as NodeLink);
      x.links[c.link].up = true;
    }],
  ])('the engine\'s lookup cache: after %s, a SEND on a remote end it cached never reaches a link', (_, end) => {
    const x = setup();
    const c = x.chans[0];
    const link = x.links[0];
    // SENDs written straight into the send ring, as a partition that ignores its completions may.
    const send = (bytes: Uint8Array) => {
      const q = x.queuePairs[c.partition].sendQueue;
      const at = q.claim(RecordType.SEND, c.rx.handle, bytes.length);
      expect(at).toBeGreaterThanOrEqual(0);
      q.ring.u8.set(bytes, at);
      q.publish();
    };
    send(payload(0, 1, 16));
    send(payload(0, 2, 16));
    x.hw.engine.round();
    expect(link.sent).toEqual([[c.senderId, 1], [c.senderId, 2]]);
    end(x, c);
    send(payload(0, 3, 16));
    x.hw.engine.round();
    expect(link.sent).toEqual([[c.senderId, 1], [c.senderId, 2]]);
    expect(x.links.flatMap((l) => l.sent)).toHaveLength(2);
  });

  describe('THREATS case 52: a SEND past its window with other work of its process behind it is held aside', () => {
    const link0 = (x: ReturnType<typeof setup>) => x.links[0] as unknown as NodeLink;
    /** Rounds until one serves nothing. */
    const settle = (x: ReturnType<typeof setup>) => {
      for (let rounds = 0; x.hw.engine.round() > 0; rounds++) expect(rounds).toBeLessThan(10_000);
    };
    /** Channel a (link 0) with its window spent and `extra` SENDs of it waiting, then one SEND of channel b (link 1) behind them. */
    const spentWithOtherBehind = (extra: number, options: Parameters<typeof setup>[0] = {}) => {
      const x = setup(options);
      const [a, , b] = x.chans;
      const qp = x.queuePairs[0];
      const q = qp.sendQueue;
      const fits = Math.floor(PEER_WINDOW / F.messageBytes(MAX));
      for (let i = 1; i <= fits + extra; i++) writeSend(q, a.rx.handle, payload(0, i, MAX));
      writeSend(q, b.rx.handle, payload(2, 1, 16));
      q.publish();
      settle(x);
      const held = () => Atomics.load(q.ring.i32, qp.heldWord(a.rx.handle));
      return { x, a, b, q, fits, held };
    };

    it('52: the other channel\'s SEND goes at once; the end is held; the ACK that opens the window sends what was held first, numbered on, and ends the hold', () => {
      const { x, a, b, fits, held } = spentWithOtherBehind(3);
      const cost = F.messageBytes(MAX);
      expect(x.links[0].sent).toHaveLength(fits);
      expect(x.links[1].sent).toEqual([[b.senderId, 1]]);
      expect(x.links[0].heldBytes).toBe(3 * cost);
      expect(held()).toBe(1);
      expect(x.partitionViolations).toEqual([]);
      const wakes = x.wakes.count;
      x.channels.ack(link0(x), a.id, fits, fits * cost);
      expect(x.wakes.count).toBe(wakes + 1);
      settle(x);
      expect(x.links[0].sent.slice(fits)).toEqual([1, 2, 3].map((i) => [a.senderId, fits + i]));
      expect(x.links[0].heldBytes).toBe(0);
      expect(held()).toBe(0);
      expect(x.hw.table.sentWindow[a.entry]).toBe((fits + 3) * cost);
    });

    it('52: a CLOSE behind held messages waits for them, then goes, acknowledged; a SEND or a second CLOSE on the closing end is refused (ECLOSED)', () => {
      const { x, a, q, fits } = spentWithOtherBehind(2);
      const cost = F.messageBytes(MAX);
      takeAnswers(q.completions);
      expect(q.claim(RecordType.CLOSE, a.rx.handle, 0)).toBeGreaterThanOrEqual(0);
      writeSend(q, a.rx.handle, payload(0, 99, 16));
      expect(q.claim(RecordType.CLOSE, a.rx.handle, 0)).toBeGreaterThanOrEqual(0);
      q.publish();
      settle(x);
      expect(takeAnswers(q.completions)).toEqual([
        { status: Status.ECLOSED, opcode: RecordType.SEND, channel: a.rx.handle, count: 1 },
        { status: Status.ECLOSED, opcode: RecordType.CLOSE, channel: a.rx.handle, count: 1 },
      ]);
      // Still open, its CLOSE not yet on the link: what was held goes first.
      expect(x.hw.table.state[a.entry]).toBe(ConnectionState.OPEN);
      expect(x.links[0].closes).toEqual([]);
      x.channels.ack(link0(x), a.id, fits, fits * cost);
      settle(x);
      expect(x.links[0].sent.slice(fits)).toEqual([[a.senderId, fits + 1], [a.senderId, fits + 2]]);
      expect(x.links[0].closes).toEqual([[a.senderId, a.id, Status.OK]]);
      expect(takeAnswers(q.completions)).toEqual([{ status: Status.OK, opcode: RecordType.CLOSE, channel: a.rx.handle, count: 1 }]);
      expect(x.hw.table.state[a.entry]).not.toBe(ConnectionState.OPEN);
      expect(x.links[0].heldBytes).toBe(0);
    });

    it('52: the peer closes while messages are held: they are dropped, and the sender hears ECLOSED for them and for those on the wire', () => {
      const { x, a, q, fits, held } = spentWithOtherBehind(4);
      takeAnswers(q.completions);
      x.channels.close(link0(x), a.id, a.senderId, Status.OK);
      settle(x);
      // The held 4 and the window's worth unacknowledged, in one completion (the ring coalesces equal answers).
      expect(takeAnswers(q.completions)).toEqual([{ status: Status.ECLOSED, opcode: RecordType.SEND, channel: a.rx.handle, count: 4 + fits }]);
      expect(x.links[0].heldBytes).toBe(0);
      expect(x.links[0].sent).toHaveLength(fits);
      // Ended, so no longer held (its connection word went back with its state).
      expect(held()).toBe(0);
      expect(x.hw.counters.values[CounterSlot.SEND_ERRORS]).toBe(4 + fits);
    });

    it('52: the held gauge falls only once the held messages are counted refused (stats() is a plain read: whoever sees heldBytes at 0 finds them in sendErrors)', () => {
      const { x, a } = spentWithOtherBehind(4);
      const errors = () => x.hw.counters.values[CounterSlot.SEND_ERRORS];
      const before = errors();
      const seen: { heldBytes: number; sendErrors: number }[] = [];
      const counters = x.links[0].counters;
      const held = counters.held;
      counters.held = (bytes) => {
        held(bytes);
        seen.push({ heldBytes: x.links[0].heldBytes, sendErrors: errors() });
      };
      x.channels.close(link0(x), a.id, a.senderId, Status.OK);
      settle(x);
      // The held 4 counted before the gauge fell (those on the wire are counted after: they were never in it).
      expect(seen).toEqual([{ heldBytes: 0, sendErrors: before + 4 }]);
    });

    it('52: a process that ends with messages held: its end closes behind them (EPEERDEAD on the link after them); the next process on its queue pair hears nothing of them and cannot send on it', () => {
      const { x, a, q, fits } = spentWithOtherBehind(2);
      const cost = F.messageBytes(MAX);
      const port = x.hw.ports[0];
      expect(q.claim(RecordType.DETACH, 0, 0)).toBeGreaterThanOrEqual(0);
      q.publish();
      settle(x);
      expect(x.hw.table.state[a.entry]).toBe(ConnectionState.OPEN);
      expect(x.links[0].closes).toEqual([]);
      // Another process gets the queue pair, and tries the old handle.
      expect(x.hw.manager.openQueuePair(port, 0).ok).toBe(true);
      const next = x.reattach(0).sendQueue;
      takeAnswers(next.completions);
      writeSend(next, a.rx.handle, payload(0, 77, 16));
      next.publish();
      settle(x);
      expect(takeAnswers(next.completions)).toEqual([{ status: Status.ECLOSED, opcode: RecordType.SEND, channel: a.rx.handle, count: 1 }]);
      // What the peer sends on the closing end reaches nobody (the next process least of all), and is no violation.
      const delivered = () => x.hw.counters.values[CounterSlot.DELIVERED];
      const before = delivered();
      x.links[0].reader.push(dataFrame({ channel: a.id, source: a.source, first: a.next, key: a.key, payloads: [payload(0, 1, 32)] }));
      x.channels.processed();
      settle(x);
      expect(delivered()).toBe(before);
      expect(x.links[0].acks.has(a.senderId)).toBe(false);
      expect(Object.values(x.links[0].counts).every((n) => n === 0)).toBe(true);
      x.channels.ack(link0(x), a.id, fits, fits * cost);
      settle(x);
      expect(x.links[0].sent.slice(fits)).toEqual([[a.senderId, fits + 1], [a.senderId, fits + 2]]);
      expect(x.links[0].closes).toEqual([[a.senderId, a.id, Status.EPEERDEAD]]);
      expect(takeAnswers(next.completions)).toEqual([]);
      expect(x.hw.table.state[a.entry]).not.toBe(ConnectionState.OPEN);
    });

    it('52: the peer closes an end that closes behind held messages: they are dropped (counted), the end is freed, and no END reaches the next process on its queue pair', () => {
      const { x, a, q, fits } = spentWithOtherBehind(2);
      const port = x.hw.ports[0];
      expect(q.claim(RecordType.DETACH, 0, 0)).toBeGreaterThanOrEqual(0);
      q.publish();
      settle(x);
      expect(x.hw.manager.openQueuePair(port, 0).ok).toBe(true);
      const next = x.reattach(0);
      takeAnswers(next.sendQueue.completions);
      const errors = x.hw.counters.values[CounterSlot.SEND_ERRORS];
      x.channels.close(link0(x), a.id, a.senderId, Status.OK);
      settle(x);
      // What was held and what was on the wire still count as the partition's send errors, though nobody is told.
      expect(x.hw.counters.values[CounterSlot.SEND_ERRORS]).toBe(errors + 2 + fits);
      expect(x.hw.table.state[a.entry]).not.toBe(ConnectionState.OPEN);
      expect(x.links[0].heldBytes).toBe(0);
      expect(takeAnswers(next.sendQueue.completions)).toEqual([]);
      // Nothing in the next process's receive ring: no END for the old end.
      expect(new RingConsumer(queuePairRings(port.buffer, x.options.geometry, 0).receive).hasData()).toBe(false);
    });

    it("52: the next process on the queue pair faults it: the end its predecessor left closing is not its to end; what was held still goes, then EPEERDEAD", () => {
      const { x, a, q, fits } = spentWithOtherBehind(2);
      expect(q.claim(RecordType.DETACH, 0, 0)).toBeGreaterThanOrEqual(0);
      q.publish();
      settle(x);
      expect(x.hw.manager.openQueuePair(x.hw.ports[0], 0).ok).toBe(true);
      const next = x.reattach(0).sendQueue;
      // A record whose length word lies: the hardware faults the next process's queue pair.
      const at = next.claim(RecordType.SEND, 12345, 16);
      next.ring.u32[(at - SendBody.BYTES - RecordLayout.HEADER_BYTES + RecordLayout.LENGTH_OFFSET) >> 2] = 0x7fff_fff8;
      next.publish();
      settle(x);
      expect(x.hw.ports[0].queuePairs[0].state).toBe(QueuePairState.FAULTED);
      expect(x.links[0].closes).toEqual([]);
      x.channels.ack(link0(x), a.id, fits, fits * F.messageBytes(MAX));
      settle(x);
      expect(x.links[0].sent.slice(fits)).toEqual([[a.senderId, fits + 1], [a.senderId, fits + 2]]);
      expect(x.links[0].closes).toEqual([[a.senderId, a.id, Status.EPEERDEAD]]);
    });

    it('52: with no process on the queue pair, what the peer sends on the closing end is dropped, unacknowledged, and does not drop what was held', () => {
      const { x, a, q, fits } = spentWithOtherBehind(2);
      expect(q.claim(RecordType.DETACH, 0, 0)).toBeGreaterThanOrEqual(0);
      q.publish();
      settle(x);
      x.links[0].reader.push(dataFrame({ channel: a.id, source: a.source, first: a.next, key: a.key, payloads: [payload(9, 1, 40)] }));
      x.channels.processed();
      x.channels.ack(link0(x), a.id, fits, fits * F.messageBytes(MAX));
      settle(x);
      expect(x.links[0].acks.has(a.senderId)).toBe(false);
      expect(x.links[0].sent.slice(fits)).toEqual([[a.senderId, fits + 1], [a.senderId, fits + 2]]);
      expect(x.links[0].closes).toEqual([[a.senderId, a.id, Status.EPEERDEAD]]);
    });

    it("52: after a process's CLOSE waits behind held messages, what the peer sends on the end is neither delivered nor acknowledged (the peer hears ECLOSED at the CLOSE)", () => {
      const { x, a, q } = spentWithOtherBehind(2);
      const rx = new RingConsumer(queuePairRings(x.hw.ports[0].buffer, x.options.geometry, 0).receive);
      expect(q.claim(RecordType.CLOSE, a.rx.handle, 0)).toBeGreaterThanOrEqual(0);
      q.publish();
      settle(x);
      const before = x.hw.counters.values[CounterSlot.DELIVERED];
      const waiting = rx.hasData();
      x.links[0].reader.push(dataFrame({ channel: a.id, source: a.source, first: a.next, key: a.key, payloads: [payload(9, 1, 40)] }));
      x.channels.processed();
      settle(x);
      expect(x.links[0].acks.has(a.senderId)).toBe(false);
      expect(x.hw.counters.values[CounterSlot.DELIVERED]).toBe(before);
      expect(rx.hasData()).toBe(waiting);
      expect(Object.values(x.links[0].counts).every((n) => n === 0)).toBe(true);
    });

    it('52: a close that waits behind held messages none of which goes for closeTimeoutMs gives up: they are dropped (ENOBUFS), the CLOSE goes with ENOBUFS, the entry is free, and the CLOSE is acknowledged', async () => {
      const { x, a, q } = spentWithOtherBehind(2, { closeTimeoutMs: 100 });
      takeAnswers(q.completions);
      expect(q.claim(RecordType.CLOSE, a.rx.handle, 0)).toBeGreaterThanOrEqual(0);
      q.publish();
      settle(x);
      expect(x.hw.table.state[a.entry]).toBe(ConnectionState.OPEN);
      const wakes = x.wakes.count;
      for (let waited = 0; x.hw.table.state[a.entry] === ConnectionState.OPEN; waited += 10) {
        expect(waited).toBeLessThan(5000);
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(x.wakes.count).toBe(wakes + 1);
      expect(takeAnswers(q.completions)).toEqual([
        { status: Status.ENOBUFS, opcode: RecordType.SEND, channel: a.rx.handle, count: 2 },
        { status: Status.OK, opcode: RecordType.CLOSE, channel: a.rx.handle, count: 1 },
      ]);
      expect(x.links[0].closes).toEqual([[a.senderId, a.id, Status.ENOBUFS]]);
      expect(x.links[0].heldBytes).toBe(0);
      expect(x.hw.table.state[a.entry]).toBe(ConnectionState.FREE);
    });

    it('52: a sender that ignores the hold keeps at most twice its send ring held; past that its SEND waits at the head of its ring, as before', () => {
      const x = setup({ sendRingBytes: 4096 });
      const [a, , b] = x.chans;
      const q = x.queuePairs[0].sendQueue;
      const cost = F.messageBytes(MAX);
      const limit = x.hw.engine.keptLimitBytes;
      expect(limit).toBe(2 * 4096);
      // Spend the window: the peer acknowledges nothing.
      let written = 0;
      for (let rounds = 0; x.hw.table.sentSequence[a.entry] < Math.floor(PEER_WINDOW / cost); rounds++) {
        expect(rounds).toBeLessThan(10_000);
        while (q.claim(RecordType.SEND, a.rx.handle, MAX) >= 0) written++;
        q.publish();
        x.hw.engine.round();
        x.hw.engine.releaseAll();
      }
      // Now one of b behind each group of a's, until nothing moves.
      let bSent = 0;
      for (let rounds = 0; ; rounds++) {
        expect(rounds).toBeLessThan(10_000);
        let wrote = 0;
        for (let i = 0; i < 3 && q.claim(RecordType.SEND, a.rx.handle, MAX) >= 0; i++) wrote++;
        if (q.claim(RecordType.SEND, b.rx.handle, 16) >= 0) wrote++;
        q.publish();
        const n = x.hw.engine.round();
        x.hw.engine.releaseAll();
        bSent = x.links[1].sent.length;
        if (n === 0 && wrote === 0) break;
      }
      expect(x.links[0].heldBytes).toBe(Math.floor(limit / cost) * cost);
      // The head waits: b's SENDs behind it wait with it (the sender broke the hold).
      const before = x.links[1].sent.length;
      expect(x.hw.engine.round()).toBe(0);
      expect(x.links[1].sent.length).toBe(before);
      expect(bSent).toBeGreaterThan(0);
      expect(x.partitionViolations).toEqual([]);
    });
  });
});

