/**
 * The scene of the close-handover attacks (THREATS case 70): node 2, in its own process, whose
 * partition 1 sends `size`-byte messages to node 1, which a hostile peer plays. The peer grants
 * the channel one window (PEER_WINDOW_BYTES) and acknowledges nothing; the scene is set once the
 * window is spent and the sender waits for it. The test then chooses what the peer does while node
 * 2 closes.
 */
import type { CertificateSet } from './certs.js';
import { closeNodes, PROGRESS, startNode, type NodeProcess, type RemoteProgram } from './harness.js';
import { F, HostilePeer, PEER_WINDOW_BYTES, type Frame } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { waitFor } from '../security/harness.js';

export interface SpentWindow {
  b: NodeProcess;
  peer: HostilePeer;
  tx: RemoteProgram;
  /** Node 2's CONNECT, as the peer read it. */
  connect: Frame;
  /** Messages the window let go. */
  fit: number;
}

/** Set the scene; `channel` is the peer's id for the channel (its CONNECT_OK names it). */
export async function senderBehindSpentWindow(certs: CertificateSet, size: number, channel: number): Promise<SpentWindow> {
  const b = await startNode({
    partitions: [{ id: 1 }],
    wait: 'sleep',
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), deadAfterMs: 2000 },
  });
  const peer = await HostilePeer.dial(b.port!, certs.tls(1));
  try {
    const tx = await b.spawn(1, 'sender', { node: 1, partition: 1, port: 7, count: 6000, size });
    const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT from node 2');
    peer.send(peer.connectOkFrame(connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), channel, 1));
    // The first message always goes, then as long as the sum fits.
    const fit = Math.floor(PEER_WINDOW_BYTES / F.messageBytes(size));
    await waitFor('the window to be spent', () => peer.dataMessages(channel) === fit);
    await waitFor('the sender to wait for the window', async () => (await tx.control.read())[PROGRESS] > fit);
    return { b, peer, tx, connect, fit };
  } catch (e) {
    peer.close();
    await closeNodes();
    throw e;
  }
}
