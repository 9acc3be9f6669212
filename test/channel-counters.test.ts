/**
 * The channel counters (`stats().partitions[i].channels`) count where the partitions' counters
 * count, on every path the engine serves a message by: a run (sendRun()), one at a time (the
 * general path, and with tracing on, sendTraced() for each sampled message), and a message kept
 * aside for a full receive ring that moves into it later (moveKept()). Driven in this thread
 * against a real engine, so each count is exact.
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import type { Hardware } from '../src/hardware/hardware.js';
import type { Channel } from '../src/partitions/channel.js';
import { readChannelStats } from '../src/shared/channel-counter-block.js';
import { readPartitionStats } from '../src/shared/counter-block.js';
import { ChannelError } from '../src/shared/errors.js';

const RX = 0; // verifiedPaths: partition 1 (index 0) receives, partition 2 (index 1) sends
const TX = 1;

function channels(hw: Hardware, p: number) {
  const c = hw.channelCounters;
  return readChannelStats(c.words, c.values, p, hw.table.slotsPerPartition);
}

function partition(hw: Hardware, p: number) {
  return readPartitionStats(hw.counters.values, p, p + 1, `partition-${p + 1}`);
}

/** Each channel end's counts, by its handle. */
function countsByHandle(hw: Hardware, p: number): Record<number, [number, number, number, number]> {
  return Object.fromEntries(channels(hw, p).map((r) => [r.channel, [r.sent, r.bytesSent, r.delivered, r.bytesDelivered]]));
}

function drain(ch: Channel): number {
  let n = 0;
  while (ch.tryRecv() !== undefined) n++;
  return n;
}

describe('channel counters on each path of the engine', () => {
  it.each([
    ['untraced, budget 256 (runs)', undefined, undefined],
    ['untraced, budget 1 (one at a time)', 1, undefined],
    ['traced, every 4th sampled', undefined, 4],
  ])('%s: each end counts its own messages and bytes, and they add up to the partitions\' counts', (_, budget, sample) => {
    const { tx, rx, hw } = verifiedPaths(64, 1 << 16, 3, budget, sample);
    // 7 messages of 1..7 bytes on channel 0, 3 of 10 on channel 1 (one batch), none on channel 2; interleaved.
    for (let i = 1; i <= 7; i++) {
      tx[0].send(new Uint8Array(i));
      if (i === 4) expect(tx[1].sendBatch([new Uint8Array(10), new Uint8Array(10), new Uint8Array(10)])).toBe(3);
    }
    while (hw.engine.round() > 0);
    expect(rx.map(drain)).toEqual([7, 3, 0]);
    expect(countsByHandle(hw, TX)).toEqual({ [tx[0].handle]: [7, 28, 0, 0], [tx[1].handle]: [3, 30, 0, 0], [tx[2].handle]: [0, 0, 0, 0] });
    expect(countsByHandle(hw, RX)).toEqual({ [rx[0].handle]: [0, 0, 7, 28], [rx[1].handle]: [0, 0, 3, 30], [rx[2].handle]: [0, 0, 0, 0] });
    expect([partition(hw, TX).sent, partition(hw, TX).bytesSent, partition(hw, RX).delivered, partition(hw, RX).bytesDelivered]).toEqual([10, 58, 10, 58]);
  });

  it('counts a message kept aside when it reaches the ring, on both ends; once its sender closed, on the receiving end alone', () => {
    const RING = 4096;
    const { tx: [stream, other], rx: [reader, otherReader], hw } = verifiedPaths(64, RING, 2);
    const sendAll = (ch: Channel, n: number): number => {
      for (let i = 0; i < n; i++) {
        try {
          ch.send(new Uint8Array(64).fill(i));
        } catch (e) {
          if (!(e instanceof ChannelError && e.code === 'EAGAIN')) throw e;
          return i;
        }
      }
      return n;
    };
    // A stream past the reader's ring; the other channel finds no room behind it (its send says
    // EAGAIN, and hints so), so the hardware keeps the stream aside for the full ring (THREATS case 51).
    let sent = 0;
    const overfill = () => {
      for (let i = 0; i < 4; i++) {
        sent += sendAll(stream, 400);
        while (hw.engine.round() > 0);
      }
      sendAll(other, 1);
      while (hw.engine.round() > 0);
      expect(partition(hw, RX).kept).toBeGreaterThan(0);
    };
    overfill();
    // At every step, each end's counts are the other end's, and the ends add up to their partitions.
    const row = (p: number, ch: Channel) => channels(hw, p).find((r) => r.channel === ch.handle);
    const agree = () => {
      const [s, o, r, q] = [row(TX, stream), row(TX, other), row(RX, reader), row(RX, otherReader)];
      if (s !== undefined) expect([s.sent, s.bytesSent]).toEqual([r!.delivered, r!.bytesDelivered]);
      expect([o!.sent, o!.bytesSent]).toEqual([q!.delivered, q!.bytesDelivered]);
      expect(r!.delivered + q!.delivered).toBe(partition(hw, RX).delivered);
      expect(r!.bytesDelivered).toBe(r!.delivered * 64);
      return r!.delivered;
    };
    const before = agree();

    // The reader drains what is in its ring: kept messages move in, counted on both ends.
    let read = drain(reader);
    while (hw.engine.round() > 0);
    expect(agree()).toBeGreaterThan(before);

    // The stream's sender closes with messages still kept: they reach the reader afterwards, counted
    // on its end; the closed end's row is gone, and no other row took its counts.
    let otherRead = drain(otherReader);
    overfill();
    void stream.close().catch(() => {});
    while (hw.engine.round() > 0);
    expect(channels(hw, TX).map((r) => r.channel)).toEqual([other.handle]);
    // A new channel takes the closed end's slot before what was kept moves: none of it is its.
    const granted = hw.manager.connect(hw.ports[TX], 0, 1, 7);
    if (!granted.ok) throw new Error(granted.message);
    expect(granted.handle & hw.table.slotMask).toBe(stream.handle & hw.table.slotMask);
    for (let i = 0; i < 20 && partition(hw, RX).kept > 0; i++) {
      read += drain(reader);
      otherRead += drain(otherReader);
      while (hw.engine.round() > 0);
    }
    read += drain(reader);
    otherRead += drain(otherReader);
    expect(partition(hw, RX).kept).toBe(0);
    expect(row(RX, reader)).toMatchObject({ state: 'peer-closed', delivered: read, bytesDelivered: read * 64 });
    expect(row(TX, other)).toMatchObject({ sent: otherRead, bytesSent: otherRead * 64 });
    expect(channels(hw, TX).find((r) => r.channel === granted.handle)).toMatchObject({ sent: 0, bytesSent: 0, delivered: 0 });
    agree();
    expect(read).toBe(sent);
  });
});
