/**
 * What the wave-24 link attack run (attack9b) tried and found solid, kept as tests: frames of every
 * type with a size, count or reserved word that lies, and frame types no node sends, each counted
 * exactly once by kind while the link stays up; a CONNECT_OK answered twice for one request (the
 * second opens nothing, one badFrame); ACKs for a connect still waiting. Node 2 runs in this
 * process, its partition on the hostile OS where the test drives its control calls; node 1 is the
 * test's hostile peer.
 */
import { afterAll, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { F, withHostilePeer } from './hostile-peer.js';
import { waitFor } from '../security/harness.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());

const NONE = { total: 0, keyMismatch: 0, unknownChannel: 0, wrongSource: 0, sequence: 0, badLength: 0, badFrame: 0, window: 0 };

it('every malformed frame type is counted once by kind, the link stays up, and a CONNECT_OK sent twice opens one channel', async () => {
  await withHostilePeer(certs, async (machine, peer, link) => {
    const p = peer;
    const frames: Array<[Buffer, keyof typeof NONE]> = [];
    // A HEARTBEAT with a body, a CLOSE one word short: sizes that do not fit their type.
    frames.push([p.frame(F.FrameType.HEARTBEAT, 16), 'badLength']);
    frames.push([p.frame(F.FrameType.CLOSE, F.CloseFrame.BYTES - 8), 'badLength']);
    // Types no node sends: 0, 8, 255.
    for (const type of [0, 8, 255]) frames.push([p.frame(type, 16), 'badFrame']);
    // An ACK whose count does not match its size, and one with an entry's reserved word set.
    const ackCount = p.ackFrame([[1, 1, 8]]);
    ackCount.writeUInt32LE(2, F.AckFrame.COUNT_OFFSET);
    frames.push([ackCount, 'badLength']);
    const ackReserved = p.ackFrame([[1, 1, 8]]);
    ackReserved.writeUInt32LE(1, F.AckFrame.FIRST_ENTRY_OFFSET + F.AckFrame.ENTRY_RESERVED_OFFSET);
    frames.push([ackReserved, 'badFrame']);
    // A DATA frame claiming more messages than its bytes hold, and one claiming none.
    const data = p.frame(F.FrameType.DATA, F.DataFrame.FIRST_MESSAGE_OFFSET + 16);
    data.writeUInt32LE(3, F.DataFrame.COUNT_OFFSET);
    frames.push([data, 'badLength']);
    frames.push([p.frame(F.FrameType.DATA, F.DataFrame.FIRST_MESSAGE_OFFSET + 16), 'badLength']);
    // A CLOSE with its reserved word set; a header's reserved bytes set.
    const close = p.closeFrame(5, 6, 0);
    close.writeUInt32LE(1, F.CloseFrame.RESERVED_OFFSET);
    frames.push([close, 'badFrame']);
    const header = p.heartbeatFrame();
    header[6] = 1;
    frames.push([header, 'badFrame']);
    const expected = { ...NONE };
    for (const [frame, kind] of frames) {
      expected[kind]++;
      expected.total++;
      p.send(frame);
    }
    await waitFor('every frame to be counted', () => link().violations.total >= expected.total);
    expect(link().violations).toEqual(expected);
    expect(link()).toMatchObject({ state: 'up', downs: 0 });

    // A CONNECT_OK sent twice for one request: the first opens the channel, the second is an answer to nothing.
    const os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });
    const opened = os.call('connectNode', 0, 1, 1, 7) as Promise<{ ok: boolean; handle: number }>;
    const connect = await p.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT');
    const request = connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET);
    const ours = connect.bytes.readUInt32LE(F.ConnectFrame.SOURCE_CHANNEL_OFFSET);
    // An ACK for the end still connecting: it has sent nothing to acknowledge.
    p.send(p.ackFrame([[ours, 1, 8]]));
    await waitFor('the early ACK to be counted', () => link().violations.sequence === 1);
    p.send(p.connectOkFrame(request, 77, 1));
    p.send(p.connectOkFrame(request, 78, 1));
    expect(await opened).toMatchObject({ ok: true, remoteNode: 1 });
    await waitFor('the second answer to be counted', () => link().violations.badFrame === expected.badFrame + 1);
    expect(link().violations).toEqual({ ...expected, sequence: 1, badFrame: expected.badFrame + 1, total: expected.total + 2 });
    expect(link()).toMatchObject({ state: 'up', downs: 0 });
  });
}, 30_000);
