/**
 * Attack run 8c, cover for the progress-based close of a node (THREATS case 70 as revised in wave
 * 23): a peer that keeps a closing node's handover moving, one message at a time (an ACK for one
 * more message every 200 ms, each less than the node's quiet period apart, and its heartbeats), so
 * that no step is ever still for deadAfterMs, holds the close no longer than its cap: the node's
 * process exits 0 and the peer gets the messages its ACKs let go, then the CLOSE of its channel
 * with EPEERDEAD, and the connection ends. (The test asserts no time: the cap ends the trickle, and
 * without it the close would wait on the peer for good.)
 */
import { afterAll, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { F } from './hostile-peer.js';
import { closeNodes } from './harness.js';
import { senderBehindSpentWindow } from './spent-window.js';
import { waitFor } from '../security/harness.js';

const certs = makeCertificates([1, 2]);
/** errors.ts Status.EPEERDEAD. */
const STATUS_EPEERDEAD = 4;
afterAll(() => certs.remove());

it('a peer trickling ACKs (one message at a time, never still) holds a closing node only to its cap: exit 0, then EPEERDEAD after what its ACKs let go', async () => {
  const SIZE = 1024;
  const OUR_CHANNEL = 77;
  const { b, peer, connect, fit } = await senderBehindSpentWindow(certs, SIZE, OUR_CHANNEL);
  let trickle: NodeJS.Timeout | undefined;
  try {
    const theirs = connect.bytes.readUInt32LE(F.ConnectFrame.SOURCE_CHANNEL_OFFSET);
    const first = peer.frames.find((f) => f.type === F.FrameType.DATA)!.bytes.readUInt32LE(F.DataFrame.SEQUENCE_OFFSET);
    // One more message acknowledged each time: the window opens by one message, one more SEND goes.
    let acked = 0;
    trickle = setInterval(() => {
      if (peer.closed || acked >= peer.dataMessages(OUR_CHANNEL)) return;
      acked++;
      peer.send(peer.ackFrame([[theirs, (first + acked - 1) >>> 0, acked * F.messageBytes(SIZE)]]));
    }, 200);
    await waitFor('the trickle to move the window', () => peer.dataMessages(OUR_CHANNEL) > fit);
    // Attack run: the close ended after 4.0 s (the ACK wait's share of the 5 s cap), 21 ACKs in.
    expect((await b.close()).code).toBe(0);
    await waitFor('the connection to end', () => peer.closed);
    const closes = peer.frames.filter((f) => f.type === F.FrameType.CLOSE);
    const data = peer.dataMessages(OUR_CHANNEL);
    expect(closes.map((f) => [f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET), f.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET)])).toEqual([[OUR_CHANNEL, STATUS_EPEERDEAD]]);
    // What the ACKs let go, and no more: the window beyond the last ACK.
    expect(data).toBeGreaterThan(fit);
    expect(data).toBeLessThanOrEqual(fit + acked);
  } finally {
    clearInterval(trickle);
    peer.close();
    await closeNodes();
  }
}, 60_000);
