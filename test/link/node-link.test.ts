/**
 * NodeLink's output ordering while congested, in one thread over a stand-in socket: ACKs owed wait
 * while the peer's socket is congested (more than 4 MiB queued), but a CLOSE never overtakes the
 * ACKs owed before it (a peer would fail, as unacknowledged, sends this node delivered: THREATS
 * case 41). Since per-channel credit, one unread channel no longer congests an honest peer's link
 * (case 48), so the two-process test of this (congested.test.ts) no longer reaches congestion;
 * this one makes it directly.
 */
import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { expect, it } from 'vitest';
import { LinkCounters } from '../../src/hardware/link/link-counters.js';
import { NodeLink } from '../../src/hardware/link/node-link.js';
import type { FrameSink } from '../../src/hardware/link/link-reader.js';
import { linkCounterBytes } from '../../src/shared/link-counters.js';
import * as F from '../../src/shared/link-frames.js';

/** What NodeLink uses of a TLS socket: writes are kept, and `writableLength` is what the test says is queued. */
class StandInSocket extends EventEmitter {
  readonly written: Buffer[] = [];
  writableLength = 0;
  write(bytes: Uint8Array, done: () => void): boolean {
    this.written.push(Buffer.from(bytes));
    queueMicrotask(done);
    return true;
  }
  setNoDelay(): this {
    return this;
  }
  destroy(): this {
    return this;
  }
}

/** The (type, first body word) of every frame written, in order. */
function framesOf(written: Buffer[]): Array<[type: number, word: number]> {
  const all = Buffer.concat(written);
  const out: Array<[number, number]> = [];
  for (let at = 0; at < all.length; at += all.readUInt32LE(at) + F.Frame.LENGTH_WORD_BYTES) out.push([all[at + F.Frame.TYPE_OFFSET], all.readUInt32LE(at + 8)]);
  return out;
}

it('while congested, ACKs owed wait, and a CLOSE writes them before itself', async () => {
  const socket = new StandInSocket();
  const link = new NodeLink(
    { id: 1, host: undefined, port: undefined },
    new LinkCounters(new Float64Array(linkCounterBytes(1) / 8), 0),
    { heartbeatMs: 60_000, deadAfterMs: 120_000 },
    { maxFrameBytes: F.maxFrameBytes(1024), maxMessageBytes: 1024 },
    { up() {}, down() {}, drained() {}, processed() {} },
  );
  link.attach(socket as unknown as TLSSocket, {} as FrameSink);
  try {
    await new Promise((r) => setImmediate(r));
    socket.written.length = 0;
    // The peer reads nothing: past 4 MiB queued, the next write finds the link congested.
    socket.writableLength = 5 * 1024 * 1024;
    link.connectRefused(1, 2);
    link.flush(true);
    expect(framesOf(socket.written).map(([type]) => type)).toEqual([F.FrameType.CONNECT_REFUSED]);
    socket.written.length = 0;
    // Messages of channel 7 (at the peer) delivered here: an ACK is owed, and waits while congested.
    link.owe(7, 100, 100 * F.messageBytes(64));
    link.flush(true);
    expect(framesOf(socket.written)).toEqual([]);
    // This node's end closes: the ACK goes first, then the CLOSE, congested or not.
    link.close(7, 9, 0, 0, 0);
    link.flush(true);
    const frames = framesOf(socket.written);
    expect(frames.map(([type]) => type)).toEqual([F.FrameType.ACK, F.FrameType.CLOSE]);
    const all = Buffer.concat(socket.written);
    const entry = F.AckFrame.FIRST_ENTRY_OFFSET;
    expect(all.readUInt32LE(entry + F.AckFrame.ENTRY_CHANNEL_OFFSET)).toBe(7);
    expect(all.readUInt32LE(entry + F.AckFrame.ENTRY_SEQUENCE_OFFSET)).toBe(100);
    expect(all.readUInt32LE(entry + F.AckFrame.ENTRY_WINDOW_OFFSET)).toBe(100 * F.messageBytes(64));
  } finally {
    link.down('test over');
  }
});
