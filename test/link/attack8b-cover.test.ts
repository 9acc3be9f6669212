/**
 * Probes of wave 23's attack run (a hostile peer node, and a hostile partition using links, against
 * what waves 21 and 22 added) that found nothing: each pins down what the node does now, with exact
 * outcomes, so that a change that opens the hole fails here.
 */
import { createServer, type TLSSocket } from 'node:tls';
import { afterAll, expect, it } from 'vitest';
import { Links } from '../../src/hardware/link/links.js';
import type { FrameSink } from '../../src/hardware/link/link-reader.js';
import { LINK_AUTH_FAILURES, LINK_DIAL_FAILURES, LINK_UPS, linkCounterBytes, LinkState } from '../../src/shared/link-counters.js';
import { makeCertificates } from './certs.js';
import { F } from './hostile-peer.js';
import { closeNodes } from './harness.js';
import { LOOPBACK } from './pair.js';
import { senderBehindSpentWindow } from './spent-window.js';
import { waitFor } from '../security/harness.js';

const certs = makeCertificates([1, 2]);
/** errors.ts Status.EPEERDEAD. */
const STATUS_EPEERDEAD = 4;
afterAll(() => certs.remove());

/**
 * Wave 22 (Links.dial): a dial whose TLS handshake was done when the node began to close
 * (Links.finish), and whose peer had not spoken yet, is dropped when the peer first speaks: it
 * never becomes a link, and nothing is written to it. Node 1's Links runs in this thread (its
 * hardware worker would end with the close, and with it the socket, whatever the check did); node 2
 * is a listener the test plays, which completes TLS and says nothing until node 1 has finished.
 */
it('wave 22: a dial in flight when the node began to close is dropped, unanswered, when its peer first speaks', async () => {
  let dialed: TLSSocket | undefined;
  const received: Buffer[] = [];
  const server = createServer({ ...certs.tls(2), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ALPNProtocols: [F.LINK_PROTOCOL] }, (socket) => {
    dialed ??= socket;
    socket.on('data', (b: Buffer) => received.push(b));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const events: string[] = [];
  const sink = new Proxy({}, { get: (_, name) => () => events.push(`frame: ${String(name)}`) }) as FrameSink;
  const peers = [{ id: 2, host: LOOPBACK, port: (server.address() as { port: number }).port }];
  const buffer = new SharedArrayBuffer(linkCounterBytes(peers.length));
  const links = new Links(
    { id: 1, listen: undefined, peers, heartbeatMs: 100, deadAfterMs: 1000, channelWindowBytes: 4 * 1024 * 1024 },
    certs.tls(1),
    buffer,
    64 * 1024,
    {
      sinkFor: () => sink,
      up: (l) => events.push(`up ${l.node}`),
      down: (l, reason) => events.push(`down ${l.node}: ${reason}`),
      refused: (l, reason) => events.push(`refused ${l.node}: ${reason}`),
      drained() {},
      processed() {},
    },
  );
  try {
    links.start();
    const socket = await waitFor("node 1's dial to complete TLS", () => dialed);
    await links.finish(1000, 1000);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(Buffer.from([8, 0, 0, 0, F.FrameType.HEARTBEAT, 0, 0, 0]));
    await closed;
    // Nothing reached the sink, no event, nothing written to node 2, and the drop is this node's own:
    // no authentication failure (node 2 refused nothing) and no dial failure.
    const counters = new Float64Array(buffer);
    expect({ events, received: Buffer.concat(received).length, state: links.byNode.get(2)!.state, ups: counters[LINK_UPS], authFailures: counters[LINK_AUTH_FAILURES], dialFailures: counters[LINK_DIAL_FAILURES] }).toEqual({
      events: [],
      received: 0,
      state: LinkState.CONNECTING,
      ups: 0,
      authFailures: 0,
      dialFailures: 0,
    });
  } finally {
    links.stop();
    dialed?.destroy();
    server.close();
  }
}, 30_000);

/**
 * Wave 21 (Hardware.closeLinks): a peer that never acknowledges, and floods the closing node with
 * CONNECTs it must refuse and ACKs for no channel while it hands over, does not hold the close
 * past its cap nor change what it hands over: the node's process exits 0, the peer got exactly
 * the messages its window let go, then one CLOSE of its channel with EPEERDEAD (the partition
 * stopped with SENDs still waiting for the window), and the connection ends.
 */
it('wave 21: a peer that never acknowledges and floods the closing node gets exactly its window, then EPEERDEAD, and the close ends', async () => {
  const SIZE = 1024;
  const OUR_CHANNEL = 77;
  const { b, peer, fit } = await senderBehindSpentWindow(certs, SIZE, OUR_CHANNEL);
  let flooding = true;
  try {
    // CONNECTs granting no valid window (each refused EINVAL), and ACKs naming no channel, until the connection ends.
    const badConnect = peer.frame(F.FrameType.CONNECT, F.ConnectFrame.BYTES);
    badConnect.writeUInt32LE(1, F.ConnectFrame.SOURCE_PARTITION_OFFSET);
    badConnect.writeUInt32LE(1, F.ConnectFrame.DESTINATION_PARTITION_OFFSET);
    badConnect.writeUInt32LE(7, F.ConnectFrame.DESTINATION_SERVICE_OFFSET);
    const stray = peer.ackFrame([[0x7fff_fff0, 1, 8]]);
    const flood = (): void => {
      if (!flooding || peer.closed) return;
      for (let i = 0; i < 64; i++) peer.send(i % 2 === 0 ? badConnect : stray);
      setImmediate(flood);
    };
    flood();
    expect((await b.close()).code).toBe(0);
    await waitFor('the connection to end', () => peer.closed);
    flooding = false;
    const closes = peer.frames.filter((f) => f.type === F.FrameType.CLOSE);
    expect({
      data: peer.dataMessages(OUR_CHANNEL),
      closes: closes.map((f) => [f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET), f.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET)]),
    }).toEqual({ data: fit, closes: [[OUR_CHANNEL, STATUS_EPEERDEAD]] });
  } finally {
    flooding = false;
    peer.close();
    await closeNodes();
  }
}, 30_000);
